/*
** corral_lua.h -- the C host API: run Lua scripts as corral's root task
** inside a C program, and offer the program's own asynchronous operations
** to Lua as blocking, cancellable calls ("awaitables").
**
** Everything hangs off a corral_host_t: one engine, one lua_State, one
** libuv loop (its own or the host's). Nothing is global, so two hosts in
** two threads never meet. Every function is for the thread that runs the
** host's loop, except those marked "any thread".
**
** The life of a host:
**
**   corral_host_new        engine + state (+ loop), `require "corral"` ready
**   corral_host_start*     a function, a chunk or a file becomes the root
**   then one of:
**     corral_host_run      drive the loop until the root finishes
**     corral_host_attach   the host calls uv_run(loop, UV_RUN_DEFAULT);
**                          the root's outcome arrives through a callback
**     corral_host_step     one non-blocking step, for hosts whose main loop
**                          is not libuv: wait on corral_host_fd for
**                          corral_host_timeout ms between steps
**   corral_host_status / corral_host_results / corral_host_message
**   corral_host_close      every handle closed, every reference dropped
**
** Integer results: 0 or a CORRAL_* status on success, a negative cr_errno_t
** or libuv code (cr_strerror) on misuse. A NULL host or op is CR_EINVAL
** (NULL from the functions that return pointers), never a crash.
*/
#ifndef CORRAL_LUA_H
#define CORRAL_LUA_H

#include <lua.h>
#include "corral.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corral_host_s corral_host_t;
typedef struct corral_op_s corral_op_t;

/*
** registry[CORRAL_REUSE_COROUTINES], read as each run starts, decides
** whether corral reuses the coroutines of ended tasks for later ones
** (faster when many short tasks come and go): true on, false off. Unset,
** it is on unless, when corral was loaded, a copy of the original
** coroutine.running from before require "corral" wrapped it was reachable
** in the state: a coroutine identity taken that way would pass to another
** task (a key set when corral was loaded spares that search; unset later,
** the pool is off). The corral command sets it to true before it loads
** anything.
*/
#define CORRAL_REUSE_COROUTINES "corral.reuse_coroutines"

/*
** registry[CORRAL_PROGNAME], a string read when corral is loaded, prefixes
** ("name: ") what corral itself writes on stderr where it cannot raise (a
** trace it could not write while the run failed of its own), as a program
** prefixes its messages. The corral command sets it to "corral".
*/
#define CORRAL_PROGNAME "corral.progname"

/* How a root ended (corral_host_status). */
enum {
  CORRAL_OK = 0,        /* returned: corral_host_results pushes its values */
  CORRAL_ERROR = 1,     /* raised (or failed to load): the error value */
  CORRAL_CANCELLED = 2, /* ended by a Cancelled that reached the root (a
                        ** host cancel, a stop's grace), or returned with
                        ** such a cancel met by no cancellation point: that
                        ** Cancelled; a deadlock is CORRAL_ERROR
                        ** ("corral: deadlock") */
  CORRAL_RUNNING = 3,   /* started, not finished */
  CORRAL_NONE = 4       /* no root was started yet */
};

typedef struct {
  uv_loop_t *loop;      /* NULL: a loop of corral's own */
  lua_State *L;         /* NULL: a fresh state with the standard libraries;
                        ** else the host's, which must outlive the host */
  int virtual_clock;    /* nonzero: corral.now() is virtual (tests) */
} corral_host_opts_t;

/* Called on the loop thread when an attached root finished. */
typedef void (*corral_done_cb)(corral_host_t *h, int status, void *arg);

/* Create a host (opts may be NULL). `require "corral"` in its state gives
** the module whose engine this host drives. */
int corral_host_new(corral_host_t **out, const corral_host_opts_t *opts);
/*
** Tear everything down: a root still running is abandoned (its pending
** awaitables get their cancel callback), every handle is closed and every
** reference dropped; a fresh state is closed, a given one is left open
** without corral's engine. Call it outside the loop's callbacks (after
** uv_run returned): CR_EBUSY from inside a corral callback. On a host's
** loop it runs one uv_run(UV_RUN_NOWAIT) pass so the closes complete.
** It frees h (but after CR_EBUSY): as with free, a later call with h, a
** second close included, is undefined.
*/
int corral_host_close(corral_host_t *h);
lua_State *corral_host_state(corral_host_t *h);
uv_loop_t *corral_host_loop(corral_host_t *h);
cr_engine_t *corral_host_engine(corral_host_t *h);

/*
** Start a root task. corral_host_start takes the function and its nargs
** arguments from the top of corral_host_state(h)'s stack (popped, also on
** failure; a negative nargs is CR_EINVAL and pops nothing). A chunk or file that does not compile ends at once with
** CORRAL_ERROR (the message as its error). A file's chunk gets
** argv[0..argc-1] as `...`. CR_EBUSY while a root runs; CR_ENOMEM (the
** function and arguments popped) when they do not fit on a stack.
*/
int corral_host_start(corral_host_t *h, int nargs);
int corral_host_start_string(corral_host_t *h, const char *chunk,
                             const char *chunkname);
int corral_host_start_file(corral_host_t *h, const char *path, int argc,
                           char **argv);

/* Drive the loop until the root finished; returns its status. */
int corral_host_run(corral_host_t *h);
/*
** Run inside the host's own uv_run(loop, UV_RUN_DEFAULT): prepare and
** check handles run the tasks, the loop never blocks while one is ready,
** and `cb` gets the outcome of each root started while attached (a chunk
** that does not load never starts: corral_host_start* returns
** CORRAL_ERROR and `cb` is not called). The loop stays alive while tasks
** can still be woken; a deadlock ends the root (CORRAL_ERROR), also one
** that cancelling cannot break.
*/
int corral_host_attach(corral_host_t *h, corral_done_cb cb, void *arg);
/* One step that never blocks: CORRAL_RUNNING or the root's status. The
** host's code may wake a task between two steps: a deadlock is declared by
** the step after the one that left every task blocked, if nothing was
** woken in between. */
int corral_host_step(corral_host_t *h);
/* Wait until this fd is readable or the timeout (ms, -1 = none) passed
** (0 while a task is ready or a deadlock is pending). */
int corral_host_fd(corral_host_t *h);
int corral_host_timeout(corral_host_t *h);

int corral_host_status(corral_host_t *h);
/* Push the last root's results (or its error) on L, a thread of the
** host's state; returns how many, or CR_ENOMEM (negative, nothing pushed)
** when they do not fit on L's stack. */
int corral_host_results(corral_host_t *h, lua_State *L);
/* The last root's error as text (an ErrorGroup as its tree), or NULL.
** Valid until the next start or close. */
const char *corral_host_message(corral_host_t *h);
/* The same with the tracebacks corral kept, as the corral command prints
** it: an error the root raised is followed by the root's traceback where
** it was raised, an ErrorGroup shows each failure's; an outcome without
** one (a host cancel, a deadlock, a chunk that did not load) reads as
** corral_host_message. NULL when that is NULL. Valid as long. */
const char *corral_host_traceback(corral_host_t *h);

/*
** Any thread, also while the loop is blocked in I/O: cancel the running
** root (its Cancelled has source "host" and `reason`, copied; may be
** NULL), or stop it: Lua's corral.host.wait_stop() returns at once and the
** root is cancelled after `grace` seconds (<= 0: now). Ignored when no
** root runs; CR_ECLOSED once the host is closing; CR_EINVAL for a NaN
** grace (nothing is asked). The caller keeps h valid
** until these calls returned (join the thread before corral_host_close).
*/
int corral_host_cancel(corral_host_t *h, const char *reason);
int corral_host_stop(corral_host_t *h, double grace, const char *reason);

/* --- awaitables -------------------------------------------------------
**
** A lua_CFunction becomes a blocking, cancellable call of the task that
** calls it:
**
**   static int l_fetch(lua_State *L) {
**     corral_op_t *op = corral_op_new(L, &fetch_type);  // may raise
**     job_t *j = corral_op_data(op);
**     ... start the work; it ends with corral_op_complete(op, status) ...
**     return corral_op_await(L, op);
**   }
**
** Every op is completed exactly once, with 0 or an error code, on the
** loop thread (corral_op_complete) or from any thread
** (corral_op_complete_threadsafe); corral frees it once both the host has
** completed it and the task is done with it. The task gets the values
** `results` pushes (in the task, so it may raise) or, without `results`,
** nothing on 0 and an error "name: message" otherwise.
**
** Cancellation: when the waiting task is cancelled, `cancel` runs (on the
** loop thread) unless a completion was already made (by either call, also
** one a thread made that the loop has not delivered yet, or one the
** callback itself makes), in which case the task gets the results and its
** next cancellation point raises. It
** answers CORRAL_OP_ABANDON (the default when NULL): the task raises
** Cancelled now, and the op is freed when the host completes it; or
** CORRAL_OP_WAIT: the task keeps waiting until the host completes it (an
** error status then raises the Cancelled, 0 returns the results). Any
** other answer counts as CORRAL_OP_ABANDON.
** corral_op_cancelled tells a worker thread to stop early.
*/
enum { CORRAL_OP_ABANDON = 0, CORRAL_OP_WAIT = 1 };

typedef int (*corral_op_results_cb)(lua_State *L, corral_op_t *op,
                                    int status);
typedef int (*corral_op_cancel_cb)(corral_op_t *op);

typedef struct {
  const char *name;             /* in errors ("hash: ...") */
  size_t size;                  /* bytes of corral_op_data */
  corral_op_results_cb results; /* may be NULL */
  corral_op_cancel_cb cancel;   /* may be NULL */
} corral_op_type_t;

/* In a C function called by a task of a host: raises a Lua error outside
** one, and Cancelled if the task is cancelled (nothing is allocated). */
corral_op_t *corral_op_new(lua_State *L, const corral_op_type_t *type);
void *corral_op_data(corral_op_t *op);
uv_loop_t *corral_op_loop(corral_op_t *op);
/* Suspend the task until the op completes: `return corral_op_await(L, op);` */
int corral_op_await(lua_State *L, corral_op_t *op);
/* Complete it, once: corral may free the op as soon as this returns (when
** its task is already done with it), so the op must not be touched after.
** CR_EINVAL for a second completion only while the op still lives. */
int corral_op_complete(corral_op_t *op, int status);
/* Any thread. */
int corral_op_complete_threadsafe(corral_op_t *op, int status);
/* Any thread: 1 once the waiting task was cancelled, else 0; a NULL op
** gives CR_EINVAL (negative), so test `corral_op_cancelled(op) > 0`. */
int corral_op_cancelled(const corral_op_t *op);

/* The module's entry point (package.preload or luaL_requiref).
** corral_host_new puts it in its state's package.preload (unless one is
** there), so the module loads again without corral.so on package.cpath. */
int luaopen_corral(lua_State *L);

#ifdef __cplusplus
}
#endif

#endif
