/*
** test-host-start-with-too-many-arguments.c -- corral_host_start with
** more arguments than corral's own stack could take to hand them over
** said CR_EBUSY ("a root runs"), sending a host to wait for a root that
** did not exist. It is CR_ENOMEM now; every such start pops what it was
** given and leaves the host ready for the next root.
*/
#include <stdlib.h>
#include "host_test.h"

/* Start select('#', 1, ..., n - 1): its rc, with the stack emptied. */
static int start_with(corral_host_t *h, int n) {
  lua_State *L = corral_host_state(h);
  int i;
  if (!lua_checkstack(L, n + 1)) return 1000;   /* more than Lua allows */
  lua_getglobal(L, "select");
  lua_pushliteral(L, "#");
  for (i = 1; i < n; i++) lua_pushinteger(L, i);
  return corral_host_start(h, n);
}

static int test_too_many_arguments(void) {
  corral_host_t *h;
  char buf[64];
  int n, rc, seen_nomem = 0, seen_error = 0;
  CHECK(corral_host_new(&h, NULL) == 0);
  for (n = 999985; n < 1000000; n++) {
    rc = start_with(h, n);
    if (rc == 1000) break;
    CHECK(lua_gettop(corral_host_state(h)) == 0);      /* popped */
    CHECK(rc != CR_EBUSY);
    CHECK(rc == CR_ENOMEM || rc == CORRAL_ERROR);
    seen_nomem += rc == CR_ENOMEM;
    seen_error += rc == CORRAL_ERROR;
  }
  CHECK(seen_nomem > 0 && seen_error > 0);
  /* and the host goes on */
  CHECK(start_with(h, 1000) == 0);
  CHECK(corral_host_run(h) == CORRAL_OK);
  CHECK(strcmp(host_result(h, buf, sizeof buf), "999") == 0);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

int main(void) {
  int failed = 0;
  RUN(test_too_many_arguments);
  return failed != 0;
}
