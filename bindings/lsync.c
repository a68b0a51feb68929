/*
** lsync.c -- events, locks, semaphores and channels from Lua.
**
** Every blocking method follows one shape: a continuation `k` that is also
** the direct path. On first entry (LUA_OK) and after an aborted wait it
** checks for cancellation, then tries the operation; a delivered wake-up
** (wake_status 0) returns at once, even if a cancel came since: the value
** was handed over, and the next cancellation point raises instead.
*/
#include <string.h>
#include <ctype.h>
#include <math.h>
#include "lcorral.h"

#define LCR_EVENT "corral.Event"
#define LCR_LOCK "corral.Lock"
#define LCR_SEM "corral.Semaphore"
#define LCR_CHAN "corral.Channel"

typedef struct { cr_event_t ev; } lcr_Event;
/* owner_epoch: the run in which sem.owner was set. Task ids restart with
** each run, so a holder id means that task only in that run. */
typedef struct {
  cr_sem_t sem;
  unsigned is_lock : 1;
  unsigned broken : 1;    /* a lock whose holder ended holding it */
  unsigned owner_epoch;
} lcr_Sem;

/* Note the run after an engine call that may have given the sem a holder. */
static void stamp(lua_State *L, lcr_Sem *s) {
  lcr_Engine *E = lcr_state(L)->eng;
  if (E != NULL) s->owner_epoch = E->epoch;
}

/* The id of the lock's holder if E's run gave it, else 0 (none, or a
** holder from an earlier run, which has ended). */
uint64_t lcr_lock_holder(const cr_sem_t *sem, const lcr_Engine *E) {
  const lcr_Sem *s = (const lcr_Sem *)sem;
  return E != NULL && s->owner_epoch == E->epoch ? sem->owner : 0;
}

/* 1 if the running task of S's run holds the lock. */
static int held_by_current(const lcr_State *S, const lcr_Sem *s) {
  const cr_task_t *me = S->eng ? S->eng->e.current : NULL;
  return me != NULL && lcr_lock_holder(&s->sem, S->eng) == me->scope.id;
}
typedef struct {
  cr_chan_t ch;
  const void *ring;       /* its ring table: a replaced one is noticed */
} lcr_Chan;

static int delivered(lua_State *L, int status, lcr_Task **tp, const char *fn) {
  lcr_Task *t = lcr_checkblocking(L, fn);
  *tp = t;
  if (status == LUA_YIELD && t->t.wake_status == 0) return 1;
  if (status == LUA_YIELD && t->t.wake_status == CR_ECLOSED) return -1;
  lcr_checkcancel(L, t);
  return 0;
}

/* A wait that got what it asked for without waiting ends with a schedule
** point once a pass's time is up (lcr_done_now); one that waited has had
** its turn. */
static int got_now(lua_State *L, int status, lcr_Task *t, int nres) {
  return status == LUA_OK ? lcr_done_now(L, t, nres, 1) : nres;
}

/* --- Event ----------------------------------------------------------- */

static int l_event(lua_State *L) {
  lcr_Event *e;
  lcr_checknargs(L, 0, NULL);
  e = lua_newuserdatauv(L, sizeof *e, 0);
  cr_event_init(&e->ev);
  luaL_setmetatable(L, LCR_EVENT);
  return 1;
}

static int event_set(lua_State *L) {
  lcr_Event *e = lcr_checkself(L, 1, LCR_MT_EVENT, LCR_EVENT);
  lcr_checknargs(L, 1, NULL);
  cr_event_set(&e->ev);
  return 0;
}

static int event_is_set(lua_State *L) {
  lcr_Event *e = lcr_checkself(L, 1, LCR_MT_EVENT, LCR_EVENT);
  lcr_checknargs(L, 1, NULL);
  lua_pushboolean(L, e->ev.is_set);
  return 1;
}

static int event_wait_k(lua_State *L, int status, lua_KContext ctx) {
  LCR_ENGINE_ONLY(L, status, ctx, event_wait_k);
  lcr_Event *e = lua_touserdata(L, 1);
  lcr_Task *t;
  (void)ctx;
  if (delivered(L, status, &t, "event:wait")) return 0;
  if (cr_event_wait(&e->ev, &t->t)) return got_now(L, status, t, 0);
  return lcr_yield(L, t, 0, event_wait_k);
}

static int event_wait(lua_State *L) {
  lcr_checkself(L, 1, LCR_MT_EVENT, LCR_EVENT);
  lcr_checknargs(L, 1, LCR_NO_TIMEOUT);
  return event_wait_k(L, LUA_OK, 0);
}

/* --- Lock and Semaphore ------------------------------------------------ */

static int event__index(lua_State *L) {
  lcr_Event *e = lcr_checkself(L, 1, LCR_MT_EVENT, LCR_EVENT);
  const char *k = lua_tostring(L, 2);
  /* (methods came first; any other key is nil, as it was) */
  if (lua_type(L, 2) != LUA_TSTRING || strcmp(k, "waiting") != 0) return 0;
  lua_pushinteger(L, (lua_Integer)cr_event_waiting(&e->ev));
  return 1;
}

/*
** A lock whose holder ended without releasing it is broken (as Trio's): its
** waiters wake with an error, and every later acquire raises one, where
** they would wait for ever. A task notes each lock it asks for among its
** rare fields ("locks": lock -> true) before the lock can be its, so that
** nothing allocates once it holds it; when it ends, lcr_locks_orphaned
** breaks the ones it still holds. (lock:with and a <close> variable
** holding the lock release it however the task ends.)
*/
static void note_lock(lua_State *L, lcr_Task *t) {
  lcr_Engine *E = lcr_taskengine(t);
  int task;
  if (!lcr_pushtask(L, E, &t->t)) {
    lua_pop(L, 1);
    return;
  }
  task = lua_gettop(L);
  lcr_getextra(L, task, "locks");
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushlightuserdata(L, t);       /* counted: see lcr_locks_orphaned */
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pushvalue(L, -1);
    lcr_setextra(L, task, "locks");
    E->lock_notes++;
  }
  lua_pushvalue(L, 1);
  if (lua_rawget(L, -2) == LUA_TNIL) {
    lua_pushvalue(L, 1);
    lua_pushboolean(L, 1);
    lua_rawset(L, -4);
  }
  lua_pop(L, 3);
}

/* The task at `task` ends: break the locks it still holds (called only
** while some task noted one: E->lock_notes). Only a table note_lock made
** for this task counts: one put in its AUX with debug.setuservalue, or
** another task's, does not take that task's place in the count. [-0, +0, -] */
void lcr_locks_orphaned(lua_State *L, int task, lcr_Task *t) {
  lcr_Engine *E = lcr_taskengine(t);
  int noted = 0;
  task = lua_absindex(L, task);
  if (!lua_checkstack(L, 4)) return;
  lcr_getextra(L, task, "locks");
  if (lua_istable(L, -1)) {
    lua_pushlightuserdata(L, t);
    noted = lua_rawget(L, -2) == LUA_TBOOLEAN;
    lua_pop(L, 1);
  }
  if (noted) {
    E->lock_notes--;
    lua_pushlightuserdata(L, t);       /* counted once: a host's abandoned
                                       ** task is seen again at its close */
    lua_pushnil(L);
    lua_rawset(L, -3);                 /* (a key that exists: no memory) */
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lcr_Sem *s;
      lua_pop(L, 1);
      s = lcr_testtype(L, E->S, -1, LCR_MT_LOCK);
      if (s != NULL && s->is_lock &&
          s->sem.value == 0 &&
          lcr_lock_holder(&s->sem, E) == t->t.scope.id) {
        s->broken = 1;
        cr_sem_break(&s->sem);
      }
    }
  }
  lua_pop(L, 1);
}

static int broken_error(lua_State *L, const lcr_Sem *s, const char *fn) {
  int earlier = lcr_lock_holder(&s->sem, lcr_state(L)->eng) == 0;
  return luaL_error(L, "%s: the lock is broken: the task that held it "
                       "(#%I%s) ended without releasing it (lock:with, or a "
                       "<close> variable holding the lock, releases it "
                       "however a task ends)", fn, (lua_Integer)s->sem.owner,
                       earlier ? " of an earlier run" : "");
}

/* A lock or a semaphore (their methods checked which: checkkind). */
static lcr_Sem *checksem(lua_State *L) {
  lcr_Sem *s = lcr_testself(L, 1, LCR_MT_LOCK);
  /* (the two have one size: a semaphore given a lock's metatable, or the
  ** other way round, is told by what it was made as) */
  if (s != NULL && !s->is_lock) s = NULL;
  if (s == NULL && (s = lcr_testself(L, 1, LCR_MT_SEM)) != NULL && s->is_lock)
    s = NULL;
  if (s == NULL) lcr_selferror(L, 1, "corral.Lock or corral.Semaphore");
  return s;
}

/* A method of a lock or semaphore as the user called it. */
enum { SEM_ACQUIRE, SEM_WITH, SEM_RELEASE };
static const char *semcall(const lcr_Sem *s, int method) {
  static const char *const names[2][3] = {
    {"semaphore:acquire", "semaphore:with", "semaphore:release"},
    {"lock:acquire", "lock:with", "lock:release"}};
  return names[s->is_lock != 0][method];
}

/* Push a new lock (is_lock) or semaphore. [-0, +1, m] */
static void new_sem(lua_State *L, size_t value, size_t max, int is_lock) {
  lcr_Sem *s = lua_newuserdatauv(L, sizeof *s, 0);
  cr_sem_init(&s->sem, value, max);
  s->is_lock = is_lock != 0;
  s->broken = 0;
  s->owner_epoch = 0;
  luaL_setmetatable(L, is_lock ? LCR_LOCK : LCR_SEM);
}

static int l_lock(lua_State *L) {
  lcr_checknargs(L, 0, NULL);
  new_sem(L, 1, 1, 1);
  return 1;
}

static int l_semaphore(lua_State *L) {
  lua_Integer n;
  if (lua_type(L, 1) == LUA_TNUMBER && !lua_isinteger(L, 1)) {
    /* 1.5 or math.huge (Trio's CapacityLimiter(inf)): say what is wanted
    ** rather than Lua's "number has no integer representation" */
    int isint;
    (void)lua_tointegerx(L, 1, &isint);
    luaL_argcheck(L, isint, 1, lua_tonumber(L, 1) == HUGE_VAL
        ? "permits must be an integer >= 0 (math.huge is not a count; "
          "math.maxinteger is the most a semaphore holds)"
        : "permits must be an integer >= 0");
  }
  n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n >= 0, 1, "permits must be >= 0");
  /* (Trio's Semaphore(1, max_value=1) read as corral.semaphore(1, 1) */
  lcr_checknargs(L, 1, "a semaphore has no maximum");
  /* at most math.maxinteger permits, so s.value stays a Lua integer */
  new_sem(L, (size_t)n, (size_t)LUA_MAXINTEGER, 0);
  return 1;
}

/* ctx of a lock's acquire that gave way before taking the lock: a call
** made afresh now, which does not give way again. */
#define AFTER_TURN 1

/*
** A semaphore's with() keeps a guard, to-be-closed in its frame, saying
** what the call holds: a copy of coroutine.close taking the task's
** coroutine gives back the permit the body held, or the one handed to the
** task while it waited (its wait is aborted only after this, by the task's
** own __close), as a lock's with() does through the lock's __close. A
** lock's acquire that waits keeps one too: a lock handed to the task while
** it waited, its acquire not yet returned, was never the program's (no
** `<close>` could hold it yet), so a close from outside gives it on.
*/
#define LCR_SEMGUARD "corral.SemaphoreWith"
enum { GUARD_NONE, GUARD_WAITING, GUARD_HELD };
typedef struct { lcr_Sem *sem; int state; } lcr_SemGuard;  /* sem: at 1 */

/* The guard at 2 of a lock's acquire that waited, or NULL. */
static lcr_SemGuard *acquire_guard(lua_State *L) {
  return lua_gettop(L) >= 2
    ? lcr_testudata(L, 2, LCR_SEMGUARD, sizeof(lcr_SemGuard)) : NULL;
}

/* A lock's acquire returns (or raises): its guard, if any, lets go. */
static void acquire_done(lua_State *L, lcr_Sem *s) {
  lcr_SemGuard *g = s->is_lock ? acquire_guard(L) : NULL;
  if (g != NULL) g->state = GUARD_NONE;
}

/*
** A lock gives way before it is taken, not after: `l:acquire(); local _
** <close> = l` must leave no yield between the two, where a foreign
** coroutine.close would end the task with the lock held and no <close>
** yet to release it. (A Cancelled that comes meanwhile is raised by the
** call made afresh, nothing taken.) A semaphore, which has no such idiom,
** gives way after, as the other calls do.
*/
static int sem_acquire_k(lua_State *L, int status, lua_KContext ctx) {
  LCR_ENGINE_ONLY(L, status, ctx, sem_acquire_k);
  lcr_Sem *s = lua_touserdata(L, 1);
  lcr_Task *t;
  int d;
  if (ctx == AFTER_TURN) status = LUA_OK;
  acquire_done(L, s);              /* (a raise below takes nothing) */
  d = delivered(L, status, &t, semcall(s, SEM_ACQUIRE));
  if (d < 0 || (d == 0 && s->broken))
    return broken_error(L, s, semcall(s, SEM_ACQUIRE));
  if (d) return 0;
  if (s->is_lock && status == LUA_OK && ctx != AFTER_TURN &&
      s->sem.value > 0 && lcr_time_is_up(L, t, 1))
    return lcr_reschedule(L, t, AFTER_TURN, sem_acquire_k);
  /* A lock that will wait gets its guard (see lcr_SemGuard) first: made
  ** once queued, a memory error would leave the task in the queue. */
  if (s->is_lock && s->sem.value == 0 && acquire_guard(L) == NULL) {
    lcr_SemGuard *g = lua_newuserdatauv(L, sizeof(lcr_SemGuard), 0);
    g->sem = s;                    /* (kept alive by slot 1) */
    g->state = GUARD_NONE;
    luaL_setmetatable(L, LCR_SEMGUARD);
    lua_toclose(L, 2);
  }
  if (cr_sem_acquire(&s->sem, &t->t)) {
    stamp(L, s);
    return s->is_lock ? 0 : got_now(L, status, t, 0);
  }
  if (s->is_lock) {
    lcr_SemGuard *g = acquire_guard(L);
    if (g != NULL) g->state = GUARD_WAITING;
  }
  return lcr_yield(L, t, 0, sem_acquire_k);
}

/* A lock is not re-entrant: its holder asking again would wait for itself
** for ever, so it is told at once (as Trio and AnyIO do), after the
** checks every blocking call makes (a cancelled holder gets Cancelled). */
static void check_reentry(lua_State *L, lcr_Sem *s, int method) {
  if (s->is_lock && s->sem.value == 0 && held_by_current(lcr_state(L), s)) {
    lcr_checkcancel(L, lcr_checkblocking(L, semcall(s, method)));
    luaL_error(L, "%s: the task already holds this lock (a lock is not "
                  "re-entrant)", semcall(s, method));
  }
}

static int sem_acquire(lua_State *L) {
  lcr_Sem *s = checksem(L);
  lcr_checknargs(L, 1, LCR_NO_TIMEOUT);
  check_reentry(L, s, SEM_ACQUIRE);
  if (s->is_lock)
    note_lock(L, lcr_checkblocking(L, semcall(s, SEM_ACQUIRE)));
  return sem_acquire_k(L, LUA_OK, 0);
}

/*
** s:try_acquire() -> true if a permit was free (now taken), else false.
** Never blocks, so not a cancellation point. A lock is held by a task, so
** its try_acquire is made in one (a coroutine of the user's inside it
** counts as that task), and its holder asking again is told, as acquire
** tells it; a semaphore's may be made anywhere.
*/
static int sem_try_acquire(lua_State *L) {
  lcr_Sem *s = checksem(L);
  lcr_State *S = lcr_state(L);
  cr_task_t *me = S->eng ? S->eng->e.current : NULL;
  lcr_checknargs(L, 1, NULL);
  if (s->is_lock && me == NULL)
    return luaL_error(L, "lock:try_acquire: called outside a corral task "
                         "(a lock is held by a task)");
  if (s->is_lock && s->sem.value == 0 && held_by_current(S, s))
    return luaL_error(L, "lock:try_acquire: the task already holds this "
                         "lock (a lock is not re-entrant)");
  if (s->is_lock && s->sem.value > 0) note_lock(L, (lcr_Task *)me);
  if (!cr_sem_try_acquire(&s->sem, me ? me->scope.id : 0)) {
    lua_pushboolean(L, 0);
    return 1;
  }
  stamp(L, s);
  lua_pushboolean(L, 1);
  return 1;
}

static int sem_release(lua_State *L) {
  lcr_Sem *s = checksem(L);
  /* (s:release(3) once added one permit, silently) */
  lcr_checknargs(L, 1, s->is_lock ? NULL : "a release gives back one "
                 "permit; call it once per permit");
  if (s->is_lock) {
    lcr_State *S = lcr_state(L);
    cr_task_t *me = S->eng ? S->eng->e.current : NULL;
    if (s->sem.value > 0)
      return luaL_error(L, "lock:release: the lock is not held");
    /* Outside any run nobody holds it any more (a task of an ended run
    ** kept it): releasing it there is how it is freed. Inside a run,
    ** only its holder may, even if that holder is gone; and outside a task
    ** while a run goes on (a host's code between two steps or in its own
    ** callbacks, a __gc between two resumes), nobody may. */
    if (s->sem.owner != 0 && !held_by_current(S, s) &&
        (me != NULL || (S->eng != NULL && S->eng->e.stats.tasks > 0)))
      return luaL_error(L, "lock:release: the lock is held by another "
                           "task (only its holder may release it)");
  }
  if (cr_sem_release(&s->sem) != 0)
    return s->is_lock
      ? luaL_error(L, "%s: not held", semcall(s, SEM_RELEASE))
      : luaL_error(L, "%s: the semaphore already has math.maxinteger "
                      "permits", semcall(s, SEM_RELEASE));
  stamp(L, s);                       /* handed to a waiter of this run */
  s->broken = 0;                     /* (freed outside a run) */
  return 0;
}

static lcr_SemGuard *guard_of(lua_State *L, const lcr_Sem *s) {
  return s->is_lock ? NULL : lua_touserdata(L, 2);
}

/* __close of a guard: [guard, err] */
static int semguard__close(lua_State *L) {
  lcr_SemGuard *g = lcr_testudata(L, 1, LCR_SEMGUARD, sizeof *g);
  lcr_Task *t;
  int state;
  if (g == NULL) return 0;
  state = g->state;
  g->state = GUARD_NONE;
  if (state == GUARD_WAITING) {          /* handed a permit, not run since? */
    t = lcr_cothread_task(L);
    if (t->t.status == CR_TASK_SCHEDULED && t->t.wake_status == 0)
      state = GUARD_HELD;
    if (g->sem->is_lock &&         /* (a lock: if still this run's task's) */
        (g->sem->sem.value != 0 ||
         !lcr_alive(lcr_state(L), lcr_taskengine(t), t->epoch) ||
         lcr_lock_holder(&g->sem->sem, lcr_state(L)->eng) != t->t.scope.id))
      state = GUARD_NONE;
  }
  if (state == GUARD_HELD) {
    cr_sem_release(&g->sem->sem);
    if (g->sem->is_lock) stamp(L, g->sem);
  }
  return 0;
}

/* with(fn, ...): [obj, msgh, fn, args...] while fn runs; a semaphore's
** has its guard at 2: [obj, guard, msgh, fn, args...] */
static int sem_with_body_k(lua_State *L, int status, lua_KContext ctx) {
  lcr_Sem *s = lua_touserdata(L, 1);
  lcr_State *S = lcr_state(L);
  lcr_SemGuard *g = guard_of(L, s);
  (void)ctx;
  lcr_unwind_leave(L, (lcr_Task *)S->eng->e.current,
                   status != LUA_OK && status != LUA_YIELD);
  /* A body that released the lock itself must not make with() hand it
  ** on a second time. */
  if (g != NULL || (s->sem.value == 0 && held_by_current(S, s))) {
    if (g != NULL) g->state = GUARD_NONE;
    cr_sem_release(&s->sem);
    stamp(L, s);
  }
  if (status != LUA_OK && status != LUA_YIELD) return lua_error(L);
  /* a loop of with() over a free lock gives way as acquire does, once the
  ** lock is released (the body ran on the task's own coroutine) */
  return lcr_done_now(L, lcr_cothread_task(L),
                      lua_gettop(L) - (g != NULL ? 3 : 2), 1);
}

static int sem_with_k(lua_State *L, int status, lua_KContext ctx) {
  LCR_ENGINE_ONLY(L, status, ctx, sem_with_k);
  lcr_Sem *s = lua_touserdata(L, 1);
  lcr_Task *t;
  lcr_SemGuard *g = guard_of(L, s);
  int nargs = (int)ctx, d = delivered(L, status, &t, semcall(s, SEM_WITH));
  if (d < 0 || (d == 0 && s->broken))
    return broken_error(L, s, semcall(s, SEM_WITH));
  if (!d) {
    if (!cr_sem_acquire(&s->sem, &t->t)) {
      if (g != NULL) g->state = GUARD_WAITING;
      return lcr_yield(L, t, ctx, sem_with_k);
    }
    stamp(L, s);
  }
  if (g != NULL) g->state = GUARD_HELD;
  lcr_unwind_enter(L, t);
  return sem_with_body_k(L, lua_pcallk(L, nargs, LUA_MULTRET, g ? 3 : 2, 0,
                                       sem_with_body_k), 0);
}

static int sem_with(lua_State *L) {
  int nargs = lua_gettop(L) - 2;
  lcr_Sem *s = checksem(L);
  lcr_checkfunction(L, 2);
  check_reentry(L, s, SEM_WITH);
  lua_rawgeti(L, LUA_REGISTRYINDEX, lcr_state(L)->msgh_ref);
  lua_insert(L, 2);
  if (s->is_lock) {
    note_lock(L, lcr_checkblocking(L, semcall(s, SEM_WITH)));
    lua_toclose(L, 1);                 /* see lock__close */
  } else {                             /* see semguard__close */
    lcr_SemGuard *g = lua_newuserdatauv(L, sizeof(lcr_SemGuard), 0);
    g->sem = s;                        /* (kept alive by slot 1) */
    g->state = GUARD_NONE;
    luaL_setmetatable(L, LCR_SEMGUARD);
    lua_insert(L, 2);
    lua_toclose(L, 2);
  }
  return sem_with_k(L, LUA_OK, nargs);
}

/*
** __close of a lock: a `<close>` variable holding it, or lock:with, which
** marks the lock to-be-closed in its own frame. Whenever such a frame goes
** (the block's normal end, an error, a cancel, or a copy of coroutine.close
** taking the task's coroutine from under it), a lock still held by the
** task whose frame it is gets released, so its waiters do not wait for
** ever. with() has released it already on its own way out, so nothing is
** released twice; a lock another task holds now is left alone. The holder
** is known by task id, so this is exact. A frame of a coroutine the holder
** runs (a generator: not a task's) is the holder's too.
*/
static int lock__close(lua_State *L) {
  lcr_State *S = lcr_state(L);
  lcr_Sem *s = lcr_testself(L, 1, LCR_MT_LOCK);
  lcr_Engine *E = S->eng;
  lcr_Task *t;
  int mine;
  if (s == NULL || !s->is_lock || s->sem.value != 0 ||
      lcr_lock_holder(&s->sem, E) == 0)
    return 0;
  t = (lcr_Task *)E->e.current;
  if (t != NULL && lcr_taskco(t) == L) {       /* the task's own way out */
    mine = s->sem.owner == t->t.scope.id;      /* else handed on already */
  } else if (t != NULL && s->sem.owner == t->t.scope.id) {
    mine = lcr_cotask(L, S->mt[LCR_MT_TASK]) == NULL;  /* a generator's */
  } else {                      /* closed from outside: find the holder */
    t = (lcr_Task *)lcr_task_by_id(E, s->sem.owner);
    mine = t != NULL && lcr_taskco(t) == L;
  }
  if (mine) {
    cr_sem_release(&s->sem);
    stamp(L, s);
  }
  return 0;
}

static int sem__index(lua_State *L) {
  lcr_Sem *s = checksem(L);
  const char *k = luaL_checkstring(L, 2);
  if (strcmp(k, "value") == 0) {
    lua_pushinteger(L, (lua_Integer)s->sem.value);
  } else if (strcmp(k, "locked") == 0) {
    lua_pushboolean(L, s->sem.value == 0);
  } else if (strcmp(k, "waiting") == 0) {
    lua_pushinteger(L, (lua_Integer)cr_sem_waiting(&s->sem));
  } else if (s->is_lock && strcmp(k, "broken") == 0) {
    lua_pushboolean(L, s->broken);
  } else {
    return 0;        /* methods were looked up first (index_dispatch) */
  }
  return 1;
}

/* --- Channel ----------------------------------------------------------- */

/* A capacity of math.huge: no bound (SIZE_MAX slots, more than any
** math.maxinteger a program may ask for). */
#define CHAN_UNBOUNDED SIZE_MAX
/* Slots of the ring made with it: storing into them never allocates. */
#define RING_MADE 64
/* An unbounded channel's ring is a table whose keys move on with every
** value: Lua gives a table back the room of a burst only when it inserts
** into one that is full, so a drained ring kept its peak for as long as
** the channel was idle. The receive that drains it, once the keys have
** moved this far, gives it a fresh ring (see fresh_ring). */
#define RING_RESET 4096

/* A channel's capacity as a program reads it: math.huge when unbounded. */
void lcr_pushcapacity(lua_State *L, const cr_chan_t *ch) {
  if (ch->cap == CHAN_UNBOUNDED) lua_pushnumber(L, HUGE_VAL);
  else lua_pushinteger(L, (lua_Integer)ch->cap);
}

static int l_channel(lua_State *L) {
  int unbounded = lua_type(L, 1) == LUA_TNUMBER &&
                  lua_tonumber(L, 1) == HUGE_VAL;
  lua_Integer cap = unbounded ? RING_MADE : luaL_optinteger(L, 1, 0);
  lcr_Chan *c;
  luaL_argcheck(L, cap >= 0, 1, "capacity must be >= 0");
  lcr_checknargs(L, 1, NULL);
  c = lua_newuserdatauv(L, sizeof *c, 1);
  cr_chan_init(&c->ch, unbounded ? CHAN_UNBOUNDED : (size_t)cap);
  luaL_setmetatable(L, LCR_CHAN);
  lua_createtable(L, cap > RING_MADE ? RING_MADE : (int)cap, 0);  /* ring */
  c->ring = lua_topointer(L, -1);
  lua_setiuservalue(L, -2, 1);
  return 1;
}

/*
** Values travel between coroutine stacks: a parked sender keeps its value
** in its own frame ([ch, v]), a parked receiver gets the value pushed onto
** its stack, where its continuation finds it on top. No table, no copy.
*/
static void take_from(lua_State *L, cr_task_t *peer) {     /* [-0, +1, -] */
  lua_State *co = lcr_taskco((lcr_Task *)peer);
  lua_pushvalue(co, 2);
  lua_xmove(co, L, 1);
}

static void give_to(lua_State *L, int v, cr_task_t *peer) { /* [-0, +0, -] */
  lcr_Task *p = (lcr_Task *)peer;
  /* A coroutine closed from outside is taken out of every wait when it is
  ** closed (task__close); should that not have run, nothing is put on its
  ** emptied stack, where the scheduler would call it as a function. */
  if (lua_status(lcr_taskco(p)) != LUA_YIELD) return;
  lua_pushvalue(L, v);
  lua_xmove(L, lcr_taskco(p), 1);
  p->top++;               /* delivered: a foreign resume must not drop it */
}

static int closed_channel(lua_State *L, const char *call) {
  return luaL_error(L, "%s: the channel is closed", call);
}

/* Push the ring of the channel at 1: its buffered items. Only
** debug.setuservalue can take it away; then the channel fails loudly. */
static void pushring(lua_State *L, const char *call) {
  const lcr_Chan *c = lua_touserdata(L, 1);
  if (lua_getiuservalue(L, 1, 1) != LUA_TTABLE ||
      lua_topointer(L, -1) != c->ring)
    luaL_error(L, "%s: the channel's buffer was replaced (debug.setuservalue)",
               call);
}

/*
** Past the slots the ring was made with, storing a value may allocate, and
** fail: the slot the send will fill gets a placeholder first, while
** nothing is committed (a raw set runs no finalizer, so no Lua code can
** send or receive in between), and the value then replaces it in place.
*/
static void make_room(lua_State *L, lcr_Chan *c) {          /* [ring] */
  size_t slot;
  if (c->ch.cap <= RING_MADE || !cr_chan_next_slot(&c->ch, &slot)) return;
  lua_pushboolean(L, 0);
  lua_rawseti(L, -2, (lua_Integer)slot + 1);     /* may raise: no harm */
}

/*
** Send the value at 2 now, if it can go: to the longest waiting receiver,
** or into the buffer. Returns the engine's answer; t NULL (a try) never
** parks. The ring is checked before anything is committed. */
static cr_chan_result_t send_now(lua_State *L, lcr_Chan *c, cr_task_t *t,
                                 const char *call) {
  cr_task_t *peer = NULL;
  size_t slot = 0;
  cr_chan_result_t r;
  pushring(L, call);
  make_room(L, c);
  r = cr_chan_send(&c->ch, t, &peer, &slot);
  if (r == CR_CHAN_HANDOFF) {
    give_to(L, 2, peer);
  } else if (r == CR_CHAN_BUFFERED) {
    lua_pushvalue(L, 2);
    lua_rawseti(L, -2, (lua_Integer)slot + 1);
  }
  lua_pop(L, 1);                           /* the ring */
  return r;
}

/* [ch, v] */
static int chan_send_k(lua_State *L, int status, lua_KContext ctx) {
  LCR_ENGINE_ONLY(L, status, ctx, chan_send_k);
  lcr_Chan *c = lua_touserdata(L, 1);
  lcr_Task *t;
  int d = delivered(L, status, &t, "channel:send");
  (void)ctx;
  if (d > 0) return 0;                     /* a receiver took it */
  if (d < 0) return closed_channel(L, "channel:send");
  switch (send_now(L, c, &t->t, "channel:send")) {
    case CR_CHAN_CLOSED:
      return closed_channel(L, "channel:send");
    case CR_CHAN_PARKED:
      lua_settop(L, 2);                    /* a receiver takes index 2 */
      return lcr_yield(L, t, 0, chan_send_k);
    default:                               /* handed over, or buffered */
      return got_now(L, status, t, 0);
  }
}

/* The value at 2 of a send or try_send. */
static void checkvalue(lua_State *L) {
  luaL_argcheck(L, !lua_isnoneornil(L, 2), 2, "cannot send nil");
  lua_settop(L, 2);
}

static int chan_send(lua_State *L) {
  lcr_checkself(L, 1, LCR_MT_CHAN, LCR_CHAN);
  lcr_checknargs(L, 2, LCR_NO_TIMEOUT);
  checkvalue(L);
  return chan_send_k(L, LUA_OK, 0);
}

/* ch:try_send(v) -> true, or false where send would block. Never blocks,
** so not a cancellation point; callable outside a task too. */
static int chan_try_send(lua_State *L) {
  lcr_Chan *c = lcr_checkself(L, 1, LCR_MT_CHAN, LCR_CHAN);
  cr_chan_result_t r;
  lcr_checknargs(L, 2, NULL);
  checkvalue(L);
  r = send_now(L, c, NULL, "channel:try_send");
  if (r == CR_CHAN_CLOSED) return closed_channel(L, "channel:try_send");
  lua_pushboolean(L, r != CR_CHAN_WOULDBLOCK);
  return 1;
}

/*
** Receive now, if a value is there: pushes the oldest buffered one (a
** waiting sender's value then fills the freed slot) or a waiting sender's,
** else nothing. Returns the engine's answer; t NULL (a try) never parks.
*/
/* For a receive that drains an unbounded channel whose ring has moved far
** (RING_RESET): a fresh ring pushed, made before anything is committed
** (making it may raise); 0 and nothing pushed otherwise. */
static int fresh_ring(lua_State *L, const lcr_Chan *c) {
  if (c->ch.cap != CHAN_UNBOUNDED || c->ch.count != 1 ||
      c->ch.head < RING_RESET)
    return 0;
  lua_createtable(L, RING_MADE, 0);
  return 1;
}

/* The fresh ring on top (popped) takes the drained one's place. */
static void swap_ring(lua_State *L, lcr_Chan *c) {
  c->ring = lua_topointer(L, -1);
  lua_setiuservalue(L, 1, 1);
  (void)cr_chan_rebase(&c->ch);
}

static cr_chan_result_t recv_now(lua_State *L, lcr_Chan *c, cr_task_t *t,
                                 const char *call) {
  cr_task_t *peer = NULL;
  size_t slot = 0;
  cr_chan_result_t r;
  int fresh;
  pushring(L, call);
  fresh = fresh_ring(L, c);                /* [ring, (fresh)] */
  r = cr_chan_recv(&c->ch, t, &peer, &slot);
  if (fresh) {
    if (r == CR_CHAN_BUFFERED && c->ch.count == 0) {
      lua_rawgeti(L, -2, (lua_Integer)slot + 1);  /* [ring, fresh, v] */
      lua_insert(L, -2);
      swap_ring(L, c);                     /* [ring, v] */
      lua_remove(L, -2);
      return r;
    }
    lua_pop(L, 1);
  }
  if (r == CR_CHAN_BUFFERED) {
    lua_rawgeti(L, -1, (lua_Integer)slot + 1);    /* [ring, v] */
    lua_pushnil(L);
    lua_rawseti(L, -3, (lua_Integer)slot + 1);
    if (cr_chan_refill(&c->ch, &peer, &slot)) {
      take_from(L, peer);
      lua_rawseti(L, -3, (lua_Integer)slot + 1);
    }
  } else if (r == CR_CHAN_HANDOFF) {
    take_from(L, peer);
  } else {
    lua_pop(L, 1);                         /* the ring; no value */
    return r;
  }
  lua_remove(L, -2);                       /* the ring */
  return r;
}

/* [ch] */
static int chan_recv_k(lua_State *L, int status, lua_KContext ctx) {
  LCR_ENGINE_ONLY(L, status, ctx, chan_recv_k);
  lcr_Chan *c = lua_touserdata(L, 1);
  lcr_Task *t;
  int d = delivered(L, status, &t, "channel:recv");
  (void)ctx;
  if (d > 0) return 1;                     /* the sender pushed it */
  if (d < 0) {                             /* closed and drained */
    lua_pushnil(L);
    return 1;
  }
  switch (recv_now(L, c, &t->t, "channel:recv")) {
    case CR_CHAN_CLOSED:
      lua_pushnil(L);
      return 1;
    case CR_CHAN_PARKED:
      lua_settop(L, 1);                    /* a sender pushes index 2 */
      return lcr_yield(L, t, 0, chan_recv_k);
    default:
      return got_now(L, status, t, 1);     /* the value, on top */
  }
}

static int chan_recv(lua_State *L) {
  lcr_checkself(L, 1, LCR_MT_CHAN, LCR_CHAN);
  lcr_checknargs(L, 1, LCR_NO_TIMEOUT);
  return chan_recv_k(L, LUA_OK, 0);
}

/* ch:try_recv() -> the oldest value, or nil, "empty" where recv would
** block, or nil, "closed" once closed and drained. Never blocks. */
static int chan_try_recv(lua_State *L) {
  lcr_Chan *c = lcr_checkself(L, 1, LCR_MT_CHAN, LCR_CHAN);
  lcr_checknargs(L, 1, NULL);
  switch (recv_now(L, c, NULL, "channel:try_recv")) {
    case CR_CHAN_CLOSED:
      lua_pushnil(L);
      lua_pushliteral(L, "closed");
      return 2;
    case CR_CHAN_WOULDBLOCK:
      lua_pushnil(L);
      lua_pushliteral(L, "empty");
      return 2;
    default:
      return 1;
  }
}

static int chan_close(lua_State *L) {
  lcr_Chan *c = lcr_checkself(L, 1, LCR_MT_CHAN, LCR_CHAN);
  lcr_checknargs(L, 1, NULL);
  cr_chan_close(&c->ch);
  return 0;
}

/* The iterator of ch:iter(): recv on the channel it closes over (its
** second upvalue; the first is the module's state, as in every function
** of the module), whatever the generic for passes it. */
static int chan_next(lua_State *L) {
  lua_settop(L, 0);
  lua_pushvalue(L, lua_upvalueindex(2));
  return chan_recv_k(L, LUA_OK, 0);
}

/* ch:iter() -> a function returning the next value (nil once closed and
** drained): for v in ch:iter() do ... end, or called directly. */
static int chan_iter(lua_State *L) {
  lcr_checkself(L, 1, LCR_MT_CHAN, LCR_CHAN);
  lcr_checknargs(L, 1, LCR_NO_TIMEOUT);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_pushcclosure(L, chan_next, 2);
  return 1;
}

static int chan__index(lua_State *L) {
  lcr_Chan *c = lcr_checkself(L, 1, LCR_MT_CHAN, LCR_CHAN);
  const char *k = luaL_checkstring(L, 2);
  if (strcmp(k, "closed") == 0) {
    lua_pushboolean(L, c->ch.closed);
  } else if (strcmp(k, "senders_waiting") == 0) {
    lua_pushinteger(L, (lua_Integer)cr_chan_senders_waiting(&c->ch));
  } else if (strcmp(k, "receivers_waiting") == 0) {
    lua_pushinteger(L, (lua_Integer)cr_chan_receivers_waiting(&c->ch));
  } else if (strcmp(k, "capacity") == 0) {
    lcr_pushcapacity(L, &c->ch);
  } else {
    return 0;        /* methods were looked up first (index_dispatch) */
  }
  return 1;
}

static int chan__len(lua_State *L) {
  lcr_Chan *c = lcr_checkself(L, 1, LCR_MT_CHAN, LCR_CHAN);
  lua_pushinteger(L, (lua_Integer)c->ch.count);
  return 1;
}

/* --- tostring --------------------------------------------------------- */

/* ", N waiting" when N > 0. */
static void add_waiting(lua_State *L, luaL_Buffer *b, size_t n) {
  if (n == 0) return;
  lua_pushfstring(L, ", %I waiting", (lua_Integer)n);
  luaL_addvalue(b);
}

/* corral.Event(set | not set[, N waiting]) */
static int event__tostring(lua_State *L) {
  lcr_Event *e = lcr_checkself(L, 1, LCR_MT_EVENT, LCR_EVENT);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, e->ev.is_set ? "corral.Event(set" : "corral.Event(not set");
  add_waiting(L, &b, cr_event_waiting(&e->ev));
  luaL_addchar(&b, ')');
  luaL_pushresult(&b);
  return 1;
}

/* corral.Lock(free | held by #id[ of an earlier run] | broken[, N waiting])
** and corral.Semaphore(N permits[, M waiting]) */
static int sem__tostring(lua_State *L) {
  lcr_Sem *s = checksem(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (!s->is_lock)
    lua_pushfstring(L, "corral.Semaphore(%I permit%s",
                    (lua_Integer)s->sem.value, s->sem.value == 1 ? "" : "s");
  else if (s->broken)
    lua_pushliteral(L, "corral.Lock(broken");
  else if (s->sem.value > 0)
    lua_pushliteral(L, "corral.Lock(free");
  else
    lua_pushfstring(L, "corral.Lock(held by #%I%s", (lua_Integer)s->sem.owner,
                    lcr_lock_holder(&s->sem, lcr_state(L)->eng) == 0
                      ? " of an earlier run" : "");
  luaL_addvalue(&b);
  add_waiting(L, &b, cr_sem_waiting(&s->sem));
  luaL_addchar(&b, ')');
  luaL_pushresult(&b);
  return 1;
}

/* corral.Channel(queued/capacity[, closed]), capacity "unbounded" */
static int chan__tostring(lua_State *L) {
  lcr_Chan *c = lcr_checkself(L, 1, LCR_MT_CHAN, LCR_CHAN);
  if (c->ch.cap == CHAN_UNBOUNDED)
    lua_pushfstring(L, "corral.Channel(%I/unbounded%s)",
                    (lua_Integer)c->ch.count, c->ch.closed ? ", closed" : "");
  else
    lua_pushfstring(L, "corral.Channel(%I/%I%s)", (lua_Integer)c->ch.count,
                    (lua_Integer)c->ch.cap, c->ch.closed ? ", closed" : "");
  return 1;
}

/* --- registration ---------------------------------------------------- */

static const luaL_Reg event_methods[] = {
  {"set", event_set}, {"is_set", event_is_set}, {"wait", event_wait},
  {NULL, NULL}
};
/* A lock's methods take a lock, a semaphore's a semaphore: each checks
** its own type first (a lock's release given a semaphore would add it a
** permit), then runs the code the two share. */
static void checkkind(lua_State *L, int is_lock) {
  lcr_Sem *s = lcr_testself(L, 1, is_lock ? LCR_MT_LOCK : LCR_MT_SEM);
  if (s == NULL || s->is_lock != is_lock)
    lcr_selferror(L, 1, is_lock ? LCR_LOCK : LCR_SEM);
}
#define SEM_METHOD(m) \
  static int lock_##m(lua_State *L) { checkkind(L, 1); return sem_##m(L); } \
  static int semaphore_##m(lua_State *L) { checkkind(L, 0); return sem_##m(L); }
SEM_METHOD(acquire)
SEM_METHOD(release)
SEM_METHOD(with)
SEM_METHOD(try_acquire)
#undef SEM_METHOD

/* Whether f is a `with`, which re-raises its body's error unchanged (a
** string too: its first traceback stays, as through a scope). */
int lcr_with_passes(lua_CFunction f) {
  return f == lock_with || f == semaphore_with;
}

static const luaL_Reg lock_methods[] = {
  {"acquire", lock_acquire}, {"release", lock_release}, {"with", lock_with},
  {"try_acquire", lock_try_acquire},
  {NULL, NULL}
};
static const luaL_Reg sem_methods[] = {
  {"acquire", semaphore_acquire}, {"release", semaphore_release},
  {"with", semaphore_with}, {"try_acquire", semaphore_try_acquire},
  {NULL, NULL}
};
static const luaL_Reg chan_methods[] = {
  {"send", chan_send}, {"recv", chan_recv}, {"try_send", chan_try_send},
  {"try_recv", chan_try_recv}, {"close", chan_close}, {"iter", chan_iter},
  {NULL, NULL}
};
/* x.k = v on an event, a lock, a semaphore or a channel: their fields are
** read-only ("channel: cannot set field 'capacity' ..."). */
static int sync__newindex(lua_State *L) {
  char kind[16] = "object";              /* "channel" of "corral.Channel" */
  if (luaL_getmetafield(L, 1, "__name") == LUA_TSTRING) {
    const char *name = lua_tostring(L, -1);
    size_t i;
    if (strncmp(name, "corral.", 7) == 0) name += 7;
    for (i = 0; name[i] != '\0' && i < sizeof kind - 1; i++)
      kind[i] = (char)tolower((unsigned char)name[i]);
    kind[i] = '\0';
  }
  return luaL_error(L, "%s: cannot set field '%s' (its fields are read-only)",
                    kind, lcr_push_key(L, 2));
}

static const luaL_Reg sem_meta[] = {
  {"__index", sem__index}, {"__newindex", sync__newindex},
  {"__tostring", sem__tostring}, {NULL, NULL}
};
static const luaL_Reg lock_meta[] = {
  {"__index", sem__index}, {"__newindex", sync__newindex},
  {"__close", lock__close}, {"__tostring", sem__tostring}, {NULL, NULL}
};
static const luaL_Reg chan_meta[] = {
  {"__index", chan__index}, {"__newindex", sync__newindex},
  {"__len", chan__len}, {"__tostring", chan__tostring}, {NULL, NULL}
};
static const luaL_Reg event_meta[] = {
  {"__index", event__index}, {"__newindex", sync__newindex},
  {"__tostring", event__tostring}, {NULL, NULL}
};

const luaL_Reg lcr_sync_funcs[] = {
  {"event", l_event},
  {"lock", l_lock},
  {"semaphore", l_semaphore},
  {"channel", l_channel},
  {NULL, NULL}
};

void lcr_open_sync(lua_State *L) {
  lcr_register(L, LCR_EVENT, event_methods, event_meta);
  lcr_register(L, LCR_LOCK, lock_methods, lock_meta);
  lcr_register(L, LCR_SEM, sem_methods, sem_meta);
  lcr_register(L, LCR_CHAN, chan_methods, chan_meta);
  lcr_register_mt(L, LCR_EVENT, LCR_MT_EVENT, sizeof(lcr_Event));
  lcr_register_mt(L, LCR_LOCK, LCR_MT_LOCK, sizeof(lcr_Sem));
  lcr_register_mt(L, LCR_SEM, LCR_MT_SEM, sizeof(lcr_Sem));
  lcr_register_mt(L, LCR_CHAN, LCR_MT_CHAN, sizeof(lcr_Chan));
  luaL_newmetatable(L, LCR_SEMGUARD);
  lua_pushvalue(L, -2);                /* the state: a lock's asks the run */
  lua_pushcclosure(L, semguard__close, 1);
  lua_setfield(L, -2, "__close");
  lua_pushboolean(L, 0);               /* not for getmetatable's callers */
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);
}
