file(REMOVE_RECURSE
  "CMakeFiles/corral_engine.dir/engine/chan.c.o"
  "CMakeFiles/corral_engine.dir/engine/chan.c.o.d"
  "CMakeFiles/corral_engine.dir/engine/error.c.o"
  "CMakeFiles/corral_engine.dir/engine/error.c.o.d"
  "CMakeFiles/corral_engine.dir/engine/group.c.o"
  "CMakeFiles/corral_engine.dir/engine/group.c.o.d"
  "CMakeFiles/corral_engine.dir/engine/heap.c.o"
  "CMakeFiles/corral_engine.dir/engine/heap.c.o.d"
  "CMakeFiles/corral_engine.dir/engine/io.c.o"
  "CMakeFiles/corral_engine.dir/engine/io.c.o.d"
  "CMakeFiles/corral_engine.dir/engine/loop.c.o"
  "CMakeFiles/corral_engine.dir/engine/loop.c.o.d"
  "CMakeFiles/corral_engine.dir/engine/proc.c.o"
  "CMakeFiles/corral_engine.dir/engine/proc.c.o.d"
  "CMakeFiles/corral_engine.dir/engine/scope.c.o"
  "CMakeFiles/corral_engine.dir/engine/scope.c.o.d"
  "CMakeFiles/corral_engine.dir/engine/signal.c.o"
  "CMakeFiles/corral_engine.dir/engine/signal.c.o.d"
  "CMakeFiles/corral_engine.dir/engine/sync.c.o"
  "CMakeFiles/corral_engine.dir/engine/sync.c.o.d"
  "CMakeFiles/corral_engine.dir/engine/task.c.o"
  "CMakeFiles/corral_engine.dir/engine/task.c.o.d"
  "CMakeFiles/corral_engine.dir/engine/tcp.c.o"
  "CMakeFiles/corral_engine.dir/engine/tcp.c.o.d"
  "libcorral_engine.a"
  "libcorral_engine.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/corral_engine.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
