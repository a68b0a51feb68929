/*
** lgroup.c -- task groups from Lua: corral.group, spawn, start, cancel,
** stop and the group's fields.
**
** The body runs in the calling task under lua_pcallk; when it is done the
** task parks until the children have finished (join_k), and only then does
** the group decide what to return or raise.
*/
#include <math.h>
#include <string.h>
#include "lcorral.h"

static lcr_Group *checkgroup(lua_State *L, int idx) {
  return lcr_checkself(L, idx, LCR_MT_GROUP, LCR_GROUP);
}

static int group_alive(lua_State *L, lcr_Group *G) {
  return G->opened && !G->g.closed && lcr_alive(lcr_state(L), G->E, G->epoch);
}

/* Layout while the group lives: [1 body][2 opts][3 G][4 msgh][results] */
enum { IDX_G = 3, IDX_MSGH = 4 };

static int group_finish(lua_State *L, lcr_Group *G) {
  /* An enclosing scope's cancel that stopped a child ends the group with
  ** that Cancelled, even though the body had returned. */
  cr_scope_t *outer = G->g.scope.shield ? NULL
                                        : cr_scope_absorber(G->g.scope.parent);
  cr_group_close(&G->g);
  lcr_clearcancel(L, G->E, &G->g.scope);
  if (G->g.nerrors || G->g.dropped) {
    lua_getiuservalue(L, IDX_G, LCR_GUV_ERRORS);
    lcr_pusherrorgroup(L, -1, G->g.dropped);
    return lua_error(L);
  }
  if (G->interrupted) {
    lua_getiuservalue(L, IDX_G, LCR_GUV_CANCEL);
    if (lcr_cancelled_scope(L, -1) == (lua_Integer)G->g.scope.id) return 0;
    return lua_error(L);       /* an outer scope's: pass it on */
  }
  if (outer && G->ncancelled) {
    lcr_pushcancelled(L, G->E, outer);
    return lua_error(L);
  }
  return G->nres;
}

static int join_k(lua_State *L, int status, lua_KContext ctx) {
  lcr_Group *G = lua_touserdata(L, IDX_G);
  (void)status; (void)ctx;
  if (cr_group_join(&G->g)) {
    lcr_Task *t = (lcr_Task *)G->g.parent;
    return lcr_yield(L, t, 0, join_k);
  }
  return group_finish(L, G);
}

/*
** Record the body's failure: [G, err, task]. Runs protected, because the
** group is still entered: an error here (out of memory) must not unwind
** past the join and leave the scope in the tree.
*/
static int record_body_failure(lua_State *L) {
  lcr_Group *G = lua_touserdata(L, 1);
  lcr_Task *t = lua_touserdata(L, 3);
  int was = G->g.scope.cancel_called;
  if (cr_group_fail(&G->g, 1)) {
    if (lua_getiuservalue(L, 1, LCR_GUV_ERRORS) == LUA_TNIL) {
      lua_pop(L, 1);
      lcr_errors_new(L);
      lua_pushvalue(L, -1);
      lua_setiuservalue(L, 1, LCR_GUV_ERRORS);
    }
    lcr_pushtaskname(L, t);
    lcr_getextra(L, 3, "tb");
    lcr_errors_add(L, -3, 2, -2, -1);
  }
  if (!was && G->g.scope.cancel_called)
    lcr_setcancel(L, t->E, &G->g.scope, 0, &t->t);
  return 0;
}

static int body_k(lua_State *L, int status, lua_KContext ctx) {
  lcr_Group *G = lua_touserdata(L, IDX_G);
  lcr_Task *t = (lcr_Task *)G->g.parent;
  (void)ctx;
  if (status == LUA_OK || status == LUA_YIELD) {
    G->nres = lua_gettop(L) - IDX_MSGH;
  } else if (lcr_iscancelled(L, -1)) {
    G->interrupted = 1;
    if (lcr_cancelled_scope(L, -1) == (lua_Integer)G->g.scope.id)
      G->g.scope.cancel_caught = 1;
    lua_setiuservalue(L, IDX_G, LCR_GUV_CANCEL);
    lua_settop(L, IDX_MSGH);
  } else {
    /* The body failed: that always cancels the children. If even
    ** recording it fails, the failure still counts (as dropped). */
    int err = lua_gettop(L);
    G->interrupted = 0;
    lua_pushcfunction(L, record_body_failure);
    lua_pushvalue(L, IDX_G);
    lua_pushvalue(L, err);
    if (!lcr_pushtask(L, t->E, &t->t) ||
        lua_pcall(L, 3, 0, 0) != LUA_OK) {
      G->g.dropped++;
      cr_scope_cancel(&G->g.scope, CR_SRC_FAILURE);
    }
    lua_settop(L, IDX_MSGH);
  }
  cr_group_body_done(&G->g);
  return join_k(L, LUA_OK, 0);
}

static size_t optcount(lua_State *L, int idx, const char *field) {
  lua_Integer n;
  int isnum;
  if (lua_getfield(L, idx, field) == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  n = lua_tointegerx(L, -1, &isnum);
  if (!isnum || n < 1)
    luaL_argerror(L, idx, lua_pushfstring(L, "%s must be an integer >= 1",
                                          field));
  lua_pop(L, 1);
  return (size_t)n;
}

static int l_group(lua_State *L) {
  lcr_Task *t;
  lcr_Group *G;
  cr_group_opts_t o;
  int rc;
  luaL_checktype(L, 1, LUA_TFUNCTION);
  t = lcr_checkblocking(L, "group");
  memset(&o, 0, sizeof o);
  lcr_scopeopts(L, 2, cr_now(&t->E->e), &o.deadline, &o.shield);
  lua_settop(L, 2);
  G = lua_newuserdatauv(L, sizeof *G, LCR_GROUP_NUV);      /* 3 */
  memset(G, 0, sizeof *G);
  G->g.closed = 1;                     /* until cr_group_init succeeds */
  G->E = t->E;
  G->epoch = t->E->epoch;
  luaL_setmetatable(L, LCR_GROUP);
  if (lua_istable(L, 2)) {
    o.limit = optcount(L, 2, "limit");
    o.max_errors = optcount(L, 2, "max_errors");
    lua_getfield(L, 2, "defer_errors");
    o.defer_errors = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (lua_getfield(L, 2, "on_error") != LUA_TNIL) {
      if (!lua_isfunction(L, -1))
        luaL_argerror(L, 2, "on_error must be a function");
      lua_setiuservalue(L, 3, LCR_GUV_ONERROR);
    } else {
      lua_pop(L, 1);
    }
    if (lua_getfield(L, 2, "name") != LUA_TNIL)
      lua_setiuservalue(L, 3, LCR_GUV_NAME);
    else
      lua_pop(L, 1);
  }
  rc = cr_group_init(&t->t, &G->g, &o);
  if (rc) return lcr_raise(L, rc);
  G->opened = 1;
    lua_rawgeti(L, LUA_REGISTRYINDEX, lcr_state(L)->msgh_ref); /* 4 */
  lua_pushvalue(L, 1);
  lua_pushvalue(L, IDX_G);
  return body_k(L, lua_pcallk(L, 1, LUA_MULTRET, IDX_MSGH, 0, body_k), 0);
}

/* --- spawn and start ---------------------------------------------------- */

/* [G, fn or {fn, name=}, args...] → pushes the new Task. */
static lcr_Task *spawn(lua_State *L, lcr_Group *G) {
  lcr_Task *t;
  int nargs, rc;
  if (!group_alive(L, G)) luaL_error(L, "group is closed");
  if (G->g.stopping) luaL_error(L, "group is stopping");
  if (lua_istable(L, 2)) {
    lua_rawgeti(L, 2, 1);
    if (!lua_isfunction(L, -1))
      luaL_argerror(L, 2, "table must hold the function at [1]");
    lua_getfield(L, 2, "name");
    if (!lua_isnil(L, -1) && !lua_isstring(L, -1))
      luaL_argerror(L, 2, "name must be a string");
    lua_rotate(L, 2, 2);              /* [G, fn, name, tbl, args...] */
    lua_remove(L, 4);
  } else {
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushnil(L);
    lua_insert(L, 3);                 /* [G, fn, nil, args...] */
  }
  nargs = lua_gettop(L) - 3;
  t = lcr_newtask(L, G->E, 2, nargs);
  lua_pushvalue(L, 3);
  lua_setiuservalue(L, -2, LCR_UV_NAME);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, LCR_UV_GROUP);
  rc = cr_group_spawn(&G->g, &t->t);
  if (rc) {           /* cannot happen: checked above; stay consistent */
    cr_task_done(&t->t, CR_TASK_CANCELLED);
    return (lcr_Task *)(intptr_t)lcr_raise(L, rc);
  }
  return t;
}

static int group_spawn(lua_State *L) {
  lcr_Group *G = checkgroup(L, 1);
  lcr_engine(L, "spawn");
  spawn(L, G);
  return 1;
}

/*
** g:start's child runs under the caller's scope until it calls ready(), so
** cancelling the caller cancels it and start waits for it to finish
** (Trio's nursery.start); ready() moves it under the group.
*/
static int ready(lua_State *L) {
  lcr_Task *c = lua_touserdata(L, lua_upvalueindex(2));
  if (c->ready_called)
    return luaL_error(L, "ready: called twice (the value of g:start can be "
                         "given only once)");
  c->ready_called = 1;
  lua_settop(L, 1);
  lcr_setextra(L, lua_upvalueindex(2), "ready");
  if (!c->t.finished && c->t.group) cr_task_reparent(&c->t, &c->t.group->scope);
  if (c->start_waiting) {
    c->start_waiting = 0;
    cr_task_wake(&c->starter->t, 0);
  }
  return 0;
}

static cr_abort_t start_abort(cr_task_t *t) {
  (void)t;
  return CR_ABORT_LATE;   /* the child is cancelled with us; wait for it */
}

/* [child] while waiting */
static int start_k(lua_State *L, int status, lua_KContext ctx) {
  lcr_checkblocking(L, "start");
  lcr_Task *c = lua_touserdata(L, 1);
  (void)status; (void)ctx;
  c->start_waiting = 0;
  if (c->ready_called) {
    lcr_getextra(L, 1, "ready");
    return 1;
  }
  if (c->outcome != CR_TASK_DONE) {
    lua_pushvalue(c->co, -1);
    lua_xmove(c->co, L, 1);
    /* Cancelled on its own (t:cancel, its group's cancel): that is news
    ** for the caller, not a cancellation of the caller. */
    if (c->outcome == CR_TASK_CANCELLED &&
        lcr_cancelled_scope(L, -1) == (lua_Integer)c->t.scope.id)
      return luaL_error(L, "start: the task was cancelled before it called "
                           "ready");
    return lua_error(L);
  }
  return luaL_error(L, "start: the task finished without calling ready");
}

static int group_start(lua_State *L) {
  lcr_Group *G = checkgroup(L, 1);
  lcr_Task *w = lcr_checkblocking(L, "start");
  lcr_Task *c;
  lcr_checkcancel(L, w);
  if (!lua_istable(L, 2)) luaL_checktype(L, 2, LUA_TFUNCTION);
  /* ready is made before the child, so nothing can fail once it is
  ** spawned; its child upvalue is filled in right after. */
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushnil(L);
  lua_pushcclosure(L, ready, 2);
  lua_insert(L, 3);                    /* fn(ready, ...) */
  c = spawn(L, G);
  c->start_waiting = 1;
  c->starter = w;
  cr_task_reparent(&c->t, w->t.cur);
  lua_pushvalue(L, -1);
  lua_setupvalue(L, 4, 2);   /* [G, fn, name, ready, args..., Task] */
  lua_replace(L, 1);                   /* [child, ...] */
  lua_settop(L, 1);
  cr_task_join(&w->t, &c->t);
  cr_task_park(&w->t, start_abort);
  return lcr_yield(L, w, 0, start_k);
}

/* --- cancel, stop ---------------------------------------------------- */

static int group_cancel(lua_State *L) {
  lcr_Group *G = checkgroup(L, 1);
  if (!lua_isnoneornil(L, 2)) luaL_checkstring(L, 2);
  if (!group_alive(L, G)) return 0;
  if (cr_scope_cancel(&G->g.scope, CR_SRC_EXPLICIT))
    lcr_setcancel(L, G->E, &G->g.scope, 2, G->E->e.current);
  return 0;
}

static int group_stop(lua_State *L) {
  lcr_Group *G = checkgroup(L, 1);
  double grace = lua_isnoneornil(L, 2) ? -1 : lcr_checkseconds(L, 2);
  int rc;
  if (!group_alive(L, G)) return 0;
  lua_settop(L, 2);
  lua_pushlightuserdata(L, (void *)&lcr_stop_mark);  /* "for stop only" */
  /* Whoever calls stop is the origin if the grace runs out. */
  if (!G->g.scope.cancel_called)
    lcr_setcancel(L, G->E, &G->g.scope, -1, G->E->e.current);
  rc = cr_group_stop(&G->g, grace);
  if (rc) return lcr_raise(L, rc);
  return 0;
}

static int stopping_k(lua_State *L, int status, lua_KContext ctx) {
  lcr_Task *t = lcr_checkblocking(L, "wait_stopping");
  lcr_Group *G = lua_touserdata(L, 1);
  (void)ctx;
  if (status == LUA_YIELD && t->t.wake_status == 0) return 0;
  lcr_checkcancel(L, t);
  if (!group_alive(L, G) || cr_group_wait_stopping(&G->g, &t->t)) return 0;
  return lcr_yield(L, t, 0, stopping_k);
}

static int group_wait_stopping(lua_State *L) {
  checkgroup(L, 1);
  lcr_checkblocking(L, "wait_stopping");
  lua_settop(L, 1);
  return stopping_k(L, LUA_OK, 0);
}

static int group_tasks(lua_State *L) {
  lcr_Group *G = checkgroup(L, 1);
  cr_queue_t *q;
  lua_Integer i = 0;
  lua_newtable(L);
  if (!group_alive(L, G)) return 1;
  for (q = G->g.children.next; q != &G->g.children; q = q->next) {
    cr_task_t *t = (cr_task_t *)((char *)q - offsetof(cr_task_t, child_link));
    if (lcr_pushtask(L, G->E, t))
      lua_rawseti(L, -2, ++i);
    else
      lua_pop(L, 1);
  }
  return 1;
}

/* --- fields ------------------------------------------------------------ */

static int group__index(lua_State *L) {
  lcr_Group *G = checkgroup(L, 1);
  const char *k = luaL_checkstring(L, 2);
  if (lcr_scope_index(L, &G->g.scope, k)) return 1;
  if (strcmp(k, "name") == 0)
    lua_getiuservalue(L, 1, LCR_GUV_NAME);
  else if (strcmp(k, "stopping") == 0)
    lua_pushboolean(L, G->g.stopping);
  else if (strcmp(k, "closed") == 0)
    lua_pushboolean(L, !group_alive(L, G));
  else {
    return 0;        /* methods were looked up first (index_dispatch) */
  }
  return 1;
}

static int group__newindex(lua_State *L) {
  lcr_Group *G = checkgroup(L, 1);
  return lcr_scope_newindex(L, &G->g.scope, group_alive(L, G));
}

static int group__tostring(lua_State *L) {
  lcr_Group *G = checkgroup(L, 1);
  lua_getiuservalue(L, 1, LCR_GUV_NAME);
  lua_pushfstring(L, "corral.Group(%s, %d children%s)",
                  lua_isnil(L, -1) ? "?" : lua_tostring(L, -1),
                  (int)G->g.nchildren,
                  !group_alive(L, G) ? ", closed" : "");
  return 1;
}

static const luaL_Reg group_methods[] = {
  {"spawn", group_spawn},
  {"start", group_start},
  {"cancel", group_cancel},
  {"stop", group_stop},
  {"wait_stopping", group_wait_stopping},
  {"tasks", group_tasks},
  {NULL, NULL}
};

static const luaL_Reg group_meta[] = {
  {"__index", group__index},
  {"__newindex", group__newindex},
  {"__tostring", group__tostring},
  {NULL, NULL}
};

const luaL_Reg lcr_group_funcs[] = {
  {"group", l_group},
  {NULL, NULL}
};

void lcr_open_group(lua_State *L) {
  lcr_register(L, LCR_GROUP, group_methods, group_meta);
  lcr_register_mt(L, LCR_GROUP, LCR_MT_GROUP);
}
