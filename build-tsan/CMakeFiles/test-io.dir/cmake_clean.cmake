file(REMOVE_RECURSE
  "CMakeFiles/test-io.dir/spec/c/test-io.c.o"
  "CMakeFiles/test-io.dir/spec/c/test-io.c.o.d"
  "spec/c/test-io"
  "spec/c/test-io.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test-io.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
