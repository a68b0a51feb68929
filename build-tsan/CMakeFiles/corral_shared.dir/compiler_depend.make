# Empty compiler generated dependencies file for corral_shared.
# This may be replaced when dependencies are built.
