/*
** internal.h -- declarations shared between engine files (cr__ prefix).
*/
#ifndef CORRAL_INTERNAL_H
#define CORRAL_INTERNAL_H

#include <math.h>
#include "corral.h"
#include "queue.h"

#define CR__NOT_ARMED ((size_t)-1)
#define CR__DEFAULT_MAX_ERRORS 1000

/* Resumes per scheduler pass before I/O is polled once (see loop.c). */
#define CR__PASS_BUDGET 4096
/* Milliseconds the passes between two polls of I/O may last, on either
** clock (a task that computes between its checkpoints must not hold I/O,
** signals and a host's requests up for a whole budget of resumes). */
#define CR__PASS_MS 10
/* Resumes between two readings of the clock within a pass (a power of 2) */
#define CR__DEADLINE_EVERY 64
/* Handles closed within a pass that end it early, so that the loop frees
** them (libuv runs close callbacks only when it turns): a task that closes
** them in a loop with checkpoints held a whole pass's worth (loop.c). */
#define CR__CLOSING_PASS_MAX 64

/* heap.c */
int cr__heap_push(cr_engine_t *e, cr_timer_t *t, uint64_t seq);
void cr__heap_remove(cr_engine_t *e, cr_timer_t *t);
static inline cr_timer_t *cr__heap_top(cr_engine_t *e) {
  return e->nheap ? e->refs[e->heap[0].ref].timer : NULL;
}
void cr__heap_free(cr_engine_t *e);

/* Every event site is one branch while nobody listens. */
#define CR__EMIT(e, k, t, s, st, w, o)                                      \
  do {                                                                      \
    if ((e)->on_event) cr__emit((e), (k), (t), (s), (st), (w), (o));        \
  } while (0)
void cr__emit(cr_engine_t *e, cr_event_kind_t kind, cr_task_t *t,
              cr_scope_t *s, int status, cr_wait_t wait, const void *obj);

/* Hand a reason handle back to the binding. */
static inline void cr__release(cr_engine_t *e, void *reason) {
  if (reason && e->release) e->release(e, reason);
}

/* A scope's Cancelled dies with it: its reason goes back to the binding. */
static inline void cr__scope_drop_reason(cr_scope_t *s) {
  void *reason = s->cancel.reason;
  s->cancel.reason = NULL;
  cr__release(s->engine, reason);
}

/* What would use the loop of an engine that is closed, or closing (its
** handles are on their way out): CR_EINVAL. */
#define CR__IF_CLOSED(e) \
  do { if ((e)->closed || (e)->closing) return CR_EINVAL; } while (0)

/* 1 if the task is in a wait list: its link is shared with the run queue
** and the pending queue, which the queued and pending bits say. */
static inline int cr__task_waiting_in_list(const cr_task_t *t) {
  return !t->queued && !t->pending && !t->alarm_on &&
         cr__queue_linked(&t->wait_link);
}

/*
** Memory hints. Big batches (a cancel of 100,000 tasks, the run queue it
** fills) walk linked records that no cache holds: each step's miss waits
** for the last. Asking for the next record while this one is handled lets
** those misses overlap. A hint never faults, whatever the address.
*/
#if defined(__GNUC__) || defined(__clang__)
#define CR__PREFETCH(p) __builtin_prefetch((const void *)(p), 1, 0)
#else
#define CR__PREFETCH(p) ((void)(p))
#endif
/* Addresses are computed as integers: the span may be NULL, or not an
** object at all (a list head taken for a task), which is fine for a hint
** but not for pointer arithmetic. */
static inline void cr__prefetch_span(uintptr_t a, size_t n) {
  size_t i;
  if (a == 0) return;
  for (i = 0; i < n; i += 64) CR__PREFETCH((const void *)(a + i));
  CR__PREFETCH((const void *)(a + n - 1));
}
/* The task one of whose links, at byte offset off in it, is at link. */
static inline void cr__prefetch_task_at(const void *link, size_t off) {
  cr__prefetch_span((uintptr_t)link - off, sizeof(cr_task_t));
}

/* Unlink a queued task from the engine's run queue. */
static inline void cr__runq_remove(cr_engine_t *e, cr_task_t *t) {
  if (e->woke_tail == &t->runq) e->woke_tail = t->runq.prev;
  if (e->burst_waiter == t) e->burst_waiter = NULL;  /* (what a signal woke) */
  cr__queue_remove(&t->runq);
  e->nready--;
  if (t->in_head) {
    t->in_head = 0;
    e->nhead--;
  }
}

/*
** Tickets: every FIFO wait list of tasks is in ticket order, so a task
** that left one can be put back where it was. A ticket is the engine's count of arrivals, 56 bits (the record's
** spare bits): at a billion waits a second it would take a year to wrap,
** and two tickets compare by their difference, which holds while a list's
** oldest and newest arrivals are less than 2^55 apart.
*/
static inline uint64_t cr__ticket(const cr_task_t *t) {
  return (uint64_t)t->ticket_hi << 32 | t->ticket_lo;
}
static inline void cr__ticket_take(cr_task_t *t) {
  uint64_t n = t->scope.engine->arrivals++;
  t->ticket_lo = (uint32_t)n;
  t->ticket_hi = (unsigned)(n >> 32) & 0xFFFFFFu;
}
static inline int cr__ticket_before(uint64_t a, uint64_t b) {
  return (int64_t)((a - b) << 8) < 0;            /* (56 bits) */
}
static inline uint64_t cr__link_ticket(const cr_queue_t *q) {
  return cr__ticket(cr__queue_data(q, cr_task_t, wait_link));
}
/* How far apart two tickets are, in arrivals. */
static inline uint64_t cr__ticket_gap(uint64_t a, uint64_t b) {
  return (cr__ticket_before(a, b) ? b - a : a - b) & ((UINT64_C(1) << 56) - 1);
}
/* Put t back in the wait list at h at its ticket's place, behind every
** earlier arrival. The walk starts from whichever is nearest in tickets of
** the list's two ends and `finger` (a node of h, or NULL): the last task
** put back, so that a batch put back in arrival order, or in its reverse,
** takes a step or two each even among waiters that stayed. Only a batch in no order (a seeded
** run's shuffle) still walks about a third of the list each. */
static inline void cr__queue_insert_ticket(cr_queue_t *h, cr_task_t *t,
                                           cr_queue_t *finger) {
  uint64_t k = cr__ticket(t), steps = 0;
  cr_queue_t *q = h->prev, *ends[2];
  int i;
  if (cr__queue_empty(h)) {
    cr__queue_insert_tail(h, &t->wait_link);
    return;
  }
  ends[0] = h->next;
  ends[1] = finger;
  for (i = 0; i < 2; i++)
    if (ends[i] != NULL && cr__ticket_gap(k, cr__link_ticket(ends[i])) <
                               cr__ticket_gap(k, cr__link_ticket(q)))
      q = ends[i];
  if (cr__ticket_before(cr__link_ticket(q), k)) {   /* on, to the last before */
    while (q->next != h && cr__ticket_before(cr__link_ticket(q->next), k)) {
      q = q->next;
      steps++;
    }
  } else {                                          /* back, to the same */
    do {
      q = q->prev;
      steps++;
    } while (q != h && cr__ticket_before(k, cr__link_ticket(q)));
  }
  cr__queue_insert_tail(q->next, &t->wait_link);    /* (right after q) */
  t->scope.engine->rejoin_steps += steps;
}

/* The waits whose lists keep arrival order (they use cr__wait_enter): the
** kinds a hidden cancel may let a task rejoin (cr_task_t.rejoin). */
#define CR__FIFO_WAITS                                                      \
  ((1u << CR_WAIT_EVENT) | (1u << CR_WAIT_SEM) | (1u << CR_WAIT_SEND) |     \
   (1u << CR_WAIT_RECV) | (1u << CR_WAIT_STOPPING) | (1u << CR_WAIT_ACCEPT) | \
   (1u << CR_WAIT_PROCESS) | (1u << CR_WAIT_SIGNAL) | (1u << CR_WAIT_IDLE))

/* t's next wait will be a new arrival: it let go of the place a hidden
** cancel kept for it (it yielded, or a cancel it saw unwinds it). */
static inline void cr__rejoin_forget(cr_task_t *t) {
  if (t->rejoin) {
    t->rejoin = 0;
    t->wait_obj = NULL;
  }
}

void cr__wait_rejoin(cr_task_t *t, cr_queue_t *h, cr_wait_t kind,
                     const void *obj);
/* t joins the FIFO list at h, about to park on obj with that kind of wait:
** at the back, as a new arrival, unless it is making again the wait a
** hidden cancel aborted (cr__wait_rejoin). */
static inline void cr__wait_enter(cr_task_t *t, cr_queue_t *h, cr_wait_t kind,
                                  const void *obj) {
  if (t->rejoin) {
    cr__wait_rejoin(t, h, kind, obj);
    return;
  }
  cr__ticket_take(t);
  cr__queue_insert_tail(h, &t->wait_link);
}

/* task.c */
void cr__task_schedule(cr_task_t *t);
void cr__task_abort(cr_task_t *t);
void cr__task_orphan(cr_task_t *t);
/* Put w in target's ring of joiners (before parking it on target). */
void cr__task_add_joiner(cr_task_t *target, cr_task_t *w);

/* scope.c */
void cr__scope_init(cr_engine_t *e, cr_scope_t *s, int is_task);
void cr__scope_link(cr_scope_t *s, cr_scope_t *parent);
void cr__scope_unlink(cr_scope_t *s);
void cr__scope_deliver(cr_scope_t *root);
void cr__scope_cancel_as_group(cr_task_t *t);
void cr__cancel_gen_bump(cr_engine_t *e);
cr_end_t cr__scope_judge(cr_scope_t *s, cr_scope_t **to);
void cr__task_reparent(cr_task_t *t, cr_scope_t *parent);

/* group.c */
void cr__group_child_done(cr_group_t *g, cr_task_t *t);
void cr__task_started(cr_task_t *t);
void cr__start_forsaken(cr_task_t *t, cr_task_t *starter);
void cr__start_abandoned(cr_task_t *s);
void cr__group_cancelled(cr_group_t *g);
void cr__group_forsake(cr_group_t *g);

/* io.c */
void cr__io_init(cr_engine_t *e, cr_io_t *io, int type, cr_io_cb close);
void cr__stream_unclaim(cr_task_t *t);   /* t->claim: let go of its stream */
void cr__io_free(cr_io_t *io);
void cr__io_close_all(cr_engine_t *e);
/* Whether a child the engine started runs (not reaped yet). */
int cr__kids_running(const cr_engine_t *e);
void cr__kids_free(cr_engine_t *e);
void cr__resolve_drop(cr_task_t *t);
/* The root policy's watchers nobody waits on (signal.c). */
unsigned cr__signal_idle_root_watchers(const cr_engine_t *e);
void cr__proc_reap_all(cr_engine_t *e);
void cr__resolve_detach_all(cr_engine_t *e);
void cr__engine_io_wait(cr_engine_t *e, int delta);
/* An I/O handle just opened: it keeps the loop alive only through the waits
** of tasks on it (cr__engine_io_wait). */
#define cr__io_unref(h) uv_unref((uv_handle_t *)(h))
cr_stream_t *cr__stream_new(cr_engine_t *e);
int cr__stream_open_tcp(cr_stream_t *s);
int cr__stream_open_pipe(cr_stream_t *s);
/* Writes go to libuv in buffers of at most this many bytes. */
#define CR__WRITE_CHUNK ((size_t)1 << 30)
size_t cr__nbufs(size_t len, size_t chunk);
void cr__fill_bufs(uv_buf_t *bufs, char *data, size_t len, size_t chunk);

/* signal.c */
void cr__signal_close_all(cr_engine_t *e);
void cr__signal_reconcile(cr_engine_t *e);
void cr__signal_spawning(cr_engine_t *e);
void cr__signal_spawned(cr_engine_t *e);
void cr__signal_loop_closed(cr_engine_t *e);

/* alloc.c */
unsigned long cr__alloc_failures(void);

/* loop.c */
void cr__engine_ready(cr_engine_t *e);
void cr__timers_fire(cr_engine_t *e, double now);
void cr__poll_deadlines_at(cr_engine_t *e, double now);
uint64_t cr__tie_key(cr_engine_t *e, uint64_t seq);

#endif
