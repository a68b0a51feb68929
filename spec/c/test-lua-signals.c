/*
** test-lua-signals.c -- the binding's own signal handlers, from inside a
** run (a Lua state of the test's, the module linked in).
**
** The Ctrl-C handlers corral chains in front of libuv's (the busy-task one
** under the root policy, the one that wakes a run for lua's own SIGINT
** handler otherwise) ran with an empty mask: libuv's handler, which they
** call, is not re-entrant, and a SIGCHLD (a child ending with the same
** Ctrl-C) that landed in it from there waited for ever on the lock it held
** (the process hung, and no later signal could end it). They block every
** signal while they run now, as libuv's own handler does.
*/
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>

LUAMOD_API int luaopen_corral(lua_State *L);

#define CHECK(c) do { if (!(c)) { \
  fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
  return 1; } } while (0)

/* masked(sig) -> whether sig's handler is a SA_SIGINFO one (corral's, not
** libuv's) and blocks every catchable signal while it runs. */
static int l_masked(lua_State *L) {
  int sig = (int)luaL_checkinteger(L, 1), s, all = 1;
  struct sigaction sa;
  if (sigaction(sig, NULL, &sa) != 0) return luaL_error(L, "sigaction");
  for (s = 1; s < 32; s++)
    if (s != SIGKILL && s != SIGSTOP && !sigismember(&sa.sa_mask, s)) all = 0;
  lua_pushboolean(L, (sa.sa_flags & SA_SIGINFO) != 0);
  lua_pushboolean(L, all);
  return 2;
}

static void dummy(int sig) { (void)sig; }

static int run(const char *code, const char *want) {
  lua_State *L = luaL_newstate();
  int ok;
  luaL_openlibs(L);
  luaL_requiref(L, "corral", luaopen_corral, 0);
  lua_pop(L, 1);
  lua_register(L, "masked", l_masked);
  ok = luaL_dostring(L, code) == LUA_OK;
  if (!ok) fprintf(stderr, "  %s\n", lua_tostring(L, -1));
  CHECK(ok);
  if (strcmp(lua_tostring(L, -1), want) != 0)
    fprintf(stderr, "  got \"%s\", want \"%s\"\n", lua_tostring(L, -1), want);
  CHECK(strcmp(lua_tostring(L, -1), want) == 0);
  lua_close(L);
  return 0;
}

/* The root policy: the busy-task handler of SIGINT and SIGTERM. */
static int test_busy_handler_blocks_every_signal(void) {
  return run(
    "local corral = require 'corral'\n"
    "return corral.run(function()\n"
    "  local a, b = masked(2)\n"
    "  local c, d = masked(15)\n"
    "  return ('%s %s %s %s'):format(a, b, c, d)\n"
    "end, {signals = true})\n", "true true true true");
}

/* No root policy, SIGINT handled before the run (lua's own handler is
** such): the handler that wakes the run. */
static int test_interrupt_handler_blocks_every_signal(void) {
  struct sigaction sa, old;
  int rc;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = dummy;
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGINT, &sa, &old) == 0);
  rc = run(
    "local corral = require 'corral'\n"
    "return corral.run(function()\n"
    "  local a, b = masked(2)\n"
    "  return ('%s %s'):format(a, b)\n"
    "end, {clock = 'virtual'})\n", "true true");
  CHECK(sigaction(SIGINT, NULL, &sa) == 0 && sa.sa_handler == dummy);
  sigaction(SIGINT, &old, NULL);
  return rc;
}

int main(void) {
  int failed = 0, i;
  struct { const char *name; int (*fn)(void); } tests[] = {
    {"the busy-task Ctrl-C handler blocks every signal while it runs",
     test_busy_handler_blocks_every_signal},
    {"the run's own SIGINT handler blocks every signal while it runs",
     test_interrupt_handler_blocks_every_signal},
  };
  for (i = 0; i < (int)(sizeof tests / sizeof tests[0]); i++) {
    int r = tests[i].fn();
    printf("%s %s\n", r ? "FAIL" : "ok  ", tests[i].name);
    failed += r != 0;
  }
  return failed != 0;
}
