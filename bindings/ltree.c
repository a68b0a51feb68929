/*
** ltree.c -- corral.tree: the live task tree, from the root down, as text
** or as nested tables. It walks the engine's scope tree (no events): every
** entered scope is a task's own scope (a task), a group or a plain scope,
** and its children are the scopes entered below it, in entry order. The
** deadlock report and the SIGUSR1 dump (ltrace.c) print the same text.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "lcorral.h"

/* Seconds with three decimals (lua_pushfstring has no precision). */
static const char *push_secs(lua_State *L, double s) {
  char buf[64];
  /* (%.3f of 1e300 would not fit: past a billion seconds, %g) */
  snprintf(buf, sizeof buf, fabs(s) < 1e9 ? "%.3f" : "%g", s);
  return lua_pushstring(L, buf);
}

static const char *const status_names[] = {
  "scheduled", "running", "waiting", "done", "failed", "cancelled"
};

/* The name of a scope or group (uservalue 1 of its userdata), or nil. */
static void push_scopename(lua_State *L, lcr_Engine *E, cr_scope_t *s) {
  if (lcr_pushpinned(L, E, s)) {
    lua_getiuservalue(L, -1, 1);
    lua_remove(L, -2);
    if (!lua_isstring(L, -1)) {
      lua_pop(L, 1);
      lua_pushnil(L);
    }
  }
}

/* "address:port" of a TCP stream's peer, or nothing. [-0, +(0|1), m] */
static int push_peer(lua_State *L, const cr_stream_t *s) {
  struct sockaddr_storage ss;
  char ip[64];
  int len = (int)sizeof ss, port;
  if (s == NULL || s->h.handle.type != UV_TCP) return 0;
  memset(&ss, 0, sizeof ss);
  if (uv_tcp_getpeername(&s->h.tcp, (struct sockaddr *)&ss, &len)) return 0;
  if (uv_ip_name((struct sockaddr *)&ss, ip, sizeof ip)) return 0;
  port = ntohs(ss.ss_family == AF_INET6
               ? ((struct sockaddr_in6 *)&ss)->sin6_port
               : ((struct sockaddr_in *)&ss)->sin_port);
  lua_pushfstring(L, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip,
                  port);
  return 1;
}

/* Task `target`'s name into field k of the table on top. */
static void set_taskname(lua_State *L, const char *k, const cr_task_t *target) {
  lcr_pushtaskname(L, (lcr_Task *)target);
  lua_setfield(L, -2, k);
}

/* The fields of a sem wait: a lock (held_by: its holder's name,
** "task-<id> (ended)" for a holder of this run that ended holding it, or
** "a task of an earlier run": ids restart with each run, so that one's
** would name another task) or a semaphore. */
static const char *semaphore_fields(lua_State *L, lcr_Engine *E,
                                    const cr_sem_t *sem) {
  cr_task_t *holder;
  if (sem->max != 1) return "semaphore";
  if (sem->owner == 0) return "lock";
  if (lcr_lock_holder(sem, E) == 0)
    lua_pushliteral(L, "a task of an earlier run");
  else if ((holder = lcr_task_by_id(E, sem->owner)) != NULL)
    lcr_pushtaskname(L, (lcr_Task *)holder);
  else
    lua_pushfstring(L, "task-%I (ended)", (lua_Integer)sem->owner);
  lua_setfield(L, -2, "held_by");
  return "lock";
}

/* The object-specific fields of a wait, into the table on top; returns
** the word the text uses (NULL: the wait kind's own name). */
static const char *wait_fields(lua_State *L, lcr_Engine *E, cr_task_t *t,
                               double now) {
  const void *o = t->wait_obj;
  switch (t->wait) {
    case CR_WAIT_SLEEP:
      lua_pushnumber(L, ((const cr_timer_t *)o)->when - now);
      lua_setfield(L, -2, "left");
      return NULL;
    case CR_WAIT_SEM: return semaphore_fields(L, E, o);
    case CR_WAIT_SEND: case CR_WAIT_RECV:
      lcr_pushcapacity(L, (const cr_chan_t *)o);
      lua_setfield(L, -2, "capacity");
      return t->wait == CR_WAIT_SEND ? "channel send" : "channel recv";
    case CR_WAIT_JOIN: case CR_WAIT_START:
      set_taskname(L, "task", o);
      return t->wait == CR_WAIT_JOIN ? "t:wait for" : "g:start of";
    case CR_WAIT_CHILDREN: case CR_WAIT_STOPPING:
      push_scopename(L, E, (cr_scope_t *)o);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushfstring(L, "#%I", (lua_Integer)((cr_scope_t *)o)->id);
      }
      lua_setfield(L, -2, "group");
      return t->wait == CR_WAIT_CHILDREN ? "the children"
                                         : "g:wait_stopping";
    case CR_WAIT_READ: case CR_WAIT_WRITE: case CR_WAIT_CONNECT:
      if (push_peer(L, o)) lua_setfield(L, -2, "peer");
      return NULL;
    case CR_WAIT_ACCEPT:
      lua_pushinteger(L, ((const cr_listener_t *)o)->port);
      lua_setfield(L, -2, "port");
      return NULL;
    case CR_WAIT_PROCESS:
      lua_pushinteger(L, ((const cr_proc_t *)o)->pid);
      lua_setfield(L, -2, "pid");
      return NULL;
    case CR_WAIT_SIGNAL:
      lcr_pushsigname(L, cr_signal_waited(o));   /* as corral.signal says */
      lua_setfield(L, -2, "signal");
      return NULL;
    case CR_WAIT_EVENT:                    /* a C host's root, stopping */
      return lcr_host_stop_event(E, o) ? "corral.host.wait_stop" : NULL;
    case CR_WAIT_HOST:                           /* the op type's name */
      lua_pushstring(L, lcr_host_opname(o));
      lua_setfield(L, -2, "op");
      return NULL;
    default: return NULL;
  }
}

/* One line of text for a wait table on top: pushes it; the names in it
** escaped as the tree's own names are. [-0, +1, m] */
static void push_waittext(lua_State *L, int w) {
  luaL_Buffer b;
  static const char *const extra[][2] = {
    {"task", " %s"}, {"group", " of group %s"}, {"held_by", " held by %s"},
    {"peer", " from %s"}, {"signal", " %s"}, {"port", " on port %s"},
    {"pid", " of pid %s"}, {"op", " op %s"}
  };
  size_t i;
  int outward;                           /* a write or a connect goes "to" */
  w = lua_absindex(L, w);
  luaL_buffinit(L, &b);
  lua_getfield(L, w, "what");
  outward = lua_isstring(L, -1) && (strcmp(lua_tostring(L, -1), "write") == 0 ||
                                    strcmp(lua_tostring(L, -1), "connect") == 0);
  luaL_addvalue(&b);
  for (i = 0; i < sizeof extra / sizeof extra[0]; i++) {
    if (lua_getfield(L, w, extra[i][0]) != LUA_TNIL) {
      const char *fmt = outward && strcmp(extra[i][0], "peer") == 0
                        ? " to %s" : extra[i][1];
      lcr_escape_top(L);                   /* no NUL left for %s to stop at */
      lua_pushfstring(L, fmt, lua_tostring(L, -1));
      lua_remove(L, -2);
      luaL_addvalue(&b);
    } else {
      lua_pop(L, 1);
    }
  }
  if (lua_getfield(L, w, "left") == LUA_TNUMBER) {
    double left = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (isinf(left)) {
      lua_pushliteral(L, " (forever)");
    } else {
      lua_pushfstring(L, " (%ss left)", push_secs(L, left < 0 ? 0 : left));
      lua_remove(L, -2);
    }
    luaL_addvalue(&b);
  } else {
    lua_pop(L, 1);
  }
  luaL_pushresult(&b);
}

/* What a parked task waits on: {kind, what, text, ...}; the kind is the
** engine's name of the wait, but a lock's is "lock" (the engine's lock is a
** semaphore of one). [-0, +1, m] */
void lcr_pushwait(lua_State *L, lcr_Engine *E, cr_task_t *t, double now) {
  const char *what;
  lua_createtable(L, 0, 4);
  what = wait_fields(L, E, t, now);
  lua_pushstring(L, t->wait == CR_WAIT_SEM ? what : cr_wait_name(t->wait));
  lua_setfield(L, -2, "kind");
  lua_pushstring(L, what ? what : cr_wait_name(t->wait));
  lua_setfield(L, -2, "what");
  push_waittext(L, -1);
  lua_setfield(L, -2, "text");
}

/* 1 if the chunk is corral's: its embedded Lua ("=corral.x") or one of
** its modules (require "corral.x": a file .../corral/x.lua, or
** corral/x.lua from a relative path). */
static int corral_chunk(lua_State *L, const lua_Debug *ar) {
  int own;
  if (strncmp(ar->source, "=corral.", 8) == 0) return 1;
  /* corral's Lua modules, as _util.lua lists them (a program's own file
  ** in a directory called corral/ is not one) */
  if (lua_getfield(L, LUA_REGISTRYINDEX, LCR_OWN_SOURCES) != LUA_TTABLE) {
    lua_pop(L, 1);
    return 0;
  }
  own = lua_getfield(L, -1, ar->short_src) != LUA_TNIL;
  lua_pop(L, 2);
  return own;
}

/* 2 if ar is a frame of the user's code, 1 of corral's own Lua, 0 of C;
** -1 past the last frame. */
static int user_frame(lua_State *L, lua_State *co, int level, lua_Debug *ar) {
  if (!lua_getstack(co, level, ar) || !lua_getinfo(co, "Sl", ar)) return -1;
  if (ar->currentline <= 0) return 0;
  return corral_chunk(L, ar) ? 1 : 2;
}

/*
** Where the task is: the innermost line of user code on its coroutine
** (where it waits, or, for the caller, where it called corral.tree), or
** where its function starts if it has not run yet. [-0, +1, m]
*/
static void push_where(lua_State *L, lcr_Task *t) {
  lua_Debug ar;
  int level, r, lib_level = 0;
  lua_State *co = lcr_taskco(t);
  if (co == NULL) {                    /* finished: its coroutine moved on */
    lua_pushnil(L);
    return;
  }
  /* (each lua_getstack walks `level` frames: a deep stack of frames that
  ** have no line, stripped code, is looked at only so far) */
  for (level = 0; level < LCR_WHERE_LEVELS &&
                  (r = user_frame(L, co, level, &ar)) >= 0; level++) {
    if (r == 2) {
      lua_pushfstring(L, "%s:%d", ar.short_src, ar.currentline);
      return;
    }
    if (r == 1 && !lib_level && ar.source[0] == '@') lib_level = level + 1;
  }
  /* No user code on it (a policy's own task): corral's innermost line. */
  if (lib_level && user_frame(L, co, lib_level - 1, &ar) == 1) {
    lua_pushfstring(L, "%s:%d", ar.short_src, ar.currentline);
    return;
  }
  if (lua_status(co) == LUA_OK && lua_gettop(co) >= 3 &&
      lua_isfunction(co, 3)) {
    lua_pushvalue(co, 3);
    if (lua_getinfo(co, ">S", &ar) && ar.linedefined > 0) {
      lua_pushfstring(L, "%s:%d", ar.short_src, ar.linedefined);
      return;
    }
  }
  lua_pushnil(L);
}

/* {source, reason, origin} of a cancelled scope. [-0, +1, m] */
static void push_cancel(lua_State *L, lcr_Engine *E, const cr_scope_t *s) {
  const cr_scope_t *rec = cr_scope_record(s);
  lua_createtable(L, 0, 3);
  lua_pushstring(L, cr_source_name(rec->cancel.source));
  lua_setfield(L, -2, "source");
  if (rec->cancel.reason) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, E->records_ref);
    if (lua_rawgeti(L, -1, (lua_Integer)(intptr_t)rec->cancel.reason) ==
        LUA_TTABLE) {
      lua_rawgeti(L, -1, 1);
      lua_setfield(L, -4, "reason");
      lua_rawgeti(L, -1, 2);
      lua_setfield(L, -4, "origin");
    }
    lua_pop(L, 2);
  }
}

/* The fields every node has: kind, id, name, cancelled. */
static void node_common(lua_State *L, lcr_Engine *E, cr_scope_t *s,
                        const char *kind) {
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushinteger(L, (lua_Integer)s->id);
  lua_setfield(L, -2, "id");
  if (s->is_task) lcr_pushtaskname(L, (lcr_Task *)cr_scope_owner(s));
  else push_scopename(L, E, s);
  lua_setfield(L, -2, "name");
  if (s->cancel_called) {
    push_cancel(L, E, s);
    lua_setfield(L, -2, "cancelled");
  }
}

static void task_fields(lua_State *L, lcr_Engine *E, cr_task_t *t,
                        double now) {
  lua_pushstring(L, status_names[t->status]);
  lua_setfield(L, -2, "status");
  if (t->status == CR_TASK_WAITING && t->wait != CR_WAIT_NONE) {
    lcr_pushwait(L, E, t, now);
    lua_setfield(L, -2, "wait");
  }
  if (cr_task_held(t) && t->group != NULL) {
    lua_pushinteger(L, (lua_Integer)t->group->limit);
    lua_setfield(L, -2, "held");
  }
  push_where(L, (lcr_Task *)t);
  lua_setfield(L, -2, "where");
  if (cr_task_cancelled_now(t)) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "unwinding");
    if (cr_task_handed(t)) {
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, "handed");
    }
  }
}

static void scope_fields(lua_State *L, cr_scope_t *s, double now) {
  if (isfinite(cr_scope_deadline(s))) {
    lua_pushnumber(L, cr_scope_deadline(s) - now);
    lua_setfield(L, -2, "deadline");
  }
  if (s->shield) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "shield");
  }
  if (s->is_group && ((cr_group_t *)s)->stopping) {
    double ends = cr_group_stop_deadline((cr_group_t *)s);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "stopping");
    if (isfinite(ends) && !s->cancel_called) {   /* when the grace cancels */
      lua_pushnumber(L, ends - now);
      lua_setfield(L, -2, "grace");
    }
  }
}

/*
** A group's failures so far, which its exit will raise: failures =
** {{task =, error =}, ...} in the order they happened, and dropped (those
** beyond max_errors). A group that never exits (a deadlock nothing could
** break) would otherwise take them with it. Read raw: no code of the
** program runs while the tree is walked. [-0, +0, m]
*/
static void group_failures(lua_State *L, lcr_Engine *E, cr_group_t *g) {
  int node = lua_gettop(L), i, n;
  if (g->dropped > 0) {
    lua_pushinteger(L, (lua_Integer)g->dropped);
    lua_setfield(L, node, "dropped");
  }
  if (g->nerrors > 0 && lcr_pushpinned(L, E, &g->scope) &&
      lua_getiuservalue(L, -1, LCR_GUV_ERRORS) == LUA_TTABLE &&
      lcr_errors_ok(L, -1)) {
    lua_pushliteral(L, "errors");
    lua_rawget(L, node + 2);                                  /* node + 3 */
    lua_pushliteral(L, "tasks");
    lua_rawget(L, node + 2);                                  /* node + 4 */
    n = (int)lua_rawlen(L, node + 4);
    lua_createtable(L, n, 0);
    for (i = 1; i <= n; i++) {
      lua_createtable(L, 0, 2);
      lua_rawgeti(L, node + 4, i);
      lua_setfield(L, -2, "task");
      lua_rawgeti(L, node + 3, i);
      lua_setfield(L, -2, "error");
      lua_rawseti(L, -2, i);
    }
    lua_setfield(L, node, "failures");
  }
  lua_settop(L, node);
}

/* Deeper levels are summarised: the C stack is bounded, nesting is not. */
#define TREE_MAX_DEPTH 200

/* The node of scope s and everything below it. [-0, +1, m] */
static void push_node(lua_State *L, lcr_Engine *E, cr_scope_t *s,
                      double now, int depth) {
  cr_scope_t *c = NULL;
  int n = 0;
  luaL_checkstack(L, 8, "corral.tree: scopes nested too deep");
  lua_createtable(L, 0, 10);
  if (s->is_task) {
    node_common(L, E, s, "task");
    task_fields(L, E, cr_scope_owner(s), now);
  } else {
    node_common(L, E, s, s->is_group ? "group" : "scope");
    scope_fields(L, s, now);
    if (s->is_group) group_failures(L, E, (cr_group_t *)s);
  }
  lua_newtable(L);
  if (depth >= TREE_MAX_DEPTH) {
    while ((c = cr_scope_walk(&E->e, s, c)) != NULL) n++;
    lua_pushinteger(L, n - 1);           /* scopes and tasks not shown */
    lua_setfield(L, -3, "elided");
    n = 0;
  } else {
    while ((c = cr_scope_next_child(&E->e, s, c)) != NULL) {
      push_node(L, E, c, now, depth + 1);
      lua_rawseti(L, -2, ++n);
    }
  }
  lua_setfield(L, -2, "children");
}

/* {now, tasks, roots = {node...}} of the running engine. [-0, +1, m] */
static void push_forest(lua_State *L, lcr_Engine *E) {
  double now = cr_now(&E->e);
  cr_scope_t *r = NULL;
  int n = 0;
  lua_createtable(L, 0, 3);
  lua_pushnumber(L, now);
  lua_setfield(L, -2, "now");
  lua_pushinteger(L, (lua_Integer)E->e.stats.tasks);
  lua_setfield(L, -2, "tasks");
  lua_newtable(L);
  while ((r = cr_scope_next_child(&E->e, NULL, r)) != NULL) {
    push_node(L, E, r, now, 0);
    lua_rawseti(L, -2, ++n);
  }
  lua_setfield(L, -2, "roots");
}

static int forest_k(lua_State *L) {
  push_forest(L, lua_touserdata(L, 1));
  return 1;
}

/* push_forest with the collector stopped (lcr_call_still): the walk
** allocates as it goes. [-0, +1, m] */
static void push_forest_still(lua_State *L, lcr_Engine *E) {
  lua_pushlightuserdata(L, E);
  lcr_call_still(L, forest_k, 1, 1);
}

/* --- text ---------------------------------------------------------------- */

/* Append the value on top, converted with %s, to the buffer line. */
/*
** The value on top as one line of text (popped, pushed back escaped): a
** name or reason is the program's, and a newline in it must not forge a
** line of the tree, a NUL cut it, or an escape sequence reach a terminal.
*/
/*
** The length of the valid UTF-8 sequence of a code point above U+007F at s
** (n bytes left), with *cp set; 0 if the bytes there are not one.
*/
static size_t utf8_seq(const unsigned char *s, size_t n, unsigned long *cp) {
  size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0, i;
  static const unsigned long least[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (len == 0 || len > n || s[0] > 0xf4) return 0;
  *cp = s[0] & (0x3f >> (len - 1));
  for (i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    *cp = (*cp << 6) | (s[i] & 0x3f);
  }
  if (*cp < least[len] || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
    return 0;
  return len;
}

/* A code point a terminal or a text renderer obeys rather than shows: C1
** controls, the line and paragraph separators, the bidi controls. */
static int unprintable(unsigned long cp) {
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0x61c || cp == 0x200e || cp == 0x200f ||
         (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

static void add_escaped(luaL_Buffer *e, const unsigned char *s, size_t len) {
  size_t i;
  for (i = 0; i < len; i++) {
    char esc[8];
    snprintf(esc, sizeof esc, "\\%03u", (unsigned)s[i]);
    luaL_addstring(e, esc);
  }
}

void lcr_escape_top(lua_State *L) {
  size_t n, i, len;
  const unsigned char *s = (const unsigned char *)luaL_tolstring(L, -1, &n);
  unsigned long cp;
  luaL_Buffer e;
  luaL_buffinit(L, &e);
  for (i = 0; i < n; i += len) {
    unsigned char c = s[i];
    len = 1;
    if (c == '\n') luaL_addstring(&e, "\\n");
    else if (c == '\t') luaL_addstring(&e, "\\t");
    else if (c < 0x20 || c == 0x7f) add_escaped(&e, s + i, 1);
    else if (c < 0x80) luaL_addchar(&e, (char)c);
    else if ((len = utf8_seq(s + i, n - i, &cp)) == 0) {
      len = 1;                           /* a byte of no character */
      add_escaped(&e, s + i, 1);
    } else if (unprintable(cp)) {
      add_escaped(&e, s + i, len);
    } else {
      luaL_addlstring(&e, (const char *)s + i, len);
    }
  }
  luaL_pushresult(&e);
  lua_replace(L, -3);                  /* over the value */
  lua_pop(L, 1);                       /* its tolstring */
}

const char *lcr_push_key(lua_State *L, int idx) {
  lcr_tostring(L, idx);                /* a key's __tostring may raise */
  lcr_escape_top(L);
  return lua_tostring(L, -1);
}

/* one_line(v): v as one line of text, escaped as the tree escapes a name
** (lerror.lua's render takes task names through it). */
int lcr_one_line(lua_State *L) {
  lua_settop(L, 1);
  lcr_escape_top(L);
  return 1;
}

static void add_field(lua_State *L, luaL_Buffer *b, int node, const char *k,
                      const char *fmt) {
  if (lua_getfield(L, node, k) != LUA_TNIL) {
    lcr_escape_top(L);                   /* no NUL left for %s to stop at */
    lua_pushfstring(L, fmt, lua_tostring(L, -1));
    lua_remove(L, -2);
    luaL_addvalue(b);
  } else {
    lua_pop(L, 1);
  }
}

/* Failures the text shows of a group; the rest are counted. */
#define TREE_FAILURES_SHOWN 3
/* Bytes of an error's first line the text shows. */
#define TREE_ERROR_CUT 160

/* The error at idx as the tree shows it: a string's or a number's first
** line, cut; any other value by its type (its __tostring is the
** program's code, which the tree never runs). [-0, +1, m] */
static void push_error_line(lua_State *L, int idx) {
  int t = lua_type(L, idx);
  if (t == LUA_TSTRING || t == LUA_TNUMBER) {
    size_t len, cut;
    const char *s;
    lua_pushvalue(L, idx);
    s = lua_tolstring(L, -1, &len);
    for (cut = 0; cut < len && cut < TREE_ERROR_CUT && s[cut] != '\n'; cut++) {}
    if (cut < len && s[cut] != '\n')     /* not inside a UTF-8 sequence */
      while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) cut--;
    lua_pushlstring(L, s, cut);
    if (cut < len) lua_pushliteral(L, "...");
    else lua_pushliteral(L, "");
    lua_concat(L, 2);
    lua_remove(L, -2);
  } else if ((t = luaL_getmetafield(L, idx, "__name")) == LUA_TSTRING) {
    lua_pushfstring(L, "(a %s)", lua_tostring(L, -1));
    lua_remove(L, -2);
  } else {
    if (t != LUA_TNIL) lua_pop(L, 1);  /* a __name that is not a string */
    lua_pushfstring(L, "(a %s error value)", luaL_typename(L, idx));
  }
  lcr_escape_top(L);
}

/* Whether node's field k is of type `type` (the stack as it was). A
** luaL_Buffer is in use: nothing may stay pushed across its calls. */
static int has_field(lua_State *L, int node, const char *k, int type) {
  int t = lua_getfield(L, node, k);
  lua_pop(L, 1);
  return t == type;
}

/* "; failures: [task-4] f.lua:5: boom, [task-5] ..., +2 more"; the list
** of failures at index `list` (not a table: none), pushed before b. */
static void add_failures(lua_State *L, luaL_Buffer *b, int node, int list,
                         int any) {
  lua_Integer n = 0, i, more = 0;
  if (lua_type(L, list) == LUA_TTABLE) n = (lua_Integer)lua_rawlen(L, list);
  if (lua_getfield(L, node, "dropped") == LUA_TNUMBER)
    more = lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (n + more == 0) return;
  luaL_addstring(b, any ? "; failures: " : " (failures: ");
  for (i = 1; i <= n && i <= TREE_FAILURES_SHOWN; i++) {
    lua_rawgeti(L, list, i);
    lua_getfield(L, -1, "task");
    lcr_escape_top(L);
    lua_getfield(L, -2, "error");
    push_error_line(L, lua_gettop(L));
    lua_remove(L, -2);
    lua_pushfstring(L, "%s[%s] %s", i > 1 ? ", " : "", lua_tostring(L, -2),
                    lua_tostring(L, -1));
    lua_replace(L, -4);
    lua_pop(L, 2);
    luaL_addvalue(b);                    /* (only the text above b) */
  }
  more += n - (i - 1);
  if (more > 0) {
    lua_pushfstring(L, "%s+%I more", i > 1 ? ", " : "", more);
    luaL_addvalue(b);
  }
  if (!any) luaL_addchar(b, ')');
}

/* "(cancelled: explicit "why" by task-1; deadline in 1.5s; shield)"; the
** node's `cancelled` and `failures` at index sub and sub + 1, pushed
** before b. */
static void add_flags(lua_State *L, luaL_Buffer *b, int node, int sub) {
  int any = 0;
  if (lua_type(L, sub) == LUA_TTABLE) {
    luaL_addstring(b, " (cancelled: ");
    add_field(L, b, sub, "source", "%s");
    add_field(L, b, sub, "reason", " \"%s\"");
    add_field(L, b, sub, "origin", " by %s");
    any = 1;
  }
  if (lua_getfield(L, node, "deadline") == LUA_TNUMBER) {
    /* one that passed while its task ran without a checkpoint: not fired
    ** yet (the tree has no side effect), but no longer ahead either */
    double in = lua_tonumber(L, -1);
    lua_pushfstring(L, in < 0 ? "%sdeadline passed %ss ago" : "%sdeadline in %ss",
                    any ? "; " : " (", push_secs(L, in < 0 ? -in : in));
    lua_remove(L, -2);
    lua_remove(L, -2);
    luaL_addvalue(b);
    any = 1;
  } else {
    lua_pop(L, 1);
  }
  if (has_field(L, node, "stopping", LUA_TBOOLEAN)) {
    luaL_addstring(b, any ? "; stopping" : " (stopping");
    any = 1;
  }
  if (lua_getfield(L, node, "grace") == LUA_TNUMBER) {
    double in = lua_tonumber(L, -1);   /* (run out, not fired: as above) */
    lua_pushfstring(L, in < 0 ? ", grace ended %ss ago" : ", grace ends in %ss",
                    push_secs(L, in < 0 ? -in : in));
    lua_remove(L, -2);
    lua_remove(L, -2);
    luaL_addvalue(b);
  } else {
    lua_pop(L, 1);
  }
  if (has_field(L, node, "shield", LUA_TBOOLEAN)) {
    luaL_addstring(b, any ? "; shield" : " (shield");
    any = 1;
  }
  if (lua_getfield(L, node, "elided") == LUA_TNUMBER) {
    lua_pushfstring(L, "%s%d more nested below, not shown", any ? "; " : " (",
                    (int)lua_tointeger(L, -1));
    lua_remove(L, -2);
    luaL_addvalue(b);
    any = 1;
  } else {
    lua_pop(L, 1);
  }
  add_failures(L, b, node, sub + 1, any);
  if (any) luaL_addchar(b, ')');
}

/* The text of one node, without its prefix. The tables the line reads
** from are pushed first: a luaL_Buffer needs its values right above it.
** [-0, +1, m] */
static void push_line(lua_State *L, int node) {
  luaL_Buffer b;
  int sub = lua_gettop(L) + 1;
  lua_getfield(L, node, "cancelled");
  lua_getfield(L, node, "failures");
  luaL_buffinit(L, &b);
  add_field(L, &b, node, "kind", "%s");
  add_field(L, &b, node, "name", " %s");
  add_field(L, &b, node, "id", " #%s");
  add_field(L, &b, node, "status", " %s");
  add_field(L, &b, node, "held", ", waiting for a slot of its group (limit %s)");
  if (lua_getfield(L, node, "wait") == LUA_TTABLE) {
    lua_getfield(L, -1, "text");
    lua_pushfstring(L, " on %s", lua_tostring(L, -1));
    lua_remove(L, -2);
    lua_remove(L, -2);
    luaL_addvalue(&b);
  } else {
    lua_pop(L, 1);
  }
  if (has_field(L, node, "handed", LUA_TBOOLEAN))
    luaL_addstring(&b, ", woken with what it waited for, then a Cancelled");
  else if (has_field(L, node, "unwinding", LUA_TBOOLEAN))
    luaL_addstring(&b, ", unwinding a Cancelled");
  add_flags(L, &b, node, sub);
  add_field(L, &b, node, "where", " at %s");
  luaL_pushresult(&b);
  lua_replace(L, sub);
  lua_pop(L, 1);
}

/* Lines of node (at idx) and its children into the list at `out`. */
static void render(lua_State *L, int node, int out, const char *head,
                   const char *tail) {
  int i, n, kids;
  node = lua_absindex(L, node);
  luaL_checkstack(L, 8, "corral.tree: scopes nested too deep");
  push_line(L, node);
  lua_pushfstring(L, "%s%s", head, lua_tostring(L, -1));
  lua_rawseti(L, out, (lua_Integer)lua_rawlen(L, out) + 1);
  lua_pop(L, 1);
  lua_getfield(L, node, "children");
  kids = lua_gettop(L);
  n = (int)lua_rawlen(L, kids);
  for (i = 1; i <= n; i++) {
    const char *h = lua_pushfstring(L, "%s%s", tail, i < n ? "|- " : "`- ");
    const char *t = lua_pushfstring(L, "%s%s", tail, i < n ? "|  " : "   ");
    lua_rawgeti(L, kids, i);
    render(L, -1, out, h, t);
    lua_pop(L, 3);
  }
  lua_pop(L, 1);
}

/* The text of a forest table at idx. [-0, +1, m] */
static void push_text(lua_State *L, int forest) {
  int out, i, n;
  luaL_Buffer b;
  forest = lua_absindex(L, forest);
  lua_newtable(L);
  out = lua_gettop(L);
  lua_getfield(L, forest, "tasks");
  lua_getfield(L, forest, "now");
  push_secs(L, lua_tonumber(L, -1));
  lua_pushfstring(L, "corral tree at %ss: %d task%s", lua_tostring(L, -1),
                  (int)lua_tointeger(L, -3),
                  lua_tointeger(L, -3) == 1 ? "" : "s");
  lua_rawseti(L, out, 1);
  lua_pop(L, 3);
  lua_getfield(L, forest, "roots");
  n = (int)lua_rawlen(L, -1);
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, i);
    render(L, -1, out, "", "");
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  luaL_buffinit(L, &b);
  n = (int)lua_rawlen(L, out);
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, out, i);
    luaL_addvalue(&b);
    luaL_addchar(&b, '\n');
  }
  luaL_pushresult(&b);
  lua_remove(L, out);
}

/* The tree of the running engine as text. [-0, +1, m] */
void lcr_pushtree(lua_State *L, lcr_Engine *E) {
  push_forest_still(L, E);
  push_text(L, -1);
  lua_remove(L, -2);
}

/* corral.tree([opts]) -> text, or with {format = "table"} the root task's
** node: {kind, id, name, status, wait, where, cancelled, children, ...}. */
static int l_tree(lua_State *L) {
  lcr_Engine *E = lcr_engine(L, "corral.tree");
  int table = 0;
  lcr_checknargs(L, 1, NULL);
  if (!lua_isnoneornil(L, 1)) {
    static const char *const names[] = {"format", NULL};
    luaL_checktype(L, 1, LUA_TTABLE);
    lcr_checkopts(L, 1, 0, names);     /* as every options table */
    lua_getfield(L, 1, "format");
    if (!lua_isnil(L, -1)) {
      const char *f = lcr_tocname(L, -1);
      table = f && strcmp(f, "table") == 0;
      if (!table && (!f || strcmp(f, "text") != 0))
        luaL_argerror(L, 1, "format must be \"text\" or \"table\"");
    }
  }
  push_forest_still(L, E);
  if (!table) {
    push_text(L, -1);
    return 1;
  }
  lua_getfield(L, -1, "roots");
  lua_rawgeti(L, -1, 1);
  lua_getfield(L, -3, "now");
  lua_setfield(L, -2, "now");
  return 1;
}

const luaL_Reg lcr_tree_funcs[] = {
  {"tree", l_tree},
  {NULL, NULL}
};

static int tree_text(lua_State *L) {
  lcr_pushtree(L, lua_touserdata(L, 1));
  return 1;
}

/* The tree as text, protected: 1 and the text pushed, or 0 and nothing
** (out of memory). For the deadlock report and the debug signal. */
int lcr_pushtree_safe(lua_State *L, lcr_Engine *E) {
  if (!lua_checkstack(L, 4)) return 0;
  lua_pushcfunction(L, tree_text);
  lua_pushlightuserdata(L, E);
  if (lua_pcall(L, 1, 1, 0) == LUA_OK) return 1;
  lua_pop(L, 1);
  return 0;
}
