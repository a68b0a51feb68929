/*
** chan.c -- channels: which value goes where. The engine decides the
** hand-off; the binding moves the values (the engine knows no Lua).
**
** Invariants: receivers wait only while the buffer is empty; senders wait
** only while it is full (for a rendezvous channel: always, until a
** receiver comes). So a newcomer never overtakes a waiter.
*/
#include "internal.h"

static cr_task_t *pop_waiter(cr_queue_t *q) {
  cr_task_t *t = cr__queue_data(cr__queue_head(q), cr_task_t, wait_link);
  cr__queue_remove(&t->wait_link);
  return t;
}

void cr_chan_init(cr_chan_t *c, size_t cap) {
  c->cap = cap;
  c->count = c->head = 0;
  cr__queue_init(&c->senders);
  cr__queue_init(&c->receivers);
  c->closed = 0;
}

cr_chan_result_t cr_chan_send(cr_chan_t *c, cr_task_t *t, cr_task_t **peer,
                              size_t *slot) {
  if (c->closed) return CR_CHAN_CLOSED;
  if (!cr__queue_empty(&c->receivers)) {
    *peer = pop_waiter(&c->receivers);
    cr_task_wake(*peer, 0);
    return CR_CHAN_HANDOFF;
  }
  if (c->count < c->cap) {
    *slot = (c->head + c->count++) % c->cap;
    return CR_CHAN_BUFFERED;
  }
  if (t == NULL) return CR_CHAN_WOULDBLOCK;
  cr__wait_enter(t, &c->senders, CR_WAIT_SEND, c);
  cr_task_park_on(t, cr_task_abort_unlink, CR_WAIT_SEND, c);
  return CR_CHAN_PARKED;
}

int cr_chan_next_slot(const cr_chan_t *c, size_t *slot) {
  if (c->closed || !cr__queue_empty(&c->receivers) || c->count >= c->cap)
    return 0;
  *slot = (c->head + c->count) % c->cap;
  return 1;
}

cr_chan_result_t cr_chan_recv(cr_chan_t *c, cr_task_t *t, cr_task_t **peer,
                              size_t *slot) {
  if (c->count > 0) {
    *slot = c->head;
    c->head = (c->head + 1) % c->cap;
    c->count--;
    return CR_CHAN_BUFFERED;
  }
  if (!cr__queue_empty(&c->senders)) {     /* rendezvous */
    *peer = pop_waiter(&c->senders);
    cr_task_wake(*peer, 0);
    return CR_CHAN_HANDOFF;
  }
  if (c->closed) return CR_CHAN_CLOSED;
  if (t == NULL) return CR_CHAN_WOULDBLOCK;
  cr__wait_enter(t, &c->receivers, CR_WAIT_RECV, c);
  cr_task_park_on(t, cr_task_abort_unlink, CR_WAIT_RECV, c);
  return CR_CHAN_PARKED;
}

int cr_chan_refill(cr_chan_t *c, cr_task_t **peer, size_t *slot) {
  if (cr__queue_empty(&c->senders) || c->count >= c->cap) return 0;
  *peer = pop_waiter(&c->senders);
  *slot = (c->head + c->count++) % c->cap;
  cr_task_wake(*peer, 0);
  return 1;
}

int cr_chan_rebase(cr_chan_t *c) {
  if (c->count != 0) return CR_EINVAL;
  c->head = 0;
  return 0;
}

void cr_chan_close(cr_chan_t *c) {
  if (c->closed) return;
  c->closed = 1;
  while (!cr__queue_empty(&c->senders))
    cr_task_wake(pop_waiter(&c->senders), CR_ECLOSED);
  while (!cr__queue_empty(&c->receivers))
    cr_task_wake(pop_waiter(&c->receivers), CR_ECLOSED);
}

size_t cr_chan_senders_waiting(const cr_chan_t *c) {
  return cr__queue_count(&c->senders);
}

size_t cr_chan_receivers_waiting(const cr_chan_t *c) {
  return cr__queue_count(&c->receivers);
}
