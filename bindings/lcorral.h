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

/* Types whose methods are hot paths: checked by metatable pointer. */
enum { LCR_MT_TASK, LCR_MT_CHAN, LCR_MT_SEM, LCR_MT_LOCK, LCR_MT_EVENT,
       LCR_MT_STREAM, LCR_MT_GROUP, LCR_MT_N };

/* Module state: one per lua_State universe that required corral. */
typedef struct lcr_State {
  lcr_Engine *eng;        /* engine of the running corral.run, or NULL */
  unsigned epoch;         /* bumped by each run; stale objects compare */
  int errors_ref;         /* registry ref: table of error constructors */
  int cancelled_mt_ref;   /* registry ref: metatable of Cancelled */
  const void *cancelled_mt; /* the same, as a pointer for quick checks */
  const void *mt[8];      /* metatables of the hot types (LCR_MT_*) */
  int task_main_ref;      /* registry ref: body of every task coroutine */
  int msgh_ref;           /* registry ref: lcr_msgh closure */
  cr_stats_t last;        /* what the last run left when it closed */
  size_t last_refs, last_records;
} lcr_State;

struct lcr_Engine {
  cr_engine_t e;
  lcr_State *S;
  lua_State *L;           /* the thread that called corral.run */
  int anchors_ref;        /* registry ref: live tasks, by lcr_Task.ref */
  struct lcr_Task *root;
  size_t nrefs;           /* tasks anchored (debug_stats "refs") */
  int cancels_ref;        /* registry ref: scope id -> {reason, origin} */
  unsigned epoch;
  uv_signal_t sig[2];     /* SIGINT, SIGTERM when run(signals = true) */
  int nsignals;
  int signalled;          /* signal number already delivered, or 0 */
  unsigned deadlocked : 1;
  unsigned open : 1;
};

/* Task userdata user values */
enum {
  LCR_UV_CO = 1,          /* the coroutine */
  LCR_UV_NAME,            /* name string or nil */
  LCR_UV_GROUP,           /* group userdata (children) */
  LCR_UV_EXTRA,           /* rarely used fields: tb, tberr, ready */
  LCR_TASK_NUV = LCR_UV_EXTRA
};

typedef struct lcr_Task {
  cr_task_t t;            /* first member */
  lcr_Engine *E;
  lua_State *co;
  unsigned epoch;
  int nargs;              /* values to pass to the next resume */
  int nres;               /* results (or error) kept on co's stack */
  cr_task_status_t outcome;
  unsigned parked : 1;    /* last yield came from corral, not user code */
  unsigned ready_called : 1;
  unsigned start_waiting : 1; /* a g:start caller is parked on it */
  struct lcr_Task *starter;  /* task waiting for our ready() */
  int ref;                /* in the anchors table while it lives */
} lcr_Task;

typedef struct lcr_Group {
  cr_group_t g;           /* first member */
  lcr_Engine *E;
  unsigned epoch;
  int nres;
  size_t ncancelled;      /* children an enclosing scope's cancel stopped */
  unsigned interrupted : 1;
  unsigned opened : 1;
} lcr_Group;

/* Group user values */
enum { LCR_GUV_NAME = 1, LCR_GUV_ONERROR, LCR_GUV_ERRORS, LCR_GUV_CANCEL,
       LCR_GROUP_NUV = LCR_GUV_CANCEL };

/* lcorral.c */
lcr_State *lcr_state(lua_State *L);
lcr_Engine *lcr_engine(lua_State *L, const char *fname);
lcr_Task *lcr_checkblocking(lua_State *L, const char *fname);
double lcr_checkseconds(lua_State *L, int arg);
int lcr_alive(lcr_State *S, lcr_Engine *E, unsigned epoch);
void lcr_pushanchors(lua_State *L, lcr_Engine *E);
int lcr_pushtask(lua_State *L, lcr_Engine *E, cr_task_t *t);
void lcr_setcancel(lua_State *L, lcr_Engine *E, cr_scope_t *s, int reason,
                   cr_task_t *origin);
void lcr_clearcancel(lua_State *L, lcr_Engine *E, cr_scope_t *s);
int lcr_yield(lua_State *L, lcr_Task *t, lua_KContext ctx, lua_KFunction k);
void lcr_checkcancel(lua_State *L, lcr_Task *t);
int lcr_raise(lua_State *L, int err);
int lcr_msgh(lua_State *L);
void lcr_register(lua_State *L, const char *tname, const luaL_Reg *methods,
                  const luaL_Reg *meta);
void lcr_register_mt(lua_State *L, const char *tname, int which);
void *lcr_checkself(lua_State *L, int idx, int which, const char *tname);
void *lcr_testself(lua_State *L, int idx, int which);

/* A record written by g:stop() as reason: it speaks only for source stop. */
extern const char lcr_stop_mark;

/* lerror.c */
void lcr_open_errors(lua_State *L, lcr_State *S);
void lcr_pushcancelled(lua_State *L, lcr_Engine *E, cr_scope_t *s);
int lcr_iscancelled(lua_State *L, int idx);
lua_Integer lcr_cancelled_scope(lua_State *L, int idx);
void lcr_pushtimeout(lua_State *L, double seconds);
void lcr_pusherrorgroup(lua_State *L, int errors_idx, size_t dropped);
void lcr_errors_new(lua_State *L);
void lcr_errors_add(lua_State *L, int errors_idx, int err_idx,
                    int name_idx, int tb_idx);
extern const luaL_Reg lcr_error_funcs[];

/* ltask.c */
void lcr_getextra(lua_State *L, int task, const char *field);
void lcr_setextra(lua_State *L, int task, const char *field);
void lcr_open_task(lua_State *L);
lcr_Task *lcr_newtask(lua_State *L, lcr_Engine *E, int fn, int nargs);
lcr_Task *lcr_checktask(lua_State *L, int idx);
void lcr_pushtaskname(lua_State *L, lcr_Task *t);

/* lgroup.c */
void lcr_open_group(lua_State *L);
extern const luaL_Reg lcr_group_funcs[];

/* lio.c */
void lcr_open_io(lua_State *L);
void lcr_open_io_lua(lua_State *L, int state, int module);
extern const luaL_Reg lcr_io_funcs[];

/* ltesting.c: the engine hooks behind corral.testing */
void lcr_open_testing(lua_State *L);

/* lsync.c */
void lcr_open_sync(lua_State *L);
extern const luaL_Reg lcr_sync_funcs[];

/* lscope.c */
void lcr_open_scope(lua_State *L);
void lcr_scopeopts(lua_State *L, int idx, double now, double *deadline,
                   int *shield);
int lcr_scope_index(lua_State *L, cr_scope_t *s, const char *k);
int lcr_scope_newindex(lua_State *L, cr_scope_t *s, int alive);
extern const luaL_Reg lcr_scope_funcs[];

#endif
