file(REMOVE_RECURSE
  "CMakeFiles/corral_bindings.dir/bindings/lcorral.c.o"
  "CMakeFiles/corral_bindings.dir/bindings/lcorral.c.o.d"
  "CMakeFiles/corral_bindings.dir/bindings/lerror.c.o"
  "CMakeFiles/corral_bindings.dir/bindings/lerror.c.o.d"
  "CMakeFiles/corral_bindings.dir/bindings/lgroup.c.o"
  "CMakeFiles/corral_bindings.dir/bindings/lgroup.c.o.d"
  "CMakeFiles/corral_bindings.dir/bindings/lhost.c.o"
  "CMakeFiles/corral_bindings.dir/bindings/lhost.c.o.d"
  "CMakeFiles/corral_bindings.dir/bindings/lio.c.o"
  "CMakeFiles/corral_bindings.dir/bindings/lio.c.o.d"
  "CMakeFiles/corral_bindings.dir/bindings/lscope.c.o"
  "CMakeFiles/corral_bindings.dir/bindings/lscope.c.o.d"
  "CMakeFiles/corral_bindings.dir/bindings/lsync.c.o"
  "CMakeFiles/corral_bindings.dir/bindings/lsync.c.o.d"
  "CMakeFiles/corral_bindings.dir/bindings/ltask.c.o"
  "CMakeFiles/corral_bindings.dir/bindings/ltask.c.o.d"
  "CMakeFiles/corral_bindings.dir/bindings/ltesting.c.o"
  "CMakeFiles/corral_bindings.dir/bindings/ltesting.c.o.d"
  "gen/lio_lua.h"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/corral_bindings.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
