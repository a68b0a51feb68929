/*
** test-host-ops.c -- host awaitables: completed from the loop thread and
** from worker threads; cancelled before, during and after completion,
** with either cancel policy; a delivered completion wins.
*/
#include "host_test.h"

#define NSLOTS 8
#define NTHREADS 64

/* Test-only bookkeeping (this file runs one host at a time). */
static corral_op_t *slots[NSLOTS];
static int cancels, created;
static uv_thread_t threads[NTHREADS];
static int nthreads;

typedef struct {
  uv_timer_t timer;
  corral_op_t *op;
  int ms, value, status;
} top_t;

static int top_results(lua_State *L, corral_op_t *op, int status) {
  top_t *t = corral_op_data(op);
  if (status) return luaL_error(L, "testop failed: %s", cr_strerror(status));
  lua_pushinteger(L, t->value);
  return 1;
}

static int cancel_abandon(corral_op_t *op) { (void)op; cancels++; return CORRAL_OP_ABANDON; }
static int cancel_wait(corral_op_t *op) { (void)op; cancels++; return CORRAL_OP_WAIT; }

static const corral_op_type_t type_abandon = {"testop", sizeof(top_t), top_results, cancel_abandon};
static const corral_op_type_t type_wait = {"testop", sizeof(top_t), top_results, cancel_wait};
static const corral_op_type_t type_plain = {"plainop", sizeof(top_t), NULL, NULL};
/* An answer that is neither: 257 once narrowed to a byte read as WAIT. */
static int cancel_odd(corral_op_t *op) { (void)op; cancels++; return 257; }
static const corral_op_type_t type_odd = {"testop", sizeof(top_t), top_results, cancel_odd};

/* A results callback that says it pushed what it did not: -1, or 3 values
** with 1 pushed. */
static int bad_results(lua_State *L, corral_op_t *op, int status) {
  top_t *t = corral_op_data(op);
  (void)status;
  lua_pushinteger(L, t->value);
  return t->value == 1 ? -1 : 3;
}
static const corral_op_type_t type_bad = {"badop", sizeof(top_t), bad_results, NULL};

static const corral_op_type_t *policy(lua_State *L, int arg) {
  const char *p = luaL_optstring(L, arg, "abandon");
  return strcmp(p, "wait") == 0 ? &type_wait
       : strcmp(p, "plain") == 0 ? &type_plain
       : strcmp(p, "odd") == 0 ? &type_odd
       : strcmp(p, "bad") == 0 ? &type_bad : &type_abandon;
}

static corral_op_t *newop(lua_State *L, int arg, int value) {
  corral_op_t *op = corral_op_new(L, policy(L, arg));
  top_t *t = corral_op_data(op);
  t->op = op;
  t->value = value;
  created++;
  return op;
}

/* test.manual(slot [, policy]): completed by test.complete. */
static int l_manual(lua_State *L) {
  int slot = (int)luaL_checkinteger(L, 1);
  corral_op_t *op = newop(L, 2, slot * 10);
  slots[slot] = op;
  return corral_op_await(L, op);
}

/* test.complete(slot, status, threadsafe) from a task (loop thread). */
static int l_complete(lua_State *L) {
  int slot = (int)luaL_checkinteger(L, 1);
  int status = (int)luaL_optinteger(L, 2, 0);
  corral_op_t *op = slots[slot];
  int rc = lua_toboolean(L, 3) ? corral_op_complete_threadsafe(op, status)
                               : corral_op_complete(op, status);
  slots[slot] = NULL;
  lua_pushinteger(L, rc);
  return 1;
}

/* test.timer(ms [, policy]): completed from a uv_timer callback. */
static void timer_closed(uv_handle_t *h) {
  top_t *t = h->data;
  corral_op_complete(t->op, t->status);
}
static void timer_fired(uv_timer_t *h) { uv_close((uv_handle_t *)h, timer_closed); }

static int l_timer(lua_State *L) {
  int ms = (int)luaL_checkinteger(L, 1);
  corral_op_t *op = newop(L, 2, ms);
  top_t *t = corral_op_data(op);
  uv_timer_init(corral_op_loop(op), &t->timer);
  t->timer.data = t;
  uv_timer_start(&t->timer, timer_fired, (uint64_t)ms, 0);
  return corral_op_await(L, op);
}

/* test.thread(ms [, policy]): a worker thread completes it. */
static void worker(void *arg) {
  top_t *t = arg;
  int i;
  for (i = 0; i < t->ms && !corral_op_cancelled(t->op); i++) uv_sleep(1);
  corral_op_complete_threadsafe(t->op, corral_op_cancelled(t->op) ? UV_ECANCELED : 0);
}

static int l_thread(lua_State *L) {
  int ms = (int)luaL_checkinteger(L, 1);
  corral_op_t *op;
  top_t *t;
  luaL_argcheck(L, nthreads < NTHREADS, 1, "too many threads");
  op = newop(L, 2, ms);
  t = corral_op_data(op);
  t->ms = ms;
  if (uv_thread_create(&threads[nthreads], worker, t) != 0)
    corral_op_complete(op, UV_EAGAIN);
  else
    nthreads++;
  return corral_op_await(L, op);
}

static void join_threads(void) {
  while (nthreads > 0) uv_thread_join(&threads[--nthreads]);
}

static int luaopen_test(lua_State *L) {
  static const luaL_Reg f[] = {{"manual", l_manual}, {"complete", l_complete},
    {"timer", l_timer}, {"thread", l_thread}, {NULL, NULL}};
  luaL_newlib(L, f);
  return 1;
}

/* Run `chunk` to the end on a fresh host with the test module; the result
** (or error) in buf. */
static int run(const char *chunk, char *buf, size_t n) {
  corral_host_t *h;
  lua_State *L;
  int st;
  cancels = created = 0;
  if (corral_host_new(&h, NULL) != 0) return -1;
  L = corral_host_state(h);
  luaL_requiref(L, "test", luaopen_test, 0);
  lua_pop(L, 1);
  if (corral_host_start_string(h, chunk, "=test") != 0) return -2;
  st = corral_host_run(h);
  host_result(h, buf, n);
  if (st != CORRAL_OK) fprintf(stderr, "  root: %s\n", corral_host_message(h));
  join_threads();
  corral_host_close(h);
  return st;
}

#define PRELUDE "local corral = require 'corral'; local test = require 'test'\n"

static int test_loop_thread(void) {
  char buf[256];
  CHECK(run(PRELUDE
    "local sum = 0\n"
    "corral.group(function(g)\n"
    "  for i = 1, 20 do g:spawn(function() local v = test.timer(i % 5); sum = sum + v end) end\n"
    "end)\n"
    "return sum", buf, sizeof buf) == CORRAL_OK);
  CHECK(strcmp(buf, "40") == 0);
  return 0;
}

static int test_worker_threads(void) {
  char buf[256];
  CHECK(run(PRELUDE
    "local sum = 0\n"
    "corral.group(function(g)\n"
    "  for i = 1, 32 do g:spawn(function() local v = test.thread(i % 7); sum = sum + v end) end\n"
    "end)\n"
    "return sum", buf, sizeof buf) == CORRAL_OK);
  CHECK(strcmp(buf, "94") == 0);
  return 0;
}

static int test_errors(void) {
  char buf[256];
  CHECK(run(PRELUDE
    "corral.spawn = nil\n"
    "local ok, e = pcall(function() return corral.group(function(g)\n"
    "  g:spawn(test.manual, 1, 'plain')\n"
    "  corral.sleep(0.001)\n"
    "  test.complete(1, -2)\n"            /* ENOENT: a plain error */
    "end) end)\n"
    "return tostring(e)", buf, sizeof buf) == CORRAL_OK);
  CHECK(strstr(buf, "plainop: no such file or directory") != NULL);
  CHECK(run(PRELUDE "return (select(2, pcall(test.timer, 1)))", buf, sizeof buf) == CORRAL_OK);
  CHECK(strcmp(buf, "1") == 0);
  /* outside a task: a clear error */
  CHECK(run(PRELUDE "local co = coroutine.wrap(function() return test.timer(1) end)\n"
                   "return select(2, pcall(co))", buf, sizeof buf) == CORRAL_OK);
  CHECK(strstr(buf, "testop: called outside a corral task") != NULL);
  CHECK(created == 0);
  return 0;
}

/* Cancelled before: the op is never created. */
static int test_cancel_before(void) {
  char buf[256];
  CHECK(run(PRELUDE
    "local r = corral.scope(function(s)\n"
    "  s:cancel('early')\n"
    "  test.timer(1)\n"
    "  return 'not reached'\n"
    "end)\n"
    "return tostring(r)", buf, sizeof buf) == CORRAL_OK);
  CHECK(strcmp(buf, "nil") == 0 && created == 0 && cancels == 0);
  return 0;
}

/* Cancelled during, abandon: Cancelled at once, the op completes later. */
static int test_cancel_during_abandon(void) {
  char buf[256];
  CHECK(run(PRELUDE
    "local log = {}\n"
    "corral.group(function(g)\n"
    "  local w = g:spawn(function()\n"
    "    local ok, e = pcall(test.manual, 1)\n"
    "    log[#log + 1] = tostring(e)\n"
    "    error(e, 0)\n"
    "  end)\n"
    "  corral.sleep(0.001)\n"
    "  w:cancel('go')\n"
    "  corral.sleep(0.001)\n"
    "  log[#log + 1] = test.complete(1)\n"  /* the host finishes anyway */
    "end)\n"
    "return table.concat(log, ' | ')", buf, sizeof buf) == CORRAL_OK);
  CHECK(strstr(buf, "Cancelled: go") != NULL && cancels == 1);
  CHECK(strstr(buf, "| 0") != NULL);
  /* the same with a worker thread that sees corral_op_cancelled */
  CHECK(run(PRELUDE
    "local r = corral.move_on_after(0.01, test.thread, 5000)\n"
    "return tostring(r)", buf, sizeof buf) == CORRAL_OK);
  if (strcmp(buf, "false") || cancels != 1) fprintf(stderr, "buf=%s cancels=%d\n", buf, cancels);
  CHECK(strcmp(buf, "false") == 0 && cancels == 1);
  return 0;
}

/* A cancel callback's answer other than ABANDON or WAIT abandons: 257
** was narrowed to a byte before the compare and read as WAIT, so the
** cancelled task waited for a completion that never came (a deadlock). */
static int test_cancel_answer_neither(void) {
  char buf[256];
  CHECK(run(PRELUDE
    "local r = corral.move_on_after(0.01, test.manual, 2, 'odd')\n"
    "test.complete(2)\n"
    "return tostring(r)", buf, sizeof buf) == CORRAL_OK);
  CHECK(strcmp(buf, "false") == 0 && cancels == 1);
  return 0;
}

/* Cancelled during, wait: the task waits for the host's completion. */
static int test_cancel_during_wait(void) {
  char buf[256];
  CHECK(run(PRELUDE
    "local log = {}\n"
    "corral.group(function(g)\n"
    "  local w = g:spawn(function()\n"
    "    local ok, e = pcall(test.manual, 1, 'wait')\n"
    "    log[#log + 1] = tostring(e)\n"
    "    ok, e = pcall(test.manual, 2, 'wait')\n"  /* raises at once */
    "    log[#log + 1] = tostring(e)\n"
    "  end)\n"
    "  corral.sleep(0.001)\n"
    "  w:cancel('go')\n"
    "  corral.sleep(0.001)\n"
    "  log[#log + 1] = w.status\n"             /* still waiting */
    "  test.complete(1, -125)\n"               /* ECANCELED */
    "end)\n"
    "return table.concat(log, ' | ')", buf, sizeof buf) == CORRAL_OK);
  CHECK(strncmp(buf, "waiting | Cancelled: go", 23) == 0 && cancels == 1);
  CHECK(strstr(strstr(buf, "Cancelled: go") + 1, "Cancelled: go") != NULL);
  /* the worker stops early and the task gets the Cancelled */
  CHECK(run(PRELUDE
    "local t0 = corral.now()\n"
    "local r = corral.move_on_after(0.01, test.thread, 5000, 'wait')\n"
    "return tostring(r) .. (corral.now() - t0 < 1 and ' fast' or ' slow')",
    buf, sizeof buf) == CORRAL_OK);
  CHECK(strcmp(buf, "false fast") == 0 && cancels == 1);
  return 0;
}

/* Completed, then cancelled before the task resumed: the results win and
** the next cancellation point raises. Both completion paths. */
static int test_cancel_after_completion(void) {
  char buf[256];
  int threadsafe;
  for (threadsafe = 0; threadsafe < 2; threadsafe++) {
    char chunk[1024];
    snprintf(chunk, sizeof chunk, PRELUDE
      "local log = {}\n"
      "corral.group(function(g)\n"
      "  local w = g:spawn(function()\n"
      "    log[#log + 1] = test.manual(3, 'wait')\n"
      "    log[#log + 1] = tostring(select(2, pcall(corral.checkpoint)))\n"
      "  end)\n"
      "  corral.sleep(0.001)\n"
      "  test.complete(3, 0, %s)\n"
      "  w:cancel('late')\n"
      "end)\n"
      "return table.concat(log, ' | ')", threadsafe ? "true" : "false");
    CHECK(run(chunk, buf, sizeof buf) == CORRAL_OK);
    CHECK(strncmp(buf, "30 | Cancelled: late", 20) == 0);
    CHECK(cancels == 0);                    /* nothing left to cancel */
  }
  return 0;
}

/* A results callback whose count is negative, or more than it pushed: an
** error naming the op (it read the stack below, or said out of memory). */
static int test_bad_results_count(void) {
  char buf[256];
  CHECK(run(PRELUDE "return select(2, pcall(test.timer, 1, 'bad'))", buf,
            sizeof buf) == CORRAL_OK);
  CHECK(strstr(buf, "badop: its results callback returned -1, with 1 values "
                    "pushed") != NULL);
  CHECK(run(PRELUDE "return select(2, pcall(test.timer, 2, 'bad'))", buf,
            sizeof buf) == CORRAL_OK);
  CHECK(strstr(buf, "badop: its results callback returned 3, with 1 values "
                    "pushed") != NULL);
  return 0;
}

/* Completed before corral_op_await is even called. */
static int test_complete_before_await(void) {
  char buf[64];
  CHECK(run(PRELUDE "return test.thread(0)", buf, sizeof buf) == CORRAL_OK);
  CHECK(strcmp(buf, "0") == 0);
  return 0;
}

/* Trio's test_failed_abort: a cancel the op answers with WAIT does not wake
** the task; the host then completes it with 0, the task gets the results,
** and its next cancellation point raises the cancel it did not see. */
static int test_cancel_wait_then_success(void) {
  char buf[256];
  CHECK(run(PRELUDE
    "local log = {}\n"
    "corral.group(function(g)\n"
    "  local sc\n"
    "  g:spawn(function()\n"
    "    corral.scope(function(s)\n"
    "      sc = s\n"
    "      log[#log + 1] = 'sleep'\n"
    "      local x = test.manual(1, 'wait')\n"
    "      log[#log + 1] = 'woke ' .. x\n"
    "      local ok, e = pcall(corral.checkpoint)\n"
    "      log[#log + 1] = ok and 'not cancelled' or tostring(e)\n"
    "    end)\n"
    "  end)\n"
    "  corral.sleep(0.001)\n"
    "  sc:cancel('stubborn')\n"
    "  corral.sleep(0.001)\n"
    "  log[#log + 1] = 'still asleep'\n"    /* the cancel did not wake it */
    "  test.complete(1, 0)\n"
    "end)\n"
    "return table.concat(log, ' | ')", buf, sizeof buf) == CORRAL_OK);
  CHECK(strncmp(buf, "sleep | still asleep | woke 10 | Cancelled: stubborn", 52) == 0);
  CHECK(cancels == 1);
  return 0;
}

int main(void) {
  int failed = 0;
  RUN(test_loop_thread);
  RUN(test_worker_threads);
  RUN(test_errors);
  RUN(test_cancel_before);
  RUN(test_cancel_during_abandon);
  RUN(test_cancel_during_wait);
  RUN(test_cancel_answer_neither);
  RUN(test_cancel_after_completion);
  RUN(test_cancel_wait_then_success);
  RUN(test_complete_before_await);
  RUN(test_bad_results_count);
  return failed != 0;
}
