
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/wt-host/bindings/lcorral.c" "CMakeFiles/corral_bindings.dir/bindings/lcorral.c.o" "gcc" "CMakeFiles/corral_bindings.dir/bindings/lcorral.c.o.d"
  "/work/wt-host/bindings/lerror.c" "CMakeFiles/corral_bindings.dir/bindings/lerror.c.o" "gcc" "CMakeFiles/corral_bindings.dir/bindings/lerror.c.o.d"
  "/work/wt-host/bindings/lgroup.c" "CMakeFiles/corral_bindings.dir/bindings/lgroup.c.o" "gcc" "CMakeFiles/corral_bindings.dir/bindings/lgroup.c.o.d"
  "/work/wt-host/bindings/lhost.c" "CMakeFiles/corral_bindings.dir/bindings/lhost.c.o" "gcc" "CMakeFiles/corral_bindings.dir/bindings/lhost.c.o.d"
  "/work/wt-host/bindings/lio.c" "CMakeFiles/corral_bindings.dir/bindings/lio.c.o" "gcc" "CMakeFiles/corral_bindings.dir/bindings/lio.c.o.d"
  "/work/wt-host/bindings/lscope.c" "CMakeFiles/corral_bindings.dir/bindings/lscope.c.o" "gcc" "CMakeFiles/corral_bindings.dir/bindings/lscope.c.o.d"
  "/work/wt-host/bindings/lsync.c" "CMakeFiles/corral_bindings.dir/bindings/lsync.c.o" "gcc" "CMakeFiles/corral_bindings.dir/bindings/lsync.c.o.d"
  "/work/wt-host/bindings/ltask.c" "CMakeFiles/corral_bindings.dir/bindings/ltask.c.o" "gcc" "CMakeFiles/corral_bindings.dir/bindings/ltask.c.o.d"
  "/work/wt-host/bindings/ltesting.c" "CMakeFiles/corral_bindings.dir/bindings/ltesting.c.o" "gcc" "CMakeFiles/corral_bindings.dir/bindings/ltesting.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
