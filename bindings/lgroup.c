/*
** lgroup.c -- task groups from Lua: corral.group, spawn, start, cancel,
** stop and the group's fields.
**
** The body runs in the calling task under lua_pcallk; when it is done the
** task parks until the children have finished (join_k), and only then does
** the group decide what to return or raise.
*/
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include "lcorral.h"

static lcr_Group *checkgroup(lua_State *L, int idx) {
  return lcr_checkself(L, idx, LCR_MT_GROUP, LCR_GROUP);
}

static int group_alive_in(lcr_State *S, const lcr_Group *G) {
  return G->opened && !G->g.closed && lcr_alive(S, G->E, G->epoch);
}

static int group_alive(lua_State *L, lcr_Group *G) {
  return group_alive_in(lcr_state(L), G);
}

/* Layout while the group lives: [1 body][2 opts][3 G][4 msgh][results] */
enum { IDX_G = 3, IDX_MSGH = 4 };

/* [errors, G]: G's ErrorGroup (lcr_pusherrorgroup, run protected). */
static int push_errorgroup(lua_State *L) {
  const lcr_Group *G = lua_touserdata(L, 2);
  lcr_pusherrorgroup(L, G->E->S, 1, G);
  return 1;
}

/*
** Push the ErrorGroup of group G from its errors list at errors_idx. Part
** of it is built in Lua (errors.from_list), where a debug hook of the
** running thread may raise: that error is the hook's, not a failure of
** the group, and must not take the place of the failures recorded. So it
** is built protected, and once more with the thread's hook put aside (then
** back) if a hook raised. Memory that runs out while it is built must not
** take their place either (a group raises an ErrorGroup, never a bare
** error): the list is left as it was, so it is built once more after a
** full collection (the children's memory is free by now). Only memory
** still short then raises. The function is a light C function: pushing
** it allocates nothing outside the protected call. [-0, +1, m]
*/
void lcr_push_group_errors(lua_State *L, int errors_idx, const lcr_Group *G) {
  lua_Hook hook = NULL;
  int mask = 0, count = 0, hooked = 0, short_of_memory = 0, status;
  errors_idx = lua_absindex(L, errors_idx);
  for (;;) {
    lua_pushcfunction(L, push_errorgroup);
    lua_pushvalue(L, errors_idx);
    lua_pushlightuserdata(L, (void *)G);
    status = lua_pcall(L, 2, 1, 0);
    if (status == LUA_OK ||
        (status == LUA_ERRMEM ? short_of_memory++ : hooked++) > 0)
      break;
    lua_pop(L, 1);                    /* not the group's: discarded */
    if (status == LUA_ERRMEM) {
      lua_gc(L, LUA_GCCOLLECT);
      continue;
    }
    hook = lua_gethook(L);            /* (as the hook left it) */
    mask = lua_gethookmask(L);
    count = lua_gethookcount(L);
    lua_sethook(L, NULL, 0, 0);
  }
  if (hooked) lua_sethook(L, hook, mask, count);
  if (status != LUA_OK) lua_error(L);
}

/*
** The children have finished: the engine closes the group and says what
** happened. Failures raise an ErrorGroup; a Cancelled that reached the
** group is absorbed here or goes on as the Cancelled of the scope that
** will absorb it now (so an outer cancel that came while the group waited
** for its children moves the catch outward, with the outer reason).
*/
static int group_finish(lua_State *L, lcr_Group *G) {
  cr_scope_t *to;
  cr_end_t end = cr_group_close(&G->g, &to);
  lcr_pin(L, G->E, IDX_G, 0);
  switch (end) {
    case CR_END_FAILED:
      lua_getiuservalue(L, IDX_G, LCR_GUV_ERRORS);
      lcr_push_group_errors(L, -1, G);
      return lua_error(L);
    case CR_END_PASSED:
      if (to != NULL) {
        lcr_pushcancelled(L, G->E, to);
        return lua_error(L);
      }
      if (G->interrupted) {         /* nobody can catch it: as it was */
        lua_getiuservalue(L, IDX_G, LCR_GUV_CANCEL);
        return lua_error(L);
      }
      return G->nres;
    default:
      return G->interrupted ? 0 : G->nres;
  }
}

/*
** Leaving a group is a schedule point: when there is no child left to
** wait for, the task still gives the others one turn (as Trio's nursery
** does), so a loop of groups cannot starve them. It is not a cancellation
** point: nothing is checked on the way back.
*/
static int join_k(lua_State *L, int status, lua_KContext ctx) {
  LCR_ENGINE_ONLY(L, status, ctx, join_k);
  lcr_Group *G = lua_touserdata(L, IDX_G);
  lcr_Task *t = (lcr_Task *)G->g.parent;
  (void)status; (void)ctx;
  if (cr_group_join(&G->g)) {
    G->exit_turned = 1;
    return lcr_yield(L, t, 0, join_k);
  }
  if (!G->exit_turned) {
    G->exit_turned = 1;
    return lcr_reschedule(L, t, 0, join_k);
  }
  return group_finish(L, G);
}

/*
** Record a failure of group G by task: [G, err, task, fatal]. Called
** protected (lcr_fail_group). Everything that allocates comes before the
** engine counts the failure, so an error here either leaves it uncounted
** (the caller tries again, then counts it without its error) or, when the
** list cannot grow (lcr_errors_add reserves room before it moves anything),
** counted but not listed (group_finish reports it as not recorded).
*/
int lcr_record_failure(lua_State *L) {
  lcr_Group *G = lua_touserdata(L, 1);
  lcr_Task *t = lua_touserdata(L, 3);
  void *reason;
  lua_Integer seq;
  int kept;
  if (lcr_unwinding(L, G->E, 2) == LCR_DEAD)
    lcr_deadcancel(L, 2, lcr_dead_msg);
  lua_getiuservalue(L, 1, LCR_GUV_ERRORS);                       /* 5 */
  if (!lcr_errors_ok(L, -1)) {
    lua_pop(L, 1);
    lcr_errors_new(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, LCR_GUV_ERRORS);
  }
  lcr_pushtaskname(L, t);                                        /* 6 */
  lcr_getextra(L, 3, "tb");                                      /* 7 */
  lcr_getextra(L, 3, "fail_seq");     /* numbered before its on_error: 8 */
  /* (only a child of G: a body failing inside an outer group's on_error
  ** carries that group's number) */
  seq = t->t.group == &G->g && lua_isinteger(L, 8) ? lua_tointeger(L, 8)
                                                   : ++G->fail_seq;
  reason = lcr_record(L, G->E, 0, &t->t);
  kept = cr_group_fail(&G->g, lua_toboolean(L, 4), t->t.scope.id, reason);
  lcr_errors_add(L, 5, 2, 6, 7, seq, !kept);
  return 0;
}

/*
** Group G (at gidx) failed by the task at tidx with the error at eidx.
** The group is still entered, so nothing raised while recording (memory,
** a debug hook) may unwind past its join: recorded protected, tried twice,
** and a failure the engine still has not counted is counted without its
** error, so the group fails either way. [-0, +0, m]
*/
void lcr_fail_group(lua_State *L, int gidx, int eidx, int tidx, int fatal) {
  lcr_Group *G = lua_touserdata(L, gidx);
  lcr_Task *t = lua_touserdata(L, tidx);
  size_t seen = G->g.nerrors + G->g.dropped;
  int top = lua_gettop(L), tries, status = LUA_OK;
  gidx = lua_absindex(L, gidx);
  eidx = lua_absindex(L, eidx);
  tidx = lua_absindex(L, tidx);
  for (tries = 0; tries < 2; tries++) {
    lcr_pushfunction(L, G->E->S, lcr_record_failure);
    lua_pushvalue(L, gidx);
    lua_pushvalue(L, eidx);
    lua_pushvalue(L, tidx);
    lua_pushboolean(L, fatal);
    if ((status = lua_pcall(L, 4, 0, 0)) == LUA_OK) break;
    lua_settop(L, top);
    if (G->g.nerrors + G->g.dropped != seen) break;     /* counted */
  }
  if (status == LUA_ERRMEM) G->lost_memory = 1;
  if (G->g.nerrors + G->g.dropped == seen)
    cr_group_fail(&G->g, 1, t->t.scope.id, NULL);
  lua_settop(L, top);
}

/* The body raised the error on top: a failure that cancels the children. */
static void body_failed(lua_State *L, lcr_Group *G, lcr_Task *t) {
  int err = lua_gettop(L);
  lcr_pushtask(L, lcr_taskengine(t), &t->t);   /* the running task: anchored */
  lcr_fail_group(L, IDX_G, err, -1, 1);
  lua_pop(L, 1);
  cr_group_body_done(&G->g, CR_END_FAILED);
}

static int body_k(lua_State *L, int status, lua_KContext ctx) {
  lcr_Group *G = lua_touserdata(L, IDX_G);
  lcr_Task *t = (lcr_Task *)G->g.parent;
  (void)ctx;
  if (lcr_body_ended(L, t, status)) {
    G->nres = lua_gettop(L) - IDX_MSGH;
    cr_group_body_done(&G->g, CR_END_NORMAL);
  } else if (lcr_unwinding(L, G->E, -1) == LCR_LIVE) {
    G->interrupted = 1;
    lua_setiuservalue(L, IDX_G, LCR_GUV_CANCEL);
    cr_group_body_done(&G->g, CR_END_PASSED);
    lua_settop(L, IDX_MSGH);
  } else {
    /* A Cancelled whose scope has gone is an ordinary failure; it is
    ** reworded inside the protected recording (lcr_record_failure). */
    body_failed(L, G, t);
    lua_settop(L, IDX_MSGH);
  }
  return join_k(L, LUA_OK, 0);
}

/* Option `field` of the options table at idx: nil (0, the default), an
** integer >= 1, or math.huge, which is `huge` (no limit, keep every
** failure), as math.huge means "no bound" for a channel or a sleep. */
static size_t optcount(lua_State *L, int idx, const char *field,
                       size_t huge) {
  lua_Integer n;
  int isnum;
  if (lua_getfield(L, idx, field) == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  n = lua_tointegerx(L, -1, &isnum);     /* a number, not a numeral */
  if (lua_type(L, -1) != LUA_TNUMBER)
    luaL_argerror(L, idx, lua_pushfstring(L, "%s must be an integer >= 1 "
                  "or math.huge, got %s", field, lcr_push_typename(L, -1)));
  if (!isnum && lua_tonumber(L, -1) == HUGE_VAL) {
    lua_pop(L, 1);
    return huge;
  }
  if (!isnum || n < 1)
    luaL_argerror(L, idx, lua_pushfstring(L, "%s must be an integer >= 1 "
                                          "or math.huge", field));
  lua_pop(L, 1);
  return (size_t)n;
}

static int l_group(lua_State *L) {
  static const char *const names[] = {"name", "defer_errors", "on_error",
    "limit", "max_errors", "timeout", "deadline", "shield", NULL};
  lcr_Task *t;
  lcr_Group *G;
  cr_group_opts_t o;
  int rc;
  lcr_checkfunction(L, 1);
  lcr_checkopts(L, 2, 0, names);
  lcr_checknargs(L, 2, NULL);
  t = lcr_checkblocking(L, "corral.group");
  memset(&o, 0, sizeof o);
  lcr_scopeopts(L, 2, cr_now(&lcr_taskengine(t)->e), &o.deadline, &o.shield);
  lua_settop(L, 2);
  G = lua_newuserdatauv(L, sizeof *G, LCR_GROUP_NUV);      /* 3 */
  memset(G, 0, sizeof *G);
  G->E = lcr_taskengine(t);
  G->epoch = lcr_taskengine(t)->epoch;
  luaL_setmetatable(L, LCR_GROUP);
  if (lua_istable(L, 2)) {
    o.limit = optcount(L, 2, "limit", 0);
    o.max_errors = optcount(L, 2, "max_errors", SIZE_MAX);
    o.defer_errors = lcr_optboolean(L, 2, "defer_errors");
    if (lua_getfield(L, 2, "on_error") != LUA_TNIL) {
      if (!lua_isfunction(L, -1))     /* a callable table: told to wrap it */
        luaL_argerror(L, 2, lcr_push_function_expected(L, -1, "on_error"));
      lua_setiuservalue(L, 3, LCR_GUV_ONERROR);
    } else {
      lua_pop(L, 1);
    }
    if (lua_getfield(L, 2, "name") != LUA_TNIL) {
      lcr_checkname(L, 2);
      lua_tostring(L, -1);               /* a number becomes its string */
      lua_setiuservalue(L, 3, LCR_GUV_NAME);
    }
    else
      lua_pop(L, 1);
  }
  lcr_pin(L, lcr_taskengine(t), IDX_G, 1);
  rc = cr_group_init(&t->t, &G->g, &o);
  if (rc) {
    lcr_pin(L, lcr_taskengine(t), IDX_G, 0);
    return lcr_raise(L, rc);
  }
  G->opened = 1;
  /* From here to the join nothing may raise out of the binding. */
  lua_rawgeti(L, LUA_REGISTRYINDEX, lcr_state(L)->msgh_ref); /* 4 */
  lua_pushvalue(L, 1);
  lua_pushvalue(L, IDX_G);
  lcr_unwind_enter(L, t);
  return body_k(L, lua_pcallk(L, 1, LUA_MULTRET, IDX_MSGH, 0, body_k), 0);
}

/* --- spawn and start ---------------------------------------------------- */

/* Raise if g takes no new task: it has exited, or it is stopping. */
static void check_spawnable(lua_State *L, lcr_Group *G, const char *call) {
  if (!group_alive_in(lcr_engine(L, call)->S, G))
    luaL_error(L, "%s: the group is closed (it has exited: spawn into a "
               "group that is still running)", call);
  if (G->g.stopping)
    luaL_error(L, "%s: the group is stopping (g:stop was called: it starts "
               "no new task)", call);
}

/* [G, fn or {fn, name=}, args...] → pushes the new Task, spawned, or
** started for `starter` (g:start). */
static lcr_Task *spawn(lua_State *L, lcr_Group *G, lcr_Task *starter) {
  const char *call = starter ? "group:start" : "group:spawn";
  lcr_Task *t;
  int nargs, rc;
  check_spawnable(L, G, call);
  if (lua_istable(L, 2) && !lcr_callable(L, 2)) {
    static const char *const names[] = {"name", NULL};
    lcr_checkopts(L, 2, 1, names);
    lua_rawgeti(L, 2, 1);
    if (!lua_isfunction(L, -1))
      luaL_argerror(L, 2, lua_isnil(L, -1) ? "table must hold the function "
                    "at [1]" : lua_pushfstring(L, "[1]: %s",
                    lcr_push_function_expected(L, -1, NULL)));
    lua_getfield(L, 2, "name");
    if (!lua_isnil(L, -1)) {
      lcr_checkname(L, 2);
      lua_tostring(L, -1);            /* a number becomes its string */
    }
    lua_rotate(L, 2, 2);              /* [G, fn, name, tbl, args...] */
    lua_remove(L, 4);
  } else {
    lcr_checkfunction(L, 2);      /* a callable table: told to wrap it */
    lua_pushnil(L);
    lua_insert(L, 3);                 /* [G, fn, nil, args...] */
  }
  nargs = lua_gettop(L) - 3;
  t = lcr_newchild(L, G->E, 2, nargs, 1, 3);
  rc = starter ? cr_group_start(&G->g, &t->t, &starter->t)
               : cr_group_spawn(&G->g, &t->t);
  if (rc) {           /* a finalizer, run while the task was made, stopped
                      ** g; else out of memory for g's starting children */
    lcr_drop_task(L, t);
    check_spawnable(L, G, call);
    return (lcr_Task *)(intptr_t)lcr_raise(L, rc);
  }
  return t;
}

static int group_spawn(lua_State *L) {
  spawn(L, checkgroup(L, 1), NULL);      /* spawn checks the run */
  return 1;
}

/*
** g:start's child runs under the caller's scope until it calls ready(), so
** cancelling the caller cancels it and start waits for it to finish
** (Trio's nursery.start); ready() moves it under the group, unless the
** caller is cancelled by then: the engine leaves it where it is (its value
** is dropped, a second call still raises) and start raises the caller's
** Cancelled once the child has finished.
*/
/* [task, value]: the value a start's child handed over, kept in it. */
static int keep_ready(lua_State *L) {
  lcr_setextra(L, 1, "ready");
  return 0;
}

static int ready(lua_State *L) {
  lcr_Task *c = lua_touserdata(L, lua_upvalueindex(2));
  if (c->ready_called)
    return luaL_error(L, "ready: called twice (the value of g:start can be "
                         "given only once)");
  /* Too late (another task kept ready and the child has finished): start
  ** reports how the child ended, not this value. */
  if (!c->t.starting) return 0;
  lua_settop(L, 1);
  /* The flag first: a finalizer that the allocation below runs, and that
  ** calls ready again, gets "called twice". Storing the value may run out
  ** of memory: the flag is taken back then, and the error goes on. */
  c->ready_called = 1;
  lua_pushcfunction(L, keep_ready);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_pushvalue(L, 1);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    c->ready_called = 0;
    return lua_error(L);
  }
  if (cr_task_ready(&c->t) == CR_ECANCELED) c->ready_dropped = 1;
  return 0;
}

/*
** The child's failure, on top, is raised in the caller w: the traceback
** its failure is reported with (when the caller's group records it) is
** where the child failed, not where start raised it. Only for an error
** that is an object: the caller knows it by identity, and a string equal
** to one it raises later (a caught "timeout", then its own) must not take
** the child's traceback along. [-0, +0, m]
*/
static void keep_child_traceback(lua_State *L, lcr_Task *w, int child) {
  int err = lua_gettop(L);
  if (!lcr_isobject(L, err)) return;
  lcr_getextra(L, child, "tb");
  if (lua_type(L, -1) != LUA_TSTRING ||
      !lcr_pushtask(L, lcr_taskengine(w), &w->t)) {
    lua_settop(L, err);
    return;
  }
  lua_insert(L, -2);                     /* [err, w, tb] */
  lua_pushvalue(L, err);
  lcr_keep_traceback(L, -3);             /* its msgh keeps that traceback */
  lua_settop(L, err);
}

/* [child] once the child called ready() or finished */
static int start_k(lua_State *L, int status, lua_KContext ctx) {
  LCR_ENGINE_ONLY(L, status, ctx, start_k);
  lcr_Task *w = lcr_checkblocking(L, "group:start");
  lcr_Task *c = lua_touserdata(L, 1);
  (void)status; (void)ctx;
  if (c->ready_called && !c->ready_dropped) {
    lcr_getextra(L, 1, "ready");
    return 1;
  }
  /* Woken by a cancel while the child still waited for a slot of the
  ** limit: the caller raises its Cancelled now (the child, cancelled, stays
  ** queued in the group), or waits again if that cancel is gone. */
  if (w->t.wake_status == CR_ECANCELED && !c->t.finished) {
    void *rec = lcr_record(L, lcr_taskengine(w), 0, &w->t);  /* (its t:cancel) */
    if (!cr_group_start_woken(&c->t, &w->t, rec))
      return lcr_yield(L, w, 0, start_k);
    lcr_checkcancel(L, w);                 /* (raises: it is cancelled) */
  }
  if (c->outcome == CR_TASK_DONE) {
    lcr_checkcancel(L, w);          /* a cancelled caller: its Cancelled */
    /* ready came while the caller was cancelled, and the caller is no
    ** longer (a shield set since hides it): the value it kept, as Trio's
    ** start returns what started() recorded. */
    if (c->ready_dropped) {
      lcr_getextra(L, 1, "ready");
      return 1;
    }
    return luaL_error(L, "group:start: the task finished without calling "
                         "ready");
  }
  /* Cancelled by its own scope (t:cancel, or its group's cancel that
  ** reached it while starting): the caller raises its own Cancelled if
  ** it has one, else hears the news. */
  if (c->outcome == CR_TASK_CANCELLED && c->t.scope.cancel_caught) {
    lcr_checkcancel(L, w);
    if (c->ready_dropped) {           /* it called ready: as just above */
      lcr_getextra(L, 1, "ready");
      return 1;
    }
    return luaL_error(L, "group:start: the task was cancelled before it "
                         "called ready");
  }
  if (lcr_pushresults(L, 1, c) == 0)  /* its failure, or the caller's */
    lua_pushnil(L);                   /* Cancelled: raised here */
  if (c->outcome == CR_TASK_FAILED) keep_child_traceback(L, w, 1);
  return lua_error(L);
}

/*
** g:start(fn, ...): from a cancelled scope, or into a cancelled group, the
** child is still spawned and runs to its first cancellation point (its
** setup and cleanup run), and start then raises the caller's Cancelled:
** no start is silently dropped. (A cancelled caller whose child still
** waits for a slot of the limit raises at once: the child, cancelled too,
** runs when its slot comes.)
*/
static int group_start(lua_State *L) {
  lcr_Group *G = checkgroup(L, 1);
  lcr_Task *w = lcr_checkblocking(L, "group:start");
  if (!lua_istable(L, 2)) lcr_checkfunction(L, 2);
  /* ready is made before the child, so nothing can fail once it is
  ** spawned; its child upvalue is filled in right after. */
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushnil(L);
  lua_pushcclosure(L, ready, 2);
  lua_insert(L, 3);                    /* fn(ready, ...) */
  spawn(L, G, w);
  lua_pushvalue(L, -1);
  lua_setupvalue(L, 4, 2);   /* [G, fn, name, ready, args..., Task] */
  lua_replace(L, 1);                   /* [child, ...] */
  lua_settop(L, 1);
  return lcr_yield(L, w, 0, start_k);
}

/* --- cancel, stop ---------------------------------------------------- */

static int group_cancel(lua_State *L) {
  lcr_Group *G = checkgroup(L, 1);
  lcr_checknargs(L, 2, NULL);
  if (!lua_isnoneornil(L, 2)) luaL_checkstring(L, 2);
  if (!group_alive(L, G)) return 0;
  lcr_cancel(L, G->E, &G->g.scope, 2);
  return 0;
}

static int group_stop(lua_State *L) {
  lcr_Group *G = checkgroup(L, 1);
  double grace;
  cr_task_t *cur;
  void *reason = NULL;
  int rc;
  lcr_checknargs(L, 2, NULL);
  grace = lua_isnoneornil(L, 2) ? -1 : lcr_checkseconds(L, 2);
  if (!group_alive(L, G)) return 0;
  /* Whoever calls stop is the origin if the grace runs out. */
  cur = G->E->e.current;
  if (!G->g.scope.cancel_called) reason = lcr_record(L, G->E, 0, cur);
  rc = cr_group_stop(&G->g, grace, cur ? cur->scope.id : 0, reason);
  if (rc) return lcr_raise(L, rc);
  return 0;
}

static int stopping_k(lua_State *L, int status, lua_KContext ctx) {
  LCR_ENGINE_ONLY(L, status, ctx, stopping_k);
  lcr_Task *t = lcr_checkblocking(L, "group:wait_stopping");
  lcr_Group *G = lua_touserdata(L, 1);
  (void)ctx;
  if (status == LUA_YIELD && t->t.wake_status == 0) return 0;
  lcr_checkcancel(L, t);
  if (!group_alive(L, G) || cr_group_wait_stopping(&G->g, &t->t)) return 0;
  return lcr_yield(L, t, 0, stopping_k);
}

static int group_wait_stopping(lua_State *L) {
  checkgroup(L, 1);
  lcr_checknargs(L, 1, LCR_NO_TIMEOUT);
  lcr_checkblocking(L, "group:wait_stopping");
  return stopping_k(L, LUA_OK, 0);
}

static int by_id(const void *a, const void *b) {
  uint64_t x = (*(cr_task_t *const *)a)->scope.id;
  uint64_t y = (*(cr_task_t *const *)b)->scope.id;
  return (x > y) - (x < y);
}

/* g:tasks(): the children not yet finished, in spawn order (ids grow with
** each spawn; the engine lists them in the order of its scope tree). */
static int group_tasks(lua_State *L) {
  lcr_Group *G = checkgroup(L, 1);
  cr_task_t *t, **v;
  size_t n = 0, i, cap;
  lua_Integer k = 0;
  lcr_checknargs(L, 1, NULL);
  lua_newtable(L);                                         /* 2 */
  if (!group_alive(L, G)) return 1;
  /* Allocating may run finalizers that spawn into g: sized again until
  ** the count held still (nothing allocates between that and the fill). */
  for (;;) {
    cap = G->g.nchildren;
    v = lua_newuserdatauv(L, (cap + 1) * sizeof *v, 0);    /* 3 */
    if (G->g.nchildren <= cap) break;
    lua_pop(L, 1);
  }
  for (t = cr_group_next_child(&G->g, NULL); t != NULL && n < cap;
       t = cr_group_next_child(&G->g, t))
    v[n++] = t;
  qsort(v, n, sizeof *v, by_id);
  for (i = 0; i < n; i++) {
    if (lcr_pushtask(L, G->E, v[i]))
      lua_rawseti(L, 2, ++k);
    else
      lua_pop(L, 1);
  }
  lua_settop(L, 2);
  return 1;
}

/* --- fields ------------------------------------------------------------ */

static int group__index(lua_State *L) {
  lcr_Group *G = checkgroup(L, 1);
  const char *k = luaL_checkstring(L, 2);
  if (lcr_scope_index(L, &G->g.scope, k)) return 1;
  if (strcmp(k, "name") == 0)
    lua_getiuservalue(L, 1, LCR_GUV_NAME);
  else if (strcmp(k, "stopping") == 0)
    lua_pushboolean(L, G->g.stopping);
  else if (strcmp(k, "closed") == 0)
    lua_pushboolean(L, !group_alive(L, G));
  else {
    return 0;        /* methods were looked up first (index_dispatch) */
  }
  return 1;
}

static int group__newindex(lua_State *L) {
  lcr_Group *G = checkgroup(L, 1);
  return lcr_scope_newindex(L, &G->g.scope,
                            G->opened && lcr_alive(lcr_state(L), G->E, G->epoch),
                            "group");
}

static int group__tostring(lua_State *L) {
  lcr_Group *G = checkgroup(L, 1);
  int alive, n;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "corral.Group(");
  lcr_addscopename(L, &b, LCR_GUV_NAME, &G->g.scope);
  /* as g:tasks() counts: a closed group has none (the children a run
  ** abandoned at a deadlock are not its any more) */
  alive = group_alive(L, G);
  n = alive ? (int)G->g.nchildren : 0;
  lua_pushfstring(L, ", %d %s%s)", n, n == 1 ? "child" : "children",
                  alive ? "" : ", closed");
  luaL_addvalue(&b);
  luaL_pushresult(&b);
  return 1;
}

static const luaL_Reg group_methods[] = {
  {"spawn", group_spawn},
  {"start", group_start},
  {"cancel", group_cancel},
  {"stop", group_stop},
  {"wait_stopping", group_wait_stopping},
  {"tasks", group_tasks},
  {NULL, NULL}
};

static const luaL_Reg group_meta[] = {
  {"__index", group__index},
  {"__newindex", group__newindex},
  {"__tostring", group__tostring},
  {NULL, NULL}
};

const luaL_Reg lcr_group_funcs[] = {
  {"group", l_group},
  {NULL, NULL}
};

void lcr_open_group(lua_State *L) {
  lcr_register(L, LCR_GROUP, group_methods, group_meta);
  lcr_register_mt(L, LCR_GROUP, LCR_MT_GROUP, sizeof(lcr_Group));
}
