# Thin wrapper over CMake: every real rule lives in CMakeLists.txt.
#
#   make [all]     install missing deps, configure build/, build
#   make test      all + ctest (TEST_FILE=spec/group_spec.lua or
#                  spec/c/test-scope.c runs one; TEST_FILTER=pattern and
#                  TEST_TAG=tag go to busted)
#   make sanitize  the same in build-sanitize/ with ASan + UBSan
#   make tsan      the threaded host tests (c/host-*) in build-tsan/ with
#                  ThreadSanitizer
#   make valgrind  all + every test under valgrind (plain build), i.e.
#                  VALGRIND=1 ctest --test-dir build --output-on-failure
#                  which runs each spec as
#                  valgrind --error-exitcode=1 --leak-check=full
#                    --errors-for-leak-kinds=definite ... lua5.4 busted FILE
#                  and each C test binary the same way (cmake/RunTest.cmake)
#   make demo      run scripts/examples/demo.lua with build/corral
#   make bench     run bench/run; never part of make test
#   make soak      tools/soak.lua WAVES PER_WAVE: memory stays flat
#   make test-seeds  every spec (but model, cli, soak) under SEEDS schedules
#                  (corral.run's seed; default 50); make test runs 2 of them
#   make fuzz      tools/fuzz.lua SEEDS: engine vs reference model
#   make fuzz-mix  tools/fuzz-mix.lua SEEDS: mixed features, invariants
#   make fuzz-c    libFuzzer over the engine C API, FUZZ_SECONDS
#   make install   a Release build of its own in build-release/ (no tests, no
#                  busted, no -Werror, no apt), then cmake --install it
#                  (PREFIX=/usr/local, DESTDIR honoured)
#   make uninstall remove what the last make install installed
#                  (build-release/install_manifest.txt)
#   make clean | distclean
#
# Put overrides (CMAKE_BUILD_TYPE, CMAKE_EXTRA_FLAGS, ...) in local.mk.

CMAKE_BUILD_TYPE ?= Debug
CMAKE_EXTRA_FLAGS ?=
JOBS ?= 2
PREFIX ?=

-include local.mk

# cmake --build runs make too; keep its output free of "Entering directory".
MAKEFLAGS += --no-print-directory

# Our own builds (make, make test, CI) treat warnings as errors; a user's
# plain cmake build and make install do not.
CMAKE_FLAGS = -DCMAKE_BUILD_TYPE=$(CMAKE_BUILD_TYPE) -DCORRAL_WERROR=ON \
  $(CMAKE_EXTRA_FLAGS)
RELEASE_FLAGS = -DCMAKE_BUILD_TYPE=Release -DCORRAL_TESTS=OFF -DCORRAL_WERROR=OFF

# TEST_FILE (a path) -> ctest name: spec/c/test-x.c -> c/x, spec/a_spec.lua -> spec/a
test_name = $(patsubst spec/%_spec.lua,spec/%,$(patsubst spec/c/test-%.c,c/%,$(TEST_FILE:./%=%)))
CTEST_FLAGS = --output-on-failure --no-tests=error -j$(JOBS) \
  $(if $(TEST_FILE),-R '^$(test_name)$$')

# Scripts run from the source tree find corral.* modules here.
SCRIPT_ENV = LUA_PATH='$(CURDIR)/scripts/?.lua;$(CURDIR)/scripts/?/init.lua;;' \
  LUA_CPATH='$(CURDIR)/build/?.so;;'

all: deps build/.ran-cmake
	cmake --build build -j$(JOBS)

deps:
	@tools/deps.sh

# Configure once; after that CMake re-runs itself when CMakeLists.txt or a
# globbed source list changes.
build/.ran-cmake: | deps
	cmake -S . -B build $(CMAKE_FLAGS)
	touch $@

build-sanitize/.ran-cmake: | deps
	cmake -S . -B build-sanitize $(CMAKE_FLAGS) -DCORRAL_SANITIZE=ON
	touch $@

test: all
	ctest --test-dir build $(CTEST_FLAGS)

sanitize: deps build-sanitize/.ran-cmake
	cmake --build build-sanitize -j$(JOBS)
	ctest --test-dir build-sanitize $(CTEST_FLAGS)

build-tsan/.ran-cmake: | deps
	cmake -S . -B build-tsan $(CMAKE_FLAGS) -DCORRAL_TSAN=ON
	touch $@

# ThreadSanitizer over the tests that cross threads (the host API).
tsan: deps build-tsan/.ran-cmake
	cmake --build build-tsan -j$(JOBS) --target test-host-run test-host-ops \
	  test-host-threads test-host-races test-host-op-abuse test-host-teardown
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  ctest --test-dir build-tsan --output-on-failure --no-tests=error \
	  -R '^c/host-(run|ops|threads|races|op-abuse|teardown)$$'

valgrind: all
	@tools/deps.sh valgrind
	VALGRIND=1 ctest --test-dir build $(CTEST_FLAGS)

demo: all
	$(SCRIPT_ENV) ./build/corral scripts/examples/demo.lua

bench: all
	@if [ -x bench/run ]; then $(SCRIPT_ENV) bench/run; \
	else echo "bench: bench/run not yet available"; fi

# The long soak: two million tasks in waves, memory must stay flat.
WAVES ?= 400
PER_WAVE ?= 5000
soak: all
	$(SCRIPT_ENV) lua5.4 tools/soak.lua $(WAVES) $(PER_WAVE)

# Schedule fuzzing: the seeds/* tests run each spec once per seed, from
# CORRAL_SEED_START (default 1); a failure prints the seed and how to replay it.
test-seeds: all
	CORRAL_SEEDS=$(if $(filter command line environment,$(origin SEEDS)),$(SEEDS),50) \
	  ctest --test-dir build --output-on-failure --no-tests=error -j$(JOBS) -R '^seeds/'

# Model-based random testing: engine vs the reference model, SEEDS programs.
SEEDS ?= 100000
START ?= 1
fuzz: all
	lua5.4 tools/fuzz.lua $(SEEDS) $(START)

# Random programs mixing every feature, checked for lost errors and leaks.
fuzz-mix: all
	lua5.4 tools/fuzz-mix.lua $(SEEDS) $(START)

# libFuzzer over the engine's C API (clang), FUZZ_SECONDS long. To fuzz past
# a known engine bug: FUZZ_ENGINE_AVOID=unspawned (see spec/fuzz/fuzz-engine.c).
FUZZ_SECONDS ?= 180
fuzz-c: deps
	tools/fuzz-c.sh $(FUZZ_SECONDS)

# Never runs tools/deps.sh: installing must not install packages. CMake says
# what is missing (libuv, lua5.4 headers, pkg-config).
build-release/.ran-cmake:
	cmake -S . -B build-release $(RELEASE_FLAGS)
	touch $@

# The prefix is configured on every install, not only the first: the
# command has its modules' directory compiled in, so a second install
# elsewhere (PREFIX=$$HOME/.local after /usr/local) must rebuild it.
install: build-release/.ran-cmake
	cmake -S . -B build-release -DCMAKE_INSTALL_PREFIX='$(or $(PREFIX),/usr/local)'
	cmake --build build-release -j$(JOBS)
	cmake --install build-release

uninstall:
	@tools/uninstall.sh build-release/install_manifest.txt

clean:
	@if [ -d build ]; then cmake --build build --target clean; fi

distclean:
	rm -rf build build-sanitize build-tsan build-release build.luarocks

.PHONY: all deps test test-seeds sanitize tsan valgrind demo trace-demo bench soak fuzz fuzz-mix fuzz-c install \
  uninstall clean distclean

# The README's picture: the demo's trace drawn by `corral trace-svg`.
trace-demo: all
	$(SCRIPT_ENV) ./build/corral --trace build/demo-trace.json scripts/examples/demo.lua > /dev/null
	./build/corral trace-svg build/demo-trace.json > docs/demo-trace.svg.tmp && mv docs/demo-trace.svg.tmp docs/demo-trace.svg
	@echo "wrote docs/demo-trace.svg"
