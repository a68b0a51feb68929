/*
** test-signal.c -- signal waits and the root's SIGINT/SIGTERM policy
** (cr_signal_wait, cr_signal_root) without Lua. Signals are raised in this
** very process; the default-action kill runs in a forked child.
*/
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "ctask.h"

#define CHECK(c) do { if (!(c)) { \
  fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
  return 1; } } while (0)

/* A root task that runs `plan` one step per resume. */
typedef struct {
  cr_task_t t;
  int step;
  int sig;                /* what it waits for / raises */
  int statuses[4];        /* wake_status seen at each step */
} stask;

static int ncb, cb_sig;
static void on_root(cr_engine_t *e, int signum) {
  (void)e;
  ncb++;
  cb_sig = signum;
}

static void finish(cr_task_t *t) {
  cr_task_done(t, t->wake_status == CR_ECANCELED ? CR_TASK_CANCELLED
                                                 : CR_TASK_DONE);
}

/* Wait for s->sig and raise it; then wait forever (until cancelled). */
static void wait_then_block(cr_task_t *t) {
  stask *s = (stask *)t;
  s->statuses[s->step & 3] = t->wake_status;
  switch (s->step++) {
  case 0:
    if (cr_signal_wait(cr_task_engine(t), t, s->sig) == 1) raise(s->sig);
    return;
  case 1:
    cr_task_park(t, cr_task_abort_unlink);       /* nothing will wake it */
    return;
  default:
    finish(t);
  }
}

/* Raise s->sig, then sleep for an hour (cancelled by the root policy). */
static void raise_then_sleep(cr_task_t *t) {
  stask *s = (stask *)t;
  s->statuses[s->step & 3] = t->wake_status;
  if (s->step++ == 0) {
    raise(s->sig);
    cr_task_sleep(t, cr_now(cr_task_engine(t)) + 3600);
    return;
  }
  finish(t);
}

/* Raise SIGINT twice, sleeping after each: the second one kills. */
static void raise_twice(cr_task_t *t) {
  stask *s = (stask *)t;
  if (s->step++ < 2) {
    raise(SIGINT);
    cr_task_sleep(t, cr_now(cr_task_engine(t)) + 3600);
    return;
  }
  finish(t);
}

static void noop_cb(uv_signal_t *h, int signum) { (void)h; (void)signum; }

static int drain(cr_engine_t *e) {
  int rc;
  while ((rc = cr_engine_step(e, 1)) == 1) {}
  return rc;
}

static int test_invalid(void) {
  cr_engine_t e;
  stask s = {0};
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  TASK_INIT(&e, &s.t, wait_then_block);
  CHECK(cr_signal_wait(&e, &s.t, 0) == CR_EINVAL);
  CHECK(cr_signal_wait(&e, &s.t, -3) == CR_EINVAL);
  CHECK(cr_signal_wait(&e, &s.t, NSIG) == CR_EINVAL);
  CHECK(cr_signal_wait(&e, &s.t, SIGKILL) == CR_EINVAL);
  CHECK(cr_signal_wait(&e, &s.t, SIGSTOP) == CR_EINVAL);
  CHECK(cr_signal_wait(&e, &s.t, 32) == CR_EINVAL);  /* glibc's own */
  cr_task_start_root(&s.t);
  s.step = 2;                                  /* finish at once */
  CHECK(drain(&e) == 0);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* An idle watcher must not keep the loop alive: the step reports the
** deadlock, on both clocks. */
static int idle_watcher(cr_clock_t clock) {
  cr_engine_t e;
  stask s = {0};
  size_t base;
  CHECK(cr_engine_init(&e, NULL, clock) == 0);
  base = e.stats.handles;                      /* the engine's own */
  TASK_INIT(&e, &s.t, wait_then_block);
  s.sig = SIGUSR1;
  cr_task_start_root(&s.t);
  CHECK(drain(&e) == CR_EDEADLOCK);
  CHECK(s.step == 2 && s.statuses[1] == 0);    /* the signal woke it */
  CHECK(e.stats.handles == base + 1);          /* the watcher, kept */
  cr_scope_cancel(&s.t.scope, CR_SRC_DEADLOCK, 0, NULL);
  CHECK(drain(&e) == 0);
  CHECK(s.t.status == CR_TASK_CANCELLED);
  CHECK(cr_engine_close(&e) == 0);
  CHECK(e.stats.handles == 0);
  return 0;
}
static int test_idle_real(void) { return idle_watcher(CR_CLOCK_REAL); }
static int test_idle_virtual(void) { return idle_watcher(CR_CLOCK_VIRTUAL); }

/* Nobody waits for SIGTERM: the root is cancelled, source signal. */
static int test_root_cancelled(void) {
  cr_engine_t e;
  stask s = {0};
  ncb = cb_sig = 0;
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_REAL) == 0);
  TASK_INIT(&e, &s.t, raise_then_sleep);
  s.sig = SIGTERM;
  cr_task_start_root(&s.t);
  CHECK(cr_signal_root(&e, &s.t, on_root) == 0);
  CHECK(drain(&e) == 0);
  CHECK(s.statuses[1] == CR_ECANCELED);
  CHECK(s.t.scope.cancel.source == CR_SRC_SIGNAL);
  CHECK(e.root_signal == SIGTERM && ncb == 1 && cb_sig == SIGTERM);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* A task waits for SIGINT: the signal wakes it and cancels nothing. */
static int test_waiter_wins(void) {
  cr_engine_t e;
  stask s = {0};
  ncb = 0;
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_REAL) == 0);
  TASK_INIT(&e, &s.t, wait_then_block);
  s.sig = SIGINT;
  cr_task_start_root(&s.t);
  CHECK(cr_signal_root(&e, &s.t, on_root) == 0);
  /* the root policy keeps the loop alive: step without blocking until
  ** the task is parked for good, then cancel it */
  while (s.step < 2) CHECK(cr_engine_step(&e, 0) == 1);
  CHECK(s.statuses[1] == 0 && e.root_signal == 0 && ncb == 0);
  CHECK(!s.t.scope.cancel_called);
  cr_scope_cancel(&s.t.scope, CR_SRC_EXPLICIT, 0, NULL);
  CHECK(drain(&e) == 0);
  CHECK(cr_engine_close(&e) == 0);
  return 0;
}

/* After the root was cancelled by a signal, one more kills the process with
** the default action, even while another watcher (a host's) holds SIGINT. */
static int test_second_kills(void) {
  int status;
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    cr_engine_t e;
    stask s = {0};
    uv_signal_t host;
    cr_engine_init(&e, NULL, CR_CLOCK_REAL);
    uv_signal_init(e.loop, &host);
    uv_signal_start(&host, noop_cb, SIGINT);
    uv_unref((uv_handle_t *)&host);
    TASK_INIT(&e, &s.t, raise_twice);
    cr_task_start_root(&s.t);
    cr_signal_root(&e, &s.t, on_root);
    drain(&e);
    uv_run(e.loop, UV_RUN_NOWAIT);              /* a signal still queued */
    _exit(0);                                   /* not reached */
  }
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
  return 0;
}

/* Two engines each waited for SIGUSR1 once, a host handler in place: the
** one that stopped last put back what it had found when it started,
** libuv's handler (the other engine's watcher ran then), and SIGUSR1 was
** swallowed for good. What was there before the first comes back now. */
static volatile sig_atomic_t host_hits;
static void host_handler(int sig) { (void)sig; host_hits++; }

static void wait_usr1(cr_task_t *t) {
  stask *s = (stask *)t;
  if (s->step++ == 0 && cr_signal_wait(cr_task_engine(t), t, SIGUSR1) == 1)
    return;
  finish(t);
}

static int test_two_engines_give_the_handler_back(void) {
  cr_engine_t a, b;
  stask wa, wb;
  struct sigaction sa, now, saved;
  int i;
  memset(&wa, 0, sizeof wa);
  memset(&wb, 0, sizeof wb);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = host_handler;
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGUSR1, &sa, &saved) == 0);
  CHECK(cr_engine_init(&a, NULL, CR_CLOCK_REAL) == 0);
  CHECK(cr_engine_init(&b, NULL, CR_CLOCK_REAL) == 0);
  TASK_INIT(&a, &wa.t, wait_usr1);
  TASK_INIT(&b, &wb.t, wait_usr1);
  cr_task_start_root(&wa.t);
  cr_task_start_root(&wb.t);
  CHECK(cr_engine_step(&a, 0) == 1 && cr_engine_step(&b, 0) == 1);
  raise(SIGUSR1);
  for (i = 0; i < 1000 && !(wa.t.finished && wb.t.finished); i++) {
    cr_engine_step(&a, 0);
    cr_engine_step(&b, 0);
    usleep(1000);
  }
  CHECK(wa.t.finished && wb.t.finished && host_hits == 0);
  CHECK(cr_engine_close(&a) == 0);        /* the first started closes first */
  CHECK(cr_engine_close(&b) == 0);
  CHECK(sigaction(SIGUSR1, NULL, &now) == 0);
  CHECK(!(now.sa_flags & SA_SIGINFO) && now.sa_handler == host_handler);
  raise(SIGUSR1);
  CHECK(host_hits == 1);
  sigaction(SIGUSR1, &saved, NULL);
  return 0;
}

int main(void) {
  struct { const char *name; int (*fn)(void); } tests[] = {
    {"invalid signal numbers", test_invalid},
    {"idle watcher, real clock: deadlock", test_idle_real},
    {"idle watcher, virtual clock: deadlock", test_idle_virtual},
    {"root cancelled by a signal nobody waits for", test_root_cancelled},
    {"a waiter takes the signal, nothing cancelled", test_waiter_wins},
    {"a second signal kills by the default action", test_second_kills},
    {"two engines give the host's handler back",
     test_two_engines_give_the_handler_back},
  };
  int i, failed = 0, n = (int)(sizeof tests / sizeof tests[0]);
  for (i = 0; i < n; i++) {
    int r = tests[i].fn();
    printf("%s %s\n", r ? "FAIL" : "ok  ", tests[i].name);
    failed += r != 0;
  }
  printf("%d passed, %d failed\n", n - failed, failed);
  return failed != 0;
}
