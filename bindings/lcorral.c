/*
** lcorral.c -- the corral Lua module: luaopen_corral, corral.run, time and
** the helpers every binding file shares.
*/
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <lualib.h>
#include "corral_lua.h"
#include "lcorral.h"

/* Registry key (its address) of the tree of the last run whose stop signal
** found every task blocked for good (corral._stuck_tree, which the
** command prints). */
static const char stuck_key = 0;

/* --- shared helpers --------------------------------------------------- */

/* Registry key of the module state of the last luaopen_corral. */
const char lcr_state_key = 0;

lcr_State *lcr_state(lua_State *L) {
  lcr_State *S = lua_touserdata(L, lua_upvalueindex(1));
  /* Hot: one load. Another userdata in its place has other first bytes
  ** (every userdata Lua code can reach is at least a pointer wide). */
  if (S == NULL || S->self != S)
    luaL_error(L, "corral: a function of the module lost its state (its "
                  "upvalue was replaced with debug.setupvalue)");
  return S;
}

int lcr_alive(lcr_State *S, lcr_Engine *E, unsigned epoch) {
  return S->eng == E && E != NULL && E->epoch == epoch && E->open;
}

/*
** The running engine, or an error naming the call as the user wrote it
** ("corral.now", "group:spawn"). [-0, +0, v]
*/
lcr_Engine *lcr_engine(lua_State *L, const char *call) {
  return lcr_engine_at(L, call, 1);
}

/* The same, with the error at `level`. [-0, +0, v] */
lcr_Engine *lcr_engine_at(lua_State *L, const char *call, int level) {
  lcr_State *S = lcr_state(L);
  if (S->eng == NULL)
    lcr_error_at(L, level, "%s: called outside corral.run", call);
  return S->eng;
}

/*
** Call f (its nargs arguments on top; nres results) with the collector
** stopped, so that no __gc finalizer runs inside the allocations it makes:
** a C walk of the engine's scopes that builds Lua values as it goes (the
** task tree, the trace's names) then finds them as they were, not
** reparented (a g:start child's ready) or entered under its feet by a
** finalizer. The collector runs again after, also when f raises (the
** error goes on); one the program stopped stays stopped. [-nargs, +nres, e]
*/
void lcr_call_still(lua_State *L, lua_CFunction f, int nargs, int nres) {
  int running = lua_gc(L, LUA_GCISRUNNING), st;
  lua_pushcfunction(L, f);
  lua_insert(L, -nargs - 1);
  if (running) lua_gc(L, LUA_GCSTOP);
  st = lua_pcall(L, nargs, nres, 0);
  if (running) lua_gc(L, LUA_GCRESTART);
  if (st != LUA_OK) lua_error(L);
}

/*
** The task that may block in `call` ("corral.sleep", "event:wait"), or an
** error naming the mistake: a blocking call is only legal on the coroutine
** the engine resumed, not inside a coroutine the user created within a
** task. [-0, +0, v]
*/
lcr_Task *lcr_checkblocking(lua_State *L, const char *call) {
  return lcr_checkblocking_at(L, call, 1);
}

/* The same, with the errors at `level` (corral's own Lua passes its
** user's). [-0, +0, v] */
lcr_Task *lcr_checkblocking_at(lua_State *L, const char *call, int level) {
  lcr_Engine *E = lcr_engine_at(L, call, level);
  lcr_Task *t = (lcr_Task *)E->e.current;
  if (t == NULL && E->e.stats.tasks == 0)   /* a host's state between roots */
    lcr_error_at(L, level, "%s: called outside corral.run", call);
  if (t == NULL)         /* a host's code between steps, a finalizer */
    lcr_error_at(L, level, "%s: called outside a corral task (no task is "
                 "running here: call it from a task)", call);
  if (lcr_taskco(t) != L)
    lcr_error_at(L, level, "%s: called from a coroutine that corral does not "
                 "run (a blocking call inside your own coroutine, e.g. a "
                 "coroutine.wrap generator, cannot be suspended by corral)",
                 call);
  lcr_checkyieldable(L, call, level);
  return t;
}

/* The error of lcr_checkyieldable (lcorral.h). [-0, +0, v] */
int lcr_notyieldable(lua_State *L, const char *call, int level) {
  return lcr_error_at(L, level, "%s: cannot block here: the task is inside "
                      "a C function that called back into Lua (a table.sort "
                      "comparator, a string.gsub callback, a __tostring "
                      "called by tostring, a __gc, a module's main chunk "
                      "in require), which cannot be suspended", call);
}

/* corral._check_blocking(name, level): whether the caller may block, as
** a blocking call checks it, for corral's Lua policies (errors at level). */
static int l_check_blocking(lua_State *L) {
  lcr_checkblocking_at(L, luaL_checkstring(L, 1),
                       (int)luaL_optinteger(L, 2, 1));
  return 0;
}

/* corral._check_cancel(): raises the running task's Cancelled if it is
** cancelled now, without giving up the CPU (a policy asking whether an
** error it caught was raised while its task was cancelled). Outside a
** task, nothing. */
lcr_Task *lcr_running_task(lua_State *L) {
  lcr_Engine *E = lcr_state(L)->eng;
  lcr_Task *t = E ? (lcr_Task *)E->e.current : NULL;
  return t != NULL && lcr_taskco(t) == L ? t : NULL;
}

void lcr_checkcancel_running(lua_State *L) {
  lcr_Task *t = lcr_running_task(L);
  if (t != NULL) lcr_checkcancel(L, t);
}

static int l_check_cancel(lua_State *L) {
  lcr_checkcancel_running(L);
  return 0;
}

/* corral._check_owed([ask]): at a policy's call that returned, raises the
** running task's Cancelled if its own cancel (t:cancel) is owed, as a
** cancellation point would have: the task ends cancelled either way, and
** the policy must not take the call's results for a return. With `ask`
** true it only says whether it is owed. */
static int l_check_owed(lua_State *L) {
  lcr_Task *t = lcr_running_task(L);
  int owed = t != NULL && cr_task_cancel_owed(&t->t);
  if (lua_toboolean(L, 1)) {
    lua_pushboolean(L, owed);
    return 1;
  }
  if (owed) lcr_checkcancel(L, t);
  return 0;
}

/* corral._cancelled(t): whether task t, alive in this run, would raise a
** Cancelled at its next cancellation point (a shield hides what is outside
** it; due deadlines fire first, as a read of cancel_called fires them). A
** policy asks it of its own task to tell a cancel that has not yet unwound
** it (the supervisor's sup:children()). A finished task, or one of a run
** that has ended: false. */
static int l_cancelled(lua_State *L) {
  lcr_Task *t = lcr_checktask(L, 1);
  lcr_checknargs(L, 1, NULL);
  lua_pushboolean(L, !t->t.finished
    && lcr_alive(lcr_state(L), lcr_taskengine(t), t->epoch)
    && cr_task_cancelled(&t->t) != NULL);
  return 1;
}

/* corral._call(fn, ...): fn(...)'s results, called from C so that fn sees
** the caller a task's function sees (task_main): error("x") gets no
** position of a policy's file, and a C function's bad argument its own
** name. A policy calls its branches through it, and a traceback ends at
** its outermost frame (lcr_traceback). */
static int call_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  return lua_gettop(L);
}

int lcr_call(lua_State *L) {
  luaL_checkany(L, 1);
  lua_callk(L, lua_gettop(L) - 1, LUA_MULTRET, 0, call_k);
  return call_k(L, LUA_OK, 0);
}

/* Seconds: a number >= 0 and not NaN. [-0, +0, v] */
double lcr_checkseconds(lua_State *L, int arg) {
  double s = luaL_checknumber(L, arg);
  if (!(s >= 0)) luaL_argerror(L, arg, "seconds must be >= 0 and not NaN");
  return s;
}

/* --- argument errors and options ---------------------------------------
**
** A C function called by the user reports a bad argument with
** luaL_argerror, which names the function as the caller wrote it. The
** Lua halves (lio.lua, lerror.lua) and the Lua modules call functions
** that are not what the user called, so they name the function
** themselves through lcr_argerror (exposed as corral.arg_error).
*/

/* Raise "where: <fmt...>", where = the position at `level` as error()
** counts them (a C helper adds none). [-0, +0, v] */
int lcr_error_at(lua_State *L, int level, const char *fmt, ...) {
  va_list ap;
  luaL_where(L, level);
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 2);
  return lua_error(L);
}

/* "where: bad argument #arg to 'fname' (msg)", where = the position at
** `level`, as error() counts levels; arg 0 is a method's self, as
** luaL_argerror says: "calling 'fname' on bad self (msg)". [-0, +0, v] */
int lcr_argerror(lua_State *L, int level, int arg, const char *fname,
                 const char *msg) {
  if (arg == 0)                          /* a method's self */
    return lcr_error_at(L, level, "calling '%s' on bad self (%s)", fname,
                        msg);
  return lcr_error_at(L, level, "bad argument #%d to '%s' (%s)", arg,
                      fname, msg);
}

/* The string at idx as C text, or NULL if it is no string or holds a NUL
** byte: compared with strcmp, "virtual\0x" would pass for "virtual". Every
** name a caller matches (option keys, modes, signal names) goes through
** it. [-0, +0, -] */
const char *lcr_tocname(lua_State *L, int idx) {
  size_t len;
  const char *s;
  if (lua_type(L, idx) != LUA_TSTRING) return NULL;
  s = lua_tolstring(L, idx, &len);
  return strlen(s) == len ? s : NULL;
}

/* 1 if the key on top is an option name: a string in `names`, an integer
** in 1..npos, or, when names is NULL, a key of the table at `set`. */
static int option_known(lua_State *L, const char *const names[], int npos,
                        int set) {
  int i;
  if (names == NULL) {
    lua_pushvalue(L, -1);
    i = lua_rawget(L, set) != LUA_TNIL;
    lua_pop(L, 1);
    return i;
  }
  if (lua_isinteger(L, -1))
    return lua_tointeger(L, -1) >= 1 && lua_tointeger(L, -1) <= npos;
  if (lcr_tocname(L, -1) == NULL) return 0;
  for (i = 0; names[i]; i++)
    if (strcmp(lua_tostring(L, -1), names[i]) == 0) return 1;
  return 0;
}

/*
** The complaint about the first key of the table at idx that is not an
** option: "unknown option 'timout'", "unknown option '[1]'" (a key that
** is not a string), each after `prefix` ("children[2]" makes
** 'children[2].restrt'). Pushes it and returns 1, or returns 0.
*/
static int unknown_option(lua_State *L, int idx, const char *const names[],
                          int npos, int set, const char *prefix) {
  const char *dot = *prefix ? "." : "", *k;
  int top;
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (option_known(L, names, npos, set)) continue;
    top = lua_gettop(L);                   /* the key */
    k = lcr_push_key(L, top);            /* a NUL, a newline: shown */
    if (lua_type(L, top) == LUA_TSTRING)
      lua_pushfstring(L, "%s%s%s", prefix, dot, k);
    else
      lua_pushfstring(L, "%s[%s]", prefix, k);
    lua_pushfstring(L, "unknown option '%s'", lua_tostring(L, -1));
    lua_replace(L, top);
    lua_settop(L, top);
    return 1;
  }
  return 0;
}

/*
** Raise "bad argument #arg to 'f' (unknown option 'k')" if the options
** table at arg (nil or none: no options) has a key that is neither one of
** `names` (NULL-terminated) nor an integer in 1..npos. [-0, +0, v]
*/
void lcr_checkopts(lua_State *L, int arg, int npos,
                   const char *const names[]) {
  if (lua_isnoneornil(L, arg)) return;
  luaL_checktype(L, arg, LUA_TTABLE);
  if (unknown_option(L, arg, names, npos, 0, ""))
    luaL_argerror(L, arg, lua_tostring(L, -1));
}

/* corral.check_options(t, names [, prefix]) -> nil or the complaint about
** the first key of t that is not a key of names. */
static int l_check_options(lua_State *L) {
  const char *prefix = luaL_optstring(L, 3, "");
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  if (!unknown_option(L, 1, NULL, 0, 2, prefix)) lua_pushnil(L);
  return 1;
}

/* corral.arg_error(arg, fname, msg [, level]): raise what luaL_argerror
** would for function fname, at `level` as error() counts (default 2: the
** caller of the function that calls arg_error). */
int lcr_arg_error(lua_State *L) {
  lua_Integer arg = luaL_checkinteger(L, 1);
  const char *fname = luaL_checkstring(L, 2);
  const char *msg = luaL_checkstring(L, 3);
  lua_Integer level = luaL_optinteger(L, 4, 2);
  /* (an int each, for luaL_argerror: not wrapped round to another) */
  luaL_argcheck(L, arg >= 0 && arg <= INT_MAX, 1,
                "argument number must be an integer in 0..2147483647");
  luaL_argcheck(L, level >= 0, 4, "level must be >= 0");
  return lcr_argerror(L, (int)(level > 1000 ? 1000 : level), (int)arg,
                      fname, msg);
}

/* The complaint of lcr_checknargs, pushed. [-0, +1, m] */
static const char *push_extra_arg(lua_State *L, const char *why) {
  return why == NULL ? lua_pushliteral(L, "no argument expected")
         : lua_pushfstring(L, "no argument expected: %s", why);
}

/* What lcr_checknargs raises: argument `arg` should not be there. */
int lcr_extra_arg(lua_State *L, int arg, const char *why) {
  return luaL_argerror(L, arg, push_extra_arg(L, why));
}

/* corral._no_more_args(n, why, ...): lcr_checknargs for a function written
** in Lua (function m(self, a, ...)): if anything came in `...`, raise for
** argument n (self = 1) of the caller, named and counted as
** corral._method_error does. why: the text to add, or true for a blocking
** call's LCR_NO_TIMEOUT. */
int lcr_no_more_args(lua_State *L) {
  const char *why;
  if (lua_gettop(L) <= 2) return 0;
  luaL_checkinteger(L, 1);
  why = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2)
        : lua_toboolean(L, 2) ? LCR_NO_TIMEOUT : NULL;
  push_extra_arg(L, why);
  lua_replace(L, 2);
  lua_settop(L, 2);             /* [n, complaint, level] */
  lua_pushinteger(L, 1);        /* the Lua function that called this */
  return lcr_method_error(L);
}

/* Whether the call at ar named its function as an expression of the
** caller (obj.f, f, t.f): a call with a dot, not a method call (obj:f), a
** metamethod, a hook or an iterator. */
static int dot_call(const lua_Debug *ar) {
  static const char *const kinds[] = {"global", "local", "field", "upvalue",
                                      "constant"};
  size_t i;
  if (ar->name == NULL || ar->namewhat == NULL) return 0;
  for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (strcmp(ar->namewhat, kinds[i]) == 0) return 1;
  return 0;
}

/* Push "mod.name" for the function at fidx if package.loaded[mod][name] is
** it (as Lua names a function called through pcall); 0 if none. [-0, +(0|1), m] */
static int push_loaded_name(lua_State *L, int fidx) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushnil(L);
  while (lua_next(L, -2)) {                  /* loaded, mod, module */
    if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TTABLE) {
      lua_pushnil(L);
      while (lua_next(L, -2)) {              /* ..., module, key, value */
        if (lua_type(L, -2) == LUA_TSTRING && lua_rawequal(L, -1, fidx)) {
          lua_pushfstring(L, "%s.%s", lua_tostring(L, -4), lua_tostring(L, -2));
          lua_replace(L, -6);                /* over the loaded table */
          lua_pop(L, 4);
          return 1;
        }
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return 0;
}

/*
** corral._method_error(arg, msg, level [, self [, fname]]): raise for argument arg
** (self = 1) of the Lua function `level` frames up (1 = the caller) what
** luaL_argerror says of a C function's: counted as the user called it (a
** method call does not count self, and a bad self reads "calling 'f' on
** bad self"), named as the call named it, or by package.loaded under
** pcall ('corral.Stream.read_line'); a bad `self` of a call with a dot
** gets the colon hint. The Lua halves of methods (lio.lua) use it. fname,
** if given, names a function that neither the call nor package.loaded
** names (an ErrorGroup method under pcall).
*/
int lcr_method_error(lua_State *L) {
  lua_Integer arg = luaL_checkinteger(L, 1);
  const char *msg = luaL_checkstring(L, 2);
  int level = (int)luaL_checkinteger(L, 3), self = lua_toboolean(L, 4);
  const char *name = "?";
  lua_Debug ar;
  int fidx;
  if (level < 1 || level > 1000 || !lua_getstack(L, level, &ar) ||
      !lua_getinfo(L, "nf", &ar))
    return luaL_error(L, "bad argument #%d (%s)", (int)arg, msg);
  fidx = lua_gettop(L);                      /* the function */
  if (ar.namewhat != NULL && strcmp(ar.namewhat, "method") == 0) {
    if (--arg == 0)
      return lcr_error_at(L, level + 1, "calling '%s' on bad self (%s)",
                          ar.name, msg);
  } else if (self && arg == 1 && dot_call(&ar)) {
    msg = lua_pushfstring(L, "%s; call a method with a colon: obj:%s(...)",
                          msg, ar.name);
  }
  if (ar.name != NULL) name = ar.name;
  else if (push_loaded_name(L, fidx))
    name = lua_tostring(L, -1);
  else if (lua_type(L, 5) == LUA_TSTRING)     /* the method's own name */
    name = lua_tostring(L, 5);
  return lcr_error_at(L, level + 1, "bad argument #%d to '%s' (%s)",
                      (int)arg, name, msg);
}

/*
** The anchors are pages of LCR_ANCHOR_PAGE slots, each made whole when its
** first pair is taken (anchor, ltask.c): setting a slot never allocates,
** and a task costs its two slots, not the slack of one table that doubles
** as it grows. Each page has a registry ref of its own, so a slot is one
** lookup away. Push the page that holds slot ref (a slot in use, or one
** freed since); returns ref's index in it. [-0, +1, -]
*/
int lcr_pushanchors(lua_State *L, lcr_Engine *E, int ref) {
  int page = E->anchor_pages[(ref - 1) / LCR_ANCHOR_PAGE];
  lua_rawgeti(L, LUA_REGISTRYINDEX, page);
  return (ref - 1) % LCR_ANCHOR_PAGE + 1;
}

/*
** Room for the ref of one more page: the array, doubled, replaces the one
** anchored at anchors_ref. Making it may run a step of the collector, and
** a finalizer that spawns tasks may add pages meanwhile: the array is
** filled from what is there once it exists, or dropped if outgrown.
** [-0, +0, m]
*/
void lcr_anchor_pages_reserve(lua_State *L, lcr_Engine *E) {
  while (E->npages >= E->pages_cap) {
    int cap = E->pages_cap ? 2 * E->pages_cap : 16, *v;
    if (E->pages_cap > INT_MAX / 4 / (int)sizeof *v)
      luaL_error(L, "too many tasks");
    v = lua_newuserdatauv(L, (size_t)cap * sizeof *v, 0);
    if (E->pages_cap >= cap) {         /* a finalizer grew it already */
      lua_pop(L, 1);
      continue;
    }
    if (E->npages) memcpy(v, E->anchor_pages, (size_t)E->npages * sizeof *v);
    if (E->anchors_ref == LUA_NOREF)   /* (raw sets run no collector step) */
      E->anchors_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    else
      lua_rawseti(L, LUA_REGISTRYINDEX, E->anchors_ref);
    E->anchor_pages = v;
    E->pages_cap = cap;
  }
}

/* The run's anchors go: each page's ref, and the array's. [-0, +0, -] */
static void release_anchors(lua_State *L, lcr_Engine *E) {
  int p;
  for (p = 0; p < E->npages; p++)
    luaL_unref(L, LUA_REGISTRYINDEX, E->anchor_pages[p]);
  luaL_unref(L, LUA_REGISTRYINDEX, E->anchors_ref);
  E->anchors_ref = LUA_NOREF;
  E->anchor_pages = NULL;
  E->npages = E->pages_cap = 0;
}

/* Push the userdata of a live task; nil if it is not anchored. [-0, +1, -] */
int lcr_pushtask(lua_State *L, lcr_Engine *E, cr_task_t *t) {
  lcr_Task *lt = (lcr_Task *)t;
  if (lt->ref <= 0 || E->anchor_pages == NULL) {    /* (the run is over) */
    lua_pushnil(L);
    return 0;
  }
  lua_rawgeti(L, -1, lcr_pushanchors(L, E, lt->ref));
  lua_remove(L, -2);
  return 1;
}

/*
** An explicit cancel (s:cancel, g:cancel, t:cancel) by the running task,
** with the reason at index `reason` (0 = none). A scope already cancelled
** or exited keeps its first record. [-0, +0, m]
*/
void lcr_cancel(lua_State *L, lcr_Engine *E, cr_scope_t *s, int reason) {
  cr_task_t *cur = E->e.current;
  if (!cr_scope_live(s)) return;
  if (s->cancel_called) {         /* the first record stays; the engine */
    cr_scope_cancel(s, CR_SRC_EXPLICIT, 0, NULL);   /* hears the call */
    return;
  }
  cr_scope_cancel(s, CR_SRC_EXPLICIT, cur ? cur->scope.id : 0,
                  lcr_record(L, E, reason, cur));
}

/* --- lcr_Churn (see lcorral.h) --- */

void lcr_churn_open(lua_State *L, lcr_Churn *c) {       /* [-0, +0, m] */
  lua_newtable(L);
  c->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  c->live = c->dead = 0;
}

/* The table again, with only the live keys, and room for as many more.
** [-0, +0, m] */
static void churn_rebuild(lua_State *L, lcr_Churn *c) {
  size_t room = 2 * c->live + 16;
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref);
  lua_createtable(L, 0, room < INT_MAX ? (int)room : INT_MAX);
  lua_pushnil(L);
  while (lua_next(L, -3)) {               /* [old, new, k, v] */
    if (lua_toboolean(L, -1)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, -4);
    } else {
      lua_pop(L, 1);
    }
  }
  lua_rawseti(L, LUA_REGISTRYINDEX, c->ref);   /* the slot exists */
  lua_pop(L, 1);
  c->dead = 0;
}

void lcr_churn_set(lua_State *L, lcr_Churn *c) {        /* [-2, +0, m] */
  if (c->dead > c->live + 64) churn_rebuild(L, c);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref);
  lua_pushvalue(L, -3);
  switch (lua_rawget(L, -2)) {
    case LUA_TNIL: c->live++; break;
    case LUA_TBOOLEAN: if (!lua_toboolean(L, -1)) { c->dead--; c->live++; }
                       break;
    default: break;                       /* replaced */
  }
  lua_pop(L, 1);
  lua_insert(L, -3);                      /* [t, key, value] */
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

void lcr_churn_remove(lua_State *L, lcr_Churn *c) {     /* [-1, +0, -] */
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref);
  lua_pushvalue(L, -2);
  if (lua_rawget(L, -2) != LUA_TNIL && lua_toboolean(L, -1)) {
    lua_pop(L, 1);
    lua_pushvalue(L, -2);
    lua_pushboolean(L, 0);                /* its node exists: no allocation */
    lua_rawset(L, -3);
    c->live--;
    c->dead++;
  } else {
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
}

int lcr_churn_get(lua_State *L, const lcr_Churn *c) {   /* [-1, +1, -] */
  int t;
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref);
  lua_insert(L, -2);
  t = lua_rawget(L, -2);
  if (t == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
    lua_pop(L, 1);
    lua_pushnil(L);
    t = LUA_TNIL;
  }
  lua_remove(L, -2);
  return t;
}

/*
** Keep the scope or group userdata at idx alive while it is entered, even
** if the coroutine whose stack holds it is closed from outside: the engine
** links it until it exits. [-0, +0, m]
*/
void lcr_pin(lua_State *L, lcr_Engine *E, int idx, int on) {
  idx = lua_absindex(L, idx);
  lua_pushlightuserdata(L, lua_touserdata(L, idx));   /* by its scope */
  if (on) {
    lua_pushvalue(L, idx);
    lcr_churn_set(L, &E->pinned);
  } else {
    lcr_churn_remove(L, &E->pinned);
  }
}

/* Push the userdata of an entered scope or group, by its scope (nil if
** it is not pinned). [-0, +1, -] */
int lcr_pushpinned(lua_State *L, lcr_Engine *E, cr_scope_t *s) {
  lua_pushlightuserdata(L, s);
  return lcr_churn_get(L, &E->pinned) != LUA_TNIL;
}

/*
** A task's coroutine belongs to the engine: a resume that does not come
** from the scheduler (coroutine.resume on a coroutine taken with
** coroutine.running(), even after its run has ended) must find the task
** parked as it was and yield straight back, so it can neither run the
** continuation under another task nor corrupt the scheduler. Every
** continuation given to lcr_yield therefore starts with LCR_ENGINE_ONLY,
** which asks the task of the coroutine (its extra space, see
** lcr_cothread_task) whether the scheduler is resuming it: a running
** coroutine cannot be resumed, so a resume while the flag is off is foreign.
*/
int lcr_engine_resumed(lua_State *L) {
  return lcr_cothread_task(L)->resuming;
}

/* A foreign resume: drop what it passed and park again, as we were. */
int lcr_reyield(lua_State *L, lua_KContext ctx, lua_KFunction k) {
  lua_settop(L, lcr_cothread_task(L)->top);
  return lua_yieldk(L, 0, ctx, k);
}

/* Push C function f with the module state as upvalue, from anywhere
** (an engine callback has no upvalues to borrow). [-0, +1, m] */
void lcr_pushfunction(lua_State *L, lcr_State *S, lua_CFunction f) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, S->self_ref);
  lua_pushcclosure(L, f, 1);
}

/* Give control back to the scheduler; `k` runs on wake-up and must start
** with LCR_ENGINE_ONLY(L, status, ctx, k). */
int lcr_yield(lua_State *L, lcr_Task *t, lua_KContext ctx, lua_KFunction k) {
  t->parked = 1;
  t->top = lua_gettop(L);
  return lua_yieldk(L, 0, ctx, k);
}

/* A schedule point: t goes to the back of the run queue, k goes on when it
** comes round. */
int lcr_reschedule(lua_State *L, lcr_Task *t, lua_KContext ctx,
                   lua_KFunction k) {
  cr_task_yield(&t->t);
  return lcr_yield(L, t, ctx, k);
}

/* Where a call that gave way goes on: its results (ctx: how many) are on
** top. It is over: a cancel or a close that came meanwhile came after it
** (a raise here would lose the bytes or the value it took); the next call
** meets them. */
static int gave_way_k(lua_State *L, int status, lua_KContext ctx) {
  LCR_ENGINE_ONLY(L, status, ctx, gave_way_k);
  return (int)ctx;
}

/*
** A blocking call that did not have to wait (a stream's buffered data, a
** free lock, a value in a channel) ends here; once the tasks that ran
** since the last poll have had their time (cr_engine_pass_over) it gives
** way before it returns: a schedule point after the call, as Trio's, so
** that a loop of them lets I/O, timers and the other tasks in. After the
** call, not before: it happened when it was made, and no Cancelled is
** raised there, which would lose what it took (a lock's acquire gives way
** before instead: see lsync.c). `replay`: the call is made the same way
** in a test's run (a channel, not a socket), so it never gives way where
** runs must replay, on the virtual clock or under a seed: a pass's length
** in real time must not change their order. Returns nres, the results on
** top.
*/
int lcr_done_now(lua_State *L, lcr_Task *t, int nres, int replay) {
  if (!lcr_time_is_up(L, t, replay)) return nres;
  cr_task_yield_done(&t->t);
  return lcr_yield(L, t, nres, gave_way_k);
}

/* Whether t, running L, should give way now (see lcr_done_now): the pass's
** time is up, L can yield (not in a sort's comparator, say), and, for a
** call that replays (`replay`), the run is on the real clock and unseeded
** (a seed of 0 too: tie_salt, never 0 when seeded, says so). */
int lcr_time_is_up(lua_State *L, lcr_Task *t, int replay) {
  cr_engine_t *e = &lcr_taskengine(t)->e;
  if (replay && (e->clock == CR_CLOCK_VIRTUAL || e->tie_salt != 0)) return 0;
  return cr_engine_pass_over(e) && lua_isyieldable(L);
}

/* type(v) as Lua's own: the embedded modules' `type`, which a program's
** replacement of the global (one answering __name, say) cannot change. */
int lcr_rawtype(lua_State *L) {
  luaL_checkany(L, 1);
  lua_pushstring(L, luaL_typename(L, 1));
  return 1;
}

/* cancel_point([name [, level]]): a cancellation point that never blocks
** (for calls that have nothing to wait for, and for corral's own Lua,
** whose helpers pass the level of their user's call for the errors). */
int lcr_cancel_point(lua_State *L) {
  const char *name = luaL_optstring(L, 1, "cancel_point");
  int level = (int)luaL_optinteger(L, 2, 1);
  lcr_checkcancel(L, lcr_checkblocking_at(L, name, level));
  return 0;
}

/* Cancelled from scope s, if there is one. [-0, +0, v] */
static void raise_cancelled(lua_State *L, lcr_Task *t, cr_scope_t *s) {
  if (s != NULL) {
    lcr_pushcancelled(L, lcr_taskengine(t), s);
    lua_error(L);
  }
}

/* Raise Cancelled if the task is inside a cancelled scope. [-0, +0, v] */
void lcr_checkcancel(lua_State *L, lcr_Task *t) {
  raise_cancelled(L, t, cr_task_cancelled(&t->t));
}

/* The same with the clock just read at `now`. [-0, +0, v] */
void lcr_checkcancel_at(lua_State *L, lcr_Task *t, double now) {
  raise_cancelled(L, t, cr_task_cancelled_at(&t->t, now));
}

/* The portable name of an error code, never a C enum name: "ECONNREFUSED",
** "EAI_NONAME", "ECLOSED" (not "CR_ECLOSED"). */
const char *lcr_errname(int err) {
  const char *name = cr_err_name(err);
  return strncmp(name, "CR_", 3) == 0 ? name + 3 : name;
}

/* Turn an engine error code into a Lua error. [-0, +0, v] */
int lcr_raise(lua_State *L, int err) {
  if (err == CR_ENOMEM) {
    lua_pushliteral(L, "not enough memory");
    return lua_error(L);
  }
  return luaL_error(L, "%s", cr_strerror(err));
}

/* Whether the value at idx is known by identity (a table, a userdata, a
** function, a coroutine): a string or a number equal to another is not
** that other one raised again. [-0, +0, -] */
int lcr_isobject(lua_State *L, int idx) {
  switch (lua_type(L, idx)) {
    case LUA_TTABLE: case LUA_TUSERDATA: case LUA_TFUNCTION: case LUA_TTHREAD:
      return 1;
    default:
      return 0;
  }
}

/* The length of s (at least n bytes long) cut to at most n bytes without
** splitting a UTF-8 sequence: its continuation bytes go with it. */
size_t lcr_utf8_cut(const char *s, size_t n) {
  size_t k = n;
  while (k > 0 && n - k < 4 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
  return n - k < 4 ? k : n;              /* (not UTF-8: cut where asked) */
}

/* Longer messages are cut in a traceback, to their first line's first
** TB_MSG_MAX bytes: a task keeps its last traceback until its next one,
** and the error itself keeps the whole text. [-1, +1, m] */
#define TB_MSG_MAX 1024

static void cut_message(lua_State *L) {
  size_t len, n;
  const char *s = lua_tolstring(L, -1, &len), *nl;
  if (s == NULL || len <= TB_MSG_MAX) return;
  nl = memchr(s, '\n', TB_MSG_MAX);
  n = nl != NULL ? (size_t)(nl - s) : lcr_utf8_cut(s, TB_MSG_MAX);
  lua_pushlstring(L, s, n);
  lua_pushfstring(L, "... (%I bytes)", (lua_Integer)len);
  lua_concat(L, 2);
  lua_remove(L, -2);
}

/*
** [err, task, S]: the task's traceback of err, kept with it (tb, tberr).
** A copy is converted, protected: the raw error stays as it was, and a
** __tostring that raises cannot replace it. An ErrorGroup is named by its
** first line only: rendering the whole tree at every level of a chain of
** nested groups would cost time and memory cubic in its depth.
*/
static int keep_traceback(lua_State *L) {
  lcr_State *S = lua_touserdata(L, 3);
  lua_settop(L, 2);
  if (lcr_is_error_group(L, S, 1)) {
    int n;
    lua_pushliteral(L, "tasks");
    lua_rawget(L, 1);                    /* raw: no metamethod here */
    n = lua_istable(L, -1) ? (int)lua_rawlen(L, -1) : 0;
    lua_pushfstring(L, "ErrorGroup: %d failure%s", n, n == 1 ? "" : "s");
    lua_remove(L, -2);
  } else {
    lcr_tostring(L, 1);
    cut_message(L);
  }
  /* level 2: the function that raised (1 is the message handler) */
  lcr_traceback(L, S, L, lua_tostring(L, -1), 2);
  lua_remove(L, -2);
  /* with the error itself, for lcr_msgh and a trace's text of the
  ** failure: an object weakly, any other value as it is, a string cut as a
  ** trace cuts it (a caught megabyte of text is not kept until the task
  ** ends) */
  lua_pushvalue(L, 1);
  lcr_cut_text(L);
  lcr_keep_traceback(L, 2);
  return 0;
}

/*
** Whether the error at 1 is the one the task at 2 kept (tberr), raised
** again: the same object; or a value (a string, kept cut) that a scope or
** a lock's or semaphore's `with` is passing on as it was, raised again by
** that function itself (the same text raised elsewhere is another error).
** [-0, +0, m]
*/
static int same_error(lua_State *L) {
  lua_Debug ar;
  if (!lcr_isobject(L, 1)) {
    int passed;
    if (!lua_getstack(L, 1, &ar) || !lua_getinfo(L, "f", &ar)) return 0;
    passed = lcr_scope_passes(lua_tocfunction(L, -1)) ||
             lcr_with_passes(lua_tocfunction(L, -1));
    lua_pop(L, 1);
    if (!passed) return 0;
  }
  return lcr_kept_is(L, 2, 1);
}

/* [task, err]: the failure's traceback (ftb) is the one just kept for err
** (nil if keeping it failed). [-0, +0, m] */
static int keep_failure_traceback(lua_State *L) {
  if (lcr_kept_is(L, 1, 2)) lcr_getextra(L, 1, "tb");
  else lua_pushnil(L);
  lcr_setextra(L, 1, "ftb");
  return 0;
}

/*
** Message handler of every pcall corral makes around user code: takes the
** traceback at the point of failure, before the stack unwinds, and keeps
** it beside the task. A Cancelled needs none (it is not a failure), and an
** error re-raised unchanged keeps its first traceback. The one around a
** task's body and its group's on_error (task_level) sees the error that
** ends the task: the traceback it keeps is the failure's (ftb), which
** errors caught later, while the failure unwinds (a <close> handler) or in
** on_error, do not replace. [-1, +1, m]
*/
static int msgh(lua_State *L, int task_level) {
  lcr_State *S = lcr_state(L);
  lcr_Engine *E = S->eng;
  if (E == NULL || E->e.current == NULL) return 1;
  /* A Cancelled that a cancelled scope around the task will absorb needs
  ** no traceback (the hot path of a cancel); a stale one, or one raised
  ** where nothing is cancelled, becomes the task's failure: it gets one. */
  if (lcr_iscancelled(L, S, 1) && lcr_unwinding(L, E, 1) == LCR_LIVE &&
      cr_task_cancelled_now(E->e.current) != NULL)
    return 1;
  if (!lcr_pushtask(L, E, E->e.current)) { lua_pop(L, 1); return 1; }
  lcr_unwind_note(L, 2, 1);
  if (task_level && lcr_isobject(L, 1)) {  /* on_error raising the failure */
    int again;                             /* it handles: its traceback stays */
    lcr_getextra(L, 2, "onerr");
    again = lua_rawequal(L, -1, 1);
    lua_pop(L, 1);
    if (again) {
      lua_settop(L, 1);
      return 1;
    }
  }
  /* the error kept is raised again unchanged: its first traceback stays;
  ** else one is taken, protected: memory that runs out while it is made
  ** leaves the task without one, and the error as it was */
  if (!same_error(L)) {
    lua_pushcfunction(L, keep_traceback);
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_pushlightuserdata(L, S);
    (void)lua_pcall(L, 3, 0, 0);
    lua_settop(L, 2);
  }
  if (task_level) {
    lua_pushcfunction(L, keep_failure_traceback);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 1);
    (void)lua_pcall(L, 2, 0, 0);
  }
  lua_settop(L, 1);
  return 1;
}

int lcr_msgh(lua_State *L) { return msgh(L, 0); }
int lcr_task_msgh(lua_State *L) { return msgh(L, 1); }

/*
** __index of every type: methods first, with one rawget (a method call is
** the hot path: ch:send, s:read), then the type's own __index for fields.
** Every name is a string: any other key finds nothing, as in a table.
** Upvalues: state, methods, the type's __index as a light C function.
*/
static int index_dispatch(lua_State *L) {
  lua_CFunction fields;
  lua_settop(L, 2);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) return 1;
  if (lua_type(L, 2) != LUA_TSTRING) return 0;   /* nil: on top */
  lua_pop(L, 1);
  fields = lua_tocfunction(L, lua_upvalueindex(3));
  return fields ? fields(L) : 0;
}

/* Remember the metatable of tname as hot type `which`. */
void lcr_register_mt(lua_State *L, const char *tname, int which,
                     size_t size) {
  lcr_State *S = lua_touserdata(L, -1);          /* [..., state] */
  luaL_getmetatable(L, tname);
  S->mt[which] = lua_topointer(L, -1);
  S->mt_size[which] = size;
  lua_pop(L, 1);
}

/*
** The userdata at idx if it is of type `which`, else NULL: its metatable,
** and its size, so that one given another type's metatable (with
** debug.setmetatable) is not read as that type. [-0, +0, -]
*/
void *lcr_testtype(lua_State *L, const lcr_State *S, int idx, int which) {
  void *p = lua_touserdata(L, idx);
  if (p != NULL && lua_getmetatable(L, idx)) {
    const void *mt = lua_topointer(L, -1);
    lua_pop(L, 1);
    if (mt == S->mt[which] && lua_rawlen(L, idx) == S->mt_size[which])
      return p;
  }
  return NULL;
}

/* luaL_testudata, checking the size too, for the types named by metatable
** name rather than by LCR_MT_* (scopes, I/O boxes). [-0, +0, -] */
void *lcr_testudata(lua_State *L, int idx, const char *tname, size_t size) {
  void *p = luaL_testudata(L, idx, tname);
  return p != NULL && lua_rawlen(L, idx) == size ? p : NULL;
}

/* The same, in a function of the module (its state is its upvalue). */
void *lcr_testself(lua_State *L, int idx, int which) {
  return lcr_testtype(L, lcr_state(L), idx, which);
}

/*
** The error for a bad self at idx (tname expected), as luaL_typeerror
** words it. A method called with a dot (g.spawn(fn)) gets a hint: the
** mistake is the dot, not the argument. [-0, +0, v]
*/
/* The name of the value at idx as luaL_typeerror says it: its metatable's
** __name (a string), else its type, or "no value". [-0, +1, -] */
const char *lcr_push_typename(lua_State *L, int idx) {
  if (luaL_getmetafield(L, idx, "__name") == LUA_TSTRING)
    return lua_tostring(L, -1);
  return lua_pushstring(L, lua_isnone(L, idx) ? "no value"
                                              : luaL_typename(L, idx));
}

/* Field key of the options table at idx: true or false (nil: false), or a
** bad-argument error saying what it got: a 0 or a "false" would read as
** true. [-0, +0, v] */
int lcr_optboolean(lua_State *L, int idx, const char *key) {
  int b, t = lua_getfield(L, idx, key);
  if (t != LUA_TNIL && t != LUA_TBOOLEAN)
    luaL_argerror(L, idx, lua_pushfstring(L, "%s must be a boolean, got %s",
                                          key, lcr_push_typename(L, -1)));
  b = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return b;
}

/* corral._typename(v): push_typename, for the Lua halves' messages. */
static int l_typename(lua_State *L) {
  lua_settop(L, 1);
  lcr_push_typename(L, 1);
  return 1;
}

/* corral._stderr(s): s straight to the process's stderr, for a line that
** io.stderr could not take (a sandbox without io, say). */
static int l_stderr(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  fwrite(s, 1, len, stderr);
  fflush(stderr);
  return 0;
}

/* "function expected, got X" for the value at idx, pushed; a callable
** table or userdata (luassert's assert.equal, a functable) is told to be
** wrapped: corral calls tasks' functions as coroutines' bodies, which a
** __call cannot be. [-0, +1, m] */
/* Replace the value on top with its __call; 0 (and it stays) if it has
** none. [-0, +0, -] */
static int next_call(lua_State *L) {
  if (luaL_getmetafield(L, -1, "__call") == LUA_TNIL) return 0;
  lua_remove(L, -2);
  return 1;
}

/* Whether Lua can call the value at idx through its __call: a function, or
** a value it can call in turn (Lua follows the chain as deep as its stack
** allows). The walk holds two values (Floyd's: one goes two steps for the
** other's one), so a cycle, which Lua cannot call either, ends it too.
** [-0, +0, -] */
int lcr_callable(lua_State *L, int idx) {
  int ok = 0, slow, i;
  if (!lua_checkstack(L, 4)) return 0;
  lua_pushvalue(L, idx);
  slow = lua_gettop(L);
  lua_pushvalue(L, idx);
  for (;;) {
    for (i = 0; i < 2; i++) {
      if (!next_call(L)) goto done;
      if (lua_type(L, -1) == LUA_TFUNCTION) {
        ok = 1;
        goto done;
      }
    }
    lua_pushvalue(L, slow);
    next_call(L);                        /* (the fast one passed it) */
    lua_replace(L, slow);
    if (lua_rawequal(L, slow, -1)) goto done;
  }
done:
  lua_settop(L, slow - 1);
  return ok;
}

/* What the value at idx is, for a complaint that a function was expected:
** its type name, or "a callable <type>; wrap it in a function". [-0, +1, m] */
static const char *push_not_function(lua_State *L, int idx) {
  const char *got;
  int can;
  idx = lua_absindex(L, idx);
  can = lcr_callable(L, idx);
  got = lcr_push_typename(L, idx);
  if (can) {
    got = lua_pushfstring(L, "a callable %s; wrap it in a function", got);
    lua_remove(L, -2);
  }
  return got;
}

/* "function expected, got X" for the value at idx; for an option (`what`
** not NULL), "<what> must be a function, got X", as an options table's
** complaints read. [-0, +1, m] */
const char *lcr_push_function_expected(lua_State *L, int idx,
                                       const char *what) {
  const char *got;
  idx = lua_absindex(L, idx);
  got = what ? lua_pushfstring(L, "%s must be a function, got %s", what,
                               push_not_function(L, idx))
             : lua_pushfstring(L, "function expected, got %s",
                               push_not_function(L, idx));
  lua_remove(L, -2);
  return got;
}

/* The value on top, option `name` of the options table at arg: a string
** that is not empty, or a number (which the caller turns into its
** string). [-0, +0, v] */
void lcr_checkname(lua_State *L, int arg) {
  int t = lua_type(L, -1);
  if (t != LUA_TSTRING && t != LUA_TNUMBER)
    luaL_argerror(L, arg, lua_pushfstring(L, "name must be a string or a "
                  "number, got %s", lcr_push_typename(L, -1)));
  if (t == LUA_TSTRING && lua_rawlen(L, -1) == 0)  /* it would print as "" */
    luaL_argerror(L, arg, "name is empty; leave it out for the default");
}

/* luaL_checktype(L, arg, LUA_TFUNCTION), saying so of a callable. */
void lcr_checkfunction(lua_State *L, int arg) {
  if (lua_type(L, arg) != LUA_TFUNCTION)
    luaL_argerror(L, arg, lcr_push_function_expected(L, arg, NULL));
}

/* corral._function_expected(v [, what]): that complaint, for the Lua
** halves; with what (an option's name), "<what> must be a function, got
** ...", as an options table's complaints read. */
static int l_function_expected(lua_State *L) {
  lua_settop(L, 2);
  lcr_push_function_expected(L, 1, luaL_optstring(L, 2, NULL));
  return 1;
}

/* 1 if got is one of the names in tname ("A" or "A or B"). */
static int names_type(const char *tname, const char *got) {
  size_t n = strlen(got);
  for (;;) {
    const char *sep = strstr(tname, " or ");
    size_t len = sep ? (size_t)(sep - tname) : strlen(tname);
    if (len == n && memcmp(tname, got, n) == 0) return 1;
    if (sep == NULL) return 0;
    tname = sep + 4;
  }
}

int lcr_selferror(lua_State *L, int idx, const char *tname) {
  lua_Debug ar;
  const char *got = lcr_push_typename(L, idx);
  /* the expected type's metatable on another value (debug.setmetatable):
  ** "expected corral.Lock, got corral.Lock" would say nothing (nor would
  ** "stream expected, got corral.Stream") */
  if (names_type(tname, got) || (strncmp(got, "corral.", 7) == 0 &&
                                  strcasecmp(got + 7, tname) == 0))
    got = lua_pushfstring(L, "a %s with the metatable of %s",
                          luaL_typename(L, idx), got);
  if (idx == 1 && lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) &&
      dot_call(&ar))
    return luaL_argerror(L, idx, lua_pushfstring(L, "%s expected, got %s; "
                         "call a method with a colon: obj:%s(...)", tname,
                         got, ar.name));
  return luaL_argerror(L, idx, lua_pushfstring(L, "%s expected, got %s",
                                               tname, got));
}

/* Like luaL_checkudata, with one pointer comparison. [-0, +0, v] */
void *lcr_checkself(lua_State *L, int idx, int which, const char *tname) {
  void *p = lcr_testself(L, idx, which);
  if (p == NULL) lcr_selferror(L, idx, tname);
  return p;
}

/*
** package.loaded[tname] = the methods table on top, unless that name is
** taken. Lua names a function it cannot name from the calling code (one
** called through pcall, a traceback's C frame) by searching
** package.loaded two levels deep: so pcall(g.spawn, g, 5) reports "bad
** argument #2 to 'corral.Group.spawn'", not "to '?'". [-0, +0, m]
*/
static void name_methods(lua_State *L, const char *tname) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_getfield(L, -1, tname) == LUA_TNIL) {
    lua_pushvalue(L, -3);
    lua_setfield(L, -3, tname);
  }
  lua_pop(L, 2);
}

/* The module loaded again after package.loaded was cleared: its types'
** method tables go back into package.loaded (name_methods), found as the
** registry's metatables named "corral.*" that have __methods. [-0, +0, m] */
static void rename_methods(lua_State *L) {
  lua_pushnil(L);
  while (lua_next(L, LUA_REGISTRYINDEX)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_istable(L, -1) &&
        strncmp(lua_tostring(L, -2), "corral.", 7) == 0) {
      if (lua_getfield(L, -1, "__methods") == LUA_TTABLE)
        name_methods(L, lua_tostring(L, -3));
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
}

/* Stack: [..., state]. Leaves it as it was. */
void lcr_register(lua_State *L, const char *tname, const luaL_Reg *methods,
                  const luaL_Reg *meta) {
  int state = lua_gettop(L);
  luaL_newmetatable(L, tname);
  lua_pushvalue(L, state);
  luaL_setfuncs(L, meta, 1);
  lua_newtable(L);                       /* methods */
  lua_pushvalue(L, state);
  luaL_setfuncs(L, methods, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__methods");
  name_methods(L, tname);
  if (lua_getfield(L, -2, "__index") == LUA_TFUNCTION && lua_iscfunction(L, -1)) {
    lua_CFunction fields = lua_tocfunction(L, -1);
    lua_pop(L, 1);
    lua_pushvalue(L, state);
    lua_insert(L, -2);                   /* [mt, state, methods] */
    lua_pushcfunction(L, fields);
    lua_pushcclosure(L, index_dispatch, 3);
  } else {
    lua_pop(L, 1);                       /* no fields: methods are __index */
  }
  lua_setfield(L, -2, "__index");
  lua_settop(L, state);
}

/* --- time ------------------------------------------------------------- */

static int checkpoint_k(lua_State *L, int status, lua_KContext ctx) {
  LCR_ENGINE_ONLY(L, status, ctx, checkpoint_k);
  (void)status; (void)ctx;
  lcr_checkcancel(L, lcr_cothread_task(L));
  return 0;
}

/*
** A schedule point, then a cancellation point, as Trio's checkpoint: the
** task goes to the back of the run queue even when it is cancelled, so a
** loop that swallows its Cancelled (or runs expired timeouts) still lets
** every other task run; the cancel is read when it runs again.
*/
static int checkpoint(lua_State *L, lcr_Task *t) {
  return lcr_reschedule(L, t, 0, checkpoint_k);
}

static int sleep_k(lua_State *L, int status, lua_KContext ctx);

/*
** The sleep until the deadline at ctx, with the clock read at `now`: a
** first call (sleep(0) is a checkpoint) or a wake-up. One clock reading
** serves the deadline, the comparison and the cancellation point.
*/
static int sleep_from(lua_State *L, lcr_Task *t, lua_KContext ctx,
                      double now, int woke) {
  double when = lua_tonumber(L, (int)ctx);
  int rc;
  if (when <= now) {
    if (!woke) return checkpoint(L, t);  /* sleep(0) */
    lcr_checkcancel_at(L, t, now);       /* woke late: the time has come */
    return 0;
  }
  lcr_checkcancel_at(L, t, now);
  rc = cr_task_sleep(&t->t, when);
  if (rc) return lcr_raise(L, rc);
  return lcr_yield(L, t, ctx, sleep_k);
}

/* On the task's coroutine: the engine resumed it. */
static int sleep_k(lua_State *L, int status, lua_KContext ctx) {
  LCR_ENGINE_ONLY(L, status, ctx, sleep_k);
  lcr_Task *t = lcr_cothread_task(L);
  if (status == LUA_YIELD && t->t.wake_status == 0) return 0;
  return sleep_from(L, t, ctx, cr_now(&lcr_taskengine(t)->e),
                    status == LUA_YIELD);
}

static int l_sleep(lua_State *L) {
  double s = lcr_checkseconds(L, 1), now;
  lcr_Task *t;
  lcr_checknargs(L, 1, NULL);
  t = lcr_checkblocking(L, "corral.sleep");
  lua_settop(L, 0);
  now = cr_now(&lcr_taskengine(t)->e);
  lua_pushnumber(L, now + s);
  return sleep_from(L, t, 1, now, 0);
}

static int l_sleep_until(lua_State *L) {
  double when = luaL_checknumber(L, 1);
  lcr_Task *t;
  if (when != when) luaL_argerror(L, 1, "time must not be NaN");
  lcr_checknargs(L, 1, NULL);
  t = lcr_checkblocking(L, "corral.sleep_until");
  return sleep_from(L, t, 1, cr_now(&lcr_taskengine(t)->e), 0);
}

static int l_checkpoint(lua_State *L) {
  lcr_checknargs(L, 0, NULL);
  return checkpoint(L, lcr_checkblocking(L, "corral.checkpoint"));
}

static int l_now(lua_State *L) {
  lcr_Engine *E;
  lcr_checknargs(L, 0, NULL);
  E = lcr_engine(L, "corral.now");
  lua_pushnumber(L, cr_now(&E->e));
  return 1;
}

static void engine_stats(lua_State *L, lcr_Engine *E, cr_stats_t *st,
                         size_t *refs, size_t *records);

/* Into the table on top: the open handles by kind (streams, listeners,
** processes) of the running engine and those closed but not freed yet
** (closing), or 0 outside a run. */
static void push_io_counts(lua_State *L, lcr_Engine *E) {
  static const char *const names[] = {"streams", "listeners", "processes"};
  static const int types[] = {CR_IO_STREAM, CR_IO_LISTENER, CR_IO_PROCESS};
  int i;
  for (i = 0; i < 3; i++) {
    lua_pushinteger(L, E ? (lua_Integer)cr_io_open(&E->e, types[i]) : 0);
    lua_setfield(L, -2, names[i]);
  }
  lua_pushinteger(L, E ? (lua_Integer)cr_io_closing(&E->e) : 0);
  lua_setfield(L, -2, "closing");
}

/*
** corral.debug_stats() -> {tasks, scopes, timers, handles, refs, records}:
** what the running engine has alive, or, outside a run, what the last run
** left behind when it closed (all zero unless something leaked). Besides:
** pooled coroutines, the I/O handles by kind, reach_steps, the scopes
** the trace's "does this cancel reach that task" walks visited in this run,
** and traceback_steps, the stack frames tracebacks walked in this run
** (statistics, so that a spec can bound the work without timing
** it).
*/
static int l_debug_stats(lua_State *L) {
  lcr_State *S = lcr_state(L);
  cr_stats_t st = S->last;
  size_t refs = S->last_refs, records = S->last_records;
  lcr_checknargs(L, 0, NULL);
  if (S->eng) engine_stats(L, S->eng, &st, &refs, &records);
  lua_createtable(L, 0, 11);
  lua_pushinteger(L, (lua_Integer)st.tasks);
  lua_setfield(L, -2, "tasks");
  lua_pushinteger(L, (lua_Integer)st.scopes);
  lua_setfield(L, -2, "scopes");
  lua_pushinteger(L, (lua_Integer)st.timers);
  lua_setfield(L, -2, "timers");
  lua_pushinteger(L, (lua_Integer)st.handles);
  lua_setfield(L, -2, "handles");
  lua_pushinteger(L, (lua_Integer)refs);
  lua_setfield(L, -2, "refs");
  lua_pushinteger(L, (lua_Integer)records);
  lua_setfield(L, -2, "records");
  lua_pushinteger(L, S->eng ? lcr_pool_count(L, S->eng) : 0);
  lua_setfield(L, -2, "pooled");
  lua_pushinteger(L, S->eng ? (lua_Integer)S->eng->e.reach_steps : 0);
  lua_setfield(L, -2, "reach_steps");
  lua_pushinteger(L, S->eng ? (lua_Integer)S->eng->frame_steps : 0);
  lua_setfield(L, -2, "traceback_steps");
  push_io_counts(L, S->eng);
  return 1;
}

static int l_current_task(lua_State *L) {
  lcr_Engine *E;
  lcr_checknargs(L, 0, NULL);
  E = lcr_engine(L, "corral.current_task");
  if (E->e.current == NULL || !lcr_pushtask(L, E, E->e.current))
    lua_pushnil(L);
  return 1;
}

/* --- run -------------------------------------------------------------- */

static const char *stop_signal_name(int signum) {
  return signum == SIGINT ? "SIGINT" : "SIGTERM";
}

/* The engine cancels the root on SIGINT/SIGTERM: the reason, recorded. */

/* [E, signum, &reason]: the stuck tree, if it was, and the record. */
static int root_reason_k(lua_State *L) {
  lcr_Engine *E = lua_touserdata(L, 1);
  void **reason = lua_touserdata(L, 3);
  if (cr_engine_stuck(&E->e) && lcr_pushtree_safe(L, E))
    lua_rawsetp(L, LUA_REGISTRYINDEX, &stuck_key);
  lua_pushstring(L, stop_signal_name((int)lua_tointeger(L, 2)));
  *reason = lcr_record(L, E, -1, NULL);
  return 0;
}

/*
** The root policy's reason for a stop signal. It is asked from inside
** libuv's signal dispatch, which an error must not jump out of (libuv
** would never count the signal as handled, and closing its watcher would
** spin for ever): with memory too short for the record, the cancel goes
** without a reason.
*/
static void *root_signal_cb(cr_engine_t *e, int signum) {
  lcr_Engine *E = (lcr_Engine *)e;
  lua_State *L = E->L;
  void *reason = NULL;
  if (!lua_checkstack(L, 4)) return NULL;
  lua_pushcfunction(L, root_reason_k);
  lua_pushlightuserdata(L, E);
  lua_pushinteger(L, signum);
  lua_pushlightuserdata(L, &reason);
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) lua_pop(L, 1);
  return reason;
}

/* corral._getglobal(name), corral._setglobal(name, v): the command's
** access to the globals lua itself makes from C (arg, -l's require and
** global), which a strict-mode metatable allows, as it allows lua's. */
static int l_getglobal(lua_State *L) {
  lua_getglobal(L, luaL_checkstring(L, 1));
  return 1;
}

static int l_setglobal(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  lua_settop(L, 2);
  lua_setglobal(L, name);
  return 0;
}

/* corral._kill_children(): SIGKILL the child processes the running run
** started and has not reaped (internal: the command about to die of
** SIGPIPE, or to leave by os.exit, leaves none running, as a third Ctrl-C
** does). */
static int l_kill_children(lua_State *L) {
  lcr_State *S = lcr_state(L);
  if (S->eng != NULL) cr_engine_kill_children(&S->eng->e);
  return 0;
}

/* corral._stuck_tree() -> the tree when the last run's stop signal found
** every task blocked for good (a deadlock held open for Ctrl-C), or nil. */
static int l_stuck_tree(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &stuck_key);
  return 1;
}

/*
** Raise the Cancelled of the signal that reached the root, even if the
** root swallowed it: the run was interrupted. [-0, +1, m]
*/
static int raise_root_signal(lua_State *L, lcr_Engine *E) {
  lcr_Task *root = E->root;
  if (root->outcome == CR_TASK_CANCELLED &&
      root->t.scope.cancel.source == CR_SRC_SIGNAL)
    return lua_error(L);                   /* its own Cancelled */
  lcr_pushbarecancelled(L, E->S, "signal", stop_signal_name(E->e.root_signal));
  return lua_error(L);
}

/* Run the scheduler until the root task finished. [-0, +0, e] */
static int run_loop(lua_State *L) {
  lcr_Engine *E = lua_touserdata(L, 1);
  lcr_Task *root = lua_touserdata(L, 2);
  while (!root->t.finished) {
    int rc = cr_engine_step(&E->e, 1);
    lcr_intr_check(E);                   /* lua's Ctrl-C (lbusy.c) */
    if (rc == CR_EDEADLOCK) {
      if (E->deadlocked) break;
      /* Nothing can ever wake these tasks: unwind them so that every
      ** cleanup runs, then run reports the deadlock. */
      E->deadlocked = 1;
      if (lcr_pushtree_safe(L, E)) lua_setiuservalue(L, 1, 1);
      lua_pushliteral(L, "deadlock: every task is blocked and nothing can "
                         "wake them");
      cr_scope_cancel(&root->t.scope, CR_SRC_DEADLOCK, 0,
                      lcr_record(L, E, -1, NULL));
      lua_pop(L, 1);
    } else if (rc < 0) {
      return lcr_raise(L, rc);
    }
  }
  /* A stop signal that came in the root's last stretch (computing, or in a
  ** C call, with no turn of the loop since) is delivered now: run raises
  ** it, as for one that reached the root on its way, rather than end a
  ** SIGTERM'd process as a success. */
  if (E->e.sigroot != NULL) uv_run(E->e.loop, UV_RUN_NOWAIT);
  lcr_intr_check(E);
  return 0;
}

static void catch_sigpipe(void);

/* Entries of the table at idx that hold a value of type `type`. */
static size_t count_entries(lua_State *L, int idx, int type) {
  size_t n = 0;
  if (!lua_istable(L, idx)) return 0;      /* a run that never started */
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    n += lua_type(L, -1) == type;
    lua_pop(L, 1);
  }
  return n;
}

/* [-0, +0, -] what a run has alive: tasks, scopes, timers, handles, and
** the Lua references the binding holds for it. */
static void engine_stats(lua_State *L, lcr_Engine *E, cr_stats_t *st,
                         size_t *refs, size_t *records) {
  *st = E->e.stats;
  *refs = E->nrefs;
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->records_ref);
  *records = count_entries(L, -1, LUA_TTABLE);
  lua_pop(L, 1);
}

/*
** Set up E (memory of the caller's: a userdata for corral.run, the host's
** own for the host API) on `loop`, or on a loop of its own when NULL. On
** an error code nothing is left to tear down; a Lua error (memory) leaves
** E open for lcr_engine_teardown. [-0, +0, m]
*/
int lcr_engine_open(lua_State *L, lcr_State *S, lcr_Engine *E,
                    uv_loop_t *loop, cr_clock_t clock) {
  int rc, reuse;
  memset(E, 0, sizeof *E);
  E->anchors_ref = E->records_ref = LUA_NOREF;
  E->live.ref = E->pinned.ref = LUA_NOREF;      /* (live: the rest 0) */
  E->pool_ref = E->lastc_ref = LUA_NOREF;
  rc = cr_engine_init(&E->e, loop, clock);
  if (rc) return rc;
  E->open = 1;
  catch_sigpipe();
  E->S = S;
  E->L = L;
  E->epoch = ++S->epoch;
  E->e.release = lcr_release;
  E->e.run = lcr_task_run;
  lcr_anchor_pages_reserve(L, E);
  lua_newtable(L);
  E->records_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lcr_churn_open(L, &E->pinned);
  lua_pushboolean(L, 0);                 /* a slot, not LUA_REFNIL */
  E->lastc_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_getfield(L, LUA_REGISTRYINDEX, LCR_REUSE_KEY);
  reuse = lua_isnil(L, -1) ? S->reuse_safe : lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (reuse) {
    lua_createtable(L, LCR_POOL_MAX, 0); /* sized: giving back never allocates */
    lua_createtable(L, 0, 1);            /* weak: see pool_give in ltask.c */
    lua_pushliteral(L, "v");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    E->pool_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    E->pool_max = LCR_POOL_MAX;
  }
  return 0;
}

/* Close everything the engine owns, even after a broken run. */
void lcr_engine_teardown(lua_State *L, lcr_Engine *E) {
  int rc;
  if (!E->open) return;
  E->open = 0;
  lcr_intr_remove(E);
  /* Release callbacks run on this thread from now on: the one that
  ** called run may be gone (a __gc). */
  E->L = L;
  lcr_debug_finish(L, E);               /* writes the trace, if any */
  /* Arrivals while the trace was written are delivered too (run then
  ** raises them), or closing the watchers would drop them; until then the
  ** run's own handler counts them (the third kills, as ever). */
  if (E->e.sigroot != NULL) uv_run(E->e.loop, UV_RUN_NOWAIT);
  lcr_busy_remove(E);
  rc = cr_engine_close(&E->e);
  engine_stats(L, E, &E->S->last, &E->S->last_refs, &E->S->last_records);
  if (rc == CR_EBUSY) {
    /* Tasks were abandoned (a second deadlock, or an error escaped the
    ** scheduler): the engine unlinks them from everything that outlives
    ** the run (events, locks, channels), then closes. Their memory
    ** belongs to Lua's GC. */
    cr_engine_abandon(&E->e);
    cr_engine_close(&E->e);
  }
  if (E->anchors_ref != LUA_NOREF) lcr_release_tasks(L, E);
  release_anchors(L, E);
  luaL_unref(L, LUA_REGISTRYINDEX, E->records_ref);
  lcr_ptrset_close(L, &E->live);
  luaL_unref(L, LUA_REGISTRYINDEX, E->pinned.ref);
  luaL_unref(L, LUA_REGISTRYINDEX, E->lastc_ref);
  E->lastc_handle = NULL;
  E->lastc = NULL;
  luaL_unref(L, LUA_REGISTRYINDEX, E->pool_ref);
  E->npool = 0;
  if (E->S->eng == E) E->S->eng = NULL;
}

static int engine__gc(lua_State *L) {
  lcr_Engine *E = luaL_checkudata(L, 1, LCR_ENGINE);
  luaL_argcheck(L, lua_rawlen(L, 1) == sizeof *E, 1, "not a corral engine");
  lcr_engine_teardown(L, E);
  lcr_trace_report(E);
  return 0;
}

/*
** A write to a socket or pipe whose reader has gone must fail with EPIPE,
** not kill the process, as in Node and most event loops: process-wide,
** once, and only if nobody installed a handler. A handler that does
** nothing does that as SIG_IGN
** would, and unlike SIG_IGN it is not inherited: a program started by
** io.popen or os.execute gets the default SIGPIPE, as under lua. The
** handler is code of this library, which is linked -z nodelete: lua_close
** unloading corral.so leaves it mapped (else a later EPIPE, say exit()
** flushing stdout into a closed pipe, would jump into unmapped memory).
*/
static void sigpipe_caught(int signum) { (void)signum; }

static void catch_sigpipe(void) {
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
    sa.sa_handler = sigpipe_caught;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGPIPE, &sa, NULL);
  }
}

/*
** The testing options of run (§10): `seed`, an integer, and
** `autojump_threshold`, seconds >= 0 under the virtual clock only.
** Checked before anything is allocated; applied by apply_test_opts.
*/
typedef struct { int seeded; lua_Integer seed; double autojump; } test_opts;

static void check_test_opts(lua_State *L, int clock, test_opts *o) {
  memset(o, 0, sizeof *o);
  if (lua_isnoneornil(L, 2)) return;
  if (lua_getfield(L, 2, "seed") != LUA_TNIL) {
    int isnum;                         /* 7.0 is 7, as limit takes it */
    o->seed = lua_tointegerx(L, -1, &isnum);
    if (!isnum || lua_type(L, -1) != LUA_TNUMBER)      /* not "7" */
      luaL_argerror(L, 2, "seed must be an integer");
    o->seeded = 1;
  }
  if (lua_getfield(L, 2, "autojump_threshold") != LUA_TNIL) {
    /* math.huge would never jump: a sleeping run would wait for ever */
    if (lua_type(L, -1) != LUA_TNUMBER || !(lua_tonumber(L, -1) >= 0) ||
        lua_tonumber(L, -1) == HUGE_VAL)
      luaL_argerror(L, 2, "autojump_threshold must be a finite number >= 0");
    if (!clock)
      luaL_argerror(L, 2, "autojump_threshold needs clock = \"virtual\"");
    o->autojump = lua_tonumber(L, -1);
  }
  lua_pop(L, 2);
}

static void apply_test_opts(cr_engine_t *e, const test_opts *o) {
  if (o->seeded) cr_engine_seed(e, (uint64_t)o->seed);
  if (o->autojump > 0) cr_engine_set_autojump(e, o->autojump);
}

/* A run that succeeded but did not write the trace it was asked for
** raises why (as the command's status is 1 then); else its nres results. */
static int trace_or_results(lua_State *L, lcr_Engine *E, int nres) {
  if (E->trace_err[0] == '\0') return nres;
  lua_pushfstring(L, "corral.run: the trace was not written: %s",
                  E->trace_err);
  E->trace_err[0] = '\0';               /* told: not again at its __gc */
  return lua_error(L);
}

/* Push msg followed by the tree kept in the engine (at 3). */
static void push_report(lua_State *L, const char *msg) {
  if (lua_getiuservalue(L, 3, 1) != LUA_TSTRING) {
    lua_pop(L, 1);
    lua_pushliteral(L, "(the tree could not be captured)\n");
  }
  lua_pushstring(L, msg);
  lua_insert(L, -2);
  lua_concat(L, 2);
}

/* Raise msg followed by the tree kept in the engine (at 3), and by the
** text at index `then` if that is one (0: none). */
static int deadlock_error(lua_State *L, const char *msg, int then) {
  int more = then > 0 && lua_type(L, then) == LUA_TSTRING;
  push_report(L, msg);
  if (more) {
    lua_pushvalue(L, then);
    lua_concat(L, 2);
  }
  return lua_error(L);
}

/* A deadlock that not even the cancel broke: the tasks still blocked (the
** tree kept in the engine at 3), then those when it was found (the tree
** at 5, if it was captured), which show what the cancel could not. */
static int unbreakable_error(lua_State *L) {
  int found = lua_type(L, 5) == LUA_TSTRING;
  if (found && lua_getiuservalue(L, 3, 1) == LUA_TSTRING &&
      lua_rawequal(L, -1, 5))
    found = 0;                    /* the same tree: nothing was unwound */
  lua_pop(L, 1);
  if (!found) lua_settop(L, 4);
  if (found) {
    lua_pushstring(L, lcr_found_tree_msg);
    lua_insert(L, 5);
    lua_concat(L, 2);
  }
  return deadlock_error(L, "corral.run: deadlock: every task is blocked "
                           "and nothing can wake them (even after "
                           "cancelling); still blocked:\n", 5);
}

#define DEADLOCK_BROKEN "corral.run: deadlock: every task was blocked and " \
  "nothing could wake them (they were cancelled)"

/* The deadlock that the cancel broke: its report, the tree when it was
** found. A root that failed as the tasks unwound (a cleanup that raised;
** its error at the top) makes it an ErrorGroup of that one failure headed
** by the report: neither hides the other, and the error can still be
** caught and looked into. */
static int deadlock_unwound(lua_State *L, lcr_Engine *E, lcr_Task *root) {
  size_t len;
  if (root->outcome != CR_TASK_FAILED)
    return deadlock_error(L, DEADLOCK_BROKEN ". The tasks when it was "
                             "found:\n", 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->S->errors_ref);
  lua_getfield(L, -1, "new");
  lua_createtable(L, 1, 0);                         /* errors: {err} */
  lua_pushvalue(L, -4);
  lua_rawseti(L, -2, 1);
  lua_createtable(L, 1, 0);                         /* tasks: {name} */
  lcr_pushtaskname(L, root);
  lua_rawseti(L, -2, 1);
  lua_pushnil(L);
  push_report(L, DEADLOCK_BROKEN ", and the root failed as they unwound. "
                 "The tasks when it was found:\n");
  lua_tolstring(L, -1, &len);                       /* (no last newline) */
  if (len > 0) {
    lua_pushlstring(L, lua_tostring(L, -1), len - 1);
    lua_replace(L, -2);
  }
  lua_call(L, 4, 1);
  return lua_error(L);
}

/* corral._own_sources(set) -> the set (short_src -> true) of corral's own
** Lua modules, for the tree's `where`: set, or the one kept already. */
static int l_own_sources(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  /* a second _util.lua (package.loaded cleared) adds to the same set */
  if (lua_getfield(L, LUA_REGISTRYINDEX, LCR_OWN_SOURCES) == LUA_TTABLE)
    return 1;
  lua_pop(L, 1);
  lua_pushvalue(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, LCR_OWN_SOURCES);
  return 1;
}

/* corral._key(k): k as "cannot set field" messages show a key (escaped,
** never raising): for corral's Lua-written objects (testing's streams). */
static int l_key(lua_State *L) {
  luaL_checkany(L, 1);
  lcr_push_key(L, 1);
  return 1;
}

/* corral.run's options (also corral._run_options, for corral.testing). */
static const char *const run_opts[] = {"clock", "signals", "trace",
  "trace_limit", "seed", "autojump_threshold", "debug_signal", NULL};

/* corral.run's options, checked before anything is opened. */
typedef struct {
  int clock, signals;
  test_opts test;
  lcr_DebugOpts debug;
} run_opts_t;

static void check_run_opts(lua_State *L, run_opts_t *o) {
  static const char *const clocks[] = {"real", "virtual", NULL};
  o->clock = o->signals = 0;
  lcr_checkfunction(L, 1);
  lcr_checkopts(L, 2, 0, run_opts);
  lcr_checknargs(L, 2, NULL);
  if (!lua_isnoneornil(L, 2)) {
    lua_getfield(L, 2, "clock");
    if (!lua_isnil(L, -1)) {
      const char *c = lcr_tocname(L, -1);
      int i;
      for (i = 0; clocks[i] && (!c || strcmp(c, clocks[i])); i++) {}
      if (!clocks[i])
        luaL_argerror(L, 2, "clock must be \"real\" or \"virtual\"");
      o->clock = i;
    }
    o->signals = lcr_optboolean(L, 2, "signals");
    lua_pop(L, 1);
  }
  check_test_opts(L, o->clock, &o->test);
  lcr_debug_opts(L, 2, &o->debug);
}

/* [fn, opts] -> [fn, opts, E, root]: the run's engine, with its root task
** started (S->eng set), or an error raised with everything let go. */
static lcr_Engine *open_run(lua_State *L, lcr_State *S, run_opts_t *o) {
  lcr_Engine *E;
  lcr_Task *root;
  int rc;
  lua_settop(L, 2);
  /* uservalue 1: the tree when a deadlock was found */
  E = lua_newuserdatauv(L, sizeof *E, 1);                 /* 3: engine */
  memset(E, 0, sizeof *E);
  E->anchors_ref = E->records_ref = LUA_NOREF;
  E->live.ref = E->pinned.ref = LUA_NOREF;      /* (live: the rest 0) */
  E->pool_ref = E->lastc_ref = LUA_NOREF;
  luaL_setmetatable(L, LCR_ENGINE);
  cr_alloc_refill();        /* the guard's reserve, if the process holds it */
  rc = lcr_engine_open(L, S, E, NULL,
                       o->clock ? CR_CLOCK_VIRTUAL : CR_CLOCK_REAL);
  if (rc) lcr_raise(L, rc);
  apply_test_opts(&E->e, &o->test);
  if (lcr_debug_start(L, E, 2, &o->debug)) {              /* a bad path */
    lcr_engine_teardown(L, E);
    lua_error(L);
  }
  lua_settop(L, 3);
  root = lcr_newtask(L, E, 1, 0);                         /* 4: root */
  E->root = root;
  /* Nothing above may leave the module thinking a run is going on: an
  ** error there (out of memory) leaves E to its __gc. */
  S->eng = E;
  cr_task_start_root(&root->t);
  if (o->signals && (rc = cr_signal_root(&E->e, &root->t, root_signal_cb))) {
    lcr_engine_teardown(L, E);
    lcr_raise(L, rc);
  }
  if (!o->signals) lcr_intr_install(E, L, root_signal_cb);   /* Ctrl-C */
  lcr_busy_install(E, o->signals);   /* a busy task hears them (debug's) */
  return E;
}

/* [fn, opts, E, root]: the run is over and its loop has stopped with the
** root blocked: the deadlock's error, with the tree when it was found. */
static int run_stuck(lua_State *L, lcr_Engine *E) {
  lua_getiuservalue(L, 3, 1);               /* 5: the tree when found */
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &stuck_key) == LUA_TSTRING)
    lua_replace(L, 5);                /* a stop signal's, found earlier */
  else
    lua_pop(L, 1);
  if (lcr_pushtree_safe(L, E)) lua_setiuservalue(L, 3, 1);
  lcr_engine_teardown(L, E);
  lcr_trace_report(E);
  return unbreakable_error(L);
}

static int l_run(lua_State *L) {
  lcr_State *S = lcr_state(L);
  lcr_Engine *E;
  lcr_Task *root;
  int nres;
  run_opts_t o;
  lua_pushnil(L);                        /* the last run's stuck tree goes */
  lua_rawsetp(L, LUA_REGISTRYINDEX, &stuck_key);      /* (never allocates) */
  check_run_opts(L, &o);
  if (S->eng != NULL && S->eng->hosted && S->eng->e.current == NULL)
    return luaL_error(L, "corral.run: this state's corral belongs to a C "
                         "host, which starts root tasks itself "
                         "(corral_host_start)");
  if (S->eng != NULL)
    return luaL_error(L, "corral.run: cannot be called inside a running "
                         "task (spawn a task or open a group instead)");
  E = open_run(L, S, &o);
  root = E->root;
  lua_pushcfunction(L, run_loop);
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 4);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {                  /* 5: error */
    lcr_engine_teardown(L, E);
    lcr_trace_report(E);
    return lua_error(L);
  }
  if (!root->t.finished) return run_stuck(L, E);
  lcr_engine_teardown(L, E);
  nres = lcr_pushresults(L, 4, root);
  if (root->outcome == CR_TASK_DONE && !E->e.root_signal && !E->deadlocked)
    return trace_or_results(L, E, nres);
  lcr_trace_report(E);             /* the run's own error is raised */
  if (E->e.root_signal && root->outcome != CR_TASK_FAILED)
    return raise_root_signal(L, E);
  if (E->deadlocked) return deadlock_unwound(L, E, root);
  if (root->outcome == CR_TASK_DONE) return nres;
  return lua_error(L);       /* the root's error, or its Cancelled */
}

/* --- coroutine.resume and coroutine.close ---------------------------------
**
** A task's coroutine belongs to the engine. require "corral" wraps the
** two functions of the coroutine library that could take it from the
** engine, so that doing so raises an error naming the mistake, and
** coroutine.running, to know which coroutines it may reuse. (A copy of the
** originals taken before require still cannot corrupt anything: a foreign
** resume finds a parked task as it was and yields straight back
** (LCR_ENGINE_ONLY) or, on a task that has not started, raises in
** start_guard; a foreign close takes the task out of its wait at once and
** fails it (task__close in ltask.c).)
*/

/* 1 if co is the coroutine of a live corral task (parked, or not started
** yet; a finished task's coroutine is dead and empty). */
static int is_task_coroutine(lcr_State *S, lua_State *co) {
  return lcr_cotask(co, S->mt[LCR_MT_TASK]) != NULL;
}

/* coroutine.close refuses a running or a normal coroutine: told here, as
** for a bad argument, so that the message has the caller's position. */
static void check_closable(lua_State *L, lua_State *co) {
  lua_Debug ar;
  if (co == L)
    luaL_error(L, "cannot close a running coroutine");
  if (lua_status(co) == LUA_OK && lua_getstack(co, 0, &ar))
    luaL_error(L, "cannot close a normal coroutine");
}

/* Upvalues: state, the original function, its name, its verb, and whether
** it is close. */
static int coroutine_guard(lua_State *L) {
  lcr_State *S = lcr_state(L);
  lua_State *co = lua_tothread(L, 1);
  /* A bad argument is told here, from the frame the caller called, so the
  ** message names the call as written and where (the original, called
  ** from C below, would be named '?'). */
  if (co == NULL) luaL_typeerror(L, 1, "thread");
  if (is_task_coroutine(S, co))
    return luaL_error(L, "%s: this coroutine belongs to a corral task; "
                      "only corral may %s it (cancel the task with "
                      "t:cancel(), hand it values with a channel or event)",
                      lua_tostring(L, lua_upvalueindex(3)),
                      lua_tostring(L, lua_upvalueindex(4)));
  if (lua_toboolean(L, lua_upvalueindex(5))) check_closable(L, co);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/*
** coroutine.running(), as the original, but a task whose coroutine it hands
** out is marked exposed: its coroutine is never reused for another task
** (see pool_give in ltask.c), so the identity the caller keeps stays that
** task's. Upvalue: state.
*/
static int coroutine_running(lua_State *L) {
  lcr_Engine *E = lcr_state(L)->eng;
  lcr_Task *t = E ? (lcr_Task *)E->e.current : NULL;
  if (t != NULL && lcr_taskco(t) == L) t->exposed = 1;
  lua_pushboolean(L, lua_pushthread(L));
  return 2;
}

/*
** A wrapper on top of the stack that an earlier require installed, and that
** failed before it finished (memory): its state upvalue becomes this
** state, the one the module now uses. [-0, +0, -]
*/
static void ours_now(lua_State *L, int state) {
  lua_pushvalue(L, state);
  if (lua_setupvalue(L, -2, 1) == NULL) lua_pop(L, 1);
}

/* Values (and stack frames) the search for copies of coroutine.running may
** look at before it gives up and leaves the pool off: a few milliseconds. */
#define SCAN_BUDGET 200000

/*
** The original coroutine.running, from a fresh coroutine library (the
** global one may have been replaced already). [-0, +0, m]
*/
static lua_CFunction original_running(lua_State *L) {
  lua_CFunction f;
  luaopen_coroutine(L);
  lua_getfield(L, -1, "running");
  f = lua_tocfunction(L, -1);
  lua_pop(L, 2);
  return f;
}

/*
** coroutine.running becomes coroutine_running (unless it already is).
** Then, if no copy of the original is left anywhere the state can reach,
** the coroutines of ended tasks may be reused (S->reuse_safe): a copy
** would hand out a coroutine without marking its task exposed.
*/
static void wrap_running(lua_State *L, int state) {
  lcr_State *S = lua_touserdata(L, state);
  if (lua_getfield(L, -1, "running") != LUA_TFUNCTION) {
    lua_pop(L, 1);                     /* none: cannot tell, pool stays off */
    return;
  }
  if (lua_tocfunction(L, -1) == coroutine_running) {
    ours_now(L, state);                /* a require that failed half way */
    lua_pop(L, 1);
  } else {
    lua_pop(L, 1);                     /* (a copy on the stack is a copy) */
    lua_pushvalue(L, state);
    lua_pushcclosure(L, coroutine_running, 1);
    lua_setfield(L, -2, "running");
  }
  /* A host (the corral command) that has decided already needs no search;
  ** unsetting its key later leaves the pool off. */
  if (lua_getfield(L, LUA_REGISTRYINDEX, LCR_REUSE_KEY) == LUA_TNIL)
    S->reuse_safe = !lcr_reaches_cfunction(L, original_running(L),
                                           SCAN_BUDGET);
  lua_pop(L, 1);
}

/*
** coroutine.yield, as the original, except on the current task's own
** coroutine: that yield would reach the scheduler, so it raises there and
** then, where it was called (a pcall around it catches it, as any error).
** A generator's yield inside a task goes to the original. Upvalues: state,
** the original.
*/
static int yield_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  return lua_gettop(L);                /* what the resume handed back */
}

static int coroutine_yield(lua_State *L) {
  lcr_Engine *E = lcr_state(L)->eng;
  lcr_Task *t = E ? (lcr_Task *)E->e.current : NULL;
  if (t != NULL && lcr_taskco(t) == L) return lcr_raise_bare_yield(L);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_insert(L, 1);
  lua_callk(L, lua_gettop(L) - 1, LUA_MULTRET, 0, yield_k);
  return yield_k(L, LUA_OK, 0);
}

/* coroutine.yield becomes coroutine_yield (unless it already is). A copy
** of the original taken before require still yields to the scheduler,
** which fails the task at its next instruction (note_bare_yield, ltask.c). */
static void wrap_yield(lua_State *L, int state) {
  if (lua_getfield(L, -1, "yield") != LUA_TFUNCTION) {
    lua_pop(L, 1);
    return;
  }
  if (lua_tocfunction(L, -1) == coroutine_yield) {
    ours_now(L, state);                /* a require that failed half way */
    lua_pop(L, 1);
    return;
  }
  lua_pushvalue(L, state);
  lua_insert(L, -2);                   /* [co, state, original] */
  lua_pushcclosure(L, coroutine_yield, 2);
  lua_setfield(L, -2, "yield");
}

static void guard_coroutine_lib(lua_State *L, int state) {
  static const char *const names[2][2] = {{"resume", "resume"},
                                          {"close", "close"}};
  int i;
  if (lua_getglobal(L, "coroutine") != LUA_TTABLE) {
    lua_pop(L, 1);
    return;
  }
  for (i = 0; i < 2; i++) {
    if (lua_getfield(L, -1, names[i][0]) != LUA_TFUNCTION ||
        lua_tocfunction(L, -1) == coroutine_guard) {
      if (lua_tocfunction(L, -1) == coroutine_guard) ours_now(L, state);
      lua_pop(L, 1);                 /* absent, or already ours */
      continue;
    }
    lua_pushvalue(L, state);
    lua_insert(L, -2);               /* [co, state, original] */
    lua_pushfstring(L, "coroutine.%s", names[i][0]);
    lua_pushstring(L, names[i][1]);
    lua_pushboolean(L, i == 1);                    /* close */
    lua_pushcclosure(L, coroutine_guard, 5);
    lua_setfield(L, -2, names[i][0]);
  }
  wrap_yield(L, state);
  wrap_running(L, state);
  lua_pop(L, 1);
}

/* The set {name = true} of corral.run's options. [-0, +1, m] */
static void push_run_options(lua_State *L) {
  int i;
  lua_newtable(L);
  for (i = 0; run_opts[i]; i++) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, run_opts[i]);
  }
}

/* --- module ----------------------------------------------------------- */

static const luaL_Reg corral_funcs[] = {
  {"run", l_run},
  {"sleep", l_sleep},
  {"sleep_until", l_sleep_until},
  {"checkpoint", l_checkpoint},
  {"now", l_now},
  {"current_task", l_current_task},
  {"debug_stats", l_debug_stats},
  {"check_options", l_check_options},
  {"arg_error", lcr_arg_error},
  {"_method_error", lcr_method_error},     /* internal: lio.lua, testing */
  {"_no_more_args", lcr_no_more_args},     /* internal: Lua methods */
  {"_own_sources", l_own_sources},         /* internal: _util.lua */
  {"_key", l_key},                         /* internal: testing.lua */
  {"_typename", l_typename},             /* internal: lio.lua, testing */
  {"_stderr", l_stderr},                 /* internal: lio.lua's say */
  {"_function_expected", l_function_expected},  /* internal: policies */
  {"_trace_flush", lcr_trace_flush},     /* internal: the command's os.exit */
  {"_trace_failed", lcr_trace_failed},   /* internal: the command's status */
  {"_stuck_tree", l_stuck_tree},         /* internal: the command's Ctrl-C */
  {"_kill_children", l_kill_children},   /* internal: the command's SIGPIPE */
  {"_getglobal", l_getglobal},           /* internal: the command */
  {"_setglobal", l_setglobal},           /* internal: the command */
  {"_check_blocking", l_check_blocking}, /* internal: the Lua policies */
  {"_check_cancel", l_check_cancel},     /* internal: the Lua policies */
  {"_cancelled", l_cancelled},           /* internal: the supervisor */
  {"_check_owed", l_check_owed},         /* internal: the Lua policies */
  {"_call", lcr_call},                   /* internal: the Lua policies */
  {NULL, NULL}
};

static const luaL_Reg engine_meta[] = {
  {"__gc", engine__gc},
  {NULL, NULL}
};

static int state__gc(lua_State *L) {
  lcr_State *S = lua_touserdata(L, 1);
  S->eng = NULL;
  return 0;
}

/* S->progname: registry[CORRAL_PROGNAME] if a string, kept by a reference
** of our own (the program may change the field later), so that the line it
** prefixes, written where nothing may allocate, has the whole name (a
** copy into a fixed buffer cut a path such as argv[0]). [-0, +0, m] */
static void keep_progname(lua_State *L, lcr_State *S) {
  S->progname = "";
  if (lua_getfield(L, LUA_REGISTRYINDEX, CORRAL_PROGNAME) != LUA_TSTRING) {
    lua_pop(L, 1);
    return;
  }
  S->progname = lua_tostring(L, -1);  /* Lua never moves a string */
  luaL_ref(L, LUA_REGISTRYINDEX);     /* held as long as the state is */
}

/* Registry field of the module table: one corral per Lua state. A string,
** not an address: a second copy of corral's code in the process (corral.so
** required in a state a host made with libcorral) must find it too. */
#define MODULE_KEY "corral:module"

/*
** The module. Loaded again in the same Lua state (package.loaded.corral
** set to nil, a test runner's reload, or corral.so found on the path in a
** host's state), it is the same table with the same state: a second state
** would take over the shared metatables, and every object of the first
** would call into a state that has no run.
*/
LUAMOD_API int luaopen_corral(lua_State *L) {
  lcr_State *S;
  if (lua_getfield(L, LUA_REGISTRYINDEX, MODULE_KEY) == LUA_TTABLE) {
    rename_methods(L);
    return 1;
  }
  lua_pop(L, 1);
  S = lua_newuserdatauv(L, sizeof *S, 0);                 /* state */
  memset(S, 0, sizeof *S);
  S->self = S;
  S->errors_ref = S->cancelled_mt_ref = LUA_NOREF;
  lua_newtable(L);
  lua_pushcfunction(L, state__gc);
  lua_setfield(L, -2, "__gc");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  S->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);   /* keeps it alive */
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &lcr_state_key); /* for the host API */
  keep_progname(L, S);

  luaL_newmetatable(L, LCR_ENGINE);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, engine_meta, 1);
  /* getmetatable(engine).__gc(engine) would tear a running engine down:
  ** the engine and the module state are corral's alone */
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);
  lcr_open_errors(L, S);
  /* lerror.lua words "function expected, got a callable table; wrap it in
  ** a function" with this file's helper, given to it here (its core, made
  ** in lerror.c, has no such function). */
  lua_rawgeti(L, LUA_REGISTRYINDEX, S->errors_ref);
  lua_pushcfunction(L, l_function_expected);
  lua_setfield(L, -2, "function_expected");
  lua_pop(L, 1);
  lcr_open_task(L);
  lcr_open_group(L);
  lcr_open_scope(L);
  lcr_open_sync(L);
  lcr_open_io(L);
  lcr_open_trace(L);
  lua_newtable(L);                                         /* module */
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, corral_funcs, 1);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, lcr_error_funcs, 1);
  lcr_export_errors(L, S);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, lcr_group_funcs, 1);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, lcr_scope_funcs, 1);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, lcr_sync_funcs, 1);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, lcr_io_funcs, 1);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, lcr_tree_funcs, 1);
  lcr_open_io_lua(L, lua_absindex(L, -2), lua_absindex(L, -1));
  guard_coroutine_lib(L, lua_absindex(L, -2));
  lcr_open_testing(L);
  lcr_busy_guard_debug(L);   /* a busy task's own hooks: lbusy.c */
  lua_pushliteral(L, CR_VERSION);
  lua_setfield(L, -2, "_VERSION");
  push_run_options(L);
  lua_setfield(L, -2, "_run_options");     /* internal: corral.testing */
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, MODULE_KEY);
  return 1;
}
