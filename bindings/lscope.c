/*
** lscope.c -- cancel scopes from Lua: corral.scope and the timeouts
** move_on_after, fail_after, move_on_at, fail_at.
*/
#include <math.h>
#include <string.h>
#include "lcorral.h"

enum { KIND_SCOPE = 0, KIND_MOVE_ON, KIND_FAIL };

typedef struct lcr_Scope {
  cr_scope_t s;           /* first member */
  lcr_Engine *E;
  unsigned epoch;
  int kind;
  double seconds;         /* for the Timeout message */
} lcr_Scope;

/*
** Read timeout/deadline/shield from the options table at idx (may be
** none). timeout and deadline together: the earlier wins. [-0, +0, v]
*/
void lcr_scopeopts(lua_State *L, int idx, double now, double *deadline,
                   int *shield) {
  *deadline = INFINITY;
  *shield = 0;
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  if (lua_getfield(L, idx, "timeout") != LUA_TNIL) {
    double s = lua_tonumber(L, -1);      /* a number, not a numeral */
    if (lua_type(L, -1) != LUA_TNUMBER)
      luaL_argerror(L, idx, lua_pushfstring(L, "timeout must be a number of "
                    "seconds, got %s", lcr_push_typename(L, -1)));
    if (!(s >= 0))
      luaL_argerror(L, idx, "timeout must be a number of seconds >= 0 and "
                            "not NaN");
    *deadline = now + s;
  }
  if (lua_getfield(L, idx, "deadline") != LUA_TNIL) {
    double d = lua_tonumber(L, -1);
    if (lua_type(L, -1) != LUA_TNUMBER)
      luaL_argerror(L, idx, lua_pushfstring(L, "deadline must be a number, "
                    "got %s", lcr_push_typename(L, -1)));
    if (d != d)
      luaL_argerror(L, idx, "deadline must be a number and not NaN");
    if (d < *deadline) *deadline = d;
  }
  *shield = lcr_optboolean(L, idx, "shield");
  if (lua_getfield(L, idx, "name") > LUA_TNIL) lcr_checkname(L, idx);
  lua_pop(L, 3);
}

/* Create a scope userdata (closed until entered). [-0, +1, m] */
static lcr_Scope *newscope(lua_State *L, lcr_Engine *E, int kind) {
  lcr_Scope *S = lua_newuserdatauv(L, sizeof *S, 1);
  memset(S, 0, sizeof *S);
  S->E = E;
  S->epoch = E->epoch;
  S->kind = kind;
  luaL_setmetatable(L, LCR_SCOPE);
  return S;
}

/*
** Layout while the body runs: [1 scope][2 msgh][3 fn][args...]; results
** come back from index 3. On an error, the engine decides at the exit
** whether this scope catches a live Cancelled or passes it on, and to
** which scope (Trio's rule: decided now, not when it was raised).
*/
static int scope_k(lua_State *L, int status, lua_KContext ctx) {
  lcr_Scope *S = lua_touserdata(L, 1);
  lcr_Task *t = (lcr_Task *)S->E->e.current;
  cr_scope_t *to;
  int kind;
  (void)ctx;
  if (lcr_body_ended(L, t, status)) {
    cr_scope_exit(&S->s);
    lcr_pin(L, S->E, 1, 0);
    if (S->kind == KIND_MOVE_ON) {
      lua_pushboolean(L, 1);
      lua_insert(L, 3);
    }
    return lua_gettop(L) - 2;
  }
  kind = lcr_unwinding(L, S->E, -1);
  switch (cr_scope_leave(&S->s, kind == LCR_LIVE, &to)) {
    case CR_END_ABSORBED:
      lcr_pin(L, S->E, 1, 0);
      if (S->kind == KIND_MOVE_ON) {
        lua_pushboolean(L, 0);
        return 1;
      }
      if (S->kind == KIND_FAIL && S->s.cancel.source == CR_SRC_DEADLINE) {
        lcr_pushtimeout(L, S->seconds);
        return lua_error(L);
      }
      return 0;
    case CR_END_PASSED:                /* not ours: the catcher's now */
      if (to != NULL) lcr_pushcancelled(L, S->E, to);
      break;
    default:
      if (kind == LCR_DEAD)
        lcr_deadcancel(L, -1, lcr_dead_msg);
  }
  lcr_pin(L, S->E, 1, 0);
  return lua_error(L);
}

/* Enter S (at 1) in the running task and call the function at 3. */
static int scope_call(lua_State *L, lcr_Task *t, double deadline, int shield,
                      int nargs) {
  lcr_Scope *S = lua_touserdata(L, 1);
  int rc;
  lcr_pin(L, lcr_taskengine(t), 1, 1);
  rc = cr_scope_enter(&t->t, &S->s, deadline, shield);
  if (rc) {
    lcr_pin(L, lcr_taskengine(t), 1, 0);
    return lcr_raise(L, rc);
  }
  lcr_unwind_enter(L, t);
  return scope_k(L, lua_pcallk(L, nargs, LUA_MULTRET, 2, 0, scope_k), 0);
}

static int l_scope(lua_State *L) {
  static const char *const names[] = {"timeout", "deadline", "shield",
                                      "name", NULL};
  lcr_Task *t;
  double deadline;
  int shield;
  lcr_checkfunction(L, 1);
  lcr_checkopts(L, 2, 0, names);
  lcr_checknargs(L, 2, NULL);
  t = lcr_checkblocking(L, "corral.scope");
  lcr_scopeopts(L, 2, cr_now(&lcr_taskengine(t)->e), &deadline, &shield);
  lua_settop(L, 2);
  newscope(L, lcr_taskengine(t), KIND_SCOPE);                       /* 3 */
  if (lua_istable(L, 2) && lua_getfield(L, 2, "name") != LUA_TNIL) {
    lua_tostring(L, -1);                 /* a number becomes its string */
    lua_setiuservalue(L, 3, 1);
  }
  lua_settop(L, 3);
  lua_replace(L, 2);                                   /* [body, S] */
  lua_insert(L, 1);                                    /* [S, body] */
  lua_rawgeti(L, LUA_REGISTRYINDEX, lcr_state(L)->msgh_ref);
  lua_insert(L, 2);                                    /* [S, msgh, body] */
  lua_pushvalue(L, 1);                                 /* body(S) */
  return scope_call(L, t, deadline, shield, 1);
}

/* move_on_after/fail_after/move_on_at/fail_at: [when, fn, args...] */
static int timeout_call(lua_State *L, const char *fname, int kind, int abs) {
  lcr_Task *t;
  lcr_Scope *S;
  double v, now, deadline;
  int nargs;
  if (abs) {
    v = luaL_checknumber(L, 1);
    if (v != v) luaL_argerror(L, 1, "deadline must not be NaN");
  } else {
    v = lcr_checkseconds(L, 1);
  }
  lcr_checkfunction(L, 2);
  t = lcr_checkblocking(L, fname);
  now = cr_now(&lcr_taskengine(t)->e);
  deadline = abs ? v : now + v;
  nargs = lua_gettop(L) - 2;
  S = newscope(L, lcr_taskengine(t), kind);
  S->seconds = abs ? (v > now ? v - now : 0) : v;   /* time allowed: >= 0 */
  lua_replace(L, 1);                                   /* [S, fn, args] */
  lua_rawgeti(L, LUA_REGISTRYINDEX, lcr_state(L)->msgh_ref);
  lua_insert(L, 2);                                    /* [S, msgh, fn..] */
  return scope_call(L, t, deadline, 0, nargs);
}

static int l_move_on_after(lua_State *L) {
  return timeout_call(L, "corral.move_on_after", KIND_MOVE_ON, 0);
}
static int l_fail_after(lua_State *L) {
  return timeout_call(L, "corral.fail_after", KIND_FAIL, 0);
}
static int l_move_on_at(lua_State *L) {
  return timeout_call(L, "corral.move_on_at", KIND_MOVE_ON, 1);
}
static int l_fail_at(lua_State *L) {
  return timeout_call(L, "corral.fail_at", KIND_FAIL, 1);
}

/* Whether f is a scope's function, which raises its body's error again as
** it was (scope_k) when the scope does not catch it: the message handler
** keeps the traceback of where it was raised. */
int lcr_scope_passes(lua_CFunction f) {
  return f == l_scope || f == l_move_on_after || f == l_fail_after ||
         f == l_move_on_at || f == l_fail_at;
}

/* --- Scope methods and fields ------------------------------------------ */

static lcr_Scope *checkscope(lua_State *L) {
  lcr_Scope *S = lcr_testudata(L, 1, LCR_SCOPE, sizeof *S);
  if (S == NULL) lcr_selferror(L, 1, LCR_SCOPE);
  return S;
}

static int scope_cancel(lua_State *L) {
  lcr_Scope *S = checkscope(L);
  lcr_checknargs(L, 2, NULL);
  if (!lua_isnoneornil(L, 2)) luaL_checkstring(L, 2);
  if (!lcr_alive(lcr_state(L), S->E, S->epoch)) return 0;
  lcr_cancel(L, S->E, &S->s, 2);
  return 0;
}

/* Fields every scope-like object shares; 0 if `k` is not one. */
int lcr_scope_index(lua_State *L, cr_scope_t *s, const char *k) {
  if (strcmp(k, "deadline") == 0)
    lua_pushnumber(L, cr_scope_deadline(s));
  else if (strcmp(k, "shield") == 0)
    lua_pushboolean(L, s->shield);
  else if (strcmp(k, "cancel_called") == 0)
    lua_pushboolean(L, cr_scope_cancel_called(s));
  else if (strcmp(k, "cancel_caught") == 0)
    lua_pushboolean(L, s->cancel_caught);
  else
    return 0;
  return 1;
}

/*
** s.deadline = d, s.shield = b on a scope or group (`what`, for messages).
** The engine keeps a write to a scope that has exited (it has no effect);
** once the run has ended the engine is gone, so a write then is an error.
** [-0, +0, v]
*/
int lcr_scope_newindex(lua_State *L, cr_scope_t *s, int run_alive,
                       const char *what) {
  const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "";
  int deadline = strcmp(k, "deadline") == 0, rc;
  if (!deadline && strcmp(k, "shield") != 0)
    return luaL_error(L, "cannot set field '%s' of a %s (only deadline and "
                         "shield are writable)", lcr_push_key(L, 2), what);
  if (deadline) {
    double d = lua_tonumber(L, 3);       /* as the deadline option */
    if (lua_type(L, 3) != LUA_TNUMBER)
      return luaL_error(L, "%s.deadline must be a number, got %s", what,
                        lcr_push_typename(L, 3));
    if (d != d)
      return luaL_error(L, "%s.deadline must be a number and not NaN", what);
    if (!run_alive) goto ended;
    if ((rc = cr_scope_set_deadline(s, d)) != 0) return lcr_raise(L, rc);
  } else {
    if (!lua_isboolean(L, 3))
      return luaL_error(L, "%s.shield must be a boolean, got %s", what,
                        lcr_push_typename(L, 3));
    if (!run_alive) goto ended;
    cr_scope_set_shield(s, lua_toboolean(L, 3));
  }
  return 0;
ended:
  return luaL_error(L, "cannot set field '%s': the %s belongs to a "
                       "corral.run that has ended", k, what);
}

static int scope__index(lua_State *L) {
  lcr_Scope *S = checkscope(L);
  const char *k = luaL_checkstring(L, 2);
  if (lcr_scope_index(L, &S->s, k)) return 1;
  if (strcmp(k, "name") == 0) {
    lua_getiuservalue(L, 1, 1);
    return 1;
  }
  return 0;          /* methods were looked up first (index_dispatch) */
}

static int scope__newindex(lua_State *L) {
  lcr_Scope *S = checkscope(L);
  return lcr_scope_newindex(L, &S->s, lcr_alive(lcr_state(L), S->E, S->epoch),
                            "scope");
}

/* To b, for tostring: the name in user value uv of the scope or group at
** 1, or, unnamed, its #id as the tree writes it. */
void lcr_addscopename(lua_State *L, luaL_Buffer *b, int uv,
                      const cr_scope_t *s) {
  if (lua_getiuservalue(L, 1, uv) == LUA_TSTRING) {
    luaL_addvalue(b);                  /* whole: a name may hold a NUL */
    return;
  }
  lua_pop(L, 1);
  lua_pushfstring(L, "#%I", (lua_Integer)s->id);
  luaL_addvalue(b);
}

/* corral.Scope(name or #id[, cancelled][, shielded][, exited]) */
static int scope__tostring(lua_State *L) {
  lcr_Scope *S = checkscope(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "corral.Scope(");
  lcr_addscopename(L, &b, 1, &S->s);
  /* (the flag as recorded: reading cancel_called fires a deadline that is
  ** due, and print(s) while debugging must change nothing) */
  if (S->s.cancel_called) luaL_addstring(&b, ", cancelled");
  if (S->s.shield) luaL_addstring(&b, ", shielded");
  if (S->s.exited) luaL_addstring(&b, ", exited");
  luaL_addchar(&b, ')');
  luaL_pushresult(&b);
  return 1;
}

static const luaL_Reg scope_methods[] = {
  {"cancel", scope_cancel},
  {NULL, NULL}
};

static const luaL_Reg scope_meta[] = {
  {"__index", scope__index},
  {"__newindex", scope__newindex},
  {"__tostring", scope__tostring},
  {NULL, NULL}
};

const luaL_Reg lcr_scope_funcs[] = {
  {"scope", l_scope},
  {"move_on_after", l_move_on_after},
  {"fail_after", l_fail_after},
  {"move_on_at", l_move_on_at},
  {"fail_at", l_fail_at},
  {NULL, NULL}
};

void lcr_open_scope(lua_State *L) {
  lcr_register(L, LCR_SCOPE, scope_methods, scope_meta);
}
