# Runs one ctest test: a C test binary (CMD) or one busted spec (SPEC).
#
#   cmake -DSRC=.. -DBUILD=.. -DNAME=.. -DCMD=exe             -P RunTest.cmake
#   cmake -DSRC=.. -DBUILD=.. -DNAME=.. -DSPEC=file -DLUA=lua5.4 -DBUSTED=busted
#         [-DPRELOAD=libasan.so:libubsan.so]                  -P RunTest.cmake
#
#   cmake ... -DSPEC=file ... -DSEEDED=ON                       -P RunTest.cmake
#         runs the spec once per seed (schedule fuzzing): spec/helpers.lua gives
#         every corral.run the seed in CORRAL_TEST_SEED, and specs tagged #fifo
#         (they pin the unseeded order) are left out
#
# Read from the environment at test time, so no reconfigure is needed:
#   TEST_FILTER   busted --filter (a Lua pattern on test names)
#   TEST_TAG      busted --tags
#   TEST_EXCLUDE_TAG  busted --exclude-tags
#   CORRAL_SEEDS, CORRAL_SEED_START  seeds of a SEEDED run (2 from 1)
#   TEST_TIMEOUT  seconds before the test is killed (60, x HEAVY for the
#                 allocation-failure test, x3 in a sanitizer
#                 build, 600 under VALGRIND)
#   VALGRIND      when set, run the test under valgrind (plain build only)
# Each test gets its own TMPDIR under build/Xtest_tmp/, removed afterwards.

if(DEFINED SPEC)
  # The corral.so of this build: the repository's .busted names build/?.so
  # (for plain `busted` at the root), which would shadow another build's
  # (build-sanitize's) wherever build/ exists too.
  set(cmd ${LUA} ${BUSTED} -o utfTerminal "--cpath=${BUILD}/?.so")
  # Optional, so specs run before the helper exists.
  if(EXISTS ${SRC}/spec/helpers.lua)
    list(APPEND cmd --helper=${SRC}/spec/helpers.lua)
  endif()
  if(NOT "$ENV{TEST_FILTER}" STREQUAL "")
    list(APPEND cmd "--filter=$ENV{TEST_FILTER}")
  endif()
  if(NOT "$ENV{TEST_TAG}" STREQUAL "")
    list(APPEND cmd "--tags=$ENV{TEST_TAG}")
  endif()
  if(SEEDED)
    list(APPEND cmd "--exclude-tags=fifo")
  elseif(NOT "$ENV{TEST_EXCLUDE_TAG}" STREQUAL "")
    list(APPEND cmd "--exclude-tags=$ENV{TEST_EXCLUDE_TAG}")
  endif()
  list(APPEND cmd ${SPEC})
else()
  set(cmd ${CMD})
endif()

set(timeout 60)
if(HEAVY)                         # a test that fails every allocation in turn
  math(EXPR timeout "${timeout} * ${HEAVY}")
endif()
if(SLOW)                          # an instrumented build (ASan, TSan)
  math(EXPR timeout "${timeout} * ${SLOW}")
endif()
if(NOT "$ENV{VALGRIND}" STREQUAL "")
  if(PRELOAD)
    message(FATAL_ERROR "VALGRIND needs the plain build, not build-sanitize")
  endif()
  # Only definite leaks fail: lua5.4 may exit through os.exit() without
  # lua_close, leaving its heap "still reachable", which is not a bug.
  set(vg valgrind --error-exitcode=1 --leak-check=full
                  --errors-for-leak-kinds=definite --show-leak-kinds=definite
                  --num-callers=30)
  if(EXISTS ${SRC}/cmake/valgrind.supp)
    list(APPEND vg --suppressions=${SRC}/cmake/valgrind.supp)
  endif()
  set(cmd ${vg} ${cmd})
  set(timeout 600)
endif()
if(NOT "$ENV{TEST_TIMEOUT}" STREQUAL "")
  set(timeout $ENV{TEST_TIMEOUT})
endif()

# Don't let a user's LUA_PATH_5_4 shadow the LUA_PATH that ctest sets.
unset(ENV{LUA_PATH_5_4})
unset(ENV{LUA_CPATH_5_4})
# Set here, not in ctest's ENVIRONMENT, so the preload reaches only the
# interpreter and not this cmake process.
if(PRELOAD)
  set(ENV{LD_PRELOAD} ${PRELOAD})
endif()

string(REPLACE "/" "_" tmp ${NAME})
set(tmp ${BUILD}/Xtest_tmp/${tmp})
file(REMOVE_RECURSE ${tmp})
file(MAKE_DIRECTORY ${tmp})
set(ENV{TMPDIR} ${tmp})

if(SEEDED)
  set(first 1)
  set(count 2)
  if(NOT "$ENV{CORRAL_SEED_START}" STREQUAL "")
    set(first $ENV{CORRAL_SEED_START})
  endif()
  if(NOT "$ENV{CORRAL_SEEDS}" STREQUAL "")
    set(count $ENV{CORRAL_SEEDS})
  endif()
  math(EXPR last "${first} + ${count} - 1")
  list(JOIN cmd " " cmdline)
  foreach(seed RANGE ${first} ${last})
    set(ENV{CORRAL_TEST_SEED} ${seed})
    execute_process(COMMAND ${cmd} TIMEOUT ${timeout} RESULT_VARIABLE res)
    if(NOT res STREQUAL "0")
      file(REMOVE_RECURSE ${tmp})
      message(FATAL_ERROR "${NAME} failed (${res}) under seed ${seed}; replay:\n"
        "  CORRAL_TEST_SEED=${seed} ${cmdline}")
    endif()
  endforeach()
  file(REMOVE_RECURSE ${tmp})
  return()
endif()

execute_process(COMMAND ${cmd} TIMEOUT ${timeout} RESULT_VARIABLE res)
file(REMOVE_RECURSE ${tmp})

if(NOT res STREQUAL "0")
  list(JOIN cmd " " cmdline)
  message(FATAL_ERROR "${NAME} failed (${res}):\n  ${cmdline}")
endif()
