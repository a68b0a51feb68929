file(REMOVE_RECURSE
  "libcorral.a"
  "libcorral.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/corral_static.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
