/*
** heap.c -- the engine's deadline heap: a binary min-heap of timer
** pointers ordered by (when, seq). Each timer remembers its slot, so any
** timer is removed in O(log n) and 100,000 sleeping tasks cost one slot
** each plus one uv_timer for the whole engine.
**
** The array grows by doubling; that is the only allocation, amortised O(1)
** per push, and a failed growth is reported as CR_ENOMEM.
*/
#include <stdlib.h>
#include "internal.h"

static int timer_less(const cr_timer_t *a, const cr_timer_t *b) {
  if (a->when != b->when) return a->when < b->when;
  return a->seq < b->seq;
}

static void heap_set(cr_engine_t *e, size_t i, cr_timer_t *t) {
  e->heap[i] = t;
  t->index = i;
}

static void sift_up(cr_engine_t *e, size_t i) {
  cr_timer_t *t = e->heap[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!timer_less(t, e->heap[p])) break;
    heap_set(e, i, e->heap[p]);
    i = p;
  }
  heap_set(e, i, t);
}

static void sift_down(cr_engine_t *e, size_t i) {
  cr_timer_t *t = e->heap[i];
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    cr_timer_t *best = t;
    if (l < e->nheap && timer_less(e->heap[l], best)) { m = l; best = e->heap[l]; }
    if (r < e->nheap && timer_less(e->heap[r], best)) { m = r; best = e->heap[r]; }
    if (m == i) break;
    heap_set(e, i, best);
    i = m;
  }
  heap_set(e, i, t);
}

int cr__heap_push(cr_engine_t *e, cr_timer_t *t) {
  if (e->nheap == e->heapcap) {
    size_t cap = e->heapcap ? e->heapcap * 2 : 64;
    cr_timer_t **h = realloc(e->heap, cap * sizeof *h);
    if (h == NULL) return CR_ENOMEM;
    e->heap = h;
    e->heapcap = cap;
  }
  heap_set(e, e->nheap++, t);
  sift_up(e, t->index);
  return 0;
}

void cr__heap_remove(cr_engine_t *e, cr_timer_t *t) {
  size_t i = t->index;
  cr_timer_t *last = e->heap[--e->nheap];
  t->index = CR__NOT_ARMED;
  if (last == t) return;
  heap_set(e, i, last);
  if (i > 0 && timer_less(last, e->heap[(i - 1) / 2]))
    sift_up(e, i);
  else
    sift_down(e, i);
}

void cr__heap_free(cr_engine_t *e) {
  free(e->heap);
  e->heap = NULL;
  e->nheap = e->heapcap = 0;
}
