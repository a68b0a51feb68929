/*
** lerror.c -- Cancelled, Timeout and ErrorGroup values.
**
** The values are plain tables with metatables, so fields read naturally
** (e.reason, e.errors). The mechanism that builds them on hot paths is C;
** the ergonomics (split, flatten, the rendered tree, corral.error_group)
** are bindings/lerror.lua, compiled in as lerror_lua.h so the module
** needs nothing but its .so.
*/
#include <string.h>
#include "lcorral.h"
#include "lerror_lua.h"

/* Run lerror.lua with its core {arg_error} and keep what it returns. */
void lcr_open_errors(lua_State *L, lcr_State *S) {
  if (luaL_loadbuffer(L, lerror_lua, lerror_lua_len, "=corral.errors")
      != LUA_OK)
    lua_error(L);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, lcr_arg_error);
  lua_setfield(L, -2, "arg_error");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "ErrorGroup");
  S->error_group_mt = lua_topointer(L, -1);  /* kept alive by errors_ref */
  lua_pop(L, 1);
  lua_getfield(L, -1, "Cancelled");
  S->cancelled_mt = lua_topointer(L, -1);
  S->cancelled_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  S->errors_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Stack: [..., module]. The Lua functions of lerror.lua that are the
** module's own: corral.error_group. */
void lcr_export_errors(lua_State *L, lcr_State *S) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, S->errors_ref);
  lua_getfield(L, -1, "new");
  lua_setfield(L, -3, "error_group");
  /* corral._describe: tostring that never raises, for corral's own Lua
  ** (lio.lua, the command, the policies) that reports errors; internal,
  ** like corral._testing */
  lua_getfield(L, -1, "describe");
  lua_setfield(L, -3, "_describe");
  lua_pop(L, 1);
}

/*
** A Cancelled that belongs to no live scope (so none absorbs it): {source,
** reason} with the Cancelled metatable, for a signal that ended a run, a
** task abandoned at a deadlock, or a scope whose record could not be made.
** reason may be NULL. [-0, +1, m]
*/
void lcr_pushbarecancelled(lua_State *L, lcr_State *S, const char *source,
                           const char *reason) {
  lua_createtable(L, 0, 2);
  lua_pushstring(L, source);
  lua_setfield(L, -2, "source");
  if (reason) {
    lua_pushstring(L, reason);
    lua_setfield(L, -2, "reason");
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, S->cancelled_mt_ref);
  lua_setmetatable(L, -2);
}

static void pushstateerrors(lua_State *L, lcr_State *S) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, S->errors_ref);
}

static void pusherrors(lua_State *L) {
  lcr_State *S = lcr_state(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, S->errors_ref);
}

/* --- cancel records --------------------------------------------------
**
** The engine keeps each cancelled scope's record: source, origin task and
** a reason handle this file supplies. A handle is a reference into the
** run's records table to {reason, origin name, Cancelled}; the engine
** gives it back (lcr_release) when the scope exits. The Cancelled a scope
** makes tasks raise is built once, kept in its record, and mapped to its
** scope in the run's live table while the scope lives: that mapping is the
** Cancelled's identity. Once the scope has exited, or the run has ended,
** a Cancelled is no longer live and no scope absorbs it.
*/

/* A new record: the reason at index `reason` (0 = none) and the name of
** task `origin` (NULL = none). [-0, +0, m] */
void *lcr_record(lua_State *L, lcr_Engine *E, int reason, cr_task_t *origin) {
  int ref;
  if (reason) reason = lua_isnoneornil(L, reason) ? 0 : lua_absindex(L, reason);
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->records_ref);
  lua_createtable(L, 3, 0);
  if (reason) {
    lua_pushvalue(L, reason);
    lua_rawseti(L, -2, 1);
  }
  if (origin && lcr_pushtask(L, E, origin)) {
    lcr_pushtaskname(L, lua_touserdata(L, -1));
    lua_rawseti(L, -3, 2);
  }
  if (origin) lua_pop(L, 1);
  ref = luaL_ref(L, -2);
  lua_pop(L, 1);
  return (void *)(intptr_t)ref;
}

/* The engine's release callback: the scope exited; its Cancelled dies. */
void lcr_release(cr_engine_t *e, void *handle) {
  lcr_Engine *E = (lcr_Engine *)e;
  lua_State *L = E->L;
  int top = lua_gettop(L), ref = (int)(intptr_t)handle;
  if (!lua_checkstack(L, 4)) return;     /* keep the ref: a harmless leak */
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->records_ref);
  if (lua_rawgeti(L, -1, ref) == LUA_TTABLE &&
      lua_rawgeti(L, -1, 3) == LUA_TTABLE) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, E->live_ref);
    lua_pushvalue(L, -2);
    lua_pushnil(L);
    lua_rawset(L, -3);
  }
  luaL_unref(L, top + 1, ref);
  lua_settop(L, top);
}

/* Copy reason and origin of record `from` into record `to`. */
static void copyrecord(lua_State *L, lcr_Engine *E, void *from, void *to) {
  int i;
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->records_ref);
  lua_rawgeti(L, -1, (int)(intptr_t)from);
  lua_rawgeti(L, -2, (int)(intptr_t)to);
  if (lua_istable(L, -1) && lua_istable(L, -2))
    for (i = 1; i <= 2; i++) {
      lua_rawgeti(L, -2, i);
      lua_rawseti(L, -2, i);
    }
  lua_pop(L, 3);
}

/* Build the Cancelled of record `rec` (at -1) for scope s. [-0, +1, m] */
static void newcancelled(lua_State *L, lcr_Engine *E, cr_scope_t *s) {
  lua_createtable(L, 0, 3);
  lua_pushstring(L, cr_source_name(s->cancel.source));
  lua_setfield(L, -2, "source");
  lua_rawgeti(L, -2, 1);
  lua_setfield(L, -2, "reason");
  lua_rawgeti(L, -2, 2);
  lua_setfield(L, -2, "origin");
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->S->cancelled_mt_ref);
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, 3);                       /* rec[3] = e */
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->live_ref);
  lua_pushvalue(L, -2);
  lua_pushlightuserdata(L, s);
  lua_rawset(L, -3);                           /* live[e] = s */
  lua_pop(L, 1);
}

/*
** Push the Cancelled that scope `s` makes a task raise: every task that
** s's cancel stops gets the same value (cancelling 100,000 tasks makes one
** table). A cancel with no record yet (a deadline's) gets one. [-0, +1, m]
*/
void lcr_pushcancelled(lua_State *L, lcr_Engine *E, cr_scope_t *s) {
  if (s->cancel.reason == NULL) {
    void *h = lcr_record(L, E, 0, NULL);
    const cr_scope_t *like = cr_scope_record(s);
    if (like != s && like->cancel.reason)
      copyrecord(L, E, like->cancel.reason, h);
    cr_scope_set_reason(s, h);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->records_ref);    /* [records] */
  if (s->cancel.reason == NULL) {
    lua_pushnil(L);                                      /* [records, nil] */
  } else {
    lua_rawgeti(L, -1, (int)(intptr_t)s->cancel.reason); /* [records, rec] */
  }
  if (!lua_istable(L, -1)) {
    /* No record (set_reason refused): an unidentified Cancelled, which
    ** no scope absorbs; nothing maps it to s. */
    lua_pop(L, 2);
    lcr_pushbarecancelled(L, E->S, cr_source_name(s->cancel.source), NULL);
    return;
  }
  if (lua_rawgeti(L, -1, 3) != LUA_TTABLE) {            /* [records, rec, e] */
    lua_pop(L, 1);
    newcancelled(L, E, s);
  }
  lua_replace(L, -3);
  lua_pop(L, 1);
}

/* What lcr_deadcancel says of a Cancelled whose scope has gone. */
const char lcr_dead_msg[] =
  "a Cancelled was raised outside the scope it cancelled (that scope has "
  "exited, or belongs to another run): it is an ordinary error here";

/* 1 if the value at idx is a table whose metatable is mt (raw: no
** metamethod runs). [-0, +0, -] */
static int has_mt(lua_State *L, int idx, const void *mt) {
  const void *got;
  if (!lua_istable(L, idx) || !lua_getmetatable(L, idx)) return 0;
  got = lua_topointer(L, -1);
  lua_pop(L, 1);
  return got == mt;
}

/* 1 if the value at idx is an ErrorGroup. */
int lcr_is_error_group(lua_State *L, lcr_State *S, int idx) {
  return has_mt(L, idx, S->error_group_mt);
}

int lcr_iscancelled(lua_State *L, int idx) {
  return has_mt(L, idx, lcr_state(L)->cancelled_mt);
}

/*
** LCR_PLAIN if the error at idx is not a Cancelled; LCR_LIVE if it is the
** Cancelled of a scope still entered in this run; LCR_DEAD otherwise (its
** scope exited, another run's, or a forgery). Reads nothing through
** metamethods, so it never raises. [-0, +0, -]
*/
int lcr_unwinding(lua_State *L, lcr_Engine *E, int idx) {
  int live;
  if (!lcr_iscancelled(L, idx)) return LCR_PLAIN;
  idx = lua_absindex(L, idx);
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->live_ref);
  lua_pushvalue(L, idx);
  live = lua_rawget(L, -2) == LUA_TLIGHTUSERDATA;
  lua_pop(L, 2);
  return live ? LCR_LIVE : LCR_DEAD;
}

static int tostring_p(lua_State *L) {
  luaL_tolstring(L, 1, NULL);
  return 1;
}

/* tostring(v at idx) that never raises but for memory. [-0, +1, m] */
void lcr_tostring(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_pushcfunction(L, tostring_p);
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_isstring(L, -1)) {
    lua_pop(L, 1);
    lua_pushfstring(L, "(a %s value whose __tostring failed)",
                    luaL_typename(L, idx));
  }
}

/* Replace a Cancelled that no scope may absorb with a plain error saying
** why. [-0, +0, m] */
void lcr_deadcancel(lua_State *L, int idx, const char *why) {
  idx = lua_absindex(L, idx);
  lcr_tostring(L, idx);
  lua_pushfstring(L, "%s (%s)", why, lua_tostring(L, -1));
  lua_replace(L, idx);
  lua_pop(L, 1);
}

void lcr_pushtimeout(lua_State *L, double seconds) {
  pusherrors(L);
  lua_getfield(L, -1, "timeout");
  lua_remove(L, -2);
  lua_pushnumber(L, seconds);
  lua_call(L, 1, 1);
}

/* A fresh failure list {errors, tasks, tracebacks}. [-0, +1, m] */
void lcr_errors_new(lua_State *L) {
  lua_createtable(L, 0, 3);
  lua_newtable(L);
  lua_setfield(L, -2, "errors");
  lua_newtable(L);
  lua_setfield(L, -2, "tasks");
  lua_newtable(L);
  lua_setfield(L, -2, "tracebacks");
}

/* 1 if the value at idx is an errors list (lcr_errors_new): a group's
** user value, which debug.setuservalue may have replaced. [-0, +0, -] */
int lcr_errors_ok(lua_State *L, int idx) {
  static const char *const keys[3] = {"errors", "tasks", "tracebacks"};
  int i, ok = lua_type(L, idx) == LUA_TTABLE;
  idx = lua_absindex(L, idx);
  for (i = 0; ok && i < 3; i++) {
    ok = lua_getfield(L, idx, keys[i]) == LUA_TTABLE;
    lua_pop(L, 1);
  }
  return ok;
}

/* Append a failure to the list at errors_idx. [-0, +0, m] */
void lcr_errors_add(lua_State *L, int errors_idx, int err_idx, int name_idx,
                    int tb_idx) {
  static const char *const keys[3] = {"errors", "tasks", "tracebacks"};
  int idx[3], i;
  lua_Integer n;
  errors_idx = lua_absindex(L, errors_idx);
  idx[0] = lua_absindex(L, err_idx);
  idx[1] = lua_absindex(L, name_idx);
  idx[2] = lua_absindex(L, tb_idx);
  /* counted by names: an error value may be nil, a name never is */
  lua_getfield(L, errors_idx, "tasks");
  n = (lua_Integer)lua_rawlen(L, -1) + 1;
  lua_pop(L, 1);
  for (i = 0; i < 3; i++) {
    lua_getfield(L, errors_idx, keys[i]);
    lua_pushvalue(L, idx[i]);
    if (i == 2 && lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_pushliteral(L, "");
    }
    lua_rawseti(L, -2, n);
    lua_pop(L, 1);
  }
}

/*
** The ErrorGroup of group g from its errors list at errors_idx. A failure
** the engine counted but that could not be listed (memory, or a debug hook
** raising while it was recorded) counts as not kept, beside those beyond
** max_errors; so does every failure when there is no list at all.
*/
void lcr_pusherrorgroup(lua_State *L, lcr_State *S, int errors_idx,
                        const cr_group_t *g) {
  lua_Integer listed = 0;
  size_t lost;
  errors_idx = lua_absindex(L, errors_idx);
  if (!lcr_errors_ok(L, errors_idx)) {
    lcr_errors_new(L);
    lua_replace(L, errors_idx);
  }
  if (lua_getfield(L, errors_idx, "tasks") == LUA_TTABLE)
    listed = (lua_Integer)lua_rawlen(L, -1);
  lua_pop(L, 1);
  lost = g->nerrors > (size_t)listed ? g->nerrors - (size_t)listed : 0;
  pushstateerrors(L, S);
  lua_getfield(L, -1, "from_list");
  lua_remove(L, -2);
  lua_pushvalue(L, errors_idx);
  lua_pushinteger(L, (lua_Integer)(g->dropped + lost));
  lua_call(L, 2, 1);
}

static int l_is_cancelled(lua_State *L) {
  lua_pushboolean(L, lcr_iscancelled(L, 1));
  return 1;
}

static int call_errors(lua_State *L, const char *fname) {
  pusherrors(L);
  lua_getfield(L, -1, fname);
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  return 1;
}

static int l_is_timeout(lua_State *L) { return call_errors(L, "is_timeout"); }
static int l_is_error_group(lua_State *L) {
  return call_errors(L, "is_error_group");
}

const luaL_Reg lcr_error_funcs[] = {
  {"is_cancelled", l_is_cancelled},
  {"is_timeout", l_is_timeout},
  {"is_error_group", l_is_error_group},
  {NULL, NULL}
};
