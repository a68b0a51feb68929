/*
** main.c -- the `corral` command: runs a Lua script as the root task of
** corral.run, with SIGINT/SIGTERM cancelling it gracefully.
**
**   corral script.lua args...   exit 0 on success, 1 on error (printed to
**                               stderr, an ErrorGroup as a tree), 130/143
**                               after SIGINT/SIGTERM once every cleanup ran.
*/
#include <stdio.h>
#include <stdlib.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>

LUAMOD_API int luaopen_corral(lua_State *L);

static const char driver[] =
"local corral = require 'corral'\n"
"local script = ...\n"
"local chunk, err = loadfile(script)\n"
"if not chunk then\n"
"  io.stderr:write('corral: ', tostring(err), '\\n')\n"
"  return 1\n"
"end\n"
"local tb\n"
"local function handler(e)\n"
"  if not corral.is_cancelled(e) and not corral.is_error_group(e) then\n"
"    tb = debug.traceback(nil, 2)\n"
"  end\n"
"  return e\n"
"end\n"
"local function root()\n"
"  local r = table.pack(xpcall(chunk, handler, table.unpack(arg, 1, #arg)))\n"
"  if not r[1] then error(r[2], 0) end\n"
"  return table.unpack(r, 2, r.n)\n"
"end\n"
"local ok, e = pcall(corral.run, root, {signals = true})\n"
"if ok then return 0 end\n"
"if corral.is_cancelled(e) and e.source == 'signal' then\n"
"  io.stderr:write('corral: interrupted by ', tostring(e.reason), '\\n')\n"
"  return e.reason == 'SIGTERM' and 143 or 130\n"
"end\n"
"local msg\n"
"if corral.is_error_group(e) then\n"
"  msg = e:render({tracebacks = true})\n"
"else\n"
"  msg = tostring(e)\n"
"  if tb then msg = msg .. '\\n' .. tb end\n"
"end\n"
"io.stderr:write('corral: ', msg, '\\n')\n"
"return 1\n";

static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  int i;
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_corral);
  lua_setfield(L, -2, "corral");
  lua_pop(L, 1);
  lua_createtable(L, argc - 2, 2);          /* arg, as lua(1) sets it */
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - 1);
  }
  lua_setglobal(L, "arg");
  if (luaL_loadbuffer(L, driver, sizeof driver - 1, "=corral") != LUA_OK)
    return lua_error(L);
  lua_pushstring(L, argv[1]);
  lua_call(L, 1, 1);
  return 1;
}

int main(int argc, char **argv) {
  lua_State *L;
  int status, code;
  if (argc < 2) {
    fprintf(stderr, "usage: %s script.lua [args...]\n", argv[0]);
    return 2;
  }
  L = luaL_newstate();
  if (L == NULL) {
    fprintf(stderr, "corral: not enough memory\n");
    return 1;
  }
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  status = lua_pcall(L, 2, 1, 0);
  if (status != LUA_OK) {
    fprintf(stderr, "corral: %s\n", lua_tostring(L, -1));
    code = 1;
  } else {
    code = (int)lua_tointeger(L, -1);
  }
  lua_close(L);
  return code;
}
