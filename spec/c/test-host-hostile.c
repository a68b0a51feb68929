/*
** test-host-hostile.c -- a careless embedder's host API calls, each of
** which once crashed, hung or misbehaved (found by a hostile test):
** a cancel callback that completes other ops while the host closes, host
** calls from inside a cancel callback and from a host callback that close
** runs, a child process left running on the host's own loop, a cancel made
** while no root ran (and the trace a dropped one left), a completion that
** beat the close, and start(-1).
** Run under ASan by `make sanitize`, where a use-after-free fails it.
*/
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include "host_test.h"

/* --- ops that never complete by themselves ------------------------------ */

static corral_op_t *pending[8];
static int npending, cancels;
static corral_host_t *H;
static int (*in_cancel)(corral_host_t *);
static int in_cancel_rc;
static int complete_in_cancel;   /* else the op leaks: a host completes
                                 ** every op, abandoned or not */

static int cancel_all(corral_op_t *op) {
  int i;
  (void)op;
  for (i = 0; i < npending; i++) corral_op_complete(pending[i], UV_ECANCELED);
  npending = 0;
  return CORRAL_OP_ABANDON;
}

static int cancel_count(corral_op_t *op) {
  cancels++;
  if (in_cancel) in_cancel_rc = in_cancel(H);
  if (complete_in_cancel) corral_op_complete(op, UV_ECANCELED);
  return CORRAL_OP_ABANDON;
}

static const corral_op_type_t type_all = {"all", 0, NULL, cancel_all};
static const corral_op_type_t type_one = {"one", 0, NULL, cancel_count};

static int await_new(lua_State *L, const corral_op_type_t *type) {
  corral_op_t *op = corral_op_new(L, type);
  if (npending < 8) pending[npending++] = op;
  return corral_op_await(L, op);
}
static int l_all(lua_State *L) { return await_new(L, &type_all); }
static int l_one(lua_State *L) { return await_new(L, &type_one); }

static corral_host_t *host_with_ops(corral_host_opts_t *o) {
  corral_host_t *h;
  if (corral_host_new(&h, o) != 0) return NULL;
  lua_register(corral_host_state(h), "all", l_all);
  lua_register(corral_host_state(h), "one", l_one);
  npending = cancels = complete_in_cancel = 0;
  in_cancel = NULL;
  return h;
}

/* Closing runs A's cancel callback, which completes (and so frees) B, an
** op already abandoned by a timeout: close went on with B freed. */
static int test_cancel_callback_completes_others(void) {
  corral_host_t *h = host_with_ops(NULL);
  int i;
  CHECK(h != NULL);
  CHECK(corral_host_start_string(h,
    "local c = require 'corral'\n"
    "c.group(function(g) g:spawn(all)\n"
    "  g:spawn(function() c.move_on_after(0.1, one) end) end)", "=r") == 0);
  for (i = 0; i < 100 && npending < 2; i++) corral_host_step(h);
  CHECK(npending == 2);
  /* (a timeout long enough that a slow first run, under valgrind say,
  ** still reaches one() before it) */
  for (i = 0; i < 150; i++) { corral_host_step(h); uv_sleep(1); }
  CHECK(corral_host_close(h) == 0);
  return 0;
}

static int close_host(corral_host_t *h) { return corral_host_close(h); }
static int run_host(corral_host_t *h) { return corral_host_run(h); }
static int step_host(corral_host_t *h) { return corral_host_step(h); }

/* A cancel callback reached from the stop timer (no task running) could
** close the host under itself, or run it re-entrantly and hang. */
static int test_host_calls_from_a_cancel_callback(void) {
  int (*calls[3])(corral_host_t *) = {close_host, run_host, step_host};
  int i;
  for (i = 0; i < 3; i++) {
    H = host_with_ops(NULL);
    CHECK(H != NULL);
    in_cancel = calls[i];
    complete_in_cancel = 1;
    CHECK(corral_host_start_string(H, "one()", "=r") == 0);
    CHECK(corral_host_stop(H, 0.01, "bye") == 0);
    CHECK(corral_host_run(H) == CORRAL_CANCELLED);
    CHECK(cancels == 1 && in_cancel_rc == CR_EBUSY);
    CHECK(corral_host_close(H) == 0);
  }
  return 0;
}

/* A completion made from a thread before the close (its async not run
** yet) wins: the cancel callback must not run after it. */
static int test_completion_before_close_wins(void) {
  corral_host_t *h = host_with_ops(NULL);
  CHECK(h != NULL);
  CHECK(corral_host_start_string(h, "one()", "=r") == 0);
  CHECK(corral_host_step(h) == CORRAL_RUNNING);
  CHECK(npending == 1);
  CHECK(corral_op_complete_threadsafe(pending[0], 0) == 0);
  CHECK(corral_host_close(h) == 0);
  CHECK(cancels == 0);
  return 0;
}

/* --- the host's own loop ----------------------------------------------- */

/* A process a script left running was killed at close, but its handle
** waited for the exit on the host's loop, pointing into the freed host. */
static int test_process_left_running_on_the_hosts_loop(void) {
  uv_loop_t loop;
  corral_host_t *h;
  int i;
  CHECK(host_on_loop(&loop, &h) == 0);
  CHECK(corral_host_start_string(h,
    "require('corral').exec('/bin/sleep', {'5'})", "=r") == 0);
  for (i = 0; i < 20 && corral_host_status(h) == CORRAL_RUNNING; i++)
    corral_host_step(h);
  CHECK(corral_host_status(h) == CORRAL_OK);
  CHECK(corral_host_close(h) == 0);
  CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
  CHECK(uv_loop_close(&loop) == 0);
  return 0;
}

/* SIGUSR1's handler now: 'd' default, 'c' caught (libuv's or corral's). */
static char usr1_disposition(void) {
  struct sigaction sa;
  sigaction(SIGUSR1, NULL, &sa);
  return sa.sa_handler == SIG_DFL ? 'd' : 'c';
}

/* A root waited for SIGUSR1 from a child it started and left running: the
** default action came back when the root ended (cr_signal_release_idle),
** and the child's next SIGUSR1 killed the host. The release now waits for
** the run's children to exit (here: corral_host_close kills it, and reaps
** it before the watchers stop). */
/* A root that waits for one SIGUSR1 (caught from then on), then starts
** `sh -c script`, which signals it, and ends leaving the child to run:
** *out, the host, once that root has ended. 0, or -1. */
static int root_leaving_a_child(const char *script, corral_host_t **out) {
  char src[512];
  snprintf(src, sizeof src,
    "local corral = require 'corral'\n"
    "corral.group(function(g)\n"
    "  g:spawn(corral.signal, 'SIGUSR1')\n"
    "  corral.checkpoint()\n"
    "  corral.exec('/bin/sh', {'-c', '%s'})\n"
    "end)", script);
  if (corral_host_new(out, NULL) != 0) return -1;
  if (corral_host_start_string(*out, src, "=r") != 0) return -1;
  return corral_host_run(*out) == CORRAL_OK ? 0 : -1;
}

static int test_release_waits_for_a_storming_child(void) {
  corral_host_t *h;
  int i;
  CHECK(root_leaving_a_child("while kill -USR1 $PPID; do :; done", &h) == 0);
  CHECK(usr1_disposition() == 'c');     /* the child runs: still caught */
  for (i = 0; i < 50; i++) {            /* 0.1 s of its storm */
    uv_run(corral_host_loop(h), UV_RUN_NOWAIT);
    usleep(2000);
  }
  CHECK(corral_host_close(h) == 0);
  CHECK(usr1_disposition() == 'd');
  return 0;
}

static uv_timer_t tick;
static void tick_cb(uv_timer_t *t) { (void)t; }

/* ... and once the child has exited by itself, the default comes back. */
static int test_release_after_the_child_exits(void) {
  corral_host_t *h;
  int i;
  CHECK(root_leaving_a_child("kill -USR1 $PPID; sleep 0.05", &h) == 0);
  CHECK(usr1_disposition() == 'c');
  /* A timer of the host's keeps the loop polling: between roots the
  ** engine's handles keep no loop alive. */
  CHECK(uv_timer_init(corral_host_loop(h), &tick) == 0);
  CHECK(uv_timer_start(&tick, tick_cb, 2, 2) == 0);
  for (i = 0; i < 500 && usr1_disposition() == 'c'; i++)
    uv_run(corral_host_loop(h), UV_RUN_ONCE);
  CHECK(usr1_disposition() == 'd');     /* reaped: released */
  uv_close((uv_handle_t *)&tick, NULL);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

static int idle_calls, idle_rc;
static void idle_cb(uv_idle_t *idle) {
  corral_host_t *h = idle->data;
  if (idle_calls++ == 0) idle_rc = corral_host_close(h);
  uv_idle_stop(idle);
}

/* Close runs the loop once, and so the host's own ready callbacks: one
** that closed the host again hit a libuv assertion. */
static int test_close_from_a_host_callback_it_runs(void) {
  uv_loop_t loop;
  uv_idle_t idle;
  corral_host_t *h;
  CHECK(host_on_loop(&loop, &h) == 0);
  CHECK(uv_idle_init(&loop, &idle) == 0);
  idle.data = h;
  CHECK(uv_idle_start(&idle, idle_cb) == 0);
  idle_calls = 0;
  CHECK(corral_host_close(h) == 0);
  CHECK(idle_calls == 0 || idle_rc == CR_EBUSY);
  uv_close((uv_handle_t *)&idle, NULL);
  CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
  CHECK(uv_loop_close(&loop) == 0);
  return 0;
}

static int attached_done = -1;
static void on_done(corral_host_t *h, int status, void *arg) {
  (void)h; (void)arg;
  attached_done = status;
}

/* A host attached to a loop of the test's own, on_done recording. */
static int new_attached(uv_loop_t *loop, corral_host_t **h) {
  CHECK(host_on_loop(loop, h) == 0);
  CHECK(corral_host_attach(*h, on_done, NULL) == 0);
  attached_done = -1;
  return 0;
}

/* Attached, a deadlock found just after a stream or listener was closed
** went unreported: the closing handle made the loop look alive, then
** closed in the same pass, and uv_run returned with the root running. */
static int test_attached_deadlock_after_a_close(void) {
  uv_loop_t loop;
  corral_host_t *h;
  CHECK(new_attached(&loop, &h) == 0);
  CHECK(corral_host_start_string(h,
    "local c = require 'corral'\n"
    "local l = c.tcp.listen('127.0.0.1', 0); l:close()\n"
    "c.event():wait()", "=r") == 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(attached_done == CORRAL_ERROR);
  CHECK(strstr(corral_host_message(h), "deadlock") != NULL);
  CHECK(corral_host_close(h) == 0);
  CHECK(uv_loop_close(&loop) == 0);
  return 0;
}

static int beats;
static void beat(uv_timer_t *t) { if (++beats == 3) uv_stop(t->loop); }

/*
** Attached, with a timer of the host's keeping the loop alive: a deadlock
** is no deadlock yet. The host then stopped its timer between two uv_run
** calls: the next uv_run found nothing alive and returned at once, no
** callback ran, and the root stayed CORRAL_RUNNING for good (a host that
** loops on uv_run spun); a cancel asked then was never heard either. The
** engine's check handle keeps the loop alive while it has tasks now, and
** sees that nothing else does.
*/
static int test_attached_deadlock_after_the_host_stops_its_timer(void) {
  uv_loop_t loop;
  uv_timer_t t;
  corral_host_t *h;
  CHECK(new_attached(&loop, &h) == 0);
  CHECK(uv_timer_init(&loop, &t) == 0);
  CHECK(uv_timer_start(&t, beat, 1, 1) == 0);
  CHECK(corral_host_start_string(h, "require('corral').event():wait()",
                                 "=r") == 0);
  beats = 0;
  uv_run(&loop, UV_RUN_DEFAULT);         /* the timer's uv_stop ends it */
  CHECK(attached_done == -1 && corral_host_status(h) == CORRAL_RUNNING);
  uv_timer_stop(&t);                     /* outside any callback */
  CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
  CHECK(attached_done == CORRAL_ERROR);
  CHECK(strstr(corral_host_message(h), "deadlock") != NULL);
  CHECK(corral_host_close(h) == 0);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  return 0;
}

static int done_a = -1, done_b = -1;
static void on_done_a(corral_host_t *h, int st, void *arg) { (void)h; (void)arg; done_a = st; }
static void on_done_b(corral_host_t *h, int st, void *arg) { (void)h; (void)arg; done_b = st; }

/* Two hosts attached to one loop: each one's sentinel must not hide the
** other's deadlock, and one that sleeps keeps the other waiting only until
** it ends. */
static int test_two_attached_hosts_on_one_loop(void) {
  uv_loop_t loop;
  corral_host_t *a, *b;
  corral_host_opts_t o = {NULL, NULL, 0};
  CHECK(uv_loop_init(&loop) == 0);
  o.loop = &loop;
  CHECK(corral_host_new(&a, &o) == 0 && corral_host_new(&b, &o) == 0);
  CHECK(corral_host_attach(a, on_done_a, NULL) == 0);
  CHECK(corral_host_attach(b, on_done_b, NULL) == 0);
  CHECK(corral_host_start_string(a, "require('corral').event():wait()",
                                 "=a") == 0);
  CHECK(corral_host_start_string(b, "require('corral').sleep(0.05)",
                                 "=b") == 0);
  CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
  CHECK(done_a == CORRAL_ERROR && done_b == CORRAL_OK);
  done_a = done_b = -1;
  CHECK(corral_host_start_string(a, "require('corral').event():wait()",
                                 "=a") == 0);
  CHECK(corral_host_start_string(b, "require('corral').event():wait()",
                                 "=b") == 0);
  CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
  CHECK(done_a == CORRAL_ERROR && done_b == CORRAL_ERROR);
  CHECK(corral_host_close(a) == 0 && corral_host_close(b) == 0);
  CHECK(uv_loop_close(&loop) == 0);
  return 0;
}

static void stop_later(void *arg) {
  uv_sleep(50);
  corral_host_stop(arg, 5.0, "please");
}

/* A root in corral.host.wait_stop() waits for the host, which may stop it
** from any thread: it was reported as a deadlock instead. */
static int test_wait_stop_is_not_a_deadlock(void) {
  corral_host_t *h;
  uv_thread_t th;
  char buf[64];
  CHECK(corral_host_new(&h, NULL) == 0);
  CHECK(corral_host_start_string(h,
    "local c = require 'corral'\n"
    "local l = c.tcp.listen('127.0.0.1', 0)\n"   /* idle: keeps nothing alive */
    "return c.host.wait_stop()", "=r") == 0);
  CHECK(uv_thread_create(&th, stop_later, h) == 0);
  CHECK(corral_host_run(h) == CORRAL_OK);
  CHECK(uv_thread_join(&th) == 0);
  CHECK(strcmp(host_result(h, buf, sizeof buf), "please") == 0);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* --- requests and arguments -------------------------------------------- */

static int cancel_host(corral_host_t *h) { return corral_host_cancel(h, "x"); }
static int stop_host(corral_host_t *h) { return corral_host_stop(h, 1, "x"); }

/* A cancel or stop made while corral_host_close ran (from an op's cancel
** callback it calls) returned 0, and was dropped: CR_ECLOSED, as the docs
** say of any request once the close has begun. */
static int test_requests_during_close(void) {
  int (*calls[2])(corral_host_t *) = {cancel_host, stop_host};
  int i;
  for (i = 0; i < 2; i++) {
    H = host_with_ops(NULL);
    CHECK(H != NULL);
    in_cancel = calls[i];
    complete_in_cancel = 1;
    CHECK(corral_host_start_string(H, "one()", "=r") == 0);
    CHECK(corral_host_step(H) == CORRAL_RUNNING);
    CHECK(corral_host_close(H) == 0);
    CHECK(cancels == 1 && in_cancel_rc == CR_ECLOSED);
  }
  return 0;
}

/*
** A stop with no grace (<= 0) was a plain cancel: wait_stop() never
** returned and stopping() stayed false, so a shielded task waiting for the
** stop waited out its own timeout. A stop and a cancel merged before the
** loop heard of them lost the stop the same way. Merged, wait_stop() gave
** the cancel's reason, and the stop's when they came apart: it gives the
** stop's now, and the Cancelled carries the cancel's.
*/
static int stop_seen(int cancel_too, double grace, char *buf, size_t n) {
  corral_host_t *h;
  CHECK(corral_host_new(&h, NULL) == 0);
  CHECK(corral_host_start_string(h,
    "local c = require 'corral'\n"
    "local r\n"
    "c.scope(function()\n"
    "  local ok, why = c.move_on_after(1, c.host.wait_stop)\n"
    "  r = tostring(why) .. ' ' .. tostring(c.host.stopping())\n"
    "end, {shield = true})\n"
    "local ok, e = pcall(c.checkpoint)\n"
    "return r .. ' ' .. tostring(not ok and e.reason)", "=r") == 0);
  CHECK(corral_host_step(h) == CORRAL_RUNNING);
  CHECK(corral_host_stop(h, grace, "bye") == 0);
  if (cancel_too) CHECK(corral_host_cancel(h, "now") == 0);
  corral_host_run(h);
  host_result(h, buf, n);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

static int test_stop_without_grace_is_a_stop(void) {
  char buf[64];
  CHECK(stop_seen(0, 0, buf, sizeof buf) == 0);
  if (strcmp(buf, "bye true bye") != 0) fprintf(stderr, "  got '%s'\n", buf);
  CHECK(strcmp(buf, "bye true bye") == 0);
  CHECK(stop_seen(1, 5, buf, sizeof buf) == 0);
  if (strcmp(buf, "bye true now") != 0) fprintf(stderr, "  got '%s'\n", buf);
  CHECK(strcmp(buf, "bye true now") == 0);
  return 0;
}

/* Two stops: wait_stop gave the earliest grace's reason when the loop
** heard of both at once, the first's when apart; the Cancelled, when the
** second's shorter grace ended, carried the first's reason when apart.
** Now wait_stop gives the first stop's, the Cancelled the reason of the
** stop whose grace ended. */
static int two_stops(int apart, char *buf, size_t n) {
  corral_host_t *h;
  CHECK(corral_host_new(&h, NULL) == 0);
  CHECK(corral_host_start_string(h,
    "local c = require 'corral'\n"
    "local why\n"
    "c.scope(function() why = c.host.wait_stop() end, {shield = true})\n"
    "local ok, e = pcall(c.sleep, 100)\n"
    "return tostring(why) .. ' ' .. tostring(not ok and e.reason)", "=r") == 0);
  CHECK(corral_host_step(h) == CORRAL_RUNNING);
  CHECK(corral_host_stop(h, 10, "a") == 0);
  if (apart) CHECK(corral_host_step(h) == CORRAL_RUNNING);
  CHECK(corral_host_stop(h, 0.01, "b") == 0);
  corral_host_run(h);
  host_result(h, buf, n);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

static int test_two_stops_keep_their_reasons(void) {
  char buf[64];
  int apart;
  for (apart = 0; apart < 2; apart++) {
    CHECK(two_stops(apart, buf, sizeof buf) == 0);
    if (strcmp(buf, "a b") != 0) fprintf(stderr, "  got '%s'\n", buf);
    CHECK(strcmp(buf, "a b") == 0);
  }
  return 0;
}

/* A stop whose grace was running, then a cancel: the grace's timer stayed
** armed until the root ended. It could end nothing any more, but it kept
** the loop alive, so a deadlock behind it (a shielded wait that the cancel
** cannot end) was found only when the grace ran out: here, never. A stop
** after the cancel armed it again. */
static int cancel_and_stop(int cancel_first) {
  corral_host_t *h;
  CHECK(corral_host_new(&h, NULL) == 0);
  CHECK(corral_host_start_string(h,
    "local c = require 'corral'\n"
    "c.scope(function()\n"
    "  c.move_on_after(5, c.host.wait_stop)\n"
    "  c.event():wait()\n"
    "end, {shield = true})", "=r") == 0);
  CHECK(corral_host_step(h) == CORRAL_RUNNING);
  if (cancel_first) CHECK(corral_host_cancel(h, "now") == 0);
  else CHECK(corral_host_stop(h, 1e6, "bye") == 0);
  CHECK(corral_host_step(h) == CORRAL_RUNNING);   /* heard, apart */
  if (cancel_first) CHECK(corral_host_stop(h, 1e6, "bye") == 0);
  else CHECK(corral_host_cancel(h, "now") == 0);
  CHECK(corral_host_run(h) == CORRAL_ERROR);
  CHECK(strstr(corral_host_message(h), "deadlock") != NULL);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

static int test_cancel_ends_a_stops_grace(void) {
  CHECK(cancel_and_stop(0) == 0);
  CHECK(cancel_and_stop(1) == 0);
  return 0;
}

/* A cancel made while no root ran waited in the hub and killed the next
** root ("Requests made while no root runs are dropped"). */
static int test_cancel_with_no_root_is_dropped(void) {
  corral_host_t *h;
  char buf[64];
  CHECK(corral_host_new(&h, NULL) == 0);
  CHECK(corral_host_cancel(h, "stale") == 0);
  CHECK(corral_host_start_string(h,
    "require('corral').sleep(0.01) return 'ok'", "=r") == 0);
  CHECK(corral_host_run(h) == CORRAL_OK);
  CHECK(strcmp(host_result(h, buf, sizeof buf), "ok") == 0);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

static int marks;
static int l_mark(lua_State *L) {
  (void)L;
  marks++;
  return 0;
}

/* A root whose first line calls mark(), started and stepped once: whether
** that step ran it. */
static int first_step_runs(corral_host_t *h) {
  marks = 0;
  if (corral_host_start_string(h, "mark() require('corral').sleep(0.01)",
                               "=m") != 0)
    return 0;
  return corral_host_step(h) == CORRAL_RUNNING && marks == 1;
}

/* One turn of loop, a handle of ours keeping it alive (else uv_run
** returns at once, hearing of nothing). */
static void noop_idle(uv_idle_t *i) { (void)i; }
static int turn_the_loop(uv_loop_t *loop) {
  uv_idle_t idle;
  if (uv_idle_init(loop, &idle) != 0) return -1;
  uv_idle_start(&idle, noop_idle);
  uv_run(loop, UV_RUN_NOWAIT);
  uv_close((uv_handle_t *)&idle, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return 0;
}

/* A request dropped because no root ran left the flag that ends a pass
** early set: the next root's first step ran nothing (a request made after
** that step found the root not started yet). Dropped by the next start, or
** by the loop when the request reaches it with no root, it leaves no
** trace. */
static int test_dropped_request_leaves_no_trace(void) {
  corral_host_t *h;
  CHECK(corral_host_new(&h, NULL) == 0);
  lua_register(corral_host_state(h), "mark", l_mark);
  CHECK(corral_host_cancel(h, "stale") == 0);
  CHECK(first_step_runs(h));
  CHECK(corral_host_run(h) == CORRAL_OK);
  CHECK(corral_host_cancel(h, "stale") == 0);      /* the loop drops it */
  CHECK(turn_the_loop(corral_host_loop(h)) == 0);
  CHECK(first_step_runs(h));
  CHECK(corral_host_run(h) == CORRAL_OK);
  CHECK(corral_host_stop(h, 0.5, "stale") == 0);
  CHECK(first_step_runs(h));
  CHECK(corral_host_run(h) == CORRAL_OK);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* start(-1) emptied the host's whole stack. */
static int test_start_with_negative_nargs_keeps_the_stack(void) {
  corral_host_t *h;
  lua_State *L;
  CHECK(corral_host_new(&h, NULL) == 0);
  L = corral_host_state(h);
  lua_pushinteger(L, 1);
  lua_pushinteger(L, 2);
  CHECK(luaL_loadstring(L, "return 1") == 0);
  CHECK(corral_host_start(h, -1) == CR_EINVAL);
  CHECK(lua_gettop(L) == 3);
  lua_settop(L, 0);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/*
** In a host's state, require "corral" again after package.loaded.corral =
** nil found corral.so on package.cpath (the tests' LUA_CPATH has it) and
** loaded a second, independent corral: its corral.run ran nested inside
** the host's root. The module is one per Lua state, whichever copy of
** corral's code loads it.
*/
static int test_rerequire_in_a_host_is_the_same_module(void) {
  corral_host_t *h;
  char buf[256];
  CHECK(corral_host_new(&h, NULL) == 0);
  CHECK(corral_host_start_string(h,
    "package.cpath = (os.getenv('LUA_CPATH') or '') .. ';' .. package.cpath\n"
    "local a = require 'corral'\n"
    "package.loaded.corral = nil\n"
    "local b = require 'corral'\n"
    "local ok, err = pcall(b.run, function() end)\n"
    "return tostring(a == b) .. ' ' .. tostring(ok) .. ' ' .. tostring(err)",
    "=rerequire") == 0);
  CHECK(corral_host_run(h) == CORRAL_OK);
  host_result(h, buf, sizeof buf);
  if (strncmp(buf, "true false", 10) != 0) fprintf(stderr, "got: %s\n", buf);
  CHECK(strncmp(buf, "true false", 10) == 0);
  CHECK(strstr(buf, "cannot be called inside a running task") != NULL);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* Without corral.so on package.cpath (a host's usual case), loading the
** module again failed: "module 'corral' not found". It is preloaded. */
static int test_rerequire_without_cpath(void) {
  corral_host_t *h;
  char buf[256];
  CHECK(corral_host_new(&h, NULL) == 0);
  CHECK(corral_host_start_string(h,
    "package.cpath = ''\n"
    "local a = require 'corral'\n"
    "package.loaded.corral = nil\n"
    "local b = require 'corral'\n"
    "return tostring(a == b)", "=reload") == 0);
  CHECK(corral_host_run(h) == CORRAL_OK);
  CHECK(strcmp(host_result(h, buf, sizeof buf), "true") == 0);
  /* corral.run outside the root, in the host's state, says why not */
  CHECK(luaL_dostring(corral_host_state(h),
                      "require('corral').run(function() end)") != 0);
  CHECK(strstr(lua_tostring(corral_host_state(h), -1), "C host") != NULL);
  lua_pop(corral_host_state(h), 1);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* Attached, a deadlock the cancel could not break (every task waits under
** a shield) was never reported: the cancel woke nothing, so no pass found
** the deadlock again; uv_run returned with the root "running" for ever. */
static int test_attached_unbreakable_deadlock(void) {
  uv_loop_t loop;
  corral_host_t *h;
  CHECK(new_attached(&loop, &h) == 0);
  CHECK(corral_host_start_string(h,
    "local c = require 'corral'\n"
    "c.scope(function() c.event():wait() end, {shield = true})", "=r") == 0);
  CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
  CHECK(attached_done == CORRAL_ERROR);
  CHECK(corral_host_status(h) == CORRAL_ERROR);
  CHECK(strstr(corral_host_message(h), "corral: deadlock") != NULL);
  CHECK(strstr(corral_host_message(h), "even after cancelling") != NULL);
  CHECK(corral_host_start_string(h, "return 1", "=next") == 0);  /* not stuck */
  CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
  CHECK(attached_done == CORRAL_OK);
  CHECK(corral_host_close(h) == 0);
  CHECK(uv_loop_close(&loop) == 0);
  return 0;
}

/* A NULL host or op crashed nearly every call; misuse is a code. */
static int test_null_handles(void) {
  corral_host_t *h;
  CHECK(corral_host_status(NULL) == CR_EINVAL);
  CHECK(corral_host_step(NULL) == CR_EINVAL);
  CHECK(corral_host_run(NULL) == CR_EINVAL);
  CHECK(corral_host_attach(NULL, NULL, NULL) == CR_EINVAL);
  CHECK(corral_host_cancel(NULL, "x") == CR_EINVAL);
  CHECK(corral_host_stop(NULL, 1, "x") == CR_EINVAL);
  CHECK(corral_host_fd(NULL) == CR_EINVAL);
  CHECK(corral_host_timeout(NULL) == CR_EINVAL);
  CHECK(corral_host_start(NULL, 0) == CR_EINVAL);
  CHECK(corral_host_start_string(NULL, "return 1", NULL) == CR_EINVAL);
  CHECK(corral_host_start_file(NULL, "x.lua", 0, NULL) == CR_EINVAL);
  CHECK(corral_host_message(NULL) == NULL);
  CHECK(corral_host_state(NULL) == NULL);
  CHECK(corral_host_loop(NULL) == NULL);
  CHECK(corral_host_engine(NULL) == NULL);
  CHECK(corral_op_complete(NULL, 0) == CR_EINVAL);
  CHECK(corral_op_complete_threadsafe(NULL, 0) == CR_EINVAL);
  CHECK(corral_op_cancelled(NULL) == CR_EINVAL);
  CHECK(corral_op_data(NULL) == NULL);
  CHECK(corral_op_loop(NULL) == NULL);
  CHECK(corral_host_new(&h, NULL) == 0);
  CHECK(corral_host_results(NULL, corral_host_state(h)) == CR_EINVAL);
  CHECK(corral_host_results(h, NULL) == CR_EINVAL);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* --- an op awaited by another host's task ------------------------------- */

static corral_op_t *foreign_op;
static const corral_op_type_t type_plain = {"plain", 0, NULL, NULL};

static int l_make(lua_State *L) {
  foreign_op = corral_op_new(L, &type_plain);
  return 0;
}
static int l_await_foreign(lua_State *L) {
  return corral_op_await(L, foreign_op);
}

/* B's task awaiting A's op: refused (its wait would be counted and
** cancelled on A), also once A has closed, which once crashed in the
** cancel that followed. */
static int test_an_op_of_another_host_is_refused(void) {
  corral_host_t *a, *b;
  char buf[256];
  CHECK(corral_host_new(&a, NULL) == 0 && corral_host_new(&b, NULL) == 0);
  lua_register(corral_host_state(a), "make", l_make);
  lua_register(corral_host_state(b), "await_foreign", l_await_foreign);
  CHECK(corral_host_start_string(a, "make()", "=a") == 0);
  CHECK(corral_host_run(a) == CORRAL_OK && foreign_op != NULL);
  CHECK(corral_host_start_string(b,
    "return select(2, pcall(await_foreign))", "=b") == 0);
  CHECK(corral_host_run(b) == CORRAL_OK);
  CHECK(strstr(host_result(b, buf, sizeof buf),
               "plain: this op belongs to another host") != NULL);
  CHECK(corral_host_close(a) == 0);
  CHECK(corral_host_start_string(b,
    "return select(2, pcall(await_foreign))", "=b") == 0);
  CHECK(corral_host_run(b) == CORRAL_OK);
  CHECK(strstr(host_result(b, buf, sizeof buf),
               "plain: this op belongs to a host that has closed") != NULL);
  /* B still finds a deadlock: no wait was counted on it */
  CHECK(corral_host_start_string(b,
    "require 'corral'.event():wait()", "=b") == 0);
  CHECK(corral_host_run(b) == CORRAL_ERROR);
  CHECK(strstr(corral_host_message(b), "deadlock") != NULL);
  CHECK(corral_host_close(b) == 0);
  CHECK(corral_op_complete(foreign_op, 0) == 0);   /* freed: A has closed */
  return 0;
}

/* An op a root made and no task awaited stays the host's when that root
** is given up on (a deadlock its cancel could not break): completed
** between roots, a later root awaits it. (It was released with the root
** and freed by its completion: the await read freed memory.) */
static int test_an_op_outlives_a_root_given_up_on(void) {
  corral_host_t *h;
  char buf[256];
  CHECK(corral_host_new(&h, NULL) == 0);
  lua_register(corral_host_state(h), "make", l_make);
  lua_register(corral_host_state(h), "await_foreign", l_await_foreign);
  foreign_op = NULL;
  CHECK(corral_host_start_string(h, "make(); local c = require 'corral'\n"
    "c.scope(function() c.event():wait() end, {shield = true})", "=r1") == 0);
  CHECK(corral_host_run(h) == CORRAL_ERROR && foreign_op != NULL);
  CHECK(corral_op_complete(foreign_op, 0) == 0);
  CHECK(corral_host_start_string(h, "await_foreign(); return 'awaited'",
                                 "=r2") == 0);
  CHECK(corral_host_run(h) == CORRAL_OK);
  CHECK(strcmp(host_result(h, buf, sizeof buf), "awaited") == 0);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

int main(void) {
  int failed = 0;
  RUN(test_cancel_callback_completes_others);
  RUN(test_an_op_of_another_host_is_refused);
  RUN(test_an_op_outlives_a_root_given_up_on);
  RUN(test_requests_during_close);
  RUN(test_attached_deadlock_after_the_host_stops_its_timer);
  RUN(test_two_attached_hosts_on_one_loop);
  RUN(test_stop_without_grace_is_a_stop);
  RUN(test_host_calls_from_a_cancel_callback);
  RUN(test_completion_before_close_wins);
  RUN(test_process_left_running_on_the_hosts_loop);
  RUN(test_release_waits_for_a_storming_child);
  RUN(test_release_after_the_child_exits);
  RUN(test_close_from_a_host_callback_it_runs);
  RUN(test_attached_deadlock_after_a_close);
  RUN(test_attached_unbreakable_deadlock);
  RUN(test_rerequire_without_cpath);
  RUN(test_null_handles);
  RUN(test_wait_stop_is_not_a_deadlock);
  RUN(test_two_stops_keep_their_reasons);
  RUN(test_cancel_ends_a_stops_grace);
  RUN(test_cancel_with_no_root_is_dropped);
  RUN(test_dropped_request_leaves_no_trace);
  RUN(test_start_with_negative_nargs_keeps_the_stack);
  RUN(test_rerequire_in_a_host_is_the_same_module);
  return failed != 0;
}
