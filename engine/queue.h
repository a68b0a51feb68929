/*
** queue.h -- intrusive circular doubly-linked lists (header only).
** Each object embeds a cr_queue_t; the head is a sentinel node. Insert and
** remove are O(1) and allocate nothing, so a cancelled waiter unlinks
** itself in constant time.
*/
#ifndef CORRAL_QUEUE_H
#define CORRAL_QUEUE_H

#include <stddef.h>
#include "corral.h"

#define cr__queue_data(ptr, type, field) \
  ((type *)((char *)(ptr) - offsetof(type, field)))

static inline void cr__queue_init(cr_queue_t *q) { q->next = q->prev = q; }

static inline int cr__queue_empty(const cr_queue_t *q) { return q->next == q; }

/* A node unlinked with cr__queue_remove points at itself. */
static inline int cr__queue_linked(const cr_queue_t *n) { return n->next != n; }

static inline void cr__queue_insert_tail(cr_queue_t *h, cr_queue_t *n) {
  n->next = h;
  n->prev = h->prev;
  n->prev->next = n;
  h->prev = n;
}

static inline void cr__queue_remove(cr_queue_t *n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->next = n->prev = n;
}

static inline cr_queue_t *cr__queue_head(const cr_queue_t *h) { return h->next; }

/* The number of nodes in the list headed by h (O(n): for introspection). */
static inline size_t cr__queue_count(const cr_queue_t *h) {
  size_t n = 0;
  const cr_queue_t *q;
  for (q = h->next; q != h; q = q->next) n++;
  return n;
}

#endif
