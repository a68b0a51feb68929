/*
** test-host-cancel-callback-cancels.c -- an op's cancel callback runs
** inside the walk that delivers a cancel to the parked tasks. One that
** cancelled a scope below (through the host's state: s:cancel(), or
** tostring(s) or s.cancel_called firing a deadline that had passed) had
** that cancel skipped twice: the scope's own delivery left it to the walk
** of the scope cancelled above, which passes a cancelled scope by. Its
** tasks were never woken: the root waited for ever. Delivered now, the
** second abort of a task whose callback was still running gave up the op
** under it (a use after free); the task keeps waiting for its answer.
*/
#include <unistd.h>
#include "host_test.h"

static corral_host_t *H;
static const char *in_cancel;           /* Lua the callback runs */
static int calls;

static int cancel_cb(corral_op_t *op) {
  lua_State *L = corral_host_state(H);
  int top = lua_gettop(L);
  calls++;
  if (luaL_dostring(L, in_cancel) != LUA_OK)
    fprintf(stderr, "in the cancel callback: %s\n", lua_tostring(L, -1));
  lua_settop(L, top);
  corral_op_complete(op, CR_ECANCELED);
  return CORRAL_OP_ABANDON;
}

static const corral_op_type_t op_type = {"job", 0, NULL, cancel_cb};

static int l_job(lua_State *L) {
  return corral_op_await(L, corral_op_new(L, &op_type));
}

/* The root: a task waiting on a job first (the group's walk reaches it
** first), then three waiting on jobs inside scopes (SCOPES) of `opts`;
** once all wait, `before` runs, and the group is cancelled. */
static int run_root(const char *opts, const char *before) {
  char chunk[1024];
  int i;
  calls = 0;
  CHECK(corral_host_new(&H, NULL) == 0);
  lua_register(corral_host_state(H), "job", l_job);
  snprintf(chunk, sizeof chunk,
    "local corral = require 'corral'\n"
    "SCOPES = {}\n"
    "corral.group(function(g)\n"
    "  g:spawn(job)\n"
    "  for i = 1, 3 do g:spawn(function()\n"
    "    corral.scope(function(s) SCOPES[i] = s; job() end, %s)\n"
    "  end) end\n"
    "  while #SCOPES < 3 do corral.checkpoint() end\n"
    "  corral.checkpoint()\n"
    "  %s\n"
    "  g:cancel()\n"
    "end)\n"
    "return 'done'", opts, before);
  CHECK(corral_host_start_string(H, chunk, "=root") == 0);
  for (i = 0; i < 2000 && corral_host_status(H) == CORRAL_RUNNING; i++) {
    if (corral_host_step(H) == CORRAL_RUNNING) usleep(1000);
  }
  CHECK(corral_host_status(H) == CORRAL_OK);      /* not waiting for ever */
  CHECK(calls == 4);
  CHECK(corral_host_close(H) == 0);
  return 0;
}

static int test_callback_cancels_scopes(void) {
  in_cancel = "for _, s in ipairs(SCOPES) do s:cancel() end";
  return run_root("nil", "");
}

static int test_callback_fires_deadlines_by_tostring(void) {
  in_cancel = "for _, s in ipairs(SCOPES) do local _ = tostring(s) end";
  return run_root("{timeout = 0.01}",
                  "local t = os.clock() while os.clock() - t < 0.05 do end");
}

int main(void) {
  int failed = 0;
  RUN(test_callback_cancels_scopes);
  RUN(test_callback_fires_deadlines_by_tostring);
  return failed != 0;
}
