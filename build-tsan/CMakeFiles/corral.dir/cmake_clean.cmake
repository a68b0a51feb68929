file(REMOVE_RECURSE
  "CMakeFiles/corral.dir/bindings/main.c.o"
  "CMakeFiles/corral.dir/bindings/main.c.o.d"
  "corral"
  "corral.pdb"
  "gen/cli_lua.h"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/corral.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
