# Empty compiler generated dependencies file for test-host-run.
# This may be replaced when dependencies are built.
