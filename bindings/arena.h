/*
** arena.h -- the `corral` command's allocator (arena.c). The command owns
** its Lua state, so it may give it an allocator built for many small,
** short-lived objects; `require "corral"` in a user's own lua5.4 keeps the
** user's allocator.
*/
#ifndef CORRAL_ARENA_H
#define CORRAL_ARENA_H
#include <stdatomic.h>
#include <lua.h>
#include <uv.h>

#define ARENA_MAX 1024                   /* larger blocks: the C library */

typedef struct {
  char *base, *cur, *end;                 /* the range; cur: next fresh */
  void *free[ARENA_MAX / 16 + 1];         /* a list per class (1..64) */
  /* the page-fault helper (arena.c): asks to fault pages in before cur
  ** reaches them, on another core */
  char *ask_at;                           /* cur past this: ask again */
  _Atomic(char *) want;                   /* fault in up to here */
  atomic_int stop;
  uv_sem_t sem;
  uv_thread_t thread;
  int helping;                            /* the thread runs */
  long pid;                               /* in this process (not a fork) */
} arena_t;

/* Make a (zeroed, living as long as the state) L's allocator, as the
** environment variable CORRAL_MALLOC says; nothing when it cannot. */
void arena_install(lua_State *L, arena_t *a);
/* After lua_close: stop the helper, give the range back. */
void arena_release(arena_t *a);

#endif
