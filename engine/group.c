/*
** group.c -- task groups: spawn, limit, join, failure policy and stop.
**
** A group is a scope (its first member) plus the children it joins. The
** body runs in the parent task inside the group's scope; each child's own
** scope hangs below it, so cancelling the group reaches every child, and a
** child's t:cancel() reaches only that child.
*/
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "internal.h"

static void stop_cb(cr_timer_t *t);
static void start_held(cr_task_t *t);
static cr_abort_t abort_start(cr_task_t *starter);

static cr_abort_t abort_refuse(cr_task_t *t) {
  (void)t;
  return CR_ABORT_LATE;   /* joining is not a cancellation point */
}

int cr_group_init(cr_task_t *parent, cr_group_t *g, const cr_group_opts_t *o) {
  int rc;
  g->parent = parent;
  g->nchildren = g->nrunning = 0;
  g->limit = o->limit;
  g->max_errors = o->max_errors ? o->max_errors : CR__DEFAULT_MAX_ERRORS;
  g->nerrors = g->dropped = 0;
  g->nstarting = g->starting_len = g->starting_cap = 0;
  g->starting = NULL;
  g->defer_errors = o->defer_errors ? 1 : 0;
  g->stopping = g->closed = g->body_done = g->unwound = 0;
  g->child_passed = 0;
  g->stop_cancel.source = CR_SRC_STOP;
  g->stop_cancel.origin = 0;
  g->stop_cancel.reason = NULL;
  cr_timer_init(&g->stop_timer, stop_cb);
  cr__queue_init(&g->pending);
  cr__queue_init(&g->stop_waiters);
  g->memo_abs = NULL;
  g->memo_gen = UINT64_MAX;            /* cancel_gen never gets there */
  g->reach_gen = UINT64_MAX;
  rc = cr_scope_enter(parent, &g->scope, o->deadline, o->shield);
  g->scope.is_group = 1;
  if (rc) g->closed = 1;
  return rc;
}

int cr_group_spawn(cr_group_t *g, cr_task_t *t) {
  if (g->closed) return CR_ECLOSED;
  if (g->stopping) return CR_ESTOPPING;
  t->group = g;
  cr__scope_link(&t->scope, &g->scope);
  t->cur = &t->scope;
  g->nchildren++;
  if (g->limit && g->nrunning >= g->limit) {
    t->pending = 1;
    t->status = CR_TASK_SCHEDULED;
    cr__queue_insert_tail(&g->pending, &t->runq);
  } else {
    g->nrunning++;
    cr__task_schedule(t);
  }
  /* Emitted once the task is where it belongs: a listener that calls back
  ** into the engine (abandons it, say) finds it queued. */
  CR__EMIT(t->scope.engine, CR_EV_SPAWN, t, &g->scope, 0, CR_WAIT_NONE, NULL);
  return 0;
}

/*
** g:start. The child hangs below the starter's current scope until it
** calls ready(): cancelling the starter reaches it, and a cancel the group
** already had reaches it too (cr__task_reparent). The starter waits in the
** child's join list; once the child runs, a cancel does not abort that
** wait, it reaches the child, whose end wakes the starter. While the child
** still waits for a slot of the group's limit, a cancel of the starter
** aborts it (abort_start): the slot could be long coming, or never come (a
** starter that holds the last slot waits for a child that waits for it).
*/
/*
** A group's children still starting (g:start) hang below their starters'
** scopes, out of the group's subtree, so the group keeps them: an array
** ordered by id (spawn order), in which a child that has started leaves a
** hole (its id kept, so the order still finds the others) until holes are
** half of it. Adding is O(1), finding O(log n); the array goes when the
** last child has started. A cancel of the group starts none of them, so
** the array holds still under cr__group_cancelled.
*/
struct cr__start_slot_s {
  uint64_t id;
  cr_task_t *task;          /* NULL: a hole */
};

/* The first slot whose id is at least id. */
static uint32_t starting_find(const cr_group_t *g, uint64_t id) {
  uint32_t lo = 0, hi = g->starting_len;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (g->starting[mid].id < id) lo = mid + 1; else hi = mid;
  }
  return lo;
}

static void starting_compact(cr_group_t *g) {
  uint32_t i, j = 0;
  for (i = 0; i < g->starting_len; i++)
    if (g->starting[i].task) g->starting[j++] = g->starting[i];
  g->starting_len = j;
}

static void starting_free_if_empty(cr_group_t *g) {
  if (g->nstarting > 0) return;
  free(g->starting);
  g->starting = NULL;
  g->starting_len = g->starting_cap = 0;
}

/* Room for one more slot: holes given back, or the array doubled. */
static int starting_reserve(cr_group_t *g) {
  struct cr__start_slot_s *v;
  uint32_t cap;
  if (g->starting_len < g->starting_cap) return 0;
  if (g->nstarting < g->starting_len) {
    starting_compact(g);
    return 0;
  }
  cap = g->starting_cap ? 2 * g->starting_cap : 4;
  if (cap <= g->starting_cap) return CR_ENOMEM;
  v = realloc(g->starting, cap * sizeof *v);
  if (v == NULL) return CR_ENOMEM;
  g->starting = v;
  g->starting_cap = cap;
  return 0;
}

/* After starting_reserve. Ids grow with each cr_task_init, so a child
** goes at the end unless a host started its tasks out of order. */
static void starting_add(cr_group_t *g, cr_task_t *t) {
  uint32_t i = g->starting_len;
  if (i > 0 && g->starting[i - 1].id > t->scope.id) {
    i = starting_find(g, t->scope.id);
    memmove(&g->starting[i + 1], &g->starting[i],
            (g->starting_len - i) * sizeof g->starting[0]);
  }
  g->starting[i].id = t->scope.id;
  g->starting[i].task = t;
  g->starting_len++;
  g->nstarting++;
}

static void starting_remove(cr_group_t *g, cr_task_t *t) {
  uint32_t i = starting_find(g, t->scope.id);
  if (i < g->starting_len && g->starting[i].task == t) {
    g->starting[i].task = NULL;
    g->nstarting--;
  }
  if (2 * (g->starting_len - g->nstarting) > g->starting_len)
    starting_compact(g);
  starting_free_if_empty(g);
}

int cr_group_start(cr_group_t *g, cr_task_t *t, cr_task_t *starter) {
  int rc = starting_reserve(g);
  if (rc == 0) rc = cr_group_spawn(g, t);
  if (rc) {
    starting_free_if_empty(g);         /* refused: nothing is starting */
    return rc;
  }
  t->starting = 1;
  starting_add(g, t);
  cr__task_reparent(t, starter->cur);
  cr__task_add_joiner(t, starter);
  cr_task_park_on(starter, abort_start, CR_WAIT_START, t);
  return 0;
}

/*
** g's task finished without joining it (cr_task_done of a task whose
** group is still open: a broken host). Its children outlive it as roots
** (cr__scope_unlink makes those in its subtree forget it); here, those
** still waiting for a slot start now, past the limit, and those still
** starting (below their starters' scopes) forget it too: nothing of
** theirs names g once its record may be freed.
*/
void cr__group_forsake(cr_group_t *g) {
  uint32_t i;
  while (!cr__queue_empty(&g->pending))
    start_held(cr__queue_data(cr__queue_head(&g->pending), cr_task_t, runq));
  for (i = 0; i < g->starting_len; i++)
    if (g->starting[i].task) g->starting[i].task->group = NULL;
  g->nstarting = 0;
  starting_free_if_empty(g);
}

/* t is no longer starting (ready, or it ended): its group's count of
** starting children follows. */
void cr__task_started(cr_task_t *t) {
  if (!t->starting) return;
  t->starting = 0;
  if (t->group) starting_remove(t->group, t);
}

/*
** t's starter stops waiting for it without its ready (the starter's
** continuation is gone, cr_task_interrupt; or a cancel of the starter came
** while t still waited for a slot, cr_group_start_woken), and is about to
** leave the scopes t hangs below. As a cancel of the starter would, t is
** cancelled (reason: the record, taken over); it moves below its group's
** scope, which joins it, rather than outlive those scopes as a root.
*/
static void forsake(cr_task_t *t, cr_task_t *starter, void *reason) {
  if (!t->starting || t->finished) {
    cr__release(t->scope.engine, reason);
    return;
  }
  cr_scope_cancel(&t->scope, CR_SRC_EXPLICIT, starter->scope.id, reason);
  /* (a group forsaken meanwhile is gone: the child stays where it hangs,
  ** and is a root once those scopes are left) */
  if (t->group != NULL) cr__task_reparent(t, &t->group->scope);
  cr__task_started(t);        /* its group's child now: a failure is the
                              ** group's, and a later ready() is dropped */
}

void cr__start_forsaken(cr_task_t *t, cr_task_t *starter) {
  forsake(t, starter, NULL);
}

/*
** Starter s, queued and not run since, lost its continuation. If a cancel
** woke it from g:start while its child still waited for a slot
** (abort_start), that child still hangs below s's current scope, starting
** and held: let go of it, as cr_group_start_woken would have.
*/
void cr__start_abandoned(cr_task_t *s) {
  cr_scope_t *cur = s->cur;
  cr_queue_t *q;
  if (cur == NULL) return;
  q = cr__queue_head(&cur->children);
  while (q != &cur->children) {
    cr_scope_t *c = cr__queue_data(q, cr_scope_t, sibling);
    cr_task_t *t = cr_scope_owner(c);
    q = q->next;                 /* (forsake moves c to its group) */
    if (c->is_task && t->starting && t->pending) forsake(t, s, NULL);
  }
}

/* The starter's wait is a cancellation point while its child is only
** queued for a slot. Nothing moves here (a scope's delivery is walking the
** tree): cr_group_start_woken does, once the starter runs. */
static cr_abort_t abort_start(cr_task_t *starter) {
  const cr_task_t *t = starter->wait_obj;
  return t->pending ? CR_ABORT_DONE : CR_ABORT_LATE;
}

int cr_group_start_woken(cr_task_t *t, cr_task_t *starter, void *reason) {
  if (t->pending && t->starting && cr_task_cancelled(starter) != NULL) {
    forsake(t, starter, reason);       /* cancelled, and the group's now */
    return 1;
  }
  cr__release(t->scope.engine, reason);
  cr__task_add_joiner(t, starter);
  cr_task_park_on(starter, abort_start, CR_WAIT_START, t);
  return 0;
}

/* The task parked in g:start for t: among t's joiners, the one that
** waits to start it (t:wait joiners wait on it too). */
static cr_task_t *starter_of(cr_task_t *t) {
  cr_queue_t *q = t->waiters;
  if (q == NULL) return NULL;
  do {
    cr_task_t *w = cr__queue_data(q, cr_task_t, wait_link);
    if (w->wait == CR_WAIT_START && w->wait_obj == t) return w;
    q = q->next;
  } while (q != t->waiters);
  return NULL;
}

int cr_task_ready(cr_task_t *t) {
  cr_task_t *w;
  if (!t->starting) return CR_EINVAL;
  /* Moving a child out of a cancelled scope would let it escape the
  ** cancel (and hand a value to a starter that is cancelled). A deadline
  ** that passed while the caller or the child computed counts: the clock
  ** is read here, as at a cancellation point. */
  cr_engine_poll_deadlines(t->scope.engine);
  if (cr_scope_absorber(t->scope.parent) != NULL) return CR_ECANCELED;
  cr__task_started(t);
  w = starter_of(t);
  if (!t->finished && t->group) cr__task_reparent(t, &t->group->scope);
  if (w) cr_task_wake(w, 0);
  return 0;
}

/* A held child takes a slot and is queued to run (past the limit only
** when its group is forsaken: cr__group_forsake). Cancelled or not, it
** runs its function up to its first cancellation point at least. */
static void start_held(cr_task_t *t) {
  cr__queue_remove(&t->runq);
  t->pending = 0;
  t->group->nrunning++;
  cr__task_schedule(t);
}

/*
** Held children start, oldest first, while the limit leaves them room. A
** cancel does not let one go ahead: it waits its turn, so that the limit
** holds at every instant and every spawned child's setup and cleanup run
** (a child cancelled ends at its first cancellation point, freeing its
** slot for the next).
*/
static void start_waiting(cr_group_t *g) {
  while (!cr__queue_empty(&g->pending) &&
         (g->limit == 0 || g->nrunning < g->limit))
    start_held(cr__queue_data(cr__queue_head(&g->pending), cr_task_t, runq));
}

void cr__group_child_done(cr_group_t *g, cr_task_t *t) {
  g->nchildren--;
  if (t->pending) {
    /* finished while still held back (cannot happen today, kept safe) */
    cr__queue_remove(&t->runq);
    t->pending = 0;
  } else {
    g->nrunning--;
  }
  start_waiting(g);
  if (g->nchildren == 0 && g->body_done &&
      g->parent->status == CR_TASK_WAITING &&
      g->parent->wait == CR_WAIT_CHILDREN && g->parent->wait_obj == g)
    cr_task_wake(g->parent, 0);
}

int cr_group_fail(cr_group_t *g, int fatal, uint64_t origin, void *reason) {
  cr_engine_t *e = g->scope.engine;
  int keep = g->nerrors < g->max_errors;
  if (keep)
    g->nerrors++;
  else
    g->dropped++;
  CR__EMIT(e, CR_EV_FAIL, e->current, &g->scope, 0, CR_WAIT_NONE, NULL);
  if (fatal || !g->defer_errors)
    cr_scope_cancel(&g->scope, CR_SRC_FAILURE, origin, reason);
  else
    cr__release(e, reason);
  return keep;
}

void cr_group_body_done(cr_group_t *g, cr_end_t how) {
  g->body_done = 1;
  if (how == CR_END_PASSED) g->unwound = 1;
}

int cr_group_join(cr_group_t *g) {
  if (g->nchildren == 0) return 0;
  cr_task_park_on(g->parent, abort_refuse, CR_WAIT_CHILDREN, g);
  return 1;
}

static void wake_stop_waiters(cr_group_t *g) {
  while (!cr__queue_empty(&g->stop_waiters)) {
    cr_task_t *w = cr__queue_data(cr__queue_head(&g->stop_waiters),
                                  cr_task_t, wait_link);
    cr__queue_remove(&w->wait_link);
    cr_task_wake(w, 0);
  }
}

static void drop_stop_reason(cr_group_t *g) {
  void *reason = g->stop_cancel.reason;
  g->stop_cancel.reason = NULL;
  cr__release(g->scope.engine, reason);
}

/*
** g's scope was cancelled. A child still starting (g:start) hangs below its
** starter's scope, not below the group's: it is reached here (a cancel
** starts none, that takes the child's ready or end, so the array holds
** still). A stop's grace has nothing left to end: its timer goes, or it
** would keep the loop alive (hiding a deadlock) and move a virtual clock.
*/
void cr__group_cancelled(cr_group_t *g) {
  uint32_t i;
  cr_timer_stop(g->scope.engine, &g->stop_timer);
  drop_stop_reason(g);
  for (i = 0; i < g->starting_len; i++)
    if (g->starting[i].task) cr__scope_cancel_as_group(g->starting[i].task);
}

cr_end_t cr_group_close(cr_group_t *g, cr_scope_t **to) {
  cr_end_t end;
  if (to) *to = NULL;
  if (g->closed && !g->scope.entered) return CR_END_NORMAL;
  g->closed = 1;
  cr_timer_stop(g->scope.engine, &g->stop_timer);
  drop_stop_reason(g);
  wake_stop_waiters(g);
  end = cr_scope_leave(&g->scope, g->unwound, to);
  return g->nerrors || g->dropped ? CR_END_FAILED : end;
}

static void stop_cb(cr_timer_t *t) {
  cr_group_t *g = cr__queue_data(t, cr_group_t, stop_timer);
  void *reason = g->stop_cancel.reason;
  g->stop_cancel.reason = NULL;
  cr_scope_cancel(&g->scope, CR_SRC_STOP, g->stop_cancel.origin, reason);
}

int cr_group_stop(cr_group_t *g, double grace, uint64_t origin,
                  void *reason) {
  cr_engine_t *e = g->scope.engine;
  if (grace != grace) {                /* NaN: as for every deadline */
    cr__release(e, reason);
    return CR_EINVAL;
  }
  if (!g->closed && !g->stopping) {
    g->stopping = 1;
    wake_stop_waiters(g);
  }
  if (g->closed || g->scope.cancel_called) {
    cr__release(e, reason);
    return 0;
  }
  /* A second stop can only bring the end closer, and only the stop that
  ** sets the end speaks for the cancel it ends in: a later, more patient
  ** stop is not why anything was cancelled. */
  if (grace != 0 && cr_timer_armed(&g->stop_timer) &&
      (!(grace > 0) || isinf(grace) || cr_now(e) + grace >= g->stop_timer.when)) {
    cr__release(e, reason);
    return 0;
  }
  drop_stop_reason(g);
  g->stop_cancel.origin = origin;
  g->stop_cancel.reason = reason;
  if (grace == 0) {
    stop_cb(&g->stop_timer);
    return 0;
  }
  if (grace > 0 && !isinf(grace))
    return cr_timer_start(e, &g->stop_timer, cr_now(e) + grace);
  return 0;
}

double cr_group_stop_deadline(const cr_group_t *g) {
  return cr_timer_armed(&g->stop_timer) ? g->stop_timer.when : INFINITY;
}

int cr_group_wait_stopping(cr_group_t *g, cr_task_t *t) {
  if (g->stopping || g->closed) return 1;
  cr__wait_enter(t, &g->stop_waiters, CR_WAIT_STOPPING, g);
  cr_task_park_on(t, cr_task_abort_unlink, CR_WAIT_STOPPING, g);
  return 0;
}

/*
** A group keeps no list of its children: each child's own scope is in the
** group scope's children (next to the scopes its body entered, and to
** g:start children of other groups started from the body), except while a
** g:start child is starting: then it hangs below its starter's scope.
*/
static int is_child_of(const cr_scope_t *s, const cr_group_t *g) {
  return s->is_task && !cr_scope_owner(s)->finished &&
         cr_scope_owner(s)->group == g;
}

/* The first child of g still starting below another scope than g's, from
** slot i of g->starting. */
static cr_task_t *next_starting(cr_group_t *g, uint32_t i) {
  for (; i < g->starting_len; i++) {
    cr_task_t *c = g->starting[i].task;
    if (c && c->scope.parent != &g->scope) return c;
  }
  return NULL;
}

cr_task_t *cr_group_next_child(cr_group_t *g, cr_task_t *prev) {
  cr_scope_t *s = prev ? &prev->scope : NULL;
  if (prev && prev->scope.parent != &g->scope) {
    uint32_t i = starting_find(g, prev->scope.id);
    if (i < g->starting_len && g->starting[i].id == prev->scope.id) i++;
    return next_starting(g, i);
  }
  while ((s = cr_scope_next_child(g->scope.engine, &g->scope, s)) != NULL)
    if (is_child_of(s, g)) return cr_scope_owner(s);
  return next_starting(g, 0);
}
