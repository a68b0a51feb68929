# Empty dependencies file for corral_module.
# This may be replaced when dependencies are built.
