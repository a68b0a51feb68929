/*
** test-engine-misuse.c -- the engine's C API used as a host may use it,
** not only as the Lua binding does (a hostile pass over engine/corral.h):
** each test is named after what broke.
**
** - cr_engine_abandon left a task parked in a read or a connect named by
**   its stream (and one in a write or a lookup by its request): a host
**   that freed the task, as abandon allows, had it written to by
**   cr_engine_close (a use after free under ASan).
** - cr_task_done of a task whose group it never joined made the group's
**   live children roots, but they still named the group: the host freed
**   the finished task, and their own cr_task_done reported to it.
** - After cr_engine_close, a timer could be armed (and leaked), and a
**   listener, a process or the root policy used the closed loop.
** - A reason given to the cancel of a task that never started was never
**   released.
** - cr_err_name and cr_strerror of a code libuv does not know returned a
**   string libuv allocated on each call (never freed).
** - cr_group_stop took a NaN grace for "wait for ever".
** - cr_engine_close from the attach callback of an engine on a loop of its
**   own ran and closed that loop inside its own uv_run (a crash there);
**   then, in the window until the second close, a listener or a timer
**   could still be made (the second close crashed, or never succeeded).
** - A child of that group still waiting for a slot (limit) never ran.
*/
#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ctask.h"

#define CHECK(c) do { if (!(c)) { \
  fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
  return 1; } } while (0)
/* (in a task's run callback: the test's own checks then fail) */
#define CHECK_VOID(c) do { if (!(c)) { \
  fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
  return; } } while (0)

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", port, &a);
  return a;
}

/* --- abandon, then free the task ------------------------------------- */

typedef struct {
  cr_task_t t;
  int step;
  cr_stream_t *s;
  int port;
} reader;

/* Connect to the listener's port, then read from the stream for ever. */
static void read_forever(cr_task_t *t) {
  reader *r = (reader *)t;
  const char *p;
  size_t n;
  struct sockaddr_in a = loopback(r->port);
  if (r->step++ == 0) {
    if (cr_tcp_connect(cr_task_engine(t), t, (struct sockaddr *)&a, &r->s) == 1)
      return;
  }
  if (cr_stream_read(r->s, t, &p, &n) == 1) return;
  cr_task_done(t, CR_TASK_DONE);
}

static int test_abandon_lets_go_of_a_reader_the_host_frees(void) {
  cr_engine_t e;
  cr_listener_t *l;
  struct sockaddr_in a = loopback(0);
  reader *r = calloc(1, sizeof *r);
  int i;
  CHECK(r != NULL);
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_REAL) == 0);
  CHECK(cr_tcp_listen(&e, (struct sockaddr *)&a, 4, &l) == 0);
  r->port = l->port;
  TASK_INIT(&e, &r->t, read_forever);
  CHECK(cr_task_start_root(&r->t) == 0);
  for (i = 0; i < 200 && r->t.wait != CR_WAIT_READ; i++) cr_engine_step(&e, 0);
  CHECK(r->t.wait == CR_WAIT_READ);                 /* connected, reading */
  cr_engine_abandon(&e);
  CHECK(r->s->reader == NULL);                      /* it let go */
  free(r);                                           /* as abandon allows */
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* --- a group never joined -------------------------------------------- */

typedef struct {
  cr_task_t t;
  cr_group_t g;
  cr_task_t kid;
} leaver;

static void kid_parks(cr_task_t *t) { cr_task_park(t, cr_task_abort_unlink); }

/* Open group g in task t: no deadline, at most `limit` children at once. */
static void open_group(cr_task_t *t, cr_group_t *g, size_t limit) {
  cr_group_opts_t o;
  memset(&o, 0, sizeof o);
  o.deadline = INFINITY;
  o.limit = limit;
  cr_group_init(t, g, &o);
}

/* Opens a group, spawns a child that parks, and ends without joining. */
static void leave_unjoined(cr_task_t *t) {
  leaver *v = (leaver *)t;
  open_group(t, &v->g, 0);
  TASK_INIT(cr_task_engine(t), &v->kid, kid_parks);
  cr_group_spawn(&v->g, &v->kid);
  cr_task_done(t, CR_TASK_DONE);
}

static int test_done_with_live_children_lets_them_forget_the_group(void) {
  cr_engine_t e;
  leaver *v = calloc(1, sizeof *v);
  cr_task_t *kid;
  CHECK(v != NULL);
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  TASK_INIT(&e, &v->t, leave_unjoined);
  CHECK(cr_task_start_root(&v->t) == 0);
  CHECK(cr_engine_step(&e, 0) == CR_EDEADLOCK);    /* the child parked */
  kid = malloc(sizeof *kid);
  CHECK(kid != NULL);
  CHECK(v->kid.group == NULL);                      /* a root now */
  memcpy(kid, &v->kid, sizeof *kid);                /* (it is v's memory) */
  cr_engine_abandon(&e);
  cr_task_done(&v->kid, CR_TASK_CANCELLED);         /* reports to nobody */
  free(kid);
  free(v);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* A child still waiting for a slot of the group (limit 1) when its
** owner finished without joining: it never ran, and sat in the freed
** group's queue (abandon then wrote there). It starts now, as a root. */
typedef struct {
  cr_task_t t;
  cr_group_t g;
  cr_task_t kids[2];
} limited_leaver;

static int kid_runs;
static void kid_counts(cr_task_t *t) {
  kid_runs++;
  cr_task_done(t, CR_TASK_DONE);
}

static void leave_with_a_waiting_child(cr_task_t *t) {
  limited_leaver *v = (limited_leaver *)t;
  int i;
  open_group(t, &v->g, 1);
  for (i = 0; i < 2; i++) {
    TASK_INIT(cr_task_engine(t), &v->kids[i], kid_counts);
    cr_group_spawn(&v->g, &v->kids[i]);
  }
  CHECK_VOID(v->kids[1].pending);
  cr_task_done(t, CR_TASK_DONE);
}

static int test_a_child_waiting_for_a_slot_of_a_forsaken_group_runs(void) {
  cr_engine_t e;
  limited_leaver *v = calloc(1, sizeof *v);
  CHECK(v != NULL);
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  kid_runs = 0;
  TASK_INIT(&e, &v->t, leave_with_a_waiting_child);
  CHECK(cr_task_start_root(&v->t) == 0);
  CHECK(drain(&e) == 0);
  CHECK(kid_runs == 2);
  CHECK(v->kids[1].group == NULL);
  free(v);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* --- a closed engine ------------------------------------------------- */

static int test_a_closed_engine_refuses_what_would_use_its_loop(void) {
  cr_engine_t e;
  cr_timer_t tm;
  cr_listener_t *l = NULL;
  cr_proc_t *p = NULL;
  cr_proc_opts_t po;
  struct sockaddr_in a = loopback(0);
  const char *argv[] = {"true", NULL};
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  CHECK(cr_engine_close(&e) == 0);
  memset(&tm, 0, sizeof tm);
  cr_timer_init(&tm, NULL);
  CHECK(cr_timer_start(&e, &tm, 1.0) == CR_EINVAL);
  CHECK(!cr_timer_armed(&tm));
  CHECK(cr_tcp_listen(&e, (struct sockaddr *)&a, 4, &l) == CR_EINVAL);
  CHECK(l == NULL);
  memset(&po, 0, sizeof po);
  po.file = "true";
  po.args = (char **)argv;
  CHECK(cr_proc_spawn(&e, &po, &p) == CR_EINVAL);
  CHECK(cr_signal_root(&e, NULL, NULL) == CR_EINVAL);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* --- a reason for a task that never ran ------------------------------ */

static int releases;
static void count_release(cr_engine_t *e, void *reason) {
  (void)e;
  (void)reason;
  releases++;
}

static void never_runs(cr_task_t *t) { cr_task_done(t, CR_TASK_DONE); }

static int test_a_reason_for_a_task_that_never_ran_is_released(void) {
  cr_engine_t e;
  cr_task_t t;
  static int reason;
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  e.release = count_release;
  releases = 0;
  TASK_INIT(&e, &t, never_runs);
  CHECK(cr_scope_cancel(&t.scope, CR_SRC_EXPLICIT, 0, &reason) == 1);
  cr_task_done(&t, CR_TASK_CANCELLED);               /* never started */
  CHECK(releases == 1);
  CHECK(cr_engine_close(&e) == 0);
  CHECK(releases == 1);
  return 0;
}

/* --- names, NaN grace ------------------------------------------------ */

static int test_unknown_codes_have_a_static_name(void) {
  CHECK(strcmp(cr_err_name(-4096), "unknown") == 0);
  CHECK(strcmp(cr_strerror(-4096), "unknown error") == 0);
  CHECK(strcmp(cr_err_name(UV_ECONNREFUSED), "ECONNREFUSED") == 0);
  return 0;
}

typedef struct {
  cr_task_t t;
  cr_group_t g;
  int stop_rc;
} stopper;

static void stop_with_nan(cr_task_t *t) {
  stopper *s = (stopper *)t;
  open_group(t, &s->g, 0);
  s->stop_rc = cr_group_stop(&s->g, NAN, 0, &s->stop_rc);
  cr_group_body_done(&s->g, CR_END_NORMAL);
  if (cr_group_join(&s->g)) return;
  cr_group_close(&s->g, NULL);
  cr_task_done(t, CR_TASK_DONE);
}

static int test_a_nan_grace_is_refused(void) {
  cr_engine_t e;
  stopper s;
  memset(&s, 0, sizeof s);
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  e.release = count_release;
  releases = 0;
  TASK_INIT(&e, &s.t, stop_with_nan);
  CHECK(cr_task_start_root(&s.t) == 0);
  CHECK(drain(&e) == 0);
  CHECK(s.stop_rc == CR_EINVAL);
  CHECK(!s.g.stopping);
  CHECK(releases == 1);                              /* its reason came back */
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* --- close from the attach callback ---------------------------------- */

static int close_in_cb = 1, timer_in_window = 1, listen_in_window = 1;
static void close_at_end(cr_engine_t *e, int status) {
  static cr_timer_t tm;
  cr_listener_t *l = NULL;
  struct sockaddr_in a = loopback(0);
  if (status != 0) return;
  close_in_cb = cr_engine_close(e);
  /* closing: what would use the loop is refused, as once closed */
  cr_timer_init(&tm, NULL);
  timer_in_window = cr_timer_start(e, &tm, cr_now(e) + 1);
  listen_in_window = cr_tcp_listen(e, (struct sockaddr *)&a, 4, &l);
}

static void ends_at_once(cr_task_t *t) { cr_task_done(t, CR_TASK_DONE); }

static int test_close_from_the_attach_callback_of_an_own_loop(void) {
  cr_engine_t e;
  cr_task_t t;
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_REAL) == 0);
  CHECK(cr_engine_attach(&e, close_at_end) == 0);
  TASK_INIT(&e, &t, ends_at_once);
  CHECK(cr_task_start_root(&t) == 0);
  uv_run(e.loop, UV_RUN_DEFAULT);
  CHECK(close_in_cb == CR_EBUSY);                    /* again, after uv_run */
  CHECK(timer_in_window == CR_EINVAL);
  CHECK(listen_in_window == CR_EINVAL);
  CHECK(cr_engine_close(&e) == 0);
  CHECK(e.closed);
  return 0;
}

int main(void) {
  int failed = 0, i;
  struct { const char *name; int (*fn)(void); } tests[] = {
    {"abandon lets go of a reader the host frees",
     test_abandon_lets_go_of_a_reader_the_host_frees},
    {"done with live children lets them forget the group",
     test_done_with_live_children_lets_them_forget_the_group},
    {"a child waiting for a slot of a forsaken group runs",
     test_a_child_waiting_for_a_slot_of_a_forsaken_group_runs},
    {"a closed engine refuses what would use its loop",
     test_a_closed_engine_refuses_what_would_use_its_loop},
    {"a reason for a task that never ran is released",
     test_a_reason_for_a_task_that_never_ran_is_released},
    {"unknown codes have a static name", test_unknown_codes_have_a_static_name},
    {"a NaN grace is refused", test_a_nan_grace_is_refused},
    {"close from the attach callback of an own loop",
     test_close_from_the_attach_callback_of_an_own_loop},
  };
  for (i = 0; i < (int)(sizeof tests / sizeof tests[0]); i++) {
    int r = tests[i].fn();
    printf("%s %s\n", r ? "FAIL" : "ok  ", tests[i].name);
    failed += r != 0;
  }
  return failed != 0;
}
