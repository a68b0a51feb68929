/*
** test-host-teardown.c -- corral_host_close in the middle of a root whose
** tasks wait on everything at once: host awaitables (completed later from
** the host's timer and from a worker thread, after the close), a sleep, a
** TCP accept, a TCP read, a child process, a channel, wait_stop. After the
** close: every cancel callback ran once, the child was killed and reaped,
** no handle of corral's is left on the host's loop (uv_walk), the loop
** closes (uv_loop_close 0), and the host's state holds exactly the
** registry entries it held after the first host's life. Attached to the
** host's loop, stepped, and on corral's own loop.
*/
#include <errno.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include "host_test.h"

typedef struct {
  corral_op_t *op;            /* the host's completer timer ends it */
} late_op_t;

static int cancels;
static atomic_int completed_late;     /* by the host and its worker */
static uv_thread_t worker_thread;
static int worker_started;
static uv_loop_t *host_loop;  /* the host's loop (NULL: corral's own) */
static uv_timer_t completer;  /* the host's: completes timer ops after close */
static late_op_t *pending[4];
static int npending;

static int on_cancel(corral_op_t *op) {
  (void)op;
  cancels++;
  return CORRAL_OP_ABANDON;
}
static int on_cancel_wait(corral_op_t *op) {
  (void)op;
  cancels++;
  return CORRAL_OP_WAIT;
}
static const corral_op_type_t abandon_type = {"late", sizeof(late_op_t), NULL, on_cancel};
static const corral_op_type_t wait_type = {"late", sizeof(late_op_t), NULL, on_cancel_wait};

/* host.op(wait): an op the host completes only after corral closed. */
static int l_op(lua_State *L) {
  corral_op_t *op = corral_op_new(L, lua_toboolean(L, 1) ? &wait_type
                                                         : &abandon_type);
  late_op_t *l = corral_op_data(op);
  l->op = op;
  pending[npending++] = l;
  return corral_op_await(L, op);
}

static void worker(void *arg) {
  corral_op_t *op = arg;
  while (corral_op_cancelled(op) <= 0) uv_sleep(1);   /* the close says */
  uv_sleep(20);                              /* well after the close */
  if (corral_op_complete_threadsafe(op, UV_ECANCELED) == 0)
    atomic_fetch_add(&completed_late, 1);
}

/* host.thread_op(): a worker thread completes it once it was cancelled. */
static int l_thread_op(lua_State *L) {
  corral_op_t *op = corral_op_new(L, &abandon_type);
  uv_thread_create(&worker_thread, worker, op);
  worker_started = 1;
  return corral_op_await(L, op);
}

/* host.halt(): the host's uv_run returns after this pass. */
static int halted;
static int l_halt(lua_State *L) {
  (void)L;
  halted = 1;
  if (host_loop) uv_stop(host_loop);
  return 0;
}

static void register_host(lua_State *L) {
  static const luaL_Reg fns[] = {{"op", l_op}, {"thread_op", l_thread_op},
                                 {"halt", l_halt}, {NULL, NULL}};
  luaL_newlib(L, fns);
  lua_setglobal(L, "host");
}

/* Every kind of wait at once; the root prints the child's pid and stops
** the host's loop once all are parked. */
static const char chunk[] =
  "local corral = require 'corral'\n"
  "local l = corral.tcp.listen('127.0.0.1', 0)\n"
  "local c = corral.tcp.connect('127.0.0.1', l.port)\n"
  "local s = l:accept()\n"
  "local p = corral.exec('/bin/sleep', {'100'})\n"
  "pid = p.pid\n"
  "corral.group(function(g)\n"
  "  g:spawn(host.op, false)\n"
  "  g:spawn(host.op, true)\n"
  "  g:spawn(host.thread_op)\n"
  "  g:spawn(corral.sleep, 3600)\n"
  "  g:spawn(function() l:accept() end)\n"
  "  g:spawn(function() c:read() end)\n"
  "  g:spawn(function() s:read() end)\n"
  "  g:spawn(function() p:wait() end)\n"
  "  g:spawn(function() corral.channel():recv() end)\n"
  "  g:spawn(corral.host.wait_stop)\n"
  "  g:spawn(function()\n"
  "    require('corral.testing').wait_all_tasks_blocked()\n"
  "    host.halt()\n"
  "    corral.sleep(3600)\n"
  "  end)\n"
  "end)\n";

static void complete_pending(uv_timer_t *t) {
  int i;
  (void)t;
  for (i = 0; i < npending; i++)
    if (corral_op_complete(pending[i]->op, 0) == 0)
      atomic_fetch_add(&completed_late, 1);
  npending = 0;
}

static void count_handle(uv_handle_t *handle, void *arg) {
  (void)handle;
  ++*(int *)arg;
}
static int handles_on(uv_loop_t *loop) {
  int n = 0;
  uv_walk(loop, count_handle, &n);
  return n;
}

/* The child is gone: killed and reaped (no zombie left to this process). */
static int child_gone(lua_State *L) {
  pid_t pid;
  lua_getglobal(L, "pid");
  pid = (pid_t)lua_tointeger(L, -1);
  lua_pop(L, 1);
  return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH &&
         waitpid(pid, NULL, WNOHANG) < 0 && errno == ECHILD;
}

enum { ATTACHED, STEPPED, OWN_LOOP };

/* Bring the root to the point where every task is parked. */
static int drive_to_parked(corral_host_t *h, int how, uv_loop_t *loop) {
  if (how == ATTACHED) {
    CHECK(corral_host_attach(h, NULL, NULL) == 0);
    CHECK(corral_host_start_string(h, chunk, "=teardown") == 0);
    CHECK(uv_run(loop, UV_RUN_DEFAULT) != 0);    /* halted, still alive */
  } else {
    CHECK(corral_host_start_string(h, chunk, "=teardown") == 0);
    while (!halted) {
      CHECK(corral_host_step(h) == CORRAL_RUNNING);
      uv_sleep(1);
    }
  }
  CHECK(corral_host_status(h) == CORRAL_RUNNING);
  return 0;
}

static int registry_entries(lua_State *L) {
  int n = 0;
  lua_gc(L, LUA_GCCOLLECT);
  lua_pushnil(L);
  while (lua_next(L, LUA_REGISTRYINDEX)) {
    n++;
    lua_pop(L, 1);
  }
  return n;
}

/* One host's life on L, closed with every task parked. */
static int life(lua_State *L, int how) {
  uv_loop_t loop;
  corral_host_opts_t o = {NULL, NULL, 0};
  corral_host_t *h;
  cancels = worker_started = npending = halted = 0;
  atomic_store(&completed_late, 0);
  CHECK(uv_loop_init(&loop) == 0);
  host_loop = how == OWN_LOOP ? NULL : &loop;
  o.loop = host_loop;
  o.L = L;
  CHECK(corral_host_new(&h, &o) == 0);
  register_host(L);
  CHECK(drive_to_parked(h, how, &loop) == 0);
  CHECK(cancels == 0);
  CHECK(corral_host_close(h) == 0);
  CHECK(cancels == 3);                /* every waiting op's, once */
  CHECK(child_gone(L));
  CHECK(handles_on(&loop) == 0);      /* nothing of corral's on the loop */
  /* the host completes its ops after the close: freed, nothing delivered */
  uv_timer_init(&loop, &completer);
  uv_timer_start(&completer, complete_pending, 5, 0);
  CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
  uv_close((uv_handle_t *)&completer, NULL);
  CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
  uv_thread_join(&worker_thread);
  CHECK(atomic_load(&completed_late) == 3);
  CHECK(uv_loop_close(&loop) == 0);
  CHECK(lua_gettop(L) == 0);
  return 0;
}

/* Two lives on one state: the second leaves the registry as the first did
** (the first loads corral's module into the state for good). */
static int teardown(int how) {
  lua_State *L = luaL_newstate();
  int after_first;
  luaL_openlibs(L);
  CHECK(life(L, how) == 0);
  after_first = registry_entries(L);
  CHECK(life(L, how) == 0);
  CHECK(registry_entries(L) == after_first);
  lua_close(L);
  return 0;
}

static int test_close_attached_with_everything_waiting(void) {
  return teardown(ATTACHED);
}
static int test_close_stepped_with_everything_waiting(void) {
  return teardown(STEPPED);
}
static int test_close_on_its_own_loop_with_everything_waiting(void) {
  return teardown(OWN_LOOP);
}

int main(void) {
  int failed = 0;
  signal(SIGPIPE, SIG_IGN);
  RUN(test_close_attached_with_everything_waiting);
  RUN(test_close_stepped_with_everything_waiting);
  RUN(test_close_on_its_own_loop_with_everything_waiting);
  return failed != 0;
}
