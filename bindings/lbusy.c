/*
** lbusy.c -- a stop signal (SIGINT, SIGTERM) that arrives while a task
** computes without ever blocking.
**
** Under the root policy (corral.run{signals = true}, the corral command)
** the engine hears such a signal from libuv, which only tells it when the
** loop turns: a task that never yields would hold Ctrl-C up for ever. So,
** like lua's own interpreter, the run also catches the signal itself (its
** handler is chained in front of libuv's, which still gets every arrival)
** and, when a task is running at that moment, sets a hook on that task's
** coroutine. A task that leaves the CPU by itself within BUSY_GRACE
** instructions hears the signal the usual way, at its own cancellation
** point (the hook goes). Otherwise it is busy: the hook makes it give up
** the CPU (checkpoints without the cancellation check) until the loop has
** turned and libuv has delivered the signal, so that the policy applies as
** ever (the root is cancelled, or the program's own corral.signal waiters
** wake), then once more so that those waiters run; and then, as a
** cancellation point at that instruction, raises the task's Cancelled if
** the task is cancelled now (a shield still holds), giving the task's own
** debug hook back.
**
** The run's debug signal (the command's SIGUSR1), with the root policy or
** without it, has a handler in front too: an arrival that finds a task running hooks it the same way, and a
** task still computing after the grace prints the tree right there, at
** that instruction (its line is where the tree shows it), and goes on
** without giving up the CPU: libuv's delivery of that arrival, when the
** loop turns, prints nothing more.
**
** Signal dispositions are process-wide, so one run at a time does this:
** the first that starts with the policy on or a debug signal, until it
** ends.
*/
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lcorral.h"

static void busy_hook(lua_State *L, lua_Debug *ar);

static const int stop_signals[2] = {SIGINT, SIGTERM};
/* The run served is claimed before it is set up; whether its stop signals
** have the handler in front (the root policy), or only its debug signal. */
static atomic_int busy_claimed;
static int busy_stops;
/* The run's debug signal with a handler in front, or 0; whether it may be
** sent on to the run's thread (it did not block it). */
static int peek_signal, peek_forward;
/* A slot's step for the debug signal: the tree at the hook. */
#define PEEK_STEP 4
/* Read on every resume of every run in the process (and by handlers, in
** any thread): atomic, so that runs in other threads read them safely. */
static lcr_Engine *_Atomic busy_engine;      /* the run served, or NULL */
/* Its thread (set before busy_engine), and whether each stop signal may be
** sent on to that thread (it did not block it when the run started). */
static uv_thread_t busy_thread;
static int busy_forward[2];
/* Handlers running now: a run that stops being served waits for them to
** be done with it before its engine or waker may go (any thread may be
** running one). */
static atomic_int busy_inflight, intr_inflight;
/* The tasks hooked, each on its own way (an arrival while one waits to be
** resumed for the rest of its way hooks the task running then too, or
** that one, computing for ever, would keep the loop from ever turning):
** the coroutine, its step (1: give up the CPU, 2: until libuv has
** delivered the signal, 3: the cancellation point; PEEK_STEP: the tree
** for the debug signal, in place), the turns given at
** step 2, whether its last yield was the hook's, the deliveries seen when
** it was hooked, its own hook, put back at step 3, and the count the hook
** runs with (the grace, until it first fires), and the debug signal's
** arrivals that its hook owes a tree (one tree answers them all). Set by
** the handler, by the hook and by corral's debug.sethook and
** debug.gethook, in the run's thread only. */
#define BUSY_SLOTS 64
typedef struct {
  lua_State *co;          /* NULL: free */
  int step, turns, yielded;
  unsigned long seen;
  lua_Hook hook;
  int mask, count;
  int grace;
  volatile sig_atomic_t peeks;  /* the debug signal's arrivals it owes a
                                ** tree (owes_tree) */
} busy_slot;
static busy_slot busy_slots[BUSY_SLOTS];
static volatile sig_atomic_t busy_active;    /* slots in use */
/* The arrivals since libuv last delivered one, in order (SIGINT, SIGTERM;
** the third kills): what busy_in_c_call delivers itself when the loop
** cannot turn. */
static volatile sig_atomic_t busy_seq[3], busy_nseq;
/* An arrival came while no task ran (between passes, while timers fired):
** the next task resumed is hooked as the running one would have been. */
static atomic_int busy_unhooked;
static volatile unsigned long busy_unhooked_seen;  /* signals_seen then */
/* Arrivals since libuv last delivered one: the third kills, as a third
** Ctrl-C always does, even when no task ever lets the loop turn, once the
** first of them is BUSY_STUCK_NS old: a loop that turns as it should (a
** busy task hooked gives the CPU up within its grace) delivers sooner,
** however fast signals come, and a storm of them must not kill a program
** that waits for them. A third that comes sooner arms busy_timer, whose
** check (in a thread of the C library's) sends the signal to the run's
** thread again, with busy_kill set, if the loop still has not delivered
** one by then: the kill does not wait for a fourth. */
static volatile unsigned long busy_mark;
static volatile sig_atomic_t busy_undelivered;
static volatile long long busy_first_ns;      /* the first's arrival */
#define BUSY_STUCK_NS 500000000LL             /* half a second */
static timer_t busy_timer;
static int busy_timer_made;
static volatile sig_atomic_t busy_kill;       /* the next arrival kills */
static volatile unsigned long busy_kill_mark; /* if none delivered since */
static volatile sig_atomic_t busy_third;      /* the third's signal */

/* Instructions a task may run after the signal before it counts as busy: a
** task that yields by itself within them hears the signal the usual way,
** at its own cancellation point. */
#define BUSY_GRACE 1000000

/* Wait until no handler holds what counter counts (a handler that
** interrupted this thread has returned already). */
static void wait_handlers(atomic_int *counter) {
  while (atomic_load(counter) > 0) uv_sleep(0);
}

/* Async-signal-safe: reads, and lua_sethook (which lua's own interpreter
** calls from its SIGINT handler). The run's children die first, as the
** end of the run would have killed them (the engine's die_by does so when
** the loop sees the signal). */
/* CLOCK_MONOTONIC in nanoseconds (clock_gettime is async-signal-safe). */
static long long mono_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return 0;
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die_now(lcr_Engine *E, int sig) {
  struct sigaction dfl;
  cr_engine_kill_children(&E->e);
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, NULL);
  raise(sig);                            /* delivered once the handler returns */
}

/* The slot of co (NULL: a free slot), or NULL. */
static busy_slot *slot_of(const lua_State *co) {
  int i;
  for (i = 0; i < BUSY_SLOTS; i++)
    if (busy_slots[i].co == co) return &busy_slots[i];
  return NULL;
}

/* busy_hook on s's task for the rest of its grace. On the debug signal's
** way the task computes on, unaware: its own hook keeps every event it
** asked for (busy_hook passes them on), counted at its own count, which
** then counts the grace too. */
static void arm(busy_slot *s) {
  int mask = LUA_MASKCOUNT, count = s->grace;
  if (s->step == PEEK_STEP && s->hook != NULL) {
    mask |= s->mask;
    if ((s->mask & LUA_MASKCOUNT) && s->count > 0) count = s->count;
  }
  lua_sethook(s->co, busy_hook, mask, count);
}

/* busy_hook back on s's task, which replaced it (see take_own). How much
** of the grace was left cannot be known (lua_sethook starts the count
** again): half of it, so that a task that keeps setting hooks gets less
** than twice the grace in all, and one that sets a hook and then blocks
** at once still hears the signal at its own cancellation point. `over`:
** none (an arrival found the hook gone: the task has computed since the
** one that hooked it). */
static void rearm(busy_slot *s, int over) {
  if (over) s->grace = 1;
  else if (s->grace > 1) s->grace /= 2;
  arm(s);
}

/* The hook on s's task is not busy_hook: the task (its debug.sethook, a C
** library, a copy of debug.sethook saved before corral was loaded) put its
** own in its place. Had it stayed, the task, computing on, would never
** give up the CPU, and the slot it holds would keep every later arrival
** from hooking it again. That hook is the task's own now, given back at
** the end of the way, and busy_hook goes back on. The three are read
** first and checked: a handler that ran meanwhile (an arrival) has done
** this already, with the same ones. */
static void take_own(busy_slot *s, int over) {
  lua_State *co = s->co;
  lua_Hook hook = lua_gethook(co);
  int mask = lua_gethookmask(co), count = lua_gethookcount(co);
  if (hook == busy_hook || lua_gethook(co) != hook) return;
  s->hook = hook;
  s->mask = mask;
  s->count = count;
  rearm(s, over);
}

/* Hook co, unless it is on its way already: the arrival's grace starts
** (`seen`: the deliveries so far; `step`: where its way starts). With
** every slot taken, it hears the signal at its next yield. One on its way
** whose hook was replaced is hooked again, so no arrival is lost. A stop
** signal that finds it on the debug signal's way (which never gives up
** the CPU) starts its own way there: the loop then turns and delivers
** both, the tree with them (or, inside a C call, busy_in_c_call prints
** the tree owed). */
static void hook_task(lua_State *co, unsigned long seen, int step) {
  busy_slot *s;
  if ((s = slot_of(co)) != NULL) {
    take_own(s, 1);
    if (s->step == PEEK_STEP && step != PEEK_STEP) {
      s->step = step;
      s->seen = seen;
      s->grace = BUSY_GRACE;
      lua_sethook(co, busy_hook, LUA_MASKCOUNT, BUSY_GRACE);
    }
    return;
  }
  if ((s = slot_of(NULL)) == NULL) return;
  s->hook = lua_gethook(co);
  s->mask = lua_gethookmask(co);
  s->count = lua_gethookcount(co);
  s->turns = s->yielded = 0;
  s->seen = seen;
  s->step = step;
  s->grace = BUSY_GRACE;
  s->peeks = step == PEEK_STEP;
  s->co = co;                            /* (last: the slot is taken) */
  busy_active = busy_active + 1;
  arm(s);
}

/* Its way ends: its own hook is back, the slot free. */
static void unhook(busy_slot *s, int restore) {
  if (restore) lua_sethook(s->co, s->hook, s->mask, s->count);
  s->step = 0;
  s->co = NULL;
  busy_active = busy_active - 1;
}

static void busy_arrival(int sig, lcr_Engine *E);

/* Whether an arrival of the debug signal on s's way gets its tree at s's
** hook: on the debug signal's own way (the tree there answers it too); on
** a stop signal's before the hook has fired, the loop delivers it when
** the task gives up the CPU, but one busy inside a C call cannot
** (busy_in_c_call prints it then), nor one that started after the root
** was cancelled (step 3 from its start: its hook prints it, and then it
** may compute on, shielded). */
static int owes_tree(const busy_slot *s) {
  return s->step == PEEK_STEP || s->step == 1 ||
         (s->step == 3 && s->turns == 0);
}

/* The tree for the debug signal's arrivals that s owes one (owes_tree). */
static void owed_tree(lcr_Engine *E, busy_slot *s) {
  int peeks = s->peeks;
  if (peeks > 0) {
    s->peeks = 0;
    lcr_debug_tree_early(E, peeks);
  }
}

/* The debug signal, after libuv's handler: a task running now that is not
** on its way already prints the tree at its hook if it computes past the
** grace. */
static void peek_handler(int sig) {
  lcr_Engine *E;
  atomic_fetch_add(&busy_inflight, 1);
  if ((E = busy_engine) != NULL) {
    uv_thread_t self = uv_thread_self();
    lua_State *co;
    if (!uv_thread_equal(&self, &busy_thread)) {
      if (peek_forward) (void)cr_signal_forward(busy_thread, sig, peek_handler);
    } else if ((co = E->resuming_co) != NULL) {
      busy_slot *s = slot_of(co);
      if (s == NULL) hook_task(co, E->e.signals_seen, PEEK_STEP);
      else if (owes_tree(s)) {           /* its hook prints the tree */
        s->peeks = s->peeks + 1;
        if (s->step == PEEK_STEP) take_own(s, 1);   /* hook replaced? */
      }
    }
  }
  atomic_fetch_sub(&busy_inflight, 1);
}

/*
** After libuv's handler (cr_signal_front calls that first). The arrival is
** handled in the run's own thread, which alone may touch its engine and
** hook its coroutines: a signal that came to another thread (a host's main
** thread, say) is sent on to it, for this handler alone. A signal the run's
** thread blocked when it started is not sent on (it would wait there for
** ever): its busy tasks hear it at their next yield.
*/
static void busy_handler(int sig) {
  lcr_Engine *E;
  atomic_fetch_add(&busy_inflight, 1);
  if ((E = busy_engine) != NULL) {
    uv_thread_t self = uv_thread_self();
    if (uv_thread_equal(&self, &busy_thread))
      busy_arrival(sig, E);
    else if (busy_forward[sig == SIGTERM])
      (void)cr_signal_forward(busy_thread, sig, busy_handler);
  }
  atomic_fetch_sub(&busy_inflight, 1);
}

/* Check, at the time given (CLOCK_MONOTONIC ns), that the loop has
** delivered an arrival (async-signal-safe). */
static void arm_check(long long at) {
  struct itimerspec its;
  if (!busy_timer_made) return;          /* a fourth arrival kills then */
  memset(&its, 0, sizeof its);
  its.it_value.tv_sec = (time_t)(at / 1000000000LL);
  its.it_value.tv_nsec = (long)(at % 1000000000LL);
  (void)timer_settime(busy_timer, TIMER_ABSTIME, &its, NULL);
}

/* busy_timer's check, in a thread of the C library's: three arrivals and
** still none delivered once the first is BUSY_STUCK_NS old (of a later
** window, if the loop delivered meanwhile and three more came: its own
** time is checked again then): the run's thread hears the signal again,
** and that arrival kills. */
static void busy_check(union sigval v) {
  lcr_Engine *E;
  (void)v;
  atomic_fetch_add(&busy_inflight, 1);
  if ((E = busy_engine) != NULL && busy_undelivered >= 3 &&
      __atomic_load_n(&E->e.signals_seen, __ATOMIC_RELAXED) == busy_mark) {
    if (mono_ns() - busy_first_ns < BUSY_STUCK_NS) {
      arm_check(busy_first_ns + BUSY_STUCK_NS);
    } else if (busy_forward[busy_third == SIGTERM]) {
      busy_kill_mark = busy_mark;
      busy_kill = busy_third;
      (void)pthread_kill(busy_thread, busy_third);
    }
  }
  atomic_fetch_sub(&busy_inflight, 1);
}

static void busy_arrival(int sig, lcr_Engine *E) {
  lua_State *co;
  if (busy_kill) {                       /* busy_check sent it: stuck, */
    if (E->e.signals_seen == busy_kill_mark) {   /* unless it was lost (a */
      die_now(E, busy_kill);             /* system() ignored it) and the */
      return;                            /* loop has delivered since */
    }
    busy_kill = 0;
  }
  /* The root is unwinding from a signal already: one more kills (rule 3),
  ** whether or not a busy task, or a generator it resumes, lets the loop
  ** turn to see it. (Not in the turn of the loop that cancelled it: an
  ** arrival then is part of that cancel.) */
  if (E->e.sigroot != NULL && E->e.root_signal != 0 &&
      !(E->e.signal_burst & CR_BURST_ROOT)) {
    die_now(E, sig);
    return;
  }
  if (E->e.signals_seen != busy_mark) {
    busy_mark = E->e.signals_seen;
    busy_undelivered = 0;
    busy_nseq = 0;
  }
  if (busy_undelivered == 0) busy_first_ns = mono_ns();
  if (++busy_undelivered >= 3) {
    if (mono_ns() - busy_first_ns >= BUSY_STUCK_NS) {
      die_now(E, sig);
      return;
    }
    busy_third = sig;
    arm_check(busy_first_ns + BUSY_STUCK_NS);
  }
  __atomic_store_n(&E->e.poll_soon, 1, __ATOMIC_RELAXED);   /* end the pass */
  if (busy_nseq < 3) {                   /* more are part of the third */
    busy_seq[busy_nseq] = sig;
    busy_nseq = busy_nseq + 1;
  }
  if ((co = E->resuming_co) == NULL) {   /* between passes */
    busy_unhooked_seen = E->e.signals_seen;
    busy_unhooked = 1;
    return;
  }
  hook_task(co, E->e.signals_seen, 1);   /* (one on its way stays so) */
}

/* Before each resume: a task resumed after an arrival that found none
** running is hooked as that one would have been, unless libuv delivered
** the arrival meanwhile (the loop turned): it went the usual way then, and
** the task resumed may be the root starting its cleanup, which the hook's
** cancellation point would cut short. (Hooking every task resumed while
** one is on its way was tried: it cut short other tasks' cleanups that
** compute, and a task that then set a debug hook of its own held its slot
** for ever.)
** A task that starts once a signal has cancelled the root (it was spawned
** earlier, and waited behind a busy one) has had no cancellation point
** yet: if it computes past the grace, that instruction is its first one
** (step 3), as for a task the signal found running. */
void lcr_busy_before_resume(lcr_Engine *E, lua_State *co) {
  if (busy_unhooked && busy_engine == E) {
    busy_unhooked = 0;
    if (E->e.signals_seen == busy_unhooked_seen) {
      hook_task(co, busy_unhooked_seen, 1);
      return;
    }
  }
  if (E->e.root_signal && lua_status(co) == LUA_OK && busy_engine == E)
    hook_task(co, E->e.signals_seen, 3);
}

/*
** The hooked task is busy inside a C call (a sort's comparator, a gsub
** callback, a module's main chunk run by require): it cannot give up the
** CPU, so the loop cannot turn to deliver the signal. It is delivered here
** instead, as libuv would (its own delivery of it is skipped), and this
** instruction is the cancellation point: the Cancelled goes up through the
** C call as any error does. The debug signal's arrivals on its way get
** their tree here, first, for the same reason.
*/
static void busy_in_c_call(lcr_Engine *E, lua_State *L, lcr_Task *t,
                           busy_slot *s) {
  owed_tree(E, s);                       /* the debug signal's, first */
  if (E->e.signals_seen == s->seen) {    /* libuv has delivered none */
    sigset_t stops, old;
    int i;
    sigemptyset(&stops);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stops, &old);   /* the counts hold still */
    /* Each arrival in order, as if the loop had turned between them (they
    ** were held up, not sent as one): a waiter woken, then the root
    ** cancelled. Once the root is cancelled the rest were unseen before its
    ** unwinding began: part of that one, not "one more during it". */
    for (i = 0; i < busy_nseq; i++) {
      int sig = busy_seq[i];
      cr_signal_burst_end(&E->e);
      if (E->e.root_signal) (void)cr_signal_absorb(&E->e, sig);
      else (void)cr_signal_deliver(&E->e, sig);
    }
    busy_nseq = 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
  }
  cr_signal_burst_end(&E->e);            /* the unwinding begins here */
  unhook(s, 1);
  lcr_checkcancel(L, t);                 /* may raise the task's Cancelled */
}

/* The hook a coroutine made by a hooked task inherited from it should be
** that task's own: the one the slots in use share, else none. */
static void inherited(lua_State *L) {
  busy_slot *first = NULL;
  int i;
  for (i = 0; i < BUSY_SLOTS; i++) {
    busy_slot *s = &busy_slots[i];
    if (s->co == NULL) continue;
    if (first == NULL) {
      first = s;
    } else if (s->hook != first->hook || s->mask != first->mask ||
               s->count != first->count) {
      first = NULL;
      break;
    }
  }
  if (first) lua_sethook(L, first->hook, first->mask, first->count);
  else lua_sethook(L, NULL, 0, 0);
}

/* The event to the task's own hook, if it asked for it (busy_hook took
** its place with the events it asked for, on the debug signal's way). */
static void pass_on(lua_State *L, lua_Debug *ar, lua_Hook own, int mask) {
  static const int masks[] = {LUA_MASKCALL, LUA_MASKRET, LUA_MASKLINE,
                              LUA_MASKCOUNT, LUA_MASKCALL};
  if (own != NULL && own != busy_hook && ar->event >= 0 &&
      ar->event < (int)(sizeof masks / sizeof *masks) &&
      (mask & masks[ar->event]))
    own(L, ar);
}

/* The debug signal's way: the task's own events go on to its hook; once
** the grace is counted out, the tree, and the task computes on (its own
** hook alone back on it, first: that one may raise, or yield). Each of
** its own events counts as an instruction of the grace: a count that runs
** out inside its hook's Lua function is never heard (lua's own rule), and
** with a line hook that can be every time. */
static void peek_step(lcr_Engine *E, lua_State *L, lua_Debug *ar,
                      busy_slot *s) {
  lua_Hook own = s->hook;
  int mask = s->mask;
  if ((s->grace -= ar->event == LUA_HOOKCOUNT ? lua_gethookcount(L) : 1)
      <= 0) {
    int peeks = s->peeks;    /* (one after this is delivered by the loop) */
    unhook(s, 1);
    lcr_debug_tree_early(E, peeks);
  }
  pass_on(L, ar, own, mask);
}

static void busy_hook(lua_State *L, lua_Debug *ar) {
  lcr_Engine *E = busy_engine;
  lcr_Task *t = E ? (lcr_Task *)E->e.current : NULL;
  busy_slot *s = slot_of(L);
  if (s == NULL) {         /* a coroutine a hooked task made inherited it */
    int count = lua_gethookcount(L);
    inherited(L);
    if (ar->event != LUA_HOOKCOUNT || count == lua_gethookcount(L))
      pass_on(L, ar, lua_gethook(L), lua_gethookmask(L));
    return;
  }
  if (t == NULL || lcr_taskco(t) != L) {           /* the run is over */
    lua_Hook own = s->hook;
    int mask = s->mask;
    if (ar->event == LUA_HOOKCOUNT && lua_gethookcount(L) != s->count)
      mask = 0;                          /* (the grace's count: not its) */
    unhook(s, 1);
    pass_on(L, ar, own, mask);
    return;
  }
  if (s->step == PEEK_STEP) {
    peek_step(E, L, ar, s);
    return;
  }
  /* Give up the CPU until libuv has delivered the arrival (the loop polls
  ** once at least every CR__PASS_BUDGET resumes; bounded, should it never
  ** come), then once more, so that what the delivery woke (a task of the
  ** program in corral.signal) runs; then the cancellation point. */
  if (s->step != 3) {
    if (!lua_isyieldable(L)) {           /* inside a C call */
      busy_in_c_call(E, L, t, s);
      return;
    }
    s->turns = s->step == 1 ? 0 : s->turns + 1;
    s->step = s->step == 1 ||
      (E->e.signals_seen == s->seen && s->turns < 100000) ? 2 : 3;
    s->peeks = 0;                        /* (the loop delivers them) */
    s->grace = 1;                        /* (the grace is over) */
    lua_sethook(L, busy_hook, LUA_MASKCOUNT, 1);
    cr_task_yield(&t->t);
    s->yielded = 1;
    lcr_yield(L, t, 0, NULL);            /* a hook yields with no values */
    return;
  }
  owed_tree(E, s);
  unhook(s, 1);
  lcr_checkcancel(L, t);                 /* may raise the task's Cancelled */
}

/* After each resume of co: a task that left the CPU by itself (blocked,
** yielded or ended) before the hook took it is not busy: the hook goes,
** and the signal reaches it the usual way. */
void lcr_busy_after_resume(lua_State *co) {
  busy_slot *s;
  if (busy_active == 0 || (s = slot_of(co)) == NULL) return;
  if (s->yielded) {
    s->yielded = 0;
    return;
  }
  unhook(s, lua_gethook(co) == busy_hook);   /* (a hook set since is kept) */
}

/* --- the task's own debug hooks ------------------------------------------
**
** A task on its way may set or read its debug hook (a budget around a
** call: read the hook, set one, run, set the one read back). corral's
** debug.sethook and debug.gethook keep busy_hook out of its way: a hook
** it sets is its own (take_own: busy_hook goes back on), and the one it
** reads is its own too, not busy_hook, which debug.gethook would call
** "external hook" and debug.sethook refuse to set back. Each calls the
** function it wraps directly, in its own frame: errors name it as ever.
*/

/* co's slot, if it is on its way in the run this thread serves. */
static busy_slot *own_slot(lua_State *co) {
  uv_thread_t self;
  if (busy_active == 0 || busy_engine == NULL) return NULL;
  self = uv_thread_self();
  return uv_thread_equal(&self, &busy_thread) ? slot_of(co) : NULL;
}

/* The thread a debug function acts on: its first argument, or the caller. */
static lua_State *debug_target(lua_State *L) {
  return lua_isthread(L, 1) ? lua_tothread(L, 1) : L;
}

static int debug_sethook(lua_State *L) {
  lua_State *co = debug_target(L);
  int n = lua_tocfunction(L, lua_upvalueindex(1))(L);
  busy_slot *s = own_slot(co);
  if (s != NULL) take_own(s, 0);
  return n;
}

/* With busy_hook on co, the call sees co's own hook, put there for it (an
** arrival meanwhile puts busy_hook back: then it is called again). */
static int debug_gethook(lua_State *L) {
  lua_CFunction gethook = lua_tocfunction(L, lua_upvalueindex(1));
  lua_State *co = debug_target(L);
  busy_slot *s;
  lua_Hook shown;
  int n;
  for (;;) {
    s = NULL;
    if (lua_gethook(co) == busy_hook) {
      if ((s = own_slot(co)) == NULL) inherited(co);   /* as busy_hook does */
      else lua_sethook(co, s->hook, s->mask, s->count);
    }
    shown = lua_gethook(co);
    n = gethook(L);
    if (lua_gethook(co) == shown) break;
    lua_pop(L, n);
  }
  if (s != NULL && s->co == co) rearm(s, 0);
  return n;
}

static const luaL_Reg debug_guards[] = {
  {"sethook", debug_sethook},
  {"gethook", debug_gethook},
  {NULL, NULL}
};

/* At require: the debug library's sethook and gethook wrapped, unless
** absent, wrapped already, or not plain C functions (one with upvalues,
** someone's wrapper, called in the frame of ours would find ours). */
void lcr_busy_guard_debug(lua_State *L) {
  const luaL_Reg *g;
  int top;
  if (lua_getglobal(L, "debug") != LUA_TTABLE) {
    lua_pop(L, 1);
    return;
  }
  top = lua_gettop(L);
  for (g = debug_guards; g->name != NULL; g++) {
    lua_CFunction f;
    lua_getfield(L, -1, g->name);
    if ((f = lua_tocfunction(L, -1)) == NULL || f == g->func ||
        lua_getupvalue(L, -1, 1) != NULL) {
      lua_settop(L, top);              /* (and the upvalue, if any) */
      continue;
    }
    lua_pushcclosure(L, g->func, 1);
    lua_setfield(L, -2, g->name);
  }
  lua_pop(L, 1);
}

/* The signals this thread blocks (all, if it cannot be told). */
static void blocked_here(sigset_t *cur) {
  if (pthread_sigmask(SIG_BLOCK, NULL, cur) != 0) sigfillset(cur);
}

/* Which stop signals this thread lets in: forward[0] SIGINT, [1] SIGTERM.
** (A system call: its return delivers what is pending here.) */
static void stops_unblocked(int forward[2]) {
  sigset_t cur;
  blocked_here(&cur);
  forward[0] = !sigismember(&cur, SIGINT);
  forward[1] = !sigismember(&cur, SIGTERM);
}

/* busy_timer, whose expiry runs busy_check; 0 if it cannot be made. */
static int make_timer(void) {
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD;
  sev.sigev_notify_function = busy_check;
  return timer_create(CLOCK_MONOTONIC, &sev, &busy_timer) == 0;
}

/* The debug signal's handler in front, if the run has one (its watcher,
** libuv's handler, is on already). */
static void peek_install(lcr_Engine *E) {
  int sig = lcr_debug_signum(E);
  sigset_t cur;
  peek_signal = 0;
  if (sig == 0 || cr_signal_front(sig, peek_handler, 1) != 0) return;
  blocked_here(&cur);
  peek_forward = !sigismember(&cur, sig);
  peek_signal = sig;
}

/* The stop signals' handler in front of both: 0, or -1 if another run's
** is there. */
static int stops_install(void) {
  if (cr_signal_front(SIGINT, busy_handler, 1) != 0) return -1;
  if (cr_signal_front(SIGTERM, busy_handler, 1) != 0) {
    cr_signal_unfront(SIGINT, busy_handler, 0);
    return -1;
  }
  return 0;
}

/*
** From the start of E's run (its watchers, and so libuv's handlers,
** installed). With the root policy on (`stops`), the handler goes in front
** of both stop signals (cr_signal_front, which keeps it there as libuv's
** watchers of any engine start and stop, and every signal waits while it
** runs, as while libuv's own handler, which it calls, runs: that one is
** not re-entrant); with it or not, the run's debug signal gets its own.
** One run in the process at a time: the first to claim it, with the root
** policy or a debug signal.
*/
void lcr_busy_install(lcr_Engine *E, int stops) {
  int unclaimed = 0;
  if (!stops && lcr_debug_signum(E) == 0) return;
  if (!atomic_compare_exchange_strong(&busy_claimed, &unclaimed, 1)) return;
  if (stops && stops_install() != 0) {
    atomic_store(&busy_claimed, 0);
    return;
  }
  busy_stops = stops;
  busy_thread = uv_thread_self();
  stops_unblocked(busy_forward);
  memset(busy_slots, 0, sizeof busy_slots);
  busy_active = 0;
  busy_mark = E->e.signals_seen;
  busy_undelivered = 0;
  busy_nseq = 0;
  busy_unhooked = 0;
  busy_kill = 0;
  busy_timer_made = stops && make_timer();
  peek_install(E);
  if (!stops && peek_signal == 0) {
    atomic_store(&busy_claimed, 0);
    return;
  }
  busy_engine = E;
}

/* Before E's watchers go: the handler out of the way, the hook forgotten. */
void lcr_busy_remove(lcr_Engine *E) {
  int i, unused[2];
  if (busy_engine != E) return;
  busy_engine = NULL;          /* a hook still set finds no run: it goes */
  if (busy_timer_made) {       /* (a check already on its way finds none) */
    (void)timer_delete(busy_timer);
    busy_timer_made = 0;
  }
  wait_handlers(&busy_inflight);
  /* A signal sent on to this thread by a handler that has returned is
  ** pending here: the return from this system call delivers it, to a
  ** handler that finds no run, before the front goes (after, it could
  ** meet the default action). */
  stops_unblocked(unused);
  /* before another run may take the front: the hooks still set go (the
  ** run's coroutines live until its anchors go, after this) */
  for (i = 0; i < BUSY_SLOTS; i++)
    if (busy_slots[i].co != NULL)
      unhook(&busy_slots[i], lua_gethook(busy_slots[i].co) == busy_hook);
  for (i = 0; busy_stops && i < 2; i++)
    cr_signal_unfront(stop_signals[i], busy_handler, 0);
  if (peek_signal) cr_signal_unfront(peek_signal, peek_handler, 0);
  peek_signal = busy_stops = 0;
  atomic_store(&busy_claimed, 0);        /* (last: another run may come) */
}

/* --- lua's own Ctrl-C, without the root policy ---------------------------
**
** lua's interpreter catches SIGINT while it runs a script: its handler sets
** a hook on the main thread that raises "interrupted!" at the next Lua
** instruction there. During corral.run the main thread runs no Lua code
** until the run ends (its tasks run on their own coroutines) and the loop
** sleeps through the signal, so Ctrl-C did nothing. So a run without the
** root policy, started while SIGINT has a handler (not the default, not
** ignored), puts one of its own in front: it calls that handler, then
** wakes the loop. There, if the handler hooked the main thread (it asked
** Lua code to stop), the hook is taken off again and the root is cancelled
** as the root policy would (source "signal", reason "SIGINT"): every
** cleanup runs, and run raises that Cancelled. Any other handler (a host's
** that sets a flag) is only called, as before. lua's handler also puts the
** default action back, so a second Ctrl-C kills the process, as in lua.
** When the run ends, the handler it found is back (unless another one was
** installed meanwhile). One run at a time, as for the root policy.
*/

typedef struct {
  uv_async_t a;
  lcr_Engine *E;
  cr_reason_cb cb;
  lua_State *main;        /* the main thread, and its hook at the start */
  lua_Hook hook;
  int mask, count;
  int lua_asked;          /* lua's handler asked Lua code to stop (and so
                          ** put SIG_DFL back itself) */
} intr_waker;

static intr_waker *_Atomic intr_w;        /* the run served, or NULL */
/* Its engine, compared (never followed) by the other runs' checks: their
** threads must not read the waker, which the served run's thread frees. */
static lcr_Engine *_Atomic intr_engine;
static atomic_int intr_arrived;           /* since the run last looked */

/* After the handler found (cr_signal_front calls that first). */
static void intr_handler(int sig) {
  intr_waker *w;
  (void)sig;
  atomic_fetch_add(&intr_inflight, 1);
  if ((w = intr_w) != NULL) {
    intr_arrived = 1;
    __atomic_store_n(&w->E->e.poll_soon, 1, __ATOMIC_RELAXED);  /* the run looks */
    uv_async_send(&w->a);                /* wakes a poll that blocks */
  }
  atomic_fetch_sub(&intr_inflight, 1);
}

/* A SIGINT came: if the handler asked Lua code to stop, cancel the root. */
static void intr_hear(intr_waker *w) {
  lcr_Engine *E = w->E;
  intr_arrived = 0;
  if (lua_gethook(w->main) == w->hook &&
      lua_gethookmask(w->main) == w->mask &&
      lua_gethookcount(w->main) == w->count)
    return;                              /* the handler asked nothing of Lua */
  lua_sethook(w->main, w->hook, w->mask, w->count);
  w->lua_asked = 1;
  /* (a root that finished meanwhile is not cancelled, but run raises the
  ** signal all the same: it came before run returned) */
  if (E->root != NULL)
    cr_signal_interrupt(&E->e, &E->root->t, SIGINT, w->cb);
}

static void intr_cb(uv_async_t *a) { intr_hear(a->data); }

/* After each step of E's run: a run whose tasks never block (they loop on
** checkpoint) polls nothing, so the waker alone would never be heard. */
void lcr_intr_check(lcr_Engine *E) {
  if (intr_arrived && intr_engine == E) intr_hear(intr_w);
}

static void intr_close_cb(uv_handle_t *h) { free(h->data); }

/* From the start of E's run without the root policy (L: the thread that
** called run). cb records the reason, as for the root policy. */
void lcr_intr_install(lcr_Engine *E, lua_State *L, cr_reason_cb cb) {
  intr_waker *w;
  if ((w = malloc(sizeof *w)) == NULL) return;
  if (uv_async_init(E->e.loop, &w->a, intr_cb) != 0) {
    free(w);
    return;
  }
  uv_unref((uv_handle_t *)&w->a);        /* never keeps the run alive */
  w->a.data = w;
  w->E = E;
  w->cb = cb;
  /* The main thread's hook before the handler can run (it may set one) */
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  w->main = lua_tothread(L, -1);
  lua_pop(L, 1);
  w->hook = lua_gethook(w->main);
  w->mask = lua_gethookmask(w->main);
  w->count = lua_gethookcount(w->main);
  w->lua_asked = 0;
  /* In front of SIGINT if it has a handler (or the default action stays,
  ** as ever) and no other run's is there (one run at a time). */
  if (cr_signal_front(SIGINT, intr_handler, 1) != 0) {
    uv_close((uv_handle_t *)&w->a, intr_close_cb);
    return;
  }
  intr_arrived = 0;
  intr_w = w;
  intr_engine = E;
}

/* Before E's loop closes: the handler found put back (also when lua's own
** handler, which it called, left SIG_DFL), the waker closed. */
void lcr_intr_remove(lcr_Engine *E) {
  intr_waker *w;
  if (intr_engine != E) return;
  w = intr_w;
  intr_w = NULL;
  intr_engine = NULL;
  wait_handlers(&intr_inflight);
  /* SIG_DFL there is the front's doing only if lua's handler put it */
  cr_signal_unfront(SIGINT, intr_handler, w->lua_asked);
  uv_close((uv_handle_t *)&w->a, intr_close_cb);
}
