/*
** roundtrip.c -- the cost of a host awaitable round trip from Lua,
** against corral.sleep(0). Not part of the tests: build and run with
**   cc -O2 -D_GNU_SOURCE bench/host/roundtrip.c -Iengine -Ibindings \
**      build/libcorral.a $(pkg-config --cflags --libs lua5.4 libuv) -lm
**   ./a.out [N]
** Three awaitables: completed inside the call (no suspension), completed
** on the loop thread on the next loop turn (a uv_timer of 0 ms, closed,
** then corral_op_complete), and through the thread-safe path
** (corral_op_complete_threadsafe: the mailbox and the uv_async wake-up).
*/
#include <stdio.h>
#include <stdlib.h>
#include <lauxlib.h>
#include "corral_lua.h"

static const corral_op_type_t type = {"bench", sizeof(uv_timer_t), NULL, NULL};

static int l_now(lua_State *L) {               /* completes at once */
  corral_op_t *op = corral_op_new(L, &type);
  corral_op_complete(op, 0);
  return corral_op_await(L, op);
}

static void closed(uv_handle_t *h) { corral_op_complete(h->data, 0); }
static void fired(uv_timer_t *t) { uv_close((uv_handle_t *)t, closed); }

static int l_loop(lua_State *L) {              /* a loop turn later */
  corral_op_t *op = corral_op_new(L, &type);
  uv_timer_t *t = corral_op_data(op);
  uv_timer_init(corral_op_loop(op), t);
  t->data = op;
  uv_timer_start(t, fired, 0, 0);
  return corral_op_await(L, op);
}

static int l_posted(lua_State *L) {            /* the thread-safe path */
  corral_op_t *op = corral_op_new(L, &type);
  corral_op_complete_threadsafe(op, 0);
  return corral_op_await(L, op);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 200000;
  corral_host_t *h;
  lua_State *L;
  char chunk[1024];
  if (corral_host_new(&h, NULL) != 0) return 1;
  L = corral_host_state(h);
  lua_pushcfunction(L, l_now); lua_setglobal(L, "op_now");
  lua_pushcfunction(L, l_loop); lua_setglobal(L, "op_loop");
  lua_pushcfunction(L, l_posted); lua_setglobal(L, "op_posted");
  snprintf(chunk, sizeof chunk,
    "local corral, n = require 'corral', %d\n"
    "local function time(name, f)\n"
    "  local t0 = os.clock()\n"
    "  for _ = 1, n do f() end\n"
    "  print(('%%-34s %%8.0f ns'):format(name, (os.clock() - t0) / n * 1e9))\n"
    "end\n"
    "time('corral.sleep(0)', function() corral.sleep(0) end)\n"
    "time('corral.checkpoint()', corral.checkpoint)\n"
    "time('awaitable, completed at once', op_now)\n"
    "time('awaitable, loop thread (timer)', op_loop)\n"
    "time('awaitable, thread-safe (async)', op_posted)\n", n);
  corral_host_start_string(h, chunk, "=bench");
  if (corral_host_run(h) != CORRAL_OK) fprintf(stderr, "%s\n", corral_host_message(h));
  corral_host_close(h);
  return 0;
}
