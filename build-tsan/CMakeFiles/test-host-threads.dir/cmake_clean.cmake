file(REMOVE_RECURSE
  "CMakeFiles/test-host-threads.dir/spec/c/test-host-threads.c.o"
  "CMakeFiles/test-host-threads.dir/spec/c/test-host-threads.c.o.d"
  "spec/c/test-host-threads"
  "spec/c/test-host-threads.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test-host-threads.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
