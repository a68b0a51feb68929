/*
** test-stream-claim.c -- a reader that data woke keeps its stream until it
** runs (one reader at a time while bytes wait), and lets go of it whatever
** it does then.
**
** Broke (a first version): the claim lasted until the task read again, in
** t->xfer, which a sleep's alarm takes over: a C task woken from a read
** that slept instead (cancelled, say) crashed the engine at its end, or at
** the stream's close while it slept.
*/
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "ctask.h"

#define CHECK(c) do { if (!(c)) { \
  fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
  return 1; } } while (0)

typedef struct {
  cr_task_t t;
  int step, status, close_while_sleeping;
  cr_listener_t *l;
  cr_stream_t **s;
  char got[16];
} job;

static void accept_run(cr_task_t *t) {
  job *a = (job *)t;
  if (a->step++ == 0) {
    a->status = cr_tcp_accept(a->l, t, a->s);
    if (a->status == 1) return;
  } else {
    a->status = t->wake_status;
    if (a->status == 0) *a->s = t->xfer;
  }
  cr_task_done(t, CR_TASK_DONE);
}

/* Parks in a read; woken by data, sleeps instead of reading, then ends. */
static void sleeper_run(cr_task_t *t) {
  job *r = (job *)t;
  const char *p;
  size_t n;
  switch (r->step++) {
  case 0:
    r->status = cr_stream_read(*r->s, t, &p, &n);
    if (r->status == 1) return;
    break;
  case 1:
    r->status = t->wake_status;
    (void)cr_task_sleep(t, cr_now(t->scope.engine) + 0.01);
    if (r->close_while_sleeping) {
      cr_io_close(&(*r->s)->io);
      *r->s = NULL;
    }
    return;
  default:
    break;
  }
  cr_task_done(t, CR_TASK_DONE);
}

/* Reads what there is. */
static void reader_run(cr_task_t *t) {
  job *r = (job *)t;
  const char *p;
  size_t n;
  r->status = cr_stream_read(*r->s, t, &p, &n);
  if (r->status == 1) return;
  if (r->status == 0) {
    memcpy(r->got, p, n < sizeof r->got - 1 ? n : sizeof r->got - 1);
    cr_stream_consume(*r->s, n);
  }
  cr_task_done(t, CR_TASK_DONE);
}

static int woken_reader_sleeps(int close_while_sleeping) {
  cr_engine_t e;
  cr_listener_t *l;
  cr_stream_t *s = NULL;
  struct sockaddr_in sa;
  job a, r, r2;
  int fd;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_REAL) == 0);
  CHECK(cr_tcp_listen(&e, (struct sockaddr *)&sa, 16, &l) == 0);
  fd = socket(AF_INET, SOCK_STREAM, 0);
  sa.sin_port = htons((unsigned short)l->port);
  CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  memset(&a, 0, sizeof a);
  a.l = l;
  a.s = &s;
  TASK_INIT(&e, &a.t, accept_run);
  CHECK(cr_task_start_root(&a.t) == 0);
  CHECK(drain(&e) == 0 && s != NULL);
  memset(&r, 0, sizeof r);
  r.s = &s;
  r.close_while_sleeping = close_while_sleeping;
  TASK_INIT(&e, &r.t, sleeper_run);
  CHECK(cr_task_start_root(&r.t) == 0);
  cr_engine_step(&e, 0);                 /* r parks in its read */
  CHECK(r.status == 1);
  CHECK(write(fd, "hello", 5) == 5);
  CHECK(drain(&e) == 0);                 /* woken, slept, ended */
  CHECK(r.step == 3 && r.status == 0);
  if (!close_while_sleeping) {           /* the bytes are still there */
    memset(&r2, 0, sizeof r2);
    r2.s = &s;
    TASK_INIT(&e, &r2.t, reader_run);
    CHECK(cr_task_start_root(&r2.t) == 0);
    CHECK(drain(&e) == 0);
    CHECK(r2.status == 0 && strcmp(r2.got, "hello") == 0);
    cr_io_close(&s->io);
  }
  cr_io_close(&l->io);
  CHECK(drain(&e) == 0);
  CHECK(cr_engine_close(&e) == 0);
  close(fd);
  return 0;
}

static int test_sleeps_instead(void) { return woken_reader_sleeps(0); }
static int test_closed_while_it_sleeps(void) { return woken_reader_sleeps(1); }

int main(void) {
  int failed = 0, i;
  struct { const char *name; int (*fn)(void); } tests[] = {
    {"a reader woken by data that sleeps instead lets go of the stream",
     test_sleeps_instead},
    {"its stream closed while it sleeps", test_closed_while_it_sleeps},
  };
  for (i = 0; i < (int)(sizeof tests / sizeof tests[0]); i++) {
    int rc = tests[i].fn();
    printf("%s %s\n", rc ? "FAIL" : "ok  ", tests[i].name);
    failed += rc != 0;
  }
  printf("%d passed, %d failed\n", (int)(sizeof tests / sizeof tests[0]) - failed,
         failed);
  return failed != 0;
}
