# Empty dependencies file for corral-host-example.
# This may be replaced when dependencies are built.
