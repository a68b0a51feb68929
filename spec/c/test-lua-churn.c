/*
** test-lua-churn.c -- maps whose keys come and go (the pins of entered
** scopes, the live Cancelleds) cost O(1) per key however many are live.
**
** They were Lua tables with keys set to nil on removal. Lua gives a
** removed key's node back only at a rehash, which sizes the table for the
** keys left: with just under 2^15 of them, nearly every insert rehashed the
** whole table (200 us per scope entered at 32,766 open scopes; a program
** with 40,000 tasks looping on move_on_after nearly stopped). The test
** counts the bytes Lua allocates while scopes come and go next to K that
** stay: a rehash per insert allocates a whole node array (about 1 MB)
** each time. No clock is read.
*/
#include <stdio.h>
#include <stdlib.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>

LUAMOD_API int luaopen_corral(lua_State *L);

static size_t grown;                   /* bytes of growing allocations */

static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  if (ptr == NULL) grown += nsize;
  else if (nsize > osize) grown += nsize - osize;
  return realloc(ptr, nsize);
}

static int l_grown(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)grown);
  return 1;
}

/* K tasks hold a scope open (pins), or sit in a cancelled scope (live
** Cancelleds); then M scopes come and go: bytes allocated per scope. */
static const char script[] =
  "local corral = require 'corral'\n"
  "local K, M, live = ...\n"
  "local per, done = nil, corral.event()\n"
  "corral.run(function()\n"
  "  corral.group(function(g)\n"
  "    for i = 1, K do\n"
  "      if live then\n"
  "        g:spawn(corral.scope, function(s)\n"
  "          s:cancel(); pcall(corral.checkpoint)\n"
  "          corral.scope(function() done:wait() end, {shield = true})\n"
  "        end)\n"
  "      else\n"
  "        g:spawn(corral.move_on_after, 1000, corral.sleep, math.huge)\n"
  "      end\n"
  "    end\n"
  "    for _ = 1, 3 do corral.sleep(0) end\n"
  "    collectgarbage('stop')\n"
  "    local a0 = grown()\n"
  "    for _ = 1, M do\n"
  "      if live then corral.move_on_after(0, corral.checkpoint)\n"
  "      else corral.move_on_after(10, function() end) end\n"
  "    end\n"
  "    per = (grown() - a0) / M\n"
  "    collectgarbage('restart')\n"
  "    done:set()\n"
  "    g:cancel()\n"
  "  end)\n"
  "end, {clock = 'virtual'})\n"
  "return per\n";

static int run(long k, long m, int live, double *per) {
  lua_State *L = lua_newstate(l_alloc, NULL);
  int ok;
  if (L == NULL) return 0;
  luaL_openlibs(L);
  luaL_requiref(L, "corral", luaopen_corral, 0);
  lua_pop(L, 1);
  lua_register(L, "grown", l_grown);
  ok = luaL_loadstring(L, script) == LUA_OK;
  if (ok) {
    lua_pushinteger(L, k);
    lua_pushinteger(L, m);
    lua_pushboolean(L, live);
    ok = lua_pcall(L, 3, 1, 0) == LUA_OK;
  }
  if (ok) *per = lua_tonumber(L, -1);
  else fprintf(stderr, "%.300s\n", lua_tostring(L, -1));
  lua_close(L);
  return ok;
}

int main(void) {
  /* around 2^15 live keys: one of these sits just under the power of two
  ** whatever else the run pins (its root, its group) */
  static const long ks[] = {32762, 32763, 32764, 32765, 32766, 32767};
  int live, failed = 0;
  size_t i;
  for (live = 0; live <= 1; live++)
    for (i = 0; i < sizeof ks / sizeof ks[0]; i++) {
      double per = 0;
      int ok = run(ks[i], 2000, live, &per);
      /* a scope's own records take a few hundred bytes; a rehash of the
      ** map, 32768 nodes */
      int good = ok && per < 16384;
      printf("%s %s, %ld kept: %.0f bytes allocated per scope\n",
             good ? "ok  " : "FAIL", live ? "live Cancelleds" : "pins", ks[i],
             per);
      failed |= !good;
    }
  return failed;
}
