/*
** heap.c -- the engine's deadline heap: a 4-ary min-heap ordered by
** (when, seq), where seq breaks ties so timers due at the same instant
** fire in the order they were armed (the virtual clock is deterministic),
** or, in a seeded run, in an order drawn from the seed (cr__tie_key).
**
** Each slot holds a copy of its timer's key, so sifting compares within
** the array only; the timers, embedded in task and scope records spread
** over the heap of the process, are written (their slot index) but never
** read while sifting. With 100,000 sleeping tasks the pointer-chasing
** version spent most of its time in cache misses (bench W4). Four
** children per node halve the depth for the same comparisons per level.
**
** A slot names its timer through a dense table of entries (refs), and
** each move writes the slot's new position there: a write into the
** timer itself, one cache miss per level sifted, was most of the cost
** of firing 100,000 timers (bench W4). timer->index names the entry.
**
** The array grows by doubling: amortised O(1) per push, and a failed
** growth is reported as CR_ENOMEM. Any timer is removed in O(log n).
*/
#include <stdlib.h>
#include "internal.h"

#define ARITY 4

static int slot_less(const cr_heap_slot_t *a, const cr_heap_slot_t *b) {
  if (a->when != b->when) return a->when < b->when;
  return a->seq < b->seq;
}

static void place(cr_engine_t *e, size_t i, cr_heap_slot_t s) {
  e->heap[i] = s;
  e->refs[s.ref].pos = i;
}

static void sift_up(cr_engine_t *e, size_t i) {
  cr_heap_slot_t s = e->heap[i];
  while (i > 0) {
    size_t p = (i - 1) / ARITY;
    if (!slot_less(&s, &e->heap[p])) break;
    place(e, i, e->heap[p]);
    i = p;
  }
  place(e, i, s);
}

static void sift_down(cr_engine_t *e, size_t i) {
  cr_heap_slot_t s = e->heap[i];
  for (;;) {
    size_t first = ARITY * i + 1, last = first + ARITY, c, best = i;
    const cr_heap_slot_t *bs = &s;
    if (last > e->nheap) last = e->nheap;
    for (c = first; c < last; c++)
      if (slot_less(&e->heap[c], bs)) {
        best = c;
        bs = &e->heap[c];
      }
    if (best == i) break;
    place(e, i, e->heap[best]);
    i = best;
  }
  place(e, i, s);
}

int cr__heap_push(cr_engine_t *e, cr_timer_t *t, uint64_t seq) {
  size_t r;
  if (e->nheap == e->heapcap) {
    size_t cap = e->heapcap ? e->heapcap * 2 : 64;
    cr_heap_slot_t *h = realloc(e->heap, cap * sizeof *h);
    if (h == NULL) return CR_ENOMEM;
    e->heap = h;
    e->heapcap = cap;
  }
  if (e->free_ref == 0 && e->nrefs == e->refcap) {
    size_t cap = e->refcap ? e->refcap * 2 : 64;
    cr_heap_ref_t *h = realloc(e->refs, cap * sizeof *h);
    if (h == NULL) return CR_ENOMEM;
    e->refs = h;
    e->refcap = cap;
  }
  if (e->free_ref) {
    r = e->free_ref - 1;
    e->free_ref = e->refs[r].pos;
  } else {
    r = e->nrefs++;
  }
  e->refs[r].timer = t;
  t->index = r;
  e->heap[e->nheap].when = t->when;
  e->heap[e->nheap].seq = cr__tie_key(e, seq);
  e->heap[e->nheap].ref = r;
  e->heap[e->nheap].armed = seq;
  e->refs[r].pos = e->nheap++;
  sift_up(e, e->nheap - 1);
  return 0;
}

void cr__heap_remove(cr_engine_t *e, cr_timer_t *t) {
  size_t r = t->index, i = e->refs[r].pos;
  cr_heap_slot_t last = e->heap[--e->nheap];
  t->index = CR__NOT_ARMED;
  e->refs[r].timer = NULL;
  e->refs[r].pos = e->free_ref;
  e->free_ref = r + 1;
  if (last.ref == r) return;
  place(e, i, last);
  if (i > 0 && slot_less(&last, &e->heap[(i - 1) / ARITY]))
    sift_up(e, i);
  else
    sift_down(e, i);
}

void cr__heap_free(cr_engine_t *e) {
  free(e->heap);
  e->heap = NULL;
  e->nheap = e->heapcap = 0;
  free(e->refs);
  e->refs = NULL;
  e->nrefs = e->refcap = e->free_ref = 0;
}
