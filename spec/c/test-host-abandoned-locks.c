/*
** test-host-abandoned-locks.c -- a root the host gives up on (a deadlock
** that cancelling could not end) breaks the locks its tasks hold, as
** corral.run's abandoned tasks do: the next root's acquire raises at once
** instead of waiting for ever on a holder that is gone.
*/
#include "host_test.h"

/* A root whose task takes lock `name` (a global, kept between roots) and
** then waits for ever under a shield: abandoned at the deadlock. */
static int abandon_holding(corral_host_t *h, const char *name) {
  char chunk[512];
  snprintf(chunk, sizeof chunk,
    "local corral = require 'corral'\n"
    "%s = corral.lock()\n"
    "corral.group(function(g)\n"
    "  g:spawn(function()\n"
    "    %s:acquire()\n"
    "    corral.scope(function() corral.event():wait() end, {shield = true})\n"
    "  end)\n"
    "end)\n", name, name);
  CHECK(corral_host_start_string(h, chunk, "=abandon") == 0);
  CHECK(corral_host_run(h) == CORRAL_ERROR);
  CHECK(strstr(corral_host_message(h), "deadlock") != NULL);
  return 0;
}

static int test_abandoned_locks_break(void) {
  corral_host_t *h;
  char buf[512];
  CHECK(corral_host_new(&h, NULL) == 0);
  CHECK(abandon_holding(h, "A") == 0);
  CHECK(abandon_holding(h, "B") == 0);      /* A's task is still anchored */
  CHECK(corral_host_start_string(h,
    "local corral = require 'corral'\n"
    "local ok, err = pcall(A.acquire, A)\n"
    "local okb = pcall(B.acquire, B)\n"
    "return table.concat({tostring(A), tostring(B), tostring(ok),\n"
    "                     tostring(okb), tostring(err)}, ' | ')", "=next") == 0);
  CHECK(corral_host_run(h) == CORRAL_OK);
  host_result(h, buf, sizeof buf);
  CHECK(strstr(buf, "corral.Lock(broken) | corral.Lock(broken) | false | "
                    "false | ") == buf);
  CHECK(strstr(buf, "the lock is broken") != NULL);
  CHECK(strstr(buf, "of an earlier run") != NULL);
  /* the locks of a later root's tasks still break when they end */
  CHECK(corral_host_start_string(h,
    "local corral = require 'corral'\n"
    "local l = corral.lock()\n"
    "corral.group(function(g) g:spawn(function() l:acquire() end) end)\n"
    "return tostring(l)", "=later") == 0);
  CHECK(corral_host_run(h) == CORRAL_OK);
  CHECK(strcmp(host_result(h, buf, sizeof buf), "corral.Lock(broken)") == 0);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

int main(void) {
  int failed = 0;
  RUN(test_abandoned_locks_break);
  return failed != 0;
}
