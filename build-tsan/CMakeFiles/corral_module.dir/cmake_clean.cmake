file(REMOVE_RECURSE
  "corral.pdb"
  "corral.so"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/corral_module.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
