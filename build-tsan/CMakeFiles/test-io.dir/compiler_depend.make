# Empty compiler generated dependencies file for test-io.
# This may be replaced when dependencies are built.
