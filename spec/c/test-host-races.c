/*
** test-host-races.c -- the host API's any-thread calls racing the loop:
** a thread that keeps cancelling and stopping while the loop thread runs
** root after root (each racing its own end), run, stepped and attached;
** two hosts in two threads talking TCP to each other while each runs
** child processes and worker-thread awaitables, cancelled from a third
** thread. Every root ends with an outcome the requests explain, nothing
** hangs, and `make tsan` runs it clean.
*/
#include <stdatomic.h>
#include <stdlib.h>
#include "host_test.h"

typedef struct {
  corral_host_t *h;
  atomic_int done;
  atomic_int sent;
} spammer_t;

/* Cancel and stop, mixed, with reasons and graces, until told to end. */
static void spam(void *arg) {
  spammer_t *s = arg;
  unsigned k = 0;
  while (!atomic_load(&s->done)) {
    switch (k++ % 5) {
    case 0: corral_host_cancel(s->h, "spam"); break;
    case 1: corral_host_stop(s->h, 0.0005, "spam-stop"); break;
    case 2: corral_host_stop(s->h, 0, NULL); break;
    case 3: corral_host_cancel(s->h, NULL); break;
    default: corral_host_stop(s->h, 3600, "late"); break;
    }
    atomic_fetch_add(&s->sent, 1);
    if (k % 7 == 0) uv_sleep(0);
  }
}

/* Roots that end by themselves, quickly, in different ways. */
static const char *const roots[] = {
  "return 'fine'",
  "require('corral').sleep(0.0002); return 'slept'",
  "local c = require 'corral'\n"
  "for i = 1, 50 do c.checkpoint() end\n"
  "return 'busy'",
  "local c = require 'corral'\n"
  "return c.move_on_after(0.001, c.host.wait_stop) and 'stopped' or 'timeout'",
  "local c = require 'corral'\n"
  "c.group(function(g)\n"
  "  g:spawn(c.sleep, 0.0003)\n"
  "  g:spawn(function() pcall(c.sleep, 1) end)\n"   /* swallows a Cancelled */
  "  g:spawn(function() c.move_on_after(0.0001, c.sleep, 1) end)\n"
  "end)\n"
  "return 'group'",
};
#define NROOTS (sizeof roots / sizeof roots[0])

/* An outcome the requests explain: the root's value, or a host cancel. */
static int explained(corral_host_t *h, int st) {
  char buf[256];
  const char *m;
  if (st == CORRAL_OK) {
    host_result(h, buf, sizeof buf);
    return strcmp(buf, "fine") == 0 || strcmp(buf, "slept") == 0 ||
           strcmp(buf, "busy") == 0 || strcmp(buf, "stopped") == 0 ||
           strcmp(buf, "timeout") == 0 || strcmp(buf, "group") == 0;
  }
  if (st != CORRAL_CANCELLED) {
    fprintf(stderr, "status %d: %s\n", st, corral_host_message(h));
    return 0;
  }
  m = corral_host_message(h);
  return m && strstr(m, "Cancelled") == m && strstr(m, "source=host");
}

enum { RUN_IT, STEP_IT, ATTACH_IT };

static int attached_status;
static void on_done(corral_host_t *h, int status, void *arg) {
  (void)h;
  (void)arg;
  attached_status = status;
}

static int one_root(corral_host_t *h, uv_loop_t *loop, int how, size_t i) {
  int st = -1, rc = corral_host_start_string(h, roots[i % NROOTS], "=race");
  CHECK(rc == 0);
  if (how == RUN_IT) {
    st = corral_host_run(h);
  } else if (how == STEP_IT) {
    while ((st = corral_host_step(h)) == CORRAL_RUNNING) {}
  } else {
    attached_status = -1;
    CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0);
    st = attached_status;
  }
  CHECK(explained(h, st));
  return 0;
}

static int spam_roots(int how) {
  uv_loop_t loop;
  corral_host_t *h;
  spammer_t s;
  uv_thread_t th;
  size_t i;
  CHECK(host_on_loop(&loop, &h) == 0);
  s.h = h;
  atomic_init(&s.done, 0);
  atomic_init(&s.sent, 0);
  if (how == ATTACH_IT) CHECK(corral_host_attach(h, on_done, NULL) == 0);
  CHECK(uv_thread_create(&th, spam, &s) == 0);
  for (i = 0; i < 300; i++) CHECK(one_root(h, &loop, how, i) == 0);
  atomic_store(&s.done, 1);
  uv_thread_join(&th);
  CHECK(atomic_load(&s.sent) > 0);
  CHECK(corral_host_close(h) == 0);
  CHECK(uv_loop_close(&loop) == 0);
  return 0;
}

static int test_requests_racing_roots_run(void) { return spam_roots(RUN_IT); }
static int test_requests_racing_roots_stepped(void) { return spam_roots(STEP_IT); }
static int test_requests_racing_roots_attached(void) {
  return spam_roots(ATTACH_IT);
}

/* --- two hosts, two threads, one TCP connection between them ----------- */

typedef struct {
  corral_op_t *op;
  uv_thread_t thread;
} sq_t;

static void sq_worker(void *arg) {
  sq_t *s = arg;
  while (corral_op_cancelled(s->op) <= 0 && (rand() & 1)) uv_sleep(0);
  corral_op_complete_threadsafe(s->op, 0);
}
static int sq_cancel(corral_op_t *op) {
  (void)op;
  return CORRAL_OP_WAIT;           /* its thread is joined by the results */
}
static int sq_results(lua_State *L, corral_op_t *op, int status) {
  sq_t *s = corral_op_data(op);
  (void)status;
  uv_thread_join(&s->thread);
  lua_pushboolean(L, 1);
  return 1;
}
static const corral_op_type_t sq_type = {"work", sizeof(sq_t), sq_results, sq_cancel};

/* work(): a worker thread's awaitable. */
static int l_work(lua_State *L) {
  corral_op_t *op = corral_op_new(L, &sq_type);
  sq_t *s = corral_op_data(op);
  s->op = op;
  if (uv_thread_create(&s->thread, sq_worker, s) != 0)
    return luaL_error(L, "no thread");
  return corral_op_await(L, op);
}

typedef struct {
  const char *chunk;
  atomic_int port;            /* the server's, published to the client */
  corral_host_t *h;
  atomic_int started;
  int status;
  char result[128];
} peer_t;

static int l_publish(lua_State *L) {
  peer_t *p = lua_touserdata(L, lua_upvalueindex(1));
  atomic_store(&p->port, (int)luaL_checkinteger(L, 1));
  return 0;
}
static int l_port(lua_State *L) {
  peer_t *p = lua_touserdata(L, lua_upvalueindex(1));
  lua_pushinteger(L, atomic_load(&p->port));
  return 1;
}

static peer_t *server_peer;

static void peer_thread(void *arg) {
  peer_t *p = arg;
  uv_loop_t loop;
  corral_host_t *h;
  lua_State *L;
  p->status = -1;
  if (host_on_loop(&loop, &h) != 0) return;
  L = corral_host_state(h);
  lua_register(L, "work", l_work);
  lua_pushlightuserdata(L, server_peer);
  lua_pushcclosure(L, l_publish, 1);
  lua_setglobal(L, "publish");
  lua_pushlightuserdata(L, server_peer);
  lua_pushcclosure(L, l_port, 1);
  lua_setglobal(L, "port");
  if (corral_host_start_string(h, p->chunk, "=peer") == 0) {
    p->h = h;
    atomic_store(&p->started, 1);
    p->status = corral_host_run(h);
    if (p->status == CORRAL_OK) host_result(h, p->result, sizeof p->result);
    else snprintf(p->result, sizeof p->result, "%s", corral_host_message(h));
  }
  atomic_store(&p->started, 2);
  while (atomic_load(&p->started) != 3) uv_sleep(1);   /* the canceller */
  corral_host_close(h);
  uv_loop_close(&loop);
}

static const char server_chunk[] =
  "local c = require 'corral'\n"
  "local n = 0\n"
  "c.group(function(g)\n"
  "  local port = g:start(function(ready)\n"
  "    c.tcp.serve('127.0.0.1', 0, function(s)\n"
  "      for line in s:lines() do\n"
  "        work()\n"
  "        local p = c.exec('/bin/echo', {line})\n"
  "        local out = p.stdout:read_line()\n"
  "        p:wait()\n"
  "        s:write(out .. '\\n'); n = n + 1\n"
  "      end\n"
  "    end, {ready = ready})\n"
  "  end)\n"
  "  publish(port)\n"
  "  c.host.wait_stop()\n"
  "  g:stop(1)\n"
  "end)\n"
  "return 'served ' .. n";

static const char client_chunk[] =
  "local c = require 'corral'\n"
  "while port() == 0 do c.sleep(0.001) end\n"
  "local s <close> = c.tcp.connect('127.0.0.1', port())\n"
  "local got = 0\n"
  "c.group(function(g)\n"
  "  for i = 1, 4 do g:spawn(function() for k = 1, 5 do work() end end) end\n"
  "  for i = 1, 20 do\n"
  "    s:write('line ' .. i .. '\\n')\n"
  "    assert(s:read_line() == 'line ' .. i)\n"
  "    got = got + 1\n"
  "  end\n"
  "end)\n"
  "return 'got ' .. got";

static int test_two_hosts_talk_tcp_across_threads(void) {
  peer_t server = {server_chunk, 0, NULL, 0, 0, ""};
  peer_t client = {client_chunk, 0, NULL, 0, 0, ""};
  uv_thread_t ts, tc;
  server_peer = &server;
  atomic_init(&server.port, 0);
  atomic_init(&server.started, 0);
  atomic_init(&client.started, 0);
  CHECK(uv_thread_create(&ts, peer_thread, &server) == 0);
  CHECK(uv_thread_create(&tc, peer_thread, &client) == 0);
  while (atomic_load(&client.started) < 2) uv_sleep(1);
  while (atomic_load(&server.started) < 1) uv_sleep(1);
  /* a third thread (this one) stops the server once the client is done */
  CHECK(corral_host_stop(server.h, 5, "client done") == 0);
  while (atomic_load(&server.started) < 2) uv_sleep(1);
  atomic_store(&server.started, 3);
  atomic_store(&client.started, 3);
  uv_thread_join(&ts);
  uv_thread_join(&tc);
  CHECK(client.status == CORRAL_OK && strcmp(client.result, "got 20") == 0);
  CHECK(server.status == CORRAL_OK && strcmp(server.result, "served 20") == 0);
  return 0;
}

int main(void) {
  int failed = 0;
  RUN(test_requests_racing_roots_run);
  RUN(test_requests_racing_roots_stepped);
  RUN(test_requests_racing_roots_attached);
  RUN(test_two_hosts_talk_tcp_across_threads);
  return failed != 0;
}
