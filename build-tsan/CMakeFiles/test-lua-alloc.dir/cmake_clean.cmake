file(REMOVE_RECURSE
  "CMakeFiles/test-lua-alloc.dir/spec/c/test-lua-alloc.c.o"
  "CMakeFiles/test-lua-alloc.dir/spec/c/test-lua-alloc.c.o.d"
  "spec/c/test-lua-alloc"
  "spec/c/test-lua-alloc.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test-lua-alloc.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
