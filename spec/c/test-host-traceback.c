/*
** test-host-traceback.c -- a Lua error in the root reaches the host with
** its traceback (corral_host_traceback), as the corral command prints it:
** the host had the message alone ("root:1: boom"), and no way to learn
** where the root failed short of wrapping every script in an xpcall.
*/
#include <stdlib.h>
#include "host_test.h"

/* Start and run chunk; its status. */
static int run(corral_host_t *h, const char *chunk) {
  int st = corral_host_start_string(h, chunk, "=root");
  return st == 0 ? corral_host_run(h) : st;
}

/* Whether s holds each of the lines, in that order. */
static int in_order(const char *s, const char *const *lines) {
  for (; *lines; lines++) {
    const char *at = strstr(s, *lines);
    if (at == NULL) {
      fprintf(stderr, "missing [%s] in:\n%s\n", *lines, s);
      return 0;
    }
    s = at + strlen(*lines);
  }
  return 1;
}

static int test_the_roots_error_with_its_traceback(void) {
  static const char *const want[] = {
    "root:1: boom\nstack traceback:\n", "in upvalue 'f'", "root:2: in local 'g'",
    "root:3: in main chunk", NULL};
  corral_host_t *h;
  const char *tb;
  CHECK(corral_host_new(&h, NULL) == 0);
  CHECK(corral_host_traceback(h) == NULL);             /* no root yet */
  CHECK(run(h, "local function f() error('boom') end\n"
               "local function g() f() end\n"
               "g()") == CORRAL_ERROR);
  CHECK(strcmp(corral_host_message(h), "root:1: boom") == 0);   /* as it was */
  tb = corral_host_traceback(h);
  CHECK(tb != NULL && in_order(tb, want));
  CHECK(corral_host_traceback(h) == tb);               /* made once, kept */
  CHECK(run(h, "return 1") == CORRAL_OK);
  CHECK(corral_host_traceback(h) == NULL);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* An ErrorGroup shows every failure's traceback; an error value that is
** not a string is shown by its __tostring; a message that carries a
** traceback of its own keeps it, and corral's follows. */
static int test_error_groups_and_other_values(void) {
  static const char *const group[] = {
    "ErrorGroup: 2 failures\n", "[worker] root:3: first", "stack traceback:",
    "in function <root:3>", "[task-", "root:4: second", "stack traceback:", NULL};
  static const char *const custom[] = {
    "custom\nstack traceback:\n", "root:2: in main chunk", NULL};
  static const char *const own[] = {
    "mine\nstack traceback:\n", "in local 'f'", "stack traceback:\n",
    "[C]: in function 'error'", NULL};
  corral_host_t *h;
  CHECK(corral_host_new(&h, NULL) == 0);
  CHECK(run(h, "local c = require 'corral'\n"
               "c.group(function(g)\n"
               "  g:spawn({function() error('first') end, name = 'worker'})\n"
               "  g:spawn(function() c.sleep(0); error('second') end)\n"
               "end, {defer_errors = true})") == CORRAL_ERROR);
  CHECK(strstr(corral_host_message(h), "stack traceback") == NULL);
  CHECK(in_order(corral_host_traceback(h), group));
  CHECK(run(h, "local e = setmetatable({}, {__tostring = function() return 'custom' end})\n"
               "error(e)") == CORRAL_ERROR);
  CHECK(in_order(corral_host_traceback(h), custom));
  CHECK(run(h, "local function f() error(debug.traceback('mine'), 0) end\n"
               "f()") == CORRAL_ERROR);
  CHECK(in_order(corral_host_traceback(h), own));
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* Outcomes with no traceback read as the message. */
static int test_outcomes_without_one(void) {
  static const char *const chunks[] = {
    "return +",                                   /* does not compile */
    "require('corral').event():wait()",           /* deadlock */
    "local c = require 'corral'\n"
    "c.current_task():cancel('me'); c.sleep(1)",  /* cancelled */
  };
  corral_host_t *h;
  size_t i;
  CHECK(corral_host_new(&h, NULL) == 0);
  for (i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
    CHECK(run(h, chunks[i]) != CORRAL_OK);
    CHECK(strcmp(corral_host_traceback(h), corral_host_message(h)) == 0);
  }
  CHECK(corral_host_traceback(NULL) == NULL);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* An allocator whose allocation number fail_at (counted from when counted
** was reset), and Lua's emergency-collection retry of it, fail. */
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

/* Allocation k fails while the traceback is made: the message comes
** instead, and the next call makes it whole. 2 once none failed, 0
** before (1: a check failed). */
static int traceback_after_one_failure(long k, const char *chunk) {
  lua_State *L = lua_newstate(once_alloc, NULL);
  corral_host_opts_t o = {NULL, NULL, 0};
  corral_host_t *h;
  const char *msg, *tb;
  char *whole;
  int none_failed;
  luaL_openlibs(L);
  o.L = L;
  CHECK(corral_host_new(&h, &o) == 0);
  CHECK(run(h, chunk) == CORRAL_ERROR);
  msg = corral_host_message(h);
  fail_at = k;
  counted = 0;
  tb = corral_host_traceback(h);
  fail_at = -1;
  none_failed = counted <= k;
  CHECK(tb != NULL);
  CHECK(none_failed ? strstr(tb, "stack traceback:") != NULL
                    : strcmp(tb, msg) == 0 || strstr(tb, "stack traceback:"));
  whole = strdup(corral_host_traceback(h));
  CHECK(strstr(whole, "stack traceback:") != NULL);
  CHECK(strcmp(corral_host_traceback(h), whole) == 0);
  free(whole);
  CHECK(corral_host_close(h) == 0);
  lua_close(L);
  return none_failed ? 2 : 0;
}

static int test_memory_runs_out_while_it_is_made(void) {
  static const char *const chunks[] = {
    "local function f() error('boom') end f()",
    "require('corral').group(function(g) g:spawn(error, 'x') end)",
  };
  size_t i;
  long k;
  int rc;
  for (i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
    for (k = 0; (rc = traceback_after_one_failure(k, chunks[i])) == 0; k++) {}
    CHECK(rc == 2 && k > 0);
  }
  return 0;
}

int main(void) {
  int failed = 0;
  RUN(test_the_roots_error_with_its_traceback);
  RUN(test_error_groups_and_other_values);
  RUN(test_outcomes_without_one);
  RUN(test_memory_runs_out_while_it_is_made);
  return failed != 0;
}
