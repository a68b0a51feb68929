/*
** test-host-misuse.c -- host API misuse that a hostile pass turned into a
** use-after-free, a NULL dereference, an overflow or a lost error: an
** awaitable called where its task cannot yield, a close while a name lookup
** runs in libuv's thread pool, corral_host_message called twice, results
** after a start that ran out of memory, host calls from the host's own
** callback while corral_host_run drives the loop, an op type of absurd
** size, an error completion delivered before a cancel, an op awaited by a
** second task while the first still waits on it, the timeout of a
** stepped host, a lock released by host code between steps, a task that
** turns an attached loop itself, and a host's timer left on corral's own
** loop at close. Run under ASan by `make sanitize`, where a use-after-free
** fails it.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <netdb.h>
#include <stdint.h>
#include <stdlib.h>
#include "host_test.h"

/* A resolver that takes 200 ms (it stands in for a slow DNS server): the
** lookup is still running in the thread pool when the host closes. */
int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res) {
  int (*real)(const char *, const char *, const struct addrinfo *,
              struct addrinfo **);
  *(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
  uv_sleep(200);
  return real(node, service, hints, res);
}

/* --- an awaitable that completes itself after 1 ms ---------------------- */

static void fire(uv_timer_t *t) {
  corral_op_complete(t->data, 0);
  uv_close((uv_handle_t *)t, NULL);
}

static const corral_op_type_t type_job = {"job", sizeof(uv_timer_t), NULL,
                                          NULL};

static int l_job(lua_State *L) {
  corral_op_t *op = corral_op_new(L, &type_job);
  uv_timer_t *t = corral_op_data(op);
  uv_timer_init(corral_op_loop(op), t);
  t->data = op;
  uv_timer_start(t, fire, 1, 0);
  return corral_op_await(L, op);
}

/* Called from a table.sort comparator the task could not yield: it was
** parked all the same, ran on, and the completion later woke the freed
** task (or another wait of it). It raises now, before any op exists. */
static int test_awaitable_where_the_task_cannot_yield(void) {
  corral_host_t *h;
  char buf[256];
  CHECK(corral_host_new(&h, NULL) == 0);
  lua_register(corral_host_state(h), "job", l_job);
  CHECK(corral_host_start_string(h,
    "local c = require 'corral'\n"
    "local ok, err = pcall(table.sort, {3, 2, 1}, function(a, b)\n"
    "  job() return a < b end)\n"
    "local ev = c.event()\n"
    "local woke = c.move_on_after(0.05, ev.wait, ev)\n"
    "return tostring(err) .. ' / woke=' .. tostring(woke)", "=t") == 0);
  CHECK(corral_host_run(h) == CORRAL_OK);
  host_result(h, buf, sizeof buf);
  CHECK(strstr(buf, "job: cannot block here") != NULL);
  CHECK(strstr(buf, "woke=false") != NULL);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* Closed on the host's own loop while corral.resolve ran in the thread
** pool: the lookup's callback ran later, on the host's uv_run, into the
** freed engine. */
static int test_close_while_a_lookup_runs(void) {
  uv_loop_t loop;
  corral_host_t *h;
  int i;
  CHECK(host_on_loop(&loop, &h) == 0);
  CHECK(corral_host_start_string(h,
    "require('corral').resolve('localhost')", "=r") == 0);
  for (i = 0; i < 3; i++) corral_host_step(h);
  uv_sleep(50);
  CHECK(corral_host_close(h) == 0);
  CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);   /* the lookup ends here */
  CHECK(uv_loop_close(&loop) == 0);
  return 0;
}

/* A second call freed the string the first returned. */
static int test_message_twice(void) {
  corral_host_t *h;
  const char *m1, *m2;
  CHECK(corral_host_new(&h, NULL) == 0);
  /* (an error object: each message is a new string, long, not interned) */
  CHECK(corral_host_start_string(h, "error(setmetatable({}, {__tostring ="
    " function() return ('boom '):rep(20) end}))", "=m") == 0);
  CHECK(corral_host_run(h) == CORRAL_ERROR);
  m1 = corral_host_message(h);
  m2 = corral_host_message(h);
  lua_gc(corral_host_state(h), LUA_GCCOLLECT, 0);
  CHECK(m1 != NULL && m1 == m2);
  CHECK(strncmp(m1, "boom boom ", 10) == 0);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* An allocator whose growing allocations fail once `budget` of them have
** been made since `used` was last reset (budget -1: never). */
static long budget = -1, used;
static void *budget_alloc(void *ud, void *p, size_t osize, size_t nsize) {
  (void)ud;
  if (nsize == 0) {
    free(p);
    return NULL;
  }
  if (nsize > osize) {
    if (budget >= 0 && used >= budget) return NULL;
    used++;
  }
  return realloc(p, nsize);
}

/* A host on a state of budget_alloc's, with the standard libraries: the
** state, or NULL. */
static lua_State *budget_host(corral_host_t **h) {
  corral_host_opts_t o = {NULL, NULL, 0};
  o.L = lua_newstate(budget_alloc, NULL);
  if (o.L == NULL) return NULL;
  luaL_openlibs(o.L);
  if (corral_host_new(h, &o) != 0) {
    lua_close(o.L);
    return NULL;
  }
  return o.L;
}

/* The start failed with memory too short even to keep its error: results
** read the missing root. */
static int test_results_after_a_start_out_of_memory(void) {
  corral_host_t *h;
  lua_State *L, *own = budget_host(&h);
  const char *m;
  CHECK(own != NULL);
  L = corral_host_state(h);
  budget = 0;                                 /* fail from now on */
  CHECK(corral_host_start_string(h, "return 1", "=s") == CORRAL_ERROR);
  budget = -1;
  CHECK(corral_host_results(h, L) >= 0);
  lua_settop(L, 0);
  m = corral_host_message(h);
  CHECK(m != NULL && strstr(m, "memory") != NULL);
  CHECK(corral_host_close(h) == 0);
  lua_close(own);
  return 0;
}

/* The message made while memory ran out said "(error object is not a
** string)" of a string error; it says memory now, and is made next time. */
static int test_message_out_of_memory(void) {
  corral_host_t *h;
  lua_State *own = budget_host(&h);
  const char *m;
  CHECK(own != NULL);
  CHECK(corral_host_start_string(h, "error('boom', 0)", "=m") == 0);
  CHECK(corral_host_run(h) == CORRAL_ERROR);
  budget = 0;                                 /* fail from now on */
  m = corral_host_message(h);
  budget = -1;
  CHECK(m != NULL && strstr(m, "not enough memory") != NULL);
  m = corral_host_message(h);
  CHECK(m != NULL && strcmp(m, "boom") == 0);
  CHECK(corral_host_close(h) == 0);
  lua_close(own);
  return 0;
}

/* An allocator whose growing allocation number `fail_at` (counted from
** when `counted` was reset), and Lua's emergency-collection retry of it,
** fail; every other one succeeds (fail_at -1: none fails). */
static long fail_at = -1, counted;
static void *once_alloc(void *ud, void *p, size_t osize, size_t nsize) {
  (void)ud;
  if (nsize == 0) {
    free(p);
    return NULL;
  }
  if (fail_at >= 0 && nsize > (p ? osize : 0)) {
    long c = counted++;
    if (c == fail_at || c == fail_at + 1) return NULL;
  }
  return realloc(p, nsize);
}

/* One root ended by `script` (and a host cancel when `cancel`), its
** message made while allocation k fails once: the next message is the
** real one, whose first bytes are `want`. *done once none failed. */
static int message_after_one_failure(long k, const char *script, int cancel,
                                     const char *want, int *done) {
  lua_State *L = lua_newstate(once_alloc, NULL);
  corral_host_opts_t o = {NULL, NULL, 0};
  corral_host_t *h;
  const char *m;
  CHECK(L != NULL);
  o.L = L;
  luaL_openlibs(L);
  CHECK(corral_host_new(&h, &o) == 0);
  CHECK(corral_host_start_string(h, script, "=root") == 0);
  if (cancel) {
    corral_host_step(h);
    CHECK(corral_host_cancel(h, "shutting down") == 0);
  }
  corral_host_run(h);
  counted = 0;
  fail_at = k;
  m = corral_host_message(h);
  fail_at = -1;
  *done = counted <= k;
  CHECK(m != NULL);
  m = corral_host_message(h);
  if (!(m != NULL && strncmp(m, want, strlen(want)) == 0))
    fprintf(stderr, "allocation %ld failed once: then \"%s\"\n", k,
            m ? m : "(NULL)");
  CHECK(m != NULL && strncmp(m, want, strlen(want)) == 0);
  CHECK(corral_host_close(h) == 0);
  lua_close(L);
  return 0;
}

/* A __tostring (a Cancelled's, an ErrorGroup's tree) that ran out of
** memory once was taken for a broken one: "(a table value whose
** __tostring failed)" became the message, kept for good. Memory errors
** go on now, so the message is made again at the next call. */
static int test_message_after_one_allocation_failed(void) {
  static const char group[] =
    "local c = require 'corral'\n"
    "c.group(function(g)\n"
    "  g:spawn(function() error('child A') end)\n"
    "  g:spawn(function() error('child B') end)\n"
    "end)";
  long k;
  int done = 0;
  for (k = 0; !done; k++)
    CHECK(message_after_one_failure(k, group, 0, "ErrorGroup: 2 failures",
                                    &done) == 0);
  for (k = 0, done = 0; !done; k++)
    CHECK(message_after_one_failure(k, "require('corral').sleep(10)", 1,
                                    "Cancelled: shutting down", &done) == 0);
  return 0;
}

/* A stop's reason, copied by corral_host_stop, was leaked when memory ran
** out while the loop thread made it a Lua string (found by LeakSanitizer
** under `make sanitize`). Every allocation of the step that delivers the
** request fails once in turn; the root still ends, with the reason or
** "not enough memory". */
static int test_stop_reason_when_memory_runs_out(void) {
  long k;
  int done = 0;
  for (k = 0; !done; k++) {
    lua_State *L = lua_newstate(once_alloc, NULL);
    corral_host_opts_t o = {NULL, NULL, 0};
    corral_host_t *h;
    int st;
    CHECK(L != NULL);
    o.L = L;
    luaL_openlibs(L);
    CHECK(corral_host_new(&h, &o) == 0);
    CHECK(corral_host_start_string(h,
      "return require('corral').host.wait_stop()", "=root") == 0);
    CHECK(corral_host_step(h) == CORRAL_RUNNING);       /* waits for it */
    CHECK(corral_host_stop(h, 0, "a reason long enough for a fresh string")
          == 0);
    counted = 0;
    fail_at = k;
    st = corral_host_step(h);                 /* the request arrives */
    fail_at = -1;
    done = counted <= k;
    if (st == CORRAL_RUNNING) st = corral_host_run(h);
    CHECK(st == CORRAL_OK || st == CORRAL_ERROR || st == CORRAL_CANCELLED);
    CHECK(corral_host_close(h) == 0);
    lua_close(L);
  }
  return 0;
}

/* A blocking call made in the host's state between roots blamed "a
** coroutine that corral does not run" (a coroutine.wrap generator); it is
** outside any run: the message says so, as outside corral.run. */
static int test_blocking_call_between_roots(void) {
  corral_host_t *h;
  lua_State *L;
  CHECK(corral_host_new(&h, NULL) == 0);
  L = corral_host_state(h);
  CHECK(corral_host_start_string(h, "return 1", "=r") == 0);
  CHECK(corral_host_run(h) == CORRAL_OK);
  CHECK(luaL_dostring(L, "local c = require 'corral'\n"
    "local ok, e = pcall(c.sleep, 1)\n"
    "local ok2, e2 = pcall(c.channel(1).recv, c.channel(1))\n"
    "return e .. '|' .. e2") == LUA_OK);
  if (strcmp(lua_tostring(L, -1), "corral.sleep: called outside corral.run|"
             "channel:recv: called outside corral.run") != 0)
    fprintf(stderr, "  %s\n", lua_tostring(L, -1));
  CHECK(strcmp(lua_tostring(L, -1), "corral.sleep: called outside corral.run|"
               "channel:recv: called outside corral.run") == 0);
  lua_pop(L, 1);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* Results that did not fit on the caller's stack gave 0, as a root that
** returned nothing does: the host could not tell. CR_ENOMEM now. */
static int test_results_that_do_not_fit(void) {
  corral_host_t *h;
  lua_State *L;
  int i;
  CHECK(corral_host_new(&h, NULL) == 0);
  L = corral_host_state(h);
  CHECK(corral_host_start_string(h, "local t = {} for i = 1, 999000 do "
                                 "t[i] = i end return table.unpack(t)",
                                 "=m") == 0);
  CHECK(corral_host_run(h) == CORRAL_OK);
  CHECK(lua_checkstack(L, 20000));
  for (i = 0; i < 20000; i++) lua_pushinteger(L, i);
  CHECK(corral_host_results(h, L) == CR_ENOMEM);
  CHECK(lua_gettop(L) == 20000);             /* nothing pushed */
  lua_settop(L, 0);
  CHECK(corral_host_results(h, L) == 999000);
  CHECK(lua_tointeger(L, -1) == 999000);
  lua_settop(L, 0);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* corral_host_results grew a thread's stack for the results and the
** root, then asked for one slot more than that growth gave: with memory
** for only the first growth, the second raised outside any pcall and
** Lua's panic aborted the process instead of giving CR_ENOMEM. */
static int test_results_when_the_stack_grows_short(void) {
  corral_host_t *h;
  lua_State *L, *co, *own = budget_host(&h);
  int n;
  CHECK(own != NULL);
  L = corral_host_state(h);
  CHECK(corral_host_start_string(h, "return table.unpack((function() "
                                 "local t = {} for i = 1, 200 do t[i] = i "
                                 "end return t end)())", "=m") == 0);
  CHECK(corral_host_run(h) == CORRAL_OK);
  co = lua_newthread(L);                   /* a small stack */
  used = 0;
  budget = 1;                              /* one growth, no more */
  n = corral_host_results(h, co);
  budget = -1;
  CHECK(n == 200 || n == CR_ENOMEM);
  CHECK(n == CR_ENOMEM || lua_tointeger(co, -1) == 200);
  lua_settop(L, 0);
  CHECK(corral_host_close(h) == 0);
  lua_close(own);
  return 0;
}

/* Attached, memory that ran out in a task's bookkeeping (a failure being
** recorded for its group) raised through the host's loop callback into
** Lua's panic handler: the process aborted. Each attached pass is
** protected now, as corral_host_run's steps are. Every allocation from
** the n-th on fails, for every n the run makes. */
static void attached_done(corral_host_t *h, int status, void *arg) {
  (void)h;
  *(int *)arg = status;
}

/* One attached run with n allocations allowed after the start (-1: all):
** how many it made. */
static long attached_run(long n) {
  static const char script[] =
    "local c = require 'corral'\n"
    "c.group(function(g)\n"
    "  for i = 1, 4 do g:spawn(function() c.sleep(0); error('f' .. i) end) end\n"
    "end)";
  corral_host_opts_t o = {NULL, NULL, 0};
  corral_host_t *h;
  uv_loop_t loop;
  int status = -1;
  long made = 0;
  o.L = lua_newstate(budget_alloc, NULL);
  luaL_openlibs(o.L);
  uv_loop_init(&loop);
  o.loop = &loop;
  if (corral_host_new(&h, &o) == 0) {
    if (corral_host_start_string(h, script, "=oom") == 0 &&
        corral_host_attach(h, attached_done, &status) == 0) {
      used = 0;
      budget = n;
      uv_run(&loop, UV_RUN_DEFAULT);
      budget = -1;
      made = used;
    }
    corral_host_close(h);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  lua_close(o.L);
  return made;
}

static int test_attached_out_of_memory(void) {
  long n, total = attached_run(-1);
  CHECK(total > 0);
  for (n = 0; n <= total; n++) attached_run(n);   /* aborted before */
  return 0;
}

/* --- host calls from the host's own callback, during corral_host_run ---- */

static corral_host_t *H;
static int which, in_timer_rc;

static void host_timer(uv_timer_t *t) {
  in_timer_rc = which == 0 ? corral_host_close(H)
              : which == 1 ? corral_host_step(H)
              : which == 2 ? corral_host_run(H)
                           : corral_host_attach(H, NULL, NULL);
  uv_close((uv_handle_t *)t, NULL);
}

/* The close freed the engine corral_host_run was driving; step and run
** re-entered uv_run, which libuv does not allow. */
static int test_host_calls_while_run_drives_the_loop(void) {
  for (which = 0; which < 4; which++) {
    uv_loop_t loop;
    uv_timer_t t;
    CHECK(host_on_loop(&loop, &H) == 0);
    CHECK(uv_timer_init(&loop, &t) == 0);
    CHECK(uv_timer_start(&t, host_timer, 5, 0) == 0);
    CHECK(corral_host_start_string(H,
      "require('corral').sleep(0.05) return 1", "=r") == 0);
    in_timer_rc = 1;
    CHECK(corral_host_run(H) == CORRAL_OK);
    CHECK(in_timer_rc == CR_EBUSY);
    CHECK(corral_host_close(H) == 0);
    CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
    CHECK(uv_loop_close(&loop) == 0);
  }
  return 0;
}

/* --- op types -------------------------------------------------------------- */

static const corral_op_type_t type_huge = {"huge", SIZE_MAX - 15, NULL, NULL};
static int l_huge(lua_State *L) {
  return corral_op_await(L, corral_op_new(L, &type_huge));
}

/* sizeof(op) + SIZE_MAX - 15 wrapped to a tiny block, then written past. */
static int test_op_of_absurd_size(void) {
  corral_host_t *h;
  char buf[256];
  CHECK(corral_host_new(&h, NULL) == 0);
  lua_register(corral_host_state(h), "huge", l_huge);
  CHECK(corral_host_start_string(h,
    "return select(2, pcall(huge))", "=h") == 0);
  CHECK(corral_host_run(h) == CORRAL_OK);
  CHECK(strstr(host_result(h, buf, sizeof buf), "not enough memory") != NULL);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

static corral_op_t *last_op;
static int results_calls;
static int job_results(lua_State *L, corral_op_t *op, int status) {
  (void)op;
  results_calls++;
  if (status) return luaL_error(L, "job failed: %s", uv_strerror(status));
  lua_pushliteral(L, "data");
  return 1;
}
static const corral_op_type_t type_held = {"held", 0, job_results, NULL};
static int l_held(lua_State *L) {
  last_op = corral_op_new(L, &type_held);
  return corral_op_await(L, last_op);
}
static int l_finish(lua_State *L) {
  corral_op_complete(last_op, (int)luaL_checkinteger(L, 1));
  return 0;
}

/* An error completion delivered before a cancel was replaced by the
** Cancelled: the results callback was skipped and the error lost. A
** delivered completion wins, an error as a result. */
static int test_error_completion_before_a_cancel_wins(void) {
  corral_host_t *h;
  lua_State *L;
  char buf[256];
  CHECK(corral_host_new(&h, NULL) == 0);
  L = corral_host_state(h);
  lua_register(L, "held", l_held);
  lua_register(L, "finish", l_finish);
  lua_pushinteger(L, UV_EIO);
  lua_setglobal(L, "EIO");
  CHECK(corral_host_start_string(h,
    "local c, out = require 'corral'\n"
    "c.group(function(g)\n"
    "  local S\n"
    "  g:spawn(function() c.scope(function(s) S = s\n"
    "    local ok, v = pcall(held); out = tostring(v)\n"
    "    c.checkpoint() end) end)\n"
    "  g:spawn(function() c.checkpoint(); finish(EIO); S:cancel() end)\n"
    "end)\n"
    "return out", "=e") == 0);
  results_calls = 0;
  CHECK(corral_host_run(h) == CORRAL_OK);
  CHECK(strstr(host_result(h, buf, sizeof buf), "job failed") != NULL);
  CHECK(results_calls == 1);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

static int l_await_last(lua_State *L) { return corral_op_await(L, last_op); }

/* A second task awaiting an op the first still waited on took the op over:
** the first was never woken, and the host's count of waits never went back
** to zero, so the run hung instead of ending. It raises now. */
static int test_op_awaited_twice(void) {
  corral_host_t *h;
  lua_State *L;
  char buf[256];
  corral_host_opts_t o = {NULL, NULL, 1};        /* the virtual clock */
  CHECK(corral_host_new(&h, &o) == 0);
  L = corral_host_state(h);
  lua_register(L, "held", l_held);
  lua_register(L, "await_last", l_await_last);
  lua_register(L, "finish", l_finish);
  CHECK(corral_host_start_string(h,
    "local c, first, second = require 'corral'\n"
    "c.group(function(g)\n"
    "  g:spawn(function() first = held() end)\n"
    "  c.sleep(0.1)\n"
    "  g:spawn(function() second = select(2, pcall(await_last)) end)\n"
    "  c.sleep(0.1)\n"
    "  finish(0)\n"
    "end)\n"
    "return first .. ' | ' .. second", "=t") == 0);
  results_calls = 0;
  CHECK(corral_host_run(h) == CORRAL_OK);
  host_result(h, buf, sizeof buf);
  CHECK(strncmp(buf, "data | ", 7) == 0);
  CHECK(strstr(buf, "held: this op is already awaited") != NULL);
  CHECK(results_calls == 1);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* The timeout counted from the loop's cached time: a host that spent time
** outside it since the last step was told to wait the whole deadline. */
static int test_timeout_counts_from_now(void) {
  corral_host_t *h;
  int t0, t1;
  CHECK(corral_host_new(&h, NULL) == 0);
  CHECK(corral_host_start_string(h, "require('corral').sleep(0.2)", "=s") == 0);
  CHECK(corral_host_step(h) == CORRAL_RUNNING);
  t0 = corral_host_timeout(h);
  uv_sleep(120);
  t1 = corral_host_timeout(h);
  CHECK(t0 > 150 && t1 <= t0 - 100);
  uv_sleep(120);
  CHECK(corral_host_timeout(h) == 0);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* Host code between two steps released a lock a task of the running root
** held: two tasks were inside at once. */
static int test_host_cannot_release_a_live_tasks_lock(void) {
  corral_host_t *h;
  lua_State *L;
  char buf[256];
  int i, st;
  CHECK(corral_host_new(&h, NULL) == 0);
  L = corral_host_state(h);
  CHECK(corral_host_start_string(h,
    "local c = require 'corral'\n"
    "LK = c.lock()\n"
    "LK:acquire(); c.sleep(0.01); LK:release()\n"
    "return 'released by its holder'", "=lock") == 0);
  for (i = 0; i < 3; i++) corral_host_step(h);
  CHECK(luaL_dostring(L, "LK:release()") != LUA_OK);
  CHECK(strstr(lua_tostring(L, -1), "held by another task") != NULL);
  lua_settop(L, 0);
  /* A blocking call there is outside any task, not in a coroutine. */
  CHECK(luaL_dostring(L, "LK:acquire()") != LUA_OK);
  CHECK(strstr(lua_tostring(L, -1), "lock:acquire: called outside a corral "
                                    "task (no task is running") != NULL);
  lua_settop(L, 0);
  while ((st = corral_host_step(h)) == CORRAL_RUNNING) uv_sleep(1);
  CHECK(st == CORRAL_OK);
  CHECK(strcmp(host_result(h, buf, sizeof buf), "released by its holder") == 0);
  /* A root that ended keeping a lock: between roots the host frees it; in
  ** a later root it still counts as another task's. */
  CHECK(corral_host_start_string(h, "LK2 = require('corral').lock()\n"
    "LK2:acquire() LK3 = require('corral').lock() LK3:acquire()", "=k") == 0);
  CHECK(corral_host_run(h) == CORRAL_OK);
  CHECK(luaL_dostring(L, "LK2:release()") == LUA_OK);
  CHECK(corral_host_start_string(h, "require('corral').sleep(0.05)", "=l") == 0);
  CHECK(corral_host_step(h) == CORRAL_RUNNING);
  CHECK(luaL_dostring(L, "LK3:release()") != LUA_OK);
  lua_settop(L, 0);
  CHECK(corral_host_run(h) == CORRAL_OK);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

static uv_loop_t pump_loop;
static int l_pump(lua_State *L) {
  (void)L;
  uv_run(&pump_loop, UV_RUN_NOWAIT);   /* what libuv forbids in a callback */
  return 0;
}
static int pump_done = -1;
static void on_pump_done(corral_host_t *h, int status, void *arg) {
  (void)h;
  (void)arg;
  pump_done = status;
}

/* Attached, a task's C function that turned the loop itself ran corral's
** check callback inside the task: no task was ready, and it reported a
** deadlock with a task still on the C stack. */
static int test_attached_task_that_turns_the_loop(void) {
  corral_host_t *h;
  char buf[64];
  CHECK(host_on_loop(&pump_loop, &h) == 0);
  lua_register(corral_host_state(h), "pump", l_pump);
  CHECK(corral_host_attach(h, on_pump_done, NULL) == 0);
  CHECK(corral_host_start_string(h,
    "local c, n = require 'corral', 0\n"
    "c.group(function(g)\n"
    "  for i = 1, 4 do g:spawn(function()\n"
    "    for k = 1, 50 do n = n + 1; c.checkpoint() end end) end\n"
    "  g:spawn(function() for k = 1, 20 do pump(); c.checkpoint() end end)\n"
    "end)\n"
    "return n", "=pump") == 0);
  CHECK(uv_run(&pump_loop, UV_RUN_DEFAULT) == 0);
  CHECK(pump_done == CORRAL_OK);
  CHECK(strcmp(host_result(h, buf, sizeof buf), "200") == 0);
  CHECK(corral_host_close(h) == 0);
  CHECK(uv_loop_close(&pump_loop) == 0);
  return 0;
}

static int beats;
static void beat(uv_timer_t *t) {
  (void)t;
  beats++;
}

/* On corral's own loop, a host's repeating timer left running kept the
** close in uv_run for ever (and one left stopped made the loop's close fail,
** after which the loop was freed under it). The close closes it too. */
static int test_close_with_a_host_timer_on_corrals_loop(void) {
  corral_host_t *h;
  uv_timer_t hb;
  CHECK(corral_host_new(&h, NULL) == 0);
  CHECK(uv_timer_init(corral_host_loop(h), &hb) == 0);
  CHECK(uv_timer_start(&hb, beat, 5, 5) == 0);
  CHECK(corral_host_start_string(h,
    "require('corral').sleep(0.03) return 1", "=r") == 0);
  CHECK(corral_host_run(h) == CORRAL_OK);
  CHECK(beats > 0);
  CHECK(corral_host_close(h) == 0);          /* returns: hb is closed */
  return 0;
}

/* A host's cancel and stop reached the root only when libuv ran the hub's
** async, which a pass does only while something referenced keeps the loop
** alive: a root that only checkpoints, or one on the virtual clock, never
** heard of them (the run went on for ever, or ended OK). */
static corral_host_t *watched;
static void watchdog(void *arg) {
  (void)arg;
  uv_sleep(50);
  corral_host_cancel(watched, "watchdog");
}

static int test_cancel_reaches_a_busy_root(void) {
  uv_thread_t th;
  CHECK(corral_host_new(&watched, NULL) == 0);
  CHECK(corral_host_start_string(watched,
    "local c = require 'corral'\n"
    "while true do c.sleep(0) end", "=busy") == 0);
  CHECK(uv_thread_create(&th, watchdog, NULL) == 0);
  CHECK(corral_host_run(watched) == CORRAL_CANCELLED);
  CHECK(uv_thread_join(&th) == 0);
  CHECK(strstr(corral_host_message(watched), "watchdog") != NULL);
  CHECK(corral_host_close(watched) == 0);
  return 0;
}

static int test_requests_between_steps_on_the_virtual_clock(void) {
  corral_host_opts_t o = {NULL, NULL, 1};
  corral_host_t *h;
  lua_State *L;
  int i, st = CORRAL_RUNNING;
  CHECK(corral_host_new(&h, &o) == 0);
  L = corral_host_state(h);
  CHECK(corral_host_start_string(h,
    "local c = require 'corral'\n"
    "for i = 1, 5 do c.sleep(1) end\n"
    "return 'slept'", "=v") == 0);
  for (i = 0; st == CORRAL_RUNNING && i < 1000; i++) {
    st = corral_host_step(h);
    if (i == 1) CHECK(corral_host_cancel(h, "between steps") == 0);
  }
  CHECK(st == CORRAL_CANCELLED);
  CHECK(strstr(corral_host_message(h), "between steps") != NULL);
  /* A stop the same way: wait_stop returns, and its grace ends the root. */
  CHECK(corral_host_start_string(h,
    "local c = require 'corral'\n"
    "c.group(function(g)\n"
    "  local t0 = c.now()\n"
    "  g:spawn(function() c.host.wait_stop() STOPPED = c.now() - t0 end)\n"
    "  for i = 1, 5 do c.sleep(1) end\n"
    "end)\n"
    "return 'slept'", "=v") == 0);
  st = corral_host_step(h);
  CHECK(corral_host_stop(h, 2, "stop between steps") == 0);
  for (i = 0; st == CORRAL_RUNNING && i < 1000; i++) st = corral_host_step(h);
  CHECK(st == CORRAL_CANCELLED);
  CHECK(lua_getglobal(L, "STOPPED") == LUA_TNUMBER);
  CHECK(lua_tonumber(L, -1) <= 1);       /* heard at once, not at the end */
  CHECK(strstr(corral_host_message(h), "stop between steps") != NULL);
  lua_settop(L, 0);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* corral_host_results called by a __gc that the close of corral's own
** state runs read the state being closed. */
static int l_results_in_gc(lua_State *L) {
  lua_pushinteger(L, corral_host_results(watched, L));
  lua_setglobal(L, "RESULTS_IN_GC");
  return 0;
}

static int test_results_from_a_gc_during_close(void) {
  CHECK(corral_host_new(&watched, NULL) == 0);
  lua_register(corral_host_state(watched), "results", l_results_in_gc);
  CHECK(corral_host_start_string(watched,
    "keep = setmetatable({}, {__gc = function() results() end})\n"
    "return 1", "=gc") == 0);
  CHECK(corral_host_run(watched) == CORRAL_OK);
  CHECK(corral_host_close(watched) == 0);        /* the __gc runs: no crash */
  return 0;
}

/* An error whose own text holds the words corral puts where memory cut a
** part short was reported as "not enough memory". */
static int test_message_with_the_nomem_words(void) {
  corral_host_t *h;
  CHECK(corral_host_new(&h, NULL) == 0);
  CHECK(corral_host_start_string(h, "error('quota: (not enough memory to "
    "describe it) upstream', 0)", "=q") == 0);
  CHECK(corral_host_run(h) == CORRAL_ERROR);
  CHECK(strcmp(corral_host_message(h),
               "quota: (not enough memory to describe it) upstream") == 0);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* A group whose one member's __tostring runs out of memory (Lua takes an
** error "not enough memory" for one) was described as a whole by "not
** enough memory": the other failures could not be read. */
static int test_message_with_one_part_out_of_memory(void) {
  corral_host_t *h;
  const char *m, *again;
  CHECK(corral_host_new(&h, NULL) == 0);
  CHECK(corral_host_start_string(h,
    "local c = require 'corral'\n"
    "local bad = setmetatable({}, {__tostring = function()\n"
    "  error('not enough memory', 0) end})\n"
    "c.group(function(g)\n"
    "  g:spawn(error, 'plain failure', 0)\n"
    "  g:spawn(error, bad)\n"
    "end, {defer_errors = true})", "=p") == 0);
  CHECK(corral_host_run(h) == CORRAL_ERROR);
  m = corral_host_message(h);
  CHECK(m != NULL && strstr(m, "plain failure") != NULL);
  CHECK(strstr(m, "(not enough memory to describe it)") != NULL);
  again = corral_host_message(h);            /* tried again: the same text */
  CHECK(again != NULL && strcmp(again, m) == 0);
  CHECK(strstr(m, "plain failure") != NULL);  /* the first is still valid */
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* The host's own C function, called from Lua on the state corral created
** for it, closed the host: the state was closed under the running code (a
** crash). It is refused, and the host closes once that code returned. */
static corral_host_t *closing_host;
static int l_quit(lua_State *L) {
  lua_pushinteger(L, corral_host_close(closing_host));
  return 1;
}

static int test_close_from_lua_on_its_own_state(void) {
  lua_State *L;
  CHECK(corral_host_new(&closing_host, NULL) == 0);
  L = corral_host_state(closing_host);
  lua_pushcfunction(L, l_quit);
  CHECK(lua_pcall(L, 0, 1, 0) == LUA_OK);
  CHECK(lua_tointeger(L, -1) == CR_EBUSY);
  lua_pop(L, 1);
  CHECK(corral_host_close(closing_host) == 0);
  return 0;
}

int main(void) {
  int failed = 0;
  RUN(test_awaitable_where_the_task_cannot_yield);
  RUN(test_close_while_a_lookup_runs);
  RUN(test_message_twice);
  RUN(test_results_after_a_start_out_of_memory);
  RUN(test_message_out_of_memory);
  RUN(test_message_after_one_allocation_failed);
  RUN(test_results_that_do_not_fit);
  RUN(test_results_when_the_stack_grows_short);
  RUN(test_attached_out_of_memory);
  RUN(test_host_calls_while_run_drives_the_loop);
  RUN(test_op_of_absurd_size);
  RUN(test_error_completion_before_a_cancel_wins);
  RUN(test_op_awaited_twice);
  RUN(test_timeout_counts_from_now);
  RUN(test_host_cannot_release_a_live_tasks_lock);
  RUN(test_attached_task_that_turns_the_loop);
  RUN(test_close_with_a_host_timer_on_corrals_loop);
  RUN(test_stop_reason_when_memory_runs_out);
  RUN(test_blocking_call_between_roots);
  RUN(test_requests_between_steps_on_the_virtual_clock);
  RUN(test_results_from_a_gc_during_close);
  RUN(test_message_with_the_nomem_words);
  RUN(test_message_with_one_part_out_of_memory);
  RUN(test_cancel_reaches_a_busy_root);
  RUN(test_close_from_lua_on_its_own_state);
  return failed != 0;
}
