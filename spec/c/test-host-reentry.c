/*
** test-host-reentry.c -- found by the second hostile pass.
**
** A C function the host offers to Lua may hold the host pointer and call
** back into the host API while a task runs it. corral_host_start_string and
** corral_host_close answer CR_EBUSY there, but corral_host_run and
** corral_host_step have no such guard: they step the engine re-entrantly
** from inside the running root, find nothing else ready, declare a deadlock
** ("every task is blocked and nothing can wake them") and abandon the root
** while it is still running, so the root's own outcome is lost. They should
** refuse (CR_EBUSY) and leave the running root alone.
*/
#include "host_test.h"

static corral_host_t *H;

static int l_run(lua_State *L) { lua_pushinteger(L, corral_host_run(H)); return 1; }
static int l_step(lua_State *L) { lua_pushinteger(L, corral_host_step(H)); return 1; }

static int reenter(const char *fn) {
  corral_host_t *h;
  char chunk[256], buf[256];
  int st;
  CHECK(corral_host_new(&h, NULL) == 0);
  H = h;
  lua_pushcfunction(corral_host_state(h), l_run);
  lua_setglobal(corral_host_state(h), "host_run");
  lua_pushcfunction(corral_host_state(h), l_step);
  lua_setglobal(corral_host_state(h), "host_step");
  snprintf(chunk, sizeof chunk,
           "local corral = require 'corral'\n"
           "local rc = %s()\n"
           "corral.sleep(0)\n"
           "return rc < 0 and 'refused' or ('returned ' .. rc)\n", fn);
  CHECK(corral_host_start_string(h, chunk, fn) == 0);
  st = corral_host_run(h);
  if (st != CORRAL_OK)
    fprintf(stderr, "  %s: status %d: %s\n", fn, st,
            corral_host_message(h) ? corral_host_message(h) : "?");
  CHECK(st == CORRAL_OK);
  CHECK(strcmp(host_result(h, buf, sizeof buf), "refused") == 0);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

static int test_run_inside_a_task(void) { return reenter("host_run"); }
static int test_step_inside_a_task(void) { return reenter("host_step"); }

/*
** corral_host_message runs the root error's __tostring, the script's own
** code: a host call it made was not refused, so a close freed the host
** under the running call (use after free), and a start replaced the root
** whose error was being described (the new root's message was the old
** one's). They return CR_EBUSY there now, and asking for the message again
** from the __tostring gives NULL, not an endless recursion.
*/
static int l_close(lua_State *L) { lua_pushinteger(L, corral_host_close(H)); return 1; }
static int l_start(lua_State *L) {
  lua_pushinteger(L, corral_host_start_string(H, "error('second')", "=2"));
  return 1;
}
static int l_message(lua_State *L) {
  lua_pushboolean(L, corral_host_message(H) == NULL);
  return 1;
}

static int test_calls_from_the_errors_tostring(void) {
  corral_host_t *h;
  const char *m;
  char want[64];
  CHECK(corral_host_new(&h, NULL) == 0);
  H = h;
  lua_register(corral_host_state(h), "host_close", l_close);
  lua_register(corral_host_state(h), "host_start", l_start);
  lua_register(corral_host_state(h), "host_message_is_null", l_message);
  CHECK(corral_host_start_string(h,
    "error(setmetatable({}, {__tostring = function()\n"
    "  return ('close %d, start %d, message %s'):format(host_close(),\n"
    "    host_start(), tostring(host_message_is_null()))\n"
    "end}))", "=root") == 0);
  CHECK(corral_host_run(h) == CORRAL_ERROR);
  m = corral_host_message(h);
  CHECK(m != NULL);
  snprintf(want, sizeof want, "close %d, start %d, message true",
           CR_EBUSY, CR_EBUSY);
  if (strcmp(m, want) != 0) fprintf(stderr, "  message: %s\n", m);
  CHECK(strcmp(m, want) == 0);
  CHECK(corral_host_message(h) == m);             /* kept, the same */
  CHECK(corral_host_start_string(h, "error('second')", "=2") == 0);
  CHECK(corral_host_run(h) == CORRAL_ERROR);
  CHECK(strstr(corral_host_message(h), "second") != NULL);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

int main(void) {
  int failed = 0;
  RUN(test_run_inside_a_task);
  RUN(test_step_inside_a_task);
  RUN(test_calls_from_the_errors_tostring);
  return failed != 0;
}
