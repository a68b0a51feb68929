/*
** hashhost.c -- a C program that embeds corral.
**
** It owns a libuv loop with a heartbeat timer and a SIGINT watcher of its
** own, offers Lua one native awaitable, hash.file(path [, delay_ms]) (an
** FNV-1a hash computed in chunks on libuv's thread pool, cancellable
** between chunks), and runs a Lua script as corral's root task *inside*
** its own uv_run. A watchdog thread cancels the root on Ctrl-C or when the
** time limit passes.
**
**   corral-host-example [--time-limit SECONDS] script.lua [args...]
**
** Build against an installed corral:
**   cc hashhost.c $(pkg-config --cflags --libs corral) -o hashhost
*/
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include <corral_lua.h>

/* --- the awaitable: hash.file ------------------------------------------ */

typedef struct {
  uv_work_t req;
  corral_op_t *op;
  char path[1024];
  unsigned delay_ms;
  uint64_t hash, bytes;
  int err;
} hash_job_t;

/* On a pool thread: hash the file chunk by chunk; stop if cancelled. */
static void hash_work(uv_work_t *req) {
  hash_job_t *j = req->data;
  unsigned char buf[65536];
  size_t n, i;
  FILE *f = fopen(j->path, "rb");
  if (f == NULL) { j->err = -errno; return; }
  j->hash = 1469598103934665603ULL;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    unsigned slept;
    for (i = 0; i < n; i++) j->hash = (j->hash ^ buf[i]) * 1099511628211ULL;
    j->bytes += n;
    for (slept = 0; slept < j->delay_ms && !corral_op_cancelled(j->op); slept += 5)
      uv_sleep(5);                               /* a slow disk */
    if (corral_op_cancelled(j->op)) { j->err = UV_ECANCELED; break; }
  }
  if (ferror(f)) j->err = UV_EIO;
  fclose(f);
}

/* Back on the loop thread: hand the outcome to the waiting task. */
static void hash_after(uv_work_t *req, int status) {
  hash_job_t *j = req->data;
  corral_op_complete(j->op, status ? status : j->err);
}

/* In the task: what hash.file returns (or raises). */
static int hash_results(lua_State *L, corral_op_t *op, int status) {
  hash_job_t *j = corral_op_data(op);
  char hex[17];
  if (status) return luaL_error(L, "hash.file: %s: %s", j->path, uv_strerror(status));
  snprintf(hex, sizeof hex, "%016llx", (unsigned long long)j->hash);
  lua_pushstring(L, hex);
  lua_pushinteger(L, (lua_Integer)j->bytes);
  return 2;
}

/* The task was cancelled: a job not started yet is dropped, a running one
** stops at its next chunk; either way hash_after completes the op. */
static int hash_cancel(corral_op_t *op) {
  hash_job_t *j = corral_op_data(op);
  uv_cancel((uv_req_t *)&j->req);
  return CORRAL_OP_WAIT;
}

static const corral_op_type_t hash_type = {
  "hash.file", sizeof(hash_job_t), hash_results, hash_cancel
};

static int l_hash_file(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Integer delay = luaL_optinteger(L, 2, 0);
  corral_op_t *op;
  hash_job_t *j;
  int rc;
  luaL_argcheck(L, strlen(path) < sizeof j->path, 1, "path too long");
  luaL_argcheck(L, delay >= 0 && delay <= 60000, 2, "delay_ms out of range");
  op = corral_op_new(L, &hash_type);           /* raises Cancelled if due */
  j = corral_op_data(op);
  j->op = op;
  j->req.data = j;
  j->delay_ms = (unsigned)delay;
  strcpy(j->path, path);
  rc = uv_queue_work(corral_op_loop(op), &j->req, hash_work, hash_after);
  if (rc) corral_op_complete(op, rc);
  return corral_op_await(L, op);               /* blocks the task */
}

static int luaopen_hash(lua_State *L) {
  static const luaL_Reg funcs[] = {{"file", l_hash_file}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  return 1;
}

/* --- the host ------------------------------------------------------------ */

typedef struct {
  uv_loop_t loop;
  uv_timer_t heartbeat;
  uv_signal_t sigint;
  corral_host_t *host;
  uv_thread_t watchdog;
  uv_mutex_t mu;
  uv_cond_t cond;
  double limit;          /* seconds, 0 = none */
  int interrupted, quit, beats, status;
} app_t;

/* The second thread: cancels the root on Ctrl-C or at the time limit. */
static void watchdog(void *arg) {
  app_t *a = arg;
  uint64_t deadline = uv_hrtime() + (uint64_t)(a->limit * 1e9);
  const char *why = NULL;
  uv_mutex_lock(&a->mu);
  while (!a->quit && why == NULL) {
    uint64_t now = uv_hrtime();
    if (a->interrupted) why = "interrupted (SIGINT)";
    else if (a->limit > 0 && now >= deadline) why = "time limit reached";
    else if (a->limit > 0) uv_cond_timedwait(&a->cond, &a->mu, deadline - now);
    else uv_cond_wait(&a->cond, &a->mu);
  }
  uv_mutex_unlock(&a->mu);
  if (why) corral_host_cancel(a->host, why);    /* safe from any thread */
}

static void on_sigint(uv_signal_t *s, int signum) {
  app_t *a = s->data;
  (void)signum;
  uv_mutex_lock(&a->mu);
  a->interrupted = 1;
  uv_cond_signal(&a->cond);
  uv_mutex_unlock(&a->mu);
}

static void on_heartbeat(uv_timer_t *t) {
  app_t *a = t->data;
  fprintf(stderr, "[host] heartbeat %d\n", ++a->beats);
}

/* The root finished: stop our own handles so uv_run returns. */
static void on_done(corral_host_t *h, int status, void *arg) {
  app_t *a = arg;
  const char *msg = corral_host_traceback(h);   /* the message + where */
  a->status = status;
  if (msg) fprintf(stderr, "[host] script %s: %s\n",
                   status == CORRAL_CANCELLED ? "cancelled" : "failed", msg);
  else fprintf(stderr, "[host] script finished\n");
  uv_mutex_lock(&a->mu);
  a->quit = 1;
  uv_cond_signal(&a->cond);
  uv_mutex_unlock(&a->mu);
  uv_close((uv_handle_t *)&a->heartbeat, NULL);
  uv_close((uv_handle_t *)&a->sigint, NULL);
}

static int setup(app_t *a) {
  corral_host_opts_t opts = {&a->loop, NULL, 0};
  lua_State *L;
  if (uv_loop_init(&a->loop) || uv_mutex_init(&a->mu) || uv_cond_init(&a->cond))
    return -1;
  uv_timer_init(&a->loop, &a->heartbeat);
  uv_signal_init(&a->loop, &a->sigint);
  a->heartbeat.data = a->sigint.data = a;
  uv_timer_start(&a->heartbeat, on_heartbeat, 250, 250);
  uv_signal_start(&a->sigint, on_sigint, SIGINT);
  if (corral_host_new(&a->host, &opts) != 0) return -1;
  L = corral_host_state(a->host);              /* require "hash" works */
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_hash);
  lua_setfield(L, -2, "hash");
  lua_pop(L, 1);
  return corral_host_attach(a->host, on_done, a);
}

int main(int argc, char **argv) {
  app_t a;
  int first = 1, rc;
  memset(&a, 0, sizeof a);
  if (argc > 2 && strcmp(argv[1], "--time-limit") == 0) {
    a.limit = atof(argv[2]);
    first = 3;
  }
  if (first >= argc) {
    fprintf(stderr, "usage: %s [--time-limit SECONDS] script.lua [args...]\n", argv[0]);
    return 2;
  }
  if (setup(&a) != 0) { fprintf(stderr, "[host] setup failed\n"); return 1; }
  rc = corral_host_start_file(a.host, argv[first], argc - first - 1, argv + first + 1);
  if (rc < 0) { fprintf(stderr, "[host] %s\n", cr_strerror(rc)); return 1; }
  if (rc == 0) uv_thread_create(&a.watchdog, watchdog, &a);
  else on_done(a.host, rc, &a);                  /* did not compile */
  uv_run(&a.loop, UV_RUN_DEFAULT);               /* the host's own loop */
  if (rc == 0) uv_thread_join(&a.watchdog);
  if (a.status == CORRAL_OK) {
    lua_State *L = corral_host_state(a.host);
    int n = corral_host_results(a.host, L);       /* < 0: did not fit */
    fprintf(stderr, "[host] %s file(s) hashed\n", n > 0 ? lua_tostring(L, -n) : "?");
    if (n > 0) lua_pop(L, n);
  }
  corral_host_close(a.host);
  uv_loop_close(&a.loop);
  uv_cond_destroy(&a.cond);
  uv_mutex_destroy(&a.mu);
  return a.status == CORRAL_OK ? 0 : a.interrupted ? 130 : 1;
}
