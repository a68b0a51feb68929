/*
** failing_alloc.h -- what the allocation-failure tests share: a lua_Alloc
** that counts growing allocations and fails those from fail_at on
** (fail_len of them, or every later one when 0) and counts the live
** blocks; a state on it with corral loaded; and the checks once an
** attempt is over (the module still usable, nothing left allocated).
*/
#ifndef FAILING_ALLOC_H
#define FAILING_ALLOC_H
#include <stdio.h>
#include <stdlib.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>

LUAMOD_API int luaopen_corral(lua_State *L);

typedef struct {
  size_t count;      /* growing allocations since counting started */
  size_t fail_at;    /* 0 = never fail */
  size_t fail_len;   /* how many fail from fail_at on (0 = every later one) */
  long blocks;       /* live blocks */
} arena;

static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  arena *a = ud;
  if (nsize == 0) {
    if (ptr) {
      a->blocks--;
      free(ptr);
    }
    return NULL;
  }
  if (ptr == NULL || nsize > osize) {   /* Lua never lets a shrink fail */
    a->count++;
    if (a->fail_at && a->count >= a->fail_at &&
        (a->fail_len == 0 || a->count < a->fail_at + a->fail_len))
      return NULL;
  }
  if (ptr == NULL) {
    void *p = malloc(nsize);
    if (p) a->blocks++;
    return p;
  }
  return realloc(ptr, nsize);
}

/* A state on a's allocator with the standard libraries and corral, or
** NULL. Nothing fails while it is made (fail_at is set afterwards). */
static inline lua_State *alloc_state(arena *a) {
  lua_State *L = lua_newstate(l_alloc, a);
  if (L == NULL) return NULL;
  luaL_openlibs(L);
  luaL_requiref(L, "corral", luaopen_corral, 0);
  lua_pop(L, 1);
  return L;
}

static const char alloc_sanity[] =
  "local corral = require 'corral'\n"
  "assert(corral.run(function() corral.sleep(0) return 7 end,\n"
  "                  {clock = 'virtual'}) == 7)\n";

/* An attempt on L is over: with nothing failing any more, a plain
** corral.run must still work there; then L is closed and nothing may be
** left allocated. `what` names the attempt in the report. Returns 1 if
** both held. */
static int alloc_state_done(lua_State *L, arena *a, const char *what) {
  int ok;
  a->fail_at = 0;
  lua_settop(L, 0);
  ok = luaL_loadstring(L, alloc_sanity) == LUA_OK &&
       lua_pcall(L, 0, 0, 0) == LUA_OK;
  if (!ok)
    fprintf(stderr, "%s: the module is unusable: %s\n", what,
            lua_tostring(L, -1));
  lua_close(L);
  if (a->blocks != 0) {
    fprintf(stderr, "%s: %ld blocks leaked\n", what, a->blocks);
    ok = 0;
  }
  return ok;
}

#endif
