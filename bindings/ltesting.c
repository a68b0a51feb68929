/*
** ltesting.c -- the engine hooks behind corral.testing (scripts/corral/
** testing.lua), as corral._testing: not an API of their own.
**
**   wait_all_tasks_blocked()  parks the task until no other task can run
**                             (cr_task_wait_idle); a cancellation point
**   cancel_point([name])      raises Cancelled if the task is inside a
**                             cancelled scope, without yielding: what a
**                             blocking call written in Lua checks first
**   signal_watchers()         signals the run handles (each a libuv handle
**                             kept until the run ends, so no leak of fn's)
**   closing_handles()         I/O objects closed but not freed yet (a
**                             process is freed once it has been reaped)
**   abandoned_lookups()       name lookups a cancel left running in libuv's
**                             thread pool (each a handle until it ends)
**   collected_open()          streams, listeners, processes: how many the
**                             collector closed in this run, left open by
**                             the program (lio.c's __gc)
*/
#include "lcorral.h"

static int wait_idle_k(lua_State *L, int status, lua_KContext ctx) {
  LCR_ENGINE_ONLY(L, status, ctx, wait_idle_k);
  lcr_Task *t = lcr_checkblocking(L, "testing.wait_all_tasks_blocked");
  (void)ctx;
  if (status == LUA_YIELD && t->t.wake_status == 0) return 0;
  lcr_checkcancel(L, t);
  cr_task_wait_idle(&t->t);
  return lcr_yield(L, t, 0, wait_idle_k);
}

static int l_wait_idle(lua_State *L) {
  lua_settop(L, 0);
  return wait_idle_k(L, LUA_OK, 0);
}

static int l_signal_watchers(lua_State *L) {
  lcr_Engine *E = lcr_engine(L, "testing.signal_watchers");
  lua_pushinteger(L, (lua_Integer)cr_signal_watchers(&E->e));
  return 1;
}

static int l_closing_handles(lua_State *L) {
  lcr_Engine *E = lcr_engine(L, "testing.closing_handles");
  lua_pushinteger(L, (lua_Integer)cr_io_closing(&E->e));
  return 1;
}

static int l_abandoned_lookups(lua_State *L) {
  lcr_Engine *E = lcr_engine(L, "testing.abandoned_lookups");
  lua_pushinteger(L, (lua_Integer)cr_lookups_abandoned(&E->e));
  return 1;
}

static int l_collected_open(lua_State *L) {
  lcr_Engine *E = lcr_engine(L, "testing.collected_open");
  int i;
  for (i = 0; i < 3; i++)
    lua_pushinteger(L, (lua_Integer)E->collected_open[i]);
  return 3;
}

static const luaL_Reg testing_funcs[] = {
  {"abandoned_lookups", l_abandoned_lookups},
  {"collected_open", l_collected_open},
  {"closing_handles", l_closing_handles},
  {"signal_watchers", l_signal_watchers},
  {"wait_all_tasks_blocked", l_wait_idle},
  {"cancel_point", lcr_cancel_point},
  {NULL, NULL}
};

/* Stack: [..., state, module]; sets module._testing. */
void lcr_open_testing(lua_State *L) {
  lua_createtable(L, 0, 6);
  lua_pushvalue(L, -3);
  luaL_setfuncs(L, testing_funcs, 1);
  lua_setfield(L, -2, "_testing");
}
