/*
** sync.c -- events and semaphores (a lock is a semaphore of one).
*/
#include "internal.h"

static cr_task_t *pop_waiter(cr_queue_t *q) {
  cr_task_t *t = cr__queue_data(cr__queue_head(q), cr_task_t, wait_link);
  cr__queue_remove(&t->wait_link);
  return t;
}

void cr_event_init(cr_event_t *ev) {
  cr__queue_init(&ev->waiters);
  ev->is_set = 0;
}

int cr_event_wait(cr_event_t *ev, cr_task_t *t) {
  if (ev->is_set) return 1;
  cr__wait_enter(t, &ev->waiters, CR_WAIT_EVENT, ev);
  cr_task_park_on(t, cr_task_abort_unlink, CR_WAIT_EVENT, ev);
  return 0;
}

void cr_event_set(cr_event_t *ev) {
  if (ev->is_set) return;
  ev->is_set = 1;
  while (!cr__queue_empty(&ev->waiters)) cr_task_wake(pop_waiter(&ev->waiters), 0);
}

void cr_sem_init(cr_sem_t *s, size_t value, size_t max) {
  s->value = value;
  s->max = max;
  s->owner = 0;
  cr__queue_init(&s->waiters);
}

int cr_sem_try_acquire(cr_sem_t *s, uint64_t owner) {
  /* Invariant: value > 0 only while nobody waits (release hands off). */
  if (s->value == 0) return 0;
  s->value--;
  s->owner = owner;
  return 1;
}

int cr_sem_acquire(cr_sem_t *s, cr_task_t *t) {
  if (cr_sem_try_acquire(s, t->scope.id)) return 1;
  cr__wait_enter(t, &s->waiters, CR_WAIT_SEM, s);
  cr_task_park_on(t, cr_task_abort_unlink, CR_WAIT_SEM, s);
  return 0;
}

int cr_sem_release(cr_sem_t *s) {
  if (!cr__queue_empty(&s->waiters)) {
    cr_task_t *t = pop_waiter(&s->waiters);
    s->owner = t->scope.id;
    cr_task_wake(t, 0);              /* the permit is now t's */
    return 0;
  }
  if (s->max && s->value >= s->max) return CR_EINVAL;
  s->value++;
  s->owner = 0;
  return 0;
}

void cr_sem_break(cr_sem_t *s) {
  while (!cr__queue_empty(&s->waiters))
    cr_task_wake(pop_waiter(&s->waiters), CR_ECLOSED);
}

int cr_sem_has_waiters(const cr_sem_t *s) { return !cr__queue_empty(&s->waiters); }

size_t cr_sem_waiting(const cr_sem_t *s) { return cr__queue_count(&s->waiters); }

size_t cr_event_waiting(const cr_event_t *ev) {
  return cr__queue_count(&ev->waiters);
}
