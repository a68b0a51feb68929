/*
** main.c -- the `corral` command: a Lua 5.4 interpreter with the corral
** module preloaded, whose command line is handled by scripts/corral/cli.lua
** (compiled in as the array cli_lua, see cmake/Embed.cmake).
**
**   corral [options] [script [args...]]   exit 0 on success, 1 on error,
**                                         2 on a usage error, 130/143 when
**                                         SIGINT/SIGTERM cancelled the root.
**
** C does only what Lua cannot: build the state, preload the modules, pass
** the command line, the version and whether stdin is a terminal.
*/
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>
#include "cli_lua.h"
#include "trace_svg_lua.h"

#ifndef CORRAL_VERSION_STRING
#define CORRAL_VERSION_STRING "unknown"
#endif

LUAMOD_API int luaopen_corral(lua_State *L);

/* package.preload["corral.cli"]: the embedded driver. */
static int open_cli(lua_State *L) {
  if (luaL_loadbuffer(L, (const char *)cli_lua, cli_lua_len,
                      "=corral.cli") != LUA_OK)
    return lua_error(L);
  lua_call(L, 0, 1);
  return 1;
}

/* package.preload["corral.trace_svg"]: `corral trace-svg`. */
static int open_trace_svg(lua_State *L) {
  if (luaL_loadbuffer(L, (const char *)trace_svg_lua, trace_svg_lua_len,
                      "=corral.trace_svg") != LUA_OK)
    return lua_error(L);
  lua_call(L, 0, 1);
  return 1;
}

static void preload(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_corral);
  lua_setfield(L, -2, "corral");
  lua_pushcfunction(L, open_cli);
  lua_setfield(L, -2, "corral.cli");
  lua_pushcfunction(L, open_trace_svg);
  lua_setfield(L, -2, "corral.trace_svg");
  lua_pop(L, 1);
}

/* require("corral.cli").main(argv, info) -> exit status. */
static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  int i;
  luaL_openlibs(L);
  preload(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "corral.cli");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc, 1);                 /* argv, argv[0] = progname */
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_createtable(L, 0, 5);                    /* info */
  lua_pushliteral(L, "corral");                /* for messages */
  lua_setfield(L, -2, "progname");
  lua_pushliteral(L, CORRAL_VERSION_STRING);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, uv_version_string());
  lua_setfield(L, -2, "libuv");
  lua_pushliteral(L, LUA_RELEASE);
  lua_setfield(L, -2, "lua");
  lua_pushboolean(L, isatty(STDIN_FILENO));
  lua_setfield(L, -2, "stdin_is_tty");
  lua_call(L, 2, 1);
  return 1;
}

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  int status, code;
  if (L == NULL) {
    fprintf(stderr, "corral: not enough memory\n");
    return 1;
  }
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  status = lua_pcall(L, 2, 1, 0);
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "corral: %s\n", msg ? msg : "(error object is not a string)");
    code = 1;
  } else {
    code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 1;
  }
  lua_close(L);
  return code;
}
