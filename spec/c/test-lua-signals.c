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
**
** Runs in two threads whose lifetimes overlap: each saved what the other
** had put in place and put it back after the other had gone. A stale
** corral handler was put back, and the next run chained to itself (one
** Ctrl-C overflowed the stack); or libuv's handler stayed with no watcher
** left (Ctrl-C did nothing for the rest of the process). The engine now
** keeps one record per signal (cr_signal_front).
*/
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>
#include <uv.h>
#include "corral.h"

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
static void host_cb_none(uv_signal_t *h, int sig) { (void)h; (void)sig; }

/* Steps of two runs in two threads: post(i) and wait(i) from Lua (the
** wait blocks the thread, run and all: that is the point). */
static uv_sem_t steps[4];

static int l_post(lua_State *L) {
  uv_sem_post(&steps[luaL_checkinteger(L, 1)]);
  return 0;
}

static int l_wait(lua_State *L) {
  uv_sem_wait(&steps[luaL_checkinteger(L, 1)]);
  return 0;
}

static int l_sigint(lua_State *L) {
  (void)L;
  kill(getpid(), SIGINT);
  return 0;
}

/* The thread a test sends SIGINT to (not the run's: the main thread). */
static uv_thread_t main_thread;

static int l_sigint_main(lua_State *L) {
  (void)L;
  pthread_kill(main_thread, SIGINT);
  return 0;
}

static int l_sigterm_main(lua_State *L) {
  (void)L;
  pthread_kill(main_thread, SIGTERM);
  return 0;
}

/* sigqueue_self(): SIGINT to the process from itself, with a value, as a
** program may send it (not one of corral's forwards). */
static int l_sigqueue_self(lua_State *L) {
  static int some_object;
  union sigval v;
  v.sival_ptr = &some_object;
  (void)L;
  sigqueue(getpid(), SIGINT, v);
  return 0;
}

static uv_signal_t *raw_watcher;       /* a program's own, not counted */

static volatile sig_atomic_t hits2;
static void count_hit2(int sig) { (void)sig; hits2++; }

/* set(what): the program sets SIGINT's disposition ("ign", "dfl", "own2") */
static int l_set(lua_State *L) {
  const char *what = luaL_checkstring(L, 1);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = strcmp(what, "ign") == 0 ? SIG_IGN
                : strcmp(what, "dfl") == 0 ? SIG_DFL : count_hit2;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  return 0;
}

/* stop_raw(): the program stops its own libuv watcher */
static int l_stop_raw(lua_State *L) {
  (void)L;
  cr_signal_stop(raw_watcher);
  return 0;
}

/* restarts(): whether SIGINT's disposition restarts interrupted calls */
static int l_restarts(lua_State *L) {
  struct sigaction sa;
  sigaction(SIGINT, NULL, &sa);
  lua_pushboolean(L, (sa.sa_flags & SA_RESTART) != 0);
  return 1;
}

static int run(const char *code, const char *want) {
  lua_State *L = luaL_newstate();
  int ok;
  luaL_openlibs(L);
  luaL_requiref(L, "corral", luaopen_corral, 0);
  lua_pop(L, 1);
  lua_register(L, "masked", l_masked);
  lua_register(L, "post", l_post);
  lua_register(L, "wait", l_wait);
  lua_register(L, "sigint", l_sigint);
  lua_register(L, "sigint_main", l_sigint_main);
  lua_register(L, "sigterm_main", l_sigterm_main);
  lua_register(L, "sigqueue_self", l_sigqueue_self);
  lua_register(L, "set", l_set);
  lua_register(L, "stop_raw", l_stop_raw);
  lua_register(L, "restarts", l_restarts);
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

/* SIGINT's disposition set to handler h (SIG_DFL, or a function); the one
** it had into *old. */
static int set_sigint(void (*h)(int), struct sigaction *old) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = h;
  sigemptyset(&sa.sa_mask);
  return sigaction(SIGINT, &sa, old);
}

/* Whether SIGINT's disposition is the plain handler h (or SIG_DFL, SIG_IGN). */
static int sigint_is(void (*h)(int)) {
  struct sigaction sa;
  return sigaction(SIGINT, NULL, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) &&
         sa.sa_handler == h;
}

/* The two runs of most overlaps: a plain one that starts first and holds
** on (steps 0, 1), and one that waits in corral.signal("SIGINT") around
** the other's end (steps 0, 1, 2: see overlap). */
#define HOLDING_RUN \
  "local corral = require 'corral'\n" \
  "corral.run(function() post(0); wait(1) end)\n" \
  "return 'done'\n"
#define WAITING_RUN(before, between) \
  "local corral = require 'corral'\n" \
  before \
  "corral.run(function()\n" \
  "  corral.group(function(g)\n" \
  "    g:spawn(corral.signal, 'SIGINT')\n" \
  "    corral.sleep(0)          -- its watcher starts\n" \
  between \
  "    g:cancel()\n" \
  "  end)\n" \
  "end)\n" \
  "return 'done'\n"

/*
** Two runs whose lifetimes overlap, in two threads: "first" starts, then
** "second", then the first ends, then the second.
*/
static const char *first_code, *second_code;
static int first_rc, second_rc;

static void first_thread(void *arg) {
  (void)arg;
  first_rc = run(first_code, "done");
  uv_sem_post(&steps[2]);                /* the first run is over */
}

static void second_thread(void *arg) {
  (void)arg;
  second_rc = run(second_code, "done");
}

static int overlap(const char *first, const char *second) {
  uv_thread_t a, b;
  int i;
  for (i = 0; i < 4; i++) CHECK(uv_sem_init(&steps[i], 0) == 0);
  first_code = first;
  second_code = second;
  CHECK(uv_thread_create(&a, first_thread, NULL) == 0);
  CHECK(uv_thread_create(&b, second_thread, NULL) == 0);
  uv_thread_join(&a);
  uv_thread_join(&b);
  for (i = 0; i < 4; i++) uv_sem_destroy(&steps[i]);
  CHECK(first_rc == 0 && second_rc == 0);
  return 0;
}

static volatile sig_atomic_t hits;
static void count_hit(int sig) { (void)sig; hits++; }

/* The program's own SIGINT handler. The first run (no root policy) puts
** its handler in front; the second waits in corral.signal("SIGINT") until
** the first has ended. Then the program's handler is back, and a third
** run's Ctrl-C calls it once (it chained to itself for ever). */
static int test_overlapping_runs_keep_the_programs_handler(void) {
  struct sigaction old;
  CHECK(set_sigint(count_hit, &old) == 0);
  hits = 0;
  CHECK(overlap(
    HOLDING_RUN,
    WAITING_RUN("wait(0)\n",
                "    post(1); wait(2)         -- the first run ends meanwhile\n"))
    == 0);
  CHECK(sigint_is(count_hit));
  CHECK(run("local corral = require 'corral'\n"
            "corral.run(function() sigint(); corral.sleep(0.01) end)\n"
            "return 'done'\n", "done") == 0);
  CHECK(hits == 1);
  sigaction(SIGINT, &old, NULL);
  return 0;
}

/* SIGINT has the default action. The first run waits in
** corral.signal("SIGINT") (libuv's handler in place) while the second
** starts and puts its handler in front; the first ends, then the second.
** Then SIGINT has the default action again (libuv's handler stayed, with
** no watcher left: Ctrl-C did nothing for the rest of the process). */
static int test_overlapping_runs_give_back_the_default(void) {
  struct sigaction old;
  CHECK(set_sigint(SIG_DFL, &old) == 0);
  CHECK(overlap(
    WAITING_RUN("", "    post(0); wait(1)\n"),
    "local corral = require 'corral'\n"
    "wait(0)\n"
    "corral.run(function() post(1); wait(2) end)\n"
    "return 'done'\n") == 0);
  CHECK(sigint_is(SIG_DFL));
  sigaction(SIGINT, &old, NULL);
  return 0;
}

/* A run without the root policy holds lua's Ctrl-C (the program's SIGINT
** handler under it) while a run in another thread starts with the root
** policy and a task that never blocks: one Ctrl-C still interrupts that
** task (the second run got no busy-task handler at all, and its task ran
** on through every Ctrl-C). */
static int test_a_busy_task_hears_ctrl_c_beside_another_run(void) {
  struct sigaction old;
  CHECK(set_sigint(count_hit, &old) == 0);
  CHECK(overlap(
    HOLDING_RUN,
    "local corral = require 'corral'\n"
    "wait(0)\n"
    "local ok, e = pcall(corral.run, function()\n"
    "  sigint()\n"
    "  for _ = 1, 1e9 do end             -- busy: never blocks\n"
    "  return 'finished'\n"
    "end, {signals = true})\n"
    "post(1)\n"
    "return not ok and e.source == 'signal' and 'done' or tostring(e)\n")
    == 0);
  sigaction(SIGINT, &old, NULL);
  return 0;
}

static const char *alone_code;
static int alone_rc;

/* arg: NULL, or a signal the thread blocks before its run */
static void alone_thread(void *arg) {
  if (arg != NULL) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, *(const int *)arg);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
  }
  alone_rc = run(alone_code, "done");
}

/* A run with the root policy in a thread of its own, and a task that never
** blocks; the Ctrl-C comes to the main thread, as a host's usually does.
** The busy-task handler there sends it on to the run's thread, where the
** task is hooked (it was hooked from the main thread, and read the run's
** engine there, racing the run: ThreadSanitizer's report). Twice: the
** second run finds the first's handler state reset. */
static int test_a_ctrl_c_in_another_thread_reaches_a_busy_task(void) {
  struct sigaction old;
  uv_thread_t t;
  int i;
  CHECK(set_sigint(SIG_DFL, &old) == 0);
  main_thread = uv_thread_self();
  alone_code =
    "local corral = require 'corral'\n"
    "local ok, e = pcall(corral.run, function()\n"
    "  sigint_main()\n"
    "  for _ = 1, 1e10 do end             -- busy: never blocks\n"
    "  return 'finished'\n"
    "end, {signals = true})\n"
    "return not ok and e.source == 'signal' and 'done' or tostring(e)\n";
  for (i = 0; i < 2; i++) {
    alone_rc = 1;
    CHECK(uv_thread_create(&t, alone_thread, NULL) == 0);
    uv_thread_join(&t);
    CHECK(alone_rc == 0);
  }
  CHECK(sigint_is(SIG_DFL));
  sigaction(SIGINT, &old, NULL);
  return 0;
}

/* The run's thread blocks SIGINT only; a SIGTERM comes to the main thread
** while a task is busy: it is sent on, and the task is interrupted (a run
** whose thread blocked either stop signal got neither sent on, and the task
** ran to its end). */
static int test_a_thread_blocking_one_stop_signal_is_sent_the_other(void) {
  static const int blocked = SIGINT;
  uv_thread_t t;
  main_thread = uv_thread_self();
  alone_code =
    "local corral = require 'corral'\n"
    "local finished = false\n"
    "local ok, e = pcall(corral.run, function()\n"
    "  sigterm_main()\n"
    "  for _ = 1, 3e8 do end               -- busy for a second or more\n"
    "  finished = true\n"
    "end, {signals = true})\n"
    "return not ok and e.reason == 'SIGTERM' and not finished and 'done'\n"
    "  or ('finished: ' .. tostring(finished) .. ', ' .. tostring(e))\n";
  alone_rc = 1;
  CHECK(uv_thread_create(&t, alone_thread, (void *)&blocked) == 0);
  uv_thread_join(&t);
  CHECK(alone_rc == 0);
  return 0;
}

/* A SIGINT the program queues to itself with a value of its own is a
** Ctrl-C like any other (it was taken for one of corral's forwards, for no
** front: nothing heard it, and the run slept on). */
static int test_a_programs_own_sigqueue_is_an_arrival(void) {
  struct sigaction old;
  int rc;
  CHECK(set_sigint(SIG_DFL, &old) == 0);
  rc = run(
    "local corral = require 'corral'\n"
    "local ok, e = pcall(corral.run, function()\n"
    "  sigqueue_self()\n"
    "  corral.sleep(5)\n"
    "  return 'slept'\n"
    "end, {signals = true})\n"
    "return not ok and e.source == 'signal' and 'done' or tostring(e)\n", "done");
  sigaction(SIGINT, &old, NULL);
  return rc;
}

/* The program's own SIGINT handler, without SA_RESTART. During a run
** (its handler in front), the handler in front restarts calls as the
** program's does (it added SA_RESTART, and a read the program expected to
** end with EINTR went on); the program then ignores SIGINT, and a task's
** corral.signal wait starts and stops libuv's watcher: the program's
** SIG_IGN stays (the front came back over it, and the run then put the
** program's first handler back). */
static int test_the_front_keeps_the_programs_choices(void) {
  struct sigaction old;
  CHECK(set_sigint(count_hit, &old) == 0);
  CHECK(run("local corral = require 'corral'\n"
            "return corral.run(function()\n"
            "  local r = tostring(restarts())\n"
            "  set('ign')\n"
            "  corral.move_on_after(0.01, corral.signal, 'SIGINT')\n"
            "  return r\n"
            "end)\n", "false") == 0);
  CHECK(sigint_is(SIG_IGN));
  /* a second choice is the one kept; SIG_DFL too is a choice (libuv's
  ** handler was put back over it, and swallowed Ctrl-C for good) */
  CHECK(set_sigint(count_hit, NULL) == 0);
  CHECK(run("local corral = require 'corral'\n"
            "corral.run(function()\n"
            "  set('own2')\n"
            "  corral.move_on_after(0.01, corral.signal, 'SIGINT')\n"
            "  set('dfl')\n"
            "  corral.move_on_after(0.01, corral.signal, 'SIGINT')\n"
            "end)\n"
            "return 'done'\n", "done") == 0);
  CHECK(sigint_is(SIG_DFL));
  /* a one-shot handler is called once, and then the default action is
  ** SIGINT's, also after the run (the handler in front stayed) */
  {
    struct sigaction once;
    memset(&once, 0, sizeof once);
    once.sa_handler = count_hit;
    once.sa_flags = SA_RESETHAND;
    sigemptyset(&once.sa_mask);
    CHECK(sigaction(SIGINT, &once, NULL) == 0);
  }
  hits = 0;
  CHECK(run("local corral = require 'corral'\n"
            "corral.run(function() sigint(); corral.sleep(0.01) end)\n"
            "return 'done'\n", "done") == 0);
  CHECK(hits == 1 && sigint_is(SIG_DFL));
  sigaction(SIGINT, &old, NULL);
  return 0;
}

/* A program's own libuv watcher of SIGINT (not counted), started with SIGINT
** at its default action, is stopped during a run that has its handler in
** front: SIGINT has its default action after the run (libuv's handler
** stayed, with no watcher left, and swallowed every Ctrl-C). */
static int test_a_programs_watcher_stopped_during_a_run(void) {
  uv_loop_t loop;
  uv_signal_t w;
  struct sigaction old;
  CHECK(set_sigint(SIG_DFL, &old) == 0);
  CHECK(uv_loop_init(&loop) == 0);
  CHECK(uv_signal_init(&loop, &w) == 0);
  CHECK(uv_signal_start(&w, host_cb_none, SIGINT) == 0);
  raw_watcher = &w;
  CHECK(run("local corral = require 'corral'\n"
            "corral.run(function() corral.sleep(0); stop_raw(); corral.sleep(0) end)\n"
            "return 'done'\n", "done") == 0);
  CHECK(sigint_is(SIG_DFL));
  uv_close((uv_handle_t *)&w, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  sigaction(SIGINT, &old, NULL);
  return 0;
}

static int host_heard;
static void host_cb(uv_signal_t *h, int sig) { (void)h; (void)sig; host_heard++; }

/* A program's own libuv watcher of SIGINT, started with uv_signal_start
** (not counted by corral). The first run puts its handler in front of
** libuv's; the second waits in corral.signal("SIGINT") until the first has
** ended. Then libuv's handler is SIGINT's again, and a third run's Ctrl-C
** reaches the program's watcher (corral's front was left in place over
** nothing, chaining to itself: the watcher heard nothing ever again). */
static int test_overlapping_runs_keep_a_programs_libuv_watcher(void) {
  uv_loop_t loop;
  uv_signal_t w;
  struct sigaction libuv, sa;
  CHECK(uv_loop_init(&loop) == 0);
  CHECK(uv_signal_init(&loop, &w) == 0);
  CHECK(uv_signal_start(&w, host_cb, SIGINT) == 0);
  CHECK(sigaction(SIGINT, NULL, &libuv) == 0);
  CHECK(overlap(
    HOLDING_RUN,
    "local corral = require 'corral'\n"
    "wait(0)\n"
    "corral.run(function()\n"
    "  corral.group(function(g)\n"
    "    g:spawn(corral.signal, 'SIGINT')\n"
    "    corral.sleep(0)\n"
    "    post(1); wait(2)\n"
    "    g:cancel()\n"
    "  end)\n"
    "end)\n"
    "return 'done'\n") == 0);
  CHECK(sigaction(SIGINT, NULL, &sa) == 0 &&
        (sa.sa_flags & SA_SIGINFO) == (libuv.sa_flags & SA_SIGINFO) &&
        sa.sa_handler == libuv.sa_handler);
  host_heard = 0;
  CHECK(run("local corral = require 'corral'\n"
            "corral.run(function() sigint(); corral.sleep(0.01) end)\n"
            "return 'done'\n", "done") == 0);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(host_heard == 1);
  uv_close((uv_handle_t *)&w, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  return 0;
}

int main(void) {
  int failed = 0, i;
  struct { const char *name; int (*fn)(void); } tests[] = {
    /* (first: no watcher of corral's has run in this process yet) */
    {"overlapping runs in two threads keep a program's own libuv watcher",
     test_overlapping_runs_keep_a_programs_libuv_watcher},
    {"a program's own watcher stopped during a run leaves the default action",
     test_a_programs_watcher_stopped_during_a_run},
    {"the busy-task Ctrl-C handler blocks every signal while it runs",
     test_busy_handler_blocks_every_signal},
    {"the run's own SIGINT handler blocks every signal while it runs",
     test_interrupt_handler_blocks_every_signal},
    {"overlapping runs in two threads keep the program's SIGINT handler",
     test_overlapping_runs_keep_the_programs_handler},
    {"overlapping runs in two threads give SIGINT its default action back",
     test_overlapping_runs_give_back_the_default},
    {"a busy task hears Ctrl-C beside another thread's run",
     test_a_busy_task_hears_ctrl_c_beside_another_run},
    {"the handler in front keeps the program's choices",
     test_the_front_keeps_the_programs_choices},
    {"a Ctrl-C that comes to another thread reaches a busy task",
     test_a_ctrl_c_in_another_thread_reaches_a_busy_task},
    {"a program's own sigqueue of SIGINT is an arrival like any other",
     test_a_programs_own_sigqueue_is_an_arrival},
    {"a run's thread that blocks one stop signal is sent the other",
     test_a_thread_blocking_one_stop_signal_is_sent_the_other},
  };
  for (i = 0; i < (int)(sizeof tests / sizeof tests[0]); i++) {
    int r = tests[i].fn();
    printf("%s %s\n", r ? "FAIL" : "ok  ", tests[i].name);
    failed += r != 0;
  }
  return failed != 0;
}
