/*
** test-host-run.c -- the host API's three ways to run a root (to the end,
** attached to the host's own uv_run, stepped), outcomes, and teardown.
*/
#include <poll.h>
#include <signal.h>
#include "host_test.h"

static int test_run_results(void) {
  corral_host_t *h;
  char buf[256];
  CHECK(corral_host_new(&h, NULL) == 0);
  CHECK(corral_host_status(h) == CORRAL_NONE);
  CHECK(corral_host_start_string(h,
    "local corral = require 'corral'\n"
    "local n = 0\n"
    "corral.group(function(g)\n"
    "  for i = 1, 10 do g:spawn(function() corral.sleep(0.001 * i); n = n + i end) end\n"
    "end)\n"
    "return n, 'second'", "=run") == 0);
  CHECK(corral_host_run(h) == CORRAL_OK);
  CHECK(strcmp(host_result(h, buf, sizeof buf), "55") == 0);
  /* a second root on the same host */
  CHECK(corral_host_start_string(h, "error('boom', 0)", "=err") == 0);
  CHECK(corral_host_run(h) == CORRAL_ERROR);
  CHECK(strcmp(corral_host_message(h), "boom") == 0);
  /* does not compile: ends at once */
  CHECK(corral_host_start_string(h, "return +", "=bad") == CORRAL_ERROR);
  CHECK(corral_host_status(h) == CORRAL_ERROR);
  CHECK(strstr(corral_host_message(h), "bad") != NULL);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* hostcancel(reason): the root's own C function asks the host to cancel it. */
static corral_host_t *self_host;
static int l_hostcancel(lua_State *L) {
  lua_pushinteger(L, corral_host_cancel(self_host, luaL_checkstring(L, 1)));
  return 1;
}

/* A cancel made while the root runs (here by a C function it calls) is
** delivered when the root next gives up the CPU: its checkpoint raises. It
** sat in the hub until the loop turned, which a root that only checkpoints
** never lets happen, and the root returned normally; attached, one made
** after a full pass of checkpoints (the pass after libuv's poll) was lost
** because the next pass cleared the flag that asked for a poll. */
static void self_done(corral_host_t *h, int status, void *arg) {
  (void)h;
  *(int *)arg = status;
}

static int self_cancel_in(int attached) {
  uv_loop_t loop;
  corral_host_opts_t o = {NULL, NULL, 0};
  int status = -1;
  if (attached) {
    CHECK(uv_loop_init(&loop) == 0);
    o.loop = &loop;
  }
  CHECK(corral_host_new(&self_host, &o) == 0);
  lua_register(corral_host_state(self_host), "hostcancel", l_hostcancel);
  if (attached) CHECK(corral_host_attach(self_host, self_done, &status) == 0);
  CHECK(corral_host_start_string(self_host,
    "local corral = require 'corral'\n"
    "for _ = 1, 5000 do corral.checkpoint() end\n"
    "assert(hostcancel('hc') == 0)\n"
    "corral.checkpoint()\n"
    "corral.checkpoint()\n"
    "return 'not cancelled'", "=self") == 0);
  if (attached) {
    uv_run(&loop, UV_RUN_DEFAULT);
  } else {
    status = corral_host_run(self_host);
  }
  CHECK(status == CORRAL_CANCELLED);
  CHECK(strstr(corral_host_message(self_host), "Cancelled: hc (source=host)") != NULL);
  CHECK(corral_host_close(self_host) == 0);
  if (attached) CHECK(uv_loop_close(&loop) == 0);
  return 0;
}

static int test_cancel_reaches_a_checkpointing_root(void) {
  CHECK(self_cancel_in(0) == 0);
  CHECK(self_cancel_in(1) == 0);
  return 0;
}

static int test_run_function_and_args(void) {
  corral_host_t *h;
  lua_State *L;
  char buf[64];
  CHECK(corral_host_new(&h, NULL) == 0);
  L = corral_host_state(h);
  CHECK(luaL_loadstring(L, "local a, b = ...; require('corral').sleep(0); return a + b") == 0);
  lua_pushinteger(L, 40);
  lua_pushinteger(L, 2);
  CHECK(corral_host_start(h, 2) == 0);
  CHECK(lua_gettop(L) == 0);
  CHECK(corral_host_start(h, 0) == CR_EINVAL);          /* nothing there */
  CHECK(corral_host_run(h) == CORRAL_OK);
  CHECK(strcmp(host_result(h, buf, sizeof buf), "42") == 0);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* An existing state: require "corral" there sees the host's engine. */
static int test_existing_state(void) {
  lua_State *L = luaL_newstate();
  corral_host_opts_t o = {NULL, NULL, 1};
  corral_host_t *h, *h2;
  char buf[64];
  luaL_openlibs(L);
  o.L = L;
  CHECK(corral_host_new(&h, &o) == 0);
  CHECK(corral_host_new(&h2, &o) == CR_EINVAL && h2 == NULL); /* one at a time */
  CHECK(lua_gettop(L) == 1);                 /* why, left on the host's stack */
  CHECK(strstr(lua_tostring(L, -1), "this state already runs corral") != NULL);
  lua_pop(L, 1);
  CHECK(corral_host_start_string(h,
    "local c = require 'corral'; c.sleep(3600); return c.now()", "=vt") == 0);
  CHECK(corral_host_run(h) == CORRAL_OK);               /* virtual clock */
  CHECK(strcmp(host_result(h, buf, sizeof buf), "3600.0") == 0);
  CHECK(corral_host_close(h) == 0);
  /* the state lives on, and corral.run works there again */
  CHECK(luaL_dostring(L, "return require('corral').run(function() return 7 end)") == 0);
  CHECK(lua_tointeger(L, -1) == 7);
  lua_close(L);
  return 0;
}

/* --- attached to the host's loop ---------------------------------------- */

typedef struct {
  uv_timer_t timer;
  int ticks, done, status;
  corral_host_t *h;
} hostapp;

static void tick(uv_timer_t *t) { ((hostapp *)t->data)->ticks++; }

static void done(corral_host_t *h, int status, void *arg) {
  hostapp *a = arg;
  (void)h;
  a->done++;
  a->status = status;
  uv_close((uv_handle_t *)&a->timer, NULL);   /* the host ends its loop */
}

static int test_attach(void) {
  uv_loop_t loop;
  hostapp a;
  corral_host_opts_t o = {NULL, NULL, 0};
  char buf[64];
  memset(&a, 0, sizeof a);
  CHECK(uv_loop_init(&loop) == 0);
  o.loop = &loop;
  uv_timer_init(&loop, &a.timer);
  a.timer.data = &a;
  uv_timer_start(&a.timer, tick, 5, 5);
  CHECK(corral_host_new(&a.h, &o) == 0);
  CHECK(corral_host_attach(a.h, done, &a) == 0);
  CHECK(corral_host_start_string(a.h,
    "local corral = require 'corral'\n"
    "local n = 0\n"
    "corral.group(function(g)\n"
    "  for i = 1, 3 do g:spawn(function() for _ = 1, 100 do corral.checkpoint() end\n"
    "    corral.sleep(0.1); n = n + 1 end) end\n"
    "end)\n"
    "return n", "=attached") == 0);
  CHECK(corral_host_run(a.h) == CR_EBUSY);          /* the host runs it */
  CHECK(corral_host_step(a.h) == CR_EBUSY);
  CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
  CHECK(a.done == 1 && a.status == CORRAL_OK);
  if (a.ticks < 3) fprintf(stderr, "ticks=%d\n", a.ticks);
  CHECK(a.ticks >= 3);                              /* the host's timer ran */
  CHECK(strcmp(host_result(a.h, buf, sizeof buf), "3") == 0);
  CHECK(corral_host_close(a.h) == 0);
  CHECK(uv_loop_close(&loop) == 0);                 /* nothing left open */
  return 0;
}

/* Attached with a host handle that stays alive: corral never touches it,
** and a second root runs on the same attachment. */
static void stop_loop(corral_host_t *h, int status, void *arg) {
  hostapp *a = arg;
  (void)h;
  a->done++;
  a->status = status;
  uv_stop(a->timer.loop);
}

static int test_attach_host_handle_untouched(void) {
  uv_loop_t loop;
  hostapp a;
  corral_host_opts_t o = {NULL, NULL, 0};
  memset(&a, 0, sizeof a);
  CHECK(uv_loop_init(&loop) == 0);
  o.loop = &loop;
  uv_timer_init(&loop, &a.timer);
  a.timer.data = &a;
  uv_timer_start(&a.timer, tick, 1, 1);
  CHECK(corral_host_new(&a.h, &o) == 0);
  CHECK(corral_host_attach(a.h, stop_loop, &a) == 0);
  CHECK(corral_host_start_string(a.h, "require('corral').sleep(0.1)", "=a") == 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(a.done == 1 && a.status == CORRAL_OK);
  CHECK(corral_host_start_string(a.h, "require('corral').sleep(0.02); error('x', 0)", "=b") == 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(a.done == 2 && a.status == CORRAL_ERROR);
  CHECK(corral_host_close(a.h) == 0);
  CHECK(uv_is_active((uv_handle_t *)&a.timer));     /* still the host's */
  CHECK(a.ticks >= 10);
  uv_close((uv_handle_t *)&a.timer, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  return 0;
}

/*
** Attached with a host handle that keeps the loop alive and never fires (a
** signal watcher): a root that ended in the pass before the poll was not
** reported, and uv_run blocked for ever in the poll. A watchdog timer ends
** the test if on_done does not come.
*/
typedef struct {
  uv_signal_t sig;
  uv_timer_t watchdog;
  uv_prepare_t probe;   /* after corral's prepare: how long the poll may block */
  int done, status, timed_out, max_timeout;
} quiet_host;

static void quiet_close(quiet_host *q) {
  uv_close((uv_handle_t *)&q->sig, NULL);
  uv_close((uv_handle_t *)&q->watchdog, NULL);
  uv_close((uv_handle_t *)&q->probe, NULL);
}

static void quiet_probe(uv_prepare_t *p) {
  quiet_host *q = p->data;
  int t = uv_backend_timeout(p->loop);
  if (!q->done && t > q->max_timeout) q->max_timeout = t;
}

static void quiet_done(corral_host_t *h, int status, void *arg) {
  quiet_host *q = arg;
  (void)h;
  q->done++;
  q->status = status;
  quiet_close(q);
}

static void quiet_watchdog(uv_timer_t *t) {
  quiet_host *q = t->data;
  q->timed_out = 1;
  quiet_close(q);
}

static void quiet_sig(uv_signal_t *s, int n) { (void)s; (void)n; }

static int test_attach_quiet_host_handle(void) {
  static const char *const roots[] = {
    "return 1", "require('corral').checkpoint()", "require('corral').sleep(0.01)",
  };
  size_t i;
  for (i = 0; i < sizeof roots / sizeof *roots; i++) {
    uv_loop_t loop;
    quiet_host q;
    corral_host_t *h;
    corral_host_opts_t o = {NULL, NULL, 0};
    memset(&q, 0, sizeof q);
    CHECK(uv_loop_init(&loop) == 0);
    o.loop = &loop;
    uv_signal_init(&loop, &q.sig);
    uv_signal_start(&q.sig, quiet_sig, SIGTERM);
    uv_timer_init(&loop, &q.watchdog);
    q.watchdog.data = &q;
    uv_timer_start(&q.watchdog, quiet_watchdog, 5000, 0);
    CHECK(corral_host_new(&h, &o) == 0);
    CHECK(corral_host_attach(h, quiet_done, &q) == 0);
    uv_prepare_init(&loop, &q.probe);
    q.probe.data = &q;
    uv_prepare_start(&q.probe, quiet_probe);
    CHECK(corral_host_start_string(h, roots[i], "=quiet") == 0);
    CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
    CHECK(!q.timed_out);
    /* the poll never waits on the watchdog: corral's end is reported
    ** without it (the sleep's own 10 ms aside) */
    CHECK(q.max_timeout <= 10);
    CHECK(q.done == 1 && q.status == CORRAL_OK);
    CHECK(corral_host_close(h) == 0);
    CHECK(uv_loop_close(&loop) == 0);
  }
  return 0;
}

/* --- stepped from a loop that is not libuv -------------------------------- */

static int test_step(void) {
  corral_host_t *h;
  int st, steps = 0, waits = 0;
  char buf[64];
  CHECK(corral_host_new(&h, NULL) == 0);
  CHECK(corral_host_start_string(h,
    "local corral = require 'corral'\n"
    "corral.group(function(g)\n"
    "  g:spawn(corral.sleep, 0.2)\n"
    "  g:spawn(function() for _ = 1, 50 do corral.checkpoint() end end)\n"
    "end)\n"
    "return 'stepped'", "=step") == 0);
  CHECK(corral_host_fd(h) >= 0);
  while ((st = corral_host_step(h)) == CORRAL_RUNNING) {
    int ms = corral_host_timeout(h);
    struct pollfd p;
    p.fd = corral_host_fd(h);
    p.events = POLLIN;
    CHECK(ms <= 205);                  /* 0 while ready, else the deadline */
    if (ms > 0) waits++;
    poll(&p, 1, ms);                  /* the host's own wait */
    CHECK(++steps < 10000);
  }
  CHECK(st == CORRAL_OK && waits >= 1);
  CHECK(strcmp(host_result(h, buf, sizeof buf), "stepped") == 0);
  CHECK(corral_host_timeout(h) == -1);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* Stepped, host code that woke the parked root between two steps (the
** documented way to feed a task) got a deadlock: the step in which the root
** parked had cancelled it already. A deadlock is declared only by a step
** that finds nothing woken since the last one; until then the timeout is 0
** (the next step decides), and a host that woke nothing still gets it. */
static int test_wake_between_steps(void) {
  corral_host_t *h;
  lua_State *L;
  char buf[64];
  int st, i;
  CHECK(corral_host_new(&h, NULL) == 0);
  L = corral_host_state(h);
  CHECK(corral_host_start_string(h, "local c = require 'corral'\n"
    "ch = c.channel(1) return ch:recv()", "=s") == 0);
  CHECK(corral_host_step(h) == CORRAL_RUNNING);      /* parked in recv */
  CHECK(corral_host_timeout(h) == 0);
  CHECK(luaL_dostring(L, "return ch:try_send('hello')") == LUA_OK);
  CHECK(lua_toboolean(L, -1));
  lua_settop(L, 0);
  for (i = 0; i < 10 && (st = corral_host_step(h)) == CORRAL_RUNNING; i++) {}
  CHECK(st == CORRAL_OK);
  CHECK(strcmp(host_result(h, buf, sizeof buf), "hello") == 0);
  /* The same root, and the host does nothing: the next step declares it. */
  CHECK(corral_host_start_string(h, "local c = require 'corral'\n"
    "ch = c.channel(1) return ch:recv()", "=s") == 0);
  CHECK(corral_host_step(h) == CORRAL_RUNNING);
  for (i = 0; i < 10 && (st = corral_host_step(h)) == CORRAL_RUNNING; i++) {}
  CHECK(st == CORRAL_ERROR);
  CHECK(strstr(corral_host_message(h), "corral: deadlock") != NULL);
  CHECK(strstr(corral_host_message(h), "channel") != NULL);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* --- deadlock and teardown ----------------------------------------------- */

static int test_deadlock(void) {
  corral_host_t *h;
  CHECK(corral_host_new(&h, NULL) == 0);
  CHECK(corral_host_start_string(h,
    "local corral = require 'corral'\n"
    "local ev = corral.event()\n"
    "local ok, err = pcall(function() ev:wait() end)\n"
    "cleaned = tostring(err)\n", "=dl") == 0);
  CHECK(corral_host_run(h) == CORRAL_ERROR);
  CHECK(strstr(corral_host_message(h), "deadlock") != NULL);
  /* with the tree when it was found, as corral.run reports it */
  CHECK(strstr(corral_host_message(h), "waiting on event at dl:3") != NULL);
  lua_getglobal(corral_host_state(h), "cleaned");
  CHECK(strstr(lua_tostring(corral_host_state(h), -1), "deadlock") != NULL);
  lua_pop(corral_host_state(h), 1);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

static volatile sig_atomic_t heard;
static void hear(int signum) { (void)signum; heard++; }

/* A root that waited for a signal catches it until it ends; then a signal
** that had the default action gets it back. One the host handles stays
** corral's (its arrivals dropped) until the close: stopping the watcher
** would leave a moment with SIG_DFL, which a signal arriving then dies of. */
static int test_signals_between_roots(void) {
  corral_host_t *h;
  struct sigaction sa, before, now;
  const char *waits = "local c = require 'corral'\n"
                      "return c.move_on_after(0.01, c.signal, 'SIGUSR2')";
  CHECK(sigaction(SIGUSR2, NULL, &before) == 0);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
  CHECK(corral_host_new(&h, NULL) == 0);
  CHECK(corral_host_start_string(h, waits, "=waits") == 0);
  CHECK(corral_host_run(h) == CORRAL_OK);
  CHECK(sigaction(SIGUSR2, NULL, &now) == 0);
  CHECK(!(now.sa_flags & SA_SIGINFO) && now.sa_handler == SIG_DFL);
  CHECK(corral_host_close(h) == 0);
  /* the host's own handler */
  sa.sa_handler = hear;
  CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
  CHECK(corral_host_new(&h, NULL) == 0);
  CHECK(corral_host_start_string(h, waits, "=waits") == 0);
  CHECK(corral_host_run(h) == CORRAL_OK);
  heard = 0;
  raise(SIGUSR2);                       /* corral's still: dropped, no death */
  CHECK(heard == 0);
  CHECK(corral_host_close(h) == 0);
  raise(SIGUSR2);
  CHECK(heard == 1);
  CHECK(sigaction(SIGUSR2, &before, NULL) == 0);
  return 0;
}

/* Closing while tasks still run: everything is abandoned and freed. */
static int test_close_while_running(void) {
  corral_host_t *h;
  int i;
  CHECK(corral_host_new(&h, NULL) == 0);
  CHECK(corral_host_start_string(h,
    "local corral = require 'corral'\n"
    "corral.group(function(g)\n"
    "  for i = 1, 5 do g:spawn(function() local ev = corral.event(); ev:wait() end) end\n"
    "  g:spawn(corral.sleep, 3600)\n"
    "  corral.scope(function() corral.sleep(3600) end, {shield = true})\n"
    "end)", "=busy") == 0);
  for (i = 0; i < 5; i++) CHECK(corral_host_step(h) == CORRAL_RUNNING);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* The same on a host's loop, attached, from outside uv_run. */
static int test_close_attached_while_running(void) {
  uv_loop_t loop;
  corral_host_t *h;
  CHECK(host_on_loop(&loop, &h) == 0);
  CHECK(corral_host_attach(h, NULL, NULL) == 0);
  CHECK(corral_host_start_string(h,
    "local corral = require 'corral'\n"
    "corral.group(function(g) g:spawn(corral.sleep, 3600); corral.sleep(3600) end)",
    "=busy") == 0);
  CHECK(uv_run(&loop, UV_RUN_NOWAIT) != 0);
  CHECK(corral_host_status(h) == CORRAL_RUNNING);
  CHECK(corral_host_close(h) == 0);
  CHECK(uv_run(&loop, UV_RUN_NOWAIT) == 0);
  CHECK(uv_loop_close(&loop) == 0);
  return 0;
}

static int test_bad_input(void) {
  corral_host_t *h;
  CHECK(corral_host_new(NULL, NULL) == CR_EINVAL);
  CHECK(corral_host_new(&h, NULL) == 0);
  CHECK(corral_host_start_string(h, NULL, NULL) == CR_EINVAL);
  CHECK(corral_host_start_file(h, NULL, 0, NULL) == CR_EINVAL);
  CHECK(corral_host_start_file(h, "/no/such/file.lua", 0, NULL) == CORRAL_ERROR);
  CHECK(strstr(corral_host_message(h), "/no/such/file.lua") != NULL);
  CHECK(corral_host_stop(h, 0.0 / 0.0, NULL) == CR_EINVAL);
  CHECK(corral_host_cancel(h, "nothing runs") == 0);    /* ignored */
  /* an awaitable's API outside a host task names itself */
  CHECK(luaL_dostring(corral_host_state(h), "require('corral').host.wait_stop()") != 0);
  CHECK(strstr(lua_tostring(corral_host_state(h), -1), "wait_stop") != NULL);
  lua_pop(corral_host_state(h), 1);
  /* results asked on a thread of another state: refused, not "nothing" */
  {
    lua_State *other = luaL_newstate();
    CHECK(other != NULL);
    CHECK(corral_host_start_string(h, "return 1", "=one") == 0);
    CHECK(corral_host_run(h) == CORRAL_OK);
    CHECK(corral_host_results(h, other) == CR_EINVAL);
    CHECK(lua_gettop(other) == 0);
    CHECK(corral_host_results(h, corral_host_state(h)) == 1);
    lua_pop(corral_host_state(h), 1);
    lua_close(other);
  }
  CHECK(corral_host_close(h) == 0);
  CHECK(corral_host_close(NULL) == CR_EINVAL);
  return 0;
}

/* A state without the standard libraries, or that loaded corral.so before
** the host, is refused with a reason that names the problem. */
static int test_refused_states(void) {
  corral_host_t *h, *h2;
  corral_host_opts_t o = {NULL, NULL, 0};
  lua_State *L = luaL_newstate();
  CHECK(L != NULL);
  o.L = L;
  CHECK(corral_host_new(&h, &o) == CR_EINVAL);
  CHECK(strstr(lua_tostring(L, -1), "standard libraries open") != NULL);
  lua_close(L);
  L = luaL_newstate();
  luaL_openlibs(L);
  o.L = L;
  CHECK(corral_host_new(&h, &o) == 0);
  CHECK(corral_host_new(&h2, &o) == CR_EINVAL);   /* a second on one state */
  CHECK(strstr(lua_tostring(L, -1), "already runs corral") != NULL);
  CHECK(corral_host_close(h) == 0);
  lua_close(L);
  return 0;
}

/* A root run to its end (or stepped) on the host's loop left corral's
** timer armed for a deadline nobody waited for any more: a sleeper the
** root cancelled, or the grace of a stop the root finished within. The
** host's own uv_run afterwards, with nothing of the host's alive, then
** blocked until that stale deadline (an hour here) instead of returning. */
static void stale_guard_cb(uv_timer_t *t) { uv_stop(t->loop); }

static int loop_returns_after(const char *chunk, int stop, int stepped) {
  uv_loop_t loop;
  uv_timer_t guard;                 /* unreferenced: ends a failing wait */
  corral_host_t *h;
  uint64_t t0;
  int st;
  CHECK(host_on_loop(&loop, &h) == 0);
  uv_timer_init(&loop, &guard);
  CHECK(corral_host_start_string(h, chunk, "=stale") == 0);
  CHECK(corral_host_step(h) == CORRAL_RUNNING);
  if (stop) CHECK(corral_host_stop(h, 3600, "wind down") == 0);
  if (stepped)
    while ((st = corral_host_step(h)) == CORRAL_RUNNING) uv_sleep(1);
  else
    st = corral_host_run(h);
  CHECK(st == CORRAL_OK);
  uv_timer_start(&guard, stale_guard_cb, 2000, 0);
  uv_unref((uv_handle_t *)&guard);
  t0 = uv_hrtime();
  uv_run(&loop, UV_RUN_DEFAULT);          /* nothing of the host's is alive */
  uv_close((uv_handle_t *)&guard, NULL);
  CHECK(corral_host_close(h) == 0);
  CHECK(uv_hrtime() - t0 < 1000000000ULL);
  CHECK(uv_loop_close(&loop) == 0);
  return 0;
}

static int test_no_stale_deadline_after_the_root(void) {
  static const char cancelled_sleeper[] =
    "local c = require 'corral'\n"
    "c.group(function(g) g:spawn(c.sleep, 3600) c.sleep(0.05) g:cancel() end)";
  static const char graceful[] =
    "local c = require 'corral'\n"
    "c.host.wait_stop()";
  CHECK(loop_returns_after(cancelled_sleeper, 0, 0) == 0);
  CHECK(loop_returns_after(cancelled_sleeper, 0, 1) == 0);
  CHECK(loop_returns_after(graceful, 1, 0) == 0);
  CHECK(loop_returns_after(graceful, 1, 1) == 0);
  return 0;
}

int main(void) {
  int failed = 0;
  RUN(test_run_results);
  RUN(test_cancel_reaches_a_checkpointing_root);
  RUN(test_run_function_and_args);
  RUN(test_existing_state);
  RUN(test_attach);
  RUN(test_attach_host_handle_untouched);
  RUN(test_attach_quiet_host_handle);
  RUN(test_step);
  RUN(test_wake_between_steps);
  RUN(test_deadlock);
  RUN(test_signals_between_roots);
  RUN(test_close_while_running);
  RUN(test_close_attached_while_running);
  RUN(test_bad_input);
  RUN(test_refused_states);
  RUN(test_no_stale_deadline_after_the_root);
  return failed != 0;
}
