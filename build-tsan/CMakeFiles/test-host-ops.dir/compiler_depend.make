# Empty compiler generated dependencies file for test-host-ops.
# This may be replaced when dependencies are built.
