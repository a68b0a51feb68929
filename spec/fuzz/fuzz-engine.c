/*
** fuzz-engine.c -- libFuzzer harness for the C engine (engine/, no Lua).
**
** Each input is a byte stream that drives a pool of C tasks on one engine
** with the virtual clock. A task is a small state machine (as in
** spec/c/test-engine.c): every time the engine resumes it, it reads the
** next opcode from the input and acts -- sleeps, yields, enters and leaves
** scopes and groups, spawns, cancels, stops, shields, fails, joins, uses
** events, semaphores and channels -- until it parks or finishes. Tasks
** behave as the Lua binding does: a blocking op is a cancellation point, a
** delivered wake-up (wake_status 0) wins over a later cancel, and a task
** inside a cancelled scope unwinds innermost-first to the absorbing scope.
** When the input runs out every task winds down; a deadlock is broken by
** cancelling the roots, then (if shields still hold tasks) every scope.
**
** The harness keeps its own model of every wait, permit and channel value
** and checks the engine against it after every op and every step; any
** mismatch abort()s with a message. Run one input with
**   FUZZ_ENGINE_TRACE=1 ./build/fuzz-engine crash-file
** to see it decoded as the op sequence it performs.
**
** Knobs (environment): FUZZ_ENGINE_TRACE=1 prints the ops;
** FUZZ_ENGINE_NO_POISON=1 hands the engine zeroed structs only (by default
** some inputs fill them with garbage first, as a stack variable would be);
** FUZZ_ENGINE_AVOID=name,... steers around engine bugs this harness found,
** both fixed since (kept to bisect with):
**   reparent     ready() moving a child under a cancelled scope woke only
**                the child, not the tasks parked in groups it opened
**   limit-start  g:start into a full limited group from a task holding a
**                slot could never be cancelled (a cancel now starts a
**                held-back child past the limit; see group.c)
*/
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "corral.h"

/* --- limits --------------------------------------------------------------- */

#define MAX_TASKS 64
#define MAX_SCOPES 64
#define MAX_GROUPS 32
#define MAX_FRAMES 8      /* scopes + groups one task may have open */
#define N_EVENTS 3
#define N_SEMS 2          /* 0: a lock (1 of 1); 1: a semaphore (1..4) */
#define N_CHANS 3
#define MAX_CAP 3
#define MAX_STEPS 100000

/* --- ops, decoded from the input ------------------------------------------ */

#define OPS(XX)                                                              \
  XX(SLEEP) XX(YIELD) XX(SCOPE) XX(EXIT) XX(GROUP) XX(SPAWN) XX(START)       \
  XX(READY) XX(CANCEL) XX(STOP) XX(SHIELD) XX(DEADLINE) XX(FAIL_BODY)        \
  XX(FAIL) XX(STOPPING) XX(JOIN) XX(EV_WAIT) XX(EV_SET) XX(ACQUIRE)          \
  XX(RELEASE) XX(SEND) XX(RECV) XX(CLOSE) XX(DONE)

enum {
#define XX(n) OP_##n,
  OPS(XX)
#undef XX
  N_OPS
};

static const char *const op_name[] = {
#define XX(n) #n,
  OPS(XX)
#undef XX
};

/* Small virtual durations; INFINITY = forever. */
static const double durations[8] = {0, 0.25, 1, 1, 2, 3, 10, INFINITY};
/* Deadlines relative to now: 0 and -1 mean expired on entry. */
static const double deadlines[8] = {INFINITY, 0, 0.5, 1, 2, 4, INFINITY, -1};
/* Grace of cr_group_stop: 0 cancels now, < 0 waits forever. */
static const double graces[8] = {0, -1, 0.5, 1, 3, INFINITY, -1, 0};

/* --- what a task can be parked on ----------------------------------------- */

enum {
  W_NONE, W_SLEEP, W_YIELD, W_JOIN, W_EVENT, W_SEM, W_SEND, W_RECV,
  W_STOPPING, W_GJOIN, W_START
};
static const char *const wait_name[] = {
  "none", "sleep", "yield", "join", "event", "acquire", "send", "recv",
  "wait_stopping", "group-join", "start"
};

/* Group join and g:start's wait are not cancellation points; a yield is
** not parked at all. Every other wait must be aborted by a cancel. */
static int abortable(int w) {
  return w != W_NONE && w != W_YIELD && w != W_GJOIN && w != W_START;
}

/* --- the world of one input ----------------------------------------------- */

enum { F_SCOPE, F_GROUP };
typedef struct { int kind, idx; } frame_t;

/* M_RUN: the task takes ops from the input. M_LEAVE: it is leaving its
** frames (an exit, a Cancelled unwinding, a failure or the end). */
enum { M_RUN, M_LEAVE };

enum { GO, PARKED, GONE };    /* result of one action */

typedef struct {
  cr_task_t t;                /* first: the engine hands us &t */
  int idx;
  int started, running, finished;
  int seen_cc;                /* its scope's cancel_called, last audit */
  cr_task_status_t final;
  cr_scope_t *scope_parent;   /* where its own scope must hang */
  frame_t fr[MAX_FRAMES];     /* scopes it has entered, outermost first */
  int nfr;
  /* the wait it is parked in */
  int wait, wobj;
  double wuntil, wsince;      /* sleep: until when; parked at what time */
  uint64_t wseq;              /* park order, for FIFO checks */
  int wake_checked;           /* its wake-up was validated by audit */
  /* winding down: leave frames down to `target` (-1: all, then finish) */
  int mode, target, gjoining, failing;
  cr_scope_t *absorber;
  cr_task_status_t fin;
  uint64_t held_seq;          /* spawned while the group's limit was full */
  int released;               /* a cancel started it past the limit */
  /* g:start */
  int start_mode, start_waiting, ready, starter;
  /* sync */
  int held[N_SEMS];           /* permits it holds */
  int granted;                /* a permit was handed over while parked */
  int val;                    /* send: the value offered; recv: received */
  int taken;                  /* send: a receiver took the value */
} htask;

typedef struct { cr_scope_t s; int seen_cc; } hscope;   /* a plain scope */

typedef struct {
  cr_group_t g;               /* first: t->group points here */
  int seen_cc;                /* its scope's cancel_called, last audit */
  int nlive;                  /* children spawned, not finished */
  size_t nfail;               /* cr_group_fail calls */
  int past_limit;             /* a child a cancel started past the limit
                              ** became a full child (ready): the limit may
                              ** stay exceeded until it finishes */
} hgroup;

typedef struct { cr_chan_t c; int buf[MAX_CAP]; } hchan;

/* Life of a channel value. */
enum { V_NONE, V_OFFERED, V_BUFFERED, V_HANDED, V_RECEIVED, V_WITHDRAWN };

typedef struct {
  cr_engine_t e;
  const uint8_t *data;
  size_t size, pos;
  unsigned char poison;       /* fill byte for engine structs before init */
  htask task[MAX_TASKS];
  int ntasks, nroots;
  hscope scope[MAX_SCOPES];
  int nscopes;
  hgroup group[MAX_GROUPS];
  int ngroups;
  cr_event_t ev[N_EVENTS];
  cr_sem_t sem[N_SEMS];
  size_t permits[N_SEMS];
  size_t sem_out[N_SEMS];     /* permits taken out, handed over included */
  hchan ch[N_CHANS];
  uint8_t *val;               /* V_* per value id */
  int nvals, maxvals;
  double last_now;
  uint64_t wseq, held_seq;
  int nops, cur, deadlocks, cancelled_roots;
} world;

static world *W;
static int trace_on, no_poison, avoid_reparent, avoid_limit_start;

/* --- reporting ------------------------------------------------------------- */

static void dump_tasks(void);

static void fail(int line, const char *cond, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "\nfuzz-engine: INVARIANT FAILED: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n  check (line %d): %s\n", line, cond);
  if (W) {
    fprintf(stderr, "  at op #%d, in task T%d, vtime %g, byte %zu of %zu\n",
            W->nops, W->cur, cr_now(&W->e), W->pos, W->size);
    dump_tasks();
  }
  fprintf(stderr, "  rerun with FUZZ_ENGINE_TRACE=1 to see the op sequence\n");
  abort();
}

#define CHECK(cond, ...) \
  do { if (!(cond)) fail(__LINE__, #cond, __VA_ARGS__); } while (0)

static void trace(const char *fmt, ...) {
  va_list ap;
  if (!trace_on) return;
  fprintf(stderr, "[%7.2f] ", cr_now(&W->e));
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* --- input ----------------------------------------------------------------- */

static int more(void) { return W->pos < W->size; }
static unsigned take(void) { return more() ? W->data[W->pos++] : 0; }

/* Engine structs get garbage before init on some inputs: init must set
** every field it later reads (spec/c/test-engine.c passes a stack scope). */
static void poison(void *p, size_t n) { memset(p, W->poison, n); }

/* --- lookups --------------------------------------------------------------- */

static htask *H(cr_task_t *t) { return (htask *)t; }
static int gidx(cr_group_t *g) { return (int)((hgroup *)g - W->group); }

static cr_scope_t *frame_scope(const htask *h, int i) {
  const frame_t *f = &h->fr[i];
  return f->kind == F_SCOPE ? &W->scope[f->idx].s : &W->group[f->idx].g.scope;
}

/* The task's innermost scope as the harness knows it. */
static cr_scope_t *expected_cur(htask *h) {
  return h->nfr ? frame_scope(h, h->nfr - 1) : &h->t.scope;
}

static const char *scope_label(cr_scope_t *s, char *buf, size_t n) {
  int i;
  if (s == NULL) { snprintf(buf, n, "none"); return buf; }
  for (i = 0; i < W->nscopes; i++)
    if (s == &W->scope[i].s) { snprintf(buf, n, "S%d", i); return buf; }
  for (i = 0; i < W->ngroups; i++)
    if (s == &W->group[i].g.scope) { snprintf(buf, n, "G%d", i); return buf; }
  for (i = 0; i < W->ntasks; i++)
    if (s == &W->task[i].t.scope) { snprintf(buf, n, "T%d.scope", i); return buf; }
  snprintf(buf, n, "?%p", (void *)s);
  return buf;
}

/* Innermost group among the task's own frames, or -1. */
static int innermost_group_frame(htask *h) {
  int i;
  for (i = h->nfr - 1; i >= 0; i--)
    if (h->fr[i].kind == F_GROUP) return i;
  return -1;
}

/* The longest waiter parked (status WAITING) on kind/obj, or NULL. */
static htask *oldest(int kind, int obj) {
  htask *best = NULL;
  int i;
  for (i = 0; i < W->ntasks; i++) {
    htask *h = &W->task[i];
    if (h->finished || h->wait != kind || h->wobj != obj) continue;
    if (h->t.status != CR_TASK_WAITING) continue;
    if (best == NULL || h->wseq < best->wseq) best = h;
  }
  return best;
}

static htask *new_task(void) {
  htask *h;
  if (W->ntasks >= MAX_TASKS) return NULL;
  h = &W->task[W->ntasks];
  h->idx = W->ntasks++;
  h->val = -1;
  h->starter = -1;
  return h;
}

static int new_value(void) {
  if (W->nvals >= W->maxvals) return -1;
  return W->nvals++;
}

/* Every live task and what it waits on: printed with a failure. */
static void dump_tasks(void) {
  static const char *const status[] = {
    "scheduled", "running", "waiting", "done", "failed", "cancelled"
  };
  char b1[32], b2[32];
  int i;
  fprintf(stderr, "  live tasks:\n");
  for (i = 0; i < W->ntasks; i++) {
    htask *h = &W->task[i];
    cr_group_t *g = h->t.group;
    if (h->finished) continue;
    fprintf(stderr, "    T%d %-9s %s", i,
            (unsigned)h->t.status < 6 ? status[h->t.status] : "?",
            h->started ? wait_name[h->wait] : "(not started)");
    if (h->wait != W_NONE && h->wait != W_SLEEP && h->wait != W_YIELD)
      fprintf(stderr, "(%s%d)", h->wait == W_JOIN || h->wait == W_START ? "T"
              : h->wait == W_STOPPING || h->wait == W_GJOIN ? "G" : "#",
              h->wobj);
    fprintf(stderr, " in %s, cancel seen from %s", 
            scope_label(h->t.cur, b1, sizeof b1),
            scope_label(cr_scope_absorber(h->t.cur), b2, sizeof b2));
    if (g)
      fprintf(stderr, ", child of G%d%s", gidx(g),
              !h->started && g->limit && g->nrunning >= g->limit
                ? " (held back by its limit)" : "");
    fputc('\n', stderr);
  }
}

/* --- invariants checked after every op and step --------------------------- */

/* A parked task whose wait can already complete was forgotten. */
static void check_not_lost(htask *h) {
  switch (h->wait) {
    case W_JOIN:
      CHECK(!W->task[h->wobj].t.finished,
            "T%d still parked joining T%d, which has finished", h->idx, h->wobj);
      break;
    case W_EVENT:
      CHECK(!W->ev[h->wobj].is_set, "T%d parked on E%d, which is set",
            h->idx, h->wobj);
      break;
    case W_SEM:
      CHECK(W->sem[h->wobj].value == 0,
            "T%d waits on M%d although %zu permits are free", h->idx, h->wobj,
            W->sem[h->wobj].value);
      break;
    case W_SEND: {
      cr_chan_t *c = &W->ch[h->wobj].c;
      CHECK(!c->closed, "T%d still parked sending on closed C%d", h->idx, h->wobj);
      CHECK(c->count == c->cap, "T%d parked sending on C%d with a free slot",
            h->idx, h->wobj);
      CHECK(oldest(W_RECV, h->wobj) == NULL,
            "sender T%d and a receiver both parked on C%d", h->idx, h->wobj);
      break;
    }
    case W_RECV: {
      cr_chan_t *c = &W->ch[h->wobj].c;
      CHECK(!c->closed, "T%d still parked receiving on closed C%d", h->idx,
            h->wobj);
      CHECK(c->count == 0, "T%d parked receiving on non-empty C%d", h->idx,
            h->wobj);
      break;
    }
    case W_STOPPING: {
      cr_group_t *g = &W->group[h->wobj].g;
      CHECK(!g->stopping && !g->closed,
            "T%d still waits for G%d to stop, which is %s", h->idx, h->wobj,
            g->closed ? "closed" : "stopping");
      break;
    }
    case W_GJOIN:
      CHECK(W->group[h->wobj].g.nchildren > 0,
            "T%d still joins G%d, which has no children left", h->idx, h->wobj);
      break;
    case W_START: {
      htask *c = &W->task[h->wobj];
      CHECK(!c->ready && !c->t.finished,
            "T%d still waits in start for T%d, which is %s", h->idx, h->wobj,
            c->ready ? "ready" : "finished");
      break;
    }
    default:
      break;
  }
}

/* Some child of g can see a cancel (and may have been started past g's
** limit because of it). */
static int child_cancelled(world *w, cr_group_t *g) {
  int i;
  for (i = 0; i < w->ntasks; i++)
    if (w->task[i].t.group == g && !w->task[i].finished &&
        (cr_scope_absorber(&w->task[i].t.scope) ||
         w->task[i].t.scope.cancel_called ||
         /* held at spawn, out of the pending queue before it started */
         (w->task[i].held_seq && !w->task[i].started &&
          !w->task[i].t.pending)))
      return 1;
  return 0;
}

static void audit(const char *where) {
  world *w = W;
  {
    int k;
    for (k = 0; k < w->ntasks; k++)
      if (w->task[k].held_seq && !w->task[k].started && !w->task[k].t.pending)
        w->task[k].released = 1;
  }
  double now = cr_now(&w->e);
  size_t live_tasks = 0, live_scopes = 0;
  int i, j;
  char b1[32], b2[32];
  CHECK(now >= w->last_now, "virtual time went back from %g to %g (%s)",
        w->last_now, now, where);
  w->last_now = now;

  for (i = 0; i < w->ntasks; i++) {
    htask *h = &w->task[i];
    cr_task_t *t = &h->t;
    /* cancel_called never goes back to false */
    CHECK(!h->seen_cc || t->scope.cancel_called, "T%d.scope uncancelled", i);
    h->seen_cc = t->scope.cancel_called;
    if (h->finished) {
      CHECK(t->finished && t->status == h->final,
            "finished T%d has status %d", i, (int)t->status);
      continue;
    }
    live_tasks++;
    live_scopes += 1 + (size_t)h->nfr;
    CHECK(!t->finished, "T%d finished behind the harness' back", i);
    CHECK(t->scope.entered, "live T%d's own scope is not entered", i);
    CHECK(t->scope.parent == h->scope_parent,
          "T%d.scope hangs below %s, expected %s", i,
          scope_label(t->scope.parent, b1, sizeof b1),
          scope_label(h->scope_parent, b2, sizeof b2));
    CHECK(t->cur == expected_cur(h), "T%d.cur is %s, expected %s", i,
          scope_label(t->cur, b1, sizeof b1),
          scope_label(expected_cur(h), b2, sizeof b2));
    for (j = 0; j < h->nfr; j++) {
      cr_scope_t *s = frame_scope(h, j);
      cr_scope_t *p = j ? frame_scope(h, j - 1) : &t->scope;
      CHECK(s->entered && !s->exited && s->owner == t,
            "T%d's frame %d is not an entered scope of its own", i, j);
      CHECK(s->parent == p, "T%d's frame %d hangs below %s, expected %s", i, j,
            scope_label(s->parent, b1, sizeof b1), scope_label(p, b2, sizeof b2));
    }
    if (h->running) {
      CHECK(t->status == CR_TASK_RUNNING && w->e.current == t,
            "T%d runs but the engine says otherwise", i);
      continue;
    }
    if (h->wait == W_NONE) {
      CHECK(!h->started && t->status == CR_TASK_SCHEDULED,
            "T%d is neither parked nor new (status %d)", i, (int)t->status);
    } else if (t->status == CR_TASK_WAITING) {
      CHECK(h->wait != W_YIELD, "T%d waits after a yield", i);
      /* level-triggered delivery: a cancel it can see must have woken it */
      if (abortable(h->wait))
        CHECK(cr_scope_absorber(t->cur) == NULL,
              "T%d parked in %s inside cancelled %s was not woken", i,
              wait_name[h->wait],
              scope_label(cr_scope_absorber(t->cur), b1, sizeof b1));
      check_not_lost(h);
    } else if (t->status == CR_TASK_SCHEDULED) {
      if (!h->wake_checked) {
        h->wake_checked = 1;
        /* an abort must come from a cancel this task can see (a shield
        ** hides outer scopes); non-abortable waits never abort */
        if (t->wake_status == CR_ECANCELED) {
          CHECK(abortable(h->wait),
                "T%d's non-abortable %s woke with CR_ECANCELED", i,
                wait_name[h->wait]);
          CHECK(cr_scope_absorber(t->cur) != NULL,
                "T%d woke from %s with CR_ECANCELED but sees no cancelled "
                "scope (shielded?)", i, wait_name[h->wait]);
        }
      }
    } else {
      CHECK(0, "parked T%d has status %d", i, (int)t->status);
    }
  }
  CHECK(w->e.stats.tasks == live_tasks, "stats.tasks %zu, harness %zu live",
        w->e.stats.tasks, live_tasks);
  CHECK(w->e.stats.scopes == live_scopes, "stats.scopes %zu, harness %zu",
        w->e.stats.scopes, live_scopes);

  for (i = 0; i < w->nscopes; i++) {
    cr_scope_t *s = &w->scope[i].s;
    CHECK(!w->scope[i].seen_cc || s->cancel_called, "S%d uncancelled", i);
    w->scope[i].seen_cc = s->cancel_called;
    /* the clock only jumps to the earliest deadline: none is left behind */
    CHECK(!cr_timer_armed(&s->deadline) || s->deadline.when >= now,
          "S%d's deadline %g still armed at %g", i, s->deadline.when, now);
  }
  for (i = 0; i < w->ntasks; i++) {
    cr_timer_t *tm = &w->task[i].t.scope.deadline;
    CHECK(w->task[i].finished || !cr_timer_armed(tm) || tm->when >= now,
          "T%d's sleep until %g still armed at %g", i, tm->when, now);
  }
  for (i = 0; i < w->ngroups; i++) {
    hgroup *hg = &w->group[i];
    cr_group_t *g = &hg->g;
    CHECK(!hg->seen_cc || g->scope.cancel_called, "G%d uncancelled", i);
    CHECK(!cr_timer_armed(&g->scope.deadline) || g->scope.deadline.when >= now,
          "G%d's deadline %g still armed at %g", i, g->scope.deadline.when, now);
    hg->seen_cc = g->scope.cancel_called;
    CHECK(g->nchildren == (size_t)hg->nlive, "G%d counts %zu children, "
          "harness %d", i, g->nchildren, hg->nlive);
    CHECK(g->nrunning <= g->nchildren, "G%d runs more than it has", i);
    /* a cancel that reaches a held-back child starts it past the limit */
    if (g->limit && child_cancelled(w, g))
      hg->past_limit = 1;   /* sticky: a shield raised later may hide it */
    CHECK(!g->limit || g->nrunning <= g->limit || hg->past_limit,
          "G%d runs %zu > limit %zu", i, g->nrunning, g->limit);
    CHECK(g->nerrors + g->dropped == hg->nfail && g->nerrors <= g->max_errors,
          "G%d keeps %zu + drops %zu errors of %zu", i, g->nerrors, g->dropped,
          hg->nfail);
    CHECK(!g->closed || g->nchildren == 0, "closed G%d has children", i);
  }
  /* every permit is free or out with a task (held or being handed over) */
  for (i = 0; i < N_SEMS; i++)
    CHECK(w->sem[i].value + w->sem_out[i] == w->permits[i],
          "M%d: %zu free + %zu out != %zu permits", i, w->sem[i].value,
          w->sem_out[i], w->permits[i]);
  /* buffered values sit exactly in the ring window [head, head+count) */
  for (i = 0; i < N_CHANS; i++) {
    hchan *hc = &w->ch[i];
    CHECK(hc->c.count <= hc->c.cap, "C%d over capacity", i);
    for (j = 0; j < (int)hc->c.cap; j++) {
      size_t off = ((size_t)j + hc->c.cap - hc->c.head) % hc->c.cap;
      int in = off < hc->c.count;
      CHECK(in == (hc->buf[j] >= 0), "C%d slot %d is %s but holds %d", i, j,
            in ? "in the window" : "free", hc->buf[j]);
      CHECK(!in || w->val[hc->buf[j]] == V_BUFFERED, "C%d slot %d", i, j);
    }
  }
}

/* --- semaphore and channel bookkeeping ------------------------------------- */

/* Release one permit held by h: it goes to the longest waiter, if any. */
static void sem_give_back(htask *h, int i) {
  cr_sem_t *s = &W->sem[i];
  htask *o = oldest(W_SEM, i);
  size_t before = s->value;
  int rc = cr_sem_release(s);
  CHECK(rc == 0, "release of a held permit of M%d: %d", i, rc);
  h->held[i]--;
  if (o) {
    CHECK(s->value == before && s->owner == &o->t &&
          o->t.status == CR_TASK_SCHEDULED && o->t.wake_status == 0,
          "M%d's permit did not go to its longest waiter T%d", i, o->idx);
    o->granted = 1;
  } else {
    CHECK(s->value == before + 1, "M%d kept a permit nobody waits for", i);
    W->sem_out[i]--;
  }
  trace("T%d release M%d -> %s%d", h->idx, i, o ? "handed to T" : "free ",
        o ? o->idx : (int)s->value);
}

/* A sender's value will never arrive: it was cancelled or the channel closed. */
static void withdraw(htask *h) {
  if (h->val < 0) return;
  CHECK(!h->taken && W->val[h->val] == V_OFFERED,
        "T%d's value v%d was taken although its send failed", h->idx, h->val);
  W->val[h->val] = V_WITHDRAWN;
  h->val = -1;
}

/* A receiver took v straight from the waiting sender o. */
static void take_from_sender(htask *o, int c) {
  CHECK(o->val >= 0 && W->val[o->val] == V_OFFERED,
        "sender T%d on C%d has no value on offer", o->idx, c);
  o->taken = 1;
}

/* --- parking ---------------------------------------------------------------- */

static int park(htask *h, int kind, int obj, double until) {
  h->wait = kind;
  h->wobj = obj;
  h->wuntil = until;
  h->wsince = cr_now(&W->e);
  h->wseq = ++W->wseq;
  h->wake_checked = 0;
  return PARKED;
}

static void begin_leave(htask *h, int target, cr_scope_t *absorber,
                        cr_task_status_t fin) {
  h->mode = M_LEAVE;
  h->target = target;
  h->absorber = absorber;
  h->fin = fin;
}

/* cr_task_cancelled may answer from a cache: it must match the walk. */
static cr_scope_t *checked_cancelled(htask *h) {
  cr_scope_t *a = cr_task_cancelled(&h->t);
  cr_scope_t *b = cr_scope_absorber(h->t.cur);
  char b1[32], b2[32];
  CHECK(a == b, "cr_task_cancelled(T%d) says %s, the scopes say %s", h->idx,
        scope_label(a, b1, sizeof b1), scope_label(b, b2, sizeof b2));
  return a;
}

/* A Cancelled is raised here: unwind to the scope that absorbs it. */
static void raise_cancelled(htask *h, cr_scope_t *a) {
  int i, target = -1;
  char b[32];
  for (i = 0; i < h->nfr; i++)
    if (frame_scope(h, i) == a) target = i;
  trace("T%d Cancelled, absorbed by %s: unwinds %s", h->idx,
        scope_label(a, b, sizeof b), target < 0 ? "all" : "to it");
  begin_leave(h, target, a, CR_TASK_CANCELLED);
}

/* A cancellation point: 1 if the task is cancelled (and now unwinding). */
static int cancel_point(htask *h) {
  cr_scope_t *a = checked_cancelled(h);
  if (a == NULL) return 0;
  raise_cancelled(h, a);
  return 1;
}

/*
** Start (or restart, after an abort that no longer applies) a blocking
** wait. Returns GO when it completed at once, PARKED when the task parked.
*/
static int block(htask *h, int kind, int obj, double until) {
  cr_task_t *t = &h->t;
  cr_task_t *peer = NULL;
  size_t slot = 0;
  if (cancel_point(h)) return GO;
  switch (kind) {
    case W_SLEEP:
      CHECK(cr_task_sleep(t, until) == 0, "sleep until %g", until);
      return park(h, W_SLEEP, 0, until);
    case W_YIELD:
      cr_task_yield(t);
      return park(h, W_YIELD, 0, 0);
    case W_JOIN:
      cr_task_join(t, &W->task[obj].t);
      return park(h, W_JOIN, obj, 0);
    case W_EVENT:
      if (cr_event_wait(&W->ev[obj], t)) return GO;
      return park(h, W_EVENT, obj, 0);
    case W_SEM: {
      size_t before = W->sem[obj].value;
      if (cr_sem_acquire(&W->sem[obj], t)) {
        CHECK(before > 0 && W->sem[obj].value == before - 1, "acquire M%d", obj);
        h->held[obj]++;
        W->sem_out[obj]++;
        return GO;
      }
      CHECK(before == 0, "M%d parked T%d with %zu permits free", obj, h->idx,
            before);
      return park(h, W_SEM, obj, 0);
    }
    case W_STOPPING: {
      cr_group_t *g = &W->group[obj].g;
      if (cr_group_wait_stopping(g, t)) {
        CHECK(g->stopping || g->closed, "G%d not stopping", obj);
        return GO;
      }
      return park(h, W_STOPPING, obj, 0);
    }
    case W_SEND: {
      hchan *hc = &W->ch[obj];
      htask *o = oldest(W_RECV, obj);
      int v = new_value();
      if (v < 0) return GO;
      switch (cr_chan_send(&hc->c, t, &peer, &slot)) {
        case CR_CHAN_HANDOFF:
          CHECK(o && peer == &o->t && o->t.status == CR_TASK_SCHEDULED,
                "send on C%d handed v%d to T%d, not the longest receiver", obj,
                v, peer ? H(peer)->idx : -1);
          CHECK(o->val < 0, "receiver T%d got a second value", o->idx);
          o->val = v;
          W->val[v] = V_HANDED;
          trace("T%d send v%d on C%d -> handed to T%d", h->idx, v, obj, o->idx);
          return GO;
        case CR_CHAN_BUFFERED:
          CHECK(slot < hc->c.cap && hc->buf[slot] < 0,
                "send on C%d into slot %zu, which is taken", obj, slot);
          CHECK(o == NULL, "C%d buffered v%d while T%d waits to receive", obj,
                v, o->idx);
          hc->buf[slot] = v;
          W->val[v] = V_BUFFERED;
          trace("T%d send v%d on C%d -> slot %zu", h->idx, v, obj, slot);
          return GO;
        case CR_CHAN_CLOSED:
          CHECK(hc->c.closed, "send: C%d is not closed", obj);
          W->val[v] = V_WITHDRAWN;
          trace("T%d send v%d on C%d -> closed", h->idx, v, obj);
          return GO;
        case CR_CHAN_PARKED:
          h->val = v;
          h->taken = 0;
          W->val[v] = V_OFFERED;
          trace("T%d send v%d on C%d -> parks", h->idx, v, obj);
          return park(h, W_SEND, obj, 0);
      }
      CHECK(0, "cr_chan_send returned junk");
      return GO;
    }
    case W_RECV: {
      hchan *hc = &W->ch[obj];
      htask *o = oldest(W_SEND, obj);
      switch (cr_chan_recv(&hc->c, t, &peer, &slot)) {
        case CR_CHAN_BUFFERED: {
          int v;
          CHECK(slot < hc->c.cap && hc->buf[slot] >= 0,
                "recv on C%d from slot %zu, which is empty", obj, slot);
          v = hc->buf[slot];
          CHECK(W->val[v] == V_BUFFERED, "v%d received twice", v);
          W->val[v] = V_RECEIVED;
          hc->buf[slot] = -1;
          trace("T%d recv on C%d <- v%d from slot %zu", h->idx, obj, v, slot);
          /* the freed slot goes to the longest waiting sender */
          if (cr_chan_refill(&hc->c, &peer, &slot)) {
            CHECK(o && peer == &o->t && o->t.status == CR_TASK_SCHEDULED,
                  "refill of C%d took T%d, not the longest sender", obj,
                  peer ? H(peer)->idx : -1);
            CHECK(slot < hc->c.cap && hc->buf[slot] < 0,
                  "refill of C%d into taken slot %zu", obj, slot);
            take_from_sender(o, obj);
            hc->buf[slot] = o->val;
            W->val[o->val] = V_BUFFERED;
            trace("  refill: T%d's v%d -> slot %zu", o->idx, o->val, slot);
          } else {
            CHECK(o == NULL, "C%d has a free slot and T%d still waits to send",
                  obj, o->idx);
          }
          return GO;
        }
        case CR_CHAN_HANDOFF:
          CHECK(o && peer == &o->t && o->t.status == CR_TASK_SCHEDULED,
                "recv on C%d took from T%d, not the longest sender", obj,
                peer ? H(peer)->idx : -1);
          take_from_sender(o, obj);
          W->val[o->val] = V_RECEIVED;
          trace("T%d recv on C%d <- v%d from T%d", h->idx, obj, o->val, o->idx);
          return GO;
        case CR_CHAN_CLOSED:
          CHECK(hc->c.closed && hc->c.count == 0, "recv: C%d not drained", obj);
          trace("T%d recv on C%d -> closed", h->idx, obj);
          return GO;
        case CR_CHAN_PARKED:
          CHECK(hc->c.count == 0 && o == NULL,
                "receiver T%d parked on C%d with values available", h->idx, obj);
          h->val = -1;
          trace("T%d recv on C%d -> parks", h->idx, obj);
          return park(h, W_RECV, obj, 0);
      }
      CHECK(0, "cr_chan_recv returned junk");
      return GO;
    }
    default:
      CHECK(0, "bad wait kind %d", kind);
      return GO;
  }
}

/* g:start's wait: the starter stays put until the child is ready. */
static cr_abort_t start_abort(cr_task_t *t) {
  (void)t;
  return CR_ABORT_LATE;
}

/*
** The task was resumed after parking: check what the engine delivered.
** Returns GO to go on, PARKED if it parked again (a retried wait).
*/
static int resumed(htask *h) {
  cr_task_t *t = &h->t;
  int ws = t->wake_status, kind = h->wait, obj = h->wobj;
  double now = cr_now(t->engine);
  h->wait = W_NONE;
  trace("T%d resumed from %s (%s)", h->idx, wait_name[kind],
        ws ? cr_err_name(ws) : "delivered");
  if (ws == 0) {
    switch (kind) {
      case W_SLEEP:
        /* the clock stands still while tasks run and jumps to deadlines */
        CHECK(now == (h->wuntil > h->wsince ? h->wuntil : h->wsince),
              "T%d's sleep until %g (from %g) ended at %g", h->idx, h->wuntil,
              h->wsince, now);
        break;
      case W_JOIN:
        CHECK(W->task[obj].t.finished, "T%d's join of T%d returned early",
              h->idx, obj);
        break;
      case W_EVENT:
        CHECK(W->ev[obj].is_set, "T%d woke from E%d, not set", h->idx, obj);
        break;
      case W_SEM:
        CHECK(h->granted, "T%d woke from M%d without a permit", h->idx, obj);
        h->granted = 0;
        h->held[obj]++;
        break;
      case W_SEND:
        CHECK(h->taken && h->val >= 0, "sender T%d woke but v%d was not taken",
              h->idx, h->val);
        h->taken = 0;
        h->val = -1;
        break;
      case W_RECV:
        CHECK(h->val >= 0 && W->val[h->val] == V_HANDED,
              "receiver T%d woke on C%d without a value", h->idx, obj);
        W->val[h->val] = V_RECEIVED;
        h->val = -1;
        break;
      case W_STOPPING:
        CHECK(W->group[obj].g.stopping || W->group[obj].g.closed,
              "T%d woke from wait_stopping of G%d, not stopping", h->idx, obj);
        break;
      case W_START:
        CHECK(W->task[obj].ready || W->task[obj].t.finished,
              "T%d's start returned before T%d was ready", h->idx, obj);
        W->task[obj].start_waiting = 0;
        break;
      default:
        break;
    }
    return GO;
  }
  /* nothing delivered may be lost to an abort or a close */
  CHECK(!h->granted, "T%d lost a permit of M%d to %s", h->idx, obj,
        cr_err_name(ws));
  CHECK(kind != W_RECV || h->val < 0, "receiver T%d lost v%d to %s", h->idx,
        h->val, cr_err_name(ws));
  if (kind == W_SEND) withdraw(h);
  if (ws == CR_ECLOSED) {
    CHECK(kind == W_SEND || kind == W_RECV, "T%d's %s woke CR_ECLOSED",
          h->idx, wait_name[kind]);
    CHECK(W->ch[obj].c.closed && (kind == W_SEND || W->ch[obj].c.count == 0),
          "T%d woke CR_ECLOSED from open C%d", h->idx, obj);
    return GO;
  }
  CHECK(ws == CR_ECANCELED, "T%d woke with %d", h->idx, ws);
  CHECK(abortable(kind), "T%d's %s aborted", h->idx, wait_name[kind]);
  {
    cr_scope_t *a = checked_cancelled(h);
    if (a) {
      raise_cancelled(h, a);
      return GO;
    }
  }
  /* a shield went up since the abort: the binding just waits again */
  if (kind == W_SLEEP && h->wuntil <= now) return GO;
  return block(h, kind, obj, h->wuntil);
}

/* --- winding down: leaving frames, finishing -------------------------------- */

static void finish(htask *h) {
  cr_task_t *t = &h->t;
  int i;
  for (i = 0; i < N_SEMS; i++)
    while (h->held[i] > 0) sem_give_back(h, i);   /* as lock:with() does */
  if (h->failing && t->group && !h->start_waiting) {
    hgroup *hg = (hgroup *)t->group;
    int keep = t->group->nerrors < t->group->max_errors;
    CHECK(cr_group_fail(t->group, 0) == keep, "cr_group_fail keep");
    hg->nfail++;
    CHECK(t->group->defer_errors || t->group->scope.cancel_called,
          "a failure did not cancel non-deferring G%d", gidx(t->group));
  }
  if (h->fin == CR_TASK_CANCELLED && h->absorber == &t->scope)
    t->scope.cancel_caught = 1;
  trace("T%d done (%s)", h->idx, h->fin == CR_TASK_DONE ? "done"
        : h->fin == CR_TASK_FAILED ? "failed" : "cancelled");
  cr_task_done(t, h->fin);
  h->finished = 1;
  h->final = h->fin;
  if (t->group) ((hgroup *)t->group)->nlive--;
  CHECK(t->finished && t->status == h->fin && t->cur == NULL &&
        !t->scope.entered, "T%d not cleanly finished", h->idx);
  CHECK(oldest(W_JOIN, h->idx) == NULL, "a joiner of T%d still waits", h->idx);
}

/* Leave the innermost frame; a group joins its children first. */
static int leave_frame(htask *h) {
  cr_task_t *t = &h->t;
  frame_t *f = &h->fr[h->nfr - 1];
  char b[32];
  CHECK(t->cur == frame_scope(h, h->nfr - 1), "T%d leaves %s, not innermost",
        h->idx, scope_label(frame_scope(h, h->nfr - 1), b, sizeof b));
  if (f->kind == F_SCOPE) {
    cr_scope_t *s = &W->scope[f->idx].s;
    cr_scope_exit(s);
    CHECK(s->exited && !s->entered, "S%d still entered", f->idx);
    trace("T%d exit S%d", h->idx, f->idx);
  } else {
    hgroup *hg = &W->group[f->idx];
    cr_group_t *g = &hg->g;
    if (!h->gjoining) {
      if (h->failing) {                      /* the body raised: fatal */
        int keep = g->nerrors < g->max_errors;
        CHECK(cr_group_fail(g, 1) == keep, "cr_group_fail keep");
        hg->nfail++;
        CHECK(g->scope.cancel_called, "fatal failure left G%d", f->idx);
      }
      cr_group_body_done(g);
      h->gjoining = 1;
    }
    if (cr_group_join(g)) {
      trace("T%d joins G%d (%zu children)", h->idx, f->idx, g->nchildren);
      return park(h, W_GJOIN, f->idx, 0);
    }
    CHECK(g->nchildren == 0 && g->nrunning == 0, "G%d joined with children",
          f->idx);
    cr_group_close(g);
    CHECK(g->closed && !g->scope.entered && g->scope.exited,
          "G%d not closed", f->idx);
    h->gjoining = 0;
    trace("T%d closed G%d", h->idx, f->idx);
  }
  h->nfr--;
  CHECK(t->cur == expected_cur(h), "T%d's cur after leaving", h->idx);
  return GO;
}

static int leave_step(htask *h) {
  if (h->nfr > 0 && (h->target < 0 || h->nfr > h->target))
    return leave_frame(h);
  if (h->target >= 0) {       /* left the absorbing scope: go on running */
    if (h->absorber) h->absorber->cancel_caught = 1;
    h->mode = M_RUN;
    return GO;
  }
  finish(h);
  return GONE;
}

/* --- ops --------------------------------------------------------------------- */

/* A plain scope or a group's scope, live or long gone; NULL if none yet. */
static cr_scope_t *pick_scope(unsigned b, char *label, size_t n) {
  int i;
  if (W->nscopes && ((b & 1) == 0 || W->ngroups == 0)) {
    i = (int)(b >> 1) % W->nscopes;
    snprintf(label, n, "S%d", i);
    return &W->scope[i].s;
  }
  if (W->ngroups) {
    i = (int)(b >> 1) % W->ngroups;
    snprintf(label, n, "G%d", i);
    return &W->group[i].g.scope;
  }
  return NULL;
}

static void task_run(cr_task_t *ct);

static int spawn_into(htask *h, cr_group_t *g, int start) {
  htask *c;
  int expect, rc, held;
  char b[32];
  expect = g->closed ? CR_ECLOSED : g->stopping ? CR_ESTOPPING : 0;
  held = g->limit && g->nrunning >= g->limit;
  if ((c = new_task()) == NULL) return GO;
  poison(&c->t, sizeof c->t);
  cr_task_init(&W->e, &c->t, task_run, NULL);
  rc = cr_group_spawn(g, &c->t);
  CHECK(rc == expect, "spawn into G%d: %s, expected %s", gidx(g),
        cr_err_name(rc), cr_err_name(expect));
  if (rc) {
    /* never runs: finish it so the engine forgets it (as lgroup.c does) */
    cr_task_done(&c->t, CR_TASK_CANCELLED);
    c->finished = 1;
    c->final = CR_TASK_CANCELLED;
    trace("T%d spawn T%d into G%d -> %s", h->idx, c->idx, gidx(g),
          cr_err_name(rc));
    return GO;
  }
  ((hgroup *)g)->nlive++;
  if (held) c->held_seq = ++W->held_seq;
  c->scope_parent = &g->scope;
  CHECK(c->t.group == g && c->t.cur == &c->t.scope, "spawned T%d", c->idx);
  trace("T%d %s T%d into G%d%s", h->idx, start ? "start" : "spawn", c->idx,
        gidx(g), held ? " (held by limit)" : "");
  if (!start) return GO;
  /* g:start: the child runs under our scope until it calls ready */
  c->start_mode = c->start_waiting = 1;
  c->starter = h->idx;
  cr_task_reparent(&c->t, h->t.cur);
  c->scope_parent = h->t.cur;
  CHECK(c->t.scope.parent == h->t.cur, "reparent of T%d under %s", c->idx,
        scope_label(h->t.cur, b, sizeof b));
  cr_task_join(&h->t, &c->t);
  cr_task_park(&h->t, start_abort);
  return park(h, W_START, c->idx, 0);
}

static int do_op(htask *h) {
  cr_task_t *t = &h->t;
  cr_engine_t *e = t->engine;
  unsigned op = take() % N_OPS, b = take();
  double now = cr_now(e);
  char lab[32];
  W->nops++;
  trace("T%d #%d %s(%u)", h->idx, W->nops, op_name[op], b);
  switch (op) {
    case OP_SLEEP:
      return block(h, W_SLEEP, 0, now + durations[b % 8]);
    case OP_YIELD:
      return block(h, W_YIELD, 0, 0);
    case OP_SCOPE: {
      hscope *hs;
      double when = now + deadlines[b % 8];
      int shield = (b >> 3) & 1;
      if (W->nscopes >= MAX_SCOPES || h->nfr >= MAX_FRAMES) return GO;
      hs = &W->scope[W->nscopes];
      poison(&hs->s, sizeof hs->s);
      CHECK(cr_scope_enter(t, &hs->s, when, shield) == 0, "scope enter");
      h->fr[h->nfr].kind = F_SCOPE;
      h->fr[h->nfr++].idx = W->nscopes++;
      CHECK(t->cur == &hs->s && hs->s.shield == (unsigned)shield &&
            !hs->s.is_group, "entered S%d", W->nscopes - 1);
      CHECK(when > now || hs->s.cancel_called, "S%d entered expired but "
            "not cancelled", W->nscopes - 1);
      trace("  -> S%d deadline %g%s", W->nscopes - 1, when,
            shield ? " shielded" : "");
      return GO;
    }
    case OP_EXIT:
      if (h->nfr) begin_leave(h, h->nfr - 1, NULL, CR_TASK_DONE);
      return GO;
    case OP_GROUP: {
      hgroup *hg;
      cr_group_opts_t o;
      unsigned b2 = take();
      if (W->ngroups >= MAX_GROUPS || h->nfr >= MAX_FRAMES) return GO;
      hg = &W->group[W->ngroups];
      memset(&o, 0, sizeof o);
      o.limit = b % 4;
      o.defer_errors = (b >> 2) & 1;
      o.max_errors = (b >> 3) % 4;
      o.deadline = now + deadlines[b2 % 8];
      o.shield = (b2 >> 3) & 1;
      poison(&hg->g, sizeof hg->g);
      CHECK(cr_group_init(t, &hg->g, &o) == 0, "group init");
      h->fr[h->nfr].kind = F_GROUP;
      h->fr[h->nfr++].idx = W->ngroups++;
      CHECK(t->cur == &hg->g.scope && hg->g.scope.is_group && !hg->g.closed &&
            hg->g.parent == t, "opened G%d", W->ngroups - 1);
      trace("  -> G%d limit %zu defer %d max_errors %zu deadline %g%s",
            W->ngroups - 1, o.limit, o.defer_errors, o.max_errors, o.deadline,
            o.shield ? " shielded" : "");
      return GO;
    }
    case OP_SPAWN: {
      int f = innermost_group_frame(h);
      if ((b & 1) && f >= 0)
        return spawn_into(h, &W->group[h->fr[f].idx].g, 0);
      if (W->ngroups == 0) return GO;
      return spawn_into(h, &W->group[(b >> 1) % W->ngroups].g, 0);
    }
    case OP_START: {
      /* g:start on the innermost group, or on any group at all (a Lua
      ** closure may hold another task's group) */
      int f = innermost_group_frame(h);
      cr_group_t *g;
      if ((b & 1) && f >= 0) g = &W->group[h->fr[f].idx].g;
      else if (W->ngroups) g = &W->group[(b >> 1) % W->ngroups].g;
      else return GO;
      if (avoid_limit_start && g->limit && g->nrunning >= g->limit) return GO;
      if (cancel_point(h)) return GO;     /* g:start checks first */
      return spawn_into(h, g, 1);
    }
    case OP_READY:
      if (!h->start_mode || h->ready) return GO;
      if (avoid_reparent && cr_scope_absorber(&t->group->scope)) return GO;
      h->ready = 1;
      h->start_mode = 0;
      if (h->held_seq) ((hgroup *)t->group)->past_limit = 1;
      cr_task_reparent(t, &t->group->scope);
      h->scope_parent = &t->group->scope;
      if (h->start_waiting) {
        htask *s = &W->task[h->starter];
        h->start_waiting = 0;
        cr_task_wake(&s->t, 0);
        CHECK(s->t.status == CR_TASK_SCHEDULED, "starter T%d not woken",
              s->idx);
      }
      return GO;
    case OP_CANCEL: {
      cr_scope_t *s;
      int expect, rc;
      if (b % 3 == 2 || (W->nscopes == 0 && W->ngroups == 0)) {
        s = &W->task[(b / 3) % W->ntasks].t.scope;
        snprintf(lab, sizeof lab, "T%d.scope", (int)((b / 3) % W->ntasks));
      } else {
        s = pick_scope(b, lab, sizeof lab);
      }
      expect = !s->cancel_called && !s->exited;
      rc = cr_scope_cancel(s, CR_SRC_EXPLICIT);
      trace("  cancel %s -> %d", lab, rc);
      CHECK(rc == expect, "cancel of %s returned %d", lab, rc);
      CHECK(!rc || (s->cancel_called && s->source == CR_SRC_EXPLICIT),
            "cancel of %s", lab);
      return GO;
    }
    case OP_STOP: {
      cr_group_t *g;
      double grace = graces[(b >> 5) % 8];
      int was_closed;
      if (W->ngroups == 0) return GO;
      g = &W->group[b % W->ngroups].g;
      was_closed = g->closed;
      CHECK(cr_group_stop(g, grace) == 0, "stop");
      trace("  stop G%d grace %g%s", b % W->ngroups, grace,
            was_closed ? " (closed)" : "");
      if (!was_closed) {
        CHECK(g->stopping, "G%d not stopping after stop", gidx(g));
        CHECK(grace != 0 || g->scope.cancel_called, "stop(0) of G%d did "
              "not cancel it", gidx(g));
        CHECK(oldest(W_STOPPING, gidx(g)) == NULL, "stop(G%d) left "
              "wait_stopping waiters", gidx(g));
      }
      return GO;
    }
    case OP_SHIELD: {
      cr_scope_t *s = pick_scope(b, lab, sizeof lab);
      int on = (b >> 7) & 1;
      if (s == NULL) return GO;
      cr_scope_set_shield(s, on);
      trace("  %s.shield = %d", lab, on);
      CHECK(s->shield == (unsigned)on, "shield of %s", lab);
      return GO;
    }
    case OP_DEADLINE: {
      cr_scope_t *s = pick_scope(b, lab, sizeof lab);
      double when = now + deadlines[take() % 8];
      int live;
      if (b % 5 == 4) {
        /* a task's own scope takes no deadline: its timer is the sleep */
        htask *o = &W->task[(b / 5) % W->ntasks];
        int armed = cr_timer_armed(&o->t.scope.deadline);
        double was = o->t.scope.deadline.when;
        int expect = isinf(when) && when > 0 ? 0 : CR_EINVAL;
        int rc = cr_scope_set_deadline(&o->t.scope, when);
        trace("  T%d.scope.deadline = %g -> %s", o->idx, when,
              rc ? cr_err_name(rc) : "ok");
        CHECK(rc == expect, "deadline on T%d's own scope: %s", o->idx,
              cr_err_name(rc));
        CHECK(cr_timer_armed(&o->t.scope.deadline) == armed &&
              o->t.scope.deadline.when == was,
              "deadline on T%d's own scope disturbed its sleep", o->idx);
        return GO;
      }
      if (s == NULL) return GO;
      live = s->entered && !s->cancel_called;
      CHECK(cr_scope_set_deadline(s, when) == 0, "set deadline");
      trace("  %s.deadline = %g", lab, when);
      CHECK(!live || when > now ||
            (s->cancel_called && s->source == CR_SRC_DEADLINE),
            "past deadline did not cancel %s", lab);
      return GO;
    }
    case OP_FAIL_BODY: {
      int f = innermost_group_frame(h);
      hgroup *hg;
      int keep;
      if (f < 0) return GO;
      hg = &W->group[h->fr[f].idx];
      keep = hg->g.nerrors < hg->g.max_errors;
      CHECK(cr_group_fail(&hg->g, 1) == keep, "cr_group_fail keep");
      hg->nfail++;
      CHECK(hg->g.scope.cancel_called, "fatal failure left G%d",
            h->fr[f].idx);
      begin_leave(h, f, NULL, CR_TASK_DONE);   /* the body raised to it */
      return GO;
    }
    case OP_FAIL:
      h->failing = 1;
      begin_leave(h, -1, NULL, CR_TASK_FAILED);
      return GO;
    case OP_STOPPING:
      if ((b & 1) && t->group) return block(h, W_STOPPING, gidx(t->group), 0);
      if (W->ngroups == 0) return GO;
      return block(h, W_STOPPING, (int)(b >> 1) % W->ngroups, 0);
    case OP_JOIN:
      if ((int)(b % W->ntasks) == h->idx) return GO;
      return block(h, W_JOIN, (int)(b % W->ntasks), 0);
    case OP_EV_WAIT:
      return block(h, W_EVENT, (int)(b % N_EVENTS), 0);
    case OP_EV_SET: {
      int i = (int)(b % N_EVENTS);
      cr_event_set(&W->ev[i]);
      CHECK(W->ev[i].is_set && oldest(W_EVENT, i) == NULL,
            "E%d set but a waiter still waits", i);
      return GO;
    }
    case OP_ACQUIRE:
      return block(h, W_SEM, (int)(b % N_SEMS), 0);
    case OP_RELEASE:
      if (h->held[b % N_SEMS] > 0) sem_give_back(h, (int)(b % N_SEMS));
      return GO;
    case OP_SEND:
      return block(h, W_SEND, (int)(b % N_CHANS), 0);
    case OP_RECV:
      return block(h, W_RECV, (int)(b % N_CHANS), 0);
    case OP_CLOSE: {
      int i = (int)(b % N_CHANS);
      cr_chan_close(&W->ch[i].c);
      CHECK(W->ch[i].c.closed && oldest(W_SEND, i) == NULL &&
            oldest(W_RECV, i) == NULL, "C%d closed with waiters left", i);
      return GO;
    }
    case OP_DONE:
      begin_leave(h, -1, NULL, CR_TASK_DONE);
      return GO;
  }
  return GO;
}

/* --- the run callback: one resume of a task -------------------------------- */

static void task_run(cr_task_t *ct) {
  htask *h = H(ct);
  int r = GO;
  CHECK(h >= W->task && h < W->task + W->ntasks, "resumed a stranger");
  W->cur = h->idx;
  CHECK(!h->finished, "engine resumed finished T%d", h->idx);
  CHECK(!h->running, "T%d resumed while running", h->idx);
  CHECK(ct->status == CR_TASK_RUNNING && W->e.current == ct,
        "T%d resumed in status %d", h->idx, (int)ct->status);
  CHECK(ct->wait_link.next == &ct->wait_link, "T%d resumed still linked in "
        "a wait list", h->idx);
  /* a task's own scope's timer is its sleep (task.c) */
  CHECK(!cr_timer_armed(&ct->scope.deadline), "T%d resumed with its sleep "
        "timer armed", h->idx);
  h->running = 1;
  audit("resume");
  if (!h->started) {
    h->started = 1;
    CHECK(h->wait == W_NONE, "new T%d parked", h->idx);
    /* children held back by a limit start in the order they were spawned */
    if (h->held_seq) {
      int i;
      for (i = 0; i < W->ntasks; i++) {
        htask *o = &W->task[i];
        CHECK(!(o->held_seq && o->held_seq < h->held_seq && !o->started &&
                !o->finished && o->t.group == ct->group) ||
              h->released || cr_scope_absorber(&ct->scope),
              "held T%d started before T%d, held earlier in its group",
              h->idx, o->idx);
      }
    }
    trace("T%d starts", h->idx);
  } else {
    CHECK(h->wait != W_NONE, "T%d resumed but never parked", h->idx);
    CHECK(h->wake_checked, "T%d resumed before its wake-up was seen", h->idx);
    r = resumed(h);
  }
  /* act until parked or finished */
  while (r == GO) {
    if (h->mode == M_LEAVE)
      r = leave_step(h);
    else if (!more())
      begin_leave(h, -1, NULL, CR_TASK_DONE);    /* input over: wind down */
    else
      r = do_op(h);
    if (r == GO) audit("op");     /* parked or gone: audited below */
  }
  h->running = 0;
  if (r == PARKED)
    CHECK(ct->status == CR_TASK_WAITING || ct->status == CR_TASK_SCHEDULED,
          "T%d parked in status %d", h->idx, (int)ct->status);
  audit("after run");
}

/* --- deadlock: cancel the roots, then everything ------------------------- */

static void check_deadlock(void) {
  int i;
  CHECK(W->e.stats.timers == 0, "deadlock with %zu timers armed",
        W->e.stats.timers);
  for (i = 0; i < W->ntasks; i++) {
    htask *h = &W->task[i];
    cr_group_t *g = h->t.group;
    if (h->finished) continue;
    if (!h->started) {
      CHECK(g && g->limit && g->nrunning >= g->limit,
            "deadlock while T%d is ready to start", i);
      continue;
    }
    CHECK(h->t.status == CR_TASK_WAITING, "deadlock while T%d is %d", i,
          (int)h->t.status);
    CHECK(h->wait != W_SLEEP || isinf(h->wuntil),
          "deadlock while T%d sleeps until %g", i, h->wuntil);
  }
}

static int count_scheduled(void) {
  int i, n = 0;
  for (i = 0; i < W->ntasks; i++)
    if (!W->task[i].finished &&
        ((W->task[i].started && W->task[i].t.status == CR_TASK_SCHEDULED) ||
         W->task[i].t.queued))   /* a held-back child a cancel released */
      n++;
  return n;
}

static void break_deadlock(void) {
  int i;
  W->deadlocks++;
  W->cur = -1;
  check_deadlock();
  if (!W->cancelled_roots) {
    trace("deadlock: cancel the roots");
    W->cancelled_roots = 1;
    for (i = 0; i < W->nroots; i++)
      cr_scope_cancel(&W->task[i].t.scope, CR_SRC_HOST);
    return;
  }
  /* Shields held some tasks: cancel every scope (a shield never hides its
  ** own scope's cancel), which must wake at least one of them. */
  trace("deadlock again: cancel every scope");
  for (i = 0; i < W->nscopes; i++) cr_scope_cancel(&W->scope[i].s, CR_SRC_DEADLOCK);
  for (i = 0; i < W->ngroups; i++)
    cr_scope_cancel(&W->group[i].g.scope, CR_SRC_DEADLOCK);
  for (i = 0; i < W->ntasks; i++)
    cr_scope_cancel(&W->task[i].t.scope, CR_SRC_DEADLOCK);
  CHECK(count_scheduled() > 0, "cancelling every scope woke no task");
}

/* The engine calls this when any scope's cancel fires. */
static void on_cancel(cr_scope_t *s) {
  char b[32];
  scope_label(s, b, sizeof b);
  CHECK(s->cancel_called && !s->exited, "on_cancel for dead %s", b);
  trace("  on_cancel %s (%s)", b, cr_source_name(s->source));
  /* A group's cancel reaches a still-starting child's own scope with the
  ** group's source (scope.c): "deadline" may name the group's deadline. */
  if (s->owner && s == &s->owner->scope && s->owner->group &&
      s->owner->group->scope.cancel_called &&
      s->owner->group->scope.source == s->source)
    return;
  if (s->source == CR_SRC_STOP)
    CHECK(s->is_group && ((cr_group_t *)s)->stopping,
          "%s cancelled by a stop, but it is not a stopping group", b);
  if (s->source == CR_SRC_FAILURE)
    CHECK(s->is_group, "%s cancelled by a failure, not a group", b);
  if (s->source == CR_SRC_DEADLINE)
    CHECK(cr_now(s->engine) >= s->deadline.when,
          "%s: deadline %g fired at %g", b, s->deadline.when, cr_now(s->engine));
}

/* --- one input --------------------------------------------------------------- */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc; (void)argv;
  trace_on = getenv("FUZZ_ENGINE_TRACE") != NULL;
  no_poison = getenv("FUZZ_ENGINE_NO_POISON") != NULL;
  avoid_reparent = getenv("FUZZ_ENGINE_AVOID") &&
                   strstr(getenv("FUZZ_ENGINE_AVOID"), "reparent");
  avoid_limit_start = getenv("FUZZ_ENGINE_AVOID") &&
                      strstr(getenv("FUZZ_ENGINE_AVOID"), "limit-start");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const unsigned char poisons[4] = {0, 0, 0xa5, 0xff};
  world *w;
  unsigned h0, h1;
  int i, rc = 1, steps;
  if (size < 2) return 0;
  w = calloc(1, sizeof *w + size);
  if (w == NULL) return 0;
  W = w;
  w->data = data;
  w->size = size;
  w->val = (uint8_t *)(w + 1);       /* one value per byte at most */
  w->maxvals = (int)size;
  w->cur = -1;

  /* header: roots, poison, channel capacities, semaphore permits */
  h0 = take();
  h1 = take();
  w->nroots = 1 + (int)(h0 % 3);
  w->poison = no_poison ? 0 : poisons[(h0 >> 2) & 3];
  poison(&w->e, sizeof w->e);
  CHECK(cr_engine_init(&w->e, NULL, CR_CLOCK_VIRTUAL) == 0, "engine init");
  w->e.on_cancel = on_cancel;
  for (i = 0; i < N_EVENTS; i++) {
    poison(&w->ev[i], sizeof w->ev[i]);
    cr_event_init(&w->ev[i]);
  }
  w->permits[0] = 1;
  w->permits[1] = 1 + (h1 >> 6);
  poison(w->sem, sizeof w->sem);
  cr_sem_init(&w->sem[0], 1, 1);                  /* a lock */
  cr_sem_init(&w->sem[1], w->permits[1], 0);      /* a semaphore */
  for (i = 0; i < N_CHANS; i++) {
    poison(&w->ch[i].c, sizeof w->ch[i].c);
    cr_chan_init(&w->ch[i].c, (h1 >> (2 * i)) & 3);
    memset(w->ch[i].buf, 0xff, sizeof w->ch[i].buf);   /* -1: empty */
  }
  trace("input: %zu bytes, %d roots, poison 0x%02x, chan caps %u/%u/%u, "
        "M1 permits %zu", size, w->nroots, w->poison, h1 & 3, (h1 >> 2) & 3,
        (h1 >> 4) & 3, w->permits[1]);

  for (i = 0; i < w->nroots; i++) {
    htask *h = new_task();
    poison(&h->t, sizeof h->t);
    cr_task_init(&w->e, &h->t, task_run, NULL);
    CHECK(cr_task_start_root(&h->t) == 0, "start root");
  }
  /* --- drive: step until idle, breaking deadlocks ------------------------ */
  for (steps = 0; steps < MAX_STEPS; steps++) {
    w->cur = -1;
    rc = cr_engine_step(&w->e, 0);
    w->cur = -1;
    audit("step");
    if (rc == 0) break;
    if (rc == CR_EDEADLOCK) {
      break_deadlock();
      audit("deadlock");
      continue;
    }
    CHECK(rc == 1, "cr_engine_step returned %d", rc);
  }
  CHECK(steps < MAX_STEPS, "engine did not quiesce in %d steps", MAX_STEPS);

  /* --- the end: everything finished, nothing leaked ------------------------ */
  for (i = 0; i < w->ntasks; i++)
    CHECK(w->task[i].finished, "T%d never finished", i);
  for (i = 0; i < w->nvals; i++)
    CHECK(w->val[i] != V_OFFERED && w->val[i] != V_HANDED,
          "value v%d lost in flight (state %d)", i, w->val[i]);
  for (i = 0; i < N_SEMS; i++)
    CHECK(w->sem_out[i] == 0, "M%d: %zu permits never came back", i,
          w->sem_out[i]);
  CHECK(w->e.stats.tasks == 0 && w->e.stats.scopes == 0 &&
        w->e.stats.timers == 0, "leak: %zu tasks, %zu scopes, %zu timers",
        w->e.stats.tasks, w->e.stats.scopes, w->e.stats.timers);
  rc = cr_engine_close(&w->e);
  CHECK(rc == 0, "cr_engine_close: %s", cr_err_name(rc));
  CHECK(w->e.stats.handles == 0, "%zu handles open after close",
        w->e.stats.handles);
  trace("end: %d ops, %d steps, %d deadlocks, vtime %g", w->nops, steps,
        w->deadlocks, cr_now(&w->e));
  W = NULL;
  free(w);
  return 0;
}
