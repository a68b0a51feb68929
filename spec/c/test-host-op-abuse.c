/*
** test-host-op-abuse.c -- awaitables used the way careless hosts use
** them: completed twice (before and after delivery, from the loop and from
** a thread), from the host's own uv_async after a thread's work, inside
** their own cancel callback (either answer, either completion call), with
** a cancel callback that cancels the root, with an error status of
** libuv's or one of the host's own, with thousands of results, with a
** results callback that raises, a burst of completions from a thread, and
** corral_op_new where no task can wait.
*/
#include <stdlib.h>
#include "host_test.h"

typedef struct {
  int value, n;               /* n: results to push */
  int complete_in_cancel;     /* 1: complete, 2: threadsafe, 3: + error */
  int answer;                 /* the cancel callback's */
  int cancel_root;            /* the cancel callback cancels the root */
} job_t;

static corral_host_t *H;
static corral_op_t *slot[8];
static int cancels, rc_in_cancel, rc_second;

static int many_results(lua_State *L, corral_op_t *op, int status) {
  job_t *j = corral_op_data(op);
  int i;
  if (status == -1000) return luaL_error(L, "results raised %d", j->value);
  if (status != 0) {
    lua_pushnil(L);
    lua_pushstring(L, cr_strerror(status));
    return 2;
  }
  luaL_checkstack(L, j->n, "too many results");
  for (i = 0; i < j->n; i++) lua_pushinteger(L, j->value + i);
  return j->n;
}

static int cancel_cb(corral_op_t *op) {
  job_t *j = corral_op_data(op);
  cancels++;
  if (j->cancel_root) rc_in_cancel = corral_host_cancel(H, "from cancel cb");
  if (j->complete_in_cancel) {
    int st = j->complete_in_cancel == 3 ? UV_ECANCELED : 0;
    rc_in_cancel = j->complete_in_cancel == 2
                   ? corral_op_complete_threadsafe(op, st)
                   : corral_op_complete(op, st);
  }
  return j->answer;
}

static const corral_op_type_t job_type = {"job", sizeof(job_t), many_results, cancel_cb};
static const corral_op_type_t bare_type = {"bare", 0, NULL, NULL};

/* op(slot, n, value, complete_in_cancel, answer, cancel_root) */
static int l_op(lua_State *L) {
  int s = (int)luaL_checkinteger(L, 1);
  corral_op_t *op = corral_op_new(L, &job_type);
  job_t *j = corral_op_data(op);
  j->n = (int)luaL_optinteger(L, 2, 1);
  j->value = (int)luaL_optinteger(L, 3, 0);
  j->complete_in_cancel = (int)luaL_optinteger(L, 4, 0);
  j->answer = (int)luaL_optinteger(L, 5, CORRAL_OP_ABANDON);
  j->cancel_root = lua_toboolean(L, 6);
  slot[s] = op;
  return corral_op_await(L, op);
}

/* bare(slot): no results callback: an error status is "bare: <text>". */
static int l_bare(lua_State *L) {
  int s = (int)luaL_checkinteger(L, 1);
  slot[s] = corral_op_new(L, &bare_type);
  return corral_op_await(L, slot[s]);
}

/* complete(slot, status [, twice]) from a task (the loop thread). */
static int l_complete(lua_State *L) {
  int s = (int)luaL_checkinteger(L, 1), st = (int)luaL_optinteger(L, 2, 0);
  corral_op_t *op = slot[s];
  int rc = corral_op_complete(op, st);
  if (lua_toboolean(L, 3)) rc_second = corral_op_complete_threadsafe(op, st);
  lua_pushinteger(L, rc);
  return 1;
}

static corral_host_t *new_host(void) {
  static const luaL_Reg fns[] = {{"op", l_op}, {"bare", l_bare},
                                 {"complete", l_complete}, {NULL, NULL}};
  corral_host_t *h;
  if (corral_host_new(&h, NULL) != 0) return NULL;
  luaL_newlib(corral_host_state(h), fns);
  lua_setglobal(corral_host_state(h), "host");
  memset(slot, 0, sizeof slot);
  cancels = rc_in_cancel = rc_second = 0;
  H = h;
  return h;
}

/* Run chunk to the end; its status, its first result or message in buf. */
static int run(corral_host_t *h, const char *chunk, char *buf, size_t n) {
  int st;
  if (corral_host_start_string(h, chunk, "=abuse") != 0) return -1;
  st = corral_host_run(h);
  if (st == CORRAL_OK) host_result(h, buf, n);
  else snprintf(buf, n, "%s", corral_host_message(h));
  return st;
}

/* Completed twice, before it was delivered: the second is CR_EINVAL, and
** the task gets the first. */
static int test_completed_twice(void) {
  corral_host_t *h = new_host();
  char buf[256];
  CHECK(h != NULL);
  CHECK(run(h,
    "local c = require 'corral'\n"
    "local r\n"
    "c.group(function(g)\n"
    "  g:spawn(function() r = table.pack(host.op(0, 2, 40)) end)\n"
    "  require('corral.testing').wait_all_tasks_blocked()\n"
    "  assert(host.complete(0, 0, true) == 0)\n"
    "end)\n"
    "return r.n .. ' ' .. r[1] .. ' ' .. r[2]", buf, sizeof buf) == CORRAL_OK);
  CHECK(strcmp(buf, "2 40 41") == 0);
  CHECK(rc_second == CR_EINVAL);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* Thousands of results, and a results callback that raises. */
static int test_many_results_and_a_raising_callback(void) {
  corral_host_t *h = new_host();
  char buf[256];
  CHECK(h != NULL);
  CHECK(run(h,
    "local c = require 'corral'\n"
    "local r, ok, err\n"
    "c.group(function(g)\n"
    "  g:spawn(function() r = table.pack(host.op(0, 5000, 1)) end)\n"
    "  g:spawn(function() ok, err = pcall(host.op, 1, 1, 7) end)\n"
    "  require('corral.testing').wait_all_tasks_blocked()\n"
    "  host.complete(0, 0); host.complete(1, -1000)\n"
    "end)\n"
    "return r.n .. ' ' .. r[5000] .. ' ' .. tostring(ok) .. ' ' .. err",
    buf, sizeof buf) == CORRAL_OK);
  CHECK(strcmp(buf, "5000 5000 false results raised 7") == 0);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* An error status: a libuv code, and a code of the host's own that libuv
** does not know, without a results callback. */
static int test_error_statuses(void) {
  corral_host_t *h = new_host();
  char buf[512];
  CHECK(h != NULL);
  CHECK(run(h,
    "local c = require 'corral'\n"
    "local out = {}\n"
    "c.group(function(g)\n"
    "  g:spawn(function() out[1] = select(2, pcall(host.bare, 0)) end)\n"
    "  g:spawn(function() out[2] = select(2, pcall(host.bare, 1)) end)\n"
    "  g:spawn(function() out[3] = select(2, host.op(2)) end)\n"
    "  require('corral.testing').wait_all_tasks_blocked()\n"
    "  host.complete(0, -111); host.complete(1, -99999); host.complete(2, -2)\n"
    "end)\n"
    "return table.concat(out, '|')", buf, sizeof buf) == CORRAL_OK);
  CHECK(strstr(buf, "bare: ") == buf);
  CHECK(strstr(buf, "|bare: ") != NULL);
  CHECK(strstr(buf, "onnection refused") != NULL);
  CHECK(strstr(buf, "o such file or directory") != NULL);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* Completed inside its own cancel callback, with either call and answer:
** no crash, no leak (valgrind), and the task's outcome is the documented
** one: a success delivered before the task resumes is its result (the
** cancel raises at its next cancellation point); an error completion made
** because of the cancel is the Cancelled. */
static int in_cancel(int how, int answer, const char *want) {
  corral_host_t *h = new_host();
  char chunk[512], buf[512];
  CHECK(h != NULL);
  snprintf(chunk, sizeof chunk,
    "local c = require 'corral'\n"
    "local r\n"
    "c.scope(function(s)\n"
    "  c.group(function(g)\n"
    "    g:spawn(function()\n"
    "      local ok, v = pcall(host.op, 0, 1, 5, %d, %d)\n"
    "      r = tostring(ok) .. ' ' .. tostring(v)\n"
    "      c.checkpoint()\n"
    "      r = r .. ' not cancelled'\n"
    "    end)\n"
    "    require('corral.testing').wait_all_tasks_blocked()\n"
    "    s:cancel('bye')\n"
    "  end)\n"
    "end)\n"
    "return r", how, answer);
  CHECK(run(h, chunk, buf, sizeof buf) == CORRAL_OK);
  CHECK(strncmp(buf, want, strlen(want)) == 0);
  CHECK(cancels == 1 && rc_in_cancel == 0);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

static int test_completed_in_its_own_cancel_callback(void) {
  CHECK(in_cancel(1, CORRAL_OP_ABANDON, "true 5") == 0);
  CHECK(in_cancel(1, CORRAL_OP_WAIT, "true 5") == 0);
  CHECK(in_cancel(2, CORRAL_OP_ABANDON, "true 5") == 0);
  CHECK(in_cancel(2, CORRAL_OP_WAIT, "true 5") == 0);
  CHECK(in_cancel(3, CORRAL_OP_ABANDON, "false Cancelled: bye") == 0);
  CHECK(in_cancel(3, CORRAL_OP_WAIT, "false Cancelled: bye") == 0);
  return 0;
}

/* The cancel callback cancels the root (from a group's cancel, and from
** the host's own cancel) and completes the op. */
static int test_cancel_callback_cancels_the_root(void) {
  corral_host_t *h = new_host();
  char buf[256];
  CHECK(h != NULL);
  CHECK(run(h,
    "local c = require 'corral'\n"
    "c.group(function(g)\n"
    "  g:spawn(host.op, 0, 1, 0, 1, 0, true)\n"
    "  require('corral.testing').wait_all_tasks_blocked()\n"
    "  g:cancel()\n"
    "end)\n"
    "c.sleep(1)\n"
    "return 'not cancelled'", buf, sizeof buf) == CORRAL_CANCELLED);
  CHECK(strcmp(buf, "Cancelled: from cancel cb (source=host)") == 0);
  CHECK(cancels == 1 && rc_in_cancel == 0);
  CHECK(corral_host_start_string(h, "host.op(0, 1, 0, 1, 0, true)", "=r") == 0);
  CHECK(corral_host_step(h) == CORRAL_RUNNING);
  CHECK(corral_host_cancel(h, "first") == 0);
  CHECK(corral_host_run(h) == CORRAL_CANCELLED);
  CHECK(strcmp(corral_host_message(h), "Cancelled: first (source=host)") == 0);
  CHECK(cancels == 2);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* --- completed from the host's own uv_async, after a thread's work ------- */

typedef struct {
  uv_async_t async;           /* the host's, on corral's loop */
  uv_thread_t thread;
  corral_op_t *op;
  int input, output;
} work_t;

static void work_closed(uv_handle_t *a) {
  work_t *w = a->data;
  corral_op_complete(w->op, 0);          /* the op (and w) may go now */
}
static void work_done(uv_async_t *a) {
  work_t *w = a->data;
  uv_thread_join(&w->thread);
  uv_close((uv_handle_t *)a, work_closed);
}
static void work_thread(void *arg) {
  work_t *w = arg;
  w->output = w->input * w->input;
  uv_async_send(&w->async);
}
static int work_results(lua_State *L, corral_op_t *op, int status) {
  (void)status;
  lua_pushinteger(L, ((work_t *)corral_op_data(op))->output);
  return 1;
}
static int work_cancel(corral_op_t *op) {
  (void)op;
  return CORRAL_OP_WAIT;      /* the thread cannot be stopped: wait for it */
}
static const corral_op_type_t work_type = {"square", sizeof(work_t), work_results, work_cancel};

static int l_square(lua_State *L) {
  corral_op_t *op = corral_op_new(L, &work_type);
  work_t *w = corral_op_data(op);
  w->op = op;
  w->input = (int)luaL_checkinteger(L, 1);
  uv_async_init(corral_op_loop(op), &w->async, work_done);
  w->async.data = w;
  uv_thread_create(&w->thread, work_thread, w);
  return corral_op_await(L, op);
}

static int test_completed_from_the_hosts_async(void) {
  corral_host_t *h = new_host();
  char buf[256];
  CHECK(h != NULL);
  lua_register(corral_host_state(h), "square", l_square);
  CHECK(run(h,
    "local c = require 'corral'\n"
    "local sum = 0\n"
    "c.group(function(g)\n"
    "  for i = 1, 50 do g:spawn(function() local v = square(i); sum = sum + v end) end\n"
    "  g:spawn(function() c.move_on_after(0, square, 3) end)\n"
    "end)\n"
    "return sum", buf, sizeof buf) == CORRAL_OK);
  CHECK(strcmp(buf, "42925") == 0);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* --- a burst of completions from a thread ------------------------------ */

#define BURST 2000
static corral_op_t *burst[BURST];
static int nburst;

static int l_burst_op(lua_State *L) {
  corral_op_t *op = corral_op_new(L, &bare_type);
  burst[nburst++] = op;
  return corral_op_await(L, op);
}
static void burst_thread(void *arg) {
  int i;
  (void)arg;
  for (i = 0; i < BURST; i++) corral_op_complete_threadsafe(burst[i], 0);
}
/* burst_go(): all parked, a thread completes them; burst_go(true) joins. */
static int l_burst_go(lua_State *L) {
  static uv_thread_t t;
  if (nburst < BURST) return luaL_error(L, "only %d parked", nburst);
  if (lua_toboolean(L, 1)) uv_thread_join(&t);
  else uv_thread_create(&t, burst_thread, NULL);
  return 0;
}

static int test_a_burst_from_a_thread(void) {
  corral_host_t *h = new_host();
  char buf[256];
  CHECK(h != NULL);
  lua_register(corral_host_state(h), "burst_op", l_burst_op);
  lua_register(corral_host_state(h), "burst_go", l_burst_go);
  nburst = 0;
  CHECK(run(h,
    "local c = require 'corral'\n"
    "local n = 0\n"
    "c.group(function(g)\n"
    "  for i = 1, 2000 do g:spawn(function() burst_op(); n = n + 1 end) end\n"
    "  require('corral.testing').wait_all_tasks_blocked()\n"
    "  burst_go()\n"
    "end)\n"
    "burst_go(true)\n"
    "return n", buf, sizeof buf) == CORRAL_OK);
  CHECK(strcmp(buf, "2000") == 0);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

/* --- where no task can wait ---------------------------------------------- */

static int test_op_new_where_no_task_waits(void) {
  corral_host_t *h = new_host();
  lua_State *L;
  char buf[512];
  CHECK(h != NULL);
  L = corral_host_state(h);
  /* the host's own Lua, no root running */
  CHECK(luaL_dostring(L, "return select(2, pcall(host.op, 0))") == LUA_OK);
  CHECK(strstr(lua_tostring(L, -1), "called outside a corral task") != NULL);
  lua_pop(L, 1);
  /* inside a task, from a coroutine of the script's */
  CHECK(run(h,
    "local c = require 'corral'\n"
    "local co = coroutine.wrap(function() return pcall(host.op, 0) end)\n"
    "local ok, err = co()\n"
    "return tostring(ok) .. ' ' .. err", buf, sizeof buf) == CORRAL_OK);
  CHECK(strstr(buf, "false job: called outside a corral task") == buf);
  CHECK(cancels == 0);
  CHECK(corral_host_close(h) == 0);
  return 0;
}

int main(void) {
  int failed = 0;
  RUN(test_completed_twice);
  RUN(test_many_results_and_a_raising_callback);
  RUN(test_error_statuses);
  RUN(test_completed_in_its_own_cancel_callback);
  RUN(test_cancel_callback_cancels_the_root);
  RUN(test_completed_from_the_hosts_async);
  RUN(test_a_burst_from_a_thread);
  RUN(test_op_new_where_no_task_waits);
  return failed != 0;
}
