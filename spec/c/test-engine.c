/*
** test-engine.c -- the engine's core without Lua: tasks as tiny state
** machines, the virtual clock, scopes, groups, limit and stop.
** Each test ends by asserting that the engine closes cleanly.
*/
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include "ctask.h"

#define CHECK(c) do { if (!(c)) { \
  fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
  return 1; } } while (0)

/* A C task: sleeps `naps` times for `dur`, logging wake times. */
typedef struct {
  cr_task_t t;
  int step, naps;
  double dur;
  double woke[8];
  int nwoke;
  int cancelled;
  char log;
} ctask;

static char trace[256];
static int ntrace;

static void ctask_run(cr_task_t *t) {
  ctask *c = (ctask *)t;
  if (c->step > 0) {
    if (t->wake_status == CR_ECANCELED || cr_task_cancelled(t)) {
      c->cancelled = 1;
      cr_task_done(t, CR_TASK_CANCELLED);
      return;
    }
    c->woke[c->nwoke++] = cr_now(cr_task_engine(t));
  }
  if (ntrace < 255) trace[ntrace++] = c->log;
  if (c->step++ < c->naps) {
    cr_task_sleep(t, cr_now(cr_task_engine(t)) + c->dur);
    return;
  }
  cr_task_done(t, CR_TASK_DONE);
}

static int test_virtual_sleep_order(void) {
  cr_engine_t e;
  ctask a = {0}, b = {0};
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  TASK_INIT(&e, &a.t, ctask_run);
  TASK_INIT(&e, &b.t, ctask_run);
  a.naps = 2; a.dur = 3; a.log = 'a';
  b.naps = 1; b.dur = 5; b.log = 'b';
  cr_task_start_root(&a.t);
  cr_task_start_root(&b.t);
  ntrace = 0;
  CHECK(drain(&e) == 0);
  CHECK(a.nwoke == 2 && a.woke[0] == 3 && a.woke[1] == 6);
  CHECK(b.nwoke == 1 && b.woke[0] == 5);
  CHECK(ntrace == 5 && memcmp(trace, "ababa", 5) == 0);
  CHECK(cr_now(&e) == 6);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

static int test_cancel_wakes_parked(void) {
  cr_engine_t e;
  ctask a = {0};
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  TASK_INIT(&e, &a.t, ctask_run);
  a.naps = 1; a.dur = INFINITY; a.log = 'a';
  cr_task_start_root(&a.t);
  CHECK(cr_engine_step(&e, 0) == CR_EDEADLOCK);  /* parked forever */
  CHECK(a.t.status == CR_TASK_WAITING);
  CHECK(cr_scope_cancel(&a.t.scope, CR_SRC_HOST, 0, NULL) == 1);
  CHECK(cr_scope_cancel(&a.t.scope, CR_SRC_EXPLICIT, 0, NULL) == 0);
  CHECK(a.t.scope.cancel.source == CR_SRC_HOST);
  CHECK(strcmp(cr_source_name(a.t.scope.cancel.source), "host") == 0);
  CHECK(drain(&e) == 0);
  CHECK(a.cancelled && a.t.status == CR_TASK_CANCELLED);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* The body of a group, as a task: spawns children, then joins. */
typedef struct {
  cr_task_t t;
  cr_group_t g;
  ctask kids[6];
  int nkids, step;
  size_t max_running;
  cr_group_opts_t o;
  double stop_grace;
} gtask;

static void gtask_run(cr_task_t *t) {
  gtask *b = (gtask *)t;
  int i;
  if (b->step == 0) {

    cr_group_init(t, &b->g, &b->o);
    for (i = 0; i < b->nkids; i++) {
      TASK_INIT(cr_task_engine(t), &b->kids[i].t, ctask_run);
      cr_group_spawn(&b->g, &b->kids[i].t);
    }
    if (b->stop_grace >= 0) cr_group_stop(&b->g, b->stop_grace, 0, NULL);
    cr_group_body_done(&b->g, CR_END_NORMAL);
    b->step = 1;
  }
  if (b->g.nrunning > b->max_running) b->max_running = b->g.nrunning;
  if (cr_group_join(&b->g)) return;
  cr_group_close(&b->g, NULL);
  cr_task_done(t, CR_TASK_DONE);
}

static void kid_run(cr_task_t *t) {
  gtask *b = (gtask *)t->group->parent;
  if (t->group->nrunning > b->max_running) b->max_running = t->group->nrunning;
  ctask_run(t);
}

static const ctask_fn kid_fn = {kid_run};

static int test_group_limit_and_order(void) {
  cr_engine_t e;
  gtask b;
  int i;
  memset(&b, 0, sizeof b);
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  b.nkids = 5;
  b.o.limit = 2;
  b.o.deadline = INFINITY;
  b.stop_grace = -1;
  for (i = 0; i < 5; i++) {
    b.kids[i].naps = 1;
    b.kids[i].dur = 1;
    b.kids[i].log = (char)('0' + i);
  }
  TASK_INIT(&e, &b.t, gtask_run);
  cr_task_start_root(&b.t);
  ntrace = 0;
  /* swap in the limit-watching run callback after spawn */
  CHECK(cr_engine_step(&e, 1) == 1);
  for (i = 0; i < 5; i++) b.kids[i].t.data = (void *)&kid_fn;
  CHECK(drain(&e) == 0);
  CHECK(b.max_running == 2);
  CHECK(ntrace == 10 && memcmp(trace, "0101232344", 10) == 0);
  CHECK(cr_now(&e) == 3);
  CHECK(b.t.status == CR_TASK_DONE);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

static int test_stop_grace_cancels(void) {
  cr_engine_t e;
  gtask b;
  memset(&b, 0, sizeof b);
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  b.nkids = 2;
  b.o.deadline = INFINITY;
  b.stop_grace = 2;
  b.kids[0].naps = 1; b.kids[0].dur = 1; b.kids[0].log = 'q';
  b.kids[1].naps = 1; b.kids[1].dur = 100; b.kids[1].log = 's';
  TASK_INIT(&e, &b.t, gtask_run);
  cr_task_start_root(&b.t);
  CHECK(drain(&e) == 0);
  CHECK(!b.kids[0].cancelled && b.kids[0].t.status == CR_TASK_DONE);
  CHECK(b.kids[1].cancelled);
  CHECK(b.g.scope.cancel_called && b.g.scope.cancel.source == CR_SRC_STOP);
  CHECK(cr_now(&e) == 2);
  CHECK(cr_group_spawn(&b.g, &b.kids[2].t) == CR_ECLOSED);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

static int test_shield_hides_outer(void) {
  cr_engine_t e;
  ctask a = {0};
  cr_scope_t inner;
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  TASK_INIT(&e, &a.t, ctask_run);
  cr_task_start_root(&a.t);
  CHECK(cr_scope_enter(&a.t, &inner, INFINITY, 1) == 0);
  cr_scope_cancel(&a.t.scope, CR_SRC_EXPLICIT, 0, NULL);
  CHECK(cr_task_cancelled(&a.t) == NULL);
  cr_scope_set_shield(&inner, 0);
  CHECK(cr_task_cancelled(&a.t) == &a.t.scope);
  cr_scope_exit(&inner);
  CHECK(drain(&e) == 0);
  CHECK(a.cancelled == 0 && a.t.status == CR_TASK_DONE);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

static int test_deadline_order(void) {
  cr_engine_t e;
  ctask a = {0};
  cr_scope_t s1, s2;
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  TASK_INIT(&e, &a.t, ctask_run);
  cr_task_start_root(&a.t);
  CHECK(cr_scope_enter(&a.t, &s1, 5, 0) == 0);
  CHECK(cr_scope_enter(&a.t, &s2, 2, 0) == 0);
  CHECK(cr_engine_close(&e) == CR_EBUSY);
  a.naps = 1; a.dur = 10; a.log = 'a';
  /* a runs and sleeps; nothing else can run, so the clock jumps to 2 */
  CHECK(cr_engine_step(&e, 1) == 1);
  CHECK(s2.cancel_called && !s1.cancel_called && cr_now(&e) == 2);
  CHECK(s2.cancel.source == CR_SRC_DEADLINE);
  CHECK(cr_task_cancelled(&a.t) == &s2);
  CHECK(a.t.status == CR_TASK_SCHEDULED);  /* its sleep was aborted */
  cr_scope_exit(&s2);
  cr_scope_exit(&s1);
  CHECK(drain(&e) == 0);
  CHECK(a.cancelled && cr_now(&e) == 2);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* Five tasks that each nap once for 1 s: the trace holds the start order
** then the wake order (five deadlines due at the same instant). */
static int run_naps(int seeded, uint64_t seed, char out[16]) {
  cr_engine_t e;
  ctask c[5];
  int i;
  memset(c, 0, sizeof c);
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  if (seeded) cr_engine_seed(&e, seed);
  ntrace = 0;
  for (i = 0; i < 5; i++) {
    TASK_INIT(&e, &c[i].t, ctask_run);
    c[i].naps = 1; c[i].dur = 1; c[i].log = (char)('a' + i);
    cr_task_start_root(&c[i].t);
  }
  CHECK(drain(&e) == 0);
  CHECK(cr_engine_close(&e) == 0);
  CHECK(ntrace == 10);
  memcpy(out, trace, 10);
  out[10] = 0;
  return 0;
}

static int test_seeded_order(void) {
  char fifo[16], x[16], y[16], first[16];
  int seed, differs = 0, i;
  CHECK(run_naps(0, 0, fifo) == 0);
  CHECK(strcmp(fifo, "abcdeabcde") == 0);
  CHECK(run_naps(1, 1, first) == 0);
  for (seed = 1; seed <= 20; seed++) {
    CHECK(run_naps(1, (uint64_t)seed, x) == 0);
    CHECK(run_naps(1, (uint64_t)seed, y) == 0);
    CHECK(strcmp(x, y) == 0);                 /* the same seed, the same order */
    for (i = 0; i < 5; i++)                   /* each task starts and wakes once */
      CHECK(strchr(x, 'a' + i) && strchr(strchr(x, 'a' + i) + 1, 'a' + i));
    differs += strncmp(x, first, 5) != 0;
    differs += strncmp(x + 5, x, 5) != 0;     /* ties fire in a drawn order */
  }
  CHECK(differs > 10);
  return 0;
}

/* An idle waiter wakes once the others block, before the clock moves. */
typedef struct { cr_task_t t; int step; double woke; } idler;

static void idler_run(cr_task_t *t) {
  idler *w = (idler *)t;
  if (w->step++ == 0) {
    cr_task_wait_idle(t);
    return;
  }
  w->woke = cr_now(cr_task_engine(t));
  if (ntrace < 255) trace[ntrace++] = 'i';
  cr_task_done(t, CR_TASK_DONE);
}

static int test_wait_idle(void) {
  cr_engine_t e;
  ctask busy = {0}, sleeper = {0};
  idler w = {0};
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  ntrace = 0;
  TASK_INIT(&e, &w.t, idler_run);
  TASK_INIT(&e, &sleeper.t, ctask_run);
  sleeper.naps = 1; sleeper.dur = 5; sleeper.log = 's';
  TASK_INIT(&e, &busy.t, ctask_run);
  busy.naps = 0; busy.log = 'b';
  cr_task_start_root(&w.t);
  cr_task_start_root(&sleeper.t);
  cr_task_start_root(&busy.t);
  CHECK(drain(&e) == 0);
  trace[ntrace] = 0;
  CHECK(strcmp(trace, "sbis") == 0);
  CHECK(w.woke == 0 && sleeper.woke[0] == 5);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* A task's "not cancelled" memo keeps 32 bits of the engine's cancel
** generation: after 2^32 changes it must not be believed again. */
static int test_clean_memo_wraps(void) {
  cr_engine_t e;
  ctask a = {0};
  cr_scope_t s1;
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  TASK_INIT(&e, &a.t, ctask_run);
  cr_task_start_root(&a.t);
  CHECK(cr_scope_enter(&a.t, &s1, INFINITY, 0) == 0);
  e.cancel_gen = 5;
  CHECK(cr_task_cancelled_now(&a.t) == NULL);       /* memo: clean at 5 */
  e.cancel_gen = ((uint64_t)1 << 32) - 2;            /* next bump wraps */
  cr_scope_cancel(&s1, CR_SRC_EXPLICIT, 0, NULL);
  CHECK((uint32_t)e.cancel_gen != UINT32_MAX);
  e.cancel_gen = ((uint64_t)1 << 32) + 5;            /* 5 again, low bits */
  CHECK(cr_task_cancelled_now(&a.t) == &s1);
  cr_scope_exit(&s1);
  CHECK(drain(&e) == 0);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* A Cancelled unwinding a task's own nested scopes: at each level the
** scope's exit asks about its parent (judge), then the message handler of
** the pcall the Cancelled goes on to asks whether the task is cancelled,
** about its innermost scope: that same parent. Asked the same question
** twice, the engine walked the rest of the scopes again each time: an
** unwind through DEPTH scopes walked about DEPTH^2 / 2 of them. */
#define DEPTH 2000
static int test_nested_scopes_unwind_linear(void) {
  static cr_scope_t s[DEPTH];
  cr_engine_t e;
  ctask a = {0};
  cr_scope_t *to;
  int k;
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  TASK_INIT(&e, &a.t, ctask_run);
  cr_task_start_root(&a.t);
  for (k = 0; k < DEPTH; k++)
    CHECK(cr_scope_enter(&a.t, &s[k], INFINITY, 0) == 0);
  cr_scope_cancel(&s[0], CR_SRC_EXPLICIT, 0, NULL);
  e.absorb_steps = 0;
  for (k = DEPTH - 1; k > 0; k--) {
    CHECK(cr_task_cancelled_now(&a.t) == &s[0]);     /* the handler asks */
    CHECK(cr_scope_leave(&s[k], 1, &to) == CR_END_PASSED);   /* the exit */
    CHECK(to == &s[0]);
  }
  CHECK(cr_task_cancelled_now(&a.t) == &s[0]);
  CHECK(cr_scope_leave(&s[0], 1, &to) == CR_END_ABSORBED);
  /* quadratic would be about DEPTH * DEPTH / 2 */
  CHECK(e.absorb_steps < 4 * (uint64_t)DEPTH);
  CHECK(cr_task_cancelled_now(&a.t) == NULL);
  CHECK(drain(&e) == 0);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* A chain of tasks, each opening a group that holds the next one, the
** last one waiting for ever: cancelling the outermost group makes every
** task ask whether it is cancelled, and each asks about a chain as long
** as its depth. The walks must stay linear in the depth altogether. */
#define CHAIN 2000
typedef struct { cr_task_t t; cr_group_t g; int level, step; } link_task;
static link_task chain[CHAIN + 1];

static void link_run(cr_task_t *t) {
  link_task *c = (link_task *)t;
  cr_group_opts_t o;
  memset(&o, 0, sizeof o);
  o.deadline = INFINITY;
  if (c->step == 0) {
    c->step = 1;
    if (c->level > 0) {
      link_task *next = &chain[c->level - 1];
      cr_group_init(t, &c->g, &o);
      next->level = c->level - 1;
      TASK_INIT(cr_task_engine(t), &next->t, link_run);
      cr_group_spawn(&c->g, &next->t);
    }
    cr_task_park(t, cr_task_abort_unlink);   /* until cancelled */
    return;
  }
  if (c->step == 1) {
    c->step = 2;
    if (cr_task_cancelled(t) == NULL) return;  /* (never) */
    if (c->level > 0) cr_group_body_done(&c->g, CR_END_PASSED);
  }
  if (c->level > 0) {
    if (cr_group_join(&c->g)) return;
    cr_group_close(&c->g, NULL);
  }
  cr_task_unwind(t, NULL);
  cr_task_done(t, CR_TASK_CANCELLED);
}

/* Build the chain on a fresh engine e, down to its last task parked. */
static int chain_build(cr_engine_t *e) {
  memset(chain, 0, sizeof chain);
  CHECK(cr_engine_init(e, NULL, CR_CLOCK_VIRTUAL) == 0);
  chain[CHAIN].level = CHAIN;
  TASK_INIT(e, &chain[CHAIN].t, link_run);
  cr_task_start_root(&chain[CHAIN].t);
  while (cr_engine_step(e, 0) == 1) {}
  CHECK(chain[0].t.status == CR_TASK_WAITING);
  return 0;
}

static int test_chain_cancel_linear(void) {
  cr_engine_t e;
  int i;
  CHECK(chain_build(&e) == 0);
  e.absorb_steps = 0;
  cr_scope_cancel(&chain[CHAIN].g.scope, CR_SRC_EXPLICIT, 0, NULL);
  CHECK(drain(&e) == 0);
  for (i = 0; i <= CHAIN; i++) CHECK(chain[i].t.status == CR_TASK_CANCELLED);
  /* quadratic would be about CHAIN * CHAIN; each scope is passed a few
  ** times at most */
  CHECK(e.absorb_steps < 20 * (uint64_t)CHAIN);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* Every level of the chain cancelled in turn, from the outermost in or
** from the innermost out (deadlines passed down a chain): each level's
** delivery walks no part of the chain that a cancel reached already. */
static int chain_cancel_each(int outermost_first) {
  cr_engine_t e;
  int i;
  CHECK(chain_build(&e) == 0);
  e.deliver_steps = 0;
  for (i = 1; i <= CHAIN; i++)
    CHECK(cr_scope_cancel(&chain[outermost_first ? CHAIN + 1 - i : i].g.scope,
                          CR_SRC_EXPLICIT, 0, NULL) == 1);
  /* quadratic would be about CHAIN * CHAIN, in either order */
  CHECK(e.deliver_steps < 8 * (uint64_t)CHAIN);
  CHECK(drain(&e) == 0);
  for (i = 0; i <= CHAIN; i++) CHECK(chain[i].t.status == CR_TASK_CANCELLED);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

static int test_chain_cancel_each_level_linear(void) {
  CHECK(chain_cancel_each(1) == 0);
  CHECK(chain_cancel_each(0) == 0);
  return 0;
}

/*
** What a tracer asks of the chain (cr_scope_reaches, cr_task_reach): when
** the outermost group is cancelled, whether the cancel reaches each task
** below it; then, at every resume of the deepest task, whose cancel a
** shield hid, whether it reaches it yet. Each question walked up to the
** cancelled group: quadratic for the first, the chain's depth per resume
** for the second. The answers must stay right as the shield goes and comes
** back (a bump of cancel_gen) and as the task leaves it (none).
*/
#define REACH_ASKS (10 * CHAIN)
static int test_chain_reach_linear(void) {
  cr_engine_t e;
  cr_scope_t sh, *top;
  int i;
  memset(chain, 0, sizeof chain);
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  chain[CHAIN].level = CHAIN;
  TASK_INIT(&e, &chain[CHAIN].t, link_run);
  cr_task_start_root(&chain[CHAIN].t);
  while (cr_engine_step(&e, 0) == 1) {}
  CHECK(chain[0].t.status == CR_TASK_WAITING);
  CHECK(cr_scope_enter(&chain[0].t, &sh, INFINITY, 1) == 0);
  top = &chain[CHAIN].g.scope;
  cr_scope_cancel(top, CR_SRC_EXPLICIT, 0, NULL);
  e.reach_steps = 0;
  for (i = CHAIN - 1; i >= 0; i--)       /* outermost first, as a walk */
    CHECK(cr_scope_reaches(top, &chain[i].t) == (i > 0));
  CHECK(e.reach_steps < 8 * (uint64_t)CHAIN);
  e.reach_steps = 0;
  for (i = 0; i < REACH_ASKS; i++)
    CHECK(cr_task_reach(&chain[0].t, top->id) == 0);
  CHECK(e.reach_steps < 8 * (uint64_t)CHAIN + 4 * (uint64_t)REACH_ASKS);
  cr_scope_set_shield(&sh, 0);          /* (wakes the task: it is cancelled) */
  CHECK(cr_task_reach(&chain[0].t, top->id) == 1);
  cr_scope_set_shield(&sh, 1);
  CHECK(cr_task_reach(&chain[0].t, top->id) == 0);
  CHECK(cr_task_reach(&chain[0].t, chain[0].t.scope.id) == 0);
  cr_scope_exit(&sh);
  CHECK(cr_task_reach(&chain[0].t, top->id) == 1);
  CHECK(cr_task_reach(&chain[0].t, sh.id) == -1);
  CHECK(drain(&e) == 0);
  for (i = 0; i <= CHAIN; i++) CHECK(chain[i].t.status == CR_TASK_CANCELLED);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/*
** Attached to a host's loop: the end of the last task is reported without
** a wake-up from elsewhere (the poll does not block on the host's quiet
** handle), and only once: a host that stays attached after hearing it is
** not kept spinning (the poll may block again).
*/
static int end_reports;
static void count_end(cr_engine_t *e, int status) {
  (void)e;
  if (status == 0) end_reports++;
}
static void quiet_cb(uv_signal_t *s, int n) { (void)s; (void)n; }
/* After corral's prepare (started later, so run first): the poll's timeout. */
static int poll_timeout;
static void probe_cb(uv_prepare_t *p) { poll_timeout = uv_backend_timeout(p->loop); }

/* A host's loop that a quiet handle keeps alive, with the probe, started
** before any engine's prepare (so it runs after it). */
static int quiet_host_loop(uv_loop_t *loop, uv_signal_t *sig, uv_prepare_t *probe) {
  if (uv_loop_init(loop) != 0) return -1;
  uv_signal_init(loop, sig);
  uv_signal_start(sig, quiet_cb, SIGUSR2);
  uv_prepare_init(loop, probe);
  uv_prepare_start(probe, probe_cb);
  uv_unref((uv_handle_t *)probe);
  return 0;
}

static int test_attached_end_once(void) {
  uv_loop_t loop;
  uv_signal_t sig;
  uv_prepare_t probe;
  cr_engine_t e;
  ctask a = {0};
  int i;
  CHECK(quiet_host_loop(&loop, &sig, &probe) == 0);
  CHECK(cr_engine_init(&e, &loop, CR_CLOCK_REAL) == 0);
  end_reports = 0;
  CHECK(cr_engine_attach(&e, count_end) == 0);
  TASK_INIT(&e, &a.t, ctask_run);
  CHECK(cr_task_start_root(&a.t) == 0);              /* ends at once */
  for (i = 0; i < 5 && end_reports == 0; i++) uv_run(&loop, UV_RUN_ONCE);
  CHECK(end_reports == 1);
  uv_run(&loop, UV_RUN_NOWAIT);                      /* more passes, attached */
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(poll_timeout != 0);                          /* it may block: no spin */
  CHECK(end_reports == 1);                           /* and is told once */
  cr_engine_detach(&e);
  uv_close((uv_handle_t *)&sig, NULL);    /* (close runs the loop to its end) */
  uv_close((uv_handle_t *)&probe, NULL);
  CHECK(cr_engine_close(&e) == 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  return 0;
}

static int stuck_reports;
static void count_stuck(cr_engine_t *e, int status) {
  (void)e;
  if (status == CR_EDEADLOCK) stuck_reports++;
}

static void park_forever(cr_task_t *t) { cr_task_park(t, NULL); }

/*
** Attached, a deadlock the callback leaves as it was (it only logs) was
** reported again at once on every pass, the check handle keeping the loop
** alive: 100 % CPU, and uv_run never returned. With no callback, uv_run
** blocked for good. Reported once now, and then the loop may end.
*/
static int test_attached_deadlock_left_alone(void) {
  uv_loop_t loop;
  cr_engine_t e;
  cr_task_t t;
  int cb;
  for (cb = 0; cb < 2; cb++) {
    memset(&t, 0, sizeof t);
    CHECK(uv_loop_init(&loop) == 0);
    CHECK(cr_engine_init(&e, &loop, CR_CLOCK_REAL) == 0);
    e.run = park_forever;
    stuck_reports = 0;
    CHECK(cr_engine_attach(&e, cb ? count_stuck : NULL) == 0);
    cr_task_init(&e, &t, NULL);
    CHECK(cr_task_start_root(&t) == 0);
    CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);        /* returns */
    CHECK(stuck_reports == cb);                       /* told once */
    cr_engine_abandon(&e);
    cr_engine_detach(&e);
    CHECK(cr_engine_close(&e) == 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
  }
  return 0;
}

static cr_timer_t rescue;
static cr_task_t *stuck_task;
static void rescue_cb(cr_timer_t *tm) { (void)tm; cr_task_wake(stuck_task, 0); }
static int ends_seen;
static void arm_rescue(cr_engine_t *e, int status) {
  if (status == 0) ends_seen++;
  if (status != CR_EDEADLOCK) return;
  stuck_reports++;
  cr_timer_start(e, &rescue, cr_now(e) + 0.01);
}
static int rescue_runs;
static void park_then_end(cr_task_t *t) {
  if (rescue_runs++ > 0) {         /* woken by the rescue */
    cr_task_done(t, CR_TASK_DONE);
    return;
  }
  cr_task_park(t, NULL);
}

/*
** Two more ways the check handle kept the loop alive and then never ran:
** an engine attached with no callback, before one with a callback, ran its
** last ready task in the prepare and stopped its idle handle there, after
** the other had decided the poll would not block (it then blocked for ever);
** and a deadline the deadlock callback armed was never run (the engine took
** the deadlock as left alone, and nothing kept the loop alive).
*/
static int test_attached_deadlock_two_engines_and_a_rescue(void) {
  uv_loop_t loop;
  cr_engine_t a, b;
  ctask ca;                          /* ctask_run's: it ends on its first run */
  cr_task_t tb;
  memset(&ca, 0, sizeof ca);
  memset(&tb, 0, sizeof tb);
  CHECK(uv_loop_init(&loop) == 0);
  CHECK(cr_engine_init(&a, &loop, CR_CLOCK_REAL) == 0);
  CHECK(cr_engine_init(&b, &loop, CR_CLOCK_REAL) == 0);
  a.run = ctask_run;
  b.run = park_forever;
  CHECK(cr_engine_attach(&a, NULL) == 0);
  CHECK(cr_engine_attach(&b, count_stuck) == 0);
  stuck_reports = 0;
  cr_task_init(&a, &ca.t, NULL);
  cr_task_init(&b, &tb, NULL);
  CHECK(cr_task_start_root(&ca.t) == 0 && cr_task_start_root(&tb) == 0);
  CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);   /* returns: it was told */
  CHECK(stuck_reports == 1);
  cr_engine_abandon(&b);
  cr_engine_detach(&a);
  cr_engine_detach(&b);
  CHECK(cr_engine_close(&a) == 0 && cr_engine_close(&b) == 0);
  /* the rescue: a deadline armed by the callback wakes the task */
  CHECK(cr_engine_init(&b, &loop, CR_CLOCK_REAL) == 0);
  memset(&tb, 0, sizeof tb);
  b.run = park_then_end;
  cr_timer_init(&rescue, rescue_cb);
  stuck_task = &tb;
  stuck_reports = ends_seen = rescue_runs = 0;
  CHECK(cr_engine_attach(&b, arm_rescue) == 0);
  cr_task_init(&b, &tb, NULL);
  CHECK(cr_task_start_root(&tb) == 0);
  CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
  CHECK(stuck_reports == 1 && ends_seen == 1 && b.stats.tasks == 0);
  cr_engine_detach(&b);
  CHECK(cr_engine_close(&b) == 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  return 0;
}

static int vfired, host_turns;
static void vfire(cr_timer_t *tm) { (void)tm; vfired++; }
static void host_turn(uv_prepare_t *p) { (void)p; host_turns++; }
static void host_done(uv_timer_t *t) { uv_close((uv_handle_t *)t, NULL); }

/* Attached on the virtual clock with a deadline armed and no task: the
** poll was kept from blocking for the clock's jump, which check_cb never
** made (it returned at "no task left"): the host's loop spun, and the
** deadline never fired. */
static int test_attached_virtual_deadline_without_tasks(void) {
  uv_loop_t loop;
  uv_timer_t host;
  uv_prepare_t turns;
  cr_engine_t e;
  cr_timer_t tm;
  CHECK(uv_loop_init(&loop) == 0);
  CHECK(cr_engine_init(&e, &loop, CR_CLOCK_VIRTUAL) == 0);
  CHECK(cr_engine_attach(&e, count_end) == 0);
  cr_timer_init(&tm, vfire);
  vfired = host_turns = 0;
  CHECK(cr_timer_start(&e, &tm, 5.0) == 0);
  CHECK(uv_timer_init(&loop, &host) == 0);             /* keeps it alive */
  CHECK(uv_timer_start(&host, host_done, 20, 0) == 0);
  CHECK(uv_prepare_init(&loop, &turns) == 0);
  CHECK(uv_prepare_start(&turns, host_turn) == 0);
  uv_unref((uv_handle_t *)&turns);
  CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
  CHECK(vfired == 1);
  CHECK(host_turns < 100);                             /* no spin */
  uv_close((uv_handle_t *)&turns, NULL);
  cr_engine_detach(&e);
  CHECK(cr_engine_close(&e) == 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  return 0;
}

/*
** An engine on a host's loop that is not attached (the host steps it, or
** has not attached yet): a task woken by its deadline while the host runs
** its own loop started the idle handle, so the host's poll never blocked
** again (100 % CPU) until the host stepped or attached. Only a step or an
** attachment starts it now.
*/
static void host_tick(uv_timer_t *t) { (void)t; }

static int test_unattached_wakeup_no_spin(void) {
  uv_loop_t loop;
  uv_signal_t sig;
  uv_prepare_t probe;
  uv_timer_t tick;
  cr_engine_t e;
  ctask a = {0};
  CHECK(quiet_host_loop(&loop, &sig, &probe) == 0);
  CHECK(cr_engine_init(&e, &loop, CR_CLOCK_REAL) == 0);
  TASK_INIT(&e, &a.t, ctask_run);
  a.naps = 1; a.dur = 0.005;
  CHECK(cr_task_start_root(&a.t) == 0);
  CHECK(cr_engine_step(&e, 0) == 1);                 /* it runs, then sleeps */
  uv_timer_init(&loop, &tick);
  uv_timer_start(&tick, host_tick, 30, 0);           /* the host's own wake-up */
  uv_run(&loop, UV_RUN_ONCE);                        /* the deadline passes */
  poll_timeout = 0;
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(poll_timeout != 0);                          /* the host may block */
  while (cr_engine_step(&e, 1) == 1) {}              /* the host steps it */
  CHECK(a.nwoke == 1);
  uv_close((uv_handle_t *)&sig, NULL);
  uv_close((uv_handle_t *)&probe, NULL);
  uv_close((uv_handle_t *)&tick, NULL);
  CHECK(cr_engine_close(&e) == 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  return 0;
}

/* The engine keeps one abort callback per kind of wait: cr_task_wait_idle
** parked as CR_WAIT_OTHER too, and took the place of a host's own
** cr_task_park callback, which a cancel then never called. */
typedef struct { cr_task_t t; int step; int woke; } parker;
static int park_abort_calls;

static cr_abort_t count_abort(cr_task_t *t) {
  (void)t;
  park_abort_calls++;
  return CR_ABORT_DONE;
}

static void parker_run(cr_task_t *t) {         /* parks as "an operation" */
  parker *p = (parker *)t;
  if (p->step++ == 0) {
    cr_task_park(t, count_abort);
    return;
  }
  p->woke = t->wake_status;
  cr_task_done(t, CR_TASK_CANCELLED);
}

static void idler_then_done(cr_task_t *t) {
  parker *p = (parker *)t;
  if (p->step++ == 0) {
    cr_task_wait_idle(t);
    return;
  }
  cr_task_done(t, CR_TASK_DONE);
}

/* Runs after a and b have parked: cancels a while b waits for idle. */
static parker *cancel_target, *idle_waiter;
static int waits_seen;
static void canceller_run(cr_task_t *t) {
  waits_seen = cancel_target->t.wait == CR_WAIT_OTHER &&
               idle_waiter->t.wait == CR_WAIT_IDLE;
  cr_scope_cancel(&cancel_target->t.scope, CR_SRC_EXPLICIT, 0, NULL);
  cr_task_done(t, CR_TASK_DONE);
}

static int test_wait_idle_keeps_park_abort(void) {
  cr_engine_t e;
  parker a = {0}, b = {0}, c = {0};
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  TASK_INIT(&e, &a.t, parker_run);
  TASK_INIT(&e, &b.t, idler_then_done);
  TASK_INIT(&e, &c.t, canceller_run);
  cancel_target = &a;
  idle_waiter = &b;
  cr_task_start_root(&a.t);
  cr_task_start_root(&b.t);
  cr_task_start_root(&c.t);
  park_abort_calls = 0;
  CHECK(drain(&e) == 0);
  CHECK(waits_seen);
  CHECK(park_abort_calls == 1);
  CHECK(a.woke == CR_ECANCELED);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* A g:start refused (the group is stopping) kept the array it had made
** for its starting children: nothing freed it (ASan's leak check saw). And
** a park on a wait kind out of range wrote past the engine's table of
** abort callbacks. */
typedef struct { cr_task_t t; cr_group_t g; cr_task_t kid; int step;
                 int start_rc, leftover, wait_seen; } refuser;
static int range_aborts;

static cr_abort_t range_abort(cr_task_t *t) {
  (void)t;
  range_aborts++;
  return CR_ABORT_DONE;
}

static void refuser_run(cr_task_t *t) {
  refuser *r = (refuser *)t;
  cr_group_opts_t o = {0};
  o.deadline = INFINITY;
  if (r->step++ == 0) {
    cr_group_init(t, &r->g, &o);
    cr_group_stop(&r->g, 0, 0, NULL);
    TASK_INIT(cr_task_engine(t), &r->kid, ctask_run);
    r->start_rc = cr_group_start(&r->g, &r->kid, t);
    r->leftover = r->g.starting != NULL;
    cr_task_done(&r->kid, CR_TASK_CANCELLED);   /* never spawned */
    cr_group_body_done(&r->g, CR_END_NORMAL);
    cr_group_close(&r->g, NULL);
    cr_task_park_on(t, range_abort, CR_WAIT__COUNT, NULL);
    r->wait_seen = t->wait;
    return;
  }
  cr_task_done(t, CR_TASK_CANCELLED);
}

static int test_refused_start_and_bad_wait(void) {
  cr_engine_t e;
  refuser r;
  memset(&r, 0, sizeof r);
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  TASK_INIT(&e, &r.t, refuser_run);
  cr_task_start_root(&r.t);
  range_aborts = 0;
  CHECK(cr_engine_step(&e, 0) == CR_EDEADLOCK);
  CHECK(r.start_rc == CR_ESTOPPING && !r.leftover);
  CHECK(r.wait_seen == CR_WAIT_OTHER);
  CHECK(e.stats.tasks == 1);
  CHECK(cr_scope_cancel(&r.t.scope, CR_SRC_EXPLICIT, 0, NULL) == 1);
  CHECK(range_aborts == 1);
  CHECK(drain(&e) == 0);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* A task that parked inside a cancelled scope (one gone back to waiting
** after a wake-up that brought too little) stayed parked: nothing aborted
** its wait again. Parking there now aborts it at once. */
static int park_abort_seen_waiting;

static cr_abort_t waiting_abort(cr_task_t *t) {
  park_abort_seen_waiting = t->status == CR_TASK_WAITING;
  return count_abort(t);
}

static void self_cancel_then_park(cr_task_t *t) {
  parker *p = (parker *)t;
  if (p->step++ == 0) {
    cr_scope_cancel(&t->scope, CR_SRC_EXPLICIT, 0, NULL);
    cr_task_park(t, waiting_abort);
    return;
  }
  p->woke = t->wake_status;
  cr_task_done(t, CR_TASK_CANCELLED);
}

static int test_park_in_cancelled_scope(void) {
  cr_engine_t e;
  parker a = {0};
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  TASK_INIT(&e, &a.t, self_cancel_then_park);
  cr_task_start_root(&a.t);
  park_abort_calls = park_abort_seen_waiting = 0;
  CHECK(drain(&e) == 0);
  CHECK(park_abort_calls == 1);
  CHECK(park_abort_seen_waiting);
  CHECK(a.woke == CR_ECANCELED);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* A NaN deadline was accepted, sat on top of the heap never due, and no
** other deadline fired again (a spin on the virtual clock, a hang on the
** real one). It is CR_EINVAL, and the task goes on to sleep on time. */
static int nan_rcs[3];

static void nan_then_sleep(cr_task_t *t) {
  ctask *c = (ctask *)t;
  cr_scope_t s;
  if (c->step == 0) {
    nan_rcs[0] = cr_task_sleep(t, NAN);
    nan_rcs[1] = cr_scope_enter(t, &s, NAN, 0);
    nan_rcs[2] = cr_scope_set_deadline(&t->scope, NAN);
  }
  ctask_run(t);
}

static int test_nan_deadline_refused(void) {
  cr_engine_t e;
  ctask b;
  memset(&b, 0, sizeof b);
  b.naps = 1;
  b.dur = 0.2;
  b.log = 'b';
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  TASK_INIT(&e, &b.t, nan_then_sleep);
  cr_task_start_root(&b.t);
  CHECK(drain(&e) == 0);
  CHECK(nan_rcs[0] == CR_EINVAL && nan_rcs[1] == CR_EINVAL &&
        nan_rcs[2] == CR_EINVAL);
  CHECK(b.nwoke == 1 && b.woke[0] == 0.2);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* A WAKE listener that abandoned the engine found the task still waiting:
** it was queued afterwards and resumed, abandoned. Events come once the
** task is where it belongs. */
static void abandon_on_wake(cr_engine_t *e, const cr_engine_event_t *ev) {
  if (ev->kind == CR_EV_WAKE) cr_engine_abandon(e);
}

static int test_listener_abandons_at_a_wake(void) {
  cr_engine_t e;
  ctask a;
  memset(&a, 0, sizeof a);
  a.naps = 2;
  a.dur = 1;
  a.log = 'a';
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  TASK_INIT(&e, &a.t, ctask_run);
  cr_task_start_root(&a.t);
  e.on_event = abandon_on_wake;
  CHECK(drain(&e) == 0);
  CHECK(a.nwoke == 0);                   /* never resumed after the wake */
  CHECK(a.t.status == CR_TASK_CANCELLED && a.t.finished);
  e.on_event = NULL;
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* A second close crashed in uv_walk, and a root started on a closed
** engine crashed the next step. */
static int test_closed_engine_refuses(void) {
  cr_engine_t e;
  ctask a;
  memset(&a, 0, sizeof a);
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  CHECK(cr_engine_close(&e) == 0);
  CHECK(cr_engine_close(&e) == 0);
  CHECK(cr_engine_step(&e, 0) == CR_EINVAL);
  TASK_INIT(&e, &a.t, ctask_run);
  CHECK(cr_task_start_root(&a.t) == CR_EINVAL);
  return 0;
}

/*
** A Cancelled passes a shield only when corral delivered it (the task was
** found cancelled, or a child passed it out through the group): a task a
** shield hides the cancel from, unwinding one it was handed, has it caught
** nowhere. A task record reused after cr_task_done started with the last
** task's mark: cr_task_init clears it.
*/
static int reuse_phase;
static cr_scope_t *reuse_to;

static void reuse_run(cr_task_t *t) {
  cr_scope_t o, s1, s2;
  if (reuse_phase == 1) {          /* found cancelled, never caught it */
    cr_scope_enter(t, &o, INFINITY, 0);
    cr_scope_cancel(&o, CR_SRC_EXPLICIT, 0, NULL);
    (void)cr_task_cancelled(t);
    cr_scope_exit(&o);
  } else if (reuse_phase == 3) {  /* O > S1 > S2: O cancelled, S1 shielded
                                   ** after; an observer looked meanwhile */
    cr_scope_enter(t, &o, INFINITY, 0);
    cr_scope_enter(t, &s1, INFINITY, 0);
    cr_scope_enter(t, &s2, INFINITY, 0);
    cr_scope_cancel(&o, CR_SRC_EXPLICIT, 0, NULL);
    (void)cr_task_cancelled_now(t);    /* the tree or a tracer: marks nothing */
    cr_scope_set_shield(&s1, 1);
    cr_scope_leave(&s2, 1, &reuse_to);   /* a Cancelled it was handed */
    cr_scope_exit(&s1);
    cr_scope_exit(&o);
  } else {                         /* O > S1 (shield) > S2, O cancelled */
    cr_scope_enter(t, &o, INFINITY, 0);
    cr_scope_enter(t, &s1, INFINITY, 1);
    cr_scope_cancel(&o, CR_SRC_EXPLICIT, 0, NULL);
    cr_scope_enter(t, &s2, INFINITY, 0);
    (void)cr_task_cancelled(t);    /* not cancelled: S1 hides O */
    cr_scope_leave(&s2, 1, &reuse_to);
    cr_scope_exit(&s1);
    cr_scope_exit(&o);
  }
  cr_task_done(t, CR_TASK_DONE);
}

static int reuse_go(cr_engine_t *e, cr_task_t *t, int phase) {
  reuse_phase = phase;
  reuse_to = (cr_scope_t *)(void *)e;   /* a sentinel: set by the run */
  cr_task_init(e, t, NULL);
  CHECK(cr_task_start_root(t) == 0);
  while (cr_engine_step(e, 1) == 1) {}
  return 0;
}

static int test_handed_cancel_and_reused_record(void) {
  cr_engine_t e;
  cr_task_t fresh, reused;
  memset(&fresh, 0, sizeof fresh);
  memset(&reused, 0, sizeof reused);
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  e.run = reuse_run;
  CHECK(reuse_go(&e, &fresh, 2) == 0);
  CHECK(reuse_to == NULL);         /* caught nowhere: the task fails */
  CHECK(reuse_go(&e, &reused, 1) == 0);
  CHECK(reuse_go(&e, &reused, 2) == 0);
  CHECK(reuse_to == NULL);         /* the same for the reused record */
  CHECK(reuse_go(&e, &fresh, 3) == 0);
  CHECK(reuse_to == NULL);         /* an observer's look changed nothing */
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* The slot a send would fill, told before it commits anything: a host
** whose store may fail makes room there first (a Lua channel's ring past
** its first 64 slots), so that no counted slot ever lacks its value. */
static int test_chan_next_slot(void) {
  cr_chan_t c, r;
  cr_task_t *peer = NULL;
  size_t slot = 99, sent = 99;
  int i;
  cr_chan_init(&c, 3);
  for (i = 0; i < 3; i++) {
    CHECK(cr_chan_next_slot(&c, &slot) == 1 && slot == (size_t)i);
    CHECK(c.count == (size_t)i);                 /* nothing committed */
    CHECK(cr_chan_send(&c, NULL, &peer, &sent) == CR_CHAN_BUFFERED);
    CHECK(sent == slot);
  }
  CHECK(cr_chan_next_slot(&c, &slot) == 0);      /* full: a send parks */
  CHECK(cr_chan_recv(&c, NULL, &peer, &sent) == CR_CHAN_BUFFERED && sent == 0);
  CHECK(cr_chan_next_slot(&c, &slot) == 1 && slot == 0);   /* wraps round */
  cr_chan_close(&c);
  CHECK(cr_chan_next_slot(&c, &slot) == 0);
  cr_chan_init(&r, 0);                           /* rendezvous: no slots */
  CHECK(cr_chan_next_slot(&r, &slot) == 0);
  return 0;
}

/* An empty channel starts its slots again at 0 (a host's fresh store);
** one with values buffered refuses and changes nothing. */
static int test_chan_rebase(void) {
  cr_chan_t c;
  cr_task_t *peer = NULL;
  size_t slot = 99;
  cr_chan_init(&c, 8);
  CHECK(cr_chan_send(&c, NULL, &peer, &slot) == CR_CHAN_BUFFERED && slot == 0);
  CHECK(cr_chan_send(&c, NULL, &peer, &slot) == CR_CHAN_BUFFERED && slot == 1);
  CHECK(cr_chan_recv(&c, NULL, &peer, &slot) == CR_CHAN_BUFFERED && slot == 0);
  CHECK(cr_chan_rebase(&c) == CR_EINVAL && c.head == 1 && c.count == 1);
  CHECK(cr_chan_recv(&c, NULL, &peer, &slot) == CR_CHAN_BUFFERED && slot == 1);
  CHECK(cr_chan_rebase(&c) == 0 && c.head == 0 && c.count == 0);
  CHECK(cr_chan_next_slot(&c, &slot) == 1 && slot == 0);
  CHECK(cr_chan_send(&c, NULL, &peer, &slot) == CR_CHAN_BUFFERED && slot == 0);
  CHECK(cr_chan_recv(&c, NULL, &peer, &slot) == CR_CHAN_BUFFERED && slot == 0);
  return 0;
}

/* A try (no task): the engine answers what a send or receive would do now,
** or CR_CHAN_WOULDBLOCK where a task would park, and queues nothing; a
** semaphore's try takes a free permit or changes nothing. */
static int test_chan_and_sem_tries(void) {
  cr_chan_t c, r;
  cr_sem_t s;
  cr_task_t *peer = NULL;
  size_t slot = 99;
  cr_chan_init(&c, 1);
  CHECK(cr_chan_recv(&c, NULL, &peer, &slot) == CR_CHAN_WOULDBLOCK);
  CHECK(cr_chan_send(&c, NULL, &peer, &slot) == CR_CHAN_BUFFERED);
  CHECK(cr_chan_send(&c, NULL, &peer, &slot) == CR_CHAN_WOULDBLOCK);
  CHECK(c.count == 1 && c.senders.next == &c.senders);
  CHECK(cr_chan_recv(&c, NULL, &peer, &slot) == CR_CHAN_BUFFERED);
  cr_chan_close(&c);
  CHECK(cr_chan_recv(&c, NULL, &peer, &slot) == CR_CHAN_CLOSED);
  CHECK(cr_chan_send(&c, NULL, &peer, &slot) == CR_CHAN_CLOSED);
  cr_chan_init(&r, 0);
  CHECK(cr_chan_send(&r, NULL, &peer, &slot) == CR_CHAN_WOULDBLOCK);
  CHECK(cr_chan_recv(&r, NULL, &peer, &slot) == CR_CHAN_WOULDBLOCK);
  CHECK(r.senders.next == &r.senders && r.receivers.next == &r.receivers);
  cr_sem_init(&s, 1, 1);
  CHECK(cr_sem_try_acquire(&s, 7) == 1 && s.value == 0 && s.owner == 7);
  CHECK(cr_sem_try_acquire(&s, 8) == 0 && s.owner == 7);
  CHECK(cr_sem_release(&s) == 0 && s.value == 1);
  CHECK(cr_sem_waiting(&s) == 0 && cr_chan_senders_waiting(&r) == 0 &&
        cr_chan_receivers_waiting(&r) == 0);
  return 0;
}

/* A lookup's list handed to a task that was then abandoned (woken, not
** run: a host closed between two steps) was never freed: the binding frees
** it when the task runs. The engine frees it now, and says so by t->xfer. */
static void resolve_once(cr_task_t *t) {
  if (cr_resolve(cr_task_engine(t), t, "127.0.0.1") != 1)
    cr_task_done(t, CR_TASK_FAILED);
}

static int test_abandoned_lookup_list_freed(void) {
  cr_engine_t e;
  cr_task_t t;
  int i;
  memset(&t, 0, sizeof t);
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_REAL) == 0);
  e.run = resolve_once;
  cr_task_init(&e, &t, NULL);
  CHECK(cr_task_start_root(&t) == 0);
  CHECK(cr_engine_step(&e, 0) == 1);   /* it asks and parks (the step's poll
                                       ** may have its answer already) */
  for (i = 0; i < 500 && t.status == CR_TASK_WAITING; i++)
    uv_run(e.loop, UV_RUN_ONCE);   /* the lookup's answer; tasks do not run */
  CHECK(t.status != CR_TASK_WAITING && t.wake_status == 0);
  CHECK(t.xfer != NULL);                           /* handed, not taken */
  cr_engine_abandon(&e);
  CHECK(t.xfer == NULL);                           /* freed (ASan: no leak) */
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/*
** A cancel hidden by a shield set before the task ran again. Cancellation
** is a level the task reads when it runs, so it makes its wait again: the
** engine puts it back where it was in the wait list (a newcomer does not
** pass it), and a child its group's limit held keeps waiting for its slot
** (a cancel never lets it past the limit).
*/
typedef struct {
  cr_task_t t;
  cr_sem_t *sem;
  cr_scope_t inner;
  int step;
  char name;
} semwaiter;

static char got[8];
static int ngot;

/* Acquire the semaphore inside a scope that can be shielded; a wait whose
** cancel was hidden is made again, as the Lua binding makes it. */
static void semwaiter_run(cr_task_t *t) {
  semwaiter *w = (semwaiter *)t;
  if (w->step++ == 0) {
    if (cr_scope_enter(t, &w->inner, INFINITY, 0) != 0) got[ngot++] = '?';
  } else if (t->wake_status == 0 || cr_task_cancelled(t) != NULL) {
    if (t->wake_status == 0) got[ngot++] = w->name;
    cr_scope_exit(&w->inner);
    cr_task_done(t, t->wake_status == 0 ? CR_TASK_DONE : CR_TASK_CANCELLED);
    return;
  }
  if (cr_sem_acquire(w->sem, t)) {            /* (not in these tests) */
    got[ngot++] = '!';
    cr_task_yield(t);
  }
}

/* `gap` more waits come and go elsewhere (the engine's count of arrivals
** moves on) before C comes: a waiter that waits long keeps its place. */
static int hidden_cancel_order(uint64_t gap) {
  cr_engine_t e;
  cr_sem_t sem;
  semwaiter w[3];
  int i;
  memset(w, 0, sizeof w);
  cr_sem_init(&sem, 0, 10);
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  for (i = 0; i < 3; i++) {
    TASK_INIT(&e, &w[i].t, semwaiter_run);
    w[i].sem = &sem;
    w[i].name = (char)('A' + i);
  }
  ngot = 0;
  cr_task_start_root(&w[0].t);
  cr_task_start_root(&w[1].t);
  (void)cr_engine_step(&e, 0);            /* (both parked for ever) */
  CHECK(cr_sem_waiting(&sem) == 2);
  e.arrivals += gap;                      /* (white box: 2^31 waits are slow) */
  /* C comes, A's cancel is hidden at once: C waits before A runs again */
  cr_task_start_root(&w[2].t);
  CHECK(cr_scope_cancel(&w[0].t.scope, CR_SRC_HOST, 0, NULL) == 1);
  cr_scope_set_shield(&w[0].inner, 1);
  CHECK(w[0].t.status == CR_TASK_SCHEDULED && cr_sem_waiting(&sem) == 1);
  (void)cr_engine_step(&e, 0);
  CHECK(cr_sem_waiting(&sem) == 3);
  for (i = 0; i < 3; i++) {
    CHECK(cr_sem_release(&sem) == 0);
    (void)cr_engine_step(&e, 0);
    CHECK(ngot == i + 1);
  }
  CHECK(ngot == 3 && memcmp(got, "ABC", 3) == 0);
  CHECK(drain(&e) == 0);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* (Tickets once had 32 bits: 2^31 arrivals after A, C went ahead of it.) */
static int test_hidden_cancel_keeps_wait_place(void) {
  CHECK(hidden_cancel_order(0) == 0);
  CHECK(hidden_cancel_order((UINT64_C(1) << 31) + 8) == 0);
  CHECK(hidden_cancel_order((UINT64_C(1) << 33) + 3) == 0);
  return 0;
}

static int live, max_live;

/* A child that counts how many of its kind run at once. */
static void live_kid_run(cr_task_t *t) {
  if (((ctask *)t)->step == 0 && ++live > max_live) max_live = live;
  ctask_run(t);
  if (t->status == CR_TASK_DONE || t->status == CR_TASK_CANCELLED) live--;
}

typedef struct {
  cr_task_t t;
  cr_group_t g;
  ctask kids[3];
  int step;
} limit1_body;

static void limit1_run(cr_task_t *t) {
  limit1_body *b = (limit1_body *)t;
  int i;
  if (b->step++ == 0) {
    cr_group_opts_t o = {1, 0, 0, 0, INFINITY};
    cr_group_init(t, &b->g, &o);
    for (i = 0; i < 3; i++) {
      TASK_INIT(cr_task_engine(t), &b->kids[i].t, live_kid_run);
      b->kids[i].naps = 1;
      b->kids[i].dur = 1;
      b->kids[i].log = (char)('0' + i);
      cr_group_spawn(&b->g, &b->kids[i].t);
    }
    cr_group_body_done(&b->g, CR_END_NORMAL);
  }
  if (cr_group_join(&b->g)) return;
  cr_group_close(&b->g, NULL);
  cr_task_done(t, CR_TASK_DONE);
}

static int test_hidden_cancel_keeps_limit(void) {
  cr_engine_t e;
  limit1_body b;
  memset(&b, 0, sizeof b);
  live = max_live = 0;
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  TASK_INIT(&e, &b.t, limit1_run);
  cr_task_start_root(&b.t);
  CHECK(cr_engine_step(&e, 0) == 1);   /* the body spawns: kid 0 queued,
                                       ** 1 and 2 held */
  CHECK(cr_task_held(&b.kids[1].t) && cr_task_held(&b.kids[2].t));
  /* the cancel lets the held ones go; the group's shield hides it again */
  CHECK(cr_scope_cancel(&b.t.scope, CR_SRC_HOST, 0, NULL) == 1);
  cr_scope_set_shield(&b.g.scope, 1);
  CHECK(b.g.limit == 1);
  CHECK(drain(&e) == 0);
  CHECK(max_live == 1);
  CHECK(!b.kids[0].cancelled && !b.kids[1].cancelled && !b.kids[2].cancelled);
  CHECK(b.kids[0].woke[0] == 1 && b.kids[1].woke[0] == 2 &&
        b.kids[2].woke[0] == 3);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* A cancel that stays lets no held child past the limit either: each waits
** for its slot, then runs up to its first cancellation point (its first
** step, then the sleep that finds the cancel), one at a time. */
static int test_cancel_keeps_limit(void) {
  cr_engine_t e;
  limit1_body b;
  int i;
  memset(&b, 0, sizeof b);
  live = max_live = 0;
  ntrace = 0;
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  TASK_INIT(&e, &b.t, limit1_run);
  cr_task_start_root(&b.t);
  CHECK(cr_engine_step(&e, 0) == 1);
  CHECK(cr_task_held(&b.kids[1].t) && cr_task_held(&b.kids[2].t));
  CHECK(cr_scope_cancel(&b.t.scope, CR_SRC_HOST, 0, NULL) == 1);
  CHECK(cr_task_held(&b.kids[1].t) && cr_task_held(&b.kids[2].t));
  CHECK(b.g.nrunning == 1);
  CHECK(drain(&e) == 0);
  CHECK(max_live == 1);
  CHECK(ntrace == 3 && memcmp(trace, "012", 3) == 0);   /* each ran */
  for (i = 0; i < 3; i++) CHECK(b.kids[i].cancelled && b.kids[i].nwoke == 0);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* g:start of a child the limit holds back: a cancel of the starter wakes
** it (CR_ECANCELED), and cr_group_start_woken lets it go; the child, now
** cancelled and the group's, keeps its place and runs when its slot
** comes. */
typedef struct {
  cr_task_t t;
  cr_group_t g;
  ctask kids[2];
  int step, woken_rc, kid_starting;
} starter_body;

static void starter_run(cr_task_t *t) {
  starter_body *b = (starter_body *)t;
  if (b->step++ == 0) {
    cr_group_opts_t o = {1, 0, 0, 0, INFINITY};
    cr_group_init(t, &b->g, &o);
    TASK_INIT(cr_task_engine(t), &b->kids[0].t, ctask_run);
    TASK_INIT(cr_task_engine(t), &b->kids[1].t, ctask_run);
    b->kids[0].naps = b->kids[1].naps = 1;
    b->kids[0].dur = b->kids[1].dur = 100;
    b->kids[0].log = 'a';
    b->kids[1].log = 'b';
    cr_group_spawn(&b->g, &b->kids[0].t);
    cr_group_start(&b->g, &b->kids[1].t, t);       /* held: parks */
    return;
  }
  if (b->step == 2) {
    b->woken_rc = t->wake_status == CR_ECANCELED
      ? cr_group_start_woken(&b->kids[1].t, t, NULL) : -1;
    b->kid_starting = b->kids[1].t.starting;
    cr_group_body_done(&b->g, CR_END_NORMAL);
  }
  if (cr_group_join(&b->g)) return;
  cr_group_close(&b->g, NULL);
  cr_task_done(t, CR_TASK_CANCELLED);
}

/* early: the starter is cancelled before it starts the child (its wait is
** aborted as it parks); else while it waits (the real clock, so that the
** first child still sleeps then: nothing waits that long). */
static int start_of_held_child_cancelled(int early) {
  cr_engine_t e;
  starter_body b;
  memset(&b, 0, sizeof b);
  ntrace = 0;
  CHECK(cr_engine_init(&e, NULL, early ? CR_CLOCK_VIRTUAL : CR_CLOCK_REAL)
        == 0);
  TASK_INIT(&e, &b.t, starter_run);
  cr_task_start_root(&b.t);
  if (!early) {
    CHECK(cr_engine_step(&e, 0) == 1);
    CHECK(b.t.status == CR_TASK_WAITING && b.t.wait == CR_WAIT_START);
    CHECK(cr_task_held(&b.kids[1].t) && b.kids[0].t.status == CR_TASK_WAITING);
  }
  /* a scope of the starter: the kid, below it, is cancelled too */
  CHECK(cr_scope_cancel(&b.t.scope, CR_SRC_HOST, 0, NULL) == 1);
  CHECK(cr_task_held(&b.kids[1].t) || early);
  CHECK(drain(&e) == 0);
  CHECK(b.woken_rc == 1 && !b.kid_starting);
  CHECK(ntrace == 2 && memcmp(trace, "ab", 2) == 0);
  CHECK(b.kids[0].cancelled && b.kids[1].cancelled);
  CHECK(b.kids[1].t.scope.cancel_called);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

static int test_start_of_held_child_cancelled(void) {
  CHECK(start_of_held_child_cancelled(1) == 0);
  CHECK(start_of_held_child_cancelled(0) == 0);
  return 0;
}

/*
** The Cancelled a starting child passes out is raised next in its starter,
** as one corral delivered to it: it passes a shield set since. A cancel
** can now wake the starter from g:start while the child waits for a slot
** of the limit; the child then gets its slot, and a seeded schedule may
** run it, and end it, before the starter runs again. The child's end must
** mark the starter then too: else the starter's Cancelled, behind a shield
** set on its group meanwhile, failed ("no cancelled scope encloses").
** R: group lim (limit 1, slot held by a), scope s, group g with st, which
** starts c into lim; a cancels s, then ends; c shields g and passes s's
** Cancelled out.
*/
typedef struct {
  cr_task_t r, a, st, c;
  ctask_fn fr, fa, fst, fc;
  cr_group_t lim, g;
  cr_scope_t s;
  int r_step, st_step, c_first, bad;
  cr_end_t c_end, st_end, g_end, s_end;
  cr_scope_t *c_to, *st_to, *g_to;
} marks_body;

static marks_body *MB;

static void mk_root(cr_task_t *t) {
  marks_body *b = MB;
  cr_group_opts_t one = {1, 0, 0, 0, INFINITY}, any = {0, 0, 0, 0, INFINITY};
  if (b->r_step == 0) {
    b->r_step = 1;
    cr_group_init(t, &b->lim, &one);
    cr_group_spawn(&b->lim, &b->a);                  /* the slot */
    cr_scope_enter(t, &b->s, INFINITY, 0);
    cr_group_init(t, &b->g, &any);
    cr_group_spawn(&b->g, &b->st);
    cr_group_body_done(&b->g, CR_END_NORMAL);
  }
  if (b->r_step == 1) {
    if (cr_group_join(&b->g)) return;
    b->r_step = 2;
    b->g_end = cr_group_close(&b->g, &b->g_to);
    b->s_end = cr_scope_leave(&b->s, b->g_end == CR_END_PASSED, NULL);
    cr_group_body_done(&b->lim, CR_END_NORMAL);
  }
  if (cr_group_join(&b->lim)) return;
  cr_group_close(&b->lim, NULL);
  cr_task_done(t, CR_TASK_DONE);
}

/* Holds lim's slot until st waits in g:start, then cancels s and ends:
** st is woken while c still waits, and c gets the slot at once. */
static void mk_a(cr_task_t *t) {
  marks_body *b = MB;
  if (b->st.status != CR_TASK_WAITING || b->st.wait != CR_WAIT_START) {
    cr_task_yield(t);
    return;
  }
  cr_scope_cancel(&b->s, CR_SRC_EXPLICIT, t->scope.id, NULL);
  b->bad |= !(b->st.status == CR_TASK_SCHEDULED && cr_task_held(&b->c));
  cr_task_done(t, CR_TASK_DONE);
}

static void mk_st(cr_task_t *t) {
  marks_body *b = MB;
  if (b->st_step++ == 0) {
    cr_group_start(&b->lim, &b->c, t);               /* c held: parks */
    return;
  }
  if (!b->c.finished) {      /* woken by the cancel, c has its slot now */
    b->bad |= cr_group_start_woken(&b->c, t, NULL) != 0;   /* waits */
    return;
  }
  b->c_first = t->wake_status == CR_ECANCELED;   /* c ran and ended first */
  b->st_end = cr_task_unwind(t, &b->st_to);      /* raises c's Cancelled */
  cr_task_done(t, b->st_end == CR_END_FAILED ? CR_TASK_FAILED
                                             : CR_TASK_CANCELLED);
}

/* At its first cancellation point: shields g, then passes s's out. */
static void mk_c(cr_task_t *t) {
  marks_body *b = MB;
  b->bad |= cr_task_cancelled(t) != &b->s;
  cr_scope_set_shield(&b->g.scope, 1);
  b->c_end = cr_task_unwind(t, &b->c_to);
  cr_task_done(t, CR_TASK_CANCELLED);
}

static int start_child_marks_woken_starter(uint64_t seed, int *c_first) {
  cr_engine_t e;
  marks_body b;
  memset(&b, 0, sizeof b);
  MB = &b;
  b.fr.fn = mk_root; b.fa.fn = mk_a; b.fst.fn = mk_st; b.fc.fn = mk_c;
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  e.run = ctask_dispatch;
  cr_engine_seed(&e, seed);
  cr_task_init(&e, &b.r, &b.fr);
  cr_task_init(&e, &b.a, &b.fa);
  cr_task_init(&e, &b.st, &b.fst);
  cr_task_init(&e, &b.c, &b.fc);
  cr_task_start_root(&b.r);
  CHECK(drain(&e) == 0);
  CHECK(!b.bad);
  CHECK(b.c_end == CR_END_PASSED && b.c_to == &b.s);
  CHECK(b.st_end == CR_END_PASSED && b.st_to == &b.s);   /* not FAILED */
  CHECK(b.g_end == CR_END_PASSED && b.g_to == &b.s);
  CHECK(b.s_end == CR_END_ABSORBED);
  CHECK(cr_engine_close(&e) == 0);
  *c_first += b.c_first;
  return 0;
}

static int test_start_child_marks_woken_starter(void) {
  int seed, c_first = 0;
  for (seed = 1; seed <= 64; seed++)
    CHECK(start_child_marks_woken_starter((uint64_t)seed, &c_first) == 0);
  CHECK(c_first > 0);          /* the timing this is about came up */
  return 0;
}

#define NWAIT 20000

typedef struct {
  cr_task_t t;
  cr_sem_t *sem;
  cr_scope_t inner;
  int step, id;
} ordwaiter;

static int order[NWAIT], norder;

/* semwaiter_run's twin that logs its number when the wait returns. */
static void ordwaiter_run(cr_task_t *t) {
  ordwaiter *w = (ordwaiter *)t;
  if (w->step++ == 0) {
    if (cr_scope_enter(t, &w->inner, INFINITY, 0) != 0) return;
  } else if (t->wake_status == 0 || cr_task_cancelled(t) != NULL) {
    if (t->wake_status == 0) order[norder++] = w->id;
    cr_scope_exit(&w->inner);
    cr_task_done(t, t->wake_status == 0 ? CR_TASK_DONE : CR_TASK_CANCELLED);
    return;
  }
  if (cr_sem_acquire(w->sem, t)) cr_task_yield(t);
}

/* Every other waiter's cancel is hidden, taken in `dir`'s order (1 from
** the oldest, -1 from the newest): each walk back to its place starts at
** the last one put back, a step or two away, not at an end of the list. */
static int hidden_cancel_interleaved(int dir) {
  cr_engine_t e;
  cr_sem_t sem;
  ordwaiter *w = calloc(NWAIT, sizeof *w);
  int i, k;
  CHECK(w != NULL);
  cr_sem_init(&sem, 0, NWAIT);
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  for (i = 0; i < NWAIT; i++) {
    TASK_INIT(&e, &w[i].t, ordwaiter_run);
    w[i].sem = &sem;
    w[i].id = i;
    cr_task_start_root(&w[i].t);
  }
  while (cr_sem_waiting(&sem) < NWAIT && cr_engine_step(&e, 0) == 1) {}
  CHECK(cr_sem_waiting(&sem) == NWAIT);
  for (k = 0; k < NWAIT / 2; k++) {
    i = dir > 0 ? 2 * k + 1 : NWAIT - 1 - 2 * k;
    CHECK(cr_scope_cancel(&w[i].t.scope, CR_SRC_HOST, 0, NULL) == 1);
    cr_scope_set_shield(&w[i].inner, 1);
  }
  e.rejoin_steps = 0;
  while (cr_sem_waiting(&sem) < NWAIT && cr_engine_step(&e, 0) == 1) {}
  CHECK(cr_sem_waiting(&sem) == NWAIT);
  /* from an end, about NWAIT * NWAIT / 8 links */
  CHECK(e.rejoin_steps < 4 * (uint64_t)NWAIT);
  norder = 0;
  for (i = 0; i < NWAIT; i++) CHECK(cr_sem_release(&sem) == 0);
  CHECK(drain(&e) == 0);
  CHECK(norder == NWAIT);
  for (i = 0; i < NWAIT; i++) CHECK(order[i] == i);
  CHECK(cr_engine_close(&e) == 0);
  free(w);
  return 0;
}

static int test_hidden_cancel_interleaved_linear(void) {
  CHECK(hidden_cancel_interleaved(1) == 0);
  CHECK(hidden_cancel_interleaved(-1) == 0);
  return 0;
}

int main(void) {
  struct { const char *name; int (*fn)(void); } tests[] = {
    {"a lookup's list handed to an abandoned task is freed",
     test_abandoned_lookup_list_freed},
    {"an unattached engine's wake-up does not spin the host's loop",
     test_unattached_wakeup_no_spin},
    {"an attached engine reports its end once, without a wake-up",
     test_attached_end_once},
    {"an attached deadlock the callback leaves alone is reported once",
     test_attached_deadlock_left_alone},
    {"attached deadlocks: an engine with no callback first; a rescue deadline",
     test_attached_deadlock_two_engines_and_a_rescue},
    {"an attached virtual clock fires a deadline armed with no task",
     test_attached_virtual_deadline_without_tasks},
    {"virtual sleep order", test_virtual_sleep_order},
    {"cancel wakes a parked task", test_cancel_wakes_parked},
    {"group limit and FIFO", test_group_limit_and_order},
    {"stop grace cancels the rest", test_stop_grace_cancels},
    {"shield hides outer cancel", test_shield_hides_outer},
    {"deadlines fire in order", test_deadline_order},
    {"seeded order", test_seeded_order},
    {"wait idle", test_wait_idle},
    {"wait idle keeps a park's own abort", test_wait_idle_keeps_park_abort},
    {"a park inside a cancelled scope is aborted at once",
     test_park_in_cancelled_scope},
    {"a refused start keeps no array; a bad wait kind is 'other'",
     test_refused_start_and_bad_wait},
    {"clean memo survives the generation wrapping", test_clean_memo_wraps},
    {"unwinding nested scopes walks them in linear time",
     test_nested_scopes_unwind_linear},
    {"cancelling a deep chain of tasks walks it in linear time",
     test_chain_cancel_linear},
    {"cancelling every level of a deep chain in turn walks it in linear time",
     test_chain_cancel_each_level_linear},
    {"asking whether a cancel reaches the tasks of a deep chain is linear",
     test_chain_reach_linear},
    {"a NaN deadline is refused", test_nan_deadline_refused},
    {"a listener that abandons at a wake finds the task queued",
     test_listener_abandons_at_a_wake},
    {"a closed engine closes again and refuses the rest",
     test_closed_engine_refuses},
    {"a channel tells the slot a send would fill, committing nothing",
     test_chan_next_slot},
    {"an empty channel starts its slots again at 0", test_chan_rebase},
    {"tries on a channel and a semaphore never queue",
     test_chan_and_sem_tries},
    {"a handed Cancelled does not pass a shield; a reused record forgets",
     test_handed_cancel_and_reused_record},
    {"a waiter whose cancel a shield hid keeps its place",
     test_hidden_cancel_keeps_wait_place},
    {"a held child whose cancel a shield hid waits for its slot",
     test_hidden_cancel_keeps_limit},
    {"a held child whose cancel stays waits for its slot, then runs",
     test_cancel_keeps_limit},
    {"a cancelled starter lets go of its held child, which runs later",
     test_start_of_held_child_cancelled},
    {"a starting child's Cancelled marks a starter a cancel woke first",
     test_start_child_marks_woken_starter},
    {"waiters put back among others that stayed take a step or two each",
     test_hidden_cancel_interleaved_linear},
  };
  int i, failed = 0, n = (int)(sizeof tests / sizeof tests[0]);
  for (i = 0; i < n; i++) {
    int r = tests[i].fn();
    printf("%s %s\n", r ? "FAIL" : "ok  ", tests[i].name);
    failed += r != 0;
  }
  printf("%d passed, %d failed\n", n - failed, failed);
  return failed != 0;
}
