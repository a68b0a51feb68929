/*
** lcorral.c -- the corral Lua module: luaopen_corral, corral.run, time and
** the helpers every binding file shares.
*/
#include <math.h>
#include <signal.h>
#include <string.h>
#include "lcorral.h"

/* --- shared helpers --------------------------------------------------- */

lcr_State *lcr_state(lua_State *L) {
  return (lcr_State *)lua_touserdata(L, lua_upvalueindex(1));
}

int lcr_alive(lcr_State *S, lcr_Engine *E, unsigned epoch) {
  return S->eng == E && E != NULL && E->epoch == epoch && E->open;
}

/* The running engine, or an error naming the call. [-0, +0, v] */
lcr_Engine *lcr_engine(lua_State *L, const char *fname) {
  lcr_State *S = lcr_state(L);
  if (S->eng == NULL)
    luaL_error(L, "corral.%s: called outside corral.run", fname);
  return S->eng;
}

/*
** The task that may block here, or an error naming the mistake: a blocking
** call is only legal on the coroutine the engine resumed, not inside a
** coroutine the user created within a task. [-0, +0, v]
*/
lcr_Task *lcr_checkblocking(lua_State *L, const char *fname) {
  lcr_Engine *E = lcr_engine(L, fname);
  lcr_Task *t = (lcr_Task *)E->e.current;
  if (t == NULL || t->co != L)
    luaL_error(L, "corral.%s: called from a coroutine that corral does not "
               "run (a blocking call inside your own coroutine, e.g. a "
               "coroutine.wrap generator, cannot be suspended by corral)",
               fname);
  return t;
}

/* Seconds: a number >= 0 and not NaN. [-0, +0, v] */
double lcr_checkseconds(lua_State *L, int arg) {
  double s = luaL_checknumber(L, arg);
  if (!(s >= 0)) luaL_argerror(L, arg, "seconds must be >= 0 and not NaN");
  return s;
}

/* [-0, +1, -] */
void lcr_pushanchors(lua_State *L, lcr_Engine *E) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->anchors_ref);
}

/* Push the userdata of a live task; nil if it is not anchored. [-0, +1, -] */
int lcr_pushtask(lua_State *L, lcr_Engine *E, cr_task_t *t) {
  lcr_Task *lt = (lcr_Task *)t;
  if (lt->ref <= 0) {
    lua_pushnil(L);
    return 0;
  }
  lcr_pushanchors(L, E);
  lua_rawgeti(L, -1, lt->ref);
  lua_remove(L, -2);
  return 1;
}

/*
** Record why scope `s` was cancelled: the reason at `reason` (0 = none) and
** the name of the task `origin`. [-0, +0, m]
*/
void lcr_setcancel(lua_State *L, lcr_Engine *E, cr_scope_t *s, int reason,
                   cr_task_t *origin) {
  /* look at the reason before pushing: a missing argument's index would
  ** otherwise name whatever we push there */
  if (reason) reason = lua_isnoneornil(L, reason) ? 0 : lua_absindex(L, reason);
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->cancels_ref);
  lua_createtable(L, 2, 0);
  if (reason) {
    lua_pushvalue(L, reason);
    lua_rawseti(L, -2, 1);
  }
  if (origin && lcr_pushtask(L, E, origin)) {
    lcr_pushtaskname(L, lua_touserdata(L, -1));
    lua_rawseti(L, -3, 2);
  }
  if (origin) lua_pop(L, 1);
  lua_rawseti(L, -2, (lua_Integer)s->id);
  lua_pop(L, 1);
}

/* Forget the record of a scope that exits. [-0, +0, -] */
void lcr_clearcancel(lua_State *L, lcr_Engine *E, cr_scope_t *s) {
  /* only cancels and stop() write records; stop() may not have fired */
  if (!s->cancel_called && !(s->is_group && ((cr_group_t *)s)->stopping))
    return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->cancels_ref);
  lua_pushnil(L);
  lua_rawseti(L, -2, (lua_Integer)s->id);
  lua_pushnil(L);
  lua_rawseti(L, -2, -(lua_Integer)s->id);     /* its shared Cancelled */
  lua_pop(L, 1);
}

/* Give control back to the scheduler; `k` runs on wake-up. */
int lcr_yield(lua_State *L, lcr_Task *t, lua_KContext ctx, lua_KFunction k) {
  t->parked = 1;
  return lua_yieldk(L, 0, ctx, k);
}

/* Raise Cancelled if the task is inside a cancelled scope. [-0, +0, v] */
void lcr_checkcancel(lua_State *L, lcr_Task *t) {
  cr_scope_t *s = cr_task_cancelled(&t->t);
  if (s != NULL) {
    lcr_pushcancelled(L, t->E, s);
    lua_error(L);
  }
}

/* Turn an engine error code into a Lua error. [-0, +0, v] */
int lcr_raise(lua_State *L, int err) {
  if (err == CR_ENOMEM) {
    lua_pushliteral(L, "not enough memory");
    return lua_error(L);
  }
  return luaL_error(L, "%s: %s", cr_err_name(err), cr_strerror(err));
}

/*
** Message handler of every pcall corral makes around user code: takes the
** traceback at the point of failure, before the stack unwinds, and keeps
** it beside the task. A Cancelled needs none (it is not a failure), and an
** error re-raised unchanged keeps its first traceback. [-1, +1, m]
*/
int lcr_msgh(lua_State *L) {
  lcr_State *S = lcr_state(L);
  lcr_Engine *E = S->eng;
  if (E == NULL || E->e.current == NULL || lcr_iscancelled(L, 1)) return 1;
  if (!lcr_pushtask(L, E, E->e.current)) { lua_pop(L, 1); return 1; }
  lcr_getextra(L, 2, "tberr");
  if (!lua_isnil(L, -1) && lua_rawequal(L, -1, 1)) { lua_settop(L, 1); return 1; }
  lua_pop(L, 1);
  {
    /* luaL_tolstring works on a copy: the raw error stays as it was. */
    const char *msg = luaL_tolstring(L, 1, NULL);
    luaL_traceback(L, L, msg, 1);
    lua_remove(L, -2);
  }
  lcr_setextra(L, 2, "tb");
  lua_pushvalue(L, 1);
  lcr_setextra(L, 2, "tberr");
  lua_settop(L, 1);
  return 1;
}

/*
** __index of every type: methods first, with one rawget (a method call is
** the hot path: ch:send, s:read), then the type's own __index for fields.
** Upvalues: state, methods, the type's __index as a light C function.
*/
static int index_dispatch(lua_State *L) {
  lua_CFunction fields;
  lua_settop(L, 2);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  fields = lua_tocfunction(L, lua_upvalueindex(3));
  return fields ? fields(L) : 0;
}

/* Remember the metatable of tname as hot type `which`. */
void lcr_register_mt(lua_State *L, const char *tname, int which) {
  lcr_State *S = lua_touserdata(L, -1);          /* [..., state] */
  luaL_getmetatable(L, tname);
  S->mt[which] = lua_topointer(L, -1);
  lua_pop(L, 1);
}

/* The userdata at idx if its metatable is that of `which`, else NULL. */
void *lcr_testself(lua_State *L, int idx, int which) {
  void *p = lua_touserdata(L, idx);
  if (p != NULL && lua_getmetatable(L, idx)) {
    const void *mt = lua_topointer(L, -1);
    lua_pop(L, 1);
    if (mt == lcr_state(L)->mt[which]) return p;
  }
  return NULL;
}

/* Like luaL_checkudata, with one pointer comparison. [-0, +0, v] */
void *lcr_checkself(lua_State *L, int idx, int which, const char *tname) {
  void *p = lcr_testself(L, idx, which);
  if (p == NULL) luaL_checkudata(L, idx, tname);   /* raises the error */
  return p;
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

static int sleep_k(lua_State *L, int status, lua_KContext ctx) {
  lcr_Task *t = lcr_checkblocking(L, "sleep");
  double when = lua_tonumber(L, (int)ctx);
  if (status == LUA_YIELD && t->t.wake_status == 0) return 0;
  lcr_checkcancel(L, t);
  if (when <= cr_now(&t->E->e)) {
    if (status == LUA_YIELD) return 0;   /* woke late: the time has come */
    cr_task_yield(&t->t);                /* sleep(0): a checkpoint */
  } else {
    int rc = cr_task_sleep(&t->t, when);
    if (rc) return lcr_raise(L, rc);
  }
  return lcr_yield(L, t, ctx, sleep_k);
}

static int l_sleep(lua_State *L) {
  double s = lcr_checkseconds(L, 1);
  lcr_Task *t = lcr_checkblocking(L, "sleep");
  lua_settop(L, 0);
  lua_pushnumber(L, cr_now(&t->E->e) + s);
  return sleep_k(L, LUA_OK, 1);
}

static int l_sleep_until(lua_State *L) {
  double when = luaL_checknumber(L, 1);
  if (when != when) luaL_argerror(L, 1, "time must not be NaN");
  lcr_checkblocking(L, "sleep_until");
  lua_settop(L, 1);
  return sleep_k(L, LUA_OK, 1);
}

static int checkpoint_k(lua_State *L, int status, lua_KContext ctx) {
  (void)L; (void)status; (void)ctx;
  return 0;
}

static int l_checkpoint(lua_State *L) {
  lcr_Task *t = lcr_checkblocking(L, "checkpoint");
  lcr_checkcancel(L, t);
  cr_task_yield(&t->t);
  return lcr_yield(L, t, 0, checkpoint_k);
}

static int l_now(lua_State *L) {
  lcr_Engine *E = lcr_engine(L, "now");
  lua_pushnumber(L, cr_now(&E->e));
  return 1;
}

static void engine_stats(lua_State *L, lcr_Engine *E, cr_stats_t *st,
                         size_t *refs, size_t *records);

/*
** corral.debug_stats() -> {tasks, scopes, timers, handles, refs, records}:
** what the running engine has alive, or, outside a run, what the last run
** left behind when it closed (all zero unless something leaked).
*/
static int l_debug_stats(lua_State *L) {
  lcr_State *S = lcr_state(L);
  cr_stats_t st = S->last;
  size_t refs = S->last_refs, records = S->last_records;
  if (S->eng) engine_stats(L, S->eng, &st, &refs, &records);
  lua_createtable(L, 0, 6);
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
  return 1;
}

static int l_current_task(lua_State *L) {
  lcr_Engine *E = lcr_engine(L, "current_task");
  if (E->e.current == NULL || !lcr_pushtask(L, E, E->e.current))
    lua_pushnil(L);
  return 1;
}

/* --- run -------------------------------------------------------------- */

static void signal_cb(uv_signal_t *h, int signum) {
  lcr_Engine *E = h->data;
  lua_State *L = E->L;
  lcr_Task *root;
  if (E->signalled) {
    /* A second signal while the first one unwinds: give up on grace. */
    uv_signal_stop(h);
    raise(signum);
    return;
  }
  E->signalled = signum;
  root = E->root;
  if (root == NULL || root->t.finished) return;
  lua_pushstring(L, signum == SIGINT ? "SIGINT" : "SIGTERM");
  if (cr_scope_cancel(&root->t.scope, CR_SRC_SIGNAL))
    lcr_setcancel(L, E, &root->t.scope, -1, NULL);
  lua_pop(L, 1);
}

static void signal_close_cb(uv_handle_t *h) {
  lcr_Engine *E = h->data;
  E->e.stats.handles--;
}

/* Run the scheduler until the root task finished. [-0, +0, e] */
static int run_loop(lua_State *L) {
  lcr_Engine *E = lua_touserdata(L, 1);
  lcr_Task *root = lua_touserdata(L, 2);
  while (!root->t.finished) {
    int rc = cr_engine_step(&E->e, 1);
    if (rc == CR_EDEADLOCK) {
      if (E->deadlocked) break;
      /* Nothing can ever wake these tasks: unwind them so that every
      ** cleanup runs, then run reports the deadlock. */
      E->deadlocked = 1;
      lua_pushliteral(L, "deadlock: every task is blocked and nothing can "
                         "wake them");
      if (cr_scope_cancel(&root->t.scope, CR_SRC_DEADLOCK))
        lcr_setcancel(L, E, &root->t.scope, -1, NULL);
      lua_pop(L, 1);
    } else if (rc < 0) {
      return lcr_raise(L, rc);
    }
  }
  return 0;
}

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
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->cancels_ref);
  *records = count_entries(L, -1, LUA_TTABLE);
  lua_pop(L, 1);
}

/* Close everything the engine owns, even after a broken run. */
static void engine_teardown(lua_State *L, lcr_Engine *E) {
  int i;
  if (!E->open) return;
  E->open = 0;
  for (i = 0; i < E->nsignals; i++)
    uv_close((uv_handle_t *)&E->sig[i], signal_close_cb);
  E->nsignals = 0;
  {
    int rc = cr_engine_close(&E->e);
    engine_stats(L, E, &E->S->last, &E->S->last_refs, &E->S->last_records);
    if (rc == 0) goto closed;
  }
  {
    /* Tasks were abandoned (a second deadlock, or an error escaped the
    ** scheduler). Their memory belongs to Lua's GC; drop the engine's
    ** links to them so the loop can close. */
    E->e.nheap = 0;
    E->e.stats.tasks = E->e.stats.scopes = E->e.stats.timers = 0;
    cr_engine_close(&E->e);
  }
closed:
  luaL_unref(L, LUA_REGISTRYINDEX, E->anchors_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, E->cancels_ref);
  if (E->S->eng == E) E->S->eng = NULL;
}

static int engine__gc(lua_State *L) {
  engine_teardown(L, luaL_checkudata(L, 1, LCR_ENGINE));
  return 0;
}

/*
** A write to a peer that has gone must raise EPIPE, not kill the process:
** like Node and most event loops, corral ignores SIGPIPE (process-wide,
** once, and only if nobody installed a handler).
*/
static void ignore_sigpipe(void) {
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
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
    if (!lua_isinteger(L, -1))
      luaL_argerror(L, 2, "seed must be an integer");
    o->seeded = 1;
    o->seed = lua_tointeger(L, -1);
  }
  if (lua_getfield(L, 2, "autojump_threshold") != LUA_TNIL) {
    if (!lua_isnumber(L, -1) || !(lua_tonumber(L, -1) >= 0))
      luaL_argerror(L, 2, "autojump_threshold must be a number >= 0");
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

static int l_run(lua_State *L) {
  static const char *const clocks[] = {"real", "virtual", NULL};
  lcr_State *S = lcr_state(L);
  lcr_Engine *E;
  lcr_Task *root;
  int clock = 0, signals = 0, rc, status, nres;
  test_opts topts;
  luaL_checktype(L, 1, LUA_TFUNCTION);
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "clock");
    if (!lua_isnil(L, -1)) {
      const char *c = lua_tostring(L, -1);
      int i;
      for (i = 0; clocks[i] && (!c || strcmp(c, clocks[i])); i++) {}
      if (!clocks[i])
        luaL_argerror(L, 2, "clock must be \"real\" or \"virtual\"");
      clock = i;
    }
    lua_getfield(L, 2, "signals");
    signals = lua_toboolean(L, -1);
    lua_getfield(L, 2, "trace");
    if (!lua_isnil(L, -1))
      luaL_argerror(L, 2, "trace is not implemented yet");
    lua_pop(L, 3);
  }
  check_test_opts(L, clock, &topts);
  if (S->eng != NULL)
    return luaL_error(L, "corral.run: cannot be called inside a running "
                         "task (spawn a task or open a group instead)");
  lua_settop(L, 2);
  E = lua_newuserdatauv(L, sizeof *E, 0);                 /* 3: engine */
  memset(E, 0, sizeof *E);
  E->anchors_ref = E->cancels_ref = LUA_NOREF;
  luaL_setmetatable(L, LCR_ENGINE);
  rc = cr_engine_init(&E->e, NULL,
                      clock ? CR_CLOCK_VIRTUAL : CR_CLOCK_REAL);
  if (rc) return lcr_raise(L, rc);
  apply_test_opts(&E->e, &topts);
  E->open = 1;
  ignore_sigpipe();
  E->S = S;
  E->L = L;
  E->epoch = ++S->epoch;
  lua_newtable(L);
  E->anchors_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  E->cancels_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  root = lcr_newtask(L, E, 1, 0);                         /* 4: root */
  E->root = root;
  /* Nothing above may leave the module thinking a run is going on: an
  ** error there (out of memory) leaves E to its __gc. */
  S->eng = E;
  cr_task_start_root(&root->t);
  if (signals) {
    static const int signums[2] = {SIGINT, SIGTERM};
    int i;
    for (i = 0; i < 2; i++) {
      if (uv_signal_init(E->e.loop, &E->sig[i]) != 0) break;
      E->sig[i].data = E;
      E->e.stats.handles++;
      E->nsignals++;
      uv_signal_start(&E->sig[i], signal_cb, signums[i]);
    }
  }
  lua_pushcfunction(L, run_loop);
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 4);
  status = lua_pcall(L, 2, 0, 0);                         /* 5: error? */
  if (status != LUA_OK) {
    engine_teardown(L, E);
    return lua_error(L);
  }
  if (!root->t.finished) {
    engine_teardown(L, E);
    return luaL_error(L, "corral.run: deadlock: every task is blocked and "
                         "nothing can wake them (even after cancelling)");
  }
  engine_teardown(L, E);
  nres = root->nres;
  if (!lua_checkstack(L, nres + 1))
    return luaL_error(L, "corral.run: too many results");
  lua_xmove(root->co, L, nres);
  if (E->deadlocked && root->outcome != CR_TASK_FAILED)
    return luaL_error(L, "corral.run: deadlock: every task was blocked and "
                         "nothing could wake them (they were cancelled)");
  if (root->outcome == CR_TASK_DONE) return nres;
  return lua_error(L);       /* the root's error, or its Cancelled */
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

LUAMOD_API int luaopen_corral(lua_State *L) {
  lcr_State *S = lua_newuserdatauv(L, sizeof *S, 0);      /* state */
  memset(S, 0, sizeof *S);
  S->errors_ref = S->cancelled_mt_ref = LUA_NOREF;
  lua_newtable(L);
  lua_pushcfunction(L, state__gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  luaL_ref(L, LUA_REGISTRYINDEX);          /* keep the state alive */
  luaL_newmetatable(L, LCR_ENGINE);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, engine_meta, 1);
  lua_pop(L, 1);
  lcr_open_errors(L, S);
  lcr_open_task(L);
  lcr_open_group(L);
  lcr_open_scope(L);
  lcr_open_sync(L);
  lcr_open_io(L);
  lua_newtable(L);                                         /* module */
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, corral_funcs, 1);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, lcr_error_funcs, 1);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, lcr_group_funcs, 1);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, lcr_scope_funcs, 1);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, lcr_sync_funcs, 1);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, lcr_io_funcs, 1);
  lcr_open_io_lua(L, lua_absindex(L, -2), lua_absindex(L, -1));
  lcr_open_testing(L);
  lua_pushliteral(L, CR_VERSION);
  lua_setfield(L, -2, "_VERSION");
  return 1;
}
