/*
** arena.c -- the `corral` command's allocator: a Lua state of many small,
** short-lived objects (a task is a coroutine, its stack, a few call
** frames and a userdata).
**
** Blocks of at most ARENA_MAX bytes come from one reserved range of
** address space, in 16-byte size classes: no per-block header, a freed
** block is reused before a fresh page is touched. Larger blocks, and
** every block once the range is used up, go to the C library; a block
** belongs to the arena iff its address is in the range, so the two never
** mix up. Failure is Lua's ordinary "not enough memory": a shrink never
** fails (Lua relies on that), a block that cannot move stays where it is.
**
** The first touch of a fresh page costs the kernel's fault and zeroing,
** as much as the rest of a spawn. A helper thread faults the pages just
** ahead of the fresh end in (MADV_POPULATE_WRITE), on another core, while
** the Lua thread works: a burst of spawns then writes to pages that are
** there already. The helper only ever calls madvise on the range, never
** reads or writes a block, and runs PREFAULT_AHEAD bytes ahead at most
** (that much resident memory may go unused). CORRAL_MALLOC=arena keeps
** the arena without the helper; =huge asks for transparent huge pages on
** the range; =system turns the arena off.
*/
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "arena.h"

#define ARENA_RESERVE ((size_t)1 << 36)   /* 64 GiB of address space */
#define PREFAULT_AHEAD ((size_t)512 << 10)
#define PREFAULT_STEP ((size_t)32 << 10)  /* ask again after this much */
#define PAGE_DOWN(p) ((char *)((uintptr_t)(p) & ~(uintptr_t)4095))

static size_t arena_class(size_t n) { return (n + 15) >> 4; }

static int in_arena(const arena_t *a, const void *p) {
  return (const char *)p >= a->base && (const char *)p < a->end;
}

/* The fresh end passed the last request: ask the helper for more. */
static void ask_helper(arena_t *a) {
  char *want = a->cur + PREFAULT_AHEAD;
  a->ask_at = a->cur + PREFAULT_STEP;
  atomic_store_explicit(&a->want, want < a->end ? want : a->end,
                        memory_order_release);
  uv_sem_post(&a->sem);
}

static void *arena_get(arena_t *a, size_t n) {
  size_t c = arena_class(n);
  void *p = a->free[c];
  if (p != NULL) {
    a->free[c] = *(void **)p;
    return p;
  }
  if ((size_t)(a->end - a->cur) < (c << 4)) return malloc(n);
  p = a->cur;
  a->cur += c << 4;
  if (a->helping && a->cur > a->ask_at) ask_helper(a);
  return p;
}

static void arena_put(arena_t *a, void *p, size_t n) {
  size_t c = arena_class(n);
  *(void **)p = a->free[c];
  a->free[c] = p;
}

static void *arena_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  arena_t *a = ud;
  void *p;
  if (ptr == NULL) {                      /* osize is a type tag */
    if (nsize == 0) return NULL;
    return nsize <= ARENA_MAX ? arena_get(a, nsize) : malloc(nsize);
  }
  if (!in_arena(a, ptr)) {
    if (nsize == 0) {
      free(ptr);
      return NULL;
    }
    p = realloc(ptr, nsize);
    return p == NULL && nsize <= osize ? ptr : p;
  }
  if (nsize == 0) {
    arena_put(a, ptr, osize);
    return NULL;
  }
  if (nsize <= ARENA_MAX && arena_class(nsize) == arena_class(osize))
    return ptr;
  p = nsize <= ARENA_MAX ? arena_get(a, nsize) : malloc(nsize);
  if (p == NULL) return nsize <= osize ? ptr : NULL;
  memcpy(p, ptr, nsize < osize ? nsize : osize);
  arena_put(a, ptr, osize);
  return p;
}

/*
** The helper: fault in what the Lua thread asked for, from where it got
** to last. Pages the Lua thread touched first are simply there already.
** A kernel without MADV_POPULATE_WRITE (before Linux 5.14) ends it.
*/
static void helper_main(void *arg) {
#ifdef MADV_POPULATE_WRITE
  arena_t *a = arg;
  char *done = a->base;
  for (;;) {
    char *want;
    uv_sem_wait(&a->sem);
    if (atomic_load(&a->stop)) return;
    want = atomic_load_explicit(&a->want, memory_order_acquire);
    if (want <= done) continue;
    if (madvise(done, (size_t)(want - done), MADV_POPULATE_WRITE) != 0 &&
        errno != EINTR && errno != EAGAIN && errno != ENOMEM)
      return;                   /* not supported: the Lua thread faults */
    done = PAGE_DOWN(want);
  }
#else
  (void)arg;
#endif
}

/* Start the helper with every signal blocked: they go to the Lua thread. */
static void start_helper(arena_t *a) {
  sigset_t all, old;
  if (uv_sem_init(&a->sem, 0) != 0) return;
  atomic_init(&a->want, a->base);
  atomic_init(&a->stop, 0);
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  a->helping = uv_thread_create(&a->thread, helper_main, a) == 0;
  a->pid = (long)getpid();
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (!a->helping) {
    uv_sem_destroy(&a->sem);
    return;
  }
  ask_helper(a);
}

void arena_install(lua_State *L, arena_t *a) {
  const char *opt = getenv("CORRAL_MALLOC");
  void *base;
  if (opt != NULL && *opt == '\0') opt = NULL;      /* set empty: unset */
  if (opt != NULL && strcmp(opt, "system") != 0 && strcmp(opt, "arena") != 0 &&
      strcmp(opt, "huge") != 0) {
    fprintf(stderr, "corral: CORRAL_MALLOC=%s is none of system, arena, huge: "
            "the default allocator is used\n", opt);
    opt = NULL;
  }
  if (opt != NULL && strcmp(opt, "system") == 0) return;
#if defined(__SANITIZE_ADDRESS__)
  return;                                 /* let ASan see every block */
#endif
  base = mmap(NULL, ARENA_RESERVE, PROT_READ | PROT_WRITE,
              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) return;         /* e.g. ulimit -v: the C library */
#ifdef MADV_HUGEPAGE
  if (opt != NULL && strcmp(opt, "huge") == 0)
    madvise(base, ARENA_RESERVE, MADV_HUGEPAGE);
#endif
  a->base = a->cur = base;
  a->end = a->base + ARENA_RESERVE;
  lua_setallocf(L, arena_alloc, a);
  if (opt == NULL || strcmp(opt, "arena") != 0) start_helper(a);
}

/* A child of fork (luaposix, say) has the arena but not the thread. */
void arena_release(arena_t *a) {
  if (a->helping && a->pid == (long)getpid()) {
    atomic_store(&a->stop, 1);
    uv_sem_post(&a->sem);
    uv_thread_join(&a->thread);
    uv_sem_destroy(&a->sem);
  }
  if (a->base != NULL) munmap(a->base, ARENA_RESERVE);
  memset(a, 0, sizeof *a);
}
