file(REMOVE_RECURSE
  "CMakeFiles/corral-host-example.dir/examples/host/hashhost.c.o"
  "CMakeFiles/corral-host-example.dir/examples/host/hashhost.c.o.d"
  "examples/corral-host-example"
  "examples/corral-host-example.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/corral-host-example.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
