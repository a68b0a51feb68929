# Empty compiler generated dependencies file for test-engine.
# This may be replaced when dependencies are built.
