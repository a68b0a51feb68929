/*
** ltrace.c -- what corral.run's `trace`, `trace_limit` and `debug_signal`
** options do.
**
** The trace: the engine's events (cr_engine_t.on_event, installed only
** when a trace is asked for, so tracing off costs the engine's one branch
** per event site) go into a ring of `trace_limit` fixed-size records; the
** oldest are dropped and counted. Names, reasons and errors ride beside
** them in a Lua table keyed by ring slot, so memory stays bounded. At the
** end of the run (every path: success, error, deadlock) ltrace.lua turns
** the ring into Chrome trace-event JSON, which Perfetto opens.
**
** The debug signal: an unreferenced libuv signal watcher (it never keeps
** the run alive nor hides a deadlock) that prints corral.tree() to stderr.
*/
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include "lcorral.h"
#include "ltrace_lua.h"

#define TRACE_DEFAULT_LIMIT 100000
#define TRACE_FIRST_RING 4096     /* records allocated at the start */
enum { TR_TARGET = 8 };   /* a cancel reaches task tid (arg: its seq) */

typedef struct {
  double ts;              /* microseconds, strictly increasing */
  uint64_t tid, pid;      /* task, and its group's scope id (root: itself) */
  uint64_t arg, arg2;     /* per kind: see on_event */
  double num;
  unsigned char kind, wait, flags;
  signed char status;
} trace_rec;

typedef struct lcr_Debug {
  lcr_Engine *E;
  int ref;                /* registry: this userdata, while in use */
  int strs_ref;           /* registry: strings by 2*slot+1 and 2*slot+2 */
  int gone_ref;           /* registry: groups whose spawn records were
                          ** dropped: [pid] = name or false, [-pid] = owner */
  size_t ngone;           /* groups in it */
  size_t prune_at;        /* prune it when ngone reaches this */
  double start_ts;        /* when the run started, as ts */
  FILE *file;
  trace_rec *ring;
  size_t limit;
  size_t cap;             /* records allocated: the ring grows to limit */
  uint64_t n;             /* events recorded since the start */
  double last_ts;
  int signum;
  uv_signal_t sig;
  unsigned early;         /* trees printed before libuv delivered their
                          ** arrival (a busy task's hook): skipped then */
  int owed_ref;           /* registry: [task id] = seq of a cancel that had
                          ** not reached it (a shield), for its mark later */
  size_t nowed;           /* entries in it */
} lcr_Debug;

/* --- options ----------------------------------------------------------- */

static int signum_of(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TNUMBER) {
    int isnum;     /* 10.0 is 10; 10.5 is none (no truncation to one) */
    lua_Integer n = lua_tointegerx(L, idx, &isnum);
    return isnum && lcr_known_signum(n) ? (int)n : 0;
  }
  if (lcr_tocname(L, idx) != NULL) {
    const char *s = lua_tostring(L, idx);
    if (strcmp(s, "SIGUSR1") == 0) return SIGUSR1;
    if (strcmp(s, "SIGUSR2") == 0) return SIGUSR2;
    if (strcmp(s, "SIGQUIT") == 0) return SIGQUIT;
    if (strcmp(s, "SIGHUP") == 0) return SIGHUP;
  }
  return 0;
}

/* Check run's trace, trace_limit and debug_signal. [-0, +0, v] */
void lcr_debug_opts(lua_State *L, int opts, lcr_DebugOpts *o) {
  memset(o, 0, sizeof *o);
  o->limit = TRACE_DEFAULT_LIMIT;
  if (lua_isnoneornil(L, opts)) return;
  if (lua_getfield(L, opts, "trace") != LUA_TNIL) {
    size_t n = 0;
    const char *path = lua_type(L, -1) == LUA_TSTRING
                     ? lua_tolstring(L, -1, &n) : NULL;
    if (path == NULL)
      luaL_argerror(L, opts, "trace must be a file name (a string)");
    if (strlen(path) != n)
      luaL_argerror(L, opts, "trace: the file name contains a NUL byte");
    o->trace = 1;
  }
  if (lua_getfield(L, opts, "trace_limit") != LUA_TNIL) {
    int isnum;
    o->limit = lua_tointegerx(L, -1, &isnum);
    /* math.huge means "no bound", as for a group's limit or a channel. */
    if (!isnum && lua_type(L, -1) == LUA_TNUMBER &&
        lua_tonumber(L, -1) == HUGE_VAL) {
      o->limit = LUA_MAXINTEGER;
      isnum = 1;
    }
    if (!isnum || o->limit < 1 || lua_type(L, -1) != LUA_TNUMBER)
      luaL_argerror(L, opts, "trace_limit must be an integer >= 1");
  }
  if (lua_getfield(L, opts, "debug_signal") != LUA_TNIL) {
    o->signum = signum_of(L, -1);
    if (o->signum <= 0 || o->signum >= NSIG || o->signum == SIGKILL ||
        o->signum == SIGSTOP || o->signum == SIGINT || o->signum == SIGTERM)
      luaL_argerror(L, opts, "debug_signal must be \"SIGUSR1\", \"SIGUSR2\", "
                    "\"SIGQUIT\", \"SIGHUP\" or a catchable signal number");
  }
  lua_pop(L, 3);
}

/* --- recording --------------------------------------------------------- */

static uint64_t pid_of(const cr_task_t *t) {
  if (t == NULL) return 0;
  return t->group ? t->group->scope.id : t->scope.id;
}

/*
** Room for record n: the ring doubles until it holds `limit` records, so a
** large trace_limit, a bound, costs only what a run records. When memory
** runs out, the ring keeps the records it has: the limit becomes that. */
static void ring_room(lcr_Debug *D) {
  size_t cap;
  trace_rec *r;
  if (D->n < D->cap || D->cap >= D->limit) return;
  cap = D->cap > D->limit / 2 ? D->limit : 2 * D->cap;
  r = cap > SIZE_MAX / sizeof *r ? NULL : realloc(D->ring, cap * sizeof *r);
  if (r == NULL) {
    D->limit = D->cap;
    return;
  }
  D->ring = r;
  D->cap = cap;
}

/* [old, new] Copy group pid's entry from old to new, once. */
static void copy_gone(lua_State *L, lcr_Debug *D, int top, lua_Integer pid) {
  if (lua_rawgeti(L, top, pid) == LUA_TNIL &&         /* not copied yet */
      lua_rawgeti(L, top - 1, pid) != LUA_TNIL) {
    lua_rawseti(L, top, pid);
    lua_rawgeti(L, top - 1, -pid);
    lua_rawseti(L, top, -pid);
    D->ngone++;
  }
  lua_settop(L, top);
}

/* The next prune_at: `extra` + 2 * limit + 1024, or never (SIZE_MAX) when
** that does not fit, for a limit of math.huge's size, which no ring could
** hold anyway. */
static size_t prune_after(const lcr_Debug *D, size_t extra) {
  if (D->limit > (SIZE_MAX - 1024 - extra) / 2) return SIZE_MAX;
  return extra + 2 * D->limit + 1024;
}

/*
** At prune_at groups in the side table, keep only those a kept record
** names or that are still open (a later record may name them): a long run
** of many short groups stays bounded. The next prune waits until as many
** groups again were added as were kept and as scopes were walked, plus
** 2 * limit + 1024, so the work (the ring and the open scopes) is
** amortised over the groups added since, however many tasks and groups
** stay open. [gone] -> [gone'] */
static void prune_gone(lua_State *L, lcr_Debug *D) {
  uint64_t i;                  /* from the oldest kept (not the one dropped) */
  cr_scope_t *s = NULL;
  size_t walked = 0;
  int top;
  lua_newtable(L);
  top = lua_gettop(L);
  D->ngone = 0;
  for (i = D->n - D->limit + 1; i < D->n; i++)
    copy_gone(L, D, top, (lua_Integer)D->ring[i % D->limit].pid);
  while ((s = cr_scope_walk(&D->E->e, NULL, s)) != NULL) {  /* open groups */
    walked++;
    if (s->is_group) copy_gone(L, D, top, (lua_Integer)s->id);
  }
  D->prune_at = prune_after(D, 2 * D->ngone + walked);
  lua_replace(L, -2);
  lua_pushvalue(L, -1);
  lua_rawseti(L, LUA_REGISTRYINDEX, D->gone_ref);
}

/* [D, rec] A SPAWN record about to be dropped: its group's name (or false)
** and body owner go to the side table, for kept records that name the
** group (the trace's process names). */
static int keep_gone_k(lua_State *L) {
  lcr_Debug *D = lua_touserdata(L, 1);
  const trace_rec *r = lua_touserdata(L, 2);
  lua_Integer pid = (lua_Integer)r->pid;
  size_t slot = (size_t)((const trace_rec *)r - D->ring);
  lua_rawgeti(L, LUA_REGISTRYINDEX, D->gone_ref);               /* 3 */
  if (D->ngone >= D->prune_at) prune_gone(L, D);
  if (lua_rawgeti(L, 3, pid) == LUA_TNIL) D->ngone++;
  lua_rawgeti(L, LUA_REGISTRYINDEX, D->strs_ref);
  if (lua_rawgeti(L, -1, (lua_Integer)(2 * slot + 2)) != LUA_TSTRING) {
    lua_pop(L, 1);
    lua_pushboolean(L, 0);                 /* a group given no name */
  }
  lua_rawseti(L, 3, pid);
  lua_pushinteger(L, (lua_Integer)r->num);
  lua_rawseti(L, 3, -pid);
  return 0;
}

static void keep_gone(lcr_Debug *D, const trace_rec *r) {
  lua_State *L = D->E->L;
  if (r->kind != CR_EV_SPAWN || r->pid == r->tid || r->pid == 0 ||
      !lua_checkstack(L, 6))
    return;
  lua_pushcfunction(L, keep_gone_k);
  lua_pushlightuserdata(L, D);
  lua_pushlightuserdata(L, (void *)r);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) lua_pop(L, 1);   /* then unnamed */
}

/* The next record, for task t; its slot's strings cleared. */
static trace_rec *next_rec(lcr_Debug *D, int kind, const cr_task_t *t) {
  size_t slot;
  trace_rec *r;
  double ts;
  ring_room(D);
  slot = (size_t)(D->n % D->limit);
  r = &D->ring[slot];
  ts = cr_now(&D->E->e) * 1e6;
  if (D->n >= D->limit) {                /* reusing: forget its strings */
    lua_State *L = D->E->L;
    keep_gone(D, r);
    lua_rawgeti(L, LUA_REGISTRYINDEX, D->strs_ref);
    lua_pushnil(L);
    lua_rawseti(L, -2, (lua_Integer)(2 * slot + 1));
    lua_pushnil(L);
    lua_rawseti(L, -2, (lua_Integer)(2 * slot + 2));
    lua_pop(L, 1);
  }
  if (ts <= D->last_ts) ts = D->last_ts + 0.001;   /* keep the order */
  D->last_ts = ts;
  memset(r, 0, sizeof *r);
  r->ts = ts;
  r->kind = (unsigned char)kind;
  r->tid = t ? t->scope.id : 0;
  r->pid = pid_of(t);
  D->n++;
  return r;
}

/* Strings of an event, made protected (a failure drops them). */
typedef struct {
  lcr_Debug *D;
  const cr_engine_event_t *ev;
  size_t slot;
} str_job;

/* The longest text a trace event keeps (an error, a reason, a name, what a
** task waits on): `trace_limit` bounds the events, this their size (a
** string may be megabytes, and a cancel's reason goes into the event of
** every task it reaches). */
#define TRACE_TEXT_MAX 4096

/* Room for the "... (N bytes in all)" a cut adds: a text cut once (a
** task's failure, kept cut: lcr_msgh) is not cut again. */
#define TRACE_CUT_ROOM 32

/* The string on top cut to TRACE_TEXT_MAX bytes, saying how long it was;
** any other value is left as it is. [-1, +1, m] */
void lcr_cut_text(lua_State *L) {
  size_t n;
  const char *s;
  if (lua_type(L, -1) != LUA_TSTRING) return;
  s = lua_tolstring(L, -1, &n);
  if (n > TRACE_TEXT_MAX + TRACE_CUT_ROOM) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addlstring(&b, s, lcr_utf8_cut(s, TRACE_TEXT_MAX));
    lua_pushfstring(L, "... (%I bytes in all)", (lua_Integer)n);
    luaL_addvalue(&b);
    luaL_pushresult(&b);
    lua_remove(L, -2);
  }
}

static void set_str(lua_State *L, size_t slot, int which) {
  lcr_cut_text(L);
  lua_rawseti(L, 2, (lua_Integer)(2 * slot + (size_t)which));
}

/* The error a failing task raised, as text (msgh kept it), as its
** ErrorGroup shows it: one whose __tostring raises is said to. */
static void push_failure(lua_State *L, lcr_Engine *E, cr_task_t *t) {
  if (t && lcr_pushtask(L, E, t)) {
    lcr_gettberr(L, -1);
    if (!lua_isnil(L, -1)) {
      lcr_tostring(L, -1);
      return;
    }
  }
  lua_pushliteral(L, "error");
}

static int make_strings(lua_State *L) {
  str_job *j = lua_touserdata(L, 1);
  lcr_Engine *E = j->D->E;
  const cr_engine_event_t *ev = j->ev;
  lua_rawgeti(L, LUA_REGISTRYINDEX, j->D->strs_ref);          /* 2 */
  switch (ev->kind) {
    case CR_EV_SPAWN: case CR_EV_DONE:
      lcr_pushtaskname(L, (lcr_Task *)ev->task);
      set_str(L, j->slot, 1);
      if (ev->kind == CR_EV_DONE && ev->status == CR_TASK_FAILED) {
        push_failure(L, E, ev->task);    /* (a failure no group recorded
                                         ** has had no error mark yet) */
        set_str(L, j->slot, 2);
      }
      if (ev->kind == CR_EV_SPAWN && ev->scope) {
        if (lcr_pushpinned(L, E, ev->scope)) {
          lua_getiuservalue(L, -1, 1);
          set_str(L, j->slot, 2);
        }
      }
      break;
    case CR_EV_PARK:
      lcr_pushwait(L, E, ev->task, cr_now(&E->e));
      lua_getfield(L, -1, "text");
      set_str(L, j->slot, 1);
      break;
    case CR_EV_CANCEL:
      if (ev->scope->cancel.reason) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, E->records_ref);
        lua_rawgeti(L, -1, (lua_Integer)(intptr_t)ev->scope->cancel.reason);
        if (lua_istable(L, -1)) {
          lua_rawgeti(L, -1, 1);
          set_str(L, j->slot, 1);
        }
      }
      if (lcr_pushpinned(L, E, ev->scope)) {
        lua_getiuservalue(L, -1, 1);
        set_str(L, j->slot, 2);
      }
      break;
    case CR_EV_FAIL:
      push_failure(L, E, ev->task);
      set_str(L, j->slot, 1);
      break;
    default:
      break;
  }
  return 0;
}

static void record_strings(lcr_Debug *D, const cr_engine_event_t *ev,
                           size_t slot) {
  lua_State *L = D->E->L;
  str_job j;
  j.D = D;
  j.ev = ev;
  j.slot = slot;
  if (!lua_checkstack(L, 4)) return;
  lua_pushcfunction(L, make_strings);
  lua_pushlightuserdata(L, &j);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) lua_pop(L, 1);
}

/* [D, task id, seq or nil, scope id or nil]: owed[id] = seq, owed[-id] =
** the id of the scope whose cancel it is. */
static int set_owed_k(lua_State *L) {
  lcr_Debug *D = lua_touserdata(L, 1);
  lua_Integer id = lua_tointeger(L, 2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, D->owed_ref);
  lua_pushvalue(L, 3);
  lua_rawseti(L, -2, id);
  lua_pushvalue(L, 4);
  lua_rawseti(L, -2, -id);
  return 0;
}

/* owed[key], or 0. */
static uint64_t owed_at(lcr_Debug *D, lua_Integer key) {
  lua_State *L = D->E->L;
  lua_Integer v;
  lua_rawgeti(L, LUA_REGISTRYINDEX, D->owed_ref);
  v = lua_rawgeti(L, -1, key) == LUA_TNUMBER ? lua_tointeger(L, -1) : 0;
  lua_pop(L, 2);
  return (uint64_t)v;
}

/* Task t is owed the cancel recorded at seq, of scope sid (seq 0: nothing),
** protected: a table that cannot grow (out of memory) only loses a mark. */
static void set_owed(lcr_Debug *D, const cr_task_t *t, uint64_t seq,
                     uint64_t sid) {
  lua_State *L = D->E->L;
  lua_Integer id = (lua_Integer)t->scope.id;
  int had;
  if (D->owed_ref == LUA_NOREF || !lua_checkstack(L, 5)) return;
  had = owed_at(D, id) != 0;
  if (seq && had) return;    /* the first cancel hidden from t is the one:
                             ** an inner one may be gone by the time */
  lua_pushcfunction(L, set_owed_k);
  lua_pushlightuserdata(L, D);
  lua_pushinteger(L, id);
  if (seq) {
    lua_pushinteger(L, (lua_Integer)seq);
    lua_pushinteger(L, (lua_Integer)sid);
  } else {
    lua_pushnil(L);
    lua_pushnil(L);
  }
  if (lua_pcall(L, 4, 0, 0) != LUA_OK) {
    lua_pop(L, 1);
    return;
  }
  if (seq && !had) D->nowed++;
  else if (!seq && had) D->nowed--;
}

/* A cancel a shield kept from task t, at its resume or its end: marked if
** that cancel reaches t now and t is resumed cancelled or ends cancelled;
** forgotten once t has left that scope, or ended otherwise (a failure that
** unwound the shield is not the cancel's). */
static void settle_owed(lcr_Debug *D, const cr_task_t *t, int done,
                        int status) {
  lua_Integer id = (lua_Integer)t->scope.id;
  uint64_t seq = owed_at(D, id);
  int reach;
  if (seq == 0) return;
  reach = cr_task_reach(t, owed_at(D, -id));
  if (reach == 1 && (done ? status == CR_TASK_CANCELLED
                          : cr_task_cancelled_now((cr_task_t *)t) != NULL)) {
    set_owed(D, t, 0, 0);
    next_rec(D, TR_TARGET, t)->arg = seq;
  } else if (done || reach < 0) {
    set_owed(D, t, 0, 0);
  }
}

/* A cancel reaches every task below scope s that no shield hides: one
** TR_TARGET each (a shielded one is owed it: it gets it when it runs
** cancelled, having left the shield); and the
** task in whose stack s lives (a scope's opener, a group's body) when
** another task cancelled it, explicitly or by failing (a deadline, a
** stop's grace or a signal has no canceller: whichever task runs when it
** fires is not one; the mark is drawn on the owner's track). */
static void record_targets(lcr_Debug *D, cr_scope_t *root, uint64_t seq) {
  cr_scope_t *s = NULL;                /* no recursion: any depth */
  cr_task_t *owner = cr_scope_owner(root), *by = D->E->e.current;
  int by_task = root->cancel.source == CR_SRC_EXPLICIT ||
                root->cancel.source == CR_SRC_FAILURE;
  if (!root->is_task && by_task && owner && by && owner != by &&
      !owner->finished) {
    if (cr_scope_reaches(root, owner))
      next_rec(D, TR_TARGET, owner)->arg = seq;
    else
      set_owed(D, owner, seq, root->id);
  }
  while ((s = cr_scope_walk(&D->E->e, root, s)) != NULL) {
    cr_task_t *t = s->is_task ? cr_scope_owner(s) : NULL;
    if (t == NULL || t->finished) continue;
    if (cr_scope_reaches(root, t))
      next_rec(D, TR_TARGET, t)->arg = seq;
    else
      set_owed(D, t, seq, root->id);
  }
}

static void on_event(cr_engine_t *e, const cr_engine_event_t *ev) {
  lcr_Debug *D = ((lcr_Engine *)e)->dbg;
  uint64_t seq;
  cr_task_t *t = ev->task, *owner;
  trace_rec *r;
  if (D->nowed && t != NULL &&
      (ev->kind == CR_EV_RUN || ev->kind == CR_EV_DONE))
    settle_owed(D, t, ev->kind == CR_EV_DONE, ev->status);
  seq = D->n;
  r = next_rec(D, ev->kind, t);
  r->status = (signed char)(ev->status < 0 ? -1 : ev->status);
  r->wait = (unsigned char)ev->wait;
  switch (ev->kind) {
    case CR_EV_SPAWN:           /* arg: parent task, arg2: its pid, */
      r->arg = e->current ? e->current->scope.id : 0;   /* num: the task */
      r->arg2 = pid_of(e->current);      /* running the group's body */
      if (ev->scope && cr_scope_owner(ev->scope))
        r->num = (double)cr_scope_owner(ev->scope)->scope.id;
      break;
    case CR_EV_RUN:
      /* 1: a cancel reaches it; 2: one came after its wait was over, so
      ** the call returns what it was handed before anything unwinds */
      r->flags = cr_task_cancelled_now(t) == NULL ? 0 : ev->status ? 2 : 1;
      break;
    case CR_EV_PARK:
      r->wait = (unsigned char)t->wait;
      break;
    case CR_EV_CANCEL:          /* arg: the scope, arg2: its owner task */
      r->status = (signed char)ev->scope->cancel.source;
      r->arg = ev->scope->id;
      owner = cr_scope_owner(ev->scope);
      r->arg2 = owner ? owner->scope.id : 0;
      r->num = (double)pid_of(owner);
      break;
    case CR_EV_FAIL:
      r->arg = ev->scope ? ev->scope->id : 0;
      break;
    default:
      break;
  }
  if (ev->kind == CR_EV_SPAWN || ev->kind == CR_EV_DONE ||
      ev->kind == CR_EV_PARK || ev->kind == CR_EV_CANCEL ||
      ev->kind == CR_EV_FAIL)
    record_strings(D, ev, (size_t)(seq % D->limit));
  if (ev->kind == CR_EV_CANCEL && ev->scope->entered)
    record_targets(D, ev->scope, seq);
}

/* --- the debug signal ---------------------------------------------------- */

/* The live tree on stderr. */
static void print_tree(lcr_Engine *E) {
  lua_State *L = E->L;
  if (lcr_pushtree_safe(L, E)) {
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    fwrite(s, 1, len, stderr);
    fflush(stderr);
    lua_pop(L, 1);
  }
}

static void debug_signal_cb(uv_signal_t *h, int signum) {
  lcr_Debug *D = h->data;
  (void)signum;
  if (D->early > 0) D->early--;          /* printed when it arrived */
  /* Arrivals that waited in libuv's pipe while the last task blocked in a
  ** C call (io.read, os.execute) come once the run has ended: after the
  ** run it does nothing (a tree of 0 tasks would tell nothing, once per
  ** arrival). */
  else if (D->E->e.stats.tasks > 0) print_tree(D->E);
}

/* The debug signal of E's run, or 0. */
int lcr_debug_signum(const lcr_Engine *E) {
  return E->dbg ? ((const lcr_Debug *)E->dbg)->signum : 0;
}

/* The tree now, for the arrivals of the debug signal that found a task
** computing without ever giving up the CPU (lbusy.c's hook, in the run's
** thread): libuv's deliveries of them, when the loop turns, are skipped. */
void lcr_debug_tree_early(lcr_Engine *E, int arrivals) {
  lcr_Debug *D = E->dbg;
  if (D == NULL || D->signum == 0) return;
  print_tree(E);
  D->early += (unsigned)arrivals;
}

static void debug_close_cb(uv_handle_t *h) {
  lcr_Debug *D = h->data;
  luaL_unref(D->E->L, LUA_REGISTRYINDEX, D->ref);
}

/* --- start and finish ---------------------------------------------------- */

static int start_signal(lcr_Debug *D, int signum) {
  int rc = uv_signal_init(D->E->e.loop, &D->sig);
  if (rc) return rc;
  D->sig.data = D;
  D->signum = signum;
  rc = cr_signal_start(&D->sig, debug_signal_cb, signum);  /* counted */
  uv_unref((uv_handle_t *)&D->sig);     /* never keeps the run alive */
  return rc;
}

/* Open the trace file and the ring: 0, or 1 with an error message. */
static int start_trace(lua_State *L, lcr_Debug *D, int opts,
                       lua_Integer limit) {
  const char *path;
  lua_getfield(L, opts, "trace");
  path = lua_tostring(L, -1);
  D->file = fopen(path, "we");          /* close-on-exec: not a child's */
  if (D->file == NULL) {
    lua_pushfstring(L, "corral.run: cannot open trace file '%s': %s", path,
                    strerror(errno));
    return 1;
  }
  lua_pop(L, 1);
  D->limit = (uint64_t)limit > SIZE_MAX ? SIZE_MAX : (size_t)limit;
  D->cap = D->limit < TRACE_FIRST_RING ? D->limit : TRACE_FIRST_RING;
  D->ring = malloc(D->cap * sizeof *D->ring);
  if (D->ring == NULL) {
    lua_pushliteral(L, "corral.run: not enough memory for trace_limit");
    return 1;
  }
  lua_newtable(L);
  D->strs_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  D->gone_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  D->owed_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  D->prune_at = prune_after(D, 0);
  D->start_ts = cr_now(&D->E->e) * 1e6;
  D->E->e.on_event = on_event;
  return 0;
}

/*
** Set up what the options ask for. Returns 0, or 1 with an error message
** pushed (teardown then undoes what was done). [-0, +(0|1), m]
*/
int lcr_debug_start(lua_State *L, lcr_Engine *E, int opts,
                    const lcr_DebugOpts *o) {
  lcr_Debug *D;
  int rc;
  if (!o->trace && !o->signum) return 0;
  D = lua_newuserdatauv(L, sizeof *D, 0);
  memset(D, 0, sizeof *D);
  D->E = E;
  D->strs_ref = D->gone_ref = D->owed_ref = LUA_NOREF;
  D->last_ts = -1;
  D->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  E->dbg = D;
  if (o->trace && start_trace(L, D, opts, o->limit)) return 1;
  if (o->signum && (rc = start_signal(D, o->signum)) != 0) {
    lua_pushfstring(L, "corral.run: debug_signal: %s", uv_strerror(rc));
    return 1;
  }
  return 0;
}

/* Names of the tasks and groups alive now, whose spawn may have been
** dropped from the ring: {[id] = name}. */
static void push_live_names(lua_State *L, lcr_Engine *E, cr_scope_t *root,
                            int names) {
  cr_scope_t *s = NULL;                /* no recursion: any depth */
  luaL_checkstack(L, 4, "corral: tracing");
  while ((s = cr_scope_walk(&E->e, root, s)) != NULL) {
    int top = lua_gettop(L);
    if (s->is_task) {
      lcr_pushtaskname(L, (lcr_Task *)cr_scope_owner(s));
      lcr_cut_text(L);
      lua_rawseti(L, names, (lua_Integer)s->id);
    } else if (s->is_group && lcr_pushpinned(L, E, s)) {
      lua_getiuservalue(L, -1, 1);
      lcr_cut_text(L);
      lua_rawseti(L, names, (lua_Integer)s->id);
    }
    lua_settop(L, top);
  }
}

/* [E, names] -> push_live_names with the collector stopped. */
static int live_names_k(lua_State *L) {
  push_live_names(L, lua_touserdata(L, 1), NULL, 2);
  return 0;
}

/* The kept records as columns, oldest first, into the table on top. */
static void push_columns(lua_State *L, lcr_Debug *D) {
  static const char *const cols[] = {"ts", "kind", "tid", "pid", "arg",
                                     "arg2", "num", "status", "wait",
                                     "flags", "seq"};
  uint64_t first = D->n > D->limit ? D->n - D->limit : 0, i;
  int c, top = lua_gettop(L);
  for (c = 0; c < 11; c++) lua_createtable(L, (int)(D->n - first), 0);
  for (i = first; i < D->n; i++) {
    const trace_rec *r = &D->ring[i % D->limit];
    lua_Integer k = (lua_Integer)(i - first + 1);
    lua_pushnumber(L, r->ts); lua_rawseti(L, top + 1, k);
    lua_pushinteger(L, r->kind); lua_rawseti(L, top + 2, k);
    lua_pushinteger(L, (lua_Integer)r->tid); lua_rawseti(L, top + 3, k);
    lua_pushinteger(L, (lua_Integer)r->pid); lua_rawseti(L, top + 4, k);
    lua_pushinteger(L, (lua_Integer)r->arg); lua_rawseti(L, top + 5, k);
    lua_pushinteger(L, (lua_Integer)r->arg2); lua_rawseti(L, top + 6, k);
    lua_pushnumber(L, r->num); lua_rawseti(L, top + 7, k);
    lua_pushinteger(L, r->status); lua_rawseti(L, top + 8, k);
    lua_pushinteger(L, r->wait); lua_rawseti(L, top + 9, k);
    lua_pushinteger(L, r->flags); lua_rawseti(L, top + 10, k);
    lua_pushinteger(L, (lua_Integer)i); lua_rawseti(L, top + 11, k);
  }
  for (c = 10; c >= 0; c--) lua_setfield(L, top, cols[c]);
}

/* write(s): append to the trace file. Upvalue: the lcr_Debug. */
static int trace_fwrite(lua_State *L) {
  lcr_Debug *D = lua_touserdata(L, lua_upvalueindex(1));
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  if (fwrite(s, 1, len, D->file) != len) {   /* no position: not the */
    lua_pushstring(L, strerror(errno));        /* program's mistake */
    return lua_error(L);
  }
  return 0;
}

/* Registry key of the standard functions ltrace.lua uses. */
static const char std_key = 0;

/* Keep, when the module loads, the standard functions ltrace.lua uses, as
** they are then (the libraries copied): the trace is written at the end of
** a run, after the program may have removed or replaced globals or their
** fields. `type` is Lua's own.
** (Compiling ltrace.lua itself waits for a trace.) [-0, +0, e] */
void lcr_open_trace(lua_State *L) {
  static const char *const names[] = {"ipairs", "math", "pairs", "pcall",
    "string", "table", "tostring", "utf8", NULL};
  int i;
  lua_createtable(L, 0, 9);
  for (i = 0; names[i] != NULL; i++) {
    if (lua_getglobal(L, names[i]) == LUA_TTABLE) {   /* a library: a copy, */
      lua_newtable(L);                    /* so that its fields stay too */
      lua_pushnil(L);
      while (lua_next(L, -3)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
      }
      lua_remove(L, -2);
    }
    lua_setfield(L, -2, names[i]);
  }
  lua_pushcfunction(L, lcr_rawtype);
  lua_setfield(L, -2, "type");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &std_key);
}

/* ltrace.lua(std, data, write): data = columns + strs + names + facts. */
static int write_trace(lua_State *L) {
  lcr_Debug *D = lua_touserdata(L, 1);
  lcr_Engine *E = D->E;
  if (luaL_loadbuffer(L, (const char *)ltrace_lua, ltrace_lua_len,
                      "=corral.trace") != LUA_OK)
    return lua_error(L);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &std_key);
  lua_newtable(L);
  push_columns(L, D);
  lua_rawgeti(L, LUA_REGISTRYINDEX, D->strs_ref);
  lua_setfield(L, -2, "strs");
  lua_rawgeti(L, LUA_REGISTRYINDEX, D->gone_ref);
  lua_setfield(L, -2, "gone");
  lua_pushnumber(L, D->start_ts);
  lua_setfield(L, -2, "start");
  lua_newtable(L);
  lua_pushlightuserdata(L, E);
  lua_pushvalue(L, -2);
  lcr_call_still(L, live_names_k, 2, 0);   /* the walk allocates */
  lua_setfield(L, -2, "names");
  lua_pushinteger(L, (lua_Integer)(D->n > D->limit ? D->n - D->limit : 0));
  lua_setfield(L, -2, "dropped");
  lua_pushinteger(L, (lua_Integer)D->limit);
  lua_setfield(L, -2, "limit");
  lua_pushstring(L, E->e.clock == CR_CLOCK_VIRTUAL ? "virtual" : "real");
  lua_setfield(L, -2, "clock");
  lua_pushlightuserdata(L, D);
  lua_pushcclosure(L, trace_fwrite, 1);
  lua_call(L, 3, 0);
  return 0;
}

/* Write the trace (if any), stop the signal watcher, free the ring. Never
** raises: a trace that cannot be written is reported on stderr. */
/* The trace could not be written, for `why` (the first reason is kept). */
static void trace_failed(lcr_Engine *E, const char *why) {
  if (E->trace_err[0] == '\0')
    snprintf(E->trace_err, sizeof E->trace_err, "%s", why);
  E->S->trace_failed = 1;
}

/* Tell on stderr why the trace was not written (once), where nothing can
** raise it: the run ended with an error of its own, or the process exits. */
void lcr_trace_report(lcr_Engine *E) {
  const char *who = E->S->progname;
  if (E->trace_err[0] == '\0') return;
  fprintf(stderr, "%s%scorral.run: the trace was not written: %s\n",
          who, who[0] ? ": " : "", E->trace_err);
  E->trace_err[0] = '\0';
}

void lcr_debug_finish(lua_State *L, lcr_Engine *E) {
  lcr_Debug *D = E->dbg;
  if (D == NULL) return;
  E->dbg = NULL;
  E->e.on_event = NULL;
  if (D->file) {
    /* The collector stopped: a finalizer that ran inside the writing (and
    ** printed into a gone reader, or called os.exit) would end the process
    ** with the file half written. */
    int running = lua_gc(L, LUA_GCISRUNNING), st;
    lua_pushcfunction(L, write_trace);
    lua_pushlightuserdata(L, D);
    if (running) lua_gc(L, LUA_GCSTOP);
    st = lua_pcall(L, 1, 0, 0);
    if (running) lua_gc(L, LUA_GCRESTART);
    if (st != LUA_OK) {
      trace_failed(E, lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
      lua_pop(L, 1);
    }
    if (fclose(D->file) != 0) trace_failed(E, strerror(errno));
    D->file = NULL;
  }
  free(D->ring);
  D->ring = NULL;
  luaL_unref(L, LUA_REGISTRYINDEX, D->strs_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, D->gone_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, D->owed_ref);
  if (D->signum) {
    cr_signal_stop(&D->sig);             /* what the signal had comes back */
    uv_close((uv_handle_t *)&D->sig, debug_close_cb);
  }
  else luaL_unref(L, LUA_REGISTRYINDEX, D->ref);
}

/* corral._trace_flush(): write the running run's trace now (internal: the
** command calls it before os.exit, which ends the process without ending
** the run). Tracing stops there. */
int lcr_trace_flush(lua_State *L) {
  lcr_Engine *E = lcr_state(L)->eng;
  if (E != NULL) {
    lcr_debug_finish(L, E);
    lcr_trace_report(E);                 /* the process exits next */
  }
  return 0;
}

/* corral._trace_failed() -> whether the trace of the last run (or of the
** last flush) could not be written; asking forgets it (internal: the
** command's exit status). */
int lcr_trace_failed(lua_State *L) {
  lcr_State *S = lcr_state(L);
  lua_pushboolean(L, S->trace_failed);
  S->trace_failed = 0;
  return 1;
}
