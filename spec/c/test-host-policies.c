/*
** test-host-policies.c -- the policy modules in a C host whose
** package.path does not reach corral's (a host's own path, a static
** binary deployed alone): require "corral.race" and the others failed
** with "module 'corral.race' not found", though require "corral" worked.
** libcorral carries them now, in package.preload; a host's own preload
** entry is left as it was.
*/
#include "host_test.h"

static corral_host_t *host_without_a_path(void) {
  corral_host_t *h;
  if (corral_host_new(&h, NULL) != 0) return NULL;
  if (luaL_dostring(corral_host_state(h),
                    "package.path = './nowhere/?.lua'\n"
                    "package.cpath = './nowhere/?.so'") != LUA_OK)
    return NULL;
  return h;
}

static int run(corral_host_t *h, const char *chunk, char *buf, size_t n) {
  int st = corral_host_start_string(h, chunk, "=root");
  if (st == 0) st = corral_host_run(h);
  if (st == CORRAL_OK) host_result(h, buf, n);
  else snprintf(buf, n, "%s", corral_host_traceback(h));
  return st;
}

static int test_every_policy_without_a_path(void) {
  corral_host_t *h = host_without_a_path();
  char buf[1024];
  CHECK(h != NULL);
  CHECK(run(h,
    "local corral = require 'corral'\n"
    "local race = require 'corral.race'\n"
    "local gather = require 'corral.gather'\n"
    "local map = require 'corral.map'\n"
    "local retry = require 'corral.retry'\n"
    "local supervisor = require 'corral.supervisor'\n"
    "local testing = require 'corral.testing'\n"
    "require 'corral.happy_eyeballs'\n"
    "local i = race{function() corral.sleep(1) end, function() return 'r' end}\n"
    "local g = gather{function() return 1 end, function() return 2 end}\n"
    "local m = map(function(x) return x * 2 end, {1, 2, 3})\n"
    "local n = 0\n"
    "local r = retry(function() n = n + 1; assert(n == 2, 'again'); return 'ok' end,\n"
    "                {delay = 0})\n"
    "local ran = 0\n"
    "supervisor.run({children = {{name = 'c', restart = 'temporary',\n"
    "  fn = function() ran = ran + 1 end}}})\n"
    "corral.group(function(grp)\n"
    "  grp:spawn(corral.sleep, 0)\n"
    "  testing.wait_all_tasks_blocked()\n"
    "end)\n"
    "return table.concat({i, g[2][1], m[3], r, ran}, ' ')",
    buf, sizeof buf) == CORRAL_OK);
  CHECK(strcmp(buf, "2 2 6 ok 1") == 0);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* A policy's error names the script's line, and a branch's traceback ends
** at the script's function, as with the modules loaded from files. */
static int test_errors_point_at_the_script(void) {
  corral_host_t *h = host_without_a_path();
  char buf[2048];
  CHECK(h != NULL);
  CHECK(run(h, "local race = require 'corral.race'\nrace(42)", buf, sizeof buf)
        == CORRAL_ERROR);
  CHECK(strstr(buf, "root:2: bad argument #1 to 'race'") == buf);
  CHECK(run(h, "local race = require 'corral.race'\n"
               "race{function() error('lost') end}", buf, sizeof buf)
        == CORRAL_ERROR);
  CHECK(strstr(buf, "root:2: lost") != NULL);
  CHECK(strstr(buf, "stack traceback:") != NULL);
  CHECK(strstr(buf, "corral/race.lua") == NULL);   /* its frames are cut */
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* The host's own entry stays. */
static int test_the_hosts_own_preload_wins(void) {
  lua_State *L = luaL_newstate();
  corral_host_opts_t o = {NULL, NULL, 0};
  corral_host_t *h;
  char buf[256];
  luaL_openlibs(L);
  CHECK(luaL_dostring(L, "package.preload['corral.race'] = function()\n"
                         "  return function() return 'the host race' end\n"
                         "end") == LUA_OK);
  o.L = L;
  CHECK(corral_host_new(&h, &o) == 0);
  CHECK(run(h, "return require('corral.race')()", buf, sizeof buf) == CORRAL_OK);
  CHECK(strcmp(buf, "the host race") == 0);
  CHECK(corral_host_close(h) == 0);
  lua_close(L);
  return 0;
}

int main(void) {
  int failed = 0;
  RUN(test_every_policy_without_a_path);
  RUN(test_errors_point_at_the_script);
  RUN(test_the_hosts_own_preload_wins);
  return failed != 0;
}
