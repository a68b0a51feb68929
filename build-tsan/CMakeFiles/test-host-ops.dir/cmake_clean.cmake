file(REMOVE_RECURSE
  "CMakeFiles/test-host-ops.dir/spec/c/test-host-ops.c.o"
  "CMakeFiles/test-host-ops.dir/spec/c/test-host-ops.c.o.d"
  "spec/c/test-host-ops"
  "spec/c/test-host-ops.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test-host-ops.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
