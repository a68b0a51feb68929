/*
** lscan.c -- does any value the Lua state can still reach hold a given C
** function? Used once, when corral wraps coroutine.running: a copy of the
** original kept from before (a module's `local running =
** coroutine.running`) would see a pooled coroutine pass from one task to
** the next, so the pool stays off if one is found (see ltask.c, pool_give).
**
** The walk starts at the registry (which holds the globals, package.loaded,
** the main thread and every luaL_ref) and at the frames of the running
** thread, and follows table keys, values and metatables, function upvalues,
** userdata metatables and user values, and every slot of every frame of
** every coroutine. Objects are visited once (a table of seen objects); an
** explicit work list, not C recursion, holds what is still to visit. A full
** collection first lets pending finalizers run, which could hand a copy
** back from garbage. Every value looked at (and every frame lua_getstack
** walks past) costs a unit of `budget`; the walk runs protected. Out of
** budget or memory, or on a heap over SCAN_MAX_KB (which the budget would
** not cover anyway), it answers "found": not knowing is unsafe. Beyond it:
** a finalizer that re-arms itself at every cycle (it is never reachable,
** and may hand a copy out later), and values a C host keeps on a thread
** below its first call (see docs/api.md: such a host sets the key).
*/
#include "lcorral.h"

/* Heaps larger than this (in kB) are not searched: unsafe. */
#define SCAN_MAX_KB (16 * 1024)

typedef struct {
  lua_State *L;
  lua_CFunction f;
  int seen, work;        /* stack indices: seen set, work list */
  lua_Integer nwork;
  long left;             /* budget units still allowed */
  int found;
} Scan;

/* Spend `units` of the budget; 0 (and "found": unsafe) once it is gone. */
static int charge(Scan *s, long units) {
  s->left -= units;
  if (s->left < 0) s->found = 1;
  return !s->found;
}

/* Pops the value on top; notes it if it is f, queues it if it is new.
** Every value costs a unit, new or not, object or not. */
static void visit(Scan *s) {
  lua_State *L = s->L;
  int tt = lua_type(L, -1);
  if (tt == LUA_TFUNCTION && lua_tocfunction(L, -1) == s->f) s->found = 1;
  if (!charge(s, 1) || (tt != LUA_TTABLE && tt != LUA_TFUNCTION &&
                        tt != LUA_TUSERDATA && tt != LUA_TTHREAD)) {
    lua_pop(L, 1);
    return;
  }
  lua_pushvalue(L, -1);
  if (lua_rawget(L, s->seen) != LUA_TNIL) {
    lua_pop(L, 2);
    return;
  }
  lua_pop(L, 1);
  lua_pushvalue(L, -1);
  lua_pushboolean(L, 1);
  lua_rawset(L, s->seen);
  lua_rawseti(L, s->work, ++s->nwork);
}

/* Visit the value on top of co (co may be L itself). */
static void visit_from(Scan *s, lua_State *co) {
  if (co != s->L) lua_xmove(co, s->L, 1);
  visit(s);
}

/* Every slot of every frame of thread co (its locals, temporaries and
** functions); a coroutine not started yet has its function and arguments
** in the base frame. co may be L itself. (Values a C host keeps on a
** thread below its first call are out of reach of the API.) */
static void visit_thread(Scan *s, lua_State *co) {
  lua_Debug ar;
  int level, n;
  if (co != s->L && !lua_checkstack(co, 2)) {
    s->found = 1;                        /* cannot look: unsafe */
    return;
  }
  /* lua_getstack walks `level` frames each time: charged as much */
  for (level = 0; charge(s, level) && lua_getstack(co, level, &ar); level++) {
    for (n = 1; lua_getlocal(co, &ar, n) != NULL; n++) visit_from(s, co);
    for (n = -1; lua_getlocal(co, &ar, n) != NULL; n--) visit_from(s, co);
    lua_getinfo(co, "f", &ar);
    visit_from(s, co);
  }
  if (co != s->L && level == 0)
    for (n = 1; n <= lua_gettop(co); n++) {
      lua_pushvalue(co, n);
      visit_from(s, co);
    }
}

/* The metatables of the types whose values share one (debug.setmetatable
** on a number, a string...): the registry does not hold them. */
static void visit_basic_metatables(Scan *s) {
  lua_State *L = s->L;
  int i;
  for (i = 0; i < 5; i++) {
    switch (i) {
      case 0: lua_pushnil(L); break;
      case 1: lua_pushboolean(L, 0); break;
      case 2: lua_pushinteger(L, 0); break;
      case 3: lua_pushliteral(L, ""); break;
      default: lua_pushlightuserdata(L, NULL); break;
    }
    if (lua_getmetatable(L, -1)) visit(s);
    lua_pop(L, 1);
  }
}

/* The upvalues of the function at o. A closure still being made has
** none yet in some slots (the main function of a chunk that load() is
** parsing, seen from a reader or a finalizer that requires corral):
** lua_getupvalue would follow the empty slot, its id is NULL. */
static void expand_upvalues(Scan *s, int o) {
  lua_State *L = s->L;
  lua_Debug ar;
  int i;
  lua_pushvalue(L, o);
  lua_getinfo(L, ">u", &ar);
  for (i = 1; i <= ar.nups; i++) {
    if (lua_upvalueid(L, o, i) == NULL) continue;
    if (lua_getupvalue(L, o, i) == NULL) break;
    visit(s);
  }
}

/* Queue what the object on top refers to; pops it. */
static void expand(Scan *s) {
  lua_State *L = s->L;
  int i, o = lua_gettop(L);
  switch (lua_type(L, o)) {
    case LUA_TTABLE:
      lua_pushnil(L);
      while (!s->found && lua_next(L, o)) {
        lua_pushvalue(L, -2);
        visit(s);                               /* the key */
        visit(s);                               /* the value */
      }
      break;
    case LUA_TFUNCTION:
      expand_upvalues(s, o);
      break;
    case LUA_TUSERDATA:
      for (i = 1; lua_getiuservalue(L, o, i) != LUA_TNONE; i++) visit(s);
      lua_pop(L, 1);
      break;
    case LUA_TTHREAD:
      visit_thread(s, lua_tothread(L, o));
      break;
  }
  if (lua_getmetatable(L, o)) visit(s);
  lua_settop(L, o - 1);
}

/* The walk, protected: [Scan] -> [Scan, seen, work, ...]. */
static int scan_main(lua_State *L) {
  Scan *s = lua_touserdata(L, 1);
  /* A heap this large would not be searched within the budget anyway:
  ** do not pay for collecting it. */
  if (lua_gc(L, LUA_GCCOUNT) > SCAN_MAX_KB) {
    s->found = 1;
    return 0;
  }
  /* A finalizer may hand a copy back from an object that is garbage now:
  ** let every pending one run first (and those their run leaves). */
  lua_gc(L, LUA_GCCOLLECT);
  lua_gc(L, LUA_GCCOLLECT);
  luaL_checkstack(L, 8, NULL);
  lua_newtable(L);
  lua_newtable(L);
  s->L = L;
  s->seen = 2;
  s->work = 3;
  lua_pushvalue(L, s->seen);                /* neither list is walked */
  lua_pushboolean(L, 1);
  lua_rawset(L, s->seen);
  lua_pushvalue(L, s->work);
  lua_pushboolean(L, 1);
  lua_rawset(L, s->seen);
  lua_pushvalue(L, LUA_REGISTRYINDEX);
  visit(s);
  visit_basic_metatables(s);
  visit_thread(s, L);
  while (!s->found && s->nwork > 0) {
    lua_rawgeti(L, s->work, s->nwork);
    lua_pushnil(L);
    lua_rawseti(L, s->work, s->nwork--);
    expand(s);
  }
  return 0;
}

/*
** 1 if a value reachable in L's state is the C function f, or the walk
** could not tell (it gave up after budget objects, or memory ran out);
** else 0. [-0, +0, -]
*/
int lcr_reaches_cfunction(lua_State *L, lua_CFunction f, long budget) {
  Scan s;
  s.f = f;
  s.nwork = 0;
  s.left = budget;
  s.found = 0;
  if (!lua_checkstack(L, 2)) return 1;
  lua_pushcfunction(L, scan_main);
  lua_pushlightuserdata(L, &s);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    lua_pop(L, 1);
    return 1;
  }
  return s.found;
}
