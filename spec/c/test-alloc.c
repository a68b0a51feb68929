/*
** test-alloc.c -- libuv's allocations under corral's guard: a failure is
** retried after the reserve is freed (libuv does not abort) and reported
** by the engine as CR_ENOMEM at its next step, once.
*/
#include <stdio.h>
#include <string.h>
#include <netdb.h>
#include "ctask.h"

#define CHECK(c) do { if (!(c)) { \
  fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
  return 1; } } while (0)

typedef struct {
  cr_task_t t;
  int step, resolved;
} rtask;

static void resolve_run(cr_task_t *t) {
  rtask *r = (rtask *)t;
  if (r->step++ == 0) {
    cr_alloc_fail_next(1);             /* libuv's next allocation fails */
    if (cr_resolve(cr_task_engine(t), t, "127.0.0.1") == 1) return;
    cr_task_done(t, CR_TASK_FAILED);
    return;
  }
  if (t->wake_status == 0 && t->xfer) {
    r->resolved = 1;
    uv_freeaddrinfo(t->xfer);
  }
  cr_task_done(t, CR_TASK_DONE);
}

int main(void) {
  cr_engine_t e;
  rtask r;
  int rc, enomem = 0;
  memset(&r, 0, sizeof r);
  cr_alloc_guard_libuv();
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_REAL) == 0);
  TASK_INIT(&e, &r.t, resolve_run);
  cr_task_start_root(&r.t);
  while ((rc = cr_engine_step(&e, 1)) != 0) {
    if (rc == CR_ENOMEM) enomem++;
    else CHECK(rc == 1);
  }
  CHECK(enomem == 1);                  /* reported once, not aborted */
  CHECK(r.resolved == 1);              /* the retried allocation worked */
  CHECK(cr_engine_close(&e) == 0);
  cr_alloc_refill();                   /* the spent reserve is set aside */
  cr_alloc_unguard_libuv();            /* libc's allocator back, reserve freed */
  printf("ok   a failed libuv allocation is retried and reported\n");
  return 0;
}
