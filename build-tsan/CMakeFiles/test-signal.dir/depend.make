# Empty dependencies file for test-signal.
# This may be replaced when dependencies are built.
