/*
** lcorral.h -- declarations shared by the binding files (lcr_ prefix).
**
** Every Lua-visible function carries the module state as upvalue 1, so no
** C global is needed: the state knows the engine of the running
** corral.run, if any.
*/
#ifndef LCORRAL_H
#define LCORRAL_H

#include <lua.h>
#include <lauxlib.h>
#include "corral.h"

#define LCR_TASK "corral.Task"
#define LCR_GROUP "corral.Group"
#define LCR_SCOPE "corral.Scope"
#define LCR_ENGINE "corral.Engine"

typedef struct lcr_Engine lcr_Engine;

/*
** A map in a registry table whose keys come and go by the thousand (the
** pins of entered scopes, the live Cancelleds). Lua gives a removed key's
** node back only at a rehash, which sizes the table for the keys left:
** with just under 2^k of them, nearly every insert rehashed the whole
** table. A removed key keeps its node as `false` instead, and an insert
** rebuilds the table once the dead outnumber the live (lcorral.c).
*/
typedef struct {
  int ref;                /* registry ref of the table */
  size_t live, dead;      /* keys set, keys removed (false) */
} lcr_Churn;

/*
** A set of pointers (the live Cancelleds, by lua_topointer), in an array
** of open addressing kept in a userdata at registry ref `ref`. The values
** are held elsewhere (their records), so the set holds no reference: a
** Cancelled is collected once its scope exits, and nothing churns a Lua
** table. Removing never allocates. (lerror.c)
*/
typedef struct {
  int ref;
  const void **keys;      /* NULL: free; else a key, or a removed one's mark */
  size_t cap, used, live; /* cap: 0 or a power of two; used: live + removed */
} lcr_PtrSet;

/* Finished tasks' coroutines kept for later spawns, per run. */
#define LCR_POOL_MAX 1024

/* Types whose methods are hot paths: checked by metatable pointer. */
enum { LCR_MT_TASK, LCR_MT_CHAN, LCR_MT_SEM, LCR_MT_LOCK, LCR_MT_EVENT,
       LCR_MT_STREAM, LCR_MT_GROUP, LCR_MT_N };

/* Module state: one per lua_State universe that required corral. */
typedef struct lcr_State {
  const struct lcr_State *self; /* itself, first: tells it cheaply from
                          ** another userdata put in its place */
  lcr_Engine *eng;        /* engine of the running corral.run, or NULL */
  unsigned epoch;         /* bumped by each run; stale objects compare */
  int errors_ref;         /* registry ref: table of error constructors */
  int cancelled_mt_ref;   /* registry ref: metatable of Cancelled */
  const void *cancelled_mt; /* the same, as a pointer for quick checks */
  const void *error_group_mt; /* the ErrorGroup metatable, as a pointer */
  unsigned nomem_texts;   /* texts made with LCR_NOMEM_TEXT in a part that
                          ** memory cut short (lcr_nomem_seen) */
  const void *mt[8];      /* metatables of the hot types (LCR_MT_*) */
  size_t mt_size[8];      /* and the sizes of their userdata */
  int task_main_ref;      /* registry ref: body of every task coroutine */
  int task_mt_ref;        /* registry ref: the Task metatable */
  int msgh_ref;           /* registry ref: lcr_msgh closure */
  int task_msgh_ref;      /* registry ref: lcr_task_msgh closure */
  int self_ref;           /* registry ref: this state (keeps it alive) */
  int tbnames_ref;        /* registry ref: traceback names of C functions */
  uint64_t tbnames_print; /* package.loaded's fingerprint for that cache */
  int reuse_safe;         /* no copy of the original coroutine.running
                          ** was reachable when it was wrapped: the pool
                          ** may be on (see LCR_REUSE_KEY) */
  int trace_failed;       /* the last run's trace could not be written */
  const char *progname;   /* registry[CORRAL_PROGNAME] when loaded (its
                          ** string, anchored in the registry: whole, as
                          ** long as it is), or "" */
  cr_stats_t last;        /* what the last run left when it closed */
  size_t last_refs, last_records;
} lcr_State;

/* Registry key that turns the coroutine pool on (true) or off (false);
** unset, the pool is on if S->reuse_safe (see corral_lua.h). */
#define LCR_REUSE_KEY "corral.reuse_coroutines"

struct lcr_Engine {
  cr_engine_t e;
  lcr_State *S;
  lua_State *L;           /* the thread that called corral.run */
  int anchors_ref;        /* registry ref: a userdata, the array of the
                          ** registry refs of the anchors' pages (live
                          ** tasks by lcr_Task.ref, its coroutine at ref +
                          ** 1, LCR_ANCHOR_PAGE slots a page: ltask.c) */
  int *anchor_pages;      /* that array, npages used of pages_cap */
  int npages, pages_cap;
  int anchors_used;       /* highest slot of the anchors table ever used */
  int anchors_free;       /* first free slot (each holds the next), or 0 */
  struct lcr_Task *root;
  size_t nrefs;           /* tasks anchored (debug_stats "refs") */
  int records_ref;        /* registry ref: cancel records, by handle */
  int lastc_ref;          /* registry ref: the Cancelled pushed last, or
                          ** nil (lerror.c: lcr_pushcancelled's cache) */
  void *lastc_handle;     /* the record it belongs to, or NULL */
  const void *lastc;      /* that Cancelled, as a pointer; live while
                          ** its record is (lcr_release clears both) */
  lcr_PtrSet live;        /* the live Cancelleds (lerror.c) */
  lcr_Churn pinned;       /* entered scope/group userdata, by its scope */
  int pool_ref;           /* registry ref: idle coroutines to reuse */
  int npool;              /* how many (at most pool_max) */
  uint64_t frame_steps;   /* frames tracebacks walked in this run (stats) */
  int pool_max;           /* LCR_POOL_MAX, or 0 when the pool is off */
  int lock_notes;         /* live tasks with a "locks" note (lsync.c) */
  unsigned epoch;
  struct lcr_Debug *dbg;  /* ltrace.c: trace and debug signal, or NULL */
  char trace_err[128];    /* why the trace was not written, or "" (the
                          ** run raises it, or prints it: lcr_trace_report) */
  lua_State *volatile resuming_co; /* the coroutine being resumed, or NULL
                          ** (read by lbusy.c's signal handler) */
  /* The hook (debug.sethook) of the task `yield_hook_of`, put aside while
  ** a bare yield through a copy of coroutine.yield is undone (ltask.c's
  ** bare_yield_hook stands in for it for one instruction, then gives it
  ** back). One slot for the run, not a field per task: a second such yield
  ** before the first task runs again loses the first one's hook (a copy
  ** of coroutine.yield taken before require is rare, two at once rarer). */
  const void *yield_hook_of;  /* a task, compared, never read through */
  lua_Hook yield_hook;
  int yield_hook_mask, yield_hook_count;
  /* I/O objects the collector closed (their __gc found them open), by
  ** CR_IO_* - 1: the testing kit's leak check reports them (ltesting.c) */
  size_t collected_open[3];
  unsigned deadlocked : 1;
  unsigned open : 1;
  unsigned hosted : 1;    /* a C host's engine (lhost.c) */
};

/*
** Task userdata user values. RES holds a finished task's results (nil, the
** one value, or {v1, ..., vn}: see keep_results). AUX is the group's
** userdata (a child of a group) or nil (a root task) until a rarely used
** field is set; then a table holding them all: group, name, tb, tberr
** (lcr_keep_traceback), ftb (the failure's traceback: lcr_task_msgh),
** onerr (the failure while on_error runs), fail_seq,
** ready (lcr_getextra). The coroutine of a live task is in neither:
** the anchors table holds it next to the task (lcr_newchild), where
** debug.setuservalue cannot take it from under the pointer t.data.
*/
enum {
  LCR_UV_RES = 1,         /* a finished task's results */
  LCR_UV_AUX,             /* group userdata, or the table of rare fields */
  LCR_TASK_NUV = LCR_UV_AUX
};

typedef struct lcr_Task {
  cr_task_t t;            /* first member; t.engine is its lcr_Engine's e,
                          ** t.data its coroutine */
  unsigned epoch;
  int ref;                /* in the anchors table while it lives */
  union {
    int top;              /* stack top of its coroutine while parked (a
                          ** value handed to it counts: see lsync.c) */
    int nres;             /* finished: how many results (or 1 error) it
                          ** keeps (see lcr_pushresults) */
  };
  unsigned outcome : 3;   /* a cr_task_status_t */
  unsigned parked : 1;    /* last yield came from corral, not user code */
  unsigned ready_called : 1;
  unsigned resuming : 1;  /* the engine is resuming it (not a foreign resume) */
  unsigned bare_yield : 1;/* a coroutine.yield of its own is being undone */
  unsigned dead : 1;      /* its body is gone (closed, or an escaped error) */
  unsigned exposed : 1;   /* coroutine.running() handed its coroutine out:
                          ** never reused for another task */
  unsigned closed : 1;    /* its coroutine was closed from outside */
  unsigned in_on_error : 1; /* its body failed and its group's on_error runs */
  unsigned ready_dropped : 1; /* g:start child: ready() came with the caller
                          ** cancelled (cr_task_ready): no value */
  unsigned fail_counted : 1; /* its failure is counted by its group: an error
                          ** escaping afterwards is not a second failure */
  unsigned udepth : 18;   /* corral's pcalls around user code open on its
                          ** coroutine (each takes 5 or more of the
                          ** 1,000,000 slots of a Lua stack: < 200,000) */
  unsigned unoted : 1;    /* some of them noted the error unwinding to them
                          ** (see lcr_unwind_leave) */
} lcr_Task;

/* The engine of a task (lcr_Engine's first member is the engine). */
static inline lcr_Engine *lcr_taskengine(const lcr_Task *t) {
  return (lcr_Engine *)t->t.scope.engine;
}

/*
** The task of a task's coroutine, from the coroutine's extra space (set at
** spawn; only read in continuations of corral's own calls, which run only
** on task coroutines, whose userdata their first stack slot keeps alive).
*/
_Static_assert(LUA_EXTRASPACE >= sizeof(void *),
               "corral keeps a pointer in each task coroutine's extra space");
static inline lcr_Task *lcr_cothread_task(lua_State *co) {
  return *(lcr_Task **)lua_getextraspace(co);
}

/* The task's coroutine (the engine task's data). */
static inline lua_State *lcr_taskco(const lcr_Task *t) {
  return (lua_State *)t->t.data;
}

typedef struct lcr_Group {
  cr_group_t g;           /* first member */
  lcr_Engine *E;
  unsigned epoch;
  int nres;
  lua_Integer fail_seq;   /* failures numbered as they happen (the order
                          ** of its ErrorGroup: lcr_errors_add) */
  unsigned interrupted : 1;   /* the body was unwound by a Cancelled */
  unsigned opened : 1;
  unsigned exit_turned : 1;   /* its exit gave other tasks a turn (join_k) */
  unsigned lost_memory : 1;   /* a failure went uncounted for lack of memory:
                              ** its ErrorGroup lists "not enough memory" */
} lcr_Group;

/* Group user values */
enum { LCR_GUV_NAME = 1, LCR_GUV_ONERROR, LCR_GUV_ERRORS, LCR_GUV_CANCEL,
       LCR_GROUP_NUV = LCR_GUV_CANCEL };

/* lcorral.c */
extern const char lcr_state_key;
int lcr_engine_open(lua_State *L, lcr_State *S, lcr_Engine *E,
                    uv_loop_t *loop, cr_clock_t clock);
void lcr_engine_teardown(lua_State *L, lcr_Engine *E);
lcr_State *lcr_state(lua_State *L);
lcr_Engine *lcr_engine(lua_State *L, const char *fname);
void lcr_call_still(lua_State *L, lua_CFunction f, int nargs, int nres);
lcr_Engine *lcr_engine_at(lua_State *L, const char *fname, int level);
/* The task whose coroutine L is, if it is the running engine's running
** task; else NULL. [-0, +0, -] */
lcr_Task *lcr_running_task(lua_State *L);
int lcr_call(lua_State *L);
/* The running task's Cancelled, if L is a task of the running engine and
** that task is cancelled now; else nothing. [-0, +0, v] */
void lcr_checkcancel_running(lua_State *L);
lcr_Task *lcr_checkblocking(lua_State *L, const char *fname);
lcr_Task *lcr_checkblocking_at(lua_State *L, const char *fname, int level);
int lcr_notyieldable(lua_State *L, const char *call, int level);
/* Checked before anything touches the engine: a task parked by a call that
** then cannot yield would run on while the engine thinks it waits, and a
** wake-up would later find it elsewhere (or gone). [-0, +0, v] */
static inline void lcr_checkyieldable(lua_State *L, const char *call,
                                      int level) {
  if (!lua_isyieldable(L)) lcr_notyieldable(L, call, level);
}
double lcr_checkseconds(lua_State *L, int arg);
int lcr_error_at(lua_State *L, int level, const char *fmt, ...);
int lcr_argerror(lua_State *L, int level, int arg, const char *fname,
                 const char *msg);
void lcr_checkopts(lua_State *L, int arg, int npos,
                   const char *const names[]);
int lcr_arg_error(lua_State *L);
/* Arguments past a function's last parameter are refused, never dropped:
** e:wait(5) would wait for ever with its "timeout" unread. nparams counts a
** method's self; a nil passed explicitly counts too (lua_gettop sees it).
** why, if not NULL, says what to write instead. The check is one compare:
** blocking calls make it on every call. Lua methods use the same check and
** words through corral._no_more_args. [-0, +0, v] */
#define LCR_NO_TIMEOUT "a timeout is corral.move_on_after or corral.fail_after " \
  "around the call"
int lcr_extra_arg(lua_State *L, int arg, const char *why);
static inline void lcr_checknargs(lua_State *L, int nparams, const char *why) {
  if (lua_gettop(L) > nparams) lcr_extra_arg(L, nparams + 1, why);
}
int lcr_no_more_args(lua_State *L);
int lcr_alive(lcr_State *S, lcr_Engine *E, unsigned epoch);
/* Slots per page of the anchors: even, so that a task's pair shares one. */
#define LCR_ANCHOR_PAGE 4096
int lcr_pushanchors(lua_State *L, lcr_Engine *E, int ref);
int lcr_pool_count(lua_State *L, lcr_Engine *E);
void lcr_anchor_pages_reserve(lua_State *L, lcr_Engine *E);
void lcr_release_tasks(lua_State *L, lcr_Engine *E);
void lcr_break_abandoned(lua_State *L, lcr_Engine *E);
int lcr_pushtask(lua_State *L, lcr_Engine *E, cr_task_t *t);
int lcr_one_line(lua_State *L);           /* ltree.c */
void lcr_escape_top(lua_State *L);        /* ltree.c: the value on top, escaped */
/* The key at idx as a message shows it: its text (a __tostring that fails
** or raises says so), escaped as names are, pushed. [-0, +1, m] */
const char *lcr_push_key(lua_State *L, int idx);
const char *lcr_tocname(lua_State *L, int idx);
/* What a value's text reads when memory ran out while it was made: kept
** nowhere for good (corral_host_message makes it again next time). */
#define LCR_NOMEM_TEXT "(not enough memory to describe it)"
void lcr_cancel(lua_State *L, lcr_Engine *E, cr_scope_t *s, int reason);
/* lcr_Churn maps: set ([key, value] popped; may allocate), remove
** ([key] popped; never allocates), get ([key] -> its value, or nil). */
void lcr_churn_open(lua_State *L, lcr_Churn *c);
void lcr_churn_set(lua_State *L, lcr_Churn *c);
void lcr_churn_remove(lua_State *L, lcr_Churn *c);
int lcr_churn_get(lua_State *L, const lcr_Churn *c);
void lcr_ptrset_close(lua_State *L, lcr_PtrSet *set);
void lcr_pin(lua_State *L, lcr_Engine *E, int idx, int on);
int lcr_pushpinned(lua_State *L, lcr_Engine *E, cr_scope_t *s);
void lcr_pushfunction(lua_State *L, lcr_State *S, lua_CFunction f);
int lcr_yield(lua_State *L, lcr_Task *t, lua_KContext ctx, lua_KFunction k);
int lcr_reschedule(lua_State *L, lcr_Task *t, lua_KContext ctx,
                   lua_KFunction k);
int lcr_done_now(lua_State *L, lcr_Task *t, int nres, int replay);
int lcr_time_is_up(lua_State *L, lcr_Task *t, int replay);
int lcr_engine_resumed(lua_State *L);
int lcr_reyield(lua_State *L, lua_KContext ctx, lua_KFunction k);
/* The first line of every continuation k given to lcr_yield: a resume
** (status LUA_YIELD) that is not the scheduler's yields straight back
** (see lcorral.c); a direct call (k(L, LUA_OK, ctx)) goes on. */
#define LCR_ENGINE_ONLY(L, status, ctx, k) \
  do { \
    if ((status) == LUA_YIELD && !lcr_engine_resumed(L)) \
      return lcr_reyield((L), (ctx), (k)); \
  } while (0)
void lcr_checkcancel(lua_State *L, lcr_Task *t);
void lcr_checkcancel_at(lua_State *L, lcr_Task *t, double now);
int lcr_cancel_point(lua_State *L);
int lcr_rawtype(lua_State *L);

/* lbusy.c */
void lcr_busy_install(lcr_Engine *E, int stops);
void lcr_busy_remove(lcr_Engine *E);
void lcr_busy_after_resume(lua_State *co);
void lcr_busy_before_resume(lcr_Engine *E, lua_State *co);
void lcr_busy_guard_debug(lua_State *L);
void lcr_intr_install(lcr_Engine *E, lua_State *L, cr_reason_cb cb);
void lcr_intr_remove(lcr_Engine *E);
void lcr_intr_check(lcr_Engine *E);
int lcr_raise(lua_State *L, int err);
const char *lcr_errname(int err);
int lcr_msgh(lua_State *L);
int lcr_task_msgh(lua_State *L);
void lcr_register(lua_State *L, const char *tname, const luaL_Reg *methods,
                  const luaL_Reg *meta);
void lcr_register_mt(lua_State *L, const char *tname, int which,
                     size_t size);
void *lcr_testtype(lua_State *L, const lcr_State *S, int idx, int which);
void *lcr_testudata(lua_State *L, int idx, const char *tname, size_t size);
void *lcr_checkself(lua_State *L, int idx, int which, const char *tname);
int lcr_selferror(lua_State *L, int idx, const char *tname);
void *lcr_testself(lua_State *L, int idx, int which);

/* lerror.c */
void lcr_open_errors(lua_State *L, lcr_State *S);
void lcr_export_errors(lua_State *L, lcr_State *S);
void *lcr_record(lua_State *L, lcr_Engine *E, int reason, cr_task_t *origin);
void lcr_release(cr_engine_t *e, void *handle);
/* The engine's run callback: resume a task's coroutine (ltask.c). */
void lcr_task_run(cr_task_t *ct);
void lcr_pushcancelled(lua_State *L, lcr_Engine *E, cr_scope_t *s);
int lcr_iscancelled(lua_State *L, lcr_State *S, int idx);
int lcr_is_error_group(lua_State *L, lcr_State *S, int idx);
/* What the error at idx is to a scope it unwinds. */
enum { LCR_PLAIN = 0, LCR_LIVE, LCR_DEAD };
int lcr_unwinding(lua_State *L, lcr_Engine *E, int idx);
void lcr_deadcancel(lua_State *L, int idx, const char *why);
extern const char lcr_dead_msg[];
extern const char lcr_stray_msg[];
extern const char lcr_found_tree_msg[];
void lcr_tostring(lua_State *L, int idx);
int lcr_method_error(lua_State *L);   /* corral._method_error */
int lcr_last_level(lua_State *L1, uint64_t *steps); /* L1's deepest level */
/* How many levels of a task's stack are looked at for its innermost line
** of user code (the tree's `where`, a bare yield's): each lua_getstack
** walks `level` frames, and stripped code has no line at any level. */
#define LCR_WHERE_LEVELS 200
/* Registry field: the set of short_src of corral's own Lua modules, which
** _util.lua fills (corral._own_sources). */
#define LCR_OWN_SOURCES "corral.own_sources"
void lcr_checkfunction(lua_State *L, int arg);
int lcr_callable(lua_State *L, int idx);
const char *lcr_push_function_expected(lua_State *L, int idx,
                                       const char *what);
const char *lcr_push_typename(lua_State *L, int idx);
void lcr_checkname(lua_State *L, int arg);
int lcr_optboolean(lua_State *L, int idx, const char *key);
void lcr_nomem_seen(lua_State *L);
void lcr_traceback(lua_State *L, lcr_State *S, lua_State *L1,
                   const char *msg, int level);
void lcr_pushtimeout(lua_State *L, double seconds);
void lcr_pushbarecancelled(lua_State *L, lcr_State *S, const char *source,
                           const char *reason);
void lcr_pusherrorgroup(lua_State *L, lcr_State *S, int errors_idx,
                        const lcr_Group *G);
void lcr_errors_new(lua_State *L);
int lcr_errors_ok(lua_State *L, int idx);
void lcr_errors_add(lua_State *L, int errors_idx, int err_idx,
                    int name_idx, int tb_idx, lua_Integer seq, int full);
extern const luaL_Reg lcr_error_funcs[];

/* ltask.c */
void lcr_getextra(lua_State *L, int task, const char *field);
void lcr_setextra(lua_State *L, int task, const char *field);
/* Corral's pcalls around user code: see ltask.c. */
void lcr_unwind_enter(lua_State *L, lcr_Task *t);
void lcr_unwind_note(lua_State *L, int task, int err);
void lcr_unwind_leave(lua_State *L, lcr_Task *t, int failed);
int lcr_body_ended(lua_State *L, lcr_Task *t, int status);
void lcr_keep_traceback(lua_State *L, int task);
int lcr_kept_is(lua_State *L, int task, int err);
int lcr_isobject(lua_State *L, int idx);
int lcr_scope_passes(lua_CFunction f);
int lcr_with_passes(lua_CFunction f);
void lcr_cut_text(lua_State *L);
size_t lcr_utf8_cut(const char *s, size_t n);
void lcr_gettberr(lua_State *L, int task);
int lcr_pushgroupof(lua_State *L, const lcr_State *S, int task);
void lcr_open_task(lua_State *L);
lcr_Task *lcr_newtask(lua_State *L, lcr_Engine *E, int fn, int nargs);
lcr_Task *lcr_newchild(lua_State *L, lcr_Engine *E, int fn, int nargs,
                       int group, int name);
/* A task made that its group refused: it ends cancelled, unanchored. */
void lcr_drop_task(lua_State *L, lcr_Task *t);
lcr_Task *lcr_checktask(lua_State *L, int idx);
void lcr_pushtaskname(lua_State *L, lcr_Task *t);
int lcr_bare_yield(lua_State *L, lcr_Task *t);
int lcr_raise_bare_yield(lua_State *L);
lcr_Task *lcr_cotask(lua_State *co, const void *task_mt);
cr_task_t *lcr_task_by_id(lcr_Engine *E, uint64_t id);
uint64_t lcr_lock_holder(const cr_sem_t *sem, const lcr_Engine *E);
void lcr_locks_orphaned(lua_State *L, int task, lcr_Task *t);
int lcr_pushresults(lua_State *L, int task, lcr_Task *t);
extern const char lcr_task_mt_key;

/* lgroup.c */
void lcr_open_group(lua_State *L);
int lcr_record_failure(lua_State *L);
void lcr_fail_group(lua_State *L, int gidx, int eidx, int tidx, int fatal);
void lcr_push_group_errors(lua_State *L, int errors_idx, const lcr_Group *G);
extern const luaL_Reg lcr_group_funcs[];

/* lio.c */
void lcr_open_io(lua_State *L);
void lcr_open_io_lua(lua_State *L, int state, int module);
void lcr_open_trace(lua_State *L);                         /* ltrace.c */
int lcr_known_signum(lua_Integer n);                       /* lio.c */
void lcr_pushsigname(lua_State *L, int num);               /* lio.c */
const char *lcr_host_opname(const void *op);              /* lhost.c */
int lcr_host_stop_event(const lcr_Engine *E, const void *o); /* lhost.c */
extern const luaL_Reg lcr_io_funcs[];

/* ltesting.c: the engine hooks behind corral.testing */
void lcr_open_testing(lua_State *L);

/* lsync.c */
void lcr_open_sync(lua_State *L);
void lcr_pushcapacity(lua_State *L, const cr_chan_t *ch);
extern const luaL_Reg lcr_sync_funcs[];

/* lscope.c */
void lcr_open_scope(lua_State *L);
void lcr_scopeopts(lua_State *L, int idx, double now, double *deadline,
                   int *shield);
int lcr_scope_index(lua_State *L, cr_scope_t *s, const char *k);
void lcr_addscopename(lua_State *L, luaL_Buffer *b, int uv,
                      const cr_scope_t *s);
int lcr_scope_newindex(lua_State *L, cr_scope_t *s, int alive,
                       const char *what);
extern const luaL_Reg lcr_scope_funcs[];

/* ltree.c: corral.tree */
void lcr_pushtree(lua_State *L, lcr_Engine *E);
int lcr_pushtree_safe(lua_State *L, lcr_Engine *E);
void lcr_pushwait(lua_State *L, lcr_Engine *E, cr_task_t *t, double now);
extern const luaL_Reg lcr_tree_funcs[];

/* ltrace.c: run's trace, trace_limit and debug_signal options */
typedef struct lcr_DebugOpts {
  int trace;              /* index of the path on the stack, or 0 */
  lua_Integer limit;
  int signum;             /* 0 = none */
} lcr_DebugOpts;
void lcr_debug_opts(lua_State *L, int opts, lcr_DebugOpts *o);
int lcr_debug_start(lua_State *L, lcr_Engine *E, int opts,
                    const lcr_DebugOpts *o);
void lcr_debug_finish(lua_State *L, lcr_Engine *E);
int lcr_debug_signum(const lcr_Engine *E);
void lcr_debug_tree_early(lcr_Engine *E, int arrivals);
void lcr_trace_report(lcr_Engine *E);
int lcr_trace_flush(lua_State *L);
int lcr_trace_failed(lua_State *L);

/* lscan.c */
int lcr_reaches_cfunction(lua_State *L, lua_CFunction f, long budget);

#endif
