-- LuaRocks: `luarocks make` in a checkout builds and installs corral.so, the
-- corral.* Lua modules (policies, testing, cli, trace_svg) and the corral
-- command. Lua 5.4 is the default here (.luarocks/default-lua-version.lua);
-- elsewhere say `luarocks --lua-version 5.4 make`.
-- Needs the libuv and Lua 5.4 headers and pkg-config (Debian: libuv1-dev,
-- liblua5.4-dev, pkg-config, cmake).
rockspec_format = "3.0"
package = "corral"
version = "0.26.4-1"
source = {   -- where releases will be published; `luarocks make` builds the checkout
   url = "git+https://github.com/corral-lua/corral.git",
   tag = "v0.26.4",
}
description = {
   summary = "Structured concurrency for Lua 5.4 on libuv",
   detailed = [[
corral runs Lua 5.4 coroutines as tasks of a C engine on libuv: task groups
that never leak a task, cancel scopes with deadlines and shields,
level-triggered cancellation, graceful stop, TCP, processes and signals,
supervisors, races and retries in Lua, and a testing kit with a virtual clock.
]],
   license = "MIT",
   labels = { "concurrency", "async", "libuv", "coroutines" },
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
build = {
   type = "cmake",
   variables = {
      CMAKE_BUILD_TYPE = "Release",
      CMAKE_INSTALL_PREFIX = "$(PREFIX)",
      CMAKE_INSTALL_BINDIR = "$(BINDIR)",
      CORRAL_LUA_CMOD_DIR = "$(LIBDIR)",
      CORRAL_LUA_LMOD_DIR = "$(LUADIR)",
      CORRAL_TESTS = "OFF",
      CORRAL_WERROR = "OFF",
      CORRAL_INSTALL_DEV = "OFF",
   },
}
