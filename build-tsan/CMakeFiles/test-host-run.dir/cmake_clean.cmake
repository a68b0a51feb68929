file(REMOVE_RECURSE
  "CMakeFiles/test-host-run.dir/spec/c/test-host-run.c.o"
  "CMakeFiles/test-host-run.dir/spec/c/test-host-run.c.o.d"
  "spec/c/test-host-run"
  "spec/c/test-host-run.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test-host-run.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
