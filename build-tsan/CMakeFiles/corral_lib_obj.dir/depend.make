# Empty dependencies file for corral_lib_obj.
# This may be replaced when dependencies are built.
