/*
** task.c -- tasks: run queue membership, parking, waking and the abort
** protocol.
**
** A blocking operation parks the running task with an abort callback and
** the binding gives control back. Whoever completes the operation calls
** cr_task_wake(t, 0): the task is queued and its abort callback forgotten,
** so a cancel arriving later finds nothing to abort and the delivered value
** wins; the next cancellation point raises instead (spec/scope_spec.lua,
** "delivered wake-up wins").
*/
#include "internal.h"

static void sleep_cb(cr_timer_t *timer);

void cr_task_init(cr_engine_t *e, cr_task_t *t, void *data) {
  t->data = data;
  t->scope.engine = e;
  t->group = NULL;
  t->status = CR_TASK_SCHEDULED;
  t->wake_status = 0;
  t->clean_gen = UINT32_MAX;
  cr__scope_init(e, &t->scope, 1);
  t->cur = NULL;
  cr__queue_init(&t->wait_link);
  t->xfer = NULL;
  t->waiters = NULL;
  t->wait_obj = NULL;
  t->wait = CR_WAIT_NONE;
  t->queued = t->pending = t->finished = 0;
  t->starting = t->orphan = t->alarm_on = t->saw_cancel = t->in_head = 0;
  t->claim = t->handed = t->rejoin = t->delivered = 0;
  t->ticket_lo = t->ticket_hi = 0;
  if (e->finger == t) e->finger = NULL;      /* (a record used again) */
  e->stats.tasks++;
  e->end_seen = 0;                 /* an attached host's next end is news */
}

/*
** A task's joiners (cr_task_join, g:start) are a ring of their wait_links
** that t->waiters enters, so that an idle task keeps one pointer for them.
** A joiner alone in the ring points at itself, as an unlinked node does:
** the ring's entry tells the two apart.
*/
void cr__task_add_joiner(cr_task_t *target, cr_task_t *w) {
  cr_queue_t *first = target->waiters;
  if (first == NULL) {
    cr__queue_init(&w->wait_link);
    target->waiters = &w->wait_link;
  } else {
    cr__queue_insert_tail(first, &w->wait_link);
  }
}

static int is_join_wait(const cr_task_t *w) {
  return w->status == CR_TASK_WAITING &&
         (w->wait == CR_WAIT_JOIN || w->wait == CR_WAIT_START);
}

static void ring_remove(cr_task_t *target, cr_task_t *w) {
  cr_queue_t *n = &w->wait_link;
  if (target->waiters == n)
    target->waiters = n->next == n ? NULL : n->next;
  else if (!cr__queue_linked(n))
    return;                            /* not in the ring (any more) */
  cr__queue_remove(n);
}

/* A sleep is over: the alarm gives its place back to the wait link (not
** in a list) and xfer (nothing handed). */
static void alarm_off(cr_task_t *t) {
  cr_timer_stop(t->scope.engine, &t->alarm);
  t->alarm_on = 0;
  cr__queue_init(&t->wait_link);
  t->xfer = NULL;
}

/* Take a parked task out of whatever list (or the heap) its wait put it
** in. */
static void unlink_wait(cr_task_t *t) {
  if (t->alarm_on)
    alarm_off(t);
  else if (is_join_wait(t))
    ring_remove((cr_task_t *)t->wait_obj, t);
  else if (cr__task_waiting_in_list(t))
    cr__queue_remove(&t->wait_link);
}

/*
** Tasks woken by a deadline (inside cr__timers_fire) go ahead of the rest
** of the run queue, after those woken so before them: a sleeper is not
** late behind thousands of spawned tasks that have not started yet.
** Seeded, they join the batch being run (loop.c, shuffle_runq).
*/
void cr__task_schedule(cr_task_t *t) {
  cr_engine_t *e = t->scope.engine;
  if (t->queued) return;
  t->queued = 1;
  t->status = CR_TASK_SCHEDULED;
  e->stuck_seen = 0;                   /* something moved: news again */
  if (cr__queue_empty(&e->runq)) cr__engine_ready(e);
  if (e->firing) {
    cr_queue_t *at = e->woke_tail;
    t->runq.prev = at;
    t->runq.next = at->next;
    at->next->prev = &t->runq;
    at->next = &t->runq;
    e->woke_tail = &t->runq;
    t->in_head = 1;
    e->nhead++;
    if (e->batch_left) e->batch_left++;
  } else {
    cr__queue_insert_tail(&e->runq, &t->runq);
  }
  e->nready++;
}

int cr_task_start_root(cr_task_t *t) {
  if (t->scope.engine->closing) return CR_EINVAL;   /* (closed, or closing) */
  t->scope.engine->release_pending = 0;     /* the new root holds them */
  cr__scope_link(&t->scope, NULL);
  t->cur = &t->scope;
  cr__task_schedule(t);          /* (then the event: see cr_group_spawn) */
  CR__EMIT(t->scope.engine, CR_EV_SPAWN, t, NULL, 0, CR_WAIT_NONE, NULL);
  return 0;
}

static int is_io_wait(unsigned w) {
  return w >= CR_WAIT_READ && w <= CR_WAIT_PROCESS;
}

/* Every change of t->wait: waits on I/O keep the loop alive (loop.c). */
static void set_wait(cr_task_t *t, cr_wait_t wait) {
  int was = is_io_wait(t->wait), now = is_io_wait(wait);
  t->wait = wait;
  if (was != now) cr__engine_io_wait(t->scope.engine, now ? 1 : -1);
}

void cr_task_park_on(cr_task_t *t, cr_abort_cb abort, cr_wait_t wait,
                     const void *obj) {
  if ((unsigned)wait >= CR_WAIT__COUNT) wait = CR_WAIT_OTHER;  /* misuse */
  t->status = CR_TASK_WAITING;
  t->rejoin = 0;                 /* a place kept is taken back, or lost */
  t->scope.engine->aborts[wait] = abort;
  t->wake_status = 0;
  set_wait(t, wait);
  t->wait_obj = obj;
  CR__EMIT(t->scope.engine, CR_EV_PARK, t, t->cur, 0, wait, obj);
  /* Level-triggered: a task that parks inside a cancelled scope (one gone
  ** back to waiting after a wake-up that brought too little, say) has its
  ** wait aborted at once, as if the cancel had come while it waited. */
  if (cr_task_cancelled_now(t) != NULL) {
    cr__task_abort(t);
    /* its own wait ended: it raises the Cancelled (a join or a g:start
    ** refuses: what it raises later is judged then) */
    if (t->status != CR_TASK_WAITING) t->saw_cancel = 1;
  }
}

void cr_task_park(cr_task_t *t, cr_abort_cb abort) {
  cr_task_park_on(t, abort, CR_WAIT_OTHER, NULL);
}

/* An idle task is most of what a program with many tasks holds (bench/):
** its record must not grow unnoticed. */
#if defined(__LP64__)
_Static_assert(sizeof(cr_task_t) <= 152, "a task's record grew");
#endif

/* The codes a task can be woken with fit its 16 bits of wake_status. */
_Static_assert(CR__ERRBASE >= INT16_MIN && UV_EOF >= INT16_MIN,
               "wake codes fit in 16 bits");

void cr_task_wake(cr_task_t *t, int status) {
  if (t->status != CR_TASK_WAITING) return;
  if (status < INT16_MIN || status > INT16_MAX) status = CR_EINVAL;
  unlink_wait(t);
  t->wake_status = status;
  /* its wait is over: a t:cancel from now on comes after it (run_ready) */
  t->delivered = status == 0 && !t->scope.cancel_owed;
  set_wait(t, CR_WAIT_NONE);
  t->wait_obj = NULL;
  cr__task_schedule(t);
  /* Once it is queued: a listener that wakes or abandons from here finds
  ** it scheduled, not still waiting. */
  CR__EMIT(t->scope.engine, CR_EV_WAKE, t, NULL, status, CR_WAIT_NONE, NULL);
}

/*
** Called by scope delivery for a parked task inside a cancelled scope.
** Cancellation is a level, read when the task runs: a shield set before
** then hides the cancel, and the task makes its wait again. A FIFO list
** has no room to keep it (its link goes to the run queue), so it keeps
** its ticket and what it waited on instead, and takes its place back
** (cr__wait_enter): a hidden cancel does not send a waiter to the back.
*/
void cr__task_abort(cr_task_t *t) {
  cr_abort_cb abort;
  unsigned kind = t->wait;
  const void *obj = t->wait_obj;
  if (t->status != CR_TASK_WAITING) return;
  abort = t->scope.engine->aborts[kind];
  if (abort == NULL || abort(t) != CR_ABORT_DONE) return;
  cr_task_wake(t, CR_ECANCELED);
  if ((CR__FIFO_WAITS >> kind) & 1u && t->status == CR_TASK_SCHEDULED) {
    t->rejoin = kind;
    t->wait_obj = obj;
  }
}

void cr__wait_rejoin(cr_task_t *t, cr_queue_t *h, cr_wait_t kind,
                     const void *obj) {
  cr_engine_t *e = t->scope.engine;
  cr_task_t *f = e->finger;
  int same = t->rejoin == (unsigned)kind && t->wait_obj == obj;
  t->rejoin = 0;
  if (same) {
    /* The finger is in h if it still waits there: (kind, obj) names one
    ** list, as for `same` above. */
    int in_h = f != NULL && f->status == CR_TASK_WAITING &&
               f->wait == (unsigned)kind && f->wait_obj == obj;
    cr__queue_insert_ticket(h, t, in_h ? &f->wait_link : NULL);
    e->finger = t;
    return;
  }
  cr__ticket_take(t);
  cr__queue_insert_tail(h, &t->wait_link);
}

/*
** A join of its own group's children and a g:start wait once the child
** runs refuse aborts (the group owns the wake-up); a task whose
** continuation is gone leaves them too, so that its binding can cancel and
** join what it opened. The group's later wake-up finds the task no longer
** parked there. (Queued, woken from g:start by a cancel and not run since,
** it lets go of the child it left waiting for a slot.)
*/
void cr_task_interrupt(cr_task_t *t) {
  if (t->status == CR_TASK_SCHEDULED) cr__start_abandoned(t);
  if (t->status != CR_TASK_WAITING) return;
  if (t->wait == CR_WAIT_START)
    cr__start_forsaken((cr_task_t *)t->wait_obj, t);
  if (t->wait == CR_WAIT_CHILDREN || t->wait == CR_WAIT_START)
    cr_task_wake(t, CR_ECANCELED);
  else
    cr__task_abort(t);
}

void cr_task_yield(cr_task_t *t) {
  /* a t:cancel run_ready excused stays so across the yield (run_ready
  ** excuses it again), up to a cancellation point (asked) */
  if (t->delivered) t->scope.cancel_owed = 1;
  t->wake_status = 0;
  cr__rejoin_forget(t);          /* its next wait is a new arrival */
  cr__task_schedule(t);
}

void cr_task_yield_done(cr_task_t *t) {
  int excused = t->delivered || !t->scope.cancel_owed;
  cr_task_yield(t);
  t->delivered = (unsigned)excused;
}

/* The abort of every wait that is only a link in a list. */
cr_abort_t cr_task_abort_unlink(cr_task_t *t) {
  unlink_wait(t);
  return CR_ABORT_DONE;
}

void cr_task_join(cr_task_t *t, cr_task_t *target) {
  if (target->finished) {
    cr_task_yield(t);
    return;
  }
  cr__task_add_joiner(target, t);
  cr_task_park_on(t, cr_task_abort_unlink, CR_WAIT_JOIN, target);
}

static void sleep_cb(cr_timer_t *timer) {
  cr_task_wake(cr__queue_data(timer, cr_task_t, alarm), 0);
}

/* The alarm overlays the wait link and xfer, which a sleep leaves unused:
** unlink_wait gives them back, whether the alarm rang or the sleep was
** aborted (cr_task_abort_unlink) or cut short by the task's end. */
int cr_task_sleep(cr_task_t *t, double when) {
  int rc;
  t->alarm_on = 1;
  cr_timer_init(&t->alarm, sleep_cb);
  rc = cr_timer_start(t->scope.engine, &t->alarm, when);
  if (rc) {
    alarm_off(t);
    return rc;
  }
  cr_task_park_on(t, cr_task_abort_unlink, CR_WAIT_SLEEP, &t->alarm);
  return 0;
}

/*
** A g:start child passes a Cancelled out: its starter raises it next, as
** one corral delivered to it (judge), whatever shield was set since. The
** starter is the owner of the scope the child hangs below: parked in
** g:start, or woken from that wait by a cancel while the child still
** waited for a slot of its group's limit and not run since (a seeded
** schedule may run the child, once it has its slot, first; it is then no
** longer among the child's joiners, but start_k raises the Cancelled all
** the same).
*/
static void mark_starter(cr_task_t *t) {
  if (t->scope.parent != NULL) cr_scope_owner(t->scope.parent)->saw_cancel = 1;
}

cr_end_t cr_task_unwind(cr_task_t *t, cr_scope_t **to) {
  cr_scope_t *dummy;
  cr_end_t end;
  if (to == NULL) to = &dummy;
  end = cr__scope_judge(&t->scope, to);
  if (end == CR_END_PASSED && *to == NULL) return CR_END_FAILED;
  if (end == CR_END_PASSED && t->group && !t->starting)
    t->group->unwound = t->group->child_passed = 1;
  else if (end == CR_END_PASSED && t->starting)
    mark_starter(t);
  return end;
}

int cr_task_cancel_owed(const cr_task_t *t) {
  return t->scope.cancel_owed;
}

int cr_task_handed(const cr_task_t *t) {
  return t->status == CR_TASK_SCHEDULED && t->delivered;
}

cr_task_status_t cr_task_returned(cr_task_t *t) {
  if (!t->scope.cancel_owed) return CR_TASK_DONE;
  t->scope.cancel_owed = 0;
  t->scope.cancel_caught = 1;      /* its own scope takes the cancel */
  return CR_TASK_CANCELLED;
}

/* A task that goes before it ran again lets go of what its wake handed it:
** a stream read's claim, a lookup's list. */
static void let_go(cr_task_t *t) {
  if (t->claim) cr__stream_unclaim(t);
  if (t->handed) cr__resolve_drop(t);
}

void cr_task_done(cr_task_t *t, cr_task_status_t status) {
  cr_engine_t *e = t->scope.engine;
  if (t->finished) return;
  t->finished = 1;
  if (e->finger == t) e->finger = NULL;
  unlink_wait(t);
  let_go(t);
  t->status = status;
  cr__task_started(t);
  t->scope.as_group = 0;
  set_wait(t, CR_WAIT_NONE);
  if (t->queued) {
    cr__runq_remove(e, t);
    t->queued = 0;
  }
  /* A well-behaved binding has left every nested scope already. */
  while (t->cur && t->cur != &t->scope) {
    if (t->cur->is_group) {      /* closed: no spawn, its stop forgotten */
      cr__group_forsake((cr_group_t *)t->cur);
      cr_group_close((cr_group_t *)t->cur, NULL);
    } else
      cr_scope_exit(t->cur);
  }
  if (t->scope.entered) {
    cr__scope_unlink(&t->scope);
  } else {                   /* never started (a refused spawn) */
    t->scope.exited = 1;
    cr__scope_drop_reason(&t->scope);  /* a cancel before the start */
  }
  t->cur = NULL;
  while (t->waiters != NULL) {
    cr_task_t *w = cr__queue_data(t->waiters, cr_task_t, wait_link);
    ring_remove(t, w);
    cr_task_wake(w, 0);
  }
  e->stats.tasks--;
  CR__EMIT(e, CR_EV_DONE, t, NULL, (int)status, CR_WAIT_NONE, NULL);
  if (t->group) cr__group_child_done(t->group, t);
}

/*
** cr_engine_abandon: the task will never run again. Unlink it from every
** list an operation or another object could reach it through, so that an
** event set, a lock released or a channel closed after the run touches
** nothing of it.
*/
void cr__task_orphan(cr_task_t *t) {
  if (t->finished) return;
  t->orphan = 1;
  if (t->scope.engine->finger == t) t->scope.engine->finger = NULL;
  /* A wait on I/O: its object (a stream's reader, a write or a lookup
  ** request) lets go of the task, as when the wait is cancelled. */
  if (t->status == CR_TASK_WAITING && is_io_wait(t->wait) &&
      t->scope.engine->aborts[t->wait] != NULL)
    (void)t->scope.engine->aborts[t->wait](t);
  unlink_wait(t);
  let_go(t);
  if (t->queued)
    cr__runq_remove(t->scope.engine, t);
  else if (t->pending)
    cr__queue_remove(&t->runq);
  t->queued = t->pending = 0;
  cr__task_started(t);
  while (t->waiters != NULL)
    ring_remove(t, cr__queue_data(t->waiters, cr_task_t, wait_link));
  t->finished = 1;
  t->status = CR_TASK_CANCELLED;
  set_wait(t, CR_WAIT_NONE);
  t->scope.engine->stats.tasks--;
}

