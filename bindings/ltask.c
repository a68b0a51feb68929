/*
** ltask.c -- tasks as coroutines: creation, the resume callback the engine
** calls, the body wrapper that turns an error into a failure of the group,
** and the Task methods.
*/
#include <string.h>
#include "lcorral.h"

enum { STAGE_BODY = 0, STAGE_ONERROR = 1 };

static int task_main_k(lua_State *L, int status, lua_KContext ctx);

/* The running task's userdata struct, from inside its coroutine. */
static lcr_Task *running(lua_State *L) {
  return (lcr_Task *)lcr_state(L)->eng->e.current;
}

/* A rarely used field of the task at idx (nil if unset). [-0, +1, -] */
void lcr_getextra(lua_State *L, int task, const char *field) {
  if (lua_getiuservalue(L, task, LCR_UV_EXTRA) == LUA_TTABLE) {
    lua_getfield(L, -1, field);
    lua_remove(L, -2);
  }
}

/* Set it to the value on top (popped). [-1, +0, m] */
void lcr_setextra(lua_State *L, int task, const char *field) {
  task = lua_absindex(L, task);
  if (lua_getiuservalue(L, task, LCR_UV_EXTRA) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, task, LCR_UV_EXTRA);
  }
  lua_insert(L, -2);
  lua_setfield(L, -2, field);
  lua_pop(L, 1);
}

/* Name of a task userdata at idx, whether anchored or not. [-0, +1, m] */
static void pushname_ud(lua_State *L, int idx, lcr_Task *t) {
  if (lua_getiuservalue(L, idx, LCR_UV_NAME) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushfstring(L, "task-%I", (lua_Integer)t->t.scope.id);
  }
}

/* Name of a task, from its pointer. [-0, +1, m] */
void lcr_pushtaskname(lua_State *L, lcr_Task *t) {
  if (lcr_pushtask(L, t->E, &t->t)) {
    pushname_ud(L, -1, t);
    lua_remove(L, -2);
  } else {
    lua_pop(L, 1);
    lua_pushfstring(L, "task-%I", (lua_Integer)t->t.scope.id);
  }
}

/*
** Record a failure of the task's group: the group's policy may cancel it,
** and the error is kept unless max_errors is reached. Stack: task at 3,
** group at 4; the error at err. Leaves [msgh, original error]. [-?, +0, m]
*/
static int task_fail(lua_State *L, lcr_Task *t, int err, int fatal) {
  lcr_Group *G = lua_touserdata(L, 4);
  int was = G->g.scope.cancel_called;
  if (cr_group_fail(&G->g, fatal)) {
    if (lua_getiuservalue(L, 4, LCR_GUV_ERRORS) == LUA_TNIL) {
      lua_pop(L, 1);
      lcr_errors_new(L);
      lua_pushvalue(L, -1);
      lua_setiuservalue(L, 4, LCR_GUV_ERRORS);
    }
    pushname_ud(L, 3, t);
    lcr_getextra(L, 3, "tb");
    lcr_errors_add(L, -3, err, -2, -1);
  }
  if (!was && G->g.scope.cancel_called)
    lcr_setcancel(L, t->E, &G->g.scope, 0, &t->t);
  lua_settop(L, 2);
  return 1;
}

static int task_main_k(lua_State *L, int status, lua_KContext ctx) {
  lcr_Task *t = running(L);
  if (ctx == STAGE_BODY) {
    if (status == LUA_OK || status == LUA_YIELD) {
      t->outcome = CR_TASK_DONE;
      return lua_gettop(L) - 1;            /* results above msgh */
    }
    lua_settop(L, 2);                      /* [msgh, err] */
    if (lcr_iscancelled(L, 2)) {
      lua_Integer id = lcr_cancelled_scope(L, 2);
      t->outcome = CR_TASK_CANCELLED;
      if (t->t.group && id != (lua_Integer)t->t.scope.id &&
          id != (lua_Integer)t->t.group->scope.id)
        ((lcr_Group *)t->t.group)->ncancelled++;   /* by an outer scope */
      if (id == (lua_Integer)t->t.scope.id)
        t->t.scope.cancel_caught = 1;
      else if (t->t.group && id == (lua_Integer)t->t.group->scope.id)
        t->t.group->scope.cancel_caught = 1;
      return 1;
    }
    t->outcome = CR_TASK_FAILED;
    /* A root task's error goes to run; one that g:start is still waiting
    ** for goes to that caller, and is not a failure of the group. */
    if (t->t.group == NULL || t->start_waiting) return 1;
    lcr_pushtask(L, t->E, &t->t);                          /* 3 */
    lua_getiuservalue(L, 3, LCR_UV_GROUP);                 /* 4 */
    if (status != LUA_ERRMEM &&
        lua_getiuservalue(L, 4, LCR_GUV_ONERROR) == LUA_TFUNCTION) {
      lua_pushvalue(L, 2);
      lua_pushvalue(L, 3);
      return task_main_k(L, lua_pcallk(L, 2, 1, 1, STAGE_ONERROR,
                                       task_main_k), STAGE_ONERROR);
    }
    lua_settop(L, 4);
    return task_fail(L, t, 2, status == LUA_ERRMEM);
  }
  /* STAGE_ONERROR: [msgh, err, task, group, result or error] */
  if (status == LUA_OK || status == LUA_YIELD) {
    if (lua_toboolean(L, 5)) {             /* handled: not collected */
      lua_settop(L, 2);
      return 1;
    }
    lua_settop(L, 4);
    return task_fail(L, t, 2, 0);
  }
  if (lcr_iscancelled(L, 5)) {             /* keep the original error */
    lua_settop(L, 4);
    return task_fail(L, t, 2, 0);
  }
  return task_fail(L, t, 5, status == LUA_ERRMEM);
}

/* Body of every task coroutine: [fn, args...] */
static int task_main(lua_State *L) {
  int nargs = lua_gettop(L) - 1;
  lua_rawgeti(L, LUA_REGISTRYINDEX, lcr_state(L)->msgh_ref);
  lua_insert(L, 1);                          /* [msgh, fn, args...] */
  return task_main_k(L, lua_pcallk(L, nargs, LUA_MULTRET, 1, STAGE_BODY,
                                   task_main_k), STAGE_BODY);
}

/*
** Runs on the next Lua instruction after a bare coroutine.yield was
** resumed, so the error points at the line that yielded.
*/
static void bare_yield_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_where(L, 0);                    /* the line that yielded */
  lua_pushfstring(L, "%sattempt to yield from a corral task with coroutine.yield "
                "(corral owns the task's coroutine: use corral.checkpoint() "
                "to let other tasks run)", lua_tostring(L, -1));
  lua_error(L);
}

static void task_finish(lcr_Engine *E, lcr_Task *t) {
  lua_State *L = E->L;
  cr_task_done(&t->t, t->outcome);
  lcr_clearcancel(L, E, &t->t.scope);
  lcr_pushanchors(L, E);
  luaL_unref(L, -1, t->ref);
  t->ref = LUA_NOREF;
  E->nrefs--;
  lua_pop(L, 1);
}

/* The engine's resume callback. */
static void task_run(cr_task_t *ct) {
  lcr_Task *t = (lcr_Task *)ct;
  lcr_Engine *E = t->E;
  lua_State *co = t->co;
  int nres = 0, st;
  t->parked = 0;
  st = lua_resume(co, E->L, t->nargs, &nres);
  t->nargs = 0;
  if (st == LUA_YIELD) {
    lua_pop(co, nres);
    if (t->parked) return;
    /* A yield corral did not ask for: resume it at once and fail there. */
    lua_sethook(co, bare_yield_hook, LUA_MASKCOUNT, 1);
    cr_task_yield(ct);
    return;
  }
  if (st != LUA_OK) {
    /* An error escaped task_main itself (out of memory while recording a
    ** failure): the task failed, and its group must still hear of it. */
    t->outcome = CR_TASK_FAILED;
    nres = 1;
    if (t->t.group && !t->start_waiting) cr_group_fail(t->t.group, 1);
  }
  t->nres = nres;
  task_finish(E, t);
}

/*
** A new task running fn(args...): fn at index fn, the nargs arguments on
** top of the stack. Pushes the Task; anchors it while it lives. The engine
** task is initialised last, once nothing can raise. [-0, +1, m]
*/
lcr_Task *lcr_newtask(lua_State *L, lcr_Engine *E, int fn, int nargs) {
  lcr_State *S = E->S;
  int first = lua_gettop(L) - nargs + 1, i;
  lcr_Task *t;
  lua_State *co;
  fn = lua_absindex(L, fn);
  t = lua_newuserdatauv(L, sizeof *t, LCR_TASK_NUV);
  memset(t, 0, sizeof *t);
  t->t.status = CR_TASK_SCHEDULED;
  luaL_setmetatable(L, LCR_TASK);
  co = lua_newthread(L);
  lua_setiuservalue(L, -2, LCR_UV_CO);
  t->co = co;
  t->E = E;
  t->epoch = E->epoch;
  if (!lua_checkstack(co, nargs + 2))
    luaL_error(L, "too many arguments to a task");
  lua_rawgeti(L, LUA_REGISTRYINDEX, S->task_main_ref);
  lua_pushvalue(L, fn);
  lua_xmove(L, co, 2);
  for (i = 0; i < nargs; i++) lua_pushvalue(L, first + i);
  lua_xmove(L, co, nargs);
  t->nargs = nargs + 1;
  lcr_pushanchors(L, E);
  lua_pushvalue(L, -2);
  t->ref = luaL_ref(L, -2);
  E->nrefs++;
  lua_pop(L, 1);
  cr_task_init(&E->e, &t->t, task_run, t);
  return t;
}

lcr_Task *lcr_checktask(lua_State *L, int idx) {
  return lcr_checkself(L, idx, LCR_MT_TASK, LCR_TASK);
}

/* Push `true, results...` or `false, err` of a finished task. */
static int push_outcome(lua_State *L, lcr_Task *t) {
  int n = t->nres, i, base;
  if (!lua_checkstack(L, n + 2) || !lua_checkstack(t->co, n + 1))
    return luaL_error(L, "too many results");
  lua_pushboolean(L, t->outcome == CR_TASK_DONE);
  base = lua_gettop(t->co) - n + 1;
  for (i = 0; i < n; i++) lua_pushvalue(t->co, base + i);
  lua_xmove(t->co, L, n);
  return n + 1;
}

static int task_wait_k(lua_State *L, int status, lua_KContext ctx) {
  lcr_Task *w = lcr_checkblocking(L, "wait");
  lcr_Task *t = lua_touserdata(L, 1);
  (void)ctx;
  if (status == LUA_YIELD && w->t.wake_status == 0 && t->t.finished)
    return push_outcome(L, t);
  lcr_checkcancel(L, w);
  if (t->t.finished) return push_outcome(L, t);
  cr_task_join(&w->t, &t->t);
  return lcr_yield(L, w, 0, task_wait_k);
}

static int task_wait(lua_State *L) {
  lcr_Task *t = lcr_checktask(L, 1);
  lcr_Task *w = lcr_checkblocking(L, "wait");
  lua_settop(L, 1);
  if (w == t) return luaL_error(L, "a task cannot wait for itself");
  if (!t->t.finished && !lcr_alive(lcr_state(L), t->E, t->epoch))
    return luaL_error(L, "task belongs to a corral.run that has ended");
  return task_wait_k(L, LUA_OK, 0);
}

static int task_cancel(lua_State *L) {
  lcr_Task *t = lcr_checktask(L, 1);
  lcr_State *S = lcr_state(L);
  if (!lua_isnoneornil(L, 2)) luaL_checkstring(L, 2);
  if (t->t.finished || !lcr_alive(S, t->E, t->epoch)) return 0;
  if (cr_scope_cancel(&t->t.scope, CR_SRC_EXPLICIT))
    lcr_setcancel(L, t->E, &t->t.scope, 2, t->E->e.current);
  return 0;
}

static int task_traceback(lua_State *L) {
  lcr_Task *t = lcr_checktask(L, 1);
  if (t->t.status == CR_TASK_FAILED) {
    lcr_getextra(L, 1, "tb");
    return 1;
  }
  if (t->t.finished) return 0;
  if (t->t.status == CR_TASK_RUNNING && t->co == L) {
    luaL_traceback(L, L, NULL, 1);
    return 1;
  }
  luaL_traceback(L, t->co, NULL, 0);
  return 1;
}

static const char *const status_names[] = {
  "scheduled", "running", "waiting", "done", "failed", "cancelled"
};

static int task__index(lua_State *L) {
  lcr_Task *t = lcr_checktask(L, 1);
  const char *k = luaL_checkstring(L, 2);
  if (strcmp(k, "status") == 0) {
    lua_pushstring(L, status_names[t->t.status]);
  } else if (strcmp(k, "name") == 0) {
    pushname_ud(L, 1, t);
  } else if (strcmp(k, "id") == 0) {
    lua_pushinteger(L, (lua_Integer)t->t.scope.id);
  } else if (strcmp(k, "group") == 0) {
    lua_getiuservalue(L, 1, LCR_UV_GROUP);
  } else {
    return 0;        /* methods were looked up first (index_dispatch) */
  }
  return 1;
}

static int task__tostring(lua_State *L) {
  lcr_Task *t = lcr_checktask(L, 1);
  pushname_ud(L, 1, t);
  lua_pushfstring(L, "corral.Task(%s, %s)", lua_tostring(L, -1),
                  status_names[t->t.status]);
  return 1;
}

static const luaL_Reg task_methods[] = {
  {"wait", task_wait},
  {"cancel", task_cancel},
  {"traceback", task_traceback},
  {NULL, NULL}
};

static const luaL_Reg task_meta[] = {
  {"__index", task__index},
  {"__tostring", task__tostring},
  {NULL, NULL}
};

void lcr_open_task(lua_State *L) {
  lcr_State *S = lua_touserdata(L, -1);
  lcr_register(L, LCR_TASK, task_methods, task_meta);
  lcr_register_mt(L, LCR_TASK, LCR_MT_TASK);
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, task_main, 1);
  S->task_main_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, lcr_msgh, 1);
  S->msgh_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}
