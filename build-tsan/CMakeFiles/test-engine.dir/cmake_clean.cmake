file(REMOVE_RECURSE
  "CMakeFiles/test-engine.dir/spec/c/test-engine.c.o"
  "CMakeFiles/test-engine.dir/spec/c/test-engine.c.o.d"
  "spec/c/test-engine"
  "spec/c/test-engine.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test-engine.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
