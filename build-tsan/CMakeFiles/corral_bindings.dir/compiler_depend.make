# Empty compiler generated dependencies file for corral_bindings.
# This may be replaced when dependencies are built.
