/*
** ltask.c -- tasks as coroutines: creation, the resume callback the engine
** calls, the body wrapper that turns an error into a failure of the group,
** and the Task methods.
*/
#include <string.h>
#include "lcorral.h"

enum { STAGE_BODY = 0, STAGE_ONERROR = 1 };

/* Registry key of the Task metatable, for debug hooks. */
const char lcr_task_mt_key = 0;

static int task_main_k(lua_State *L, int status, lua_KContext ctx);
static int task_main(lua_State *L);

/* A rarely used field of the task at idx (nil if unset). Read raw: AUX
** may have been replaced with debug.setuservalue. [-0, +1, -] */
void lcr_getextra(lua_State *L, int task, const char *field) {
  if (lua_getiuservalue(L, task, LCR_UV_AUX) == LUA_TTABLE) {
    lua_pushstring(L, field);
    lua_rawget(L, -2);
    lua_remove(L, -2);
  } else {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
}

/* Set it to the value on top (popped). The first one turns AUX into a
** table, which takes the group along. [-1, +0, m] */
void lcr_setextra(lua_State *L, int task, const char *field) {
  task = lua_absindex(L, task);
  if (lua_getiuservalue(L, task, LCR_UV_AUX) != LUA_TTABLE) {
    lua_createtable(L, 0, 4);
    lua_insert(L, -2);
    lua_setfield(L, -2, "group");      /* the group, or nil: a new table */
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, task, LCR_UV_AUX);
  }
  lua_pushstring(L, field);
  lua_rotate(L, -3, -1);               /* [table, field, value] */
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

/*
** Corral's own pcalls around user code on a task's coroutine (the task's
** body and its on_error, a group's body, a scope's, with()) nest, and the
** message handler sees every error that unwinds to the innermost of them.
** In Lua an error raised in a __close handler replaces the one being
** unwound: a cleanup that blocks in a cancelled scope replaces the failure
** it unwinds with a Cancelled, which is no failure, and the failure was
** lost (a sibling's, in an ErrorGroup, too). So the handler notes, for the
** innermost pcall, the last error that is not a live Cancelled (a later
** one replaced it, as Lua says); at that pcall's end a live Cancelled that
** took its place gives way to it. The notes are kept in the task's rare
** fields, at "unwound": [2d - 1] = true and [2d] = the error (nil is an
** error too) for the pcall at depth d, and n = how many. Only the task's
** own coroutine counts (a coroutine of the program's own could be left
** half unwound).
*/
void lcr_unwind_enter(lua_State *L, lcr_Task *t) {
  if (L == t->t.data) t->udepth++;
}

/* [task, err, depth]: note err at depth, in place of an earlier one. [m] */
static int unwind_note_p(lua_State *L) {
  lua_Integer d = lua_tointeger(L, 3);
  lcr_getextra(L, 1, "unwound");
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_createtable(L, 4, 1);
    lua_pushvalue(L, -1);
    lcr_setextra(L, 1, "unwound");
  }
  lua_pushvalue(L, 2);
  lua_rawseti(L, 4, 2 * d);
  if (lua_rawgeti(L, 4, 2 * d - 1) == LUA_TNIL) {
    lua_pushboolean(L, 1);
    lua_rawseti(L, 4, 2 * d - 1);
    lua_getfield(L, 4, "n");
    lua_pushinteger(L, lua_tointeger(L, -1) + 1);
    lua_setfield(L, 4, "n");
  }
  ((lcr_Task *)lua_touserdata(L, 1))->unoted = 1;
  return 0;
}

/* The error at err begins, or goes on, unwinding to the innermost pcall
** of the task at `task` (the message handler's call). Out of memory, it is
** not noted. [-0, +0, -] */
void lcr_unwind_note(lua_State *L, int task, int err) {
  lcr_Task *t = lua_touserdata(L, task);
  if (L != t->t.data || t->udepth == 0 ||
      lcr_unwinding(L, lcr_taskengine(t), err) == LCR_LIVE)
    return;
  task = lua_absindex(L, task);
  err = lua_absindex(L, err);
  if (!lua_checkstack(L, 8)) return;
  lua_pushcfunction(L, unwind_note_p);
  lua_pushvalue(L, task);
  lua_pushvalue(L, err);
  lua_pushinteger(L, t->udepth);
  (void)lua_pcall(L, 3, 0, 0);         /* (an error: nothing is pushed) */
}

/* Take the note at depth d out of the table on top, pushing the error it
** holds. [-0, +1, -] (slots and fields that exist: no allocation) */
static void unwind_take(lua_State *L, lcr_Task *t, lua_Integer d) {
  lua_Integer n;
  lua_pushnil(L);
  lua_rawseti(L, -2, 2 * d - 1);
  lua_getfield(L, -1, "n");
  n = lua_tointeger(L, -1) - 1;
  lua_pop(L, 1);
  lua_pushinteger(L, n);
  lua_setfield(L, -2, "n");
  if (n <= 0) t->unoted = 0;
  lua_rawgeti(L, -1, 2 * d);
  lua_pushnil(L);
  lua_rawseti(L, -3, 2 * d);
}

/* The end of a pcall around a body (a task's, a group's, a scope's) that
** lcr_unwind_enter counted, with the pcall's status: 1 if the body returned
** (not a bare yield undone: lcr_bare_yield pushes its error), else 0, the
** error on top (a Cancelled that replaced a failure given way). */
int lcr_body_ended(lua_State *L, lcr_Task *t, int status) {
  int ok = (status == LUA_OK || status == LUA_YIELD) && !lcr_bare_yield(L, t);
  lcr_unwind_leave(L, t, !ok);
  return ok;
}

/* The end of the pcall lcr_unwind_enter counted; `failed`: its error is on
** top, and a live Cancelled there gives way to the error it replaced. The
** note goes. [-0, +0, -] */
void lcr_unwind_leave(lua_State *L, lcr_Task *t, int failed) {
  lua_Integer d;
  int top = lua_gettop(L);
  if (L != t->t.data) return;
  d = t->udepth--;
  if (!t->unoted || !lua_checkstack(L, 4)) return;
  if (lcr_pushtask(L, lcr_taskengine(t), &t->t)) {
    lcr_getextra(L, -1, "unwound");
    if (lua_istable(L, -1) && lua_rawgeti(L, -1, 2 * d - 1) != LUA_TNIL) {
      lua_pop(L, 1);
      unwind_take(L, t, d);
      if (failed && lcr_unwinding(L, lcr_taskengine(t), top) == LCR_LIVE)
        lua_copy(L, -1, top);
    }
  }
  lua_settop(L, top);
}

/* Registry key of the metatable of tberr's box: weak values. */
static const char weak_mt_key = 0;

/*
** An error the task's message handler kept with its traceback (tberr),
** the value on top (popped), set at key: held weakly, in a box,
** so that an error the program caught and dropped is not kept alive until
** the task ends (a long-lived task kept its last one, and what it refers
** to). An error still raised, or that the task failed with, is held
** elsewhere. (A weak table keeps a string: the message handler gives it
** one cut short.) [-1, +0, m]
*/
static void box_set(lua_State *L, int task, const char *key) {
  int isnil = lua_isnil(L, -1);
  task = lua_absindex(L, task);
  lua_createtable(L, 2, 0);
  lua_insert(L, -2);
  lua_rawseti(L, -2, 1);
  if (isnil) {                           /* nil kept, not an object gone */
    lua_pushboolean(L, 1);
    lua_rawseti(L, -2, 2);
  }
  lua_rawgetp(L, LUA_REGISTRYINDEX, &weak_mt_key);
  lua_setmetatable(L, -2);
  lcr_setextra(L, task, key);
}

/* Push what the box at key holds, or nil; 0 if there is no box, 2 if it
** holds a nil error, else 1 (its object may have been collected). */
static int box_get(lua_State *L, int task, const char *key) {
  lcr_getextra(L, task, key);
  if (lua_type(L, -1) == LUA_TTABLE) {
    int kept_nil = lua_rawgeti(L, -1, 2) == LUA_TBOOLEAN;
    lua_pop(L, 1);
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
    return kept_nil ? 2 : 1;
  }
  lua_pop(L, 1);
  lua_pushnil(L);
  return 0;
}

/* Push the task's tberr, or nil (unset, or collected). [-0, +1, -] */
void lcr_gettberr(lua_State *L, int task) {
  (void)box_get(L, task, "tberr");
}

/* Keep [tb, err] (on top, popped) as the task's traceback and its error
** (tb, tberr). [-2, +0, m] */
void lcr_keep_traceback(lua_State *L, int task) {
  task = lua_absindex(L, task);
  box_set(L, task, "tberr");
  lcr_setextra(L, task, "tb");
}

/* Whether the task at task kept the error at err (tberr): the same object,
** or for any other value the same value (a string kept cut). [-0, +0, m] */
int lcr_kept_is(lua_State *L, int task, int err) {
  int same;
  task = lua_absindex(L, task);
  err = lua_absindex(L, err);
  same = box_get(L, task, "tberr");
  if (lua_isnil(L, err)) {
    same = same == 2;
  } else if (!lcr_isobject(L, err)) {
    double x = lua_tonumber(L, err), y = lua_tonumber(L, -1);
    lua_pushvalue(L, err);
    lcr_cut_text(L);
    same = lua_rawequal(L, -1, -2) ||        /* NaN is not equal to NaN */
           (lua_type(L, err) == LUA_TNUMBER && lua_type(L, -2) == LUA_TNUMBER &&
            x != x && y != y);
    lua_pop(L, 1);
  } else {
    same = lua_rawequal(L, -1, err);
  }
  lua_pop(L, 1);
  return same;
}

/* [task, err, from_ftb]: see failure_traceback. */
static int set_failure_traceback(lua_State *L) {
  if (lua_toboolean(L, 3)) lcr_getextra(L, 1, "ftb");
  else lua_pushnil(L);
  lua_pushvalue(L, 2);
  lcr_cut_text(L);
  lcr_keep_traceback(L, 1);
  return 0;
}

/*
** The task at task failed with the error at err: its traceback is the
** failure's (ftb: the one its task-level message handler kept, see
** lcr_task_msgh) or, for a failure no handler saw (its coroutine closed
** from outside), none; and err is the error kept with it (a trace's text
** of the failure). Nothing is made for a task that kept nothing;
** protected: memory that runs out leaves them as they were. [-0, +0, -]
*/
static void failure_traceback(lua_State *L, int task, int err, int from_ftb) {
  int top = lua_gettop(L);
  task = lua_absindex(L, task);
  err = lua_absindex(L, err);
  if (lua_getiuservalue(L, task, LCR_UV_AUX) == LUA_TTABLE &&
      lua_checkstack(L, 4)) {
    lua_pushcfunction(L, set_failure_traceback);
    lua_pushvalue(L, task);
    lua_pushvalue(L, err);
    lua_pushboolean(L, from_ftb);
    (void)lua_pcall(L, 3, 0, 0);
  }
  lua_settop(L, top);
}

/*
** The group userdata of the task at idx (nil for a root task); returns
** its type. The engine says which group it is (t.group); AUX keeps its
** userdata for after the group has exited. debug.setuservalue can replace
** AUX: only the task's own group is taken from it; else a task still in
** its group finds it pinned, and otherwise it has none. [-0, +1, -]
*/
int lcr_pushgroupof(lua_State *L, const lcr_State *S, int task) {
  lcr_Task *t = lua_touserdata(L, task);
  cr_group_t *g = t->t.group;
  if (g == NULL) {
    lua_pushnil(L);
    return LUA_TNIL;
  }
  if (lua_getiuservalue(L, task, LCR_UV_AUX) == LUA_TTABLE) {
    lua_pushliteral(L, "group");
    lua_rawget(L, -2);
    lua_remove(L, -2);
  }
  if (lcr_testtype(L, S, -1, LCR_MT_GROUP) &&
      &((lcr_Group *)lua_touserdata(L, -1))->g == g)
    return LUA_TUSERDATA;
  lua_pop(L, 1);
  if (!t->t.finished &&
      lcr_alive((lcr_State *)S, lcr_taskengine(t), t->epoch) &&
      lcr_pushpinned(L, lcr_taskengine(t), &g->scope))
    return LUA_TUSERDATA;
  lua_pushnil(L);
  return LUA_TNIL;
}

/* Name of a task userdata at idx, whether anchored or not. [-0, +1, m] */
static void pushname_ud(lua_State *L, int idx, lcr_Task *t) {
  lcr_getextra(L, idx, "name");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushfstring(L, "task-%I", (lua_Integer)t->t.scope.id);
  }
}

/* The live task of E whose id is id, or NULL (it ended). A walk of the
** task tree: for reports and rare paths, not for hot ones. */
cr_task_t *lcr_task_by_id(lcr_Engine *E, uint64_t id) {
  cr_scope_t *s = NULL;
  while ((s = cr_scope_walk(&E->e, NULL, s)) != NULL)
    if (s->is_task && s->id == id) return cr_scope_owner(s);
  return NULL;
}

/* Name of a task, from its pointer. [-0, +1, m] */
void lcr_pushtaskname(lua_State *L, lcr_Task *t) {
  if (lcr_pushtask(L, lcr_taskengine(t), &t->t)) {
    pushname_ud(L, -1, t);
    lua_remove(L, -2);
  } else {
    lua_pop(L, 1);
    lua_pushfstring(L, "task-%I", (lua_Integer)t->t.scope.id);
  }
}

/*
** The task failed with the error at 3: its group's policy may cancel the
** group, and the error is kept unless max_errors is reached. Recorded
** protected (memory may run out): if even that fails, the failure still
** counts. Stack: [task, msgh, err, group]. Leaves [task, msgh, err].
*/
static int task_fail(lua_State *L, int err, int fatal) {
  lua_settop(L, 5 > err ? 4 : err);
  lcr_fail_group(L, 4, err, 1, fatal);
  lcr_cothread_task(L)->fail_counted = 1;   /* task_main_k: on its coroutine */
  lua_settop(L, 3);                      /* the task's own error stays */
  return 1;
}

/*
** The body ended with the error at 3. A live Cancelled ends the task
** "cancelled" (the engine says whether its own scope caught it or it goes
** on to its group); anything else is a failure. Returns 1 when the task
** ended cancelled.
*/
static int ended_cancelled(lua_State *L, lcr_Task *t) {
  cr_scope_t *to;
  switch (lcr_unwinding(L, lcr_taskengine(t), 3)) {
    case LCR_LIVE:
      switch (cr_task_unwind(&t->t, &to)) {
        case CR_END_ABSORBED:
          return 1;
        case CR_END_PASSED:      /* it is the catcher's Cancelled now */
          lcr_pushcancelled(L, lcr_taskengine(t), to);
          lua_replace(L, 3);
          return 1;
        default:
          break;
      }
      lcr_deadcancel(L, 3, lcr_stray_msg);
      return 0;
    case LCR_DEAD:
      lcr_deadcancel(L, 3, lcr_dead_msg);
      return 0;
    default:
      return 0;
  }
}

/*
** task_main's first two slots hold the task and the message handler, and
** debug.setlocal can write there while the body runs: they are put back
** before anything reads them. The task itself is found through the
** coroutine's extra space, which no Lua code reaches. [-0, +0, -]
*/
static lcr_Task *own_frame(lua_State *L, int msgh) {
  lcr_Task *t = lcr_cothread_task(L);
  if (lua_touserdata(L, 1) != t && lua_checkstack(L, 2)) {
    lcr_pushtask(L, lcr_taskengine(t), &t->t);
    lua_replace(L, 1);
  }
  if (msgh && lua_tocfunction(L, 2) != lcr_task_msgh) {  /* (hot path: no) */
    lua_rawgeti(L, LUA_REGISTRYINDEX, lcr_state(L)->task_msgh_ref);
    lua_replace(L, 2);
  }
  return t;
}

/* Stack: [task, msgh, results or err, (group, on_error's result)] */
static int task_main_k(lua_State *L, int status, lua_KContext ctx) {
  int failing = ctx == STAGE_ONERROR || (status != LUA_OK && status != LUA_YIELD);
  lcr_Task *t = own_frame(L, failing);
  if (ctx == STAGE_BODY) {
    if (lcr_body_ended(L, t, status)) {
      if (cr_task_returned(&t->t) == CR_TASK_DONE) {
        t->outcome = CR_TASK_DONE;
        return lua_gettop(L) - 2;          /* results above msgh */
      }
      lua_settop(L, 2);                    /* a t:cancel no point met: */
      lcr_pushcancelled(L, lcr_taskengine(t), &t->t.scope);   /* 3 */
      t->outcome = CR_TASK_CANCELLED;
      return 1;
    }
    if (status == LUA_OK || status == LUA_YIELD)
      lua_copy(L, -1, 3);                  /* the bare yield's error, not a result */
    lua_settop(L, 3);
    if (!failing) own_frame(L, 1);         /* a bare yield's error */
    if (lcr_unwinding(L, lcr_taskengine(t), 3) != LCR_LIVE)  /* (a cancel */
      failure_traceback(L, 1, 3, 1);     /* takes none: the hot path) */
    if (ended_cancelled(L, t)) {
      t->outcome = CR_TASK_CANCELLED;
      return 1;
    }
    t->outcome = CR_TASK_FAILED;
    /* A root task's error goes to run; one that g:start is still waiting
    ** for goes to that caller, and is not a failure of the group. */
    if (t->t.group == NULL || t->t.starting) return 1;
    if (lcr_pushgroupof(L, lcr_taskengine(t)->S, 1) != LUA_TUSERDATA) {
      cr_group_fail(t->t.group, 1, t->t.scope.id, NULL);  /* counted */
      t->fail_counted = 1;
      lua_settop(L, 3);
      return 1;
    }                                                      /* 4 */
    if (status != LUA_ERRMEM &&
        lua_getiuservalue(L, 4, LCR_GUV_ONERROR) == LUA_TFUNCTION) {
      /* numbered now: its place among the group's failures is when it
      ** failed, however long on_error takes */
      lua_pushinteger(L, ++((lcr_Group *)lua_touserdata(L, 4))->fail_seq);
      lcr_setextra(L, 1, "fail_seq");
      lua_pushvalue(L, 3);               /* for a close meanwhile (see */
      lcr_setextra(L, 1, "onerr");       /* push_closed_error) */
      lua_pushvalue(L, 3);
      lua_pushvalue(L, 1);
      t->in_on_error = 1;
      lcr_unwind_enter(L, t);
      return task_main_k(L, lua_pcallk(L, 2, 1, 2, STAGE_ONERROR,
                                       task_main_k), STAGE_ONERROR);
    }
    return task_fail(L, 3, status == LUA_ERRMEM);
  }
  /* STAGE_ONERROR: [task, msgh, err, group, result or error] */
  t->in_on_error = 0;
  lcr_unwind_leave(L, t, status != LUA_OK && status != LUA_YIELD);
  if (status != LUA_OK && status != LUA_YIELD &&
      lcr_unwinding(L, lcr_taskengine(t), 5) != LCR_LIVE) {
    /* on_error's own error replaces the failure, with its traceback; a
    ** dead or forged Cancelled is an ordinary error */
    failure_traceback(L, 1, 5, 1);
    if (lcr_unwinding(L, lcr_taskengine(t), 5) == LCR_DEAD)
      lcr_deadcancel(L, 5, lcr_dead_msg);
    return task_fail(L, 5, status == LUA_ERRMEM);
  }
  failure_traceback(L, 1, 3, 1);   /* the failure's, as it was */
  if ((status == LUA_OK || status == LUA_YIELD) && lua_toboolean(L, 5)) {
    lua_settop(L, 3);                      /* handled: not collected */
    return 1;
  }
  return task_fail(L, 3, 0);     /* declined, or cancelled while it blocked */
}

/*
** A task's coroutine before it starts: [task_main, task, fn, args...,
** start_guard]. The scheduler resumes it with everything above task_main as
** arguments; a resume from outside (a copy of coroutine.resume) calls the
** value just below its own arguments instead, which is start_guard: it
** raises there, so nothing of the task runs outside the scheduler, and the
** task then fails saying so (lcr_task_run).
*/
static int start_guard(lua_State *L) {
  return luaL_error(L, "a corral task's coroutine was started from "
                       "outside corral (coroutine.resume on a task that had "
                       "not started)");
}

/*
** Body of every task coroutine: [task, fn, args..., start_guard]. The task
** userdata stays at 1 for the coroutine's whole life (see lcr_cotask), and
** is to-be-closed: a close from outside (a copy of coroutine.close) runs
** task__close, which takes the task out of whatever it waits on.
*/
static int task_main(lua_State *L) {
  int nargs = lua_gettop(L) - 3;
  lcr_Task *t = lcr_cothread_task(L);        /* (as own_frame finds it) */
  lua_settop(L, -2);                         /* start_guard */
  lua_toclose(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, lcr_state(L)->task_msgh_ref);
  lua_insert(L, 2);                          /* [task, msgh, fn, args...] */
  lcr_unwind_enter(L, t);
  return task_main_k(L, lua_pcallk(L, nargs, LUA_MULTRET, 2, STAGE_BODY,
                                   task_main_k), STAGE_BODY);
}

static const char bare_yield_msg[] =
  "attempt to yield from a corral task with coroutine.yield (corral owns "
  "the task's coroutine: use corral.checkpoint() to let other tasks run)";

/*
** The task whose coroutine co is, or NULL: the outermost frame of a task's
** coroutine is task_main, whose first slot holds the task. That frame is
** checked to be task_main itself: a coroutine of the program's own whose
** function was handed a task (coroutine.resume(co, t)) has a task as its
** first local too, and is no task's. Works on a running or a suspended
** coroutine. [-0, +0, -]
*/
lcr_Task *lcr_cotask(lua_State *co, const void *task_mt) {
  lua_Debug ar;
  lcr_Task *t = NULL;
  int level = 0;
  if (!lua_checkstack(co, 2)) return NULL;
  if (lua_getstack(co, 0, &ar)) {
    int is_main;
    level = lcr_last_level(co, NULL);
    if (!lua_getstack(co, level, &ar) || !lua_getinfo(co, "f", &ar))
      return NULL;
    is_main = lua_tocfunction(co, -1) == task_main;
    lua_pop(co, 1);
    if (!is_main || lua_getlocal(co, &ar, 1) == NULL) return NULL;
  } else if (lua_status(co) == LUA_OK && lua_gettop(co) >= 2 &&
             lua_tocfunction(co, 1) == task_main) {
    lua_pushvalue(co, 2);              /* not started: [task_main, task..] */
  } else {
    return NULL;
  }
  if (lua_getmetatable(co, -1)) {
    if (lua_topointer(co, -1) == task_mt) t = lua_touserdata(co, -2);
    lua_pop(co, 1);
  }
  lua_pop(co, 1);
  if (t == NULL) return NULL;
  /* (the run of an abandoned task has ended: it let its coroutine go) */
  return lcr_taskco(t) == co || (lcr_taskco(t) == NULL && t->ref > 0) ? t
                                                                     : NULL;
}

/* The hook of t's coroutine co goes back to the task's own (none without
** a task), which bare_yield_hook stood in for. */
static void give_back_hook(lua_State *co, lcr_Task *t) {
  lcr_Engine *E = t ? lcr_taskengine(t) : NULL;
  if (E && E->yield_hook_of == t) {
    lua_sethook(co, E->yield_hook, E->yield_hook_mask, E->yield_hook_count);
    E->yield_hook_of = NULL;
  } else {
    lua_sethook(co, NULL, 0, 0);
  }
}

/*
** Runs on the next Lua instruction after a bare coroutine.yield was
** resumed, so the error points at the line that yielded. (Only a copy of
** coroutine.yield taken before require "corral" gets here: the library's
** own raises at once, lcr_raise_bare_yield.)
*/
static void bare_yield_hook(lua_State *L, lua_Debug *ar) {
  lcr_Task *t;
  (void)ar;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &lcr_task_mt_key);
  t = lcr_cotask(L, lua_topointer(L, -1));
  lua_pop(L, 1);
  give_back_hook(L, t);
  lua_pushnil(L);
  if (t) {
    t->bare_yield = 0;
    if (lcr_pushtask(L, lcr_taskengine(t), &t->t))
      lcr_getextra(L, -1, "yield_where");     /* noted by note_bare_yield */
    lua_remove(L, -2);
  }
  if (!lua_isstring(L, -1) || lua_rawlen(L, -1) == 0)
    luaL_where(L, 0);                          /* the line after it */
  lua_pushfstring(L, "%s%s", lua_tostring(L, -1), bare_yield_msg);
  lua_error(L);
}

/* Push "file:line: " of the innermost Lua frame of co from level 1 up
** (the caller of coroutine.yield, or of the pcall around it; "" if
** none). [-0, +1, m] */
static void push_yield_where(lua_State *L, lua_State *co) {
  lua_Debug ar;
  int level;
  for (level = 1; level < LCR_WHERE_LEVELS && lua_getstack(co, level, &ar);
       level++)
    if (lua_getinfo(co, "Sl", &ar) && ar.currentline > 0) {
      lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
      return;
    }
  lua_pushliteral(L, "");
}

/*
** coroutine.yield (the library's, as require "corral" wraps it) called on
** the current task's own coroutine L: the error, raised at once where it
** was called, so that a pcall around it catches it as any error. [-0, +0, v]
*/
int lcr_raise_bare_yield(lua_State *L) {
  push_yield_where(L, L);
  lua_pushstring(L, bare_yield_msg);
  lua_concat(L, 2);
  return lua_error(L);
}

/*
** Note where a bare yield of co was called (push_yield_where) as the
** task's "yield_where". Called protected: [lcr_Task, co]. [-0, +0, m]
*/
static int note_where(lua_State *L) {
  lcr_Task *t = lua_touserdata(L, 1);
  lua_State *co = lua_tothread(L, 2);
  push_yield_where(L, co);
  if (lcr_pushtask(L, lcr_taskengine(t), &t->t)) {
    lua_rotate(L, -2, 1);                      /* [task, where] */
    lcr_setextra(L, -2, "yield_where");
  }
  return 0;
}

/*
** A bare coroutine.yield of t's just came back to the scheduler: note
** where it was called (the hook that raises runs on the next instruction,
** which may be on a later line), and arrange for the hook. The note is
** best effort: memory running out only loses it. [-0, +0, -]
*/
static void note_bare_yield(lcr_Engine *E, lcr_Task *t, lua_State *co) {
  lua_State *L = E->L;
  if (lua_checkstack(L, 3)) {
    lua_pushcfunction(L, note_where);
    lua_pushlightuserdata(L, t);
    lua_pushthread(co);
    lua_xmove(co, L, 1);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) lua_pop(L, 1);
  }
  t->bare_yield = 1;
  if (lua_gethook(co) != bare_yield_hook) {    /* the task's own, kept */
    E->yield_hook_of = t;
    E->yield_hook = lua_gethook(co);
    E->yield_hook_mask = lua_gethookmask(co);
    E->yield_hook_count = lua_gethookcount(co);
  }
  lua_sethook(co, bare_yield_hook, LUA_MASKCOUNT, 1);
}

/*
** A bare yield whose resume reached corral's own continuation with no Lua
** instruction in between (g:spawn(coroutine.yield)): the hook never ran,
** so the continuation reports it. Pushes the error and returns 1 if so.
*/
int lcr_bare_yield(lua_State *L, lcr_Task *t) {
  if (!t->bare_yield) return 0;
  t->bare_yield = 0;
  give_back_hook(L, t);
  lua_pushstring(L, bare_yield_msg);
  return 1;
}

/*
** The task's results (or error), the nres values on top of its coroutine
** co, move into the task at idx (its RES user value: nil, the one value,
** or {v1, ..., vn}), and the coroutine is emptied: a resume or a close
** from outside finds nothing to call or to free, and the coroutine can
** start another task (pool_give) or go to the collector. [-0, +0, m]
*/
static void keep_results(lua_State *L, int idx, lcr_Task *t, lua_State *co) {
  int n = t->nres, i;
  idx = lua_absindex(L, idx);
  if (n > lua_gettop(co)) n = t->nres = lua_gettop(co);   /* (defensive) */
  /* Off the coroutine first, without allocating: a finalizer that the
  ** table's allocation runs finds it empty (a foreign close of it, not
  ** knowing it for a task's any more, then resets nothing of ours). */
  lua_xmove(co, L, n);
  lua_settop(co, 0);
  if (n > 1) {
    lua_createtable(L, n, 0);
    lua_rotate(L, -n - 1, 1);          /* [table, v1, ..., vn] */
    for (i = n; i >= 1; i--) lua_rawseti(L, -1 - i, i);
  }
  if (n > 0) lua_setiuservalue(L, idx, LCR_UV_RES);
}

/*
** The coroutine pool (see LCR_REUSE_KEY: on unless a copy of the original
** coroutine.running was reachable when corral was loaded, lscan.c). A task
** that ended through task_main (done, or cancelled) leaves an empty
** coroutine whose status is LUA_OK: a later spawn may start another task
** on it, which saves creating a thread, its stack and its call frames, and
** collecting the old ones. It is only reused if nothing outside corral can
** hold it: coroutine.running() marks a task exposed (see lcorral.c). Hooks
** are cleared. The pool table is sized at the start of the run, so giving
** back never allocates, and its values are weak: the collector takes the
** coroutines waiting in it, so a stack that grew (a deep recursion) goes
** back with them. (It would not shrink them otherwise: Lua shrinks a
** thread's stack only when it traverses the thread before the atomic
** phase, which its generational mode, lua5.4's and the corral command's
** default, never does for a full collection.)
*/
static void pool_give(lua_State *L, lcr_Engine *E, lcr_Task *t,
                      lua_State *co) {
  if (co == NULL || t->exposed || t->dead || E->npool >= E->pool_max ||
      lua_status(co) != LUA_OK || lua_gettop(co) != 0 ||
      (t->outcome != CR_TASK_DONE && t->outcome != CR_TASK_CANCELLED))
    return;
  lua_sethook(co, NULL, 0, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->pool_ref);
  lua_pushthread(co);
  lua_xmove(co, L, 1);
  lua_rawseti(L, -2, ++E->npool);
  lua_pop(L, 1);
}

/* Push a coroutine for a new task: an idle one, else a new one (the
** collector may have emptied slots of the pool). [-0, +1, m] */
static lua_State *pool_take(lua_State *L, lcr_Engine *E) {
  lua_State *co = NULL;
  if (E->npool == 0) return lua_newthread(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->pool_ref);
  while (co == NULL && E->npool > 0) {
    lua_rawgeti(L, -1, E->npool);
    lua_pushnil(L);
    lua_rawseti(L, -3, E->npool--);
    co = lua_tothread(L, -1);
    if (co == NULL) lua_pop(L, 1);
  }
  if (co == NULL) {
    lua_pop(L, 1);
    return lua_newthread(L);
  }
  lua_remove(L, -2);
  lua_sethook(co, NULL, 0, 0);         /* set while it waited, if reachable */
  return co;
}

/* How many coroutines wait in E's pool (debug_stats). [-0, +0, -] */
int lcr_pool_count(lua_State *L, lcr_Engine *E) {
  int i, n = 0;
  if (E->npool == 0) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->pool_ref);
  for (i = 1; i <= E->npool; i++) {
    n += lua_rawgeti(L, -1, i) == LUA_TTHREAD;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return n;
}

/*
** The task ended: its results move into it, its coroutine goes to the pool
** or to the collector (t.data no longer points to it), and its pair of
** anchor slots joins the free list. Both stay on the stack until then.
*/
static void task_release(lua_State *L, lcr_Engine *E, lcr_Task *t) {
  lua_State *co = lcr_taskco(t);
  int ref = t->ref, i;
  i = lcr_pushanchors(L, E, ref);
  lua_rawgeti(L, -1, i);                   /* the task */
  lua_rawgeti(L, -2, i + 1);               /* its coroutine */
  /* The results first, before anything allocates (the engine's DONE event
  ** may record names): see keep_results. */
  if (co != NULL && lua_isuserdata(L, -2) && lua_checkstack(L, t->nres + 2))
    keep_results(L, -2, t, co);
  cr_task_done(&t->t, t->outcome);
  if (E->lock_notes > 0 && lua_isuserdata(L, -2))
    lcr_locks_orphaned(L, -2, t);
  t->t.data = NULL;                        /* the finished task lets it go */
  pool_give(L, E, t, co);
  /* The slots exist: setting them cannot allocate (nor fail). */
  lua_pushinteger(L, E->anchors_free);
  lua_rawseti(L, -4, i);
  lua_pushboolean(L, 0);                   /* not nil: the slot stays */
  lua_rawseti(L, -4, i + 1);
  E->anchors_free = ref;
  t->ref = LUA_NOREF;
  E->nrefs--;
  lua_pop(L, 3);
}

static void task_finish(lcr_Engine *E, lcr_Task *t) {
  task_release(E->L, E, t);
}

/*
** A task made (lcr_newchild) that its group then refused: a finalizer run
** while it was made stopped the group, or memory ran out. It ends
** cancelled without having run, and lets its anchors go; its coroutine,
** which holds its body, is never reused. [-0, +0, -]
*/
void lcr_drop_task(lua_State *L, lcr_Task *t) {
  t->outcome = CR_TASK_CANCELLED;
  t->dead = 1;
  task_release(L, lcr_taskengine(t), t);
}

/* Push the results (or the error) of a finished task whose userdata is
** at index task. [-0, +nres, m] */
int lcr_pushresults(lua_State *L, int task, lcr_Task *t) {
  int n = t->nres, i;
  if (n == 0) return 0;
  task = lua_absindex(L, task);
  luaL_checkstack(L, n + 1, "too many results");
  lua_getiuservalue(L, task, LCR_UV_RES);
  if (n == 1) return 1;                /* kept as is */
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  for (i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
  lua_remove(L, -n - 1);
  return n;
}

/*
** An error escaped task_main itself (memory ran out while recording a
** failure, or the coroutine was closed from outside): the task failed, and
** its group must still hear of it, with the error if memory allows.
*/
static void task_escaped(lcr_Engine *E, lcr_Task *t, int err) {
  lua_State *L = E->L;
  int top = lua_gettop(L);
  t->outcome = CR_TASK_FAILED;
  if (t->t.group == NULL || t->t.starting || t->fail_counted) return;
  err = lua_absindex(L, err);
  if (!lcr_pushtask(L, E, &t->t) ||
      lcr_pushgroupof(L, E->S, -1) != LUA_TUSERDATA) {
    lua_settop(L, top);
    cr_group_fail(t->t.group, 1, t->t.scope.id, NULL);
    return;
  }
  lcr_fail_group(L, -1, err, -2, 1);   /* [task, group] */
  lua_settop(L, top);
}

/*
** The task's body is gone while what it opened is still linked: its
** coroutine was closed from outside (by a copy of coroutine.close taken
** before require "corral"), or an error escaped task_main itself (memory
** ran out while recording a failure). Groups it opened are cancelled and
** joined first (the task parks until their children end: returns 1), so no
** child outlives its group; then their failures are failures of the
** task's group too. Nothing may be pushed on a closed coroutine: a dead
** coroutine with values on its stack would run again if resumed.
*/
static int task_unwound_dead(lcr_Engine *E, lcr_Task *t) {
  lua_State *L = E->L;
  cr_scope_t *s;
  for (s = t->t.cur; s != NULL && s != &t->t.scope; s = s->parent) {
    cr_group_t *g = (cr_group_t *)s;
    if (!s->is_group || g->nchildren == 0) continue;
    cr_group_body_done(g, CR_END_FAILED);
    cr_scope_cancel(s, CR_SRC_FAILURE, t->t.scope.id, NULL);
    return cr_group_join(g);
  }
  for (s = t->t.cur; s != NULL && s != &t->t.scope; s = s->parent) {
    int top = lua_gettop(L);
    if (!s->is_group || !((cr_group_t *)s)->nerrors) continue;
    if (lcr_pushpinned(L, E, s) &&
        lua_getiuservalue(L, -1, LCR_GUV_ERRORS) == LUA_TTABLE) {
      lcr_push_group_errors(L, -1, (lcr_Group *)s);   /* its first member */
      task_escaped(E, t, -1);
    }
    lua_settop(L, top);
  }
  return 0;
}

/*
** 1 if the task's coroutine is as the scheduler left it: parked (yielded),
** or not started ([task_main, ...]). Otherwise it was closed from outside,
** or started from outside and died in start_guard.
*/
static int co_intact(lua_State *co) {
  int st = lua_status(co);
  return st == LUA_YIELD ||
         (st == LUA_OK && lua_tocfunction(co, 1) == task_main);
}

/* The task's coroutine was closed (or started) from outside: it fails
** saying so. [-0, +1, m] */
static void push_closed_error(lcr_Engine *E, lcr_Task *t, lua_State *co) {
  lua_State *L = E->L;
  /* Closed while its on_error ran: the body's own error (kept beside the
  ** task before on_error ran) is what failed, as when on_error is
  ** cancelled. */
  if (t->in_on_error) {
    if (lcr_pushtask(L, E, &t->t)) {
      lcr_getextra(L, -1, "onerr");
      if (!lua_isnil(L, -1)) {           /* with the failure's traceback */
        failure_traceback(L, -2, -1, 1);
        lua_remove(L, -2);
        return;
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  if (lua_status(co) != LUA_OK)
    lua_pushliteral(L, "the task's coroutine was started from outside "
                       "corral (coroutine.resume on a task that had not "
                       "started)");
  else
    lua_pushliteral(L, "the task's coroutine was closed from outside "
                       "(coroutine.close on a corral task)");
  if (lcr_pushtask(L, E, &t->t))         /* no handler saw it: no traceback */
    failure_traceback(L, -1, -2, 0);
  lua_pop(L, 1);                         /* the task, or nil */
}

static void task_closed(lcr_Engine *E, lcr_Task *t) {
  lua_State *co = lcr_taskco(t);
  t->dead = 1;
  t->nres = 0;
  push_closed_error(E, t, co);
  /* It is the task's error too (for t:wait, a g:start caller, or run for a
  ** root): on top of the coroutine, where keep_results takes it. */
  if (lua_checkstack(co, 1)) {
    lua_pushvalue(E->L, -1);
    lua_xmove(E->L, co, 1);
    t->nres = 1;
  }
  task_escaped(E, t, -1);
  lua_pop(E->L, 1);
}

/* The engine's resume callback. */
void lcr_task_run(cr_task_t *ct) {
  lcr_Task *t = (lcr_Task *)ct;
  lcr_Engine *E = lcr_taskengine(t);
  lua_State *co = lcr_taskco(t);
  int nres = 0, st;
  t->parked = 0;
  if (!t->dead && (t->closed || !co_intact(co)))
    task_closed(E, t);
  if (t->dead) {
    if (!task_unwound_dead(E, t)) task_finish(E, t);
    return;
  }
  t->resuming = 1;
  E->resuming_co = co;
  lcr_busy_before_resume(E, co);
  /* Not started yet: [task_main, task, fn, args...]; else nothing. */
  st = lua_resume(co, E->L, lua_status(co) == LUA_OK ? lua_gettop(co) - 1 : 0,
                  &nres);
  E->resuming_co = NULL;
  lcr_busy_after_resume(co);
  t->resuming = 0;
  if (st == LUA_YIELD) {
    lua_pop(co, nres);
    if (t->parked) return;
    /* A yield corral did not ask for: resume it at once and fail there. */
    note_bare_yield(E, t, co);
    cr_task_yield(ct);
    return;
  }
  if (st != LUA_OK) {
    lua_xmove(co, E->L, 1);
    lua_pushvalue(E->L, -1);
    lua_xmove(E->L, co, 1);            /* on co, where keep_results takes it */
    task_escaped(E, t, -1);
    lua_pop(E->L, 1);
    t->dead = 1;
    t->nres = 1;
    if (!task_unwound_dead(E, t)) task_finish(E, t);
    return;
  }
  t->nres = nres;
  task_finish(E, t);
}

/*
** One more page of anchors, made whole. Making it may run a step of the
** collector, and a finalizer may spawn tasks that take pairs and pages
** meanwhile: the page joins only if there is room for it then (luaL_ref
** runs no step). [-0, +0, m]
*/
static void add_page(lua_State *L, lcr_Engine *E) {
  lcr_anchor_pages_reserve(L, E);
  lua_createtable(L, LCR_ANCHOR_PAGE, 0);
  if (E->npages < E->pages_cap) {
    int r = luaL_ref(L, LUA_REGISTRYINDEX);
    E->anchor_pages[E->npages++] = r;
  } else {
    lua_pop(L, 1);
  }
}

/*
** Anchor the task and its coroutine ([task, co] on top; co popped) in a
** pair of slots: a free pair, else the next one, counted once its page
** exists. Setting a slot of a page cannot fail. Returns the task's slot.
** [-1, +0, m]
*/
static int anchor(lua_State *L, lcr_Engine *E) {
  int ref, i;
  if ((ref = E->anchors_free) != 0) {    /* both slots exist */
    lua_Integer next;
    i = lcr_pushanchors(L, E, ref);
    lua_rawgeti(L, -1, i);
    next = lua_tointeger(L, -1);
    /* a slot is only ever set by corral; one changed through the debug
    ** library ends the free list rather than point outside the pages */
    E->anchors_free = next > 0 && next < E->anchors_used && next % 2 == 1
                    ? (int)next : 0;
    lua_pop(L, 1);
  } else {
    /* The next pair, once its page exists: making a page may run a
    ** finalizer that spawns, and takes pairs, so the pair is read again. */
    while ((ref = E->anchors_used + 1) > E->npages * LCR_ANCHOR_PAGE)
      add_page(L, E);                    /* may raise: nothing taken yet */
    E->anchors_used = ref + 1;
    i = lcr_pushanchors(L, E, ref);
  }
  lua_insert(L, -2);                     /* [task, page, co] */
  lua_rawseti(L, -2, i + 1);
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, i);
  lua_pop(L, 1);
  return ref;
}

/*
** A new task running fn(args...): fn at index fn, the nargs arguments on
** top of the stack. Pushes the Task; anchors it while it lives. The engine
** task is initialised last, once nothing can raise. [-0, +1, m]
*/
lcr_Task *lcr_newtask(lua_State *L, lcr_Engine *E, int fn, int nargs) {
  return lcr_newchild(L, E, fn, nargs, 0, 0);
}

/* The same, for the group userdata at index group and with the name (a
** string, or nil) at index name; 0 = none. */
lcr_Task *lcr_newchild(lua_State *L, lcr_Engine *E, int fn, int nargs,
                       int group, int name) {
  lcr_State *S = E->S;
  int first = lua_gettop(L) - nargs + 1, i, ref;
  lcr_Task *t;
  lua_State *co;
  fn = lua_absindex(L, fn);
  if (group) group = lua_absindex(L, group);
  if (name) name = lua_absindex(L, name);
  if (!lua_checkstack(L, nargs + 5))
    luaL_error(L, "too many arguments to a task");
  t = lua_newuserdatauv(L, sizeof *t, LCR_TASK_NUV);
  memset(t, 0, sizeof *t);             /* status 0: "scheduled" */
  lua_rawgeti(L, LUA_REGISTRYINDEX, S->task_mt_ref);
  lua_setmetatable(L, -2);
  co = pool_take(L, E);                  /* anchored with the task below */
  t->t.data = co;                 /* cr_task_init sets it too */
  *(lcr_Task **)lua_getextraspace(co) = t;    /* see lcr_cothread_task */
  t->t.scope.engine = &E->e;      /* cr_task_init sets it too: early for __gc */
  t->epoch = E->epoch;
  if (!lua_checkstack(co, nargs + 4))
    luaL_error(L, "too many arguments to a task");
  lua_rawgeti(L, LUA_REGISTRYINDEX, S->task_main_ref);
  lua_pushvalue(L, -3);                         /* the task itself */
  lua_pushvalue(L, fn);
  for (i = 0; i < nargs; i++) lua_pushvalue(L, first + i);
  lua_pushcfunction(L, start_guard);
  lua_xmove(L, co, nargs + 4);
  if (group) {
    lua_pushvalue(L, group);
    lua_setiuservalue(L, -3, LCR_UV_AUX);
  }
  if (name && !lua_isnil(L, name)) {
    lua_pushvalue(L, name);
    lcr_setextra(L, -3, "name");
  }
  ref = anchor(L, E);                    /* [task, co] -> [task] */
  t->ref = ref;
  E->nrefs++;
  cr_task_init(&E->e, &t->t, co);
  return t;
}

/* Every task still anchored has ended: its locks break; `release`: it
** lets go of its coroutine too. [-0, +0, -] */
static void anchored_end(lua_State *L, lcr_Engine *E, int release) {
  int ref;
  if (E->nrefs == 0) return;
  for (ref = 1; ref < E->anchors_used; ref += 2) {
    if (lua_rawgeti(L, -1, lcr_pushanchors(L, E, ref)) == LUA_TUSERDATA) {
      lcr_Task *t = lua_touserdata(L, -1);
      if (t->ref == ref) {
        if (release) t->t.data = NULL;
        /* abandoned: it ended, and a lock it held is broken */
        if (E->lock_notes > 0) lcr_locks_orphaned(L, -1, t);
      }
    }
    lua_pop(L, 2);
  }
}

/*
** The run ends with tasks still anchored (abandoned at a deadlock, or an
** error escaped the scheduler): their coroutines are released with the
** anchors, so no task may point to one any longer. (They ended cancelled:
** t:traceback() has nothing to show.) [-0, +0, -]
*/
void lcr_release_tasks(lua_State *L, lcr_Engine *E) {
  anchored_end(L, E, 1);
}

/*
** A C host gave up on its root (lhost.c): the tasks it abandoned ended, as
** a run's do when it closes (lcr_release_tasks), so the locks they hold
** break now, while the root's run is still the locks' (their holder ids
** mean these tasks only in it). The next root would otherwise wait for
** ever on a lock whose holder is gone. Their anchors stay the host's until
** it closes. [-0, +0, -]
*/
void lcr_break_abandoned(lua_State *L, lcr_Engine *E) {
  if (E->lock_notes > 0) anchored_end(L, E, 0);
}

lcr_Task *lcr_checktask(lua_State *L, int idx) {
  return lcr_checkself(L, idx, LCR_MT_TASK, LCR_TASK);
}

/* [t, ...] -> true, results... or false, err of a finished task */
/*
** false and a Cancelled for a task that never ended by itself: its run
** ended with it blocked, at a deadlock that cancelling could not end, or
** when the Lua state closed under the run (os.exit(code, true) in a task).
** It keeps no results (its coroutine is where the run left it), so nothing
** of it is pushed.
*/
static int push_abandoned(lua_State *L) {
  lua_pushboolean(L, 0);
  lcr_pushbarecancelled(L, lcr_state(L), "deadlock", "the task was "
                        "abandoned: its run ended with it still blocked (a "
                        "deadlock that cancelling could not end, or the Lua "
                        "state closed during the run, as os.exit(code, "
                        "true) does)");
  return 2;
}

static int push_outcome(lua_State *L, lcr_Task *t) {
  if (t->outcome == CR_TASK_SCHEDULED) return push_abandoned(L);
  lua_pushboolean(L, t->outcome == CR_TASK_DONE);
  return 1 + lcr_pushresults(L, 1, t);
}

static int task_wait_k(lua_State *L, int status, lua_KContext ctx) {
  LCR_ENGINE_ONLY(L, status, ctx, task_wait_k);
  lcr_Task *w = lcr_checkblocking(L, "task:wait");
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
  lcr_Task *w;
  lcr_checknargs(L, 1, LCR_NO_TIMEOUT);
  w = lcr_checkblocking(L, "task:wait");
  if (w == t) return luaL_error(L, "task:wait: a task cannot wait for itself");
  if (!t->t.finished && !lcr_alive(lcr_state(L), lcr_taskengine(t), t->epoch))
    return luaL_error(L, "task:wait: the task belongs to a corral.run "
                         "that has ended");
  return task_wait_k(L, LUA_OK, 0);
}

static int task_cancel(lua_State *L) {
  lcr_Task *t = lcr_checktask(L, 1);
  lcr_State *S = lcr_state(L);
  lcr_checknargs(L, 2, NULL);
  if (!lua_isnoneornil(L, 2)) luaL_checkstring(L, 2);
  if (t->t.finished || !lcr_alive(S, lcr_taskengine(t), t->epoch)) return 0;
  lcr_cancel(L, lcr_taskengine(t), &t->t.scope, 2);
  return 0;
}

static int task_traceback(lua_State *L) {
  lcr_Task *t = lcr_checktask(L, 1);
  lcr_checknargs(L, 1, NULL);
  /* (inside its group's on_error, a failed task still runs: where it
  ** failed is what is asked for) */
  if (t->in_on_error) {
    lcr_getextra(L, 1, "ftb");             /* (not what on_error caught) */
    return 1;
  }
  if (t->t.status == CR_TASK_FAILED) {
    lcr_getextra(L, 1, "tb");
    return 1;
  }
  if (t->t.finished) return 0;
  if (t->t.status == CR_TASK_RUNNING && lcr_taskco(t) == L) {
    lcr_traceback(L, lcr_state(L), L, NULL, 1);
    return 1;
  }
  if (lcr_taskco(t) == NULL) return 0;   /* its run let its coroutine go */
  {
    lua_Debug ar;                        /* not started (a limit's queue): */
    if (!lua_getstack(lcr_taskco(t), 0, &ar)) return 0;   /* no frame */
  }
  lcr_traceback(L, lcr_state(L), lcr_taskco(t), NULL, 0);
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
    lcr_pushgroupof(L, lcr_state(L), 1);
  } else {
    return 0;        /* methods were looked up first (index_dispatch) */
  }
  return 1;
}

static int task__tostring(lua_State *L) {
  lcr_Task *t = lcr_checktask(L, 1);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "corral.Task(");
  pushname_ud(L, 1, t);
  luaL_tolstring(L, -1, NULL);         /* whole: a name may hold a NUL */
  lua_remove(L, -2);
  luaL_addvalue(&b);
  lua_pushfstring(L, ", %s)", status_names[t->t.status]);
  luaL_addvalue(&b);
  luaL_pushresult(&b);
  return 1;
}

static const luaL_Reg task_methods[] = {
  {"wait", task_wait},
  {"cancel", task_cancel},
  {"traceback", task_traceback},
  {NULL, NULL}
};

/*
** __close of a task: only its own coroutine's outermost slot is marked (by
** task_main), so this runs when that frame goes: at the end of the task
** (the scheduler is resuming it: nothing to do), or when a copy of
** coroutine.close takes the coroutine from under a parked task. Then the
** task's wait is aborted at once, so no channel, lock or event hands
** anything to a body that is gone, and lcr_task_run fails the task. A
** `<close>` on a task handle elsewhere does nothing.
*/
static int task__close(lua_State *L) {
  /* Its own coroutine's task, found by pointer: the extra space of any
  ** other thread is only compared, never read through. */
  lcr_Task *t = lua_touserdata(L, 1);
  if (t == NULL || t != lcr_cothread_task(L) || t->resuming) return 0;
  t->closed = 1;
  if (!t->t.finished && lcr_alive(lcr_state(L), lcr_taskengine(t), t->epoch))
    cr_task_interrupt(&t->t);
  return 0;
}

/* t.x = v: a task's fields are read-only; one setting its name is told
** where a name is given (at spawn). */
static int task__newindex(lua_State *L) {
  const char *k;
  lcr_checktask(L, 1);
  k = lcr_tocname(L, 2);
  if (k != NULL && strcmp(k, "name") == 0)
    return luaL_error(L, "task: cannot set field 'name' (a task's fields "
                         "are read-only; give the name at spawn: "
                         "g:spawn{fn, name = ...})");
  return luaL_error(L, "task: cannot set field '%s' (a task's fields are "
                       "read-only)", lcr_push_key(L, 2));
}

/* Every idle task holds one: its bytes are what bench/'s W5 measures (a
** rare need keeps its state elsewhere: see lcr_Engine.yield_hook_of). */
_Static_assert(sizeof(lcr_Task) <= 168, "a task's userdata grew");

static const luaL_Reg task_meta[] = {
  {"__index", task__index},
  {"__newindex", task__newindex},
  {"__tostring", task__tostring},
  {"__close", task__close},
  {NULL, NULL}
};

void lcr_open_task(lua_State *L) {
  lcr_State *S = lua_touserdata(L, -1);
  lcr_register(L, LCR_TASK, task_methods, task_meta);
  lcr_register_mt(L, LCR_TASK, LCR_MT_TASK, sizeof(lcr_Task));
  luaL_getmetatable(L, LCR_TASK);      /* for hooks, which have no state */
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &lcr_task_mt_key);
  S->task_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, task_main, 1);
  S->task_main_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, lcr_msgh, 1);
  S->msgh_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, lcr_task_msgh, 1);
  S->task_msgh_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_createtable(L, 0, 1);              /* the metatable of tberr's box */
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &weak_mt_key);
}
