# Empty dependencies file for test-host-threads.
# This may be replaced when dependencies are built.
