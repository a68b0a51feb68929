file(REMOVE_RECURSE
  "CMakeFiles/test-signal.dir/spec/c/test-signal.c.o"
  "CMakeFiles/test-signal.dir/spec/c/test-signal.c.o.d"
  "spec/c/test-signal"
  "spec/c/test-signal.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test-signal.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
