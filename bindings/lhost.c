/*
** lhost.c -- the C host API (corral_lua.h): a host owns an engine, a
** lua_State and a loop, runs a root task in one of three ways (to the
** end, attached to the host's uv_run, stepped), takes cancels from any
** thread, and offers its own operations to Lua as awaitables.
**
** Threads meet in one place, the hub: a mutex-protected mailbox (ops
** completed from other threads, cancel and stop requests) drained on the
** loop thread by a uv_async_t. The hub is reference-counted by the host
** and by every op alive, so an op completed after its host closed still
** finds it.
*/
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <lualib.h>
#include "lcorral.h"
#include "corral_lua.h"

/* Registry key of the host of a state (a light userdata). */
static const char host_key = 0;

typedef struct hub_s {
  uv_mutex_t mu;
  int refs;                 /* the host + every op alive */
  int closed;               /* the host is closing: nothing is delivered */
  int refusing;             /* corral_host_close began: no cancel or stop */
  corral_op_t *posted;      /* completed from other threads (LIFO) */
  int req;                  /* a mask of REQ_CANCEL, REQ_STOP (merged) */
  double grace;
  /* Reasons (C strings, or NULL): the first stop's, the earliest grace's
  ** stop's when another (NULL: the first's), the first cancel's. */
  char *reasons[3];
  uv_async_t *async;
} hub_t;

enum { REQ_CANCEL = 1, REQ_STOP = 2 };
enum { R_STOP, R_GRACE, R_CANCEL };

struct corral_op_s {
  hub_t *hub;
  corral_host_t *host;      /* loop thread; NULL once the host closed */
  const corral_op_type_t *type;
  lcr_Task *task;           /* parked on it */
  cr_queue_t link;          /* in host->ops while the host lives */
  corral_op_t *next;        /* in hub->posted */
  /* under hub->mu: */
  int status;
  unsigned char completed, released;
  /* loop thread: */
  unsigned char delivered, waiting, cancel_called, action;
  unsigned char awaited;    /* corral_op_await took it (once per op) */
  atomic_int cancelled;
  union { max_align_t a; void *p; } data[];
};

struct corral_host_s {
  lcr_Engine E;             /* first: the engine callbacks' lcr_Engine */
  lcr_State *S;
  lua_State *L;             /* the host's state */
  lua_State *T;             /* ours: engine callbacks use its stack */
  int T_ref, root_ref, msg_ref, stop_ref, str_ref;
  int part_ref;             /* a message memory cut short in a part */
  int cancel_ref;           /* the cancel's reason, for the Cancelled */
  int grace_ref;            /* else the reason of the stop ending first */
  int tree_ref;             /* the task tree when a deadlock was found */
  int tb_ref;               /* corral_host_traceback's text, once made */
  int spare_ref;            /* a registry slot kept for abandon_root */
  lcr_Task *root;
  unsigned own_state : 1, attached : 1, in_cb : 1, stopping : 1;
  unsigned closing : 1;     /* in corral_host_close (it runs the loop) */
  cr_pass_fn pass;          /* attached: the engine's pass, for pass_k */
  unsigned driving : 1;     /* in corral_host_run or _step: a callback of
                            ** the host's that the loop runs meanwhile
                            ** must not drive, attach or close it */
  unsigned describing : 1;  /* corral_host_message runs the error's
                            ** __tostring: the root's outcome must stay */
  unsigned all_blocked : 1; /* stepped: the last step left every task
                            ** blocked, a deadlock not declared yet */
  int status;
  hub_t *hub;
  uv_async_t async;
  int async_open;
  cr_queue_t ops;
  size_t nwaiting;          /* ops a task waits on, and tasks in wait_stop:
                            ** the async keeps the loop alive meanwhile */
  int stop_waiters;         /* tasks parked in corral.host.wait_stop */
  corral_done_cb done;
  void *done_arg;
  cr_timer_t stop_timer;
  cr_event_t stop_event;
};

/* --- lists and the hub -------------------------------------------------- */

static void q_init(cr_queue_t *q) { q->next = q->prev = q; }
static void q_insert(cr_queue_t *head, cr_queue_t *q) {
  q->prev = head->prev;
  q->next = head;
  head->prev->next = q;
  head->prev = q;
}
static void q_remove(cr_queue_t *q) {
  q->prev->next = q->next;
  q->next->prev = q->prev;
  q_init(q);
}

static void hub_unref(hub_t *hub) {
  int last, i;
  uv_mutex_lock(&hub->mu);
  last = --hub->refs == 0;
  uv_mutex_unlock(&hub->mu);
  if (!last) return;
  uv_mutex_destroy(&hub->mu);
  for (i = 0; i < 3; i++) free(hub->reasons[i]);
  free(hub);
}

static void op_free(corral_op_t *op) {
  hub_t *hub = op->hub;
  q_remove(&op->link);
  free(op);
  hub_unref(hub);
}

static int op_completed(corral_op_t *op) {
  int c;
  uv_mutex_lock(&op->hub->mu);
  c = op->completed;
  uv_mutex_unlock(&op->hub->mu);
  return c;
}

/* The async keeps the loop alive only while a task waits on an op. */
static void waiting_add(corral_host_t *h, int d) {
  if (d > 0 && h->nwaiting++ == 0) uv_ref((uv_handle_t *)&h->async);
  if (d < 0 && --h->nwaiting == 0) uv_unref((uv_handle_t *)&h->async);
}

/*
** A task in wait_stop waits for the host, which may stop the root from any
** thread: like a task waiting on an op, it keeps the host's async (and so
** the loop) alive, instead of being a deadlock. Counted while parked.
*/
static void stop_waiting(corral_host_t *h, int d) {
  h->stop_waiters += d;
  waiting_add(h, d);
}

/* A completed op reaches the loop: wake its task, or free it if the task
** is gone, or leave it for corral_op_await (completed before it). */
static void op_deliver(corral_op_t *op) {
  int released;
  op->delivered = 1;
  if (op->waiting) {
    op->waiting = 0;
    waiting_add(op->host, -1);
    cr_task_wake(&op->task->t, 0);
    return;
  }
  uv_mutex_lock(&op->hub->mu);
  released = op->released;
  uv_mutex_unlock(&op->hub->mu);
  if (released) op_free(op);
}

/* The task is done with the op: free it if the host is too. */
static void op_release(corral_op_t *op) {
  int done;
  uv_mutex_lock(&op->hub->mu);
  op->released = 1;
  done = op->completed && op->delivered;
  uv_mutex_unlock(&op->hub->mu);
  if (done) op_free(op);
}

/* --- awaitables ------------------------------------------------------- */

static corral_host_t *host_of(lua_State *L) {
  corral_host_t *h;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &host_key);
  h = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return h;
}

/* The task that may block here, or an error naming the call. */
static lcr_Task *host_task(lua_State *L, corral_host_t *h, const char *fn) {
  lcr_Task *t;
  if (h == NULL || h->S->eng != &h->E)
    luaL_error(L, "%s: called outside a corral host", fn);
  t = (lcr_Task *)h->E.e.current;
  if (t == NULL || lcr_taskco(t) != L)
    luaL_error(L, "%s: called outside a corral task (it blocks: call it "
               "from a task of the host's root, not from a coroutine of "
               "your own)", fn);
  lcr_checkyieldable(L, fn, 1);
  return t;
}

static const char *op_name(const corral_op_type_t *type) {
  return type && type->name ? type->name : "awaitable";
}

/* Whether o is the event corral.host.wait_stop waits on in E, for the
** task tree (ltree.c): a host's engine is the first member of its host. */
int lcr_host_stop_event(const lcr_Engine *E, const void *o) {
  return E->hosted && o == &((const corral_host_t *)(const void *)E)->stop_event;
}

/* The name of the op a task waits on, for the task tree (ltree.c). */
const char *lcr_host_opname(const void *op) {
  return op_name(((const corral_op_t *)op)->type);
}

corral_op_t *corral_op_new(lua_State *L, const corral_op_type_t *type) {
  corral_host_t *h = host_of(L);
  lcr_Task *t = host_task(L, h, op_name(type));
  corral_op_t *op;
  if (type == NULL) luaL_error(L, "corral_op_new: type is NULL");
  lcr_checkcancel(L, t);
  op = type->size <= SIZE_MAX - sizeof *op ? calloc(1, sizeof *op + type->size)
                                           : NULL;
  if (op == NULL) {
    lua_pushliteral(L, "not enough memory");
    lua_error(L);
  }
  op->hub = h->hub;
  op->host = h;
  op->type = type;
  atomic_init(&op->cancelled, 0);
  uv_mutex_lock(&h->hub->mu);
  h->hub->refs++;
  uv_mutex_unlock(&h->hub->mu);
  q_insert(&h->ops, &op->link);
  return op;
}

void *corral_op_data(corral_op_t *op) { return op ? op->data : NULL; }

uv_loop_t *corral_op_loop(corral_op_t *op) {
  return op && op->host ? op->host->E.e.loop : NULL;
}

int corral_op_cancelled(const corral_op_t *op) {
  if (op == NULL) return CR_EINVAL;
  return atomic_load(&((corral_op_t *)op)->cancelled);
}

/* The host's cancel callback, as a callback: the host API refuses to step,
** run or close the host from inside it (CR_EBUSY). */
static int op_cancel(corral_op_t *op) {
  corral_host_t *h = op->host;
  unsigned was = h ? h->in_cb : 0;
  int action;
  if (h) h->in_cb = 1;
  action = op->type->cancel(op);
  if (h) h->in_cb = was;
  return action;
}

/*
** A cancel reached the task waiting on op. A completion already made
** wins; else the host's cancel callback decides (once): abandon the op
** (the task raises now) or keep waiting for the host's completion.
*/
static cr_abort_t op_abort(cr_task_t *t) {
  corral_op_t *op = (corral_op_t *)t->wait_obj;
  if (op_completed(op)) return CR_ABORT_LATE;
  atomic_store(&op->cancelled, 1);
  if (!op->cancel_called) {
    op->cancel_called = 1;
    /* the task waits while the callback runs: one that cancels a scope
    ** the task is in aborts the wait again, from inside, and must not
    ** give up (and so free) the op under the callback */
    op->action = CORRAL_OP_WAIT;
    /* (anything but CORRAL_OP_WAIT abandons: compared before narrowing,
    ** so that 257 is not read as WAIT) */
    op->action = op->type->cancel && op_cancel(op) == CORRAL_OP_WAIT
                 ? CORRAL_OP_WAIT : CORRAL_OP_ABANDON;
  }
  if (op_completed(op) || op->action == CORRAL_OP_WAIT) return CR_ABORT_LATE;
  op->waiting = 0;
  waiting_add(op->host, -1);
  op->task = NULL;
  uv_mutex_lock(&op->hub->mu);
  op->released = 1;
  uv_mutex_unlock(&op->hub->mu);
  return CR_ABORT_DONE;
}

static int results_k(lua_State *L) {
  corral_op_t *op = lua_touserdata(L, 1);
  lua_pop(L, 1);
  if (op->type->results) {               /* (nothing else on this stack) */
    int n = op->type->results(L, op, op->status);
    if (n < 0 || n > lua_gettop(L))
      return luaL_error(L, "%s: its results callback returned %d, with %d "
                        "values pushed", op_name(op->type), n, lua_gettop(L));
    return n;
  }
  if (op->status != 0)
    return luaL_error(L, "%s: %s", op_name(op->type), cr_strerror(op->status));
  return 0;
}

/* The op was delivered to the task: its results, or its error. */
static int op_finish(lua_State *L, lcr_Task *t, corral_op_t *op) {
  int top, rc;
  /* An error completion the host made because of the cancel (its cancel
  ** callback ran and said wait) is the cancel's; one delivered before any
  ** cancel reached the op wins, as a result does. */
  if (op->status != 0 && op->cancel_called && cr_task_cancelled(&t->t)) {
    op_release(op);         /* the host gave up because of the cancel */
    lcr_checkcancel(L, t);
  }
  top = lua_gettop(L);
  lua_pushcfunction(L, results_k);
  lua_pushlightuserdata(L, op);
  rc = lua_pcall(L, 1, LUA_MULTRET, 0);
  op_release(op);
  if (rc != LUA_OK) return lua_error(L);
  return lua_gettop(L) - top;
}

static int await_k(lua_State *L, int status, lua_KContext ctx) {
  LCR_ENGINE_ONLY(L, status, ctx, await_k);
  corral_op_t *op = (corral_op_t *)ctx;
  corral_host_t *h = host_of(L);
  lcr_Task *t = host_task(L, h, "corral_op_await");
  (void)status;
  if (t->t.wake_status == CR_ECANCELED) {
    lcr_checkcancel(L, t);
    return luaL_error(L, "%s: cancelled", op_name(op->type));
  }
  return op_finish(L, t, op);
}

int corral_op_await(lua_State *L, corral_op_t *op) {
  corral_host_t *h = host_of(L);
  lcr_Task *t;
  if (op == NULL) return luaL_error(L, "corral_op_await: op is NULL");
  t = host_task(L, h, op_name(op->type));
  if (op->host != h)        /* its waits are counted, and cancelled, there */
    return luaL_error(L, "%s: this op belongs to %s (corral_op_await takes "
                      "an op of the host whose task awaits it)",
                      op_name(op->type), op->host ? "another host"
                      : "a host that has closed");
  if (op->awaited)          /* its first waiter would never be woken */
    return luaL_error(L, "%s: this op is already awaited (corral_op_await "
                      "takes each op once)", op_name(op->type));
  op->awaited = 1;
  if (op->delivered) return op_finish(L, t, op);
  op->task = t;
  op->waiting = 1;
  waiting_add(h, 1);
  /* A task cancelled already has its wait aborted by the park itself; a
  ** deadline that passed since corral_op_new but has not fired yet is
  ** fired here, and its cancel aborts the wait as any cancel does. */
  cr_task_park_on(&t->t, op_abort, CR_WAIT_HOST, op);
  cr_engine_poll_deadlines(cr_task_engine(&t->t));
  return lcr_yield(L, t, (lua_KContext)op, await_k);
}

int corral_op_complete(corral_op_t *op, int status) {
  int closed, released;
  if (op == NULL) return CR_EINVAL;
  uv_mutex_lock(&op->hub->mu);
  if (op->completed) {
    uv_mutex_unlock(&op->hub->mu);
    return CR_EINVAL;
  }
  op->completed = 1;
  op->status = status;
  closed = op->hub->closed;
  released = op->released;
  uv_mutex_unlock(&op->hub->mu);
  if (!closed)
    op_deliver(op);
  else if (released)
    op_free(op);
  return 0;
}

int corral_op_complete_threadsafe(corral_op_t *op, int status) {
  hub_t *hub;
  int free_now = 0;
  if (op == NULL) return CR_EINVAL;
  hub = op->hub;
  uv_mutex_lock(&hub->mu);
  if (op->completed) {
    uv_mutex_unlock(&hub->mu);
    return CR_EINVAL;
  }
  op->completed = 1;
  op->status = status;
  if (hub->closed) {
    free_now = op->released;
  } else {
    op->next = hub->posted;
    hub->posted = op;
    uv_async_send(hub->async);
  }
  uv_mutex_unlock(&hub->mu);
  if (free_now) op_free(op);
  return 0;
}

/*
** The host gives up on every op (a root abandoned, or the host closing):
** a waiting task's op gets its cancel callback, and every op is released,
** freed now if completed and delivered, else when the host completes it.
*/
static void ops_abandon(corral_host_t *h, int closing) {
  cr_queue_t todo;
  q_init(&todo);
  if (h->ops.next != &h->ops) {           /* take the list: a cancel
                                          ** callback may complete (and so
                                          ** free) any op still in it */
    todo.next = h->ops.next;
    todo.prev = h->ops.prev;
    todo.next->prev = todo.prev->next = &todo;
    q_init(&h->ops);
  }
  while (todo.next != &todo) {
    corral_op_t *op = (corral_op_t *)((char *)todo.next -
                                      offsetof(corral_op_t, link));
    q_remove(&op->link);
    if (!closing) q_insert(&h->ops, &op->link);
    if (op->waiting) {
      op->waiting = 0;
      waiting_add(h, -1);
      atomic_store(&op->cancelled, 1);
      if (!op->cancel_called && op->type->cancel && !op_completed(op)) {
        op->cancel_called = 1;
        op_cancel(op);
      }
    }
    if (closing) op->host = NULL;
    /* An op no task awaited yet stays the host's: a later root may await
    ** it (a root given up on is not the end of its ops); close releases
    ** it. */
    if (closing || op->awaited) op_release(op);
  }
}

/* --- outcome ------------------------------------------------------------ */

static void unref(lua_State *L, int *ref) {
  luaL_unref(L, LUA_REGISTRYINDEX, *ref);
  *ref = LUA_NOREF;
}

/* msg followed by the tree kept at tree_ref (LUA_NOREF: none), as
** corral.run reports a deadlock. [-0, +1, m] */
static void push_with_tree(lua_State *T, int tree_ref, const char *msg) {
  lua_pushstring(T, msg);
  if (tree_ref == LUA_NOREF ||
      lua_rawgeti(T, LUA_REGISTRYINDEX, tree_ref) != LUA_TSTRING) {
    if (tree_ref != LUA_NOREF) lua_pop(T, 1);
    lua_pushliteral(T, "(the tree could not be captured)\n");
  }
  lua_concat(T, 2);
}

/* The task tree now, kept at *ref. [-0, +0, m] */
static void keep_tree(corral_host_t *h, int *ref) {
  unref(h->T, ref);
  if (lcr_pushtree_safe(h->T, &h->E))
    *ref = luaL_ref(h->T, LUA_REGISTRYINDEX);
}

/* The root finished (or was given up on): its status, and the done
** callback when attached. */
static void root_done(corral_host_t *h) {
  lcr_Task *r = h->root;
  int st = r->outcome == CR_TASK_DONE ? CORRAL_OK
         : r->outcome == CR_TASK_CANCELLED ? CORRAL_CANCELLED : CORRAL_ERROR;
  if (h->msg_ref == LUA_NOREF && h->E.deadlocked && st != CORRAL_ERROR) {
    push_with_tree(h->T, h->tree_ref, "corral: deadlock: every task was "
                   "blocked and nothing could wake them (they were "
                   "cancelled). The tasks when it was found:\n");
    h->msg_ref = luaL_ref(h->T, LUA_REGISTRYINDEX);
  }
  if (h->msg_ref != LUA_NOREF) st = CORRAL_ERROR;
  cr_timer_stop(&h->E.e, &h->stop_timer);
  /* a root's signals are caught until it ends (as in corral.run): those
  ** that had the default action get it back between roots (see
  ** cr_signal_release_idle for the others) */
  cr_signal_release_idle(&h->E.e);
  while (h->stop_waiters > 0) stop_waiting(h, -1);  /* never resumed */
  h->stopping = 0;
  h->status = st;
  if (h->attached) {
    cr_engine_detach(&h->E.e);
    if (h->done) {
      h->in_cb = 1;
      h->done(h, st, h->done_arg);
      h->in_cb = 0;
    }
  }
}

/*
** Give up on the root with the error on top of T (popped). This runs
** outside any pcall, often because memory ran out: luaL_ref may grow the
** registry, and an error here would reach Lua's panic (abort). The error
** goes in the slot start_k reserved for it instead (setting a key that
** exists never allocates); every running root has one, and it is given up
** on once.
*/
static void abandon_root(corral_host_t *h) {
  unref(h->T, &h->msg_ref);
  if (h->spare_ref != LUA_NOREF) {
    lua_rawseti(h->T, LUA_REGISTRYINDEX, h->spare_ref);
    h->msg_ref = h->spare_ref;
    h->spare_ref = LUA_NOREF;
  } else {
    lua_pop(h->T, 1);
  }
  /* the tasks first: none is left parked on an op that ops_abandon frees,
  ** for a tree that a cancel callback it runs may take */
  cr_engine_abandon(&h->E.e);
  ops_abandon(h, 0);
  lcr_break_abandoned(h->T, &h->E);     /* as a run's abandoned tasks */
  root_done(h);
}

/* Whether the text on top of T is the tree kept at h->tree_ref. */
static int same_tree(corral_host_t *h, lua_State *T) {
  int same;
  lua_rawgeti(T, LUA_REGISTRYINDEX, h->tree_ref);
  same = lua_rawequal(T, -1, -2);
  lua_pop(T, 1);
  return same;
}

/* Nothing can wake the tasks: cancel the root so every cleanup runs; if
** that does not end it either, give up on it. [-0, +0, m] */
static void deadlock(corral_host_t *h) {
  lua_State *T = h->T;
  lcr_Engine *E = &h->E;
  int found;
  if (!E->deadlocked) {
    E->deadlocked = 1;
    keep_tree(h, &h->tree_ref);
    lua_pushliteral(T, "deadlock: every task is blocked and nothing can "
                       "wake them");
    cr_scope_cancel(&h->root->t.scope, CR_SRC_DEADLOCK, 0,
                    lcr_record(T, E, -1, NULL));
    lua_pop(T, 1);
    /* The cancel woke a task: its cleanup runs. Woke none (every task
    ** waits under a shield): nothing would report the deadlock again
    ** (attached, the host's uv_run simply returns), so give up now. */
    if (cr_engine_has_ready(&E->e)) return;
  }
  found = h->tree_ref;                 /* the tree when it was found */
  h->tree_ref = LUA_NOREF;
  keep_tree(h, &h->tree_ref);
  push_with_tree(T, h->tree_ref, "corral: deadlock: every task is blocked "
                 "and nothing can wake them (even after cancelling); still "
                 "blocked:\n");
  if (found != LUA_NOREF &&
      lua_rawgeti(T, LUA_REGISTRYINDEX, found) == LUA_TSTRING &&
      !same_tree(h, T)) {              /* (the same: nothing unwound) */
    lua_pushstring(T, lcr_found_tree_msg);
    lua_insert(T, -2);
    lua_concat(T, 3);
  } else if (found != LUA_NOREF) {
    lua_pop(T, 1);
  }
  unref(T, &found);
  abandon_root(h);
}

static void after_step(corral_host_t *h, int rc) {
  if (h->status != CORRAL_RUNNING) return;
  if (h->root->t.finished) {
    root_done(h);
  } else if (rc == CR_EDEADLOCK) {
    deadlock(h);
  } else if (rc < 0) {
    lua_pushstring(h->T, cr_strerror(rc));
    abandon_root(h);
  }
}

static void async_cb(uv_async_t *a);

/*
** What the hub holds (a cancel or stop, ops completed by threads) is
** delivered before each pass, not only when libuv runs the async: a pass
** polls the loop only while something referenced keeps it alive, and the
** async is not (it would hide a deadlock), so a root that is busy (it
** only checkpoints) or on the virtual clock (no timer armed) never heard
** of a host's cancel.
*/
static void hub_deliver(corral_host_t *h) {
  int pending;
  uv_mutex_lock(&h->hub->mu);
  pending = h->hub->req != 0 || h->hub->posted != NULL;
  uv_mutex_unlock(&h->hub->mu);
  if (pending) async_cb(&h->async);
}

/*
** One pass of the engine. Stepped, the host's own code may wake a task
** between two steps (ch:try_send, e:set): every task blocked at the end of
** a step is no deadlock yet. It is one when the next step finds nothing
** woken since (the host had its turn and did nothing) and every task still
** blocked. Run to the end, nothing but the loop's handles can wake a task.
*/
static int step_once(corral_host_t *h, int block) {
  int woken = cr_engine_has_ready(&h->E.e);
  int rc = cr_engine_step(&h->E.e, block);
  if (block || rc != CR_EDEADLOCK) {
    h->all_blocked = 0;
    return rc;
  }
  if (h->all_blocked && !woken) return CR_EDEADLOCK;
  h->all_blocked = 1;
  return 1;
}

/* [h, block]: step until the root finished (block) or once. */
static int drive_k(lua_State *T) {
  corral_host_t *h = lua_touserdata(T, 1);
  int block = (int)lua_tointeger(T, 2);
  do {
    hub_deliver(h);
    if (h->status != CORRAL_RUNNING) break;
    after_step(h, step_once(h, block));
  } while (block && h->status == CORRAL_RUNNING);
  return 0;
}

/* [h, rc]: the attached engine found nothing to run. */
static int attached_k(lua_State *T) {
  corral_host_t *h = lua_touserdata(T, 1);
  after_step(h, (int)lua_tointeger(T, 2));
  return 0;
}

/* Call f [h, arg] protected on T; an error gives up on the root. */
static void protected(corral_host_t *h, lua_CFunction f, int arg) {
  lua_State *T = h->T;
  lua_pushcfunction(T, f);
  lua_pushlightuserdata(T, h);
  lua_pushinteger(T, arg);
  if (lua_pcall(T, 2, 0, 0) != LUA_OK) {
    if (h->status == CORRAL_RUNNING)
      abandon_root(h);
    else
      lua_pop(T, 1);
  }
}

/* [h, 0]: the attached engine's pass over its ready tasks, after what the
** hub holds (as drive_k delivers it before each step). */
static int pass_k(lua_State *T) {
  corral_host_t *h = lua_touserdata(T, 1);
  hub_deliver(h);
  h->pass(&h->E.e);
  return 0;
}

/* Attached, each pass runs protected as corral_host_run's steps do: memory
** that runs out in a task's bookkeeping gives up on the root instead of
** reaching Lua's panic handler through the host's loop. */
static void host_guard(cr_engine_t *e, cr_pass_fn pass) {
  corral_host_t *h = (corral_host_t *)e;
  h->pass = pass;
  protected(h, pass_k, 0);
}

static void on_attach(cr_engine_t *e, int rc) {
  corral_host_t *h = (corral_host_t *)e;
  if (h->status != CORRAL_RUNNING) {
    cr_engine_detach(e);
    return;
  }
  protected(h, attached_k, rc);
}

/* Whether a host call comes from inside the engine's own work: one of its
** tasks (an awaitable's C function calling back), a corral callback, a
** close under way, or a host callback that run or step is driving. Driving
** or closing the engine from there would re-enter it, or free it under
** the code that runs it. */
static int inside(corral_host_t *h) {
  return h->in_cb || h->closing || h->driving || h->E.e.current != NULL;
}

/* Run, step and attach also refuse while attached: the host's loop drives
** the engine then. */
static int busy(corral_host_t *h) { return h->attached || inside(h); }

/* Run or step the engine: block = run to the end, else one pass. */
static int drive(corral_host_t *h, int block) {
  if (h == NULL) return CR_EINVAL;
  if (busy(h)) return CR_EBUSY;
  if (h->status == CORRAL_RUNNING) {
    h->driving = 1;
    protected(h, drive_k, block);
    h->driving = 0;
  }
  return h->status;
}

int corral_host_run(corral_host_t *h) { return drive(h, 1); }

int corral_host_step(corral_host_t *h) { return drive(h, 0); }

int corral_host_attach(corral_host_t *h, corral_done_cb cb, void *arg) {
  if (h == NULL) return CR_EINVAL;
  if (busy(h)) return CR_EBUSY;
  h->done = cb;
  h->done_arg = arg;
  h->attached = 1;
  if (h->status == CORRAL_RUNNING) return cr_engine_attach(&h->E.e, on_attach);
  return 0;
}

int corral_host_fd(corral_host_t *h) {
  return h ? cr_engine_backend_fd(&h->E.e) : CR_EINVAL;
}

int corral_host_timeout(corral_host_t *h) {
  if (h == NULL) return CR_EINVAL;
  if (h->status != CORRAL_RUNNING) return -1;
  /* a deadlock pending: the next step declares it, unless the host wakes
  ** a task before it */
  return h->all_blocked ? 0 : cr_engine_timeout(&h->E.e);
}

int corral_host_status(corral_host_t *h) { return h ? h->status : CR_EINVAL; }
lua_State *corral_host_state(corral_host_t *h) { return h ? h->L : NULL; }
uv_loop_t *corral_host_loop(corral_host_t *h) {
  return h ? h->E.e.loop : NULL;
}
cr_engine_t *corral_host_engine(corral_host_t *h) {
  return h ? &h->E.e : NULL;
}

/* Whether L is a thread of the host's state (L has room for a value). */
static int same_state(corral_host_t *h, lua_State *L) {
  lua_State *a, *b;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  a = lua_tothread(L, -1);
  lua_pop(L, 1);
  lua_rawgeti(h->T, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  b = lua_tothread(h->T, -1);
  lua_pop(h->T, 1);
  return a == b;
}

int corral_host_results(corral_host_t *h, lua_State *L) {
  lcr_Task *r;
  int n;
  if (h == NULL || L == NULL) return CR_EINVAL;
  if (h->T == NULL) return 0;       /* closing (a __gc): its outcome is gone */
  if (!lua_checkstack(L, 1)) return CR_ENOMEM;     /* (see below) */
  if (!same_state(h, L)) return CR_EINVAL;
  r = h->root;
  if (h->status == CORRAL_NONE || h->status == CORRAL_RUNNING) return 0;
  if (h->msg_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->msg_ref);
    return 1;
  }
  /* (a start that failed with memory too short to keep its error) */
  if (r == NULL) return 0;
  /* the root, then lcr_pushresults asks for nres + 1 more: room it has
  ** only if none of it must be allocated there (outside a pcall) */
  if (!lua_checkstack(L, r->nres + 3)) return CR_ENOMEM;  /* do not fit */
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->root_ref);
  n = lcr_pushresults(L, -1, r);
  lua_remove(L, -n - 1);
  return n;
}

/* [h, _]: make the message and keep it: whole (str_ref), or the first one
** memory cut short in a part (part_ref). */
static int message_k(lua_State *T) {
  corral_host_t *h = lua_touserdata(T, 1);
  unsigned nomem = h->E.S->nomem_texts;
  lua_settop(T, 0);
  if (h->root == NULL && h->msg_ref == LUA_NOREF)   /* see corral_host_results */
    lua_pushliteral(T, "not enough memory (to keep the error of the start)");
  else if (corral_host_results(h, T) < 1)
    lua_pushnil(T);
  lua_settop(T, 1);
  lcr_tostring(T, 1);
  if (h->E.S->nomem_texts == nomem)
    h->str_ref = luaL_ref(T, LUA_REGISTRYINDEX);
  else if (h->part_ref == LUA_NOREF)
    h->part_ref = luaL_ref(T, LUA_REGISTRYINDEX);
  return 0;
}

/* The string a registry ref keeps (alive until the ref goes). */
static const char *kept_string(lua_State *T, int ref) {
  const char *s;
  lua_rawgeti(T, LUA_REGISTRYINDEX, ref);
  s = lua_tostring(T, -1);
  lua_pop(T, 1);
  return s;
}

/*
** The message, made once and kept. One made while memory ran out in a
** part (that part reads LCR_NOMEM_TEXT) is kept too, apart, and given
** until a whole one can be made: each call tries again, and the first
** such message stays valid with the whole one.
*/
/*
** Call f [h, arg] protected on T to describe the outcome; an error leaves
** nothing kept (asked again, it is made). The error's __tostring is the
** script's code: a host call it makes is one from inside a callback (run,
** step and close refuse), and no start may replace the outcome being
** described.
*/
static int describe(corral_host_t *h, lua_CFunction f, const void *arg) {
  unsigned was = h->in_cb;
  int rc;
  h->in_cb = h->describing = 1;
  lua_pushcfunction(h->T, f);
  lua_pushlightuserdata(h->T, h);
  lua_pushlightuserdata(h->T, (void *)arg);
  rc = lua_pcall(h->T, 2, 0, 0);
  h->in_cb = was;
  h->describing = 0;
  if (rc != LUA_OK) lua_pop(h->T, 1);
  return rc;
}

const char *corral_host_message(corral_host_t *h) {
  lua_State *T;
  int rc;
  if (h == NULL) return NULL;
  T = h->T;
  if (h->status != CORRAL_ERROR && h->status != CORRAL_CANCELLED) return NULL;
  if (h->str_ref != LUA_NOREF) return kept_string(T, h->str_ref);
  if (h->describing) return NULL;      /* asked again from its __tostring */
  rc = describe(h, message_k, NULL);
  if (h->str_ref != LUA_NOREF) return kept_string(T, h->str_ref);
  if (h->part_ref != LUA_NOREF) return kept_string(T, h->part_ref);
  return rc == LUA_ERRMEM ? "not enough memory (to describe the error)"
                          : "(error object is not a string)";
}

/*
** [h, msg]: the error with its tracebacks, kept at tb_ref: an ErrorGroup
** rendered with every failure's; another error the root raised, msg and
** the root's traceback where it was raised. Nothing else has one: msg.
*/
static int traceback_k(lua_State *T) {
  corral_host_t *h = lua_touserdata(T, 1);
  lua_pushstring(T, lua_touserdata(T, 2));
  lua_replace(T, 2);
  if (corral_host_results(h, T) >= 1 && h->msg_ref == LUA_NOREF &&
      lcr_is_error_group(T, h->S, 3) &&
      luaL_getmetafield(T, 3, "render") == LUA_TFUNCTION) {
    lua_pushvalue(T, 3);
    lua_createtable(T, 0, 1);
    lua_pushboolean(T, 1);
    lua_setfield(T, -2, "tracebacks");
    lua_call(T, 2, 1);
  } else if (h->msg_ref == LUA_NOREF && h->root != NULL &&
             h->root->t.status == CR_TASK_FAILED) {
    const char *tb, *at;
    lua_rawgeti(T, LUA_REGISTRYINDEX, h->root_ref);
    lcr_getextra(T, -1, "tb");
    tb = lua_tostring(T, -1);
    /* (the last: a message may hold a traceback of its own) */
    for (at = NULL; tb && (tb = strstr(tb, "\nstack traceback:")); tb++)
      at = tb;
    lua_pushvalue(T, 2);
    if (at != NULL) {
      lua_pushstring(T, at);
      lua_concat(T, 2);
    }
  } else {
    lua_pushvalue(T, 2);
  }
  if (!lua_isstring(T, -1)) lua_pushvalue(T, 2);
  h->tb_ref = luaL_ref(T, LUA_REGISTRYINDEX);
  return 0;
}

/* The message with the tracebacks corral kept, made once; when it cannot
** be made, the message alone. */
const char *corral_host_traceback(corral_host_t *h) {
  const char *msg;
  if (h == NULL) return NULL;
  if (h->tb_ref != LUA_NOREF) return kept_string(h->T, h->tb_ref);
  msg = corral_host_message(h);
  if (msg == NULL || h->describing) return msg;
  describe(h, traceback_k, msg);
  return h->tb_ref != LUA_NOREF ? kept_string(h->T, h->tb_ref) : msg;
}

/* --- starting a root --------------------------------------------------- */

/* [h, fn, args...] -> the root task, anchored. */
static int start_k(lua_State *T) {
  corral_host_t *h = lua_touserdata(T, 1);
  int nargs = lua_gettop(T) - 2;
  if (h->spare_ref == LUA_NOREF) {       /* see abandon_root */
    lua_pushboolean(T, 0);               /* a slot, not LUA_REFNIL */
    h->spare_ref = luaL_ref(T, LUA_REGISTRYINDEX);
  }
  h->root = lcr_newtask(T, &h->E, 2, nargs);
  h->root_ref = luaL_ref(T, LUA_REGISTRYINDEX);
  return 0;
}

/* A root runs, the host closes, or the last root's error is being made
** into text (by a __tostring that may call the host): no start now. */
static int cannot_start(const corral_host_t *h) {
  return h->status == CORRAL_RUNNING || h->closing || h->describing;
}

/* Forget the last root's outcome. */
static void forget_root(corral_host_t *h) {
  unref(h->T, &h->root_ref);
  unref(h->T, &h->msg_ref);
  unref(h->T, &h->str_ref);
  unref(h->T, &h->part_ref);
  unref(h->T, &h->stop_ref);
  unref(h->T, &h->cancel_ref);
  unref(h->T, &h->grace_ref);
  unref(h->T, &h->tree_ref);
  unref(h->T, &h->tb_ref);
  h->root = NULL;
  h->status = CORRAL_NONE;
}

/* Move the hub's reasons to r. (Locked.) */
static void take_reasons(hub_t *hub, char *r[3]) {
  int i;
  for (i = 0; i < 3; i++) {
    r[i] = hub->reasons[i];
    hub->reasons[i] = NULL;
  }
}

/*
** Requests made while no root ran are dropped, not kept for the next, and
** leave no trace: the pass-ending flag a request set (so that it would be
** delivered before the next resume) goes with it, or the next root's first
** step would run nothing, and a stop made right after it would find the
** root not started yet (cancelled before it could wait for the stop).
*/
static void drop_requests(corral_host_t *h) {
  hub_t *hub = h->hub;
  char *r[3];
  int i;
  uv_mutex_lock(&hub->mu);
  if (hub->req != 0)
    __atomic_store_n(&h->E.e.poll_soon, 0, __ATOMIC_RELAXED);
  hub->req = 0;
  take_reasons(hub, r);
  uv_mutex_unlock(&hub->mu);
  for (i = 0; i < 3; i++) free(r[i]);
}

static int ref_k(lua_State *T) {
  lua_pushinteger(T, luaL_ref(T, LUA_REGISTRYINDEX));
  return 1;
}

/* The value on top of L is the error of a root that could not start. Kept
** protected: with no memory left for it, the message is "not enough
** memory". */
static int start_failed(corral_host_t *h, lua_State *L) {
  lua_State *T = h->T;
  lua_xmove(L, T, 1);
  lua_pushcfunction(T, ref_k);
  lua_insert(T, -2);
  if (lua_pcall(T, 1, 1, 0) == LUA_OK)
    h->msg_ref = (int)lua_tointeger(T, -1);
  lua_pop(T, 1);
  h->status = CORRAL_ERROR;
  return CORRAL_ERROR;
}

int corral_host_start(corral_host_t *h, int nargs) {
  lua_State *L, *T;
  if (h == NULL || nargs < 0) return CR_EINVAL;   /* nothing popped */
  L = h->L;
  T = h->T;
  if (lua_gettop(L) <= nargs || lua_type(L, -nargs - 1) != LUA_TFUNCTION) {
    lua_settop(L, lua_gettop(L) > nargs ? -nargs - 2 : 0);
    return CR_EINVAL;
  }
  if (cannot_start(h) || !lua_checkstack(T, nargs + 3)) {
    int rc = cannot_start(h) ? CR_EBUSY : CR_ENOMEM;   /* (do not fit) */
    lua_pop(L, nargs + 1);
    return rc;
  }
  forget_root(h);
  drop_requests(h);
  h->E.epoch = ++h->S->epoch;
  h->E.deadlocked = 0;
  h->all_blocked = 0;
  lua_pushcfunction(T, start_k);
  lua_pushlightuserdata(T, h);
  lua_xmove(L, T, nargs + 1);
  if (lua_pcall(T, nargs + 2, 0, 0) != LUA_OK) return start_failed(h, T);
  h->E.root = h->root;
  h->status = CORRAL_RUNNING;
  cr_event_init(&h->stop_event);
  cr_task_start_root(&h->root->t);
  if (h->attached) return cr_engine_attach(&h->E.e, on_attach);
  return 0;
}

int corral_host_start_string(corral_host_t *h, const char *chunk,
                             const char *chunkname) {
  if (h == NULL || chunk == NULL) return CR_EINVAL;
  if (cannot_start(h)) return CR_EBUSY;
  if (luaL_loadbufferx(h->L, chunk, strlen(chunk),
                       chunkname ? chunkname : "=(host)", NULL) != LUA_OK) {
    forget_root(h);
    return start_failed(h, h->L);
  }
  return corral_host_start(h, 0);
}

/* [path, argc, argv] -> the chunk and its arguments (protected: memory may
** run out in the host's state). */
static int load_file_k(lua_State *L) {
  const char *path = lua_touserdata(L, 1);
  int argc = (int)lua_tointeger(L, 2), i;
  char **argv = lua_touserdata(L, 3);
  lua_settop(L, 0);
  if (luaL_loadfilex(L, path, NULL) != LUA_OK) return lua_error(L);
  luaL_checkstack(L, argc + 1, "too many arguments");
  for (i = 0; i < argc; i++) lua_pushstring(L, argv[i]);
  return argc + 1;
}

int corral_host_start_file(corral_host_t *h, const char *path, int argc,
                           char **argv) {
  lua_State *L;
  if (h == NULL || path == NULL || argc < 0 || (argc > 0 && argv == NULL))
    return CR_EINVAL;
  L = h->L;
  if (cannot_start(h)) return CR_EBUSY;
  if (!lua_checkstack(L, 4)) return CR_ENOMEM;
  lua_pushcfunction(L, load_file_k);
  lua_pushlightuserdata(L, (void *)path);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  if (lua_pcall(L, 3, argc + 1, 0) != LUA_OK) {
    forget_root(h);
    return start_failed(h, L);
  }
  return corral_host_start(h, argc);
}

/* --- cancel and stop, from any thread ------------------------------------ */

/* [h, 0]: cancel the root with the reason on top of T (nil: none). */
static int cancel_k(lua_State *T) {
  corral_host_t *h = lua_touserdata(T, 1);
  cr_scope_t *s = &h->root->t.scope;
  /* a stop's grace has nothing left to end once the root is cancelled:
  ** its timer would keep the loop alive, hiding a deadlock */
  cr_timer_stop(&h->E.e, &h->stop_timer);
  if (h->status != CORRAL_RUNNING || s->cancel_called || !cr_scope_live(s))
    return 0;
  int ref = h->cancel_ref != LUA_NOREF ? h->cancel_ref : h->grace_ref;
  if (ref != LUA_NOREF) lua_rawgeti(T, LUA_REGISTRYINDEX, ref);
  else lua_pushnil(T);
  cr_scope_cancel(s, CR_SRC_HOST, 0, lcr_record(T, &h->E, -1, NULL));
  return 0;
}

static void stop_timer_cb(cr_timer_t *timer) {
  protected((corral_host_t *)((char *)timer -
                             offsetof(corral_host_t, stop_timer)),
            cancel_k, 0);
}

/* [the hub's three reasons, as light userdata] -> them as Lua strings, or
** nils (the earliest grace's: the first stop's when NULL) */
static int push_reasons_k(lua_State *T) {
  lua_pushstring(T, lua_touserdata(T, 1));
  if (lua_touserdata(T, 2) != NULL) lua_pushstring(T, lua_touserdata(T, 2));
  else lua_pushvalue(T, -1);
  lua_pushstring(T, lua_touserdata(T, 3));
  return 3;
}

/* Keep the value on top of T at *ref, unless one is kept there already;
** pops it. [-1, +0, m] */
static void keep_first(lua_State *T, int *ref) {
  if (*ref == LUA_NOREF) *ref = luaL_ref(T, LUA_REGISTRYINDEX);
  else lua_pop(T, 1);
}

/* A stop's grace, its reason on top of T (popped): the earliest grace
** wins, and its reason with it; cancel now if it is over (or `now`). */
static int stop_grace(lua_State *T, corral_host_t *h, double grace, int now) {
  double when = grace + cr_now(&h->E.e);
  if (grace <= 0 || !cr_timer_armed(&h->stop_timer) ||
      when < h->stop_timer.when) {
    unref(T, &h->grace_ref);
    h->grace_ref = luaL_ref(T, LUA_REGISTRYINDEX);
    /* (a root already cancelled has no grace left to end: see cancel_k) */
    if (grace > 0 && !now && !h->root->t.scope.cancel_called)
      cr_timer_start(&h->E.e, &h->stop_timer, when);
  } else {
    lua_pop(T, 1);
  }
  return now || grace <= 0 ? cancel_k(T) : 0;
}

/* A request reached the loop thread: keep its reasons, then cancel now or
** start the grace. [-0, +0, m] */
static int request_k(lua_State *T) {
  corral_host_t *h = lua_touserdata(T, 1);
  hub_t *hub = h->hub;
  double grace;
  int req, rc, i;
  char *r[3];
  if (h->status != CORRAL_RUNNING) {     /* no root to take it */
    drop_requests(h);
    return 0;
  }
  uv_mutex_lock(&hub->mu);          /* nothing in here may raise */
  req = hub->req;
  grace = hub->grace;
  hub->req = 0;
  take_reasons(hub, r);
  uv_mutex_unlock(&hub->mu);
  lua_pushcfunction(T, push_reasons_k);  /* may raise (memory): freed first */
  for (i = 0; i < 3; i++) lua_pushlightuserdata(T, r[i]);
  rc = lua_pcall(T, 3, 3, 0);
  for (i = 0; i < 3; i++) free(r[i]);
  if (rc != LUA_OK) return lua_error(T);
  if (req == 0) return 0;
  /* The Cancelled's reason is the first cancel's, else that of the stop
  ** whose grace ends first; wait_stop gives the first stop's. */
  if (req & REQ_CANCEL) keep_first(T, &h->cancel_ref);
  else lua_pop(T, 1);                    /* [first stop's, grace's reason] */
  if (!(req & REQ_STOP)) return cancel_k(T);
  lua_insert(T, -2);
  keep_first(T, &h->stop_ref);           /* [grace's reason] */
  /* A stop is a stop also with no grace, or merged with a cancel that came
  ** before the loop heard of it: wait_stop returns, stopping() is true. */
  if (!h->stopping) {
    h->stopping = 1;
    cr_event_set(&h->stop_event);
  }
  return stop_grace(T, h, grace, req & REQ_CANCEL);
}

static void async_cb(uv_async_t *a) {
  corral_host_t *h = a->data;
  corral_op_t *list, *fifo = NULL, *op;
  uv_mutex_lock(&h->hub->mu);
  list = h->hub->posted;
  h->hub->posted = NULL;
  uv_mutex_unlock(&h->hub->mu);
  while (list != NULL) {            /* back in the order they came */
    op = list;
    list = op->next;
    op->next = fifo;
    fifo = op;
  }
  while (fifo != NULL) {
    op = fifo;
    fifo = op->next;
    op_deliver(op);
  }
  protected(h, request_k, 0);
}

static int host_request(corral_host_t *h, int req, double grace,
                        const char *reason) {
  hub_t *hub;
  char *copy = NULL;
  if (h == NULL) return CR_EINVAL;
  hub = h->hub;
  if (reason != NULL) {
    size_t n = strlen(reason) + 1;
    if ((copy = malloc(n)) == NULL) return CR_ENOMEM;
    memcpy(copy, reason, n);
  }
  uv_mutex_lock(&hub->mu);
  if (hub->closed || hub->refusing) {
    uv_mutex_unlock(&hub->mu);
    free(copy);
    return CR_ECLOSED;
  }
  /* Requests the loop has not heard of yet are merged: a cancel and a stop
  ** both take effect, each with its reasons: the first cancel's, the first
  ** stop's, and the earliest grace's stop's (the one that will cancel). */
  if (req == REQ_CANCEL && !(hub->req & REQ_CANCEL)) {
    hub->reasons[R_CANCEL] = copy;
    copy = NULL;
  } else if (req == REQ_STOP && !(hub->req & REQ_STOP)) {
    hub->reasons[R_STOP] = copy;
    copy = NULL;
    hub->grace = grace;
  } else if (req == REQ_STOP && grace < hub->grace) {
    free(hub->reasons[R_GRACE]);
    hub->reasons[R_GRACE] = copy;
    copy = NULL;
    hub->grace = grace;
  }
  hub->req |= req;
  uv_async_send(hub->async);
  /* the pass ends at the next switch, so that the request is delivered
  ** before the next resume, also one made by the running task itself
  ** (a C function of the host's) or while the root only checkpoints */
  __atomic_store_n(&h->E.e.poll_soon, 1, __ATOMIC_RELAXED);
  uv_mutex_unlock(&hub->mu);
  free(copy);
  return 0;
}

int corral_host_cancel(corral_host_t *h, const char *reason) {
  return host_request(h, REQ_CANCEL, 0, reason);
}

int corral_host_stop(corral_host_t *h, double grace, const char *reason) {
  if (grace != grace) return CR_EINVAL;
  return host_request(h, REQ_STOP, grace, reason);
}

/* --- corral.host: what Lua sees of the host ------------------------------ */

static int wait_stop_k(lua_State *L, int status, lua_KContext ctx) {
  LCR_ENGINE_ONLY(L, status, ctx, wait_stop_k);
  corral_host_t *h = host_of(L);
  lcr_Task *t = host_task(L, h, "corral.host.wait_stop");
  (void)status;
  if (ctx) stop_waiting(h, -1);
  if (ctx && t->t.wake_status != 0) lcr_checkcancel(L, t);
  if (h->stop_ref == LUA_NOREF) lua_pushnil(L);
  else lua_rawgeti(L, LUA_REGISTRYINDEX, h->stop_ref);
  return 1;
}

/* corral.host.wait_stop() -> reason: blocks until the host asks the root
** to stop (corral_host_stop); a cancellation point. */
static int l_wait_stop(lua_State *L) {
  corral_host_t *h = host_of(L);
  lcr_Task *t;
  lcr_checknargs(L, 0, LCR_NO_TIMEOUT);   /* a timeout would be dropped */
  t = host_task(L, h, "corral.host.wait_stop");
  lcr_checkcancel(L, t);
  if (cr_event_wait(&h->stop_event, &t->t)) return wait_stop_k(L, LUA_OK, 0);
  stop_waiting(h, 1);
  return lcr_yield(L, t, 1, wait_stop_k);
}

/* corral.host.stopping() -> true once the host asked the root to stop. */
static int l_stopping(lua_State *L) {
  corral_host_t *h = host_of(L);
  lcr_checknargs(L, 0, NULL);
  lua_pushboolean(L, h != NULL && h->S->eng == &h->E && h->stopping);
  return 1;
}

static const luaL_Reg host_funcs[] = {
  {"wait_stop", l_wait_stop},
  {"stopping", l_stopping},
  {NULL, NULL}
};

/* --- create and close ---------------------------------------------------- */

/* The policy modules (corral.race, ..., corral.testing), compiled into
** libcorral (build/gen/policies.h); none in corral.so, whose users find
** them on package.path. */
typedef struct { const char *name, *src; size_t len; } policy_t;
#ifdef CORRAL_HOST_POLICIES
#include "policies.h"
static const policy_t policies[] = {LCR_POLICIES {NULL, NULL, 0}};
#else
static const policy_t policies[] = {{NULL, NULL, 0}};
#endif

/* package.preload["corral.<name>"]: loads the policy at upvalue 1 as
** require's searcher would a file, called with its name. */
static int load_policy(lua_State *L) {
  const policy_t *p = &policies[lua_tointeger(L, lua_upvalueindex(1))];
  char chunkname[64];
  snprintf(chunkname, sizeof chunkname, "=%s.lua", p->name);
  chunkname[sizeof "=corral" - 1] = '/';          /* =corral/race.lua */
  if (luaL_loadbufferx(L, p->src, p->len, chunkname, "t") != LUA_OK)
    return lua_error(L);
  lua_pushstring(L, p->name);
  lua_call(L, 1, 1);
  return 1;
}

/* package.preload.corral, and the policies', unless the state has its own
** there: without corral.so on package.cpath, package.loaded.corral = nil
** then require finds the module again (the same one: it is one per
** state), and require "corral.race" needs no package.path. */
static void preload_corral(lua_State *L) {
  int top = lua_gettop(L);
  lua_Integer i;
  if (lua_getglobal(L, "package") == LUA_TTABLE &&
      lua_getfield(L, -1, "preload") == LUA_TTABLE) {
    if (lua_getfield(L, -1, "corral") == LUA_TNIL) {
      lua_pushcfunction(L, luaopen_corral);
      lua_setfield(L, -3, "corral");
    }
    lua_pop(L, 1);
    for (i = 0; policies[i].name != NULL; i++) {
      if (lua_getfield(L, -1, policies[i].name) == LUA_TNIL) {
        lua_pushinteger(L, i);
        lua_pushcclosure(L, load_policy, 1);
        lua_setfield(L, -3, policies[i].name);
      }
      lua_pop(L, 1);
    }
  }
  lua_settop(L, top);
}

static int require_k(lua_State *L) {
  luaL_requiref(L, "corral", luaopen_corral, 0);
  return 1;
}

/* The module on top; an error loading it (a state without the standard
** libraries its Lua code uses) says what to check. */
static void require_corral(lua_State *L) {
  int rc;
  lua_pushcfunction(L, require_k);
  if ((rc = lua_pcall(L, 0, 1, 0)) == LUA_OK) return;
  if (rc == LUA_ERRMEM || !lua_isstring(L, -1)) lua_error(L);
  luaL_error(L, "corral_host_new: corral could not load in this state (are "
             "the standard libraries open? luaL_openlibs): %s",
             lua_tostring(L, -1));
}

/* [h, loop, clock]: the module, our thread, the engine. */
static int setup_k(lua_State *L) {
  corral_host_t *h = lua_touserdata(L, 1);
  uv_loop_t *loop = lua_touserdata(L, 2);
  int rc, clock = (int)lua_tointeger(L, 3);
  if (h->own_state) luaL_openlibs(L);
  require_corral(L);                                        /* 4 */
  preload_corral(L);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &lcr_state_key);
  h->S = lua_touserdata(L, -1);
  if (h->S == NULL)                 /* package.loaded.corral is not ours */
    return luaL_error(L, "corral_host_new: package.loaded.corral in this "
                      "state is not the host's corral (another copy, "
                      "corral.so, loaded before the host, or a value put "
                      "there): make the host first");
  if (h->S->eng != NULL)
    return luaL_error(L, "corral_host_new: this state already runs corral");
  lua_pop(L, 1);
  luaL_newlib(L, host_funcs);
  /* also package.loaded["corral.host"], so that an error of one of its
  ** functions called where Lua sees no name (pcall) names it, as the
  ** method tables of corral's types are named */
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, "corral.host");
  lua_pop(L, 1);
  lua_setfield(L, 4, "host");
  h->T = lua_newthread(L);
  h->T_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushlightuserdata(L, h);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &host_key);
  rc = lcr_engine_open(h->T, h->S, &h->E, loop,
                       clock ? CR_CLOCK_VIRTUAL : CR_CLOCK_REAL);
  if (rc) return luaL_error(L, "corral_host_new: %s", cr_strerror(rc));
  h->E.S->eng = &h->E;
  h->E.hosted = 1;
  h->E.e.guard = host_guard;
  return 0;
}

static void async_close_cb(uv_handle_t *a) {
  corral_host_t *h = a->data;
  h->async_open = 0;
}

/* Undo what setup_k did in the state, whatever it got to. */
static void host_unset(corral_host_t *h) {
  lua_State *L = h->L;
  if (h->T != NULL) {
    lcr_engine_teardown(h->T, &h->E);
    lcr_trace_report(&h->E);
  }
  if (host_of(L) == h) {
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &host_key);
  }
  unref(L, &h->T_ref);
  h->T = NULL;
  if (h->own_state) lua_close(L);
}

static void host_free(corral_host_t *h) {
  hub_unref(h->hub);
  free(h);
}

static int host_alloc(corral_host_t **out, const corral_host_opts_t *o) {
  corral_host_t *h = calloc(1, sizeof *h);
  hub_t *hub = calloc(1, sizeof *hub);
  if (h == NULL || hub == NULL || uv_mutex_init(&hub->mu) != 0) {
    free(h);
    free(hub);
    return CR_ENOMEM;
  }
  hub->refs = 1;
  hub->async = &h->async;
  h->hub = hub;
  h->T_ref = h->root_ref = h->msg_ref = h->stop_ref = h->str_ref = LUA_NOREF;
  h->part_ref = LUA_NOREF;
  h->tree_ref = h->spare_ref = h->tb_ref = LUA_NOREF;
  h->cancel_ref = h->grace_ref = LUA_NOREF;
  h->status = CORRAL_NONE;
  q_init(&h->ops);
  cr_timer_init(&h->stop_timer, stop_timer_cb);
  cr_event_init(&h->stop_event);
  h->L = o->L;
  if (h->L == NULL) {
    h->own_state = 1;
    if ((h->L = luaL_newstate()) == NULL) {
      host_free(h);
      return CR_ENOMEM;
    }
  }
  *out = h;
  return 0;
}

int corral_host_new(corral_host_t **out, const corral_host_opts_t *opts) {
  static const corral_host_opts_t defaults = {NULL, NULL, 0};
  const corral_host_opts_t *o = opts ? opts : &defaults;
  corral_host_t *h;
  int rc;
  if (out == NULL) return CR_EINVAL;
  *out = NULL;
  if ((rc = host_alloc(&h, o)) != 0) return rc;
  lua_pushcfunction(h->L, setup_k);
  lua_pushlightuserdata(h->L, h);
  lua_pushlightuserdata(h->L, o->loop);
  lua_pushinteger(h->L, o->virtual_clock != 0);
  if ((rc = lua_pcall(h->L, 3, 0, 0)) != LUA_OK) {
    /* The reason stays on the host's own state's stack, for the host to
    ** read (a state of corral's own is closed with it). */
    if (h->own_state) lua_pop(h->L, 1);
    host_unset(h);
    host_free(h);
    return rc == LUA_ERRMEM ? CR_ENOMEM : CR_EINVAL;
  }
  rc = uv_async_init(h->E.e.loop, &h->async, async_cb);
  if (rc) {
    host_unset(h);
    host_free(h);
    return rc;
  }
  h->async.data = h;
  h->async_open = 1;
  uv_unref((uv_handle_t *)&h->async);
  *out = h;
  return 0;
}

/* Code of the host's runs on corral's own state (a function of the host's
** that Lua called, a __gc): closing would close the state under it. */
static int state_in_use(corral_host_t *h) {
  lua_Debug ar;
  return lua_getstack(h->L, 0, &ar);
}

int corral_host_close(corral_host_t *h) {
  corral_op_t *list;
  if (h == NULL) return CR_EINVAL;
  if (inside(h)) return CR_EBUSY;     /* attached is fine: it detaches */
  if (h->own_state && state_in_use(h)) return CR_EBUSY;
  h->closing = 1;           /* the loop runs below: a host callback it runs
                            ** cannot re-enter the host */
  /* A cancel or stop from now on (an op's cancel callback's, another
  ** thread's) is refused, not taken and then dropped. */
  uv_mutex_lock(&h->hub->mu);
  h->hub->refusing = 1;
  uv_mutex_unlock(&h->hub->mu);
  if (h->status == CORRAL_RUNNING)      /* as abandon_root: tasks first */
    cr_engine_abandon(&h->E.e);
  ops_abandon(h, 1);
  uv_mutex_lock(&h->hub->mu);
  h->hub->closed = 1;
  list = h->hub->posted;
  h->hub->posted = NULL;
  uv_mutex_unlock(&h->hub->mu);
  while (list != NULL) {          /* completed from threads, undelivered */
    corral_op_t *op = list;
    list = op->next;
    op_free(op);
  }
  cr_engine_detach(&h->E.e);
  cr_timer_stop(&h->E.e, &h->stop_timer);
  uv_close((uv_handle_t *)&h->async, async_close_cb);
  forget_root(h);
  unref(h->T, &h->spare_ref);
  lcr_engine_teardown(h->T, &h->E);      /* runs the loop: closes finish */
  lcr_trace_report(&h->E);
  if (h->async_open) uv_run(h->E.e.loop, UV_RUN_NOWAIT);
  host_unset(h);
  host_free(h);
  return 0;
}
