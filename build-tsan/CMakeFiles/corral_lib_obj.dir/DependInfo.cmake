
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/wt-host/bindings/lcorral.c" "CMakeFiles/corral_lib_obj.dir/bindings/lcorral.c.o" "gcc" "CMakeFiles/corral_lib_obj.dir/bindings/lcorral.c.o.d"
  "/work/wt-host/bindings/lerror.c" "CMakeFiles/corral_lib_obj.dir/bindings/lerror.c.o" "gcc" "CMakeFiles/corral_lib_obj.dir/bindings/lerror.c.o.d"
  "/work/wt-host/bindings/lgroup.c" "CMakeFiles/corral_lib_obj.dir/bindings/lgroup.c.o" "gcc" "CMakeFiles/corral_lib_obj.dir/bindings/lgroup.c.o.d"
  "/work/wt-host/bindings/lhost.c" "CMakeFiles/corral_lib_obj.dir/bindings/lhost.c.o" "gcc" "CMakeFiles/corral_lib_obj.dir/bindings/lhost.c.o.d"
  "/work/wt-host/bindings/lio.c" "CMakeFiles/corral_lib_obj.dir/bindings/lio.c.o" "gcc" "CMakeFiles/corral_lib_obj.dir/bindings/lio.c.o.d"
  "/work/wt-host/bindings/lscope.c" "CMakeFiles/corral_lib_obj.dir/bindings/lscope.c.o" "gcc" "CMakeFiles/corral_lib_obj.dir/bindings/lscope.c.o.d"
  "/work/wt-host/bindings/lsync.c" "CMakeFiles/corral_lib_obj.dir/bindings/lsync.c.o" "gcc" "CMakeFiles/corral_lib_obj.dir/bindings/lsync.c.o.d"
  "/work/wt-host/bindings/ltask.c" "CMakeFiles/corral_lib_obj.dir/bindings/ltask.c.o" "gcc" "CMakeFiles/corral_lib_obj.dir/bindings/ltask.c.o.d"
  "/work/wt-host/bindings/ltesting.c" "CMakeFiles/corral_lib_obj.dir/bindings/ltesting.c.o" "gcc" "CMakeFiles/corral_lib_obj.dir/bindings/ltesting.c.o.d"
  "/work/wt-host/engine/chan.c" "CMakeFiles/corral_lib_obj.dir/engine/chan.c.o" "gcc" "CMakeFiles/corral_lib_obj.dir/engine/chan.c.o.d"
  "/work/wt-host/engine/error.c" "CMakeFiles/corral_lib_obj.dir/engine/error.c.o" "gcc" "CMakeFiles/corral_lib_obj.dir/engine/error.c.o.d"
  "/work/wt-host/engine/group.c" "CMakeFiles/corral_lib_obj.dir/engine/group.c.o" "gcc" "CMakeFiles/corral_lib_obj.dir/engine/group.c.o.d"
  "/work/wt-host/engine/heap.c" "CMakeFiles/corral_lib_obj.dir/engine/heap.c.o" "gcc" "CMakeFiles/corral_lib_obj.dir/engine/heap.c.o.d"
  "/work/wt-host/engine/io.c" "CMakeFiles/corral_lib_obj.dir/engine/io.c.o" "gcc" "CMakeFiles/corral_lib_obj.dir/engine/io.c.o.d"
  "/work/wt-host/engine/loop.c" "CMakeFiles/corral_lib_obj.dir/engine/loop.c.o" "gcc" "CMakeFiles/corral_lib_obj.dir/engine/loop.c.o.d"
  "/work/wt-host/engine/proc.c" "CMakeFiles/corral_lib_obj.dir/engine/proc.c.o" "gcc" "CMakeFiles/corral_lib_obj.dir/engine/proc.c.o.d"
  "/work/wt-host/engine/scope.c" "CMakeFiles/corral_lib_obj.dir/engine/scope.c.o" "gcc" "CMakeFiles/corral_lib_obj.dir/engine/scope.c.o.d"
  "/work/wt-host/engine/signal.c" "CMakeFiles/corral_lib_obj.dir/engine/signal.c.o" "gcc" "CMakeFiles/corral_lib_obj.dir/engine/signal.c.o.d"
  "/work/wt-host/engine/sync.c" "CMakeFiles/corral_lib_obj.dir/engine/sync.c.o" "gcc" "CMakeFiles/corral_lib_obj.dir/engine/sync.c.o.d"
  "/work/wt-host/engine/task.c" "CMakeFiles/corral_lib_obj.dir/engine/task.c.o" "gcc" "CMakeFiles/corral_lib_obj.dir/engine/task.c.o.d"
  "/work/wt-host/engine/tcp.c" "CMakeFiles/corral_lib_obj.dir/engine/tcp.c.o" "gcc" "CMakeFiles/corral_lib_obj.dir/engine/tcp.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
