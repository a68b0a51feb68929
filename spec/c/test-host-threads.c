/*
** test-host-threads.c -- the host API across threads: cancel and stop
** from another thread while the loop is blocked in the poll, ops
** completed after their host closed, two engines in two threads at once.
** Run clean under ThreadSanitizer by `make tsan`.
*/
#include "host_test.h"

typedef struct {
  corral_host_t *h;
  int delay_ms, stop;
  double grace;
  const char *reason;
} remote_t;

/* Another thread: after delay_ms, cancel or stop the root. */
static void remote(void *arg) {
  remote_t *r = arg;
  uv_sleep((unsigned)r->delay_ms);
  if (r->stop) corral_host_stop(r->h, r->grace, r->reason);
  else corral_host_cancel(r->h, r->reason);
}

static int run_remote(const char *chunk, remote_t *r, char *msg, size_t n) {
  corral_host_t *h;
  uv_thread_t th;
  int st;
  const char *m;
  if (corral_host_new(&h, NULL) != 0) return -1;
  r->h = h;
  if (corral_host_start_string(h, chunk, "=remote") != 0) return -2;
  uv_thread_create(&th, remote, r);
  st = corral_host_run(h);                 /* blocks in epoll meanwhile */
  uv_thread_join(&th);
  m = st == CORRAL_OK ? host_result(h, msg, n) : corral_host_message(h);
  if (m != msg) snprintf(msg, n, "%s", m ? m : "");
  corral_host_close(h);
  return st;
}

static int test_cancel_while_blocked(void) {
  remote_t r = {NULL, 30, 0, 0, "shutting down"};
  char msg[256];
  uint64_t t0 = uv_hrtime();
  CHECK(run_remote("require('corral').sleep(3600)", &r, msg, sizeof msg)
        == CORRAL_CANCELLED);
  CHECK(strcmp(msg, "Cancelled: shutting down (source=host)") == 0);
  CHECK(uv_hrtime() - t0 < 5000000000ULL);
  return 0;
}

/* stop(grace): wait_stop wakes; a root that winds down in time returns. */
static int test_stop_graceful(void) {
  remote_t r = {NULL, 30, 1, 5.0, "please stop"};
  char msg[256];
  CHECK(run_remote(
    "local corral = require 'corral'\n"
    "local why\n"
    "corral.group(function(g)\n"
    "  g:spawn(function() why = corral.host.wait_stop(); g:cancel() end)\n"
    "  g:spawn(corral.sleep, 3600)\n"
    "end)\n"
    "corral.sleep(0.01)\n"                 /* cleanup that blocks */
    "return why .. ' ' .. tostring(corral.host.stopping())",
    &r, msg, sizeof msg) == CORRAL_OK);
  if (strcmp(msg, "please stop true")) fprintf(stderr, "msg=%s\n", msg);
  CHECK(strcmp(msg, "please stop true") == 0);
  return 0;
}

/* stop(grace): a root that ignores it is cancelled when the grace ends. */
static int test_stop_grace_runs_out(void) {
  remote_t r = {NULL, 10, 1, 0.05, "grace over"};
  char msg[256];
  CHECK(run_remote("require('corral').sleep(3600)", &r, msg, sizeof msg)
        == CORRAL_CANCELLED);
  CHECK(strcmp(msg, "Cancelled: grace over (source=host)") == 0);
  return 0;
}

/* --- an op completed by a thread after its host closed ------------------- */

typedef struct { corral_op_t *op; int ms; } late_t;

static void late_worker(void *arg) {
  late_t *l = arg;
  uv_sleep((unsigned)l->ms);
  corral_op_complete_threadsafe(l->op, 0);   /* the host is gone by now */
}

static uv_thread_t late_thread;
static late_t late;

static int l_late(lua_State *L) {
  static const corral_op_type_t type = {"late", 0, NULL, NULL};
  late.op = corral_op_new(L, &type);
  late.ms = 50;
  uv_thread_create(&late_thread, late_worker, &late);
  return corral_op_await(L, late.op);
}

static int test_close_with_op_in_flight(void) {
  corral_host_t *h;
  lua_State *L;
  int i;
  CHECK(corral_host_new(&h, NULL) == 0);
  L = corral_host_state(h);
  lua_pushcfunction(L, l_late);
  lua_setglobal(L, "late");
  CHECK(corral_host_start_string(h, "late()", "=late") == 0);
  for (i = 0; i < 3; i++) CHECK(corral_host_step(h) == CORRAL_RUNNING);
  CHECK(corral_host_close(h) == 0);
  uv_thread_join(&late_thread);              /* its completion frees the op */
  return 0;
}

/* --- two engines in two threads ------------------------------------------ */

typedef struct {
  int id, status;
  char result[64];
} engine_job_t;

static void engine_thread(void *arg) {
  engine_job_t *j = arg;
  corral_host_t *h;
  uv_loop_t loop;
  corral_host_opts_t o = {NULL, NULL, 0};
  char chunk[512];
  j->status = -1;
  if (uv_loop_init(&loop) != 0) return;
  o.loop = &loop;
  if (corral_host_new(&h, &o) != 0) return;
  snprintf(chunk, sizeof chunk,
    "local corral = require 'corral'\n"
    "local ch, n = corral.channel(0), 0\n"
    "corral.group(function(g)\n"
    "  g:spawn(function() for i = 1, 2000 do ch:send(i) end; ch:close() end)\n"
    "  g:spawn(function() for v in ch:iter() do n = n + v end end)\n"
    "  g:spawn(corral.sleep, 0.02)\n"
    "end)\n"
    "return %d * 1000000 + n", j->id);
  corral_host_start_string(h, chunk, "=engine");
  j->status = corral_host_run(h);
  host_result(h, j->result, sizeof j->result);
  corral_host_close(h);
  uv_loop_close(&loop);
}

static int test_two_engines_two_threads(void) {
  engine_job_t a = {1, 0, ""}, b = {2, 0, ""};
  uv_thread_t ta, tb;
  CHECK(uv_thread_create(&ta, engine_thread, &a) == 0);
  CHECK(uv_thread_create(&tb, engine_thread, &b) == 0);
  uv_thread_join(&ta);
  uv_thread_join(&tb);
  CHECK(a.status == CORRAL_OK && b.status == CORRAL_OK);
  CHECK(strcmp(a.result, "3001000") == 0);
  CHECK(strcmp(b.result, "4001000") == 0);
  return 0;
}

int main(void) {
  int failed = 0;
  RUN(test_cancel_while_blocked);
  RUN(test_stop_graceful);
  RUN(test_stop_grace_runs_out);
  RUN(test_close_with_op_in_flight);
  RUN(test_two_engines_two_threads);
  return failed != 0;
}
