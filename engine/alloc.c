/*
** alloc.c -- libuv's allocations, so that running out of memory inside
** libuv is reported instead of aborting the process.
**
** libuv aborts when it cannot grow some internal arrays (its table of fd
** watchers, for one). corral.run routes libuv's allocations through here:
** when an allocation fails, a reserve set aside beforehand is freed and
** the allocation retried, and the failure is counted; the engine on the
** failing thread then reports CR_ENOMEM at its next step, and corral.run
** raises "not enough memory" (the tasks are abandoned, as when an error
** escapes the scheduler). `require "corral"` in someone else's process
** leaves libuv's allocator alone.
**
** libuv's allocator is process-wide by libuv's design, so this is the one
** piece of state corral shares between engines: the reserve (an atomic
** pointer) and the choice of allocator (counted holders; the last one
** restores libc's). The failure count is per thread, so an engine never
** reports another thread's failure. Only a program that owns libuv's
** allocator should hold the guard: the corral command does; the Lua
** module and the host API do not.
*/
#include <stdatomic.h>
#include <stdlib.h>
#include "internal.h"

#define RESERVE_SIZE (256 * 1024)

static void *_Atomic reserve;
static atomic_int users;                 /* holders of the guard */
static _Thread_local unsigned long failures;
static _Thread_local int fail_next;      /* tests: fail this many first */

/* An allocation failed: free the reserve so a retry can succeed. */
static int give_reserve(void) {
  void *r = atomic_exchange(&reserve, NULL);
  failures++;
  free(r);
  return r != NULL;
}

/* Injected failures first (tests), then the real allocator. */
static int injected(void) {
  if (fail_next <= 0) return 0;
  fail_next--;
  return 1;
}

static void *guard_malloc(size_t n) {
  void *p = injected() ? NULL : malloc(n);
  if (p == NULL && n && give_reserve()) p = malloc(n);
  return p;
}

static void *guard_realloc(void *old, size_t n) {
  void *p = injected() ? NULL : realloc(old, n);
  if (p == NULL && n && give_reserve()) p = realloc(old, n);
  return p;
}

static void *guard_calloc(size_t count, size_t n) {
  void *p = injected() ? NULL : calloc(count, n);
  if (p == NULL && count && n && give_reserve()) p = calloc(count, n);
  return p;
}

/* Set the reserve aside again if it was spent. */
void cr_alloc_refill(void) {
  void *expected = NULL, *r;
  if (atomic_load(&users) == 0 || atomic_load(&reserve) != NULL) return;
  r = malloc(RESERVE_SIZE);
  if (r && !atomic_compare_exchange_strong(&reserve, &expected, r)) free(r);
}

/*
** Counted: the first holder installs the guard, the last one puts libc's
** allocator back and frees the reserve, so nothing points into corral's
** code once the module is unloaded (dlclose when the last Lua state that
** required it closes). Functions and memory are libc's either way, so
** blocks cross the switch safely.
*/
void cr_alloc_guard_libuv(void) {
  if (atomic_fetch_add(&users, 1) == 0)
    uv_replace_allocator(guard_malloc, guard_realloc, guard_calloc, free);
  cr_alloc_refill();
}

void cr_alloc_unguard_libuv(void) {
  if (atomic_fetch_sub(&users, 1) != 1) return;
  uv_replace_allocator(malloc, realloc, calloc, free);
  free(atomic_exchange(&reserve, NULL));
}

unsigned long cr__alloc_failures(void) { return failures; }

void cr_alloc_fail_next(int n) { fail_next = n; }
