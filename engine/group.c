/*
** group.c -- task groups: spawn, limit, join, failure policy and stop.
**
** A group is a scope (its first member) plus the children it joins. The
** body runs in the parent task inside the group's scope; each child's own
** scope hangs below it, so cancelling the group reaches every child, and a
** child's t:cancel() reaches only that child.
*/
#include "internal.h"

static void stop_cb(cr_timer_t *t);

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
  g->defer_errors = o->defer_errors ? 1 : 0;
  g->stopping = g->closed = g->body_done = 0;
  cr_timer_init(&g->stop_timer, stop_cb, g);
  cr__queue_init(&g->children);
  cr__queue_init(&g->pending);
  cr__queue_init(&g->stop_waiters);
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
  cr__queue_insert_tail(&g->children, &t->child_link);
  g->nchildren++;
  if (g->limit && g->nrunning >= g->limit) {
    t->pending = 1;
    t->status = CR_TASK_SCHEDULED;
    cr__queue_insert_tail(&g->pending, &t->runq);
  } else {
    g->nrunning++;
    cr__task_schedule(t);
  }
  if (t->pending && cr_scope_absorber(&g->scope)) cr__group_release(t);
  return 0;
}

/*
** A child held back by its group's limit starts at once, past the limit,
** when a cancel reaches it: it only runs to its first cancellation point,
** and waiting for a slot could wait for ever (g:start from a task that
** holds the last slot waits for a child that waits for that slot).
*/
void cr__group_release(cr_task_t *t) {
  cr_group_t *g = t->group;
  cr__queue_remove(&t->runq);
  t->pending = 0;
  g->nrunning++;
  cr__task_schedule(t);
}

void cr__group_child_done(cr_group_t *g, cr_task_t *t) {
  cr__queue_remove(&t->child_link);
  g->nchildren--;
  if (t->pending) {
    /* finished while still held back (cannot happen today, kept safe) */
    cr__queue_remove(&t->runq);
    t->pending = 0;
  } else {
    g->nrunning--;
  }
  while (!cr__queue_empty(&g->pending) &&
         (g->limit == 0 || g->nrunning < g->limit)) {
    cr_task_t *n = cr__queue_data(cr__queue_head(&g->pending), cr_task_t, runq);
    cr__queue_remove(&n->runq);
    n->pending = 0;
    g->nrunning++;
    cr__task_schedule(n);
  }
  if (g->nchildren == 0 && g->body_done && g->parent->abort == abort_refuse)
    cr_task_wake(g->parent, 0);
}

int cr_group_fail(cr_group_t *g, int fatal) {
  int keep = g->nerrors < g->max_errors;
  if (keep)
    g->nerrors++;
  else
    g->dropped++;
  if (fatal || !g->defer_errors) cr_scope_cancel(&g->scope, CR_SRC_FAILURE);
  return keep;
}

void cr_group_body_done(cr_group_t *g) { g->body_done = 1; }

int cr_group_join(cr_group_t *g) {
  if (g->nchildren == 0) return 0;
  cr_task_park(g->parent, abort_refuse);
  return 1;
}

void cr_group_close(cr_group_t *g) {
  if (g->closed && !g->scope.entered) return;
  g->closed = 1;
  cr_timer_stop(g->scope.engine, &g->stop_timer);
  while (!cr__queue_empty(&g->stop_waiters)) {
    cr_task_t *w = cr__queue_data(cr__queue_head(&g->stop_waiters),
                                  cr_task_t, wait_link);
    cr__queue_remove(&w->wait_link);
    cr_task_wake(w, 0);
  }
  cr_scope_exit(&g->scope);
}

static void stop_cb(cr_timer_t *t) {
  cr_group_t *g = t->data;
  cr_scope_cancel(&g->scope, CR_SRC_STOP);
}

int cr_group_stop(cr_group_t *g, double grace) {
  cr_engine_t *e = g->scope.engine;
  if (g->closed) return 0;
  if (!g->stopping) {
    g->stopping = 1;
    while (!cr__queue_empty(&g->stop_waiters)) {
      cr_task_t *w = cr__queue_data(cr__queue_head(&g->stop_waiters),
                                    cr_task_t, wait_link);
      cr__queue_remove(&w->wait_link);
      cr_task_wake(w, 0);
    }
  }
  if (grace == 0) {
    cr_scope_cancel(&g->scope, CR_SRC_STOP);
    return 0;
  }
  if (grace > 0 && !isinf(grace)) {
    double when = cr_now(e) + grace;
    /* A second stop can only bring the end closer. */
    if (!cr_timer_armed(&g->stop_timer) || when < g->stop_timer.when)
      return cr_timer_start(e, &g->stop_timer, when);
  }
  return 0;
}

int cr_group_wait_stopping(cr_group_t *g, cr_task_t *t) {
  if (g->stopping || g->closed) return 1;
  cr__queue_insert_tail(&g->stop_waiters, &t->wait_link);
  cr_task_park(t, cr_task_abort_unlink);
  return 0;
}
