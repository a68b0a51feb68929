# Empty compiler generated dependencies file for test-lua-alloc.
# This may be replaced when dependencies are built.
