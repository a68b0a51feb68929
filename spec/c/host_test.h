/*
** host_test.h -- what the host API tests (test-host-*.c) share: CHECK,
** and running a chunk as the root to completion.
*/
#ifndef HOST_TEST_H
#define HOST_TEST_H

#include <stdio.h>
#include <string.h>
#include <lauxlib.h>
#include <lualib.h>
#include "corral_lua.h"

#define CHECK(c) do { if (!(c)) { \
  fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
  return 1; } } while (0)

#define RUN(t) do { int rc_ = t(); fprintf(stderr, "%-40s %s\n", #t, \
  rc_ ? "FAILED" : "ok"); failed += rc_ != 0; } while (0)

/* The last root's first result (or error) as a string, in buf. */
static inline const char *host_result(corral_host_t *h, char *buf, size_t n) {
  lua_State *L = corral_host_state(h);
  int k = corral_host_results(h, L);
  const char *s = k > 0 ? luaL_tolstring(L, -k, NULL) : "(none)";
  snprintf(buf, n, "%s", s ? s : "(nil)");
  lua_settop(L, lua_gettop(L) - k - (k > 0));
  return buf;
}

/* A host on a loop of the test's own (initialised here): 0, or -1. */
static inline int host_on_loop(uv_loop_t *loop, corral_host_t **h) {
  corral_host_opts_t o = {NULL, NULL, 0};
  if (uv_loop_init(loop) != 0) return -1;
  o.loop = loop;
  return corral_host_new(h, &o) == 0 ? 0 : -1;
}

#endif
