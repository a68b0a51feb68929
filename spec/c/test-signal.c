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
static void *on_root(cr_engine_t *e, int signum) {
  (void)e;
  ncb++;
  cb_sig = signum;
  return NULL;
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
  /* step without blocking until the task is parked for good: a deadlock
  ** then, which the root policy's watcher does not hide; cancel it */
  while (s.step < 2) {
    int rc = cr_engine_step(&e, 0);
    CHECK(rc == 1 || (rc == CR_EDEADLOCK && s.step == 2));
  }
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
    TASK_INIT(&e, &s.t, raise_twice);
    cr_task_start_root(&s.t);
    cr_signal_root(&e, &s.t, on_root);
    drain(&e);
    /* a signal still queued: the host's watcher (referenced) makes this
    ** pass poll for it, as nothing of the engine's is left alive */
    uv_run(e.loop, UV_RUN_NOWAIT);
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

/* What a disposition is: 'd'efault, 'i'gnored, or 'h'andled. */
static char disposition(int sig) {
  struct sigaction sa;
  if (sigaction(sig, NULL, &sa) != 0) return '?';
  if (sa.sa_flags & SA_SIGINFO) return 'h';
  return sa.sa_handler == SIG_DFL ? 'd' : sa.sa_handler == SIG_IGN ? 'i' : 'h';
}

/*
** A host's own watchers, started with cr_signal_start, are counted with
** corral's: whichever stops last, the signal gets back what it had before
** the first (here SIG_IGN). A watcher started behind corral's back (as
** libuv starts its own for child processes) may hold the signal first:
** libuv's handler is then never what comes back (it swallowed every later
** arrival); the default is.
*/
static int test_host_watchers_are_counted(void) {
  uv_loop_t loop;
  uv_signal_t a, b, plain;
  struct sigaction ign, old;
  int order;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  CHECK(uv_loop_init(&loop) == 0);
  CHECK(uv_signal_init(&loop, &a) == 0 && uv_signal_init(&loop, &b) == 0);
  CHECK(uv_signal_init(&loop, &plain) == 0);
  CHECK(sigaction(SIGUSR2, &ign, &old) == 0);
  for (order = 0; order < 2; order++) {
    CHECK(cr_signal_start(&a, NULL, SIGUSR2) == 0);
    CHECK(cr_signal_start(&b, NULL, SIGUSR2) == 0);
    CHECK(disposition(SIGUSR2) == 'h');
    cr_signal_stop(order ? &a : &b);
    CHECK(disposition(SIGUSR2) == 'h');
    cr_signal_stop(order ? &b : &a);
    CHECK(disposition(SIGUSR2) == 'i');
  }
  for (order = 0; order < 2; order++) {
    CHECK(uv_signal_start(&plain, NULL, SIGUSR2) == 0);  /* not counted */
    CHECK(cr_signal_start(&a, NULL, SIGUSR2) == 0);
    if (order) uv_signal_stop(&plain);
    cr_signal_stop(&a);
    if (!order) uv_signal_stop(&plain);
    CHECK(disposition(SIGUSR2) == 'd');
    CHECK(sigaction(SIGUSR2, &ign, NULL) == 0);
  }
  CHECK(cr_signal_start(&a, NULL, 0) == UV_EINVAL);
  uv_close((uv_handle_t *)&a, NULL);
  uv_close((uv_handle_t *)&b, NULL);
  uv_close((uv_handle_t *)&plain, NULL);
  CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0 && uv_loop_close(&loop) == 0);
  sigaction(SIGUSR2, &old, NULL);
  return 0;
}

static int restarted_cb;
static void count_cb(uv_signal_t *h, int signum) {
  (void)h;
  restarted_cb = signum;
}

/*
** cr_signal_start on a watcher it counts already restarts it, as
** uv_signal_start does, with the new callback and signal (it kept the old
** ones, so the new signal then killed the process). And a host's counted
** watcher that the engine closes on its own loop (cr_engine_close) is
** uncounted: the handler from before comes back (it stayed counted, and the
** signal default for good).
*/
static int test_counted_restart_and_close(void) {
  cr_engine_t e;
  uv_signal_t w;
  struct sigaction mine, old1, old2;
  memset(&mine, 0, sizeof mine);
  mine.sa_handler = SIG_IGN;
  sigemptyset(&mine.sa_mask);
  CHECK(sigaction(SIGUSR1, &mine, &old1) == 0);
  CHECK(sigaction(SIGUSR2, &mine, &old2) == 0);
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  CHECK(uv_signal_init(e.loop, &w) == 0);
  CHECK(cr_signal_start(&w, count_cb, SIGUSR1) == 0);
  CHECK(cr_signal_start(&w, count_cb, SIGUSR2) == 0);   /* moves it */
  CHECK(w.signum == SIGUSR2);
  CHECK(disposition(SIGUSR1) == 'i');                   /* given back */
  CHECK(disposition(SIGUSR2) == 'h');
  raise(SIGUSR2);
  while (restarted_cb == 0) uv_run(e.loop, UV_RUN_ONCE);
  CHECK(restarted_cb == SIGUSR2);
  CHECK(cr_engine_close(&e) == 0);                      /* closes w too */
  CHECK(disposition(SIGUSR2) == 'i');
  sigaction(SIGUSR1, &old1, NULL);
  sigaction(SIGUSR2, &old2, NULL);
  return 0;
}

/*
** libuv hands arrivals to the loop through a pipe and drops one when the
** pipe is full: a storm of SIGUSR1 that the loop had no turn to read (more
** arrivals than the pipe holds) lost the SIGUSR2 that came at its end, and
** its waiter waited for ever. The front that holds a watched signal counts
** its arrivals, and the engine delivers a dropped one after its next poll:
** with fronts of a binding's there too, or without.
*/
#define STORM 6000                       /* > 4096 messages of 16 bytes */
static void nop_front(int signum) { (void)signum; }
static int with_fronts;

static void storm_then_wait(cr_task_t *t) {
  stask *s = (stask *)t;
  int i;
  s->statuses[s->step & 3] = t->wake_status;
  if (s->step++ == 0) {
    cr_engine_t *e = cr_task_engine(t);
    if (cr_signal_wait(e, t, SIGUSR2) != 1 ||
        (with_fronts && (cr_signal_front(SIGUSR1, nop_front, 1) != 0 ||
                         cr_signal_front(SIGUSR2, nop_front, 1) != 0)))
      return;                            /* (step stays 1: checked) */
    s->sig = 1;
    for (i = 0; i < STORM; i++) raise(SIGUSR1);   /* the loop is not polled */
    raise(SIGUSR2);
    return;
  }
  finish(t);
}

static int dropped_from_a_full_pipe(int fronts) {
  cr_engine_t e;
  uv_signal_t w;
  stask s = {0};
  int i;
  with_fronts = fronts;
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_REAL) == 0);
  CHECK(uv_signal_init(e.loop, &w) == 0);
  CHECK(cr_signal_start(&w, count_cb, SIGUSR1) == 0);   /* fills the pipe */
  TASK_INIT(&e, &s.t, storm_then_wait);
  cr_task_start_root(&s.t);
  for (i = 0; i < 2000 && s.step < 2; i++) {   /* (no wait for ever) */
    CHECK(cr_engine_step(&e, 0) >= 0);
    uv_sleep(1);
  }
  if (fronts) {
    cr_signal_unfront(SIGUSR1, nop_front, 0);
    cr_signal_unfront(SIGUSR2, nop_front, 0);
  }
  cr_signal_stop(&w);
  uv_close((uv_handle_t *)&w, NULL);
  if (s.step < 2) cr_scope_cancel(&s.t.scope, CR_SRC_HOST, 0, NULL);
  CHECK(drain(&e) == 0);
  CHECK(cr_engine_close(&e) == 0);
  CHECK(s.sig == 1);                           /* the storm was raised */
  CHECK(s.step == 2 && s.statuses[1] == 0);    /* SIGUSR2 woke it */
  CHECK(disposition(SIGUSR1) == 'd' && disposition(SIGUSR2) == 'd');
  return 0;
}
/* A child's SIGCHLD dropped from the full pipe left it a zombie, and its
** waiter waiting for ever: the engine raises SIGCHLD again for libuv to
** reap it. The child exits while the loop is not polled and the pipe is
** full of SIGUSR1. */
static int zombie(int pid) {
  char path[64], buf[256], *p;
  FILE *f;
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  if ((f = fopen(path, "r")) == NULL) return 0;
  p = fgets(buf, sizeof buf, f);
  fclose(f);
  return p != NULL && (p = strrchr(buf, ')')) != NULL && p[2] == 'Z';
}

static cr_proc_t *storm_child;
static void storm_then_reap(cr_task_t *t) {
  stask *s = (stask *)t;
  int i;
  s->statuses[s->step & 3] = t->wake_status;
  if (s->step++ == 0) {
    for (i = 0; i < STORM; i++) raise(SIGUSR1);   /* the loop is not polled */
    for (i = 0; i < 5000 && !zombie(storm_child->pid); i++) uv_sleep(1);
    s->sig = zombie(storm_child->pid);           /* its SIGCHLD came */
    if (cr_proc_wait(storm_child, t) != 1) s->step = 9;
    return;
  }
  finish(t);
}

static int test_sigchld_dropped_from_a_full_pipe(void) {
  cr_engine_t e;
  uv_signal_t w;
  stask s = {0};
  char *args[] = {"/bin/sleep", "0.2", NULL};   /* exits after the storm */
  cr_proc_opts_t o;
  int i;
  memset(&o, 0, sizeof o);
  o.file = "/bin/sleep";
  o.args = args;
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_REAL) == 0);
  CHECK(uv_signal_init(e.loop, &w) == 0);
  CHECK(cr_signal_start(&w, count_cb, SIGUSR1) == 0);   /* fills the pipe */
  CHECK(cr_proc_spawn(&e, &o, &storm_child) == 0);
  TASK_INIT(&e, &s.t, storm_then_reap);
  cr_task_start_root(&s.t);
  for (i = 0; i < 2000 && s.step < 2; i++) {   /* (no wait for ever) */
    CHECK(cr_engine_step(&e, 0) >= 0);
    uv_sleep(1);
  }
  cr_signal_stop(&w);
  uv_close((uv_handle_t *)&w, NULL);
  if (s.step < 2) cr_scope_cancel(&s.t.scope, CR_SRC_HOST, 0, NULL);
  CHECK(drain(&e) == 0);
  cr_io_close(&storm_child->io);
  CHECK(cr_engine_close(&e) == 0);
  CHECK(s.sig == 1);                           /* it exited meanwhile */
  CHECK(s.step == 2 && s.statuses[1] == 0);    /* and was reaped */
  return 0;
}

/* A host's own watcher (cr_signal_start) whose signal libuv dropped from
** the full pipe has its callback called all the same, once. */
static int usr2_heard;
static void usr2_cb(uv_signal_t *h, int signum) {
  (void)h;
  if (signum == SIGUSR2) usr2_heard++;
}

static int test_dropped_for_a_hosts_watcher(void) {
  cr_engine_t e;
  uv_signal_t w, w2;
  stask s = {0};                                /* keeps the engine polling */
  int i;
  usr2_heard = 0;
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_REAL) == 0);
  TASK_INIT(&e, &s.t, raise_then_sleep);
  s.sig = SIGURG;                               /* ignored by default */
  CHECK(uv_signal_init(e.loop, &w) == 0 && uv_signal_init(e.loop, &w2) == 0);
  CHECK(cr_signal_start(&w, count_cb, SIGUSR1) == 0);   /* fills the pipe */
  CHECK(cr_signal_start(&w2, usr2_cb, SIGUSR2) == 0);
  cr_task_start_root(&s.t);
  CHECK(cr_engine_step(&e, 0) >= 0);            /* it sleeps */
  for (i = 0; i < STORM; i++) raise(SIGUSR1);   /* the loop is not polled */
  raise(SIGUSR2);                               /* dropped */
  for (i = 0; i < 200 && usr2_heard == 0; i++) {
    CHECK(cr_engine_step(&e, 0) >= 0);
    uv_sleep(1);
  }
  for (i = 0; i < 20; i++) CHECK(cr_engine_step(&e, 0) >= 0);
  cr_signal_stop(&w);
  cr_signal_stop(&w2);
  uv_close((uv_handle_t *)&w, NULL);
  uv_close((uv_handle_t *)&w2, NULL);
  cr_scope_cancel(&s.t.scope, CR_SRC_HOST, 0, NULL);
  CHECK(drain(&e) == 0);
  CHECK(cr_engine_close(&e) == 0);
  CHECK(usr2_heard == 1);
  CHECK(disposition(SIGUSR1) == 'd' && disposition(SIGUSR2) == 'd');
  return 0;
}

static int test_dropped_under_fronts(void) { return dropped_from_a_full_pipe(1); }
static int test_dropped_watched(void) { return dropped_from_a_full_pipe(0); }

/*
** libuv watches SIGCHLD from a loop's first process until the loop closes,
** outside corral's count, and then leaves SIG_DFL: an inherited SIG_IGN
** (or a host's handler) was lost after any run that ran a process. It
** comes back when the engine's loop closes.
*/
static int test_sigchld_comes_back_after_a_process(void) {
  cr_engine_t e;
  cr_proc_t *p;
  char *args[] = {"/bin/true", NULL};
  cr_proc_opts_t o;
  struct sigaction ign, old;
  memset(&o, 0, sizeof o);
  o.file = "/bin/true";
  o.args = args;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  CHECK(sigaction(SIGCHLD, &ign, &old) == 0);
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  CHECK(cr_proc_spawn(&e, &o, &p) == 0);
  CHECK(disposition(SIGCHLD) == 'h');                   /* libuv's */
  CHECK(cr_engine_close(&e) == 0);
  CHECK(disposition(SIGCHLD) == 'i');
  /* A counted SIGCHLD watcher started after the spawn (libuv's handler in
  ** place) and stopped after the loop closed: it took libuv's handler for
  ** what was there before and gave back SIG_DFL. */
  {
    uv_loop_t loop;
    uv_signal_t w;
    CHECK(uv_loop_init(&loop) == 0 && uv_signal_init(&loop, &w) == 0);
    CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
    CHECK(cr_proc_spawn(&e, &o, &p) == 0);
    CHECK(cr_signal_start(&w, count_cb, SIGCHLD) == 0);
    CHECK(cr_engine_close(&e) == 0);
    CHECK(disposition(SIGCHLD) == 'h');                 /* w's */
    cr_signal_stop(&w);
    CHECK(disposition(SIGCHLD) == 'i');
    uv_close((uv_handle_t *)&w, NULL);
    CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0 && uv_loop_close(&loop) == 0);
  }
  sigaction(SIGCHLD, &old, NULL);
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
    {"a host's watchers are counted; libuv's handler never comes back",
     test_host_watchers_are_counted},
    {"a counted watcher restarts, and is uncounted when the engine closes it",
     test_counted_restart_and_close},
    {"SIGCHLD gets back what it had once a loop that ran a process closes",
     test_sigchld_comes_back_after_a_process},
    {"a signal libuv dropped from its full pipe is delivered (fronts)",
     test_dropped_under_fronts},
    {"a signal libuv dropped from its full pipe is delivered (watched)",
     test_dropped_watched},
    {"a child's SIGCHLD dropped from the full pipe: it is reaped all the same",
     test_sigchld_dropped_from_a_full_pipe},
    {"a host's watcher: a signal dropped from the full pipe calls it once",
     test_dropped_for_a_hosts_watcher},
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
