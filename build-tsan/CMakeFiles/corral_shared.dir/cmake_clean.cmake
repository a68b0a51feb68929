file(REMOVE_RECURSE
  "libcorral.pdb"
  "libcorral.so"
  "libcorral.so.0"
  "libcorral.so.0.1.0"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/corral_shared.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
