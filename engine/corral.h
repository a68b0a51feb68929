/*
** corral.h -- the whole public API of the corral engine.
**
** corral is a structured-concurrency engine over libuv. Tasks are
** continuations the engine resumes; it knows nothing of Lua. Every object
** hangs off a cr_engine_t: there is no global state, so two engines in two
** threads never touch each other.
**
** Structs are exposed so that a binding can embed them (no second malloc).
** Fields are marked as libuv's uv.h does: public (yours to read and write),
** read-only (read, never write) or private (do not touch).
**
** Lifecycles come in pairs: cr_engine_init/cr_engine_close,
** cr_scope_enter/cr_scope_exit, cr_group_init/cr_group_close,
** cr_task_init/(finish through cr_task_done). A call that returns an error
** never calls its callback.
*/
#ifndef CORRAL_H
#define CORRAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
/*
** uv.h names pthread_rwlock_t, which glibc hides under strict ISO C
** (cc -std=c11 without _GNU_SOURCE or _POSIX_C_SOURCE). Declare the same
** type glibc would, so this header compiles under any feature macros.
*/
#include <pthread.h>
#if defined(__GLIBC__) && !defined(__USE_UNIX98) && !defined(__USE_XOPEN2K)
typedef union {
  struct __pthread_rwlock_arch_t __data;
  char __size[__SIZEOF_PTHREAD_RWLOCK_T];
  long int __align;
} pthread_rwlock_t;
#endif
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CR_VERSION "0.26.4"

/*
** Error codes: negative, generated from one table. libuv's UV_* codes pass
** through the API unchanged, so corral's own codes live far below them.
*/
#define CR_ERRNO_MAP(XX)                                                     \
  XX(EBUSY, "busy: tasks still live, a root runs, or the call came from "   \
            "inside a corral callback")                                     \
  XX(ECLOSED, "closed: it takes no more calls (a group that exited, a "      \
              "host being closed)")                                         \
  XX(ESTOPPING, "group is stopping")                                        \
  XX(ECANCELED, "operation cancelled")                                      \
  XX(ENOMEM, "out of memory")                                               \
  XX(EINVAL, "invalid argument")                                            \
  XX(EDEADLOCK, "deadlock: every task is blocked and nothing can wake them")

typedef enum {
  CR__ERRBASE = -30000,
#define XX(name, _) CR_##name,
  CR_ERRNO_MAP(XX)
#undef XX
  CR__ERRMAX
} cr_errno_t;

const char *cr_err_name(int err);
const char *cr_strerror(int err);

/* Why a scope was cancelled. */
typedef enum {
  CR_SRC_NONE = 0,
  CR_SRC_EXPLICIT,  /* cr_scope_cancel / g:cancel / t:cancel */
  CR_SRC_DEADLINE,  /* the scope's own deadline passed */
  CR_SRC_FAILURE,   /* a child of the group failed */
  CR_SRC_STOP,      /* the grace of cr_group_stop ran out */
  CR_SRC_SIGNAL,    /* SIGINT/SIGTERM reached the root */
  CR_SRC_HOST,      /* the embedding host cancelled */
  CR_SRC_DEADLOCK   /* nothing could ever wake the tasks */
} cr_source_t;

const char *cr_source_name(cr_source_t src);

/*
** Why a scope was cancelled: its cancel record. `reason` is an opaque
** handle that the binding supplies (a Lua reference, a host's string...);
** the engine owns it from then on and gives it back through the engine's
** `release` callback exactly once: when the scope exits, when the cancel
** did not take effect, or when the engine abandons the scope.
*/
typedef struct {
  void *reason;           /* the binding's handle, or NULL */
  uint64_t origin : 56;   /* id of the task that cancelled or failed, or 0
                          ** (ids count from 1 and never reach 2^56) */
  uint64_t source : 8;    /* a cr_source_t */
} cr_cancel_t;

/*
** How a scope, a group or a task ended, as the engine decides it when the
** Cancelled (if any) reaches its exit (cr_scope_leave, cr_group_close,
** cr_task_unwind).
*/
typedef enum {
  CR_END_NORMAL = 0,      /* nothing to raise (or a plain error goes on) */
  CR_END_ABSORBED,        /* a Cancelled stopped here: cancel_caught is set */
  CR_END_PASSED,          /* a Cancelled goes on, for the scope in *to */
  CR_END_FAILED,          /* group: failures to raise; task: a Cancelled
                          ** that no cancelled scope can catch (stray) */
  CR_END_NONE             /* internal: not decided */
} cr_end_t;

/* What a parked task waits on (for events, the task tree, the trace).
** READ..PROCESS are the waits on I/O, kept together: a task parked on one
** keeps the loop alive (task.c, is_io_wait). */
typedef enum {
  CR_WAIT_NONE = 0, CR_WAIT_OTHER, CR_WAIT_SLEEP, CR_WAIT_YIELD,
  CR_WAIT_EVENT, CR_WAIT_SEM, CR_WAIT_SEND, CR_WAIT_RECV, CR_WAIT_JOIN,
  CR_WAIT_START, CR_WAIT_CHILDREN, CR_WAIT_STOPPING, CR_WAIT_READ,
  CR_WAIT_WRITE, CR_WAIT_CONNECT, CR_WAIT_ACCEPT, CR_WAIT_RESOLVE,
  CR_WAIT_PROCESS, CR_WAIT_SIGNAL, CR_WAIT_HOST, CR_WAIT_IDLE,
  CR_WAIT__COUNT          /* not a wait: how many kinds there are */
} cr_wait_t;

const char *cr_wait_name(cr_wait_t w);


typedef enum {
  CR_TASK_SCHEDULED = 0, /* spawned or woken, in a queue, not running */
  CR_TASK_RUNNING,
  CR_TASK_WAITING,       /* parked on a blocking operation */
  CR_TASK_DONE,
  CR_TASK_FAILED,
  CR_TASK_CANCELLED
} cr_task_status_t;

typedef enum { CR_CLOCK_REAL = 0, CR_CLOCK_VIRTUAL } cr_clock_t;

/* What an abort callback answers (Trio's abort protocol). */
typedef enum {
  CR_ABORT_DONE = 0, /* the wait was undone: wake the task with CR_ECANCELED */
  CR_ABORT_LATE      /* the operation owns the wake-up; leave the task be */
} cr_abort_t;

typedef struct cr_engine_s cr_engine_t;
typedef struct cr_scope_s cr_scope_t;
typedef struct cr_task_s cr_task_t;
typedef struct cr_group_s cr_group_t;
typedef struct cr_timer_s cr_timer_t;

/* Engine events, for tracers and the task tree (cr_engine_t.on_event). */
typedef enum {
  CR_EV_SPAWN = 0,        /* task spawned into scope->owner's group, or a
                          ** root task started (scope NULL) */
  CR_EV_RUN,              /* task is about to be resumed: status = 1 when
                          ** it resumes with what its wait was handed
                          ** (cr_task_handed), else 0 */
  CR_EV_SUSPEND,          /* task gave control back to the scheduler */
  CR_EV_PARK,             /* task parked: wait = what it waits on, obj */
  CR_EV_WAKE,             /* a parked task woke: status = wake status */
  CR_EV_CANCEL,           /* scope cancelled: scope->cancel is its record,
                          ** task = the origin task if it is running */
  CR_EV_FAIL,             /* a failure of scope's group was recorded */
  CR_EV_DONE              /* task finished: status = its final status */
} cr_event_kind_t;

typedef struct {
  cr_event_kind_t kind;
  cr_task_t *task;
  cr_scope_t *scope;
  int status;
  cr_wait_t wait;
  const void *obj;
} cr_engine_event_t;

/* cr_engine_t.signal_burst */
#define CR_BURST_SIGINT 1
#define CR_BURST_SIGTERM 2
#define CR_BURST_ROOT 4

/* Intrusive doubly-linked list node; the head is a sentinel node. */
typedef struct cr_queue_s {
  struct cr_queue_s *next;
  struct cr_queue_s *prev;
} cr_queue_t;

typedef void (*cr_timer_cb)(cr_timer_t *timer);

/* A slot of the deadline heap (private): the ordering key is copied in, so
** sifting never touches the timers themselves, which are scattered. */
typedef struct {
  double when;
  uint64_t seq;           /* tie key: arming order, or a permutation */
  size_t ref;             /* the timer's entry in the engine's refs */
  uint64_t armed;         /* arming order (cr__timers_fire's pass limit) */
} cr_heap_slot_t;
/* An armed timer's entry in a dense table (private): sifting writes a
** moved slot's position here, not into the scattered timer. */
typedef struct {
  size_t pos;             /* heap slot; on the free list: next free + 1 */
  cr_timer_t *timer;
} cr_heap_ref_t;
typedef void (*cr_task_cb)(cr_task_t *task);
typedef cr_abort_t (*cr_abort_cb)(cr_task_t *task);
typedef void (*cr_release_cb)(cr_engine_t *e, void *reason);
typedef void (*cr_event_cb)(cr_engine_t *e, const cr_engine_event_t *ev);
typedef void (*cr_signal_cb)(cr_engine_t *e, int signum);
/* The reason (a record for cr_scope_cancel, or NULL) the root policy cancels
** the root with, for signum: asked before the cancel, so that the engine's
** CR_EV_CANCEL event carries it. */
typedef void *(*cr_reason_cb)(cr_engine_t *e, int signum);
typedef void (*cr_attach_cb)(cr_engine_t *e, int status);
/* An engine's pass over its ready tasks, and what runs it (cr_engine_t.guard). */
typedef void (*cr_pass_fn)(cr_engine_t *e);
typedef void (*cr_guard_cb)(cr_engine_t *e, cr_pass_fn pass);

/* A deadline kept in the engine's heap. One uv_timer drives them all.
** It is embedded in its owner, which the callback finds by offsetof. */
struct cr_timer_s {
  cr_timer_cb cb;   /* read-only */
  double when;      /* read-only: absolute, on the engine clock */
  size_t index;     /* private: its entry in the engine's heap refs, or
                    ** CR__NOT_ARMED (the slot keeps the arming order
                    ** that breaks ties) */
};

/*
** A cancel scope. Scopes form a tree that mirrors lexical nesting across
** tasks: a child task's own scope has its group's scope as parent.
** Invariant: a scope is in its parent's `children` list exactly while it is
** entered (between cr_scope_enter and cr_scope_exit).
**
** A task's own scope is only the head of the struct, up to owner_: a task
** needs no owner (it is the owner: cr_scope_owner) and no deadline, and
** its own fields take the place of the tail (see cr_task_s). So owner_ and
** deadline_ are never read through a scope that may be a task's: ask
** cr_scope_owner and cr_scope_deadline.
*/
struct cr_scope_s {
  cr_engine_t *engine;    /* read-only */
  cr_scope_t *parent;     /* read-only: NULL for a root task's scope */
  uint64_t id : 55;       /* read-only: unique per engine, never reused
                          ** (ids count from 1 and never reach 2^55) */
  unsigned cancel_called : 1; /* read-only: its own cancel fired; never reset */
  unsigned cancel_caught : 1; /* public: a Cancelled for it was absorbed */
  unsigned shield : 1;        /* read-only: use cr_scope_set_shield */
  unsigned entered : 1;       /* read-only: between enter and exit */
  unsigned exited : 1;        /* read-only: exit happened */
  unsigned is_group : 1;      /* read-only */
  unsigned is_task : 1;       /* read-only: a task's own scope */
  unsigned as_group : 1;      /* private: a task's own scope cancelled as
                              ** its group was (see cr_scope_record) */
  unsigned cancel_owed : 1;   /* private: a task's own scope cancelled for
                              ** itself (t:cancel), and no Cancelled has
                              ** reached the task's level since, nor did the
                              ** cancel come after a delivered wake-up: a
                              ** return ends it cancelled (cr_task_returned) */
  cr_cancel_t cancel;     /* read-only: why cancel_called became true */
  /* private */
  cr_queue_t children;    /* entered child scopes */
  cr_queue_t sibling;     /* link in parent->children */
  /* private, and absent from a task's own scope: */
  cr_task_t *owner_;      /* the task in whose stack it lives */
  cr_timer_t deadline_;   /* cr_scope_set_deadline's timer */
};

/* The size of a task's own scope: the head of cr_scope_s. */
#define CR__SCOPE_HEAD offsetof(struct cr_scope_s, owner_)

/*
** A task: a continuation the engine resumes by calling its engine's `run`
** (one callback per engine, not per task: a host with several kinds of task
** tells them apart by `data`). The binding
** parks it (cr_task_park) before giving control back and the engine or an
** operation wakes it (cr_task_wake).
**
** An idle task is most of what a program with many tasks holds, so its
** record is packed: its own scope is a scope's head only (the task's other
** fields overlay the tail), and while it sleeps its alarm overlays its wait
** link and xfer, which a sleeping task does not use.
*/
struct cr_task_s {
  void *data;             /* public */
  cr_group_t *group;      /* read-only: NULL for a root task */
  signed int wake_status : 16; /* read-only: 0 delivered, CR_ECANCELED aborted,
                          ** or another CR_E* or UV_* code */
  unsigned status : 3;    /* read-only: a cr_task_status_t */
  unsigned queued : 1;    /* private: in the run queue */
  unsigned pending : 1;   /* private: held back by the group's limit (a
                          ** cancel leaves it there: cr_task_held) */
  unsigned finished : 1;  /* private */
  unsigned starting : 1;  /* read-only: g:start child before ready() */
  unsigned wait : 5;      /* read-only: a cr_wait_t, while parked */
  unsigned orphan : 1;    /* private: abandoned by cr_engine_abandon */
  unsigned alarm_on : 1;  /* private: sleeping, `alarm` in use */
  unsigned saw_cancel : 1; /* private: found cancelled once: a Cancelled it
                          ** unwinds passes a shield set since (judge) */
  unsigned in_head : 1;   /* private: in the run queue's head section */
  unsigned claim : 1;     /* private: woken from a stream read, that stream
                          ** (xfer) still its own until it runs */
  unsigned handed : 1;    /* private: woken by a lookup, whose list (xfer)
                          ** the engine frees if the task never runs again */
  unsigned delivered : 1; /* private: woken with a delivery (wake_status 0)
                          ** while no t:cancel was owed: one that comes
                          ** before it runs again is too late for that wait,
                          ** and is not owed once it runs (cr_task_returned);
                          ** kept while it runs so that a cancellation
                          ** point a shield hides it from owes it (asked) */
  unsigned rejoin : 5;    /* private: the kind of the wait in a FIFO list
                          ** that a cancel aborted (wait_obj kept), until
                          ** the task parks, yields or sees the cancel: if
                          ** a shield hid that cancel, the same wait made
                          ** again takes back its place (cr__wait_enter) */
  unsigned ticket_hi : 24; /* private: the high bits of its ticket */
  uint32_t clean_gen;     /* private: the low 32 bits of cancel_gen when
                          ** the task was last found not cancelled, or
                          ** UINT32_MAX (cr_task_cancelled) */
  uint32_t ticket_lo;     /* private: its place in the FIFO list it waits
                          ** in: the engine's count of arrivals when it
                          ** came, 56 bits with ticket_hi (cr__ticket) */
  union {
    cr_scope_t scope;     /* read-only: the task's own scope (t:cancel), up
                          ** to CR__SCOPE_HEAD; its id is the task's id, its
                          ** engine the task's (cr_task_engine) */
    struct {
      char scope_head_[CR__SCOPE_HEAD];
      cr_scope_t *cur;    /* read-only: innermost scope the task is in */
      union {
        struct {
          union {         /* a task is in one list at a time: */
            cr_queue_t wait_link; /* public: the wait list it parks on, or */
            cr_queue_t runq;  /* private: the run queue, or its group's
                              ** pending queue (queued or pending set) */
          };
          void *xfer;     /* public: what an operation hands the task */
        };
        cr_timer_t alarm; /* private: cr_task_sleep's (alarm_on) */
      };
      cr_queue_t *waiters; /* private: the first of the tasks parked in
                          ** cr_task_join on it or g:start for it, whose
                          ** wait_links form a ring with no head node */
      const void *wait_obj; /* read-only: what it waits on, while parked
                          ** (and, while `rejoin` is set, what it waited
                          ** on) */
    };
  };
};

/* The task in whose stack scope s lives (for a task's own scope, that
** task). */
static inline cr_task_t *cr_scope_owner(const cr_scope_t *s) {
  return s->is_task ? (cr_task_t *)((char *)s - offsetof(cr_task_t, scope))
                    : s->owner_;
}

/* Whether t, spawned into a group with a `limit`, waits for a free slot
** before it starts (its status is CR_TASK_SCHEDULED meanwhile). A cancel
** does not end that wait: t keeps its place, and once it has its slot it
** runs up to its first cancellation point, as any child spawned into a
** cancelled group. */
static inline int cr_task_held(const cr_task_t *t) { return t->pending; }

/* When s's deadline falls (INFINITY: none; a task's own scope has none). */
static inline double cr_scope_deadline(const cr_scope_t *s) {
  return s->is_task ? INFINITY : s->deadline_.when;
}

/* A task group: a scope plus the children it joins. */
struct cr_group_s {
  cr_scope_t scope;       /* read-only: first member */
  cr_task_t *parent;      /* read-only: the task running the body */
  size_t nchildren;       /* read-only: spawned, not finished */
  size_t nrunning;        /* read-only: started, not finished */
  size_t limit;           /* read-only: 0 = no limit */
  size_t max_errors;      /* read-only */
  size_t nerrors;         /* read-only: failures kept */
  size_t dropped;         /* read-only: failures beyond max_errors */
  unsigned defer_errors : 1; /* read-only */
  unsigned stopping : 1;  /* read-only */
  unsigned closed : 1;    /* read-only */
  unsigned body_done : 1; /* read-only */
  unsigned unwound : 1;   /* read-only: a Cancelled reached the group, from
                          ** the body or a child, not caught below it */
  unsigned child_passed : 1; /* private: a child passed a Cancelled out to
                          ** it: one corral delivered, which a shield set
                          ** since does not stop (judge); the body's own
                          ** is judged by its task's mark */
  uint32_t nstarting;     /* private: children still starting (g:start) */
  uint32_t starting_len;  /* private: slots used in `starting`, holes too */
  uint32_t starting_cap;  /* private: room in `starting` */
  struct cr__start_slot_s *starting; /* private: those children by id (they
                          ** hang below their starters' scopes, out of the
                          ** group's subtree: group.c), NULL if none */
  cr_timer_t stop_timer;  /* private: grace of cr_group_stop */
  cr_cancel_t stop_cancel;/* private: the record used when the grace ends */
  cr_queue_t pending;     /* private: FIFO held back by limit */
  cr_queue_t stop_waiters;/* private: tasks in cr_group_wait_stopping */
  /* private: what cr_scope_absorber answered for this group's scope while
  ** cancel_gen was memo_gen, so that a walk up a deep chain of tasks and
  ** groups stops at the first group it already knows */
  cr_scope_t *memo_abs;
  uint64_t memo_gen;
  /* private: what cr_task_reach answered for this group's scope about the
  ** cancel of scope reach_sid while cancel_gen was reach_gen (1, 0, -1),
  ** for the same reason */
  uint64_t reach_sid, reach_gen;
  int reach_memo;
};

/* Counters for leak accounting: all zero once an engine is idle. */
typedef struct {
  size_t tasks;       /* initialised, not finished */
  size_t scopes;      /* entered, not exited (task scopes included) */
  size_t timers;      /* armed */
  size_t handles;     /* libuv handles open that the engine owns */
} cr_stats_t;

struct cr_engine_s {
  void *data;             /* public */
  uv_loop_t *loop;        /* read-only */
  cr_task_t *current;     /* read-only: task being resumed, or NULL */
  cr_clock_t clock;       /* read-only */
  cr_release_cb release;  /* public: takes back cancel reasons (may be NULL) */
  cr_event_cb on_event;   /* public: engine events, or NULL (one branch) */
  cr_task_cb run;         /* public: resumes a task's continuation; set it
                          ** before the first task runs */
  cr_guard_cb guard;      /* public, or NULL: attached, each pass over the
                          ** ready tasks (from a callback of the host's
                          ** loop) is run as guard(e, pass), which must call
                          ** pass(e): a binding's protected call */
  /* private: the abort callback of each kind of wait (cr_task_park_on),
  ** asked when a cancel reaches a task parked on that kind */
  cr_abort_cb aborts[CR_WAIT__COUNT];
  cr_stats_t stats;       /* read-only */
  /* private */
  uv_loop_t own_loop;
  uv_timer_t uvtimer;     /* drives the deadline heap */
  uv_idle_t idle;         /* active while tasks are ready: never block */
  uv_prepare_t io_keep;   /* active while a task waits on I/O: corral's
                          ** own I/O handles are unreferenced, so an idle
                          ** listener, stream or process never hides a
                          ** deadlock */
  size_t io_waits;        /* tasks parked on a read, write, connect,
                          ** accept, resolve or process */
  size_t io_closing;      /* private: I/O objects closed, not yet freed */
  unsigned long alloc_seen; /* libuv allocation failures already reported */
  cr_queue_t runq;
  cr_queue_t *woke_tail;  /* last task of the run queue's head section:
                          ** tasks woken by a deadline, FIFO, ahead of the
                          ** rest (spawned ones); &runq when there is none */
  double uv_when;         /* deadline the uv timer is armed for, or NAN */
  unsigned firing : 1;    /* inside cr__timers_fire's callbacks */
  unsigned delivering : 1; /* private: inside a cancel's delivery walk */
  unsigned turn_rest : 1; /* the rest's turn, not the head section's */
  size_t nready, nhead;   /* tasks in the run queue; in its head section */
  size_t turn_left, head_ran; /* picks left in this turn; the head's last */
  cr_queue_t ios;         /* open I/O objects, closed by cr_engine_close */
  cr_queue_t resolves;    /* private: name lookups in libuv's thread pool */
  cr_queue_t sigwatchers; /* one per signal number waited on */
  cr_queue_t roots;       /* scopes of root tasks (their sibling links) */
  cr_task_t *sigroot;     /* SIGINT/SIGTERM cancel it (cr_signal_root) */
  cr_reason_cb on_root_signal;
  /* read-only: the signal that reached sigroot (a signal handler reads it) */
  volatile sig_atomic_t root_signal;
  /* read-only, CR_BURST_* bits: what SIGINT and SIGTERM did in the current
  ** burst of arrivals (set when one woke its waiters or cancelled sigroot;
  ** the burst ends at the start or the end of a pass of tasks once the
  ** first waiter it woke has left the run queue, or at
  ** cr_signal_burst_end). The same signal delivered again in a burst is the
  ** same arrival (a storm of them cannot outrun the program's answer to
  ** the first); any stop signal after the root was cancelled in it is part
  ** of that cancel, not one more. */
  volatile sig_atomic_t signal_burst;
  cr_task_t *burst_waiter;  /* private: the first waiter the burst woke */
  uint64_t pass_from;       /* private: when tasks began to run since the
                            ** last poll (coarse ms; see cr_engine_pass_over) */
  unsigned long signals_seen; /* read-only: arrivals libuv delivered */
  /* private: arrivals cr_signal_deliver handed over before libuv did */
  unsigned delivered_early[2];
  volatile sig_atomic_t poll_soon; /* public: set (from a signal handler,
                          ** say) to end the current pass of tasks at the
                          ** next switch and poll I/O; from another thread,
                          ** with an atomic store (__atomic_store_n) */
  cr_heap_slot_t *heap;   /* 4-ary min-heap of armed timers */
  size_t nheap, heapcap;
  cr_heap_ref_t *refs;    /* by timer->index: heap slot and timer */
  size_t nrefs, refcap, free_ref; /* free_ref: first free entry + 1, or 0 */
  uint64_t next_seq, next_id;
  uint64_t cancel_gen;    /* bumped whenever any task may become cancelled */
  uint64_t arrivals;      /* the next task ticket (cr__wait_enter) */
  /* private: the last task put back in a wait list at its ticket's place,
  ** where the next one's walk may start (cr__wait_rejoin); NULL once it
  ** is done or abandoned, so that it never outlives its record */
  cr_task_t *finger;
  uint64_t rejoin_steps;  /* links passed by those walks (statistics: the
                          ** C tests bound it) */
  /* The last cr_scope_absorber answer, for the next question about its
  ** parent (unwinding a deep chain asks level after level): the absorber
  ** of absorb_parent's chain, valid while cancel_gen is absorb_gen. */
  const cr_scope_t *absorb_parent;
  cr_scope_t *absorb_above;
  /* ... and the scope it was asked about, with that answer itself: the
  ** same question again, valid while cancel_gen is absorb_gen */
  const cr_scope_t *absorb_asked;
  cr_scope_t *absorb_answer;
  uint64_t absorb_gen;
  uint64_t absorb_steps;  /* scopes visited by cr_scope_absorber's walks
                          ** (statistics: the C tests bound it) */
  uint64_t deliver_steps; /* scopes visited by cancels' delivery walks
                          ** (statistics: the C tests bound it) */
  uint64_t reach_steps;   /* scopes visited by cr_task_reach's walks
                          ** (statistics: the C tests bound it) */
  uint64_t t0;            /* uv_hrtime() at init */
  double vnow;            /* virtual clock */
  unsigned owns_loop : 1;
  unsigned closing : 1;
  unsigned closed : 1;    /* cr_engine_close succeeded: only close again */
  unsigned chld : 2;      /* private: 1 once it spawned a process (libuv
                          ** then watches SIGCHLD), 2 once that was seen */
  unsigned chld_restart : 1; /* private: this spawn starts libuv's child
                          ** watcher again (its counts start afresh) */
  unsigned release_pending : 1; /* private: cr_signal_release_idle waits
                          ** for the running children to exit */
  void *kids;             /* private: the pids of the running children, read
                          ** by cr_engine_kill_children from a signal
                          ** handler (proc.c) */
  unsigned chld_base[2];  /* private: SIGCHLD's arrivals and libuv's writes
                          ** for the loop's child watcher when it began */
  int chld_lost;          /* private: of those, the drops made good */
  /* testing hooks (loop.c): schedule fuzzing, idle waiters, autojump */
  uint64_t rng;           /* PRNG state; 0 = unseeded (FIFO) */
  uint64_t tie_salt;      /* deadline tie order when seeded, else 0 */
  cr_task_t **batch;      /* scratch for shuffling the run queue */
  size_t batchcap, batch_left;
  cr_queue_t idlers;      /* tasks in cr_task_wait_idle */
  double autojump;        /* real seconds idle before a virtual jump */
  uint64_t idle_since;    /* uv_hrtime() when all became blocked, or 0 */
  /* attached to a host's uv_run (cr_engine_attach) */
  uv_prepare_t prepare;
  uv_check_t check;
  cr_attach_cb on_attach;
  unsigned attach_init : 1;
  unsigned attached : 1;
  unsigned end_seen : 1;  /* private: the check reported "no task left" */
  unsigned stuck_seen : 1; /* private: it reported a deadlock that the
                          ** callback did not end: not again, nor kept
                          ** alive, until a task is scheduled */
  unsigned driving : 1;   /* private: inside cr_engine_step */
  unsigned in_report : 1; /* private: on_attach is running */
};

/* --- engine ---------------------------------------------------------- */

/* Init on `loop`, or on a loop of its own when loop is NULL. */
int cr_engine_init(cr_engine_t *e, uv_loop_t *loop, cr_clock_t clock);
/* CR_EBUSY while tasks, scopes or armed timers live; closes handles, runs
** loop to end. Once it succeeded, closing again returns 0 and does
** nothing; stepping returns CR_EINVAL, no root can start, and what would
** use the loop (a timer, a listener, a connect, a process, a signal wait
** or watcher, a lookup) returns CR_EINVAL. Called from the attach
** callback of an engine on a loop of its own (inside uv_run of that
** loop), it starts closing and returns CR_EBUSY: close again once that
** uv_run has returned. A task that was initialised but never started
** (its spawn refused) must be finished with cr_task_done, or close stays
** CR_EBUSY: cr_engine_abandon cannot see it. */
int cr_engine_close(cr_engine_t *e);
/*
** Give up on every task still alive (a run that ended in a deadlock, or
** whose scheduler failed): each is unlinked from whatever it waits on (an
** I/O object lets go of it as when its wait is cancelled: a read, a write,
** a connect, a lookup) and from the run queue, marked cancelled and
** finished; every scope is exited (its reason released) and every deadline
** disarmed. Afterwards cr_engine_close succeeds. The tasks' memory stays
** the binding's, and may be freed at once; what a task was handed and had
** not taken yet (woken, not run) is the engine's: a stream read's claim
** let go, a lookup's list freed.
*/
void cr_engine_abandon(cr_engine_t *e);
/* Seconds since init; virtual clock: the virtual time. Never cached. */
double cr_now(cr_engine_t *e);
/*
** Run ready tasks, poll I/O and fire deadlines once. `block`: may wait for
** I/O or the next deadline when nothing is ready. Returns 1 if anything
** can still happen, 0 when idle with nothing left, CR_EDEADLOCK when tasks
** live but nothing can ever wake them.
*/
int cr_engine_step(cr_engine_t *e, int block);
/*
** Whether the tasks run since the last poll of I/O have had their time
** (10 ms): the pass ends at the next switch. For a call that returns
** without waiting (data already buffered, a write the kernel took at
** once), which should then end with a schedule point, so that a loop of
** such calls lets I/O, timers and the other tasks in.
*/
int cr_engine_pass_over(cr_engine_t *e);
/*
** SIGKILL e's running child processes: for a process about to die of a
** signal, whose children the end of the run would have killed.
** Async-signal-safe: it reads a table of pids, which the loop's thread
** keeps (a child spawned while memory for the table ran out is missing).
*/
void cr_engine_kill_children(cr_engine_t *e);
/*
** Whether e's tasks are all blocked on what nothing but a stop signal can
** change: no task running or ready, no deadline, no I/O or request, no handle alive
** but the root policy's idle watchers (cr_signal_root). A deadlock the
** policy holds open, waiting for Ctrl-C; asked when one comes. Not when a
** task sleeps with no deadline (cr_task_sleep at +infinity): that task
** waits for the cancel on purpose, and the run for the signal.
*/
int cr_engine_stuck(cr_engine_t *e);
/* Fire every deadline at or before now (real clock only does anything). */
void cr_engine_poll_deadlines(cr_engine_t *e);

/*
** Attach the engine to its loop: the host keeps calling uv_run(loop,
** UV_RUN_DEFAULT) and the tasks run inside it, from a prepare and a check
** handle; while a task is ready the loop polls without blocking. While
** tasks live the check handle is referenced, so the loop stays alive for
** it. `cb` (may be NULL) is called from the check handle once no task is
** left (status 0), or when tasks live but nothing can wake them (status
** CR_EDEADLOCK: nothing but attached engines' check handles keeps the loop
** alive).
** Never call cr_engine_step while attached. cr_engine_detach stops the
** handles; cr_engine_close closes them.
*/
int cr_engine_attach(cr_engine_t *e, cr_attach_cb cb);
void cr_engine_detach(cr_engine_t *e);
/*
** For hosts whose main loop is not libuv: wait until uv_backend_fd(loop)
** is readable or cr_engine_timeout(e) milliseconds have passed (-1:
** forever), then call cr_engine_step(e, 0). The timeout is 0 while a task
** is ready (or, on the virtual clock, a deadline is armed).
*/
int cr_engine_timeout(cr_engine_t *e);
int cr_engine_backend_fd(cr_engine_t *e);
/* 1 while a task is ready to run (spawned, woken, yielded, or an idle
** waiter to wake), else 0: whether a cancel just made found anyone. */
int cr_engine_has_ready(const cr_engine_t *e);

/*
** Testing hooks.
** cr_engine_seed: schedule fuzzing. Whenever several tasks are ready at
** once, they run in an order drawn from `seed` (a PRNG of the engine's
** own), and so do deadlines due at the same instant; the same seed gives
** the same order. Never called: FIFO, and deadline ties in arming order.
** cr_engine_set_autojump: virtual clock only; the clock jumps to the next
** deadline only once every task has been blocked for `seconds` of real
** time, so real I/O can complete first (0, the default: at once). For an
** engine driven by cr_engine_step (corral.run's): an attached engine's
** clock still jumps at once.
** cr_task_wait_idle: park `t` until no task can run (tasks parked here
** count as blocked): before the virtual clock jumps, or before the step
** would block in the poll. Cancelling the wait unlinks it.
*/
void cr_engine_seed(cr_engine_t *e, uint64_t seed);
void cr_engine_set_autojump(cr_engine_t *e, double seconds);
void cr_task_wait_idle(cr_task_t *t);

/*
** Route libuv's allocations through corral (process-wide, counted: each
** guard call is paired with an unguard; the last unguard restores libc's
** allocator): when one fails, a reserve is freed and the allocation
** retried instead of libuv aborting, and every engine on the failing
** thread returns CR_ENOMEM from its next cr_engine_step. Only a program
** that owns libuv's allocator should hold it (the corral command does; a
** host with an allocator of its own for libuv should not).
** cr_alloc_refill sets a spent reserve aside again (a no-op unguarded).
** cr_alloc_fail_next makes the next n libuv allocations on this thread
** fail (for tests).
*/
void cr_alloc_guard_libuv(void);
void cr_alloc_unguard_libuv(void);
void cr_alloc_refill(void);
void cr_alloc_fail_next(int n);

/* --- timers ----------------------------------------------------------
**
** The binding's own: they fire while the engine's tasks run (a step with
** no task left returns 0 at once, whatever is armed), and an armed one
** makes cr_engine_close return CR_EBUSY: stop it first. A NaN `when` (in
** cr_timer_start, cr_task_sleep, cr_scope_set_deadline, a scope's or a
** group's deadline) is CR_EINVAL; +INFINITY never fires and is not armed.
*/

void cr_timer_init(cr_timer_t *t, cr_timer_cb cb);
int cr_timer_start(cr_engine_t *e, cr_timer_t *t, double when);
void cr_timer_stop(cr_engine_t *e, cr_timer_t *t);
int cr_timer_armed(const cr_timer_t *t);

/* --- scopes ---------------------------------------------------------- */

/* Enter `s` in `task` (the innermost scope becomes s). Not a cancellation
** point. deadline: absolute, INFINITY for none. */
int cr_scope_enter(cr_task_t *task, cr_scope_t *s, double deadline,
                   int shield);
/*
** Leave `s`, the task's innermost scope. `unwinding`: the task leaves it
** because a live Cancelled is propagating (see cr_scope_owns). The engine
** decides, now, what becomes of it: CR_END_ABSORBED if s is cancelled and
** no cancelled scope outside it is visible (s->cancel_caught is set);
** else CR_END_PASSED, *to being the scope that would absorb it now (NULL
** if none can be seen: raise the Cancelled unchanged). Without unwinding,
** CR_END_NORMAL.
*/
cr_end_t cr_scope_leave(cr_scope_t *s, int unwinding, cr_scope_t **to);
/* Leave without a decision (a plain exit; same as leave(s, 0, NULL)). */
void cr_scope_exit(cr_scope_t *s);
/*
** Cancel s with a record: source, origin task id (0 for none) and the
** binding's reason handle (may be NULL), which the engine takes over.
** Returns 1 if this call cancelled it, 0 if it was already cancelled or
** has exited (then the reason was released at once).
*/
int cr_scope_cancel(cr_scope_t *s, cr_source_t source, uint64_t origin,
                    void *reason);
/* Give a reason handle to an entered, cancelled scope that has none (a
** deadline's cancel); otherwise CR_EINVAL, the handle released at once. */
int cr_scope_set_reason(cr_scope_t *s, void *reason);
void cr_scope_set_shield(cr_scope_t *s, int shield);
int cr_scope_set_deadline(cr_scope_t *s, double deadline);
/* s->cancel_called, once a deadline that has passed but whose timer the
** loop has not run yet (a task computing since) has fired: a reader of the
** flag sees the deadline as it is, as Trio's cancel_called does. */
int cr_scope_cancel_called(cr_scope_t *s);
/*
** The scope that a Cancelled raised in `task` now would be absorbed by: the
** outermost cancelled scope the task can see (a shield hides what is
** outside it), or NULL if the task is not cancelled.
*/
cr_scope_t *cr_task_cancelled(cr_task_t *task);
/* The same, firing the deadlines due at `now`, a reading of cr_now the
** caller has just made (a sleep computing its deadline): one clock read
** less per blocking call. */
cr_scope_t *cr_task_cancelled_at(cr_task_t *task, double now);
/* The same without firing due deadlines first (for observers: the task
** tree, a tracer), cheap when nothing was cancelled since the last ask. */
cr_scope_t *cr_task_cancelled_now(cr_task_t *task);
/* The same, seen from scope `s` (inclusive) instead of a task. */
cr_scope_t *cr_scope_absorber(cr_scope_t *s);
/* Whether a cancel of scope s reaches task t now: t is inside s, and no
** shielded scope between them hides it (a shielded s is reached by its own
** cancel). For observers (a tracer's "cancelled" marks). Asking it of
** every task below s costs time linear in the scopes there, and asking it
** again, of a task deep in a chain, costs no walk of the chain while
** nothing was cancelled, shielded or moved since: the answers are kept in
** the groups on the way (one scope asked about at a time). */
int cr_scope_reaches(const cr_scope_t *s, const cr_task_t *t);
/* The same by the scope's id, for a cancel that came earlier: 1 it reaches
** t now, 0 a shield still hides it, -1 t is no longer inside that scope. A
** task that has ended is asked from its own scope. The same cost. */
int cr_task_reach(const cr_task_t *t, uint64_t sid);
/* The scope's position: 1 while it is entered (its Cancelled is live). */
int cr_scope_live(const cr_scope_t *s);
/*
** The scope whose cancel record speaks for s: s itself, or, for a g:start
** child that its group's cancel reached while it was starting, the group
** (whose reason and origin it shares). Valid while s lives.
*/
const cr_scope_t *cr_scope_record(const cr_scope_t *s);

/* Walk the live scope tree (the task tree, the trace): the entered
** children of `s` in entry order, or the root tasks' scopes when s is
** NULL. Pass prev = NULL for the first; NULL after the last. A scope
** whose owner's own scope it is (s == &s->owner->scope) is a task. */
cr_scope_t *cr_scope_next_child(cr_engine_t *e, cr_scope_t *s,
                                cr_scope_t *prev);
/* Every scope of root's subtree (root included; the whole forest when
** root is NULL) in pre-order, without recursion: pass s = NULL for the
** first, NULL after the last. */
cr_scope_t *cr_scope_walk(cr_engine_t *e, cr_scope_t *root, cr_scope_t *s);

/* --- tasks ----------------------------------------------------------- */

void cr_task_init(cr_engine_t *e, cr_task_t *t, void *data);
/* The engine a task belongs to (its own scope's). */
static inline cr_engine_t *cr_task_engine(const cr_task_t *t) {
  return t->scope.engine;
}
/* Start a root task (no group): it runs on a later step. CR_EINVAL once
** the engine is closing or closed. */
int cr_task_start_root(cr_task_t *t);
/*
** Park the running task; `abort` is asked when a cancel reaches it, at
** once if the task is inside a cancelled scope already (its wait-list
** links must be in place before the call: it is the last step). The
** engine keeps one abort callback per kind of wait, not one per task:
** every park of one kind (CR_WAIT_OTHER for cr_task_park) in an engine
** must pass the same callback. (cr_task_wait_idle has a kind of its own.)
*/
void cr_task_park(cr_task_t *t, cr_abort_cb abort);
/* The same, saying what it waits on (events, tree, trace). */
void cr_task_park_on(cr_task_t *t, cr_abort_cb abort, cr_wait_t wait,
                     const void *obj);
/* The abort callback of a wait that is only t->wait_link in a list. */
cr_abort_t cr_task_abort_unlink(cr_task_t *t);
/* Wake a parked task with 0 (delivered) or an error code. */
void cr_task_wake(cr_task_t *t, int status);
/* Abort a parked task's wait as a cancel would (CR_ECANCELED), whatever its
** scopes say: for a binding whose task can no longer run its continuation
** (its coroutine was closed from outside), so that no operation hands it
** anything and it is scheduled to be failed. No-op unless it is parked, or
** queued after a cancel ended its g:start wait (its held child is let go
** then, as cr_group_start_woken would). */
void cr_task_interrupt(cr_task_t *t);
/* Queue the running task at the back of the run queue (a checkpoint). */
void cr_task_yield(cr_task_t *t);
/* The same, after a call that is over (it gives way before it returns
** what it took): a t:cancel that comes before the task runs again comes
** after that call, as after a delivered wake-up, so a task that then
** returns ends done, with what the call took. */
void cr_task_yield_done(cr_task_t *t);
/* Park `t` until `target` finishes. Delivered wakes win over cancels. */
void cr_task_join(cr_task_t *t, cr_task_t *target);
/* Sleep until `when` on the engine clock. */
int cr_task_sleep(cr_task_t *t, double when);
/*
** The task's body ended with a live Cancelled: decide at its own scope.
** CR_END_ABSORBED (its own cancel: t:cancel(), cancel_caught set) or
** CR_END_PASSED (*to: an outer scope's; its group hears of it unless the
** task was still starting, when it is the starter's to raise), or
** CR_END_FAILED when no cancelled scope can see it (a stray Cancelled:
** report it as a failure). Call cr_task_done afterwards.
*/
cr_end_t cr_task_unwind(cr_task_t *t, cr_scope_t **to);
/* The task finished with `status` (DONE, FAILED or CANCELLED). Called
** from the task's own run callback, its record must stay valid until that
** callback has returned: the engine reads it then (the SUSPEND event). */
/*
** The task's body returned (not raised): CR_TASK_DONE, or CR_TASK_CANCELLED
** when its own scope was cancelled for it (t:cancel; not as its group) and
** no Cancelled has reached its level since, raised at a cancellation point
** or passed out of a scope: a cancel that met no cancellation point is not
** dropped. The binding ends the task with that status, and with the own
** scope's Cancelled in place of the results when cancelled.
*/
cr_task_status_t cr_task_returned(cr_task_t *t);
/* Whether the task's own cancel is owed (a return now ends it cancelled). */
int cr_task_cancel_owed(const cr_task_t *t);
/* Whether t, queued, was woken with what it waited for (or gave way after
** a call that was over, cr_task_yield_done): that call returns it first,
** whatever cancel came since; the next cancellation point raises. */
int cr_task_handed(const cr_task_t *t);
void cr_task_done(cr_task_t *t, cr_task_status_t status);

/* --- groups ---------------------------------------------------------- */

typedef struct {
  size_t limit;           /* 0 = none */
  size_t max_errors;      /* 0 = default (1000) */
  int defer_errors;
  int shield;
  double deadline;        /* INFINITY for none */
} cr_group_opts_t;

/* Init and enter the group in `parent` (the body's task). */
int cr_group_init(cr_task_t *parent, cr_group_t *g, const cr_group_opts_t *o);
/* Add `t` as a child: CR_ECLOSED, CR_ESTOPPING, or 0 (scheduled). */
int cr_group_spawn(cr_group_t *g, cr_task_t *t);
/*
** g:start: spawn `t` into g, running under the starter's current scope
** until cr_task_ready, and park `starter` until then or until t finishes
** (cancelling the starter cancels t; once t runs, the starter's wait is
** not abortable). Like a spawn, it is never refused for cancellation.
** While t waits for a slot of g's limit (cr_task_held), a cancel of the
** starter does abort its wait: the starter wakes with CR_ECANCELED, and
** calls cr_group_start_woken before anything else.
*/
int cr_group_start(cr_group_t *g, cr_task_t *t, cr_task_t *starter);
/*
** The starter of t, woken from its g:start wait with CR_ECANCELED, t not
** finished. Cancellation is a level, read now: if the starter is still
** cancelled and t still only waits for a slot, t is cancelled too (its own
** scope, the starter the origin, `reason` a handle for the cancel record,
** taken over either way) and becomes its group's child, no longer
** starting (its ready() does nothing): it keeps its place in the queue and
** runs up to its first cancellation point once it has a slot, and the
** group joins it. 1: the starter raises its Cancelled now. Otherwise (a
** shield set since hides the cancel, or t got its slot meanwhile) the
** starter is parked again to wait for t: 0, it yields.
*/
int cr_group_start_woken(cr_task_t *t, cr_task_t *starter, void *reason);
/*
** The child called ready(): move it under its group and wake the starter;
** CR_EINVAL if it is not starting. CR_ECANCELED when the starter's scope
** is cancelled: then nothing moves (as Trio's started() in a cancelled
** nursery), the child stays under the starter's cancelled scope, whose
** Cancelled its next cancellation point raises, and the starter wakes
** when the child finishes.
*/
int cr_task_ready(cr_task_t *t);
/*
** A failure of the group: `fatal` (the body, or out of memory) always
** cancels; otherwise it cancels unless defer_errors. `origin` is the
** failing task's id and `reason` a handle for the cancel record (taken
** over). Returns 1 if the binding should keep the error value, 0 if it is
** counted in `dropped`.
*/
int cr_group_fail(cr_group_t *g, int fatal, uint64_t origin, void *reason);
/* The body returned (CR_END_NORMAL), raised (CR_END_FAILED, after
** cr_group_fail) or was unwound by a live Cancelled (CR_END_PASSED). */
void cr_group_body_done(cr_group_t *g, cr_end_t how);
/* Park the body's task until every child finished (not abortable). */
int cr_group_join(cr_group_t *g);
/*
** Leave the group's scope once joined; spawns raise CR_ECLOSED from now
** on. Returns CR_END_FAILED when failures were recorded (raise them),
** else, if a Cancelled reached it, CR_END_ABSORBED or CR_END_PASSED (*to,
** as cr_scope_leave), else CR_END_NORMAL.
*/
cr_end_t cr_group_close(cr_group_t *g, cr_scope_t **to);
/* Graceful stop: grace < 0 waits forever, 0 cancels now; NaN is CR_EINVAL
** (the reason is released). The cancel when the grace ends carries origin
** and reason (taken over). */
int cr_group_stop(cr_group_t *g, double grace, uint64_t origin,
                  void *reason);
/* When a stop's grace ends (the group is then cancelled), on the engine
** clock; INFINITY when no grace is running. */
double cr_group_stop_deadline(const cr_group_t *g);
/* Park `t` until the group is stopping (returns 1 if it already is). */
int cr_group_wait_stopping(cr_group_t *g, cr_task_t *t);
/*
** Children not yet finished: pass NULL for the first. Those below the
** group's scope come first, in the order they joined it (spawn order, or
** for a g:start child the moment it called ready), then those still
** starting below their starters' scopes. Sort by scope.id for spawn order.
*/
cr_task_t *cr_group_next_child(cr_group_t *g, cr_task_t *prev);

/* --- synchronisation (sync.c, chan.c) ---------------------------------
**
** Every wait parks the task with an abort that unlinks it, so a cancelled
** waiter leaves in O(1) and never receives anything. Every hand-off goes
** straight to the longest waiter: a released permit, a sent value, a freed
** channel slot are given, not left for whoever asks next.
*/

typedef struct {
  cr_queue_t waiters;     /* private */
  unsigned is_set : 1;    /* read-only */
} cr_event_t;

void cr_event_init(cr_event_t *ev);
/* 1 if set (nothing to wait for), else parks t and returns 0. */
int cr_event_wait(cr_event_t *ev, cr_task_t *t);
/* Set it and wake every waiter. */
void cr_event_set(cr_event_t *ev);
/* How many tasks wait on it (counted: O(n), for introspection). */
size_t cr_event_waiting(const cr_event_t *ev);

typedef struct {
  size_t value;           /* read-only: permits available */
  size_t max;             /* read-only: 0 = unbounded */
  uint64_t owner;         /* read-only: id of the last task to acquire
                          ** (locks; 0 = none). An id, not a pointer: the
                          ** holder may end, and its memory go, first. */
  cr_queue_t waiters;     /* private */
} cr_sem_t;

void cr_sem_init(cr_sem_t *s, size_t value, size_t max);
/* 1 if acquired now, else parks t (FIFO) and returns 0. */
int cr_sem_acquire(cr_sem_t *s, cr_task_t *t);
/* 1 if a permit was free and is now taken, owner (a task id, or 0) its
** holder; else 0, and nothing changes (a waiter is never overtaken: a
** permit is only free while nobody waits). */
int cr_sem_try_acquire(cr_sem_t *s, uint64_t owner);
/* Hand the permit to the longest waiter, or keep it. CR_EINVAL if that
** would exceed max (releasing a lock that is not held). */
int cr_sem_release(cr_sem_t *s);
/* Wake every waiter with CR_ECLOSED, the permits unchanged: a lock whose
** holder ended without releasing it (nobody can any more). */
void cr_sem_break(cr_sem_t *s);
int cr_sem_has_waiters(const cr_sem_t *s);
/* How many tasks wait for a permit (counted: O(n), for introspection). */
size_t cr_sem_waiting(const cr_sem_t *s);

typedef struct {
  size_t cap;             /* read-only: 0 = rendezvous */
  size_t count;           /* read-only: values buffered */
  size_t head;            /* read-only: slot of the oldest value */
  cr_queue_t senders;     /* private */
  cr_queue_t receivers;   /* private */
  unsigned closed : 1;    /* read-only */
} cr_chan_t;

typedef enum {
  CR_CHAN_PARKED = 0,     /* the task waits; keep its value (send) */
  CR_CHAN_BUFFERED,       /* send: store at *slot; recv: take from *slot */
  CR_CHAN_HANDOFF,        /* straight to/from the waiting task *peer */
  CR_CHAN_CLOSED,         /* recv: closed and drained; send: CR_ECLOSED */
  CR_CHAN_WOULDBLOCK      /* t was NULL (a try): it would have parked */
} cr_chan_result_t;

void cr_chan_init(cr_chan_t *c, size_t cap);
/* Send by t: a waiting receiver (*peer, woken) gets the value, else a free
** slot (*slot), else t parks. Closed: CR_CHAN_CLOSED. With t NULL, a try
** (from a task or not): CR_CHAN_WOULDBLOCK where t would have parked. */
cr_chan_result_t cr_chan_send(cr_chan_t *c, cr_task_t *t, cr_task_t **peer,
                              size_t *slot);
/* 1 and the slot (*slot) a send would fill if made now (no receiver waits,
** there is room, open), else 0. Nothing changes: a host whose store of a
** value may fail (it allocates) makes room there first, then sends, so a
** counted slot never lacks its value. */
int cr_chan_next_slot(const cr_chan_t *c, size_t *slot);
/* Receive by t: the oldest buffered value (*slot), or straight from a
** waiting sender (*peer, woken), or closed, or t parks (t NULL: a try,
** CR_CHAN_WOULDBLOCK). After BUFFERED, call cr_chan_refill to move a
** waiting sender's value into the freed slot. */
cr_chan_result_t cr_chan_recv(cr_chan_t *c, cr_task_t *t, cr_task_t **peer,
                              size_t *slot);
/* After a buffered receive: 1 if *peer (woken) must store its value at
** *slot, 0 if no sender waits. */
int cr_chan_refill(cr_chan_t *c, cr_task_t **peer, size_t *slot);
/* An empty channel's next value goes to slot 0 (a host that stores the
** values in a structure of its own starts a fresh one); 0, or CR_EINVAL
** (and nothing changes) if values are buffered. */
int cr_chan_rebase(cr_chan_t *c);
/* Close: receivers wake with CR_ECLOSED once drained, senders with
** CR_ECLOSED at once. */
void cr_chan_close(cr_chan_t *c);
/* How many tasks wait to send, and to receive (counted: O(n)). */
size_t cr_chan_senders_waiting(const cr_chan_t *c);
size_t cr_chan_receivers_waiting(const cr_chan_t *c);

/* --- I/O (io.c, tcp.c, proc.c, signal.c) --------------------------------
**
** I/O objects are allocated by the engine, because libuv owns a handle
** until its close callback; the binding holds a pointer and is told by
** `on_free` just before the memory goes. Every blocking call parks the
** task; its abort cancels or closes the libuv request or handle, so a
** cancelled operation returns control at once and leaks nothing.
** cr_engine_close closes whatever is still open.
*/

typedef struct cr_io_s cr_io_t;
typedef void (*cr_io_cb)(cr_io_t *io);

struct cr_io_s {
  void *data;             /* public */
  cr_io_cb on_free;       /* public: called just before the memory is freed */
  cr_engine_t *engine;    /* read-only */
  int type;               /* read-only: CR_IO_* */
  unsigned closing : 1;   /* read-only: close requested */
  cr_queue_t link;        /* private: in engine->ios */
  cr_io_cb close;         /* private: how to close this kind */
};

enum { CR_IO_STREAM = 1, CR_IO_LISTENER, CR_IO_PROCESS };

typedef struct cr_stream_s {
  cr_io_t io;
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;                    /* private */
  char *buf;              /* private: read buffer */
  size_t off, len;        /* private: unread bytes are buf[off, off+len) */
  int rstatus;            /* read-only: 0, UV_EOF or a read error */
  cr_task_t *reader;      /* private: task parked in read, or woken from
                          ** it and yet to run (the task's `claim`): no
                          ** other task reads meanwhile */
  cr_task_t *connector;   /* private: task parked in connect */
  uv_connect_t connect_req; /* private */
  size_t writes;          /* private: writes in flight */
  struct cr_stream_s **owner_slot; /* private: the pointer that names this
                          ** stream elsewhere (a process's stdio[i]),
                          ** cleared when the stream is freed */
  unsigned reading : 1;    /* private */
  unsigned shut : 1;       /* read-only: cr_stream_shutdown was called */
  unsigned connected : 1;  /* private */
  unsigned reset : 1;     /* private: a cancelled write: close with a reset */
  unsigned write_reset : 1; /* private: a write saw the peer reset */
} cr_stream_t;

typedef struct cr_listener_s {
  cr_io_t io;
  uv_tcp_t tcp;           /* private */
  int port;               /* read-only: the bound port */
  size_t pending;         /* private: connections not yet accepted */
  cr_queue_t acceptors;   /* private */
  int error;              /* read-only: last listen error */
  int backlog;            /* private */
  int spare;              /* private: a second descriptor of the socket,
                          ** which keeps it listening while `tcp` rests */
  unsigned resting : 2;   /* private: 0 listening; 1 `tcp` closing and
                          ** 2 closed, after an accept ran out of fds or
                          ** memory (the next cr_tcp_accept reopens it) */
} cr_listener_t;

typedef struct cr_proc_s {
  cr_io_t io;
  uv_process_t proc;      /* private */
  int pid;                /* read-only */
  int exited;             /* read-only */
  int64_t exit_status;    /* read-only */
  int term_signal;        /* read-only: 0 if none */
  cr_stream_t *stdio[3];  /* read-only: pipes, NULL when not piped */
  cr_queue_t waiters;     /* private */
} cr_proc_t;

/* Close any I/O object (idempotent). Blocked tasks wake with CR_ECLOSED.
** Closing a process closes its pipes; a pipe closed first is simply
** skipped (its stdio slot is cleared when the pipe is freed). */
void cr_io_close(cr_io_t *io);
/* I/O objects whose close was asked but whose memory is not freed yet
** (a process waits to be reaped): for leak checks. */
size_t cr_io_closing(const cr_engine_t *e);
/* Name lookups whose task stopped waiting (cancelled) while libuv's thread
** pool ran them: uv_cancel cannot stop one that started, so it runs on
** and counts in stats.handles until it ends on its own. For leak checks,
** which wait for these and do not count them. */
size_t cr_lookups_abandoned(const cr_engine_t *e);
/* How many I/O objects of `type` (CR_IO_*) are open or closing. */
size_t cr_io_count(const cr_engine_t *e, int type);
/* How many of them are open (their close not asked yet). */
size_t cr_io_open(const cr_engine_t *e, int type);
/* Signal watchers the engine holds (one per signal number caught). */
size_t cr_signal_watchers(const cr_engine_t *e);
/* Stop the watchers nobody waits on (outside the root policy) whose signal
** had the default action before corral caught it (or that another watcher
** still covers), so that the default action comes back: for an engine that
** outlives a run (a host between two roots). One whose signal had a handler
** stays: stopping it would leave a moment with SIG_DFL (libuv's stop)
** before that handler is back, which a signal arriving then dies of. A
** later wait starts a stopped watcher again. While a child process the
** engine started still runs, the release waits until the last one has
** exited (a child signalling its parent is part of the run), unless a root
** starts first. */
void cr_signal_release_idle(cr_engine_t *e);

/*
** Streams. Calls that can block return 1 after parking `t` (it wakes with
** wake_status 0 when ready, an error code otherwise, and calls again), 0
** when done at once, or a negative error code.
*/
/* Read: 0 with *p, *n set to buffered bytes (consume what you use with
** cr_stream_consume), UV_EOF, an error, or 1 (parked). */
int cr_stream_read(cr_stream_t *s, cr_task_t *t, const char **p, size_t *n);
/* With bytes buffered that are not enough (no whole line yet): park t
** until more arrive (1), or 0 when the buffer is full and must be consumed
** first, or UV_EOF / an error, the buffered bytes staying readable. */
int cr_stream_wait_more(cr_stream_t *s, cr_task_t *t);
void cr_stream_consume(cr_stream_t *s, size_t n);
/* Write all of data: 0 when written at once, 1 when parked until libuv has
** written it (the data is copied). Cancelling a parked write closes the
** stream: part of the data may have been sent. */
int cr_stream_write(cr_stream_t *s, cr_task_t *t, const char *data,
                    size_t len);
/* Half-close after pending writes (does not block). */
int cr_stream_shutdown(cr_stream_t *s);

/* Connect to addr; *out is the stream (also on failure, to be closed). */
int cr_tcp_connect(cr_engine_t *e, cr_task_t *t, const struct sockaddr *addr,
                   cr_stream_t **out);
int cr_tcp_listen(cr_engine_t *e, const struct sockaddr *addr, int backlog,
                  cr_listener_t **out);
/* Accept: 0 with *out, 1 (parked; on wake, t->xfer holds the stream), or
** an error. */
int cr_tcp_accept(cr_listener_t *l, cr_task_t *t, cr_stream_t **out);

/* Resolve host: 1 (parked; on wake t->xfer is a struct addrinfo list, the
** task's to free with uv_freeaddrinfo once it runs; one abandoned, or
** ended, before it ran again has it freed by the engine) or an error. */
int cr_resolve(cr_engine_t *e, cr_task_t *t, const char *host);

typedef struct {
  const char *file;       /* path to run */
  char **args;            /* argv, NULL-terminated, argv[0] included */
  char **env;             /* NULL = inherit */
  const char *cwd;        /* NULL = inherit */
  int pipe[3];            /* 1 = a pipe for stdin/stdout/stderr, 0 = inherit */
} cr_proc_opts_t;

int cr_proc_spawn(cr_engine_t *e, const cr_proc_opts_t *o, cr_proc_t **out);
/* 0 when it has exited, 1 when t parked until it does (it wakes with 0,
** or CR_ECLOSED if the process object is closed first), CR_ECLOSED when
** it is being closed. A wait woken with 0 also finds the outcome in
** t->xfer (non-NULL), readable with cr_proc_outcome_status/_signal even
** once another waiter has closed the process. */
int cr_proc_wait(cr_proc_t *p, cr_task_t *t);
static inline void *cr__proc_outcome(int64_t status, int signum) {
  return (void *)(uintptr_t)(0x10000u | ((uintptr_t)(signum & 0x7f) << 8) |
                             ((uintptr_t)status & 0xff));
}
static inline int cr_proc_outcome_status(const void *x) {
  return (int)((uintptr_t)x & 0xff);
}
static inline int cr_proc_outcome_signal(const void *x) {
  return (int)(((uintptr_t)x >> 8) & 0x7f);
}
int cr_proc_kill(cr_proc_t *p, int signum);

/* Start or stop a libuv signal watcher of the host's own (any loop) as
** corral starts its own: counted across the process, so that once the
** last of them stops the signal gets back what it had before the first
** (libuv alone would leave SIG_DFL, or its own handler when corral's
** watchers and the host's stop in another order). 0 or a libuv error.
** Starting a counted watcher again moves it (new callback, new signal);
** cr_signal_stop of one never counted is a plain uv_signal_stop. Stop a
** counted watcher before closing it (cr_engine_close does, for those left
** on its own loop). */
int cr_signal_start(uv_signal_t *h, uv_signal_cb cb, int signum);
void cr_signal_stop(uv_signal_t *h);

/*
** A function in front of a signal's disposition, process-wide (the Lua
** binding's Ctrl-C for a task that never blocks, and for lua's own
** interpreter): while set, corral's handler is the disposition, put back
** in front each time libuv changes it as watchers start and stop. Each
** arrival goes first to what is underneath: libuv's handler while a
** counted watcher of the signal is active, else what the process had
** before corral held the signal (its handler is called; SIG_DFL's default
** action is taken; SIG_IGN ignores); then fn(signum) is called, in the
** signal handler (async-signal-safe code only). Two functions per signal
** at most, each once: CR_EBUSY otherwise; with need_handler, CR_EINVAL
** (nothing set) when nothing underneath is a handler. cr_signal_unfront
** takes fn out; after the last, what is underneath is put back, unless the
** program set another disposition meanwhile (with dfl_is_ours, SIG_DFL
** does not count as one: a chained handler may have set it); once neither
** a front nor a counted watcher holds the signal, it has what it had
** before either.
*/
typedef void (*cr_signal_front_fn)(int signum);
int cr_signal_front(int signum, cr_signal_front_fn fn, int need_handler);
void cr_signal_unfront(int signum, cr_signal_front_fn fn, int dfl_is_ours);
/*
** Send signum to `thread`, for the front fn alone: there, corral's handler
** calls fn (if it is still a front of signum) and nothing underneath,
** which had the arrival already. For a front that must run in one thread
** (it touches that thread's Lua state) and heard an arrival in another.
** Async-signal-safe. 0, or CR_EINVAL (bad arguments, fn not a front of
** signum, or no such thread). A thread that blocks signum gets it once it
** unblocks it. A program's own sigqueue of a signal is an arrival like any
** other, whatever its value.
*/
int cr_signal_forward(uv_thread_t thread, int signum, cr_signal_front_fn fn);

/*
** Signals (signal.c). Park t until signal signum arrives (returns 1), or
** an error: CR_EINVAL for a number the platform has no signal for, or
** SIGKILL/SIGSTOP. Every waiter wakes on each arrival; an arrival while
** nobody waits is dropped, except for SIGINT and SIGTERM, which then get
** their default action (or the root policy below). A signal's watcher keeps
** the loop alive only while a task waits on it (or under the root policy).
*/
int cr_signal_wait(cr_engine_t *e, cr_task_t *t, int signum);
/*
** The root policy for SIGINT and SIGTERM. While a task waits for the
** signal, it only wakes the waiters. Otherwise the first one cancels
** root's scope with CR_SRC_SIGNAL and the reason cb gives (cb may be NULL;
** not called if the scope was already cancelled or exited), after setting
** e->root_signal, and any
** later SIGINT or SIGTERM kills the process with its default action.
** These watchers keep the loop alive, but hide no deadlock: a step that
** finds nothing but them able to wake a task (cr_engine_stuck) reports
** CR_EDEADLOCK, unless a task sleeps with no deadline, which waits for the
** signal on purpose. root == NULL turns the policy off. root must stay valid while it is on.
** Signal dispositions are process-wide: every engine watching a signal
** sees each arrival, and the kill ends them all.
*/
int cr_signal_root(cr_engine_t *e, cr_task_t *root, cr_reason_cb cb);
/*
** Deliver an arrival of SIGINT or SIGTERM that a watcher of this engine
** will deliver later, now, as that watcher would (wake its waiters, or
** cancel the root, or kill by rule 3); the watcher's own delivery of it is
** then skipped. For a binding that heard the arrival from its own handler
** while the loop cannot turn (a task busy inside a C call). CR_EINVAL if
** no watcher of signum is active.
*/
int cr_signal_deliver(cr_engine_t *e, int signum);
/* The same for an arrival that is to change nothing (held with one that
** was just delivered, it is part of that one): counted as delivered, and
** the watcher's own delivery of it skipped. */
int cr_signal_absorb(cr_engine_t *e, int signum);
/* End the current burst of stop signals (signal_burst): the next arrival
** counts as a new one, as it does once the loop has turned and what the
** burst woke has run. For a binding that delivers arrivals itself. */
void cr_signal_burst_end(cr_engine_t *e);
/*
** Cancel root as the root policy's first SIGINT or SIGTERM does, for a
** stop signal the caller heard some other way (a host's own handler): the
** policy's rules hold from then on (a later SIGINT or SIGTERM that a
** watcher of this engine delivers kills), but no watcher is started.
*/
void cr_signal_interrupt(cr_engine_t *e, cr_task_t *root, int signum,
                         cr_reason_cb cb);
/* The signal number a task parked in cr_signal_wait waits for: pass its
** wait_obj (CR_WAIT_SIGNAL). */
int cr_signal_waited(const void *wait_obj);

#ifdef __cplusplus
}
#endif

#endif
