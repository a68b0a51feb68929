/*
** test-lua-sigmem.c -- memory running out while a stop signal is handled.
**
** The root policy's reason for SIGINT is built in Lua memory from inside
** libuv's signal dispatch. A memory error there jumped out of the
** dispatch: libuv never counted the signal as handled, and closing its
** watcher at the end of the run spun for ever. Each attempt runs a run
** that a SIGINT (from a thread, a few milliseconds after every task
** blocked) interrupts, with allocations failing in a window that moves
** over every allocation from the signal on. Every attempt must end (an
** alarm fails the test), leave nothing allocated, and leave the module
** usable. A handler of the test's own catches SIGINT for the process.
*/
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>

#include "failing_alloc.h"

static arena *cur;
static size_t count_at_arm;
static pthread_t thr;
static int armed;

static void *send_sigint(void *x) {
  (void)x;
  usleep(10000);
  kill(getpid(), SIGINT);
  return NULL;
}

/* armsig(): SIGINT in 10 ms, when the run has blocked. */
static int l_armsig(lua_State *L) {
  (void)L;
  count_at_arm = cur->count;
  armed = 1;
  pthread_create(&thr, NULL, send_sigint, NULL);
  return 0;
}

static const char scenario[] =
  "local corral = require 'corral'\n"
  "pcall(corral.run, function()\n"
  "  corral.group(function(g)\n"
  "    for i = 1, 3 do g:spawn(function() corral.event():wait() end) end\n"
  "    corral.sleep(0)\n"
  "    armsig()\n"
  "    corral.event():wait()\n"
  "  end)\n"
  "end, {signals = true})\n";

static int attempt(size_t fail_at, size_t fail_len, size_t *total) {
  arena a = {0, 0, 0, 0};
  lua_State *L = alloc_state(&a);
  char what[64];
  if (L == NULL) return 0;
  cur = &a;
  armed = 0;
  lua_register(L, "armsig", l_armsig);
  a.fail_at = fail_at;
  a.fail_len = fail_len;
  if (luaL_loadstring(L, scenario) == LUA_OK) (void)lua_pcall(L, 0, 0, 0);
  *total = a.count;
  if (armed) pthread_join(thr, NULL);
  snprintf(what, sizeof what, "failing %zu (%zu)", fail_at, fail_len);
  return alloc_state_done(L, &a, what);
}

static void ignore(int signum) { (void)signum; }

int main(void) {
  struct sigaction sa;
  size_t total, arm, n, len, c;
  int failed = 0;
  const char *pre = getenv("LD_PRELOAD");
  if (pre && strstr(pre, "vgpreload")) {
    /* valgrind runs signal handlers and threads its own way: a SIGINT
    ** from the thread kills the process there; make sanitize runs it */
    printf("skip: under valgrind\n");
    return 0;
  }
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = ignore;
  sigaction(SIGINT, &sa, NULL);
  if (!attempt(0, 0, &total)) return 1;
  arm = count_at_arm;
  alarm(300);                          /* a run that spins fails here */
  for (len = 2; len <= 3; len++)
    for (n = arm; n <= total + 1; n += len) failed |= !attempt(n, len, &c);
  printf("%s memory failing while SIGINT is handled (allocations %zu..%zu)\n",
         failed ? "FAIL" : "ok  ", arm, total);
  return failed;
}
