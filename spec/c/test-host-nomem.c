/*
** test-host-nomem.c -- a host whose state runs out of memory after it asked
** the root to stop and to cancel: memory that ran out in a step escaped to
** the host, which gave up on the root with luaL_ref (it may grow the
** registry) outside any pcall, and Lua's panic aborted the process. Every
** allocation from the requests on fails in turn (and every later one, or
** just it and Lua's retry), with corral_host_run, corral_host_step and
** attached alike: the root must end, the host close cleanly, and nothing
** stay allocated. An abort fails the whole binary.
*/
#include <stdlib.h>
#include "host_test.h"
#include "failing_alloc.h"

enum { BY_RUN, BY_STEP, ATTACHED };

/* A group that ends, one that fails (its ErrorGroup made into text), then
** a timeout: the requests land in the middle. */
static const char script[] =
  "local c = require 'corral'\n"
  "c.group(function(g) for i = 1, 4 do g:spawn(c.sleep, 0.001) end end)\n"
  "local ok, e = pcall(c.group, function(g)\n"
  "  g:spawn(error, {x = 1}) g:spawn(c.sleep, 1) end)\n"
  "local s = tostring(e)\n"
  "c.move_on_after(0.002, c.sleep, 1)\n"
  "return 'done'";

static void on_done(corral_host_t *h, int st, void *arg) {
  (void)h;
  *(int *)arg = st;
}

/* The rest of the root after the requests, driven as `how` says. */
static int drive_rest(corral_host_t *h, int how) {
  int st = CORRAL_RUNNING, i;
  if (how == ATTACHED) {
    if (corral_host_attach(h, on_done, &st) != 0) return -1;
    uv_run(corral_host_loop(h), UV_RUN_DEFAULT);
    return corral_host_status(h);
  }
  corral_host_stop(h, 0.0005, "stop");
  corral_host_step(h);
  corral_host_cancel(h, "cancel");
  if (how == BY_RUN) return corral_host_run(h);
  for (i = 0; i < 100000 && st == CORRAL_RUNNING; i++)
    st = corral_host_step(h);
  return st;
}

/* One root whose growing allocation k (counted from the first request)
** fails, with fail_len as failing_alloc.h says. *done once none did. */
static int attempt(int how, size_t k, size_t fail_len, int *done) {
  arena a = {0, 0, 0, 0};
  lua_State *L = lua_newstate(l_alloc, &a);
  corral_host_opts_t o = {NULL, NULL, 1};
  corral_host_t *h;
  char what[64];
  int st;
  CHECK(L != NULL);
  luaL_openlibs(L);
  o.L = L;
  CHECK(corral_host_new(&h, &o) == 0);
  CHECK(corral_host_start_string(h, script, "=r") == 0);
  CHECK(corral_host_step(h) == CORRAL_RUNNING);
  if (how == ATTACHED) {           /* the requests come before the loop */
    corral_host_stop(h, 0.0005, "stop");
    corral_host_cancel(h, "cancel");
  }
  a.count = 0;
  a.fail_at = k;
  a.fail_len = fail_len;
  st = drive_rest(h, how);
  *done = a.count < k;
  corral_host_message(h);
  CHECK(st == CORRAL_OK || st == CORRAL_ERROR || st == CORRAL_CANCELLED);
  CHECK(corral_host_close(h) == 0);
  snprintf(what, sizeof what, "mode %d, allocation %zu (%zu)", how, k,
           fail_len);
  CHECK(alloc_state_done(L, &a, what));
  return 0;
}

static int test_memory_runs_out_after_a_request(void) {
  int how, done;
  size_t k, len;
  for (how = BY_RUN; how <= ATTACHED; how++)
    for (len = 0; len <= 2; len += 2)
      for (k = 1, done = 0; !done; k++)
        CHECK(attempt(how, k, len, &done) == 0);
  return 0;
}

int main(void) {
  int failed = 0;
  RUN(test_memory_runs_out_after_a_request);
  return failed != 0;
}
