/*
** signal.c -- waiting for signals. One uv_signal_t per signal number and
** engine, created on first wait; every waiter wakes on each arrival. Once
** a run has waited for a signal, that signal is handled (not fatal) until
** the engine closes.
*/
#include <stdlib.h>
#include "internal.h"

typedef struct {
  uv_signal_t h;
  cr_engine_t *e;
  int signum;
  cr_queue_t waiters;
  cr_queue_t link;
} sigwatch;

static void signal_cb(uv_signal_t *h, int signum) {
  sigwatch *w = h->data;
  (void)signum;
  while (!cr__queue_empty(&w->waiters)) {
    cr_task_t *t = cr__queue_data(cr__queue_head(&w->waiters), cr_task_t,
                                  wait_link);
    cr__queue_remove(&t->wait_link);
    cr_task_wake(t, 0);
  }
}

static void sigwatch_close_cb(uv_handle_t *h) {
  sigwatch *w = h->data;
  w->e->stats.handles--;
  free(w);
}

void cr__signal_close_all(cr_engine_t *e) {
  while (!cr__queue_empty(&e->sigwatchers)) {
    sigwatch *w = cr__queue_data(cr__queue_head(&e->sigwatchers), sigwatch,
                                 link);
    cr__queue_remove(&w->link);
    uv_close((uv_handle_t *)&w->h, sigwatch_close_cb);
  }
}

int cr_signal_wait(cr_engine_t *e, cr_task_t *t, int signum) {
  cr_queue_t *q;
  sigwatch *w = NULL;
  int rc;
  for (q = e->sigwatchers.next; q != &e->sigwatchers; q = q->next) {
    sigwatch *x = cr__queue_data(q, sigwatch, link);
    if (x->signum == signum) { w = x; break; }
  }
  if (w == NULL) {
    w = malloc(sizeof *w);
    if (w == NULL) return CR_ENOMEM;
    rc = uv_signal_init(e->loop, &w->h);
    if (rc) { free(w); return rc; }
    w->h.data = w;
    w->e = e;
    w->signum = signum;
    cr__queue_init(&w->waiters);
    e->stats.handles++;
    rc = uv_signal_start(&w->h, signal_cb, signum);
    if (rc) {
      uv_close((uv_handle_t *)&w->h, sigwatch_close_cb);
      return rc;
    }
    cr__queue_insert_tail(&e->sigwatchers, &w->link);
  }
  cr__queue_insert_tail(&w->waiters, &t->wait_link);
  cr_task_park(t, cr_task_abort_unlink);
  return 1;
}
