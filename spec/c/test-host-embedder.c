/*
** test-host-embedder.c -- what a real embedder does: corral on the host's
** own uv_loop_t, whose timer, idle and TCP server keep running while the
** root runs (attached, or driven by corral_host_run); the host's own
** lua_State, whose globals, package.path and stack are left as they were,
** and whose registry holds no more entries after the host closed than
** before it was made; a function with upvalues as the root; roots one
** after the other after every kind of ending; and a loop that closes
** (uv_loop_close 0) with none of corral's handles left on it.
*/
#include <stdlib.h>
#include "host_test.h"

/* --- the host's own handles ---------------------------------------------- */

typedef struct {
  uv_timer_t timer;
  uv_idle_t idle;
  uv_tcp_t server;
  int ticks, idles, accepted, port;
  int status;                 /* the root's, from on_done */
} app_t;

static app_t *app_of(lua_State *L) {
  return lua_touserdata(L, lua_upvalueindex(1));
}
static int l_ticks(lua_State *L) {
  lua_pushinteger(L, app_of(L)->ticks);
  return 1;
}
static int l_idles(lua_State *L) {
  lua_pushinteger(L, app_of(L)->idles);
  return 1;
}

static void on_tick(uv_timer_t *t) { ((app_t *)t->data)->ticks++; }
static void on_idle(uv_idle_t *i) {
  app_t *a = i->data;
  if (++a->idles == 100) uv_idle_stop(i);   /* then the loop may block */
}

static void free_handle(uv_handle_t *handle) { free(handle); }

static void written(uv_write_t *w, int status) {
  (void)status;
  uv_close((uv_handle_t *)w->handle, free_handle);
  free(w);
}

/* Each connection gets "hello from the host\n", then is closed. */
static void on_connection(uv_stream_t *server, int status) {
  static char text[] = "hello from the host\n";
  app_t *a = server->data;
  uv_tcp_t *c = malloc(sizeof *c);
  uv_write_t *w = malloc(sizeof *w);
  uv_buf_t b = uv_buf_init(text, sizeof text - 1);
  if (status != 0 || c == NULL || w == NULL) abort();
  uv_tcp_init(server->loop, c);
  if (uv_accept(server, (uv_stream_t *)c) != 0) abort();
  a->accepted++;
  uv_write(w, (uv_stream_t *)c, &b, 1, written);
}

static int app_open(uv_loop_t *loop, app_t *a) {
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int len = sizeof bound;
  memset(a, 0, sizeof *a);
  a->status = -1;
  uv_timer_init(loop, &a->timer);
  uv_idle_init(loop, &a->idle);
  uv_tcp_init(loop, &a->server);
  a->timer.data = a->idle.data = a->server.data = a;
  uv_timer_start(&a->timer, on_tick, 1, 1);
  uv_idle_start(&a->idle, on_idle);
  uv_ip4_addr("127.0.0.1", 0, &addr);
  if (uv_tcp_bind(&a->server, (const struct sockaddr *)&addr, 0) != 0 ||
      uv_listen((uv_stream_t *)&a->server, 8, on_connection) != 0 ||
      uv_tcp_getsockname(&a->server, (struct sockaddr *)&bound, &len) != 0)
    return -1;
  a->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
  return 0;
}

static void app_close(app_t *a) {
  uv_close((uv_handle_t *)&a->timer, NULL);
  uv_close((uv_handle_t *)&a->idle, NULL);
  uv_close((uv_handle_t *)&a->server, NULL);
}

/* host.ticks(), host.idles() and host.port in the state. */
static void app_publish(lua_State *L, app_t *a) {
  lua_newtable(L);
  lua_pushlightuserdata(L, a);
  lua_pushcclosure(L, l_ticks, 1);
  lua_setfield(L, -2, "ticks");
  lua_pushlightuserdata(L, a);
  lua_pushcclosure(L, l_idles, 1);
  lua_setfield(L, -2, "idles");
  lua_pushinteger(L, a->port);
  lua_setfield(L, -2, "port");
  lua_setglobal(L, "host");
}

/* The root talks to the host's server, then runs without blocking until
** the host's timer has fired three more times: if corral starved the
** host's handles, it would never end. Then it sleeps, so the loop blocks
** in the poll with the host's timer and corral's both armed. */
static const char app_chunk[] =
  "local corral = require 'corral'\n"
  "local s <close> = corral.tcp.connect('127.0.0.1', host.port)\n"
  "local line = s:read_line()\n"
  "local t0 = host.ticks()\n"
  "while host.ticks() < t0 + 3 do corral.checkpoint() end\n"
  "corral.group(function(g)\n"
  "  for i = 1, 5 do g:spawn(corral.sleep, 0.002 * i) end\n"
  "end)\n"
  "return line";

/* Nothing of corral's is left on the loop: the host's three handles only
** (closing or not). */
static void count_handle(uv_handle_t *handle, void *arg) {
  (void)handle;
  ++*(int *)arg;
}
static int handles_on(uv_loop_t *loop) {
  int n = 0;
  uv_walk(loop, count_handle, &n);
  return n;
}

static void app_done(corral_host_t *h, int status, void *arg) {
  app_t *a = arg;
  (void)h;
  a->status = status;
  app_close(a);               /* the host's handles go: uv_run returns */
}

static int test_attached_on_a_busy_host_loop(void) {
  uv_loop_t loop;
  corral_host_t *h;
  app_t a;
  char buf[128];
  CHECK(host_on_loop(&loop, &h) == 0);
  CHECK(app_open(&loop, &a) == 0);
  app_publish(corral_host_state(h), &a);
  CHECK(corral_host_attach(h, app_done, &a) == 0);
  CHECK(corral_host_start_string(h, app_chunk, "=app") == 0);
  CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
  CHECK(a.status == CORRAL_OK);
  CHECK(strcmp(host_result(h, buf, sizeof buf), "hello from the host") == 0);
  CHECK(a.accepted == 1 && a.idles == 100 && a.ticks >= 3);
  CHECK(corral_host_close(h) == 0);
  CHECK(handles_on(&loop) == 0);
  CHECK(uv_loop_close(&loop) == 0);
  return 0;
}

static int test_run_on_a_busy_host_loop(void) {
  uv_loop_t loop;
  corral_host_t *h;
  app_t a;
  char buf[128];
  CHECK(host_on_loop(&loop, &h) == 0);
  CHECK(app_open(&loop, &a) == 0);
  app_publish(corral_host_state(h), &a);
  CHECK(corral_host_start_string(h, app_chunk, "=app") == 0);
  CHECK(corral_host_run(h) == CORRAL_OK);
  CHECK(strcmp(host_result(h, buf, sizeof buf), "hello from the host") == 0);
  CHECK(a.accepted == 1 && a.ticks >= 3);
  CHECK(handles_on(&loop) >= 3);            /* the host's, still running */
  CHECK(corral_host_close(h) == 0);
  CHECK(handles_on(&loop) == 3);            /* the host's alone */
  app_close(&a);
  CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
  CHECK(uv_loop_close(&loop) == 0);
  return 0;
}

/* --- the host's own lua_State ------------------------------------------- */

/* Entries in the registry table (its array part and hash part alike). */
static int registry_entries(lua_State *L) {
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, LUA_REGISTRYINDEX)) {
    n++;
    lua_pop(L, 1);
  }
  return n;
}

/* Live registry refs: integer keys holding anything but the free list's
** integers (luaL_ref reuses the slots, luaL_unref chains them). */
static int registry_refs(lua_State *L) {
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, LUA_REGISTRYINDEX)) {
    if (lua_isinteger(L, -2) && lua_tointeger(L, -2) > LUA_RIDX_LAST &&
        !lua_isinteger(L, -1))
      n++;
    lua_pop(L, 1);
  }
  return n;
}

static int one_host_life(lua_State *L, int k) {
  corral_host_opts_t o = {NULL, NULL, 0};
  corral_host_t *h;
  char buf[256];
  o.L = L;
  CHECK(corral_host_new(&h, &o) == 0);
  CHECK(corral_host_state(h) == L);
  /* a function with an upvalue, and an argument, as the root */
  CHECK(luaL_dostring(L,
    "local corral = require 'corral'\n"
    "local greeting = greeting\n"
    "return function(n)\n"
    "  local got = {}\n"
    "  corral.group(function(g)\n"
    "    for i = 1, n do g:spawn(function() corral.sleep(0.001); got[#got + 1] = i end) end\n"
    "  end)\n"
    "  return greeting .. ' ' .. #got .. ' ' .. require('mymod').name\n"
    "end") == LUA_OK);
  lua_pushinteger(L, 4 + k);
  CHECK(corral_host_start(h, 1) == 0);
  CHECK(lua_gettop(L) == 1);                  /* the host's own value */
  CHECK(corral_host_run(h) == CORRAL_OK);
  snprintf(buf, sizeof buf, "hi %d mine", 4 + k);
  {
    char got[256];
    CHECK(strcmp(host_result(h, got, sizeof got), buf) == 0);
  }
  CHECK(lua_gettop(L) == 1);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

static int test_the_hosts_state(void) {
  lua_State *L = luaL_newstate();
  int entries, refs, k;
  luaL_openlibs(L);
  CHECK(luaL_dostring(L,
    "greeting = 'hi'\n"
    "package.path = './nowhere/?.lua'\n"
    "package.preload.mymod = function() return {name = 'mine'} end") == LUA_OK);
  lua_pushliteral(L, "the host's own value");
  /* the first host loads corral into the state for good (package.loaded,
  ** its metatables): count from after it */
  CHECK(one_host_life(L, 0) == 0);
  lua_gc(L, LUA_GCCOLLECT);
  entries = registry_entries(L);
  refs = registry_refs(L);
  for (k = 1; k <= 3; k++) CHECK(one_host_life(L, k) == 0);
  lua_gc(L, LUA_GCCOLLECT);
  CHECK(registry_entries(L) == entries);
  CHECK(registry_refs(L) == refs);
  CHECK(luaL_dostring(L,
    "assert(greeting == 'hi')\n"
    "assert(package.path == './nowhere/?.lua')\n"
    "assert(package.loaded.mymod.name == 'mine')") == LUA_OK);
  CHECK(lua_gettop(L) == 1 &&
        strcmp(lua_tostring(L, 1), "the host's own value") == 0);
  lua_close(L);
  return 0;
}

/* --- roots one after the other ------------------------------------------- */

static int test_roots_after_every_ending(void) {
  static const struct { const char *chunk; int status; const char *text; }
  roots[] = {
    {"return 'ok'", CORRAL_OK, "ok"},
    {"error('boom', 0)", CORRAL_ERROR, "boom"},
    {"return +", CORRAL_ERROR, NULL},                        /* no compile */
    {"require('corral').event():wait()", CORRAL_ERROR, NULL}, /* deadlock */
    {"local c = require 'corral'\n"
     "c.current_task():cancel('self'); c.checkpoint()", CORRAL_CANCELLED, NULL},
    {"require('corral').group(function(g)\n"
     "  g:spawn(error, 'child', 0) end)", CORRAL_ERROR, NULL},
    {"return 'again'", CORRAL_OK, "again"},
  };
  corral_host_t *h;
  char buf[256];
  size_t i;
  int st;
  CHECK(corral_host_new(&h, NULL) == 0);
  for (i = 0; i < sizeof roots / sizeof roots[0]; i++) {
    st = corral_host_start_string(h, roots[i].chunk, "=root");
    if (st == 0) st = corral_host_run(h);
    CHECK(st == roots[i].status);
    CHECK(corral_host_status(h) == st);
    if (roots[i].text && st == CORRAL_OK)
      CHECK(strcmp(host_result(h, buf, sizeof buf), roots[i].text) == 0);
    if (roots[i].text && st != CORRAL_OK)
      CHECK(strcmp(corral_host_message(h), roots[i].text) == 0);
    CHECK(lua_gettop(corral_host_state(h)) == 0);
  }
  CHECK(corral_host_close(h) == 0);
  return 0;
}

int main(void) {
  int failed = 0;
  RUN(test_attached_on_a_busy_host_loop);
  RUN(test_run_on_a_busy_host_loop);
  RUN(test_the_hosts_state);
  RUN(test_roots_after_every_ending);
  return failed != 0;
}
