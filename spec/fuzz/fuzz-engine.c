/*
** fuzz-engine.c -- libFuzzer harness for the C engine (engine/, no Lua).
**
** Each input is a byte stream that drives a pool of C tasks on one engine
** with the virtual clock. A task is a small state machine (as in
** spec/c/test-engine.c): every time the engine resumes it, it reads the
** next opcode from the input and acts -- sleeps, yields, enters and leaves
** scopes and groups, spawns, starts, cancels, stops, shields, fails, joins,
** catches and re-raises, runs shielded cleanups, uses events, semaphores
** and channels (blocking, and tries that never park) -- until it parks or
** finishes. Tasks behave as the Lua binding does (bindings/ltask.c,
** lgroup.c, lscope.c): a blocking op is a cancellation point, a delivered
** wake-up (wake_status 0) wins over a later cancel, a wait made again
** after a cancel a shield hid keeps its place, and a Cancelled unwinds
** frame by frame; at each exit the ENGINE decides (cr_scope_leave,
** cr_group_close, cr_task_unwind) whether the scope absorbs it or to which
** scope it passes, and the harness checks
** every answer against its own computation of Trio's rule at that moment,
** on its own model of the scope tree (parents, shields, cancels seen) and
** of each task's mark (a Cancelled corral delivered passes a shield set
** since; one a task was only handed does not) and owed t:cancel (a body
** that returns with one ends cancelled, cr_task_returned).
**
** A group's `limit` holds at every instant, whatever cancel reaches its
** children: a child it holds back keeps its place in the FIFO queue,
** cancelled or not, and slots go in spawn order (check_limit). A g:start
** caller whose child still waits for a slot is woken by a cancel, and
** cr_group_start_woken lets go of the child (cancelled, its group's) or
** has the caller wait again.
**
** When the input runs out every task winds down; a deadlock is broken by
** cancelling the roots, then (if shields still hold tasks) every scope, or
** (on some inputs) by abandoning the run as corral.run does.
**
** Every cancel record the harness gives the engine carries a reason handle
** -- a real allocation or a tagged pointer -- and the harness checks, via
** e->release, that each is given back exactly once, at the moment the API
** says (the scope's exit, a cancel that did not take effect, a group's
** close or cancel for an unused stop record, cr_engine_abandon), and is
** never seen again after (released allocations are ASan-poisoned). The
** event hook (e->on_event) is checked throughout: SPAWN once per task,
** RUN/SUSPEND in pairs, PARK only for the running task, WAKE only for a
** parked one (once it is queued), DONE once, CANCEL only for a live scope
** and only for a cancel the harness can explain, FAIL only inside
** cr_group_fail. ABANDON ends a run abruptly
** through cr_engine_abandon, then ASan-poisons every task, scope and group
** and touches the events, semaphores and channels the tasks waited on.
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
** FUZZ_ENGINE_AVOID=name,... steers around engine bugs this harness found
** (kept for bisecting; the one below is fixed):
**   unspawned    cancelling the scope of a task whose spawn was refused
**                (cr_group_spawn/cr_group_start returned an error, then
**                cr_task_done): the engine used to take the reason handle
**                into a scope that never exits; cr_task_done now marks that
**                scope exited, so the cancel is refused and released
*/
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "corral.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif
#if !defined(FUZZ_ASAN) && defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#endif
#ifdef FUZZ_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* --- limits --------------------------------------------------------------- */

#define MAX_TASKS 64
#define MAX_SCOPES 96     /* plain scopes and cleanup scopes */
#define MAX_GROUPS 32
#define MAX_FRAMES 10     /* scopes, groups, pcalls one task may have open */
#define MAX_HANDLES 2048
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
  XX(RELEASE) XX(SEND) XX(RECV) XX(CLOSE) XX(DONE) XX(PCALL) XX(RERAISE)     \
  XX(CLEANUP) XX(ABANDON) XX(REASON) XX(TRY_SEND) XX(TRY_RECV)               \
  XX(TRY_ACQUIRE)

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
  W_STOPPING, W_GJOIN, W_START, W_HOLD
};
static const char *const wait_name[] = {
  "none", "sleep", "yield", "join", "event", "acquire", "send", "recv",
  "wait_stopping", "group-join", "start", "hold"
};

/* Group join and the hold before an abandon are not cancellation points;
** a yield is not parked at all; g:start's wait is one only while its child
** waits for a slot of its group's limit (abortable_now). Every other wait
** must be aborted by a cancel. */
static int abortable(int w) {
  return w != W_NONE && w != W_YIELD && w != W_GJOIN && w != W_START &&
         w != W_HOLD;
}

/* --- the world of one input ----------------------------------------------- */

/* The harness's own view of a scope, kept apart from the engine's fields. */
typedef struct {
  cr_scope_t *parent;   /* where it hangs */
  int entered;          /* entered and not yet left */
  int shield;
  int cancelled;        /* a CANCEL event was seen for it */
  int as_group;         /* cancelled as its group (a g:start child) */
} minfo;

/* Frames a task has open, outermost first. F_PCALL has no engine scope: it
** catches whatever reaches it (and keeps it for RERAISE). F_CLEAN is the
** shielded scope of a <close> handler that runs while its frame is left. */
enum { F_SCOPE, F_GROUP, F_PCALL, F_CLEAN };

/* What a task is unwinding: X_NONE (a normal exit down to `target`),
** X_CANCEL (the Cancelled of scope cx, with reason handle cxh) or X_ERROR.
** target: the frame count at which it is caught; -1: the task's end (or,
** for a Cancelled, wherever a scope absorbs it). */
enum { X_NONE, X_CANCEL, X_ERROR };
typedef struct {
  int exc;
  cr_scope_t *cx;
  int cxh;
  int target;
} ctl_t;

typedef struct {
  int kind, idx;
  double cleanup;             /* a <close> that sleeps shielded; < 0: none */
  ctl_t saved;                /* F_CLEAN: the unwinding it interrupted */
} frame_t;

/* M_RUN: the task takes ops from the input. M_LEAVE: it is leaving frames.
** M_CLEAN: it runs the body of a cleanup (a shielded sleep). */
enum { M_RUN, M_LEAVE, M_CLEAN };

enum { GO, PARKED, GONE };    /* result of one action */

typedef struct {
  cr_task_t t;                /* first: the engine hands us &t */
  minfo m;                    /* of t.scope */
  int idx;
  cr_group_t *grp;            /* the group it was spawned into, or NULL */
  int started, running, finished, abandoned, unspawned;
  cr_task_status_t final;
  frame_t fr[MAX_FRAMES];
  int nfr;
  /* the wait it is parked in */
  int wait, wobj;
  double wuntil, wsince;      /* sleep: until when; parked at what time */
  uint64_t wseq;              /* park order, for FIFO checks */
  uint64_t rejoin;            /* the wseq a wait made again after a hidden
                              ** cancel takes back (0: a new arrival) */
  int wake_checked;           /* its wake-up was validated by audit */
  /* unwinding */
  int mode;
  ctl_t c;
  int gjoining;
  ctl_t stored;               /* what the last pcall frame caught */
  int has_stored;
  int clean_slept;
  double clean_for;
  int owed;                   /* its own scope was cancelled for it (t:cancel)
                              ** and no Cancelled reached its level since:
                              ** a return ends it cancelled (cancel_owed) */
  int saw;                    /* found cancelled, or handed a Cancelled
                              ** corral delivered: one it unwinds passes a
                              ** shield set since (m_judge; saw_cancel) */
  uint64_t held_seq;          /* spawned while the group's limit was full:
                              ** its place in the group's FIFO queue, which
                              ** no cancel changes */
  /* g:start */
  int start_mode, start_waiting, ready, starter, start_pcall;
  cr_scope_t *passed_to;      /* its Cancelled went on there while starting */
  int absorbed_self;          /* its own scope caught its Cancelled */
  /* sync */
  int held[N_SEMS];           /* permits it holds */
  int granted;                /* a permit was handed over while parked */
  int val;                    /* send: the value offered; recv: received */
  int taken;                  /* send: a receiver took the value */
  /* what the events said */
  int ev_spawned, ev_parked, ev_done;
  cr_wait_t ev_wait;
  const void *ev_obj;
} htask;

typedef struct { cr_scope_t s; minfo m; } hscope;   /* a plain scope */

typedef struct {
  cr_group_t g;               /* first: t->group points here */
  minfo m;
  int nlive;                  /* children spawned, not finished */
  size_t nfail;               /* cr_group_fail calls */
  int nfailev;                /* FAIL events */
  int unwound;                /* a Cancelled reached it (body or child) */
  int child_passed;           /* a child passed a Cancelled out to it */
  int has_stop, stop_hd;      /* the stop record the grace may end in */
  uint64_t stop_origin;
  double stop_when;           /* when the grace runs out (INFINITY: never) */
} hgroup;

typedef struct { cr_chan_t c; int buf[MAX_CAP]; } hchan;

/* Life of a channel value. */
enum { V_NONE, V_OFFERED, V_BUFFERED, V_HANDED, V_RECEIVED, V_WITHDRAWN };

/* Reason handles: where each one is. */
enum { HS_INFLIGHT, HS_HELD, HS_STOPREC, HS_RELEASED };
static const char *const hs_name[] = {"in flight", "held", "stop record",
                                      "released"};
typedef struct {
  void *p;
  int state;
  int alloc;                  /* a malloc'd block (else a tagged pointer) */
  cr_scope_t *held;           /* HS_HELD: the scope whose record it is */
  int group;                  /* HS_STOPREC: the group */
} hrec;

#define HMAGIC 0x52454153u    /* "REAS" */
typedef struct { unsigned magic; int id; } hblock;

/* The engine call the harness is making (for events and releases). */
enum { C_NONE, C_CANCEL, C_FAIL, C_STOP, C_REASON, C_CLOSE, C_SPAWN,
       C_ABANDON };
typedef struct {
  int kind;
  cr_scope_t *s;
  int g;                      /* group index, or -1 */
  int hd;                     /* handle passed, or -1 */
  cr_source_t src;
  uint64_t origin;
  cr_task_t *spawn;
} call_t;

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
  /* reason handles */
  hrec h[MAX_HANDLES];
  int nh, nhreq;
  call_t call;
  /* events */
  cr_task_t *ev_run;          /* between RUN and SUSPEND */
  /* abandon */
  int abandon_ok, abandon_on_deadlock, abandon_req, abandoned, in_abandon;
  int seeded;                 /* the engine shuffles ready tasks */
  cr_task_t probe;            /* touches the sync objects afterwards */
  int probe_parked, probe_live;
} world;

static world *W;
static int trace_on, no_poison, avoid_unspawned;

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
            W->nops, W->cur, W->e.clock == CR_CLOCK_VIRTUAL ? W->e.vnow : 0.0,
            W->pos, W->size);
    if (!W->abandoned) dump_tasks();
  }
  fprintf(stderr, "  rerun with FUZZ_ENGINE_TRACE=1 to see the op sequence\n");
  abort();
}

#define CHECK(cond, ...) \
  do { if (!(cond)) fail(__LINE__, #cond, __VA_ARGS__); } while (0)

static void trace(const char *fmt, ...) {
  va_list ap;
  if (!trace_on) return;
  fprintf(stderr, "[%7.2f] ", W->e.vnow);
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

static int gidx(cr_group_t *g) { return (int)((hgroup *)g - W->group); }

/* Whether a cancel must abort a wait w on obj now (the engine's
** abort_start: the child has no slot yet). */
static int abortable_now(int w, int obj) {
  return abortable(w) || (w == W_START && W->task[obj].t.pending);
}

/* The harness task behind an engine task, or NULL (the probe, a stranger). */
static htask *task_of(const cr_task_t *t) {
  const char *p = (const char *)t, *b = (const char *)W->task;
  size_t i;
  if (p < b || p >= b + sizeof W->task) return NULL;
  i = (size_t)(p - b) / sizeof(htask);
  return &W->task[i].t == t ? &W->task[i] : NULL;
}

/* The harness's model of any scope it made, or NULL. */
static minfo *MI(const cr_scope_t *s) {
  const char *p = (const char *)s;
  size_t i;
  if (s == NULL) return NULL;
  if (p >= (const char *)W->scope && p < (const char *)(W->scope + MAX_SCOPES)) {
    i = (size_t)(p - (const char *)W->scope) / sizeof(hscope);
    return &W->scope[i].s == s ? &W->scope[i].m : NULL;
  }
  if (p >= (const char *)W->group && p < (const char *)(W->group + MAX_GROUPS)) {
    i = (size_t)(p - (const char *)W->group) / sizeof(hgroup);
    return &W->group[i].g.scope == s ? &W->group[i].m : NULL;
  }
  if (p >= (const char *)W->task && p < (const char *)(W->task + MAX_TASKS)) {
    i = (size_t)(p - (const char *)W->task) / sizeof(htask);
    return &W->task[i].t.scope == s ? &W->task[i].m : NULL;
  }
  return NULL;
}

/* The group whose scope s is, or NULL. */
static hgroup *group_of(const cr_scope_t *s) {
  const char *p = (const char *)s;
  size_t i;
  if (p < (const char *)W->group || p >= (const char *)(W->group + MAX_GROUPS))
    return NULL;
  i = (size_t)(p - (const char *)W->group) / sizeof(hgroup);
  return &W->group[i].g.scope == s ? &W->group[i] : NULL;
}

/* The task whose own scope s is, or NULL. */
static htask *task_scope_of(const cr_scope_t *s) {
  const char *p = (const char *)s;
  size_t i;
  if (p < (const char *)W->task || p >= (const char *)(W->task + MAX_TASKS))
    return NULL;
  i = (size_t)(p - (const char *)W->task) / sizeof(htask);
  return &W->task[i].t.scope == s ? &W->task[i] : NULL;
}

static cr_scope_t *frame_scope(const htask *h, int i) {
  const frame_t *f = &h->fr[i];
  switch (f->kind) {
    case F_SCOPE: case F_CLEAN: return &W->scope[f->idx].s;
    case F_GROUP: return &W->group[f->idx].g.scope;
    default: return NULL;
  }
}

/* The task's innermost scope as the harness knows it. */
static cr_scope_t *expected_cur(htask *h) {
  int i;
  for (i = h->nfr - 1; i >= 0; i--)
    if (h->fr[i].kind != F_PCALL) return frame_scope(h, i);
  return &h->t.scope;
}

static const char *scope_label(const cr_scope_t *s, char *buf, size_t n) {
  int i;
  if (s == NULL) { snprintf(buf, n, "none"); return buf; }
  for (i = 0; i < MAX_SCOPES; i++)
    if (s == &W->scope[i].s) { snprintf(buf, n, "S%d", i); return buf; }
  for (i = 0; i < MAX_GROUPS; i++)
    if (s == &W->group[i].g.scope) { snprintf(buf, n, "G%d", i); return buf; }
  for (i = 0; i < MAX_TASKS; i++)
    if (s == &W->task[i].t.scope) { snprintf(buf, n, "T%d.scope", i); return buf; }
  snprintf(buf, n, "?%p", (const void *)s);
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

/* --- the model of the scope tree: Trio's rule, computed by the harness ---- */

/* The outermost cancelled scope visible from s (inclusive): a shield hides
** what is outside it. */
static cr_scope_t *m_absorber(cr_scope_t *s) {
  cr_scope_t *a = NULL;
  char b[32];
  for (; s; s = MI(s)->parent) {
    minfo *m = MI(s);
    CHECK(m != NULL, "scope %s outside the harness", scope_label(s, b, sizeof b));
    if (m->cancelled) a = s;
    if (m->shield) break;
  }
  return a;
}

/* Where a Cancelled that corral delivered goes on from p: the first
** cancelled scope found walking out, past shields set since the cancel (an
** exception passes them), the outermost of those a shield leaves visible. */
static cr_scope_t *m_catcher(cr_scope_t *p) {
  while (p != NULL) {
    cr_scope_t *found = m_absorber(p);
    if (found != NULL) return found;
    while (p != NULL && !MI(p)->shield) p = MI(p)->parent;
    if (p != NULL) p = MI(p)->parent;
  }
  return NULL;
}

/* A Cancelled of scope `to` reaches o at `from`: unless `to` is one of o's
** own inner scopes from `from` up (an inner catch), o's t:cancel is no
** longer owed. */
static void m_reached(htask *o, cr_scope_t *from, const cr_scope_t *to) {
  cr_scope_t *x;
  for (x = from; x != NULL && x != &o->t.scope; x = MI(x)->parent)
    if (x == to) return;
  o->owed = 0;
}

/*
** What must become of a Cancelled that reaches the exit of s, a scope of
** task o, now: s absorbs it iff s is cancelled and no cancelled scope
** outside it is visible; else it passes to the scope that would absorb it
** now. One corral delivered (o was found cancelled, or a child passed it
** out to o or to the group s) passes shields set since (m_catcher); one o
** was only handed goes where o can see a cancel. o's mark follows: cleared
** by a catch, set by a Cancelled passed on (docs/model.md).
*/
static cr_end_t m_judge(htask *o, cr_scope_t *s, cr_scope_t **to) {
  minfo *m = MI(s);
  hgroup *hg = group_of(s);
  cr_scope_t *outer = m->shield ? NULL : m_absorber(m->parent);
  *to = NULL;
  if (m->cancelled && outer == NULL) {
    o->saw = 0;
    return CR_END_ABSORBED;
  }
  if (outer == NULL)
    outer = o->saw || (hg && hg->child_passed) ? m_catcher(m->parent)
                                               : m_absorber(m->parent);
  if (outer != NULL) {
    o->saw = 1;
    m_reached(o, m->parent, outer);
  }
  *to = outer;
  return CR_END_PASSED;
}

static const char *end_name(cr_end_t e) {
  static const char *const n[] = {"NORMAL", "ABSORBED", "PASSED", "FAILED",
                                  "NONE"};
  return (unsigned)e < 5 ? n[e] : "?";
}

/* --- reason handles -------------------------------------------------------- */

/* A new handle (-1: pass NULL). Every fifth request passes NULL; the others
** alternate between a malloc'd block and a tagged pointer. */
static int new_handle(int allow_null) {
  int i;
  if (allow_null && ++W->nhreq % 5 == 0) return -1;
  if (W->nh >= MAX_HANDLES) return -1;
  i = W->nh++;
  W->h[i].state = HS_INFLIGHT;
  W->h[i].held = NULL;
  W->h[i].group = -1;
  if (i % 2 == 0) {
    hblock *b = malloc(sizeof *b);
    CHECK(b != NULL, "out of memory");
    b->magic = HMAGIC;
    b->id = i;
    W->h[i].p = b;
    W->h[i].alloc = 1;
  } else {
    W->h[i].p = (void *)(((uintptr_t)i << 4) | 0x9);  /* never a real pointer */
    W->h[i].alloc = 0;
  }
  return i;
}

static void *hp(int i) { return i >= 0 ? W->h[i].p : NULL; }

static int hfind(const void *p) {
  int i;
  if (p == NULL) return -1;
  if (((uintptr_t)p & 0xf) == 0x9) {
    i = (int)((uintptr_t)p >> 4);
    return i < W->nh && W->h[i].p == p ? i : -1;
  }
  for (i = 0; i < W->nh; i += 2)
    if (W->h[i].p == p) return i;
  return -1;
}

/* The binding reads the record behind a handle: it must still be its. */
static void use_handle(int i, const char *why) {
  if (i < 0) return;
  CHECK(W->h[i].state != HS_RELEASED, "h%d used (%s) after it was released",
        i, why);
  if (W->h[i].alloc) {
    hblock *b = W->h[i].p;
    CHECK(b->magic == HMAGIC && b->id == i, "h%d's block is corrupt (%s)", i,
          why);
  }
}

static void on_release(cr_engine_t *e, void *p) {
  int i = hfind(p);
  hrec *r;
  char lab[32];
  (void)e;
  CHECK(i >= 0, "release of %p, which the harness never gave", p);
  r = &W->h[i];
  CHECK(r->state != HS_RELEASED, "h%d released twice", i);
  switch (r->state) {
    case HS_INFLIGHT:
      CHECK(W->call.hd == i, "h%d released outside the call it was given in",
            i);
      break;
    case HS_HELD:
      CHECK(W->in_abandon || (r->held->exited && !r->held->entered),
            "h%d (record of %s) released while the scope lives", i,
            scope_label(r->held, lab, sizeof lab));
      break;
    case HS_STOPREC: {
      hgroup *hg = &W->group[r->group];
      /* by a later stop, the close, or any cancel of the group (its
      ** grace has nothing left to end: cr__group_cancelled) */
      CHECK(W->in_abandon ||
            ((W->call.kind == C_STOP || W->call.kind == C_CLOSE) &&
             W->call.g == r->group) || hg->g.scope.cancel_called,
            "h%d (stop record of G%d) released at the wrong moment", i,
            r->group);
      break;
    }
  }
  trace("  release h%d (%s)", i, hs_name[r->state]);
  r->state = HS_RELEASED;
  if (r->alloc) {
    hblock *b = r->p;
    CHECK(b->magic == HMAGIC && b->id == i, "h%d's block is corrupt", i);
    b->magic = 0xdeadu;
    POISON(b, sizeof *b);        /* never read again, by anyone */
  }
}

/* After a call that was given handle i: where must it be now? */
static void settle(int i, int want, cr_scope_t *s, const char *what) {
  char lab[32];
  if (i < 0) return;
  CHECK(W->h[i].state == want, "%s: h%d is %s, expected %s", what, i,
        hs_name[W->h[i].state], hs_name[want]);
  if (want == HS_HELD)
    CHECK(W->h[i].held == s && s->cancel.reason == W->h[i].p,
          "%s: h%d is not the record of %s", what, i,
          scope_label(s, lab, sizeof lab));
}

/* --- events ----------------------------------------------------------------- */

static void cancel_event(cr_engine_t *e, const cr_engine_event_t *ev) {
  cr_scope_t *s = ev->scope;
  minfo *m = MI(s);
  const cr_cancel_t *rec;
  htask *ts;
  hgroup *hg;
  int hd = -2;    /* the handle the record must carry (-1: NULL); -2: any */
  char lab[32];
  double now = e->vnow;
  CHECK(m != NULL, "CANCEL for a scope the harness never made");
  scope_label(s, lab, sizeof lab);
  CHECK(s->cancel_called && s->entered && !s->exited && m->entered,
        "CANCEL for %s, which is not live", lab);
  CHECK(!m->cancelled, "second CANCEL for %s", lab);
  CHECK(ev->task == e->current, "CANCEL names T%d, not the running task",
        ev->task && task_of(ev->task) ? task_of(ev->task)->idx : -1);
  rec = &s->cancel;
  ts = task_scope_of(s);
  hg = group_of(s);
  m->cancelled = 1;
  trace("  CANCEL %s (%s, origin %llu, reason %p)", lab,
        cr_source_name(rec->source), (unsigned long long)rec->origin,
        rec->reason);
  if (W->call.s == s &&
      (W->call.kind == C_CANCEL || W->call.kind == C_FAIL)) {
    CHECK(rec->source == W->call.src && rec->origin == W->call.origin,
          "%s's record is %s/%llu, the call said %s/%llu", lab,
          cr_source_name(rec->source), (unsigned long long)rec->origin,
          cr_source_name(W->call.src), (unsigned long long)W->call.origin);
    hd = W->call.hd;
  } else if (ts && ts->t.group && ts->start_mode && !ts->ready &&
             MI(&ts->t.group->scope)->cancelled &&
             rec->source == ts->t.group->scope.cancel.source &&
             rec->origin == ts->t.group->scope.cancel.origin) {
    /* a g:start child reached by its group's cancel: the group's record
    ** speaks for it (cr_scope_record, once the cancel returns) */
    m->as_group = 1;
    hd = -1;
  } else if (rec->source == CR_SRC_STOP && hg) {
    CHECK(hg->g.stopping, "%s cancelled by a stop, but not stopping", lab);
    if (W->call.kind == C_STOP && W->call.g == gidx(&hg->g)) {
      CHECK(rec->origin == W->call.origin, "stop(0) of %s: origin", lab);
      hd = W->call.hd;
    } else {
      CHECK(hg->has_stop && now >= hg->stop_when,
            "%s cancelled by a stop at %g, its grace ends at %g", lab, now,
            hg->stop_when);
      CHECK(rec->origin == hg->stop_origin, "stop of %s: origin %llu, "
            "the stop said %llu", lab, (unsigned long long)rec->origin,
            (unsigned long long)hg->stop_origin);
      hd = hg->stop_hd;
    }
  } else if (rec->source == CR_SRC_DEADLINE) {
    CHECK(ts == NULL, "a deadline cancelled task scope %s", lab);
    CHECK(now >= cr_scope_deadline(s), "%s: deadline %g fired at %g", lab,
          cr_scope_deadline(s), now);
    CHECK(rec->origin == 0, "deadline of %s has origin %llu", lab,
          (unsigned long long)rec->origin);
    hd = -1;
  } else {
    CHECK(0, "unexplained cancel of %s (%s, origin %llu)", lab,
          cr_source_name(rec->source), (unsigned long long)rec->origin);
  }
  CHECK(rec->reason == hp(hd), "%s's record carries %p, expected h%d", lab,
        rec->reason, hd);
  if (hd >= 0) {
    hrec *r = &W->h[hd];
    CHECK(r->state == HS_INFLIGHT || r->state == HS_STOPREC,
          "h%d taken into %s's record from state %s", hd, lab,
          hs_name[r->state]);
    r->state = HS_HELD;
    r->held = s;
  }
}

static void on_event(cr_engine_t *e, const cr_engine_event_t *ev) {
  htask *h = ev->task ? task_of(ev->task) : NULL;
  static const char *const kn[] = {"SPAWN", "RUN", "SUSPEND", "PARK", "WAKE",
                                   "CANCEL", "FAIL", "DONE"};
  const char *k = (unsigned)ev->kind < 8 ? kn[ev->kind] : "?";
  if (W->abandoned) {
    /* after the abandon only the probe may appear */
    CHECK(ev->task == &W->probe, "%s event for T%d after the run was "
          "abandoned", k, h ? h->idx : -1);
    if (ev->kind == CR_EV_PARK) W->probe_parked = 1;
    if (ev->kind == CR_EV_WAKE) W->probe_parked = 0;
    return;
  }
  CHECK(!W->in_abandon, "%s event during cr_engine_abandon", k);
  if (ev->kind != CR_EV_CANCEL && ev->kind != CR_EV_FAIL)
    CHECK(h != NULL, "%s event for a task the harness never made", k);
  switch (ev->kind) {
    case CR_EV_SPAWN:
      CHECK(ev->task == W->call.spawn && !h->ev_spawned,
            "SPAWN of T%d, which is not being spawned", h->idx);
      CHECK(ev->scope == (ev->task->group ? &ev->task->group->scope : NULL),
            "SPAWN of T%d names the wrong group", h->idx);
      h->ev_spawned = 1;
      break;
    case CR_EV_RUN:
      CHECK(W->ev_run == NULL, "RUN of T%d while another runs", h->idx);
      CHECK(e->current == ev->task && ev->task->status == CR_TASK_RUNNING,
            "RUN of T%d, which is not the current task", h->idx);
      CHECK(h->ev_spawned && !h->ev_done && !h->ev_parked,
            "RUN of T%d, which is %s", h->idx, !h->ev_spawned ? "not spawned"
            : h->ev_done ? "done" : "parked");
      W->ev_run = ev->task;
      break;
    case CR_EV_SUSPEND:
      CHECK(W->ev_run == ev->task, "SUSPEND of T%d without its RUN", h->idx);
      CHECK(ev->status == (int)ev->task->status, "SUSPEND of T%d says status "
            "%d, it is %d", h->idx, ev->status, (int)ev->task->status);
      if (ev->task->status == CR_TASK_WAITING)
        CHECK(h->ev_parked && ev->wait == h->ev_wait && ev->obj == h->ev_obj,
              "SUSPEND of parked T%d does not say what it waits on", h->idx);
      else
        CHECK(ev->wait == CR_WAIT_NONE && !h->ev_parked,
              "SUSPEND of unparked T%d says it waits", h->idx);
      CHECK(ev->task->status != CR_TASK_RUNNING, "T%d suspended running",
            h->idx);
      W->ev_run = NULL;
      break;
    case CR_EV_PARK:
      CHECK(ev->task == e->current && W->ev_run == ev->task,
            "PARK of T%d, which is not the running task", h->idx);
      CHECK(!h->ev_parked, "T%d parked twice", h->idx);
      CHECK(ev->scope == ev->task->cur, "PARK of T%d names the wrong scope",
            h->idx);
      h->ev_parked = 1;
      h->ev_wait = ev->wait;
      h->ev_obj = ev->obj;
      break;
    case CR_EV_WAKE:
      CHECK(h->ev_parked && !h->ev_done, "WAKE of T%d, which is not parked",
            h->idx);
      /* emitted once the task is queued */
      CHECK(ev->status == ev->task->wake_status &&
            ev->task->status == CR_TASK_SCHEDULED && ev->task->queued &&
            ev->task->wait == CR_WAIT_NONE, "WAKE of T%d", h->idx);
      /* g:start's wait is a cancellation point only while the child waits
      ** for a slot of its group's limit */
      if (h->ev_wait == CR_WAIT_START && ev->status == CR_ECANCELED) {
        const cr_task_t *c = h->ev_obj;
        CHECK(c->pending && c->starting && !c->finished, "T%d's g:start "
              "aborted while its child %s", h->idx, c->finished ? "is done"
              : !c->starting ? "is not starting" : "has its slot");
      }
      h->ev_parked = 0;
      trace("  wake T%d (%s)", h->idx,
            ev->status ? cr_err_name(ev->status) : "delivered");
      break;
    case CR_EV_CANCEL:
      cancel_event(e, ev);
      break;
    case CR_EV_FAIL:
      CHECK(W->call.kind == C_FAIL && ev->scope == W->call.s,
            "FAIL event outside cr_group_fail of its group");
      CHECK(ev->task == e->current, "FAIL names a task not running");
      W->group[W->call.g].nfailev++;
      break;
    case CR_EV_DONE:
      CHECK(!h->ev_done, "second DONE of T%d", h->idx);
      CHECK(!h->ev_parked, "DONE of parked T%d", h->idx);
      CHECK(ev->status == (int)ev->task->status && ev->task->finished,
            "DONE of T%d with status %d", h->idx, ev->status);
      h->ev_done = 1;
      break;
    default:
      CHECK(0, "unknown event kind %d", (int)ev->kind);
  }
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
    if (h->wait != W_NONE && h->wait != W_SLEEP && h->wait != W_YIELD &&
        h->wait != W_HOLD)
      fprintf(stderr, "(%s%d)", h->wait == W_JOIN || h->wait == W_START ? "T"
              : h->wait == W_STOPPING || h->wait == W_GJOIN ? "G" : "#",
              h->wobj);
    fprintf(stderr, " in %s, cancel seen from %s",
            scope_label(h->t.cur, b1, sizeof b1),
            scope_label(cr_scope_absorber(h->t.cur), b2, sizeof b2));
    if (h->mode != M_RUN)
      fprintf(stderr, ", %s %s", h->mode == M_CLEAN ? "cleaning up" : "leaving",
              h->c.exc == X_CANCEL ? "with a Cancelled"
              : h->c.exc == X_ERROR ? "with an error" : "normally");
    if (g)
      fprintf(stderr, ", child of G%d%s", gidx(g),
              h->t.pending ? " (waits for a slot of its limit)" : "");
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

/* The engine's fields of scope s agree with the harness's model. */
static void check_scope(cr_scope_t *s, minfo *m, const char *lab) {
  char b1[32], b2[32];
  CHECK(s->cancel_called == (unsigned)m->cancelled, "%s: cancel_called %d, "
        "but %d CANCEL events", lab, s->cancel_called, m->cancelled);
  CHECK(s->shield == (unsigned)m->shield, "%s: shield %d, expected %d", lab,
        s->shield, m->shield);
  if (m->entered) {
    CHECK(s->entered && !s->exited, "%s is not entered", lab);
    CHECK(s->parent == m->parent, "%s hangs below %s, expected %s", lab,
          scope_label(s->parent, b1, sizeof b1),
          scope_label(m->parent, b2, sizeof b2));
  } else {
    CHECK(!s->entered, "%s is entered after it was left", lab);
  }
  if (m->as_group && m->entered) {
    htask *ts = task_scope_of(s);
    CHECK(ts && (s->cancel.reason != NULL ||
                 cr_scope_record(s) == &ts->t.group->scope),
          "%s was cancelled as its group, but its record is not the group's",
          lab);
  }
  /* every record holds a handle the harness gave and did not get back */
  if (s->cancel.reason != NULL) {
    int i = hfind(s->cancel.reason);
    CHECK(i >= 0, "%s's record carries %p, never given", lab, s->cancel.reason);
    CHECK(W->h[i].state == HS_HELD && W->h[i].held == s,
          "%s's record carries h%d, which is %s%s", lab, i,
          hs_name[W->h[i].state],
          W->h[i].state == HS_HELD ? " by another scope" : "");
    CHECK(m->entered, "%s has left but keeps h%d", lab, i);
  }
}

/*
** g's limit holds at every instant, whatever cancel reached its children
** (a child the limit held back keeps its place in the queue, cancelled or
** not, and runs once it has its slot): its slots (nrunning) are its live
** children not waiting for one, never more than the limit; a child waits
** only while they are all taken; and slots go in spawn order, so no child
** held after another has (or had) a slot while that one still waits.
*/
static void check_limit(hgroup *hg) {
  cr_group_t *g = &hg->g;
  htask *first = NULL;        /* the earliest held child still waiting */
  size_t nslots = 0;
  int gi = gidx(g), i;
  for (i = 0; i < W->ntasks; i++) {
    htask *c = &W->task[i];
    if (c->grp != g || c->finished) continue;
    if (!c->t.pending) {
      nslots++;
      continue;
    }
    CHECK(c->held_seq && !c->started && c->t.status == CR_TASK_SCHEDULED &&
          !c->t.queued, "T%d waits for a slot of G%d (held at spawn %d, "
          "started %d, status %d)", i, gi, c->held_seq != 0, c->started,
          (int)c->t.status);
    if (first == NULL || c->held_seq < first->held_seq) first = c;
  }
  CHECK(nslots == g->nrunning, "G%d counts %zu slots taken, the harness %zu",
        gi, g->nrunning, nslots);
  CHECK(!g->limit || g->nrunning <= g->limit, "G%d runs %zu > limit %zu", gi,
        g->nrunning, g->limit);
  if (first == NULL) return;
  CHECK(g->limit && g->nrunning == g->limit, "T%d waits for a slot of G%d, "
        "which has %zu of %zu taken", first->idx, gi, g->nrunning, g->limit);
  for (i = 0; i < W->ntasks; i++) {
    htask *c = &W->task[i];
    CHECK(c->grp != g || c->held_seq <= first->held_seq ||
          (c->t.pending && !c->finished), "T%d, held after T%d in G%d, got "
          "its slot first", i, first->idx, gi);
  }
}

static void audit(const char *where) {
  world *w = W;
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
    snprintf(b1, sizeof b1, "T%d.scope", i);
    check_scope(&t->scope, &h->m, b1);
    if (h->finished) {
      CHECK(t->finished && t->status == h->final,
            "finished T%d has status %d", i, (int)t->status);
      continue;
    }
    CHECK(t->saw_cancel == (unsigned)h->saw, "T%d's mark (saw_cancel) is %d, "
          "expected %d", i, t->saw_cancel, h->saw);
    CHECK(cr_task_cancel_owed(t) == h->owed, "T%d's cancel owed %d, "
          "expected %d", i, cr_task_cancel_owed(t), h->owed);
    live_tasks++;
    live_scopes++;
    for (j = 0; j < h->nfr; j++) live_scopes += h->fr[j].kind != F_PCALL;
    CHECK(!t->finished, "T%d finished behind the harness' back", i);
    CHECK(t->cur == expected_cur(h), "T%d.cur is %s, expected %s", i,
          scope_label(t->cur, b1, sizeof b1),
          scope_label(expected_cur(h), b2, sizeof b2));
    for (j = 0; j < h->nfr; j++) {
      cr_scope_t *s = frame_scope(h, j);
      if (s == NULL) continue;
      CHECK(cr_scope_owner(s) == t && MI(s)->entered,
            "T%d's frame %d is not an entered scope of its own", i, j);
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
      CHECK(h->ev_parked, "T%d waits without a PARK event", i);
      /* level-triggered delivery: a cancel it can see must have woken it */
      if (abortable_now(h->wait, h->wobj))
        CHECK(m_absorber(t->cur) == NULL,
              "T%d parked in %s inside cancelled %s was not woken", i,
              wait_name[h->wait],
              scope_label(m_absorber(t->cur), b1, sizeof b1));
      check_not_lost(h);
    } else if (t->status == CR_TASK_SCHEDULED) {
      CHECK(!h->ev_parked, "T%d is scheduled but never had a WAKE", i);
      if (!h->wake_checked) {
        h->wake_checked = 1;
        /* an abort must come from a cancel this task can see (a shield
        ** hides outer scopes); non-abortable waits never abort */
        if (t->wake_status == CR_ECANCELED) {
          /* (a g:start is checked at its WAKE: its child had no slot) */
          CHECK(abortable(h->wait) || h->wait == W_START,
                "T%d's non-abortable %s woke with CR_ECANCELED", i,
                wait_name[h->wait]);
          CHECK(m_absorber(t->cur) != NULL,
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
    snprintf(b1, sizeof b1, "S%d", i);
    check_scope(s, &w->scope[i].m, b1);
    /* the clock only jumps to the earliest deadline: none is left behind */
    CHECK(!cr_timer_armed(&s->deadline_) || s->deadline_.when >= now,
          "S%d's deadline %g still armed at %g", i, s->deadline_.when, now);
  }
  for (i = 0; i < w->ntasks; i++) {
    cr_timer_t *tm = &w->task[i].t.alarm;
    CHECK(w->task[i].finished || !w->task[i].t.alarm_on ||
          !cr_timer_armed(tm) || tm->when >= now,
          "T%d's sleep until %g still armed at %g", i, tm->when, now);
  }
  for (i = 0; i < w->ngroups; i++) {
    hgroup *hg = &w->group[i];
    cr_group_t *g = &hg->g;
    snprintf(b1, sizeof b1, "G%d", i);
    check_scope(&g->scope, &hg->m, b1);
    CHECK(!cr_timer_armed(&g->scope.deadline_) ||
          g->scope.deadline_.when >= now, "G%d's deadline %g still armed at %g",
          i, g->scope.deadline_.when, now);
    CHECK(g->nchildren == (size_t)hg->nlive, "G%d counts %zu children, "
          "harness %d", i, g->nchildren, hg->nlive);
    CHECK(g->nrunning <= g->nchildren, "G%d runs more than it has", i);
    check_limit(hg);
    CHECK(g->nerrors + g->dropped == hg->nfail && g->nerrors <= g->max_errors,
          "G%d keeps %zu + drops %zu errors of %zu", i, g->nerrors, g->dropped,
          hg->nfail);
    CHECK((size_t)hg->nfailev == hg->nfail, "G%d: %d FAIL events for %zu "
          "failures", i, hg->nfailev, hg->nfail);
    CHECK(!g->closed || g->nchildren == 0, "closed G%d has children", i);
    /* a stop's grace ran out: its record went into the cancel, or back */
    if (hg->has_stop && now >= hg->stop_when) {
      CHECK(hg->m.cancelled, "G%d's stop grace ended at %g, not cancelled "
            "at %g", i, hg->stop_when, now);
      if (hg->stop_hd >= 0)
        CHECK(w->h[hg->stop_hd].state == HS_RELEASED ||
              (w->h[hg->stop_hd].state == HS_HELD &&
               w->h[hg->stop_hd].held == &g->scope),
              "G%d's stop record h%d is %s after its grace", i, hg->stop_hd,
              hs_name[w->h[hg->stop_hd].state]);
      hg->has_stop = 0;
    }
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
  /* a handle is held only by a live scope whose record it is */
  for (i = 0; i < w->nh; i++)
    if (w->h[i].state == HS_HELD)
      CHECK(w->h[i].held->cancel.reason == w->h[i].p && MI(w->h[i].held)->entered,
            "h%d is held by %s, which no longer has it", i,
            scope_label(w->h[i].held, b1, sizeof b1));
}

/* --- engine calls that hand over reason handles --------------------------- */

static void call_begin(int kind, cr_scope_t *s, int g, int hd, cr_source_t src,
                       uint64_t origin) {
  W->call.kind = kind;
  W->call.s = s;
  W->call.g = g;
  W->call.hd = hd;
  W->call.src = src;
  W->call.origin = origin;
  W->call.spawn = NULL;
}

static void call_end(void) {
  memset(&W->call, 0, sizeof W->call);
  W->call.g = -1;
  W->call.hd = -1;
}

static uint64_t origin_of(htask *h) { return h ? h->t.scope.id : 0; }

/* cr_scope_cancel with a fresh handle; returns what the engine said. */
static int do_cancel(cr_scope_t *s, cr_source_t src, uint64_t origin,
                     const char *lab) {
  minfo *m = MI(s);
  int hd = new_handle(1), expect, rc;
  /* A task whose spawn was refused never entered its scope, and
  ** cr_task_done marked it exited: the cancel is refused and the handle
  ** given back at once, like any cancel of a scope that is not entered. */
  expect = !m->cancelled && m->entered;
  call_begin(C_CANCEL, s, group_of(s) ? gidx(&group_of(s)->g) : -1, hd, src,
             origin);
  rc = cr_scope_cancel(s, src, origin, hp(hd));
  call_end();
  trace("  cancel %s (%s, h%d) -> %d", lab, cr_source_name(src), hd, rc);
  CHECK(rc == expect, "cancel of %s returned %d, expected %d", lab, rc, expect);
  CHECK(!rc || (s->cancel_called && s->cancel.source == src &&
                s->cancel.origin == origin),
        "cancel of %s: record", lab);
  settle(hd, rc ? HS_HELD : HS_RELEASED, s, "cr_scope_cancel");
  if (task_scope_of(s) && m->entered)   /* a t:cancel, again or not: owed */
    task_scope_of(s)->owed = 1;
  return rc;
}

/* cr_group_fail by task h (origin), with a fresh handle. */
static void do_fail(htask *h, hgroup *hg, int fatal) {
  cr_group_t *g = &hg->g;
  int hd = new_handle(1), keep_exp = g->nerrors < g->max_errors, keep;
  int cancels = !hg->m.cancelled && (fatal || !g->defer_errors);
  int nev = hg->nfailev;
  call_begin(C_FAIL, &g->scope, gidx(g), hd, CR_SRC_FAILURE, origin_of(h));
  keep = cr_group_fail(g, fatal, origin_of(h), hp(hd));
  call_end();
  hg->nfail++;
  trace("  fail G%d (%s, by T%d, h%d) -> keep %d", gidx(g),
        fatal ? "fatal" : "child", h ? h->idx : -1, hd, keep);
  CHECK(keep == keep_exp, "cr_group_fail keep %d, expected %d", keep,
        keep_exp);
  CHECK(hg->nfailev == nev + 1, "cr_group_fail of G%d emitted %d FAILs",
        gidx(g), hg->nfailev - nev);
  CHECK(g->defer_errors && !fatal ? 1 : g->scope.cancel_called,
        "a failure did not cancel G%d", gidx(g));
  settle(hd, cancels ? HS_HELD : HS_RELEASED, &g->scope, "cr_group_fail");
}

/* Give cancelled scope a a reason handle if it has none (a deadline's, a
** g:start child's), as lcr_pushcancelled does; returns the handle. */
static int cancelled_handle(cr_scope_t *a) {
  char lab[32];
  int i;
  scope_label(a, lab, sizeof lab);
  CHECK(a->cancel_called && MI(a)->cancelled, "Cancelled of %s, not "
        "cancelled", lab);
  if (a->cancel.reason == NULL && MI(a)->entered) {
    const cr_scope_t *like = cr_scope_record(a) != a ? cr_scope_record(a)
                                                     : NULL;
    int rc;
    i = new_handle(0);
    if (i < 0) return -1;
    if (like) {
      CHECK(like->entered && MI(like)->entered, "%s speaks for %s but has "
            "exited", scope_label(like, lab, sizeof lab), lab);
      if (like->cancel.reason) use_handle(hfind(like->cancel.reason), "same_as");
    }
    call_begin(C_REASON, a, -1, i, CR_SRC_NONE, 0);
    rc = cr_scope_set_reason(a, hp(i));
    call_end();
    CHECK(rc == 0, "set_reason on cancelled live %s: %s", lab,
          cr_err_name(rc));
    CHECK(W->h[i].state == HS_INFLIGHT, "set_reason released h%d", i);
    W->h[i].state = HS_HELD;
    W->h[i].held = a;
  }
  i = hfind(a->cancel.reason);
  if (a->cancel.reason) {
    CHECK(i >= 0 && W->h[i].state == HS_HELD && W->h[i].held == a,
          "%s's record carries a handle that is not its own", lab);
    use_handle(i, "raise");
  }
  return i;
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
    CHECK(s->value == before && s->owner == o->t.scope.id &&
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

/* lock:try_acquire: a free permit is taken now, else nothing changes. */
static int try_acquire(htask *h, int i) {
  cr_sem_t *s = &W->sem[i];
  size_t before = s->value;
  int got = cr_sem_try_acquire(s, h->t.scope.id);
  trace("T%d try_acquire M%d -> %s", h->idx, i, got ? "taken" : "none free");
  CHECK(got == (before > 0), "try_acquire of M%d with %zu free: %d", i,
        before, got);
  if (!got) {
    CHECK(s->value == 0, "a failed try_acquire changed M%d", i);
    return GO;
  }
  CHECK(s->value == before - 1 && s->owner == h->t.scope.id,
        "try_acquire of M%d: value %zu, owner %llu", i, s->value,
        (unsigned long long)s->owner);
  h->held[i]++;
  W->sem_out[i]++;
  return GO;
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

static cr_wait_t cr_wait_of(htask *h, int kind, int obj, const void **o) {
  switch (kind) {
    case W_SLEEP: *o = &h->t.alarm; return CR_WAIT_SLEEP;
    case W_JOIN: *o = &W->task[obj].t; return CR_WAIT_JOIN;
    case W_EVENT: *o = &W->ev[obj]; return CR_WAIT_EVENT;
    case W_SEM: *o = &W->sem[obj]; return CR_WAIT_SEM;
    case W_SEND: *o = &W->ch[obj].c; return CR_WAIT_SEND;
    case W_RECV: *o = &W->ch[obj].c; return CR_WAIT_RECV;
    case W_STOPPING: *o = &W->group[obj].g; return CR_WAIT_STOPPING;
    case W_GJOIN: *o = &W->group[obj].g; return CR_WAIT_CHILDREN;
    case W_START: *o = &W->task[obj].t; return CR_WAIT_START;
    case W_HOLD: *o = W; return CR_WAIT_HOST;
    default: *o = NULL; return CR_WAIT_NONE;
  }
}

static int park(htask *h, int kind, int obj, double until) {
  h->wait = kind;
  h->wobj = obj;
  h->wuntil = until;
  h->wsince = cr_now(&W->e);
  h->wseq = h->rejoin ? h->rejoin : ++W->wseq;
  h->rejoin = 0;
  h->wake_checked = 0;
  if (kind == W_YIELD) {
    CHECK(h->t.status == CR_TASK_SCHEDULED && !h->ev_parked,
          "T%d's yield parked it", h->idx);
  } else if (kind == W_START && h->t.status == CR_TASK_SCHEDULED) {
    /* a cancelled starter whose child has no slot: the wait is aborted as
    ** it parks (level-triggered), and the starter runs again at once */
    const void *o;
    cr_wait_t cw = cr_wait_of(h, kind, obj, &o);
    CHECK(h->t.wake_status == CR_ECANCELED && !h->ev_parked &&
          h->ev_wait == cw && h->ev_obj == o && W->task[obj].t.pending &&
          m_absorber(expected_cur(h)) != NULL, "T%d's start of T%d neither "
          "parked nor was aborted by a cancel (wake %d)", h->idx, obj,
          h->t.wake_status);
    h->saw = 1;                      /* its own wait ended by the cancel */
  } else {
    const void *o;
    cr_wait_t cw = cr_wait_of(h, kind, obj, &o);
    CHECK(h->t.status == CR_TASK_WAITING, "T%d's %s did not park it", h->idx,
          wait_name[kind]);
    CHECK(h->ev_parked && h->ev_wait == cw && h->ev_obj == o &&
          h->t.wait == cw && h->t.wait_obj == o,
          "T%d parked in %s: the PARK event and fields say %s/%s", h->idx,
          wait_name[kind], cr_wait_name(h->ev_wait), cr_wait_name(h->t.wait));
  }
  return PARKED;
}

/* The abort of the hold before an abandon: it never ends by a cancel. */
static cr_abort_t abort_late(cr_task_t *t) {
  (void)t;
  return CR_ABORT_LATE;
}

static int hold(htask *h) {
  trace("T%d holds: the run is being abandoned", h->idx);
  cr_task_park_on(&h->t, abort_late, CR_WAIT_HOST, W);
  return park(h, W_HOLD, 0, 0);
}

/* cr_task_cancelled may answer from a cache: it must match the walk, and
** the walk must match the harness's model. */
static cr_scope_t *checked_cancelled(htask *h) {
  cr_scope_t *a = cr_task_cancelled(&h->t);
  cr_scope_t *b = cr_scope_absorber(h->t.cur);
  cr_scope_t *c = m_absorber(expected_cur(h));
  char b1[32], b2[32], b3[32];
  CHECK(a == b && b == c, "cr_task_cancelled(T%d) says %s, the scopes say "
        "%s, the model %s", h->idx, scope_label(a, b1, sizeof b1),
        scope_label(b, b2, sizeof b2), scope_label(c, b3, sizeof b3));
  if (a != NULL) {                   /* what it raises, corral delivered */
    h->saw = 1;
    m_reached(h, expected_cur(h), a);
  }
  return a;
}

/* Raise the Cancelled of scope a in h: unwind until a scope absorbs it. */
static void raise_cancelled(htask *h, cr_scope_t *a) {
  char b[32];
  h->mode = M_LEAVE;
  h->c.exc = X_CANCEL;
  h->c.cx = a;
  h->c.cxh = cancelled_handle(a);
  h->c.target = -1;
  trace("T%d raises the Cancelled of %s (h%d)", h->idx,
        scope_label(a, b, sizeof b), h->c.cxh);
}

static void raise_error(htask *h, int target) {
  h->mode = M_LEAVE;
  h->c.exc = X_ERROR;
  h->c.cx = NULL;
  h->c.cxh = -1;
  h->c.target = target;
}

static void begin_exit(htask *h, int target) {
  h->mode = M_LEAVE;
  h->c.exc = X_NONE;
  h->c.cx = NULL;
  h->c.cxh = -1;
  h->c.target = target;
}

/* A cancellation point: 1 if the task is cancelled (and now unwinding). */
static int cancel_point(htask *h) {
  cr_scope_t *a = checked_cancelled(h);
  if (a == NULL) return 0;
  raise_cancelled(h, a);
  return 1;
}

/* Is the Cancelled being unwound still live (its scope entered)? */
static int cx_live(htask *h) {
  minfo *m;
  char b[32];
  if (h->c.exc != X_CANCEL) return 0;
  m = MI(h->c.cx);
  CHECK(m->entered == (h->c.cx->entered && !h->c.cx->exited),
        "%s: the harness and the engine disagree on whether it is entered",
        scope_label(h->c.cx, b, sizeof b));
  if (h->c.cxh >= 0)
    CHECK(m->entered == (W->h[h->c.cxh].state == HS_HELD),
          "the Cancelled of %s: scope %s but its handle h%d is %s",
          scope_label(h->c.cx, b, sizeof b), m->entered ? "live" : "exited",
          h->c.cxh, hs_name[W->h[h->c.cxh].state]);
  return m->entered;
}

/*
** A send on channel obj by h: t is &h->t (a blocking send, which may park)
** or NULL (ch:try_send, which never parks: CR_CHAN_WOULDBLOCK instead).
*/
static int chan_send(htask *h, int obj, cr_task_t *t) {
  hchan *hc = &W->ch[obj];
  htask *o = oldest(W_RECV, obj);
  cr_task_t *peer = NULL;
  size_t slot = 0;
  const char *how = t ? "send" : "try_send";
  int v = new_value();
  if (v < 0) return GO;
  switch (cr_chan_send(&hc->c, t, &peer, &slot)) {
    case CR_CHAN_HANDOFF:
      CHECK(o && peer == &o->t && o->t.status == CR_TASK_SCHEDULED,
            "%s on C%d handed v%d to T%d, not the longest receiver", how,
            obj, v, peer && task_of(peer) ? task_of(peer)->idx : -1);
      CHECK(o->val < 0, "receiver T%d got a second value", o->idx);
      o->val = v;
      W->val[v] = V_HANDED;
      trace("T%d %s v%d on C%d -> handed to T%d", h->idx, how, v, obj, o->idx);
      return GO;
    case CR_CHAN_BUFFERED:
      CHECK(slot < hc->c.cap && hc->buf[slot] < 0,
            "%s on C%d into slot %zu, which is taken", how, obj, slot);
      CHECK(o == NULL, "C%d buffered v%d while T%d waits to receive", obj,
            v, o->idx);
      hc->buf[slot] = v;
      W->val[v] = V_BUFFERED;
      trace("T%d %s v%d on C%d -> slot %zu", h->idx, how, v, obj, slot);
      return GO;
    case CR_CHAN_CLOSED:
      CHECK(hc->c.closed, "%s: C%d is not closed", how, obj);
      W->val[v] = V_WITHDRAWN;
      trace("T%d %s v%d on C%d -> closed", h->idx, how, v, obj);
      return GO;
    case CR_CHAN_WOULDBLOCK:
      CHECK(t == NULL, "T%d's blocking send on C%d said WOULDBLOCK", h->idx,
            obj);
      CHECK(o == NULL && !hc->c.closed && hc->c.count == hc->c.cap,
            "try_send on C%d would block with %s", obj,
            o ? "a receiver waiting" : "room or closed");
      W->val[v] = V_WITHDRAWN;
      trace("T%d try_send v%d on C%d -> would block", h->idx, v, obj);
      return GO;
    case CR_CHAN_PARKED:
      CHECK(t != NULL, "try_send on C%d parked", obj);
      h->val = v;
      h->taken = 0;
      W->val[v] = V_OFFERED;
      trace("T%d send v%d on C%d -> parks", h->idx, v, obj);
      return park(h, W_SEND, obj, 0);
  }
  CHECK(0, "cr_chan_send returned junk");
  return GO;
}

/* A receive took v from slot of C obj: the freed slot goes to the longest
** waiting sender o, if any. */
static void recv_buffered(htask *h, int obj, htask *o, size_t slot,
                          const char *how) {
  hchan *hc = &W->ch[obj];
  cr_task_t *peer = NULL;
  int v;
  CHECK(slot < hc->c.cap && hc->buf[slot] >= 0,
        "%s on C%d from slot %zu, which is empty", how, obj, slot);
  v = hc->buf[slot];
  CHECK(W->val[v] == V_BUFFERED, "v%d received twice", v);
  W->val[v] = V_RECEIVED;
  hc->buf[slot] = -1;
  trace("T%d %s on C%d <- v%d from slot %zu", h->idx, how, obj, v, slot);
  if (cr_chan_refill(&hc->c, &peer, &slot)) {
    CHECK(o && peer == &o->t && o->t.status == CR_TASK_SCHEDULED,
          "refill of C%d took T%d, not the longest sender", obj,
          peer && task_of(peer) ? task_of(peer)->idx : -1);
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
}

/* A receive on channel obj by h: t as for chan_send (NULL: ch:try_recv). */
static int chan_recv(htask *h, int obj, cr_task_t *t) {
  hchan *hc = &W->ch[obj];
  htask *o = oldest(W_SEND, obj);
  cr_task_t *peer = NULL;
  size_t slot = 0;
  const char *how = t ? "recv" : "try_recv";
  switch (cr_chan_recv(&hc->c, t, &peer, &slot)) {
    case CR_CHAN_BUFFERED:
      recv_buffered(h, obj, o, slot, how);
      return GO;
    case CR_CHAN_HANDOFF:
      CHECK(o && peer == &o->t && o->t.status == CR_TASK_SCHEDULED,
            "%s on C%d took from T%d, not the longest sender", how, obj,
            peer && task_of(peer) ? task_of(peer)->idx : -1);
      take_from_sender(o, obj);
      W->val[o->val] = V_RECEIVED;
      trace("T%d %s on C%d <- v%d from T%d", h->idx, how, obj, o->val,
            o->idx);
      return GO;
    case CR_CHAN_CLOSED:
      CHECK(hc->c.closed && hc->c.count == 0, "%s: C%d not drained", how, obj);
      trace("T%d %s on C%d -> closed", h->idx, how, obj);
      return GO;
    case CR_CHAN_WOULDBLOCK:
      CHECK(t == NULL, "T%d's blocking recv on C%d said WOULDBLOCK", h->idx,
            obj);
      CHECK(hc->c.count == 0 && o == NULL && !hc->c.closed,
            "try_recv on C%d would block with values available or closed",
            obj);
      trace("T%d try_recv on C%d -> would block", h->idx, obj);
      return GO;
    case CR_CHAN_PARKED:
      CHECK(t != NULL, "try_recv on C%d parked", obj);
      CHECK(hc->c.count == 0 && o == NULL,
            "receiver T%d parked on C%d with values available", h->idx, obj);
      h->val = -1;
      trace("T%d recv on C%d -> parks", h->idx, obj);
      return park(h, W_RECV, obj, 0);
  }
  CHECK(0, "cr_chan_recv returned junk");
  return GO;
}

/*
** Start (or restart, after an abort that no longer applies) a blocking
** wait. Returns GO when it completed at once, PARKED when the task parked.
*/
static int block(htask *h, int kind, int obj, double until) {
  cr_task_t *t = &h->t;
  if (cancel_point(h)) return GO;
  switch (kind) {
    case W_SLEEP:
      CHECK(cr_task_sleep(t, until) == 0, "sleep until %g", until);
      return park(h, W_SLEEP, 0, until);
    case W_YIELD:
      cr_task_yield(t);
      return park(h, W_YIELD, 0, 0);
    case W_JOIN:
      if (W->task[obj].t.finished) {    /* a join of the dead is a yield */
        cr_task_join(t, &W->task[obj].t);
        return park(h, W_YIELD, 0, 0);
      }
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
    case W_SEND:
      return chan_send(h, obj, t);
    case W_RECV:
      return chan_recv(h, obj, t);
    default:
      CHECK(0, "bad wait kind %d", kind);
      return GO;
  }
}

/* g:start raised a plain error in the starter (the child failed, ended
** without ready(), or the group refused it): a pcall around the start
** catches it, or the task fails with it. */
static int start_error(htask *h, const char *why) {
  trace("T%d's start raises an error: %s%s", h->idx, why,
        h->start_pcall ? " (caught)" : "");
  if (!h->start_pcall) raise_error(h, -1);
  return GO;
}

/* The starter woke: what start returns or raises (lgroup.c start_k). */
static int start_result(htask *h, htask *c) {
  if (c->ready) return GO;
  CHECK(c->finished, "T%d's start woke while T%d is still starting", h->idx,
        c->idx);
  switch (c->final) {
    case CR_TASK_DONE:
      return start_error(h, "finished without calling ready");
    case CR_TASK_CANCELLED:
      if (c->absorbed_self) {
        /* its own cancel (t:cancel, or its group's): the caller raises
        ** its own Cancelled if it has one */
        if (cancel_point(h)) return GO;
        return start_error(h, "cancelled before ready");
      }
      CHECK(c->passed_to != NULL, "T%d ended cancelled while starting, but "
            "its Cancelled went nowhere", c->idx);
      raise_cancelled(h, c->passed_to);
      return GO;
    default:
      return start_error(h, "the child failed");
  }
}

/*
** A cancel woke the starter while its child waited for a slot of the limit
** (lgroup.c start_k). A child that has called ready or ended since: start
** returns or raises as usual. Else cr_group_start_woken reads the cancel
** again: the starter still cancelled and the child still waiting, the
** child is cancelled (the starter's t:cancel, a fresh reason handle) and
** becomes its group's child, keeping its place in the queue, and the
** starter raises its Cancelled; otherwise the starter waits again.
*/
static int start_woken(htask *h, htask *c) {
  cr_group_t *g = c->t.group;
  cr_scope_t *a;
  int hd, expect, fresh, rc;
  c->start_waiting = 0;
  if (c->ready || c->t.finished) return start_result(h, c);
  /* (the engine asks whether the starter is cancelled, marking it, only
  ** for a child still waiting) */
  a = c->t.pending && c->t.starting ? checked_cancelled(h) : NULL;
  expect = a != NULL;
  fresh = expect && !c->m.cancelled;         /* the child's cancel takes */
  hd = new_handle(1);
  call_begin(C_CANCEL, &c->t.scope, -1, hd, CR_SRC_EXPLICIT, origin_of(h));
  rc = cr_group_start_woken(&c->t, &h->t, hp(hd));
  call_end();
  trace("T%d's start of T%d woken by a cancel (h%d) -> %s", h->idx, c->idx,
        hd, rc ? "let go" : "waits again");
  CHECK(rc == expect, "cr_group_start_woken(T%d, T%d) -> %d, expected %d",
        c->idx, h->idx, rc, expect);
  settle(hd, fresh ? HS_HELD : HS_RELEASED, &c->t.scope,
         "cr_group_start_woken");
  if (!rc) {
    c->start_waiting = 1;
    return park(h, W_START, c->idx, 0);
  }
  c->start_mode = 0;                 /* its ready() is now refused */
  c->owed = 1;                       /* (its starter's t:cancel) */
  c->m.parent = &g->scope;
  CHECK(!c->t.starting && c->t.pending && c->t.scope.parent == &g->scope &&
        c->t.scope.cancel_called, "T%d let go by its starter T%d is not "
        "its group's, cancelled and still waiting", c->idx, h->idx);
  raise_cancelled(h, a);
  return GO;
}

/*
** The task was resumed after parking: check what the engine delivered.
** Returns GO to go on, PARKED if it parked again (a retried wait).
*/
static int resumed(htask *h) {
  cr_task_t *t = &h->t;
  int ws = t->wake_status, kind = h->wait, obj = h->wobj, r;
  double now = cr_now(cr_task_engine(t));
  h->wait = W_NONE;
  trace("T%d resumed from %s (%s)", h->idx, wait_name[kind],
        ws ? cr_err_name(ws) : "delivered");
  CHECK(kind != W_HOLD, "T%d woke from its hold", h->idx);
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
        return start_result(h, &W->task[obj]);
      default:
        break;
    }
    return GO;
  }
  if (kind == W_START) {
    CHECK(ws == CR_ECANCELED, "T%d's start woke with %d", h->idx, ws);
    return start_woken(h, &W->task[obj]);
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
  /* a shield went up since the abort: the binding just waits again, and
  ** a FIFO wait takes back its place (cr__wait_enter) */
  if (kind == W_SLEEP && h->wuntil <= now) return GO;
  if (kind == W_EVENT || kind == W_SEM || kind == W_SEND || kind == W_RECV ||
      kind == W_STOPPING)
    h->rejoin = h->wseq;
  r = block(h, kind, obj, h->wuntil);
  h->rejoin = 0;
  return r;
}

/* --- winding down: leaving frames, finishing -------------------------------- */

/* The body returned: a t:cancel that met no cancellation point since ends
** it cancelled all the same, its own scope taking the cancel. */
static cr_task_status_t returned(htask *h) {
  cr_task_status_t st = cr_task_returned(&h->t);
  CHECK(st == (h->owed ? CR_TASK_CANCELLED : CR_TASK_DONE),
        "cr_task_returned(T%d): %d, owed %d", h->idx, (int)st, h->owed);
  CHECK(!cr_task_cancel_owed(&h->t), "T%d still owed", h->idx);
  if (st == CR_TASK_CANCELLED) {
    CHECK(h->t.scope.cancel_caught && h->m.cancelled, "T%d returned "
          "cancelled, but its own scope did not take the cancel", h->idx);
    h->absorbed_self = 1;
    trace("T%d returns with its t:cancel owed: cancelled", h->idx);
  }
  h->owed = 0;
  return st;
}

static void finish(htask *h) {
  cr_task_t *t = &h->t;
  hgroup *hg = t->group ? (hgroup *)t->group : NULL;
  int starting = h->start_mode && !h->ready;
  cr_task_status_t fin;
  char b1[32], b2[32];
  int i;
  for (i = 0; i < N_SEMS; i++)
    while (h->held[i] > 0) sem_give_back(h, i);   /* as lock:with() does */
  switch (h->c.exc) {
    case X_NONE:
      fin = returned(h);
      break;
    case X_ERROR:
      fin = CR_TASK_FAILED;
      break;
    default:
      if (!cx_live(h)) {          /* a dead Cancelled is an ordinary error */
        fin = CR_TASK_FAILED;
        break;
      } else {
        cr_scope_t *to, *mto;
        cr_end_t exp = m_judge(h, &t->scope, &mto), end;
        if (exp == CR_END_PASSED && mto == NULL) exp = CR_END_FAILED;
        end = cr_task_unwind(t, &to);
        trace("T%d unwinds its Cancelled at its own scope -> %s %s", h->idx,
              end_name(end), scope_label(to, b1, sizeof b1));
        CHECK(end == exp && (end != CR_END_PASSED || to == mto),
              "cr_task_unwind(T%d): %s to %s, the rule says %s to %s", h->idx,
              end_name(end), scope_label(to, b1, sizeof b1), end_name(exp),
              scope_label(mto, b2, sizeof b2));
        CHECK(end != CR_END_ABSORBED || t->scope.cancel_caught,
              "T%d absorbed its Cancelled but cancel_caught is not set",
              h->idx);
        if (end == CR_END_ABSORBED) {
          fin = CR_TASK_CANCELLED;
          h->absorbed_self = 1;
        } else if (end == CR_END_PASSED) {
          fin = CR_TASK_CANCELLED;
          if (starting) {
            h->passed_to = to;
            /* its starter raises it next, as one corral delivered to it:
            ** parked in g:start or woken from it by a cancel */
            W->task[h->starter].saw = 1;
          } else if (hg) {
            hg->unwound = hg->child_passed = 1;
          }
        } else {
          fin = CR_TASK_FAILED;   /* a stray Cancelled */
        }
      }
  }
  if (fin == CR_TASK_FAILED && hg && !starting) do_fail(h, hg, 0);
  trace("T%d done (%s)", h->idx, fin == CR_TASK_DONE ? "done"
        : fin == CR_TASK_FAILED ? "failed" : "cancelled");
  h->m.entered = 0;
  cr_task_done(t, fin);
  h->finished = 1;
  h->final = fin;
  if (hg) hg->nlive--;
  CHECK(t->finished && t->status == fin && t->cur == NULL &&
        !t->scope.entered, "T%d not cleanly finished", h->idx);
  CHECK(h->ev_done, "T%d finished without a DONE event", h->idx);
  CHECK(oldest(W_JOIN, h->idx) == NULL, "a joiner of T%d still waits", h->idx);
  if (starting && h->start_waiting) {
    htask *s = &W->task[h->starter];
    CHECK(s->t.status == CR_TASK_SCHEDULED, "starter T%d not woken by the "
          "end of T%d", s->idx, h->idx);
  }
}

/* Leave a scope frame (plain or cleanup): the engine decides. */
static void leave_scope(htask *h, frame_t *f) {
  cr_scope_t *s = &W->scope[f->idx].s, *to, *mto = NULL;
  int live = cx_live(h);
  cr_end_t exp = live ? m_judge(h, s, &mto) : CR_END_NORMAL, end;
  char b1[32], b2[32];
  end = cr_scope_leave(s, live, &to);
  W->scope[f->idx].m.entered = 0;
  trace("T%d leaves S%d%s -> %s %s", h->idx, f->idx,
        live ? " with a Cancelled" : "", end_name(end),
        end == CR_END_PASSED ? scope_label(to, b1, sizeof b1) : "");
  CHECK(end == exp && to == mto, "leave S%d: %s to %s, the rule says %s to "
        "%s", f->idx, end_name(end), scope_label(to, b1, sizeof b1),
        end_name(exp), scope_label(mto, b2, sizeof b2));
  CHECK(s->exited && !s->entered, "S%d still entered", f->idx);
  CHECK(end != CR_END_ABSORBED || s->cancel_caught,
        "S%d absorbed but cancel_caught is not set", f->idx);
  h->nfr--;
  if (f->kind == F_CLEAN) {
    /* the <close> handler ended: the unwinding it interrupted goes on,
    ** unless a Cancelled of its own got out (it replaces it, as an error
    ** in a __close does) */
    if (h->c.exc == X_NONE || end == CR_END_ABSORBED) {
      h->c = f->saved;
      h->mode = M_LEAVE;
      return;
    }
  }
  if (h->c.exc != X_CANCEL) return;
  if (!live) {
    h->c.exc = X_ERROR;             /* a dead Cancelled: an ordinary error */
  } else if (end == CR_END_ABSORBED) {
    h->c.exc = X_NONE;
    h->c.target = h->nfr;           /* caught here: go on running */
  } else if (to != NULL) {
    h->c.cx = to;                   /* the catcher's Cancelled now */
    h->c.cxh = cancelled_handle(to);
  }
}

/* Leave a group frame: end the body, join the children, close it. */
static int leave_group(htask *h, frame_t *f) {
  hgroup *hg = &W->group[f->idx];
  cr_group_t *g = &hg->g;
  cr_scope_t *to, *mto = NULL;
  cr_end_t exp, end;
  char b1[32], b2[32];
  if (!h->gjoining) {
    cr_end_t how;
    if (cx_live(h)) {
      how = CR_END_PASSED;
      hg->unwound = 1;
    } else if (h->c.exc != X_NONE) {  /* an error, or a dead Cancelled */
      do_fail(h, hg, 1);
      CHECK(g->scope.cancel_called, "fatal failure left G%d", f->idx);
      how = CR_END_FAILED;
    } else {
      how = CR_END_NORMAL;
    }
    cr_group_body_done(g, how);
    trace("T%d ends the body of G%d (%s)", h->idx, f->idx, end_name(how));
    h->gjoining = 1;
  }
  if (cr_group_join(g)) {
    trace("T%d joins G%d (%zu children)", h->idx, f->idx, g->nchildren);
    return park(h, W_GJOIN, f->idx, 0);
  }
  CHECK(g->nchildren == 0 && g->nrunning == 0, "G%d joined with children",
        f->idx);
  CHECK(g->unwound == (unsigned)hg->unwound, "G%d: unwound %d, expected %d",
        f->idx, g->unwound, hg->unwound);
  exp = hg->unwound ? m_judge(h, &g->scope, &mto) : CR_END_NORMAL;
  if (hg->nfail) exp = CR_END_FAILED;     /* (judged all the same) */
  call_begin(C_CLOSE, &g->scope, f->idx, -1, CR_SRC_NONE, 0);
  end = cr_group_close(g, &to);
  call_end();
  hg->m.entered = 0;
  trace("T%d closed G%d -> %s %s", h->idx, f->idx, end_name(end),
        end == CR_END_PASSED ? scope_label(to, b1, sizeof b1) : "");
  CHECK(end == exp && (exp == CR_END_FAILED || to == mto),
        "close G%d: %s to %s, the rule says %s to %s", f->idx,
        end_name(end), scope_label(to, b1, sizeof b1), end_name(exp),
        scope_label(mto, b2, sizeof b2));
  CHECK(g->closed && !g->scope.entered && g->scope.exited,
        "G%d not closed", f->idx);
  CHECK(end != CR_END_ABSORBED || g->scope.cancel_caught,
        "G%d absorbed but cancel_caught is not set", f->idx);
  if (hg->has_stop) {                 /* an unused stop record goes back */
    if (hg->stop_hd >= 0)
      CHECK(W->h[hg->stop_hd].state == HS_RELEASED,
            "G%d closed but kept its stop record h%d", f->idx, hg->stop_hd);
    hg->has_stop = 0;
  }
  h->gjoining = 0;
  h->nfr--;
  switch (end) {
    case CR_END_FAILED:               /* an ErrorGroup, caught where the
                                      ** exit or the error was to stop */
      h->c.exc = X_ERROR;
      break;
    case CR_END_ABSORBED:
      if (h->c.exc == X_CANCEL) {
        h->c.exc = X_NONE;
        h->c.target = h->nfr;         /* the group returns: go on */
      }
      break;
    case CR_END_PASSED:
      if (to != NULL) {
        h->c.exc = X_CANCEL;
        h->c.cx = to;
        h->c.cxh = cancelled_handle(to);
        h->c.target = -1;
      }                               /* else: as it was */
      break;
    default:
      CHECK(h->c.exc == X_NONE, "G%d closed NORMAL under an exception",
            f->idx);
  }
  return GO;
}

static int leave_frame(htask *h) {
  frame_t *f = &h->fr[h->nfr - 1];
  cr_scope_t *s = frame_scope(h, h->nfr - 1);
  char b[32];
  if (f->kind == F_PCALL) {
    h->nfr--;
    if (h->c.exc != X_NONE) {         /* caught: kept for RERAISE */
      trace("T%d's pcall catches %s", h->idx,
            h->c.exc == X_CANCEL ? "a Cancelled" : "an error");
      h->stored = h->c;
      h->has_stored = 1;
      begin_exit(h, h->nfr);
    }
    return GO;
  }
  CHECK(h->t.cur == s, "T%d leaves %s, not innermost", h->idx,
        scope_label(s, b, sizeof b));
  if (f->cleanup >= 0 && !h->gjoining) {
    /* a <close> handler: a shielded sleep before the frame goes */
    double d = f->cleanup;
    f->cleanup = -1;
    if (W->nscopes < MAX_SCOPES && h->nfr < MAX_FRAMES) {
      hscope *hs = &W->scope[W->nscopes];
      frame_t *nf = &h->fr[h->nfr];
      hs->m.parent = h->t.cur;
      hs->m.entered = 1;
      hs->m.shield = 1;
      hs->m.cancelled = 0;
      poison(&hs->s, sizeof hs->s);
      CHECK(cr_scope_enter(&h->t, &hs->s, INFINITY, 1) == 0, "cleanup enter");
      nf->kind = F_CLEAN;
      nf->idx = W->nscopes++;
      nf->cleanup = -1;
      nf->saved = h->c;
      h->nfr++;
      h->mode = M_CLEAN;
      h->clean_slept = 0;
      h->clean_for = d;
      trace("T%d cleans up in shielded S%d for %g", h->idx, nf->idx, d);
      return GO;
    }
  }
  if (f->kind == F_GROUP) return leave_group(h, f);
  leave_scope(h, f);
  return GO;
}

static int leave_step(htask *h) {
  if (h->nfr > 0 && h->nfr > h->c.target) return leave_frame(h);
  if (h->c.target >= 0) {       /* caught, or the exit is done */
    CHECK(h->c.exc == X_NONE || h->c.target == h->nfr, "T%d", h->idx);
    h->c.exc = X_NONE;
    h->mode = M_RUN;
    return GO;
  }
  finish(h);
  return GONE;
}

/* The body of a cleanup: sleep shielded, then end normally. */
static int clean_step(htask *h) {
  if (!h->clean_slept) {
    h->clean_slept = 1;
    return block(h, W_SLEEP, 0, cr_now(&W->e) + h->clean_for);
  }
  begin_exit(h, h->nfr - 1);
  return GO;
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

static int spawn_into(htask *h, cr_group_t *g, int start, int pcall) {
  htask *c;
  int expect, rc, held;
  char b[32];
  expect = g->closed ? CR_ECLOSED : g->stopping ? CR_ESTOPPING : 0;
  held = g->limit && g->nrunning >= g->limit;
  if ((c = new_task()) == NULL) return GO;
  poison(&c->t, sizeof c->t);
  cr_task_init(&W->e, &c->t, NULL);
  c->m.parent = start ? h->t.cur : &g->scope;
  c->m.entered = 1;
  if (start) {
    c->start_mode = c->start_waiting = 1;
    c->starter = h->idx;
    h->start_pcall = pcall;
  }
  W->call.spawn = &c->t;
  rc = start ? cr_group_start(g, &c->t, &h->t) : cr_group_spawn(g, &c->t);
  W->call.spawn = NULL;
  CHECK(rc == expect, "%s into G%d: %s, expected %s", start ? "start" : "spawn",
        gidx(g), cr_err_name(rc), cr_err_name(expect));
  if (rc) {
    /* never runs: finish it so the engine forgets it (as lgroup.c does) */
    c->m.entered = 0;
    c->unspawned = 1;
    CHECK(!c->ev_spawned && h->t.status == CR_TASK_RUNNING,
          "a refused spawn emitted SPAWN or parked the starter");
    cr_task_done(&c->t, CR_TASK_CANCELLED);
    c->finished = 1;
    c->final = CR_TASK_CANCELLED;
    trace("T%d %s T%d into G%d -> %s", h->idx, start ? "start" : "spawn",
          c->idx, gidx(g), cr_err_name(rc));
    return start ? start_error(h, "the group refused it") : GO;
  }
  CHECK(c->ev_spawned, "spawn of T%d emitted no SPAWN", c->idx);
  ((hgroup *)g)->nlive++;
  c->grp = g;
  CHECK(cr_task_held(&c->t) == held, "T%d spawned into G%d (%zu of %zu "
        "slots taken): held %d", c->idx, gidx(g), g->nrunning, g->limit,
        cr_task_held(&c->t));
  if (held) c->held_seq = ++W->held_seq;
  CHECK(c->t.group == g && c->t.cur == &c->t.scope, "spawned T%d", c->idx);
  trace("T%d %s T%d into G%d%s", h->idx, start ? "start" : "spawn", c->idx,
        gidx(g), held ? " (held by limit)" : "");
  if (!start) return GO;
  /* g:start: the child runs under our scope until it calls ready, and we
  ** wait (the engine parked us) */
  CHECK(c->t.starting && ((h->t.wait == CR_WAIT_START &&
                           h->t.wait_obj == &c->t) ||
                          h->t.status == CR_TASK_SCHEDULED),
        "T%d is not starting", c->idx);      /* (scheduled: see park) */
  CHECK(c->t.scope.parent == h->t.cur, "T%d.scope hangs below %s", c->idx,
        scope_label(c->t.scope.parent, b, sizeof b));
  return park(h, W_START, c->idx, 0);
}

static int do_op(htask *h) {
  cr_task_t *t = &h->t;
  cr_engine_t *e = cr_task_engine(t);
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
      hs->m.parent = t->cur;
      hs->m.entered = 1;
      hs->m.shield = shield;
      hs->m.cancelled = 0;
      poison(&hs->s, sizeof hs->s);
      CHECK(cr_scope_enter(t, &hs->s, when, shield) == 0, "scope enter");
      h->fr[h->nfr].kind = F_SCOPE;
      h->fr[h->nfr].cleanup = -1;
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
      if (h->nfr) begin_exit(h, h->nfr - 1);
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
      memset(&hg->m, 0, sizeof *hg - offsetof(hgroup, m));
      hg->m.parent = t->cur;
      hg->m.entered = 1;
      hg->m.shield = o.shield;
      hg->stop_hd = -1;
      hg->stop_when = INFINITY;
      poison(&hg->g, sizeof hg->g);
      CHECK(cr_group_init(t, &hg->g, &o) == 0, "group init");
      h->fr[h->nfr].kind = F_GROUP;
      h->fr[h->nfr].cleanup = -1;
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
        return spawn_into(h, &W->group[h->fr[f].idx].g, 0, 0);
      if (W->ngroups == 0) return GO;
      return spawn_into(h, &W->group[(b >> 1) % W->ngroups].g, 0, 0);
    }
    case OP_START: {
      /* g:start on the innermost group, or on any group at all (a Lua
      ** closure may hold another task's group); never refused for a
      ** cancellation: the child runs to its first cancellation point */
      int f = innermost_group_frame(h);
      cr_group_t *g;
      if ((b & 1) && f >= 0) g = &W->group[h->fr[f].idx].g;
      else if (W->ngroups) g = &W->group[(b >> 2) % W->ngroups].g;
      else return GO;
      return spawn_into(h, g, 1, (b >> 1) & 1);
    }
    case OP_READY: {
      /* a starter that is cancelled by now: nothing moves (the child stays
      ** under the starter's scope, whose cancel it feels), and a later
      ** ready is judged again */
      int dropped = h->start_mode && !h->ready && t->starting &&
                    cr_scope_absorber(t->scope.parent) != NULL;
      const cr_scope_t *before = t->scope.parent;
      int rc = cr_task_ready(t);
      if (!h->start_mode || h->ready) {
        CHECK(rc == CR_EINVAL, "ready of T%d, not starting: %s", h->idx,
              cr_err_name(rc));
        return GO;
      }
      if (dropped) {
        CHECK(rc == CR_ECANCELED, "ready of T%d under a cancelled starter: %s",
              h->idx, cr_err_name(rc));
        CHECK(t->starting && t->scope.parent == before,
              "T%d moved by a ready under a cancelled starter", h->idx);
        return GO;
      }
      CHECK(rc == 0, "ready of starting T%d: %s", h->idx, cr_err_name(rc));
      h->ready = 1;
      h->start_mode = 0;
      h->m.parent = &t->group->scope;
      CHECK(!t->starting && t->scope.parent == &t->group->scope,
            "T%d not under its group after ready", h->idx);
      if (h->start_waiting) {
        htask *s = &W->task[h->starter];
        h->start_waiting = 0;
        CHECK(s->t.status == CR_TASK_SCHEDULED, "starter T%d not woken",
              s->idx);
      }
      return GO;
    }
    case OP_CANCEL: {
      cr_scope_t *s;
      if (b % 3 == 2 || (W->nscopes == 0 && W->ngroups == 0)) {
        htask *o = &W->task[(b / 3) % W->ntasks];
        if (avoid_unspawned && o->unspawned) return GO;
        s = &o->t.scope;
        snprintf(lab, sizeof lab, "T%d.scope", o->idx);
      } else {
        s = pick_scope(b, lab, sizeof lab);
      }
      do_cancel(s, CR_SRC_EXPLICIT, origin_of(h), lab);
      return GO;
    }
    case OP_STOP: {
      hgroup *hg;
      cr_group_t *g;
      double grace = graces[(b >> 5) % 8];
      int was_closed, was_cc, hd, old, rc;
      if (W->ngroups == 0) return GO;
      hg = &W->group[b % W->ngroups];
      g = &hg->g;
      was_closed = g->closed;
      was_cc = hg->m.cancelled;
      old = hg->has_stop ? hg->stop_hd : -1;
      hd = new_handle(1);
      call_begin(C_STOP, &g->scope, gidx(g), hd, CR_SRC_STOP, origin_of(h));
      rc = cr_group_stop(g, grace, origin_of(h), hp(hd));
      call_end();
      trace("  stop G%d grace %g (h%d)%s", gidx(g), grace, hd,
            was_closed ? " (closed)" : was_cc ? " (cancelled)" : "");
      CHECK(rc == 0, "stop: %s", cr_err_name(rc));
      if (was_closed || was_cc) {
        settle(hd, HS_RELEASED, NULL, "stop of a closed or cancelled group");
      } else if (grace != 0 && isfinite(hg->stop_when) &&
                 (!(grace > 0) || isinf(grace) || now + grace >= hg->stop_when)) {
        /* cannot move the end: the first stop keeps speaking for it */
        CHECK(g->stopping, "G%d not stopping after stop", gidx(g));
        settle(hd, HS_RELEASED, NULL, "a later stop that cannot move the end");
      } else {
        CHECK(g->stopping, "G%d not stopping after stop", gidx(g));
        CHECK(oldest(W_STOPPING, gidx(g)) == NULL, "stop(G%d) left "
              "wait_stopping waiters", gidx(g));
        settle(old, HS_RELEASED, NULL, "a later stop");
        if (grace == 0) {
          CHECK(g->scope.cancel_called && g->scope.cancel.source == CR_SRC_STOP,
                "stop(0) of G%d did not cancel it", gidx(g));
          settle(hd, HS_HELD, &g->scope, "stop(0)");
          hg->has_stop = 0;
        } else {
          if (hd >= 0) {
            CHECK(W->h[hd].state == HS_INFLIGHT, "stop of G%d: h%d is %s",
                  gidx(g), hd, hs_name[W->h[hd].state]);
            W->h[hd].state = HS_STOPREC;
            W->h[hd].group = gidx(g);
          }
          hg->has_stop = 1;
          hg->stop_hd = hd;
          hg->stop_origin = origin_of(h);
          if (grace > 0 && !isinf(grace) && now + grace < hg->stop_when)
            hg->stop_when = now + grace;
        }
      }
      return GO;
    }
    case OP_SHIELD: {
      cr_scope_t *s = pick_scope(b, lab, sizeof lab);
      int on = (b >> 7) & 1;
      if (s == NULL) return GO;
      cr_scope_set_shield(s, on);
      MI(s)->shield = on;
      trace("  %s.shield = %d", lab, on);
      CHECK(s->shield == (unsigned)on, "shield of %s", lab);
      return GO;
    }
    case OP_DEADLINE: {
      cr_scope_t *s = pick_scope(b, lab, sizeof lab);
      double when = now + deadlines[take() % 8];
      int live;
      if (b % 5 == 4) {
        /* a task's own scope takes no deadline, and a sleep's alarm is
        ** left alone */
        htask *o = &W->task[(b / 5) % W->ntasks];
        int on = o->t.alarm_on;
        int armed = on && cr_timer_armed(&o->t.alarm);
        double was = on ? o->t.alarm.when : 0;
        int expect = isinf(when) && when > 0 ? 0 : CR_EINVAL;
        int rc = cr_scope_set_deadline(&o->t.scope, when);
        trace("  T%d.scope.deadline = %g -> %s", o->idx, when,
              rc ? cr_err_name(rc) : "ok");
        CHECK(rc == expect, "deadline on T%d's own scope: %s", o->idx,
              cr_err_name(rc));
        CHECK(o->t.alarm_on == on &&
              (!on || (cr_timer_armed(&o->t.alarm) == armed &&
                       o->t.alarm.when == was)) &&
              cr_scope_deadline(&o->t.scope) == INFINITY,
              "deadline on T%d's own scope disturbed its sleep", o->idx);
        return GO;
      }
      if (s == NULL) return GO;
      live = s->entered && !s->cancel_called;
      CHECK(cr_scope_set_deadline(s, when) == 0, "set deadline");
      trace("  %s.deadline = %g", lab, when);
      CHECK(!live || when > now ||
            (s->cancel_called && s->cancel.source == CR_SRC_DEADLINE),
            "past deadline did not cancel %s", lab);
      return GO;
    }
    case OP_FAIL_BODY: {
      /* the body of the innermost group raises; a pcall right outside the
      ** group catches the ErrorGroup */
      int f = innermost_group_frame(h);
      if (f < 0) return GO;
      raise_error(h, f);
      return GO;
    }
    case OP_FAIL:
      raise_error(h, -1);
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
    /* tries never park and are no cancellation points */
    case OP_TRY_SEND:
      return chan_send(h, (int)(b % N_CHANS), NULL);
    case OP_TRY_RECV:
      return chan_recv(h, (int)(b % N_CHANS), NULL);
    case OP_TRY_ACQUIRE:
      return try_acquire(h, (int)(b % N_SEMS));
    case OP_CLOSE: {
      int i = (int)(b % N_CHANS);
      cr_chan_close(&W->ch[i].c);
      CHECK(W->ch[i].c.closed && oldest(W_SEND, i) == NULL &&
            oldest(W_RECV, i) == NULL, "C%d closed with waiters left", i);
      return GO;
    }
    case OP_DONE:
      begin_exit(h, -1);
      return GO;
    case OP_PCALL:
      if (h->nfr >= MAX_FRAMES) return GO;
      h->fr[h->nfr].kind = F_PCALL;
      h->fr[h->nfr].idx = -1;
      h->fr[h->nfr++].cleanup = -1;
      return GO;
    case OP_RERAISE:
      /* error(e) of what a pcall caught: a Cancelled whose scope has
      ** exited is an ordinary error by now */
      if (!h->has_stored) return GO;
      h->has_stored = 0;
      h->c = h->stored;
      h->c.target = -1;
      h->mode = M_LEAVE;
      if (h->c.exc == X_CANCEL) {
        int live = cx_live(h);
        trace("T%d re-raises the Cancelled of %s (%s)", h->idx,
              scope_label(h->c.cx, lab, sizeof lab), live ? "live" : "dead");
        if (live) use_handle(h->c.cxh, "re-raise");
      }
      return GO;
    case OP_CLEANUP: {
      int i;
      for (i = h->nfr - 1; i >= 0; i--)
        if (h->fr[i].kind == F_SCOPE || h->fr[i].kind == F_GROUP) {
          h->fr[i].cleanup = durations[b % 8];
          break;
        }
      return GO;
    }
    case OP_ABANDON:
      if (!W->abandon_ok || b % 4 != 0) return GO;
      trace("T%d asks to abandon the run", h->idx);
      W->abandon_req = 1;
      return GO;
    case OP_REASON: {
      /* a reason handle for a scope: only a live cancelled scope without
      ** one takes it; otherwise it comes straight back */
      cr_scope_t *s;
      int hd, expect, rc;
      if (b % 3 == 2 || (W->nscopes == 0 && W->ngroups == 0)) {
        htask *o = &W->task[(b / 3) % W->ntasks];
        if (avoid_unspawned && o->unspawned) return GO;
        s = &o->t.scope;
        snprintf(lab, sizeof lab, "T%d.scope", o->idx);
      } else {
        s = pick_scope(b, lab, sizeof lab);
      }
      hd = new_handle(0);
      if (hd < 0) return GO;
      expect = s->cancel_called && MI(s)->entered && s->cancel.reason == NULL
               ? 0 : CR_EINVAL;
      call_begin(C_REASON, s, -1, hd, CR_SRC_NONE, 0);
      rc = cr_scope_set_reason(s, hp(hd));
      call_end();
      trace("  set_reason %s h%d -> %s", lab, hd, rc ? cr_err_name(rc) : "ok");
      CHECK(rc == expect, "set_reason of %s: %s, expected %s", lab,
            cr_err_name(rc), cr_err_name(expect));
      if (rc == 0) {
        CHECK(W->h[hd].state == HS_INFLIGHT, "set_reason released h%d", hd);
        W->h[hd].state = HS_HELD;
        W->h[hd].held = s;
      }
      settle(hd, rc ? HS_RELEASED : HS_HELD, s, "cr_scope_set_reason");
      return GO;
    }
  }
  return GO;
}

/* --- the run callback: one resume of a task -------------------------------- */

static void task_run(cr_task_t *ct) {
  htask *h = task_of(ct);
  int r = GO;
  CHECK(h != NULL && h->idx < W->ntasks, "resumed a stranger");
  W->cur = h->idx;
  CHECK(!h->finished, "engine resumed finished T%d", h->idx);
  CHECK(!h->running, "T%d resumed while running", h->idx);
  CHECK(ct->status == CR_TASK_RUNNING && W->e.current == ct &&
        W->ev_run == ct, "T%d resumed in status %d", h->idx, (int)ct->status);
  CHECK(ct->wait_link.next == &ct->wait_link, "T%d resumed still linked in "
        "a wait list", h->idx);
  /* its sleep is over (task.c) */
  CHECK(!ct->alarm_on, "T%d resumed with its sleep's alarm on", h->idx);
  h->running = 1;
  audit("resume");
  if (!h->started) {
    h->started = 1;
    CHECK(h->wait == W_NONE, "new T%d parked", h->idx);
    /* children held back by a limit start in the order they were spawned,
    ** cancelled or not (check_limit sees the slots handed out in that
    ** order; a seeded schedule may shuffle the runs of those handed out
    ** in one pass) */
    if (h->held_seq && !W->seeded) {
      int i;
      for (i = 0; i < W->ntasks; i++) {
        htask *o = &W->task[i];
        CHECK(!(o->held_seq && o->held_seq < h->held_seq && !o->started &&
                !o->finished && o->grp == ct->group),
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
    if (W->abandon_req)
      r = hold(h);
    else if (h->mode == M_LEAVE)
      r = leave_step(h);
    else if (h->mode == M_CLEAN)
      r = clean_step(h);
    else if (!more())
      begin_exit(h, -1);    /* input over: wind down */
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

/* --- abandon: end the run abruptly, then touch what the tasks waited on --- */

static void probe_run(cr_task_t *t) {
  (void)t;
  CHECK(0, "the probe task was resumed");
}

/* The engine's one run callback. */
static void any_run(cr_task_t *t) {
  if (t == &W->probe)
    probe_run(t);
  else
    task_run(t);
}

static void probe_init(void) {
  poison(&W->probe, sizeof W->probe);
  cr_task_init(&W->e, &W->probe, NULL);
  W->probe_parked = 0;
  W->probe_live = 1;
}

/* Finish the probe, wherever it is parked (cr_task_done unlinks it). */
static void probe_done(void) {
  if (!W->probe_live) return;
  cr_task_done(&W->probe, CR_TASK_CANCELLED);
  W->probe_live = 0;
  W->probe_parked = 0;
}

static void abandon_run(const char *why) {
  world *w = W;
  int i, j;
  size_t held[N_SEMS] = {0};
  trace("abandon the run (%s)", why);
  for (i = 0; i < w->ntasks; i++) {
    htask *h = &w->task[i];
    if (h->finished) continue;
    for (j = 0; j < N_SEMS; j++)
      held[j] += (size_t)h->held[j] + (h->granted && h->wait == W_SEM &&
                                       h->wobj == j);
  }
  w->in_abandon = 1;
  call_begin(C_ABANDON, NULL, -1, -1, CR_SRC_NONE, 0);
  cr_engine_abandon(&w->e);
  call_end();
  w->in_abandon = 0;
  w->abandoned = 1;
  /* every task is finished (orphaned) and unlinked; nothing is armed */
  for (i = 0; i < w->ntasks; i++) {
    htask *h = &w->task[i];
    if (h->finished) continue;
    CHECK(h->t.finished && h->t.status == CR_TASK_CANCELLED && !h->ev_done,
          "abandoned T%d: finished %d status %d", i, h->t.finished,
          (int)h->t.status);
    CHECK(!h->t.scope.entered && h->t.wait_link.next == &h->t.wait_link &&
          !h->t.queued && !h->t.pending, "abandoned T%d is still linked", i);
    h->abandoned = 1;
  }
  CHECK(w->e.stats.tasks == 0 && w->e.stats.scopes == 0 &&
        w->e.stats.timers == 0, "after abandon: %zu tasks, %zu scopes, %zu "
        "timers", w->e.stats.tasks, w->e.stats.scopes, w->e.stats.timers);
  for (i = 0; i < w->nscopes; i++)
    CHECK(!w->scope[i].s.entered, "S%d entered after abandon", i);
  for (i = 0; i < w->ngroups; i++) {
    cr_group_t *g = &w->group[i].g;
    CHECK(!g->scope.entered && g->closed, "G%d open after abandon", i);
    CHECK(cr_group_next_child(g, NULL) == NULL, "G%d still lists a child "
          "after abandon", i);
  }
  /* every reason handle came back: records, stop records */
  for (i = 0; i < w->nh; i++)
    CHECK(w->h[i].state == HS_RELEASED, "h%d is %s after abandon", i,
          hs_name[w->h[i].state]);
  /* a cancel or a stop after the run finds only exited scopes: the
  ** handle comes straight back */
  for (i = 0; i < w->ngroups; i++) {
    int hd = new_handle(0);
    call_begin(C_STOP, &w->group[i].g.scope, i, hd, CR_SRC_STOP, 0);
    CHECK(cr_group_stop(&w->group[i].g, 0, 0, hp(hd)) == 0, "late stop");
    call_end();
    settle(hd, HS_RELEASED, NULL, "stop after abandon");
  }
  for (i = 0; i < w->nscopes; i++) {
    int hd = new_handle(0);
    call_begin(C_CANCEL, &w->scope[i].s, -1, hd, CR_SRC_HOST, 0);
    CHECK(cr_scope_cancel(&w->scope[i].s, CR_SRC_HOST, 0, hp(hd)) == 0,
          "cancel of S%d after abandon took effect", i);
    call_end();
    settle(hd, HS_RELEASED, NULL, "cancel after abandon");
  }

  /* The tasks' memory, their scopes' and groups' go (the Lua GC frees
  ** them): from here on anything that reaches them trips ASan. */
  for (i = 0; i < w->ntasks; i++) POISON(&w->task[i].t, sizeof(cr_task_t));
  for (i = 0; i < w->nscopes; i++) POISON(&w->scope[i].s, sizeof(cr_scope_t));
  for (i = 0; i < w->ngroups; i++) POISON(&w->group[i].g, sizeof(cr_group_t));

  /* Permits the tasks held, or were being handed, come back from outside
  ** (lock:release after the run): nobody may be waiting for them. */
  for (j = 0; j < N_SEMS; j++) {
    cr_sem_t *s = &w->sem[j];
    CHECK(!cr_sem_has_waiters(s), "M%d still has waiters after abandon", j);
    CHECK(s->value + held[j] == w->permits[j], "M%d: %zu free + %zu held by "
          "abandoned tasks != %zu", j, s->value, held[j], w->permits[j]);
    while (held[j]-- > 0) {
      size_t before = s->value;
      CHECK(cr_sem_release(s) == 0 && s->value == before + 1 &&
            s->owner == 0, "M%d: a permit released after abandon went to "
            "somebody", j);
    }
    probe_init();
    if (s->value > 0) {
      CHECK(cr_sem_acquire(s, &w->probe) == 1, "M%d refused a free permit", j);
      CHECK(cr_sem_release(s) == 0, "M%d release", j);
    }
    probe_done();
  }
  /* Events: setting one wakes nobody (no event but for the probe). */
  for (j = 0; j < N_EVENTS; j++) {
    probe_init();
    if (!cr_event_wait(&w->ev[j], &w->probe)) {
      CHECK(w->probe_parked, "E%d: the probe did not park", j);
      cr_event_set(&w->ev[j]);
      CHECK(!w->probe_parked, "E%d set: the probe still waits", j);
    }
    cr_event_set(&w->ev[j]);
    probe_done();
  }
  /* Channels: a receive finds no sender, a send no receiver, a close wakes
  ** only the probe. */
  for (j = 0; j < N_CHANS; j++) {
    hchan *hc = &w->ch[j];
    cr_task_t *peer = NULL;
    size_t slot = 0;
    cr_chan_result_t r;
    probe_init();
    r = cr_chan_recv(&hc->c, &w->probe, &peer, &slot);
    CHECK(r != CR_CHAN_HANDOFF, "C%d: a receive after abandon took from an "
          "abandoned sender", j);
    if (r == CR_CHAN_BUFFERED)
      CHECK(!cr_chan_refill(&hc->c, &peer, &slot), "C%d: a refill after "
            "abandon took an abandoned sender's value", j);
    probe_done();
    probe_init();
    r = cr_chan_send(&hc->c, &w->probe, &peer, &slot);
    CHECK(r != CR_CHAN_HANDOFF, "C%d: a send after abandon handed its value "
          "to an abandoned receiver", j);
    cr_chan_close(&hc->c);
    CHECK(!w->probe_parked, "C%d closed: the probe still waits", j);
    probe_done();
  }
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
      CHECK(g && g->limit && g->nrunning >= g->limit && h->t.pending,
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
         W->task[i].t.queued))   /* (a new child: not in a deadlock) */
      n++;
  return n;
}

/* Returns 1 if the run was abandoned. */
static int break_deadlock(void) {
  int i;
  char lab[32];
  W->deadlocks++;
  W->cur = -1;
  check_deadlock();
  if (!W->cancelled_roots) {
    trace("deadlock: cancel the roots");
    W->cancelled_roots = 1;
    for (i = 0; i < W->nroots; i++) {
      snprintf(lab, sizeof lab, "T%d.scope", i);
      do_cancel(&W->task[i].t.scope, CR_SRC_HOST, 0, lab);
    }
    return 0;
  }
  if (W->abandon_on_deadlock) {       /* as corral.run does */
    abandon_run("second deadlock");
    return 1;
  }
  /* Shields held some tasks: cancel every scope (a shield never hides its
  ** own scope's cancel), which must wake at least one of them. */
  trace("deadlock again: cancel every scope");
  for (i = 0; i < W->nscopes; i++) {
    snprintf(lab, sizeof lab, "S%d", i);
    do_cancel(&W->scope[i].s, CR_SRC_DEADLOCK, 0, lab);
  }
  for (i = 0; i < W->ngroups; i++) {
    snprintf(lab, sizeof lab, "G%d", i);
    do_cancel(&W->group[i].g.scope, CR_SRC_DEADLOCK, 0, lab);
  }
  for (i = 0; i < W->ntasks; i++) {
    if (avoid_unspawned && W->task[i].unspawned) continue;
    snprintf(lab, sizeof lab, "T%d.scope", i);
    do_cancel(&W->task[i].t.scope, CR_SRC_DEADLOCK, 0, lab);
  }
  CHECK(count_scheduled() > 0, "cancelling every scope woke no task");
  return 0;
}

/* --- one input --------------------------------------------------------------- */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *avoid = getenv("FUZZ_ENGINE_AVOID");
  (void)argc; (void)argv;
  trace_on = getenv("FUZZ_ENGINE_TRACE") != NULL;
  no_poison = getenv("FUZZ_ENGINE_NO_POISON") != NULL;
  avoid_unspawned = avoid && strstr(avoid, "unspawned");
  return 0;
}

static void free_world(world *w) {
  int i;
  UNPOISON(w, sizeof *w);
  for (i = 0; i < w->nh; i++)
    if (w->h[i].alloc) {
      UNPOISON(w->h[i].p, sizeof(hblock));
      free(w->h[i].p);
    }
  free(w);
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
  call_end();

  /* header: roots, poison, abandon; channel capacities, permits */
  h0 = take();
  h1 = take();
  w->nroots = 1 + (int)(h0 % 3);
  w->poison = no_poison ? 0 : poisons[(h0 >> 2) & 3];
  w->abandon_ok = (h0 >> 4) & 1;
  w->abandon_on_deadlock = (h0 >> 5) & 1;
  poison(&w->e, sizeof w->e);
  CHECK(cr_engine_init(&w->e, NULL, CR_CLOCK_VIRTUAL) == 0, "engine init");
  w->e.run = any_run;
  if ((h0 >> 6) & 1) {   /* schedule fuzzing: ready tasks, deadline ties */
    uint64_t seed = 0;
    w->seeded = 1;
    for (i = 0; i < (int)size; i++) seed = seed * 131 + data[i];
    cr_engine_seed(&w->e, seed);
  }
  w->e.on_event = on_event;
  w->e.release = on_release;
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
  trace("input: %zu bytes, %d roots, poison 0x%02x, abandon %s%s, %s, "
        "chan caps %u/%u/%u, M1 permits %zu", size, w->nroots, w->poison,
        w->abandon_ok ? "op" : "no", w->abandon_on_deadlock ?
        " + on deadlock" : "", (h0 >> 6) & 1 ? "seeded schedule" : "FIFO",
        h1 & 3, (h1 >> 2) & 3, (h1 >> 4) & 3, w->permits[1]);

  for (i = 0; i < w->nroots; i++) {
    htask *h = new_task();
    poison(&h->t, sizeof h->t);
    cr_task_init(&w->e, &h->t, NULL);
    h->m.parent = NULL;
    h->m.entered = 1;
    w->call.spawn = &h->t;
    CHECK(cr_task_start_root(&h->t) == 0, "start root");
    w->call.spawn = NULL;
    CHECK(h->ev_spawned, "root T%d: no SPAWN", i);
  }
  /* --- drive: step until idle, breaking deadlocks ------------------------ */
  for (steps = 0; steps < MAX_STEPS; steps++) {
    w->cur = -1;
    rc = cr_engine_step(&w->e, 0);
    w->cur = -1;
    CHECK(w->ev_run == NULL, "a step ended between RUN and SUSPEND");
    if (w->abandon_req) {
      abandon_run("ABANDON op");
      break;
    }
    audit("step");
    if (rc == 0) break;
    if (rc == CR_EDEADLOCK) {
      if (break_deadlock()) break;
      audit("deadlock");
      continue;
    }
    CHECK(rc == 1, "cr_engine_step returned %d", rc);
  }
  CHECK(steps < MAX_STEPS, "engine did not quiesce in %d steps", MAX_STEPS);

  /* --- the end: everything finished, nothing leaked ------------------------ */
  if (!w->abandoned) {
    for (i = 0; i < w->ntasks; i++)
      CHECK(w->task[i].finished, "T%d never finished", i);
    for (i = 0; i < w->nvals; i++)
      CHECK(w->val[i] != V_OFFERED && w->val[i] != V_HANDED,
            "value v%d lost in flight (state %d)", i, w->val[i]);
    for (i = 0; i < N_SEMS; i++)
      CHECK(w->sem_out[i] == 0, "M%d: %zu permits never came back", i,
            w->sem_out[i]);
    for (i = 0; i < w->ntasks; i++)
      CHECK(w->task[i].ev_done, "T%d finished without DONE", i);
  }
  CHECK(w->e.stats.tasks == 0 && w->e.stats.scopes == 0 &&
        w->e.stats.timers == 0, "leak: %zu tasks, %zu scopes, %zu timers",
        w->e.stats.tasks, w->e.stats.scopes, w->e.stats.timers);
  /* every reason handle given to the engine came back exactly once */
  for (i = 0; i < w->nh; i++)
    CHECK(w->h[i].state == HS_RELEASED, "h%d was never released (%s)", i,
          hs_name[w->h[i].state]);
  rc = cr_engine_close(&w->e);
  CHECK(rc == 0, "cr_engine_close: %s", cr_err_name(rc));
  CHECK(w->e.stats.handles == 0, "%zu handles open after close",
        w->e.stats.handles);
  trace("end: %d ops, %d steps, %d deadlocks, %d handles, vtime %g%s",
        w->nops, steps, w->deadlocks, w->nh, cr_now(&w->e),
        w->abandoned ? ", abandoned" : "");
  W = NULL;
  free_world(w);
  return 0;
}
