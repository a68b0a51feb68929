/*
** failing_alloc.h -- the lua_Alloc the allocation-failure tests share: it
** counts growing allocations and fails those from fail_at on (fail_len of
** them, or every later one when 0), and counts the live blocks, so a test
** can tell that nothing was left allocated once the state is closed.
*/
#ifndef FAILING_ALLOC_H
#define FAILING_ALLOC_H
#include <stdlib.h>

typedef struct {
  size_t count;      /* growing allocations since counting started */
  size_t fail_at;    /* 0 = never fail */
  size_t fail_len;   /* how many fail from fail_at on (0 = every later one) */
  long blocks;       /* live blocks */
} arena;

static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  arena *a = ud;
  if (nsize == 0) {
    if (ptr) {
      a->blocks--;
      free(ptr);
    }
    return NULL;
  }
  if (ptr == NULL || nsize > osize) {   /* Lua never lets a shrink fail */
    a->count++;
    if (a->fail_at && a->count >= a->fail_at &&
        (a->fail_len == 0 || a->count < a->fail_at + a->fail_len))
      return NULL;
  }
  if (ptr == NULL) {
    void *p = malloc(nsize);
    if (p) a->blocks++;
    return p;
  }
  return realloc(ptr, nsize);
}

#endif
