# Empty dependencies file for corral_engine.
# This may be replaced when dependencies are built.
