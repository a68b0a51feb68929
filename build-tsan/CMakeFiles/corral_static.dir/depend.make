# Empty dependencies file for corral_static.
# This may be replaced when dependencies are built.
