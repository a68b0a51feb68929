/*
** loop.c -- engine init/close, the clock, and the scheduler step.
**
** One step: run ready tasks (up to a budget), then poll I/O once, then fire
** deadlines. Running the whole ready queue before polling is what makes a
** hand-off between two tasks cost a resume instead of an epoll_wait; the
** budget bounds how long I/O can be starved by tasks that keep each other
** busy (a ping-pong never empties the queue).
*/
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"

static void arm_uvtimer(cr_engine_t *e);

/*
** libuv runs due timers before it polls (UV_RUN_ONCE), and may fire ours a
** little early (its clock counts whole milliseconds). So fire what is due,
** then re-arm for the next deadline: a one-shot timer left inactive would
** let the poll wait for ever on whatever else keeps the loop alive.
*/
static void uvtimer_cb(uv_timer_t *h) {
  cr_engine_t *e = h->data;
  cr_engine_poll_deadlines(e);
  if (e->clock == CR_CLOCK_REAL) arm_uvtimer(e);
}

/*
** The idle handle is started whenever a task is ready to run. While an
** idle handle is active libuv polls without blocking, so a task woken
** inside a libuv callback (a deadline in the timer phase, which libuv runs
** before polling) never waits behind a poll that something else keeps
** alive: a signal watcher, a host's own handles. It is unreferenced: it
** never keeps the loop alive by itself.
*/
static void idle_cb(uv_idle_t *h) { (void)h; }

void cr__engine_ready(cr_engine_t *e) {
  /* Only while something runs what is ready: the prepare and check of an
  ** attached engine, or cr_engine_step. Otherwise (a host that steps the
  ** engine later, or a detached one) an active idle handle would keep the
  ** host's own poll from ever blocking: a spin. */
  if (!e->attached && !e->driving) return;
  if (!uv_is_active((uv_handle_t *)&e->idle))
    uv_idle_start(&e->idle, idle_cb);
}

void cr__emit(cr_engine_t *e, cr_event_kind_t kind, cr_task_t *t,
              cr_scope_t *s, int status, cr_wait_t wait, const void *obj) {
  cr_engine_event_t ev;
  ev.kind = kind;
  ev.task = t;
  ev.scope = s;
  ev.status = status;
  ev.wait = wait;
  ev.obj = obj;
  e->on_event(e, &ev);
}

/*
** libuv takes the descriptors 0, 1 and 2 for the standard streams and
** aborts if one of its own fds lands there (a program started with stdin,
** stdout or stderr closed, as `cmd <&-` does): the lowest free fds are
** filled with /dev/null first, until one above 2 comes back.
*/
static void reserve_stdio(void) {
  for (;;) {
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0) return;
    if (fd > STDERR_FILENO) {
      close(fd);
      return;
    }
    fcntl(fd, F_SETFD, 0);               /* a standard stream is inherited */
  }
}

int cr_engine_init(cr_engine_t *e, uv_loop_t *loop, cr_clock_t clock) {
  int rc;
  memset(e, 0, sizeof *e);
  e->alloc_seen = cr__alloc_failures();
  if (loop == NULL) {
    reserve_stdio();
    rc = uv_loop_init(&e->own_loop);
    if (rc) return rc;
    loop = &e->own_loop;
    e->owns_loop = 1;
  }
  e->loop = loop;
  e->clock = clock;
  cr__queue_init(&e->runq);
  e->woke_tail = &e->runq;
  e->uv_when = NAN;
  cr__queue_init(&e->ios);
  cr__queue_init(&e->resolves);
  cr__queue_init(&e->sigwatchers);
  cr__queue_init(&e->roots);
  cr__queue_init(&e->idlers);
  e->next_id = 1;
  e->t0 = uv_hrtime();
  rc = uv_timer_init(loop, &e->uvtimer);
  if (rc == 0) {
    rc = uv_idle_init(loop, &e->idle);
    if (rc) uv_close((uv_handle_t *)&e->uvtimer, NULL);
  }
  if (rc == 0) {
    rc = uv_prepare_init(loop, &e->io_keep);
    if (rc) {
      uv_close((uv_handle_t *)&e->uvtimer, NULL);
      uv_close((uv_handle_t *)&e->idle, NULL);
    }
  }
  if (rc) {
    if (e->owns_loop) {
      uv_run(&e->own_loop, UV_RUN_NOWAIT);
      uv_loop_close(&e->own_loop);
    }
    return rc;
  }
  e->uvtimer.data = e;
  e->idle.data = e;
  e->io_keep.data = e;
  uv_unref((uv_handle_t *)&e->idle);
  e->stats.handles += 3;
  return 0;
}

static void io_keep_cb(uv_prepare_t *h) { (void)h; }

/*
** A task starts or stops waiting on I/O. corral's I/O handles do not keep
** the loop alive by themselves (cr__io_unref); these waits do, through one
** prepare handle, so that a run whose tasks all wait on anything else is a
** deadlock however many listeners, streams and processes are open.
*/
void cr__engine_io_wait(cr_engine_t *e, int delta) {
  if (delta > 0 && e->io_waits++ == 0 && !e->closing)
    uv_prepare_start(&e->io_keep, io_keep_cb);
  else if (delta < 0 && e->io_waits > 0 && --e->io_waits == 0)
    uv_prepare_stop(&e->io_keep);
}

static void handle_close_cb(uv_handle_t *h) {
  cr_engine_t *e = h->data;
  e->stats.handles--;
}

/* A handle still open on the engine's own loop once its own are closed. A
** host's signal watcher started with cr_signal_start is uncounted first,
** so that its signal gets back what it had before. */
static void close_stray(uv_handle_t *h, void *arg) {
  (void)arg;
  if (uv_is_closing(h)) return;
  if (h->type == UV_SIGNAL) cr_signal_stop((uv_signal_t *)h);
  uv_close(h, NULL);
}

int cr_engine_close(cr_engine_t *e) {
  if (e->closed) return 0;               /* closed already: nothing left */
  if (e->stats.tasks || e->stats.scopes || e->nheap) return CR_EBUSY;
  if (!e->closing) {
    e->closing = 1;
    cr__io_close_all(e);
    /* The children are dead and reaped before the signal watchers stop: a
    ** signal a child sent its parent (up to its SIGKILL) has arrived by
    ** then, and is not met by a default action that kills the process. */
    cr__proc_reap_all(e);
    cr__signal_close_all(e);
    uv_close((uv_handle_t *)&e->uvtimer, handle_close_cb);
    uv_close((uv_handle_t *)&e->idle, handle_close_cb);
    uv_close((uv_handle_t *)&e->io_keep, handle_close_cb);
    if (e->attach_init) {
      uv_close((uv_handle_t *)&e->prepare, handle_close_cb);
      uv_close((uv_handle_t *)&e->check, handle_close_cb);
    }
  }
  if (e->owns_loop) {
    int rc;
    /* From the attach callback, inside uv_run of our own loop: the loop
    ** cannot be run to its end nor closed from there. The handles are on
    ** their way; close again once that uv_run has returned. */
    if (e->in_report) return CR_EBUSY;
    /* Ours first: their closes, then what still runs (a lookup in the
    ** thread pool). Then what someone else left on our loop (a host's
    ** timer on corral_host_loop): closed too, or the loop could neither
    ** stop nor close. */
    uv_run(e->loop, UV_RUN_NOWAIT);
    cr__resolve_detach_all(e);   /* (a task abandoned in one is gone) */
    while (e->stats.handles > 0 && uv_loop_alive(e->loop))
      uv_run(e->loop, UV_RUN_ONCE);
    uv_walk(e->loop, close_stray, NULL);
    uv_run(e->loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(e->loop);
    if (rc) return rc;
    cr__signal_loop_closed(e);   /* libuv's SIGCHLD watcher is gone now */
  } else {
    /* The host's loop: let our close callbacks run; host handles are
    ** left alone (uv_run NOWAIT only processes what is ready). */
    uv_run(e->loop, UV_RUN_NOWAIT);
    cr__resolve_detach_all(e);  /* lookups still running end on their own */
    cr__signal_loop_closed(e);  /* (the host's loop keeps libuv's watcher) */
  }
  cr__heap_free(e);
  cr__kids_free(e);
  free(e->batch);
  e->batch = NULL;
  e->batchcap = 0;
  if (e->stats.handles) return CR_EBUSY;
  e->closed = 1;
  return 0;
}

double cr_now(cr_engine_t *e) {
  if (e->clock == CR_CLOCK_VIRTUAL) return e->vnow;
  return (double)(uv_hrtime() - e->t0) / 1e9;
}

/* --- timers ---------------------------------------------------------- */

void cr_timer_init(cr_timer_t *t, cr_timer_cb cb) {
  t->cb = cb;
  t->when = INFINITY;
  t->index = CR__NOT_ARMED;
}

int cr_timer_armed(const cr_timer_t *t) { return t->index != CR__NOT_ARMED; }

int cr_timer_start(cr_engine_t *e, cr_timer_t *t, double when) {
  int rc;
  CR__IF_CLOSED(e);
  if (when != when) return CR_EINVAL;    /* NaN: never due, nor not due */
  if (cr_timer_armed(t)) cr_timer_stop(e, t);
  t->when = when;
  if (isinf(when) && when > 0) return 0;   /* never fires: not armed */
  rc = cr__heap_push(e, t, e->next_seq++);
  if (rc == 0) e->stats.timers++;
  return rc;
}

void cr_timer_stop(cr_engine_t *e, cr_timer_t *t) {
  if (!cr_timer_armed(t)) return;
  cr__heap_remove(e, t);
  e->stats.timers--;
  /* The last deadline went: libuv's timer, armed for it, would keep a
  ** host's loop alive until it (a root run or stepped to its end leaves
  ** it so: nothing re-arms it then). Another one re-arms it lazily. */
  if (e->nheap == 0 && e->clock == CR_CLOCK_REAL) uv_timer_stop(&e->uvtimer);
}

/*
** Fire every timer due at `now`. Timers armed by a callback during this
** pass carry a newer seq and wait for the next pass, so a callback that
** re-arms itself at `now` cannot loop here forever.
*/
void cr__timers_fire(cr_engine_t *e, double now) {
  uint64_t limit = e->next_seq;
  unsigned firing = e->firing;
  e->firing = 1;
  /* The slot holds the key: the timer itself is touched once, to fire. */
  while (e->nheap && e->heap[0].when <= now && e->heap[0].armed < limit) {
    cr_timer_t *t = cr__heap_top(e);
    cr_timer_stop(e, t);
    t->cb(t);
  }
  e->firing = firing;
}

void cr_engine_poll_deadlines(cr_engine_t *e) {
  if (e->nheap && e->clock == CR_CLOCK_REAL) cr__poll_deadlines_at(e, cr_now(e));
}

/* The same with the clock read by the caller (a sleep read it already).
** The slot holds the earliest deadline: the timer itself is not touched. */
void cr__poll_deadlines_at(cr_engine_t *e, double now) {
  if (e->nheap && e->clock == CR_CLOCK_REAL && e->heap[0].when <= now)
    cr__timers_fire(e, now);
}

/*
** Arm the single uv_timer for the earliest deadline. libuv caches loop
** time, so refresh it first: a stale time would make the timer fire early.
** An early fire is harmless anyway: cr__timers_fire re-checks the clock and
** we re-arm; rounding up to whole milliseconds keeps that rare.
*/
static void arm_uvtimer(cr_engine_t *e) {
  cr_timer_t *t = cr__heap_top(e);
  if (t == NULL) {
    uv_timer_stop(&e->uvtimer);
    return;
  }
  /* Already armed for this deadline: leave it (no clock read, no restart). */
  if (t->when == e->uv_when && uv_is_active((uv_handle_t *)&e->uvtimer))
    return;
  e->uv_when = t->when;
  uv_update_time(e->loop);
  double ms = ceil((t->when - cr_now(e)) * 1000.0);
  if (ms < 0) ms = 0;
  if (ms > 1e12) ms = 1e12;
  uv_timer_start(&e->uvtimer, uvtimer_cb, (uint64_t)ms, 0);
}

/* --- testing hooks: schedule fuzzing, idle waiters, autojump ---------- */

/* splitmix64's finaliser: a bijection on 64 bits. */
static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void cr_engine_seed(cr_engine_t *e, uint64_t seed) {
  e->rng = mix64(seed);
  e->tie_salt = mix64(seed ^ 0x5bd1e9955bd1e995ULL) | 1;
}

void cr_engine_set_autojump(cr_engine_t *e, double seconds) {
  e->autojump = seconds > 0 ? seconds : 0;
}

/* The heap key that orders timers due at the same instant: the arming
** order, or (seeded) a permutation of it drawn from the seed. */
uint64_t cr__tie_key(cr_engine_t *e, uint64_t seq) {
  return e->tie_salt ? mix64(seq ^ e->tie_salt) : seq;
}

static uint64_t rng_next(cr_engine_t *e) {
  return mix64(e->rng += 0x9e3779b97f4a7c15ULL);
}

/*
** Seeded runs: the tasks ready when a batch starts run in an order drawn
** from the PRNG (Fisher-Yates, then relinked); tasks made ready meanwhile
** wait for the next batch, as they would in FIFO order. O(1) amortised
** per resume; if the scratch array cannot grow, this batch stays FIFO.
*/
static void shuffle_runq(cr_engine_t *e) {
  size_t n = 0, i;
  cr_queue_t *q;
  for (q = e->runq.next; q != &e->runq; q = q->next) n++;
  e->batch_left = n;
  if (n > e->batchcap) {
    size_t cap = n < 64 ? 64 : 2 * n;
    cr_task_t **b = realloc(e->batch, cap * sizeof *b);
    if (b == NULL) return;
    e->batch = b;
    e->batchcap = cap;
  }
  for (i = 0, q = e->runq.next; q != &e->runq; q = q->next)
    e->batch[i++] = cr__queue_data(q, cr_task_t, runq);
  for (i = n - 1; i > 0; i--) {
    size_t j = (size_t)(rng_next(e) % (i + 1));
    cr_task_t *t = e->batch[i];
    e->batch[i] = e->batch[j];
    e->batch[j] = t;
  }
  for (i = 0; i < n; i++) {
    cr__queue_remove(&e->batch[i]->runq);
    cr__queue_insert_tail(&e->runq, &e->batch[i]->runq);
    e->batch[i]->in_head = 0;
  }
  e->woke_tail = &e->runq;   /* the woken are in the batch, shuffled too */
  e->nhead = 0;
}

static void next_in_batch(cr_engine_t *e) {
  if (e->batch_left == 0) shuffle_runq(e);
  e->batch_left--;
}

/* Tasks ran: nothing is idle any more. */
static void ran_tasks(cr_engine_t *e) {
  if (cr__queue_empty(&e->runq)) e->batch_left = 0;
  if (e->idle_since) {
    e->idle_since = 0;
    uv_timer_stop(&e->uvtimer);
  }
}

void cr_task_wait_idle(cr_task_t *t) {
  cr__wait_enter(t, &t->scope.engine->idlers, CR_WAIT_IDLE, NULL);
  cr_task_park_on(t, cr_task_abort_unlink, CR_WAIT_IDLE, NULL);
}

/* A poll comes next: what poll_soon asked for is done (the flag is set
** from signal handlers and other threads, atomically; it is cleared just
** before a poll, so that one set between a poll and the next pass still
** ends that pass at its first switch). */
static void poll_begins(cr_engine_t *e) {
  __atomic_store_n(&e->poll_soon, 0, __ATOMIC_RELAXED);
}

/* Poll the loop ourselves. */
static void io_poll(cr_engine_t *e, uv_run_mode mode) {
  poll_begins(e);
  uv_run(e->loop, mode);
  cr__signal_reconcile(e);
}

/* Virtual clock with a threshold: wait for real I/O until every task has
** been blocked that long, then let the clock jump (returns 0). */
static int autojump_wait(cr_engine_t *e, int block) {
  uint64_t now = uv_hrtime();
  double left;
  if (e->idle_since == 0) e->idle_since = now;
  left = e->autojump - (double)(now - e->idle_since) / 1e9;
  if (left <= 0) {
    e->idle_since = 0;
    uv_timer_stop(&e->uvtimer);
    return 0;
  }
  if (block) {
    uv_update_time(e->loop);
    left = ceil(left * 1000.0);
    if (left > 1e12) left = 1e12;        /* math.huge: a long wait, no UB */
    e->uv_when = NAN;
    uv_timer_start(&e->uvtimer, uvtimer_cb, (uint64_t)left, 0);
    io_poll(e, UV_RUN_ONCE);
  }
  return 1;
}

/*
** The sentinel: an attached engine's check handle is referenced while the
** engine has tasks, so the loop stays alive for corral's check. Without
** it, a host that stopped its own last handle between two uv_run calls
** left a loop with nothing alive: uv_run returned at once, no callback
** ran, and a deadlock (or a cancel the host asked for) was never seen.
*/
static void sync_sentinel(cr_engine_t *e) {
  uv_handle_t *h = (uv_handle_t *)&e->check;
  /* (none for no callback, nobody would hear; nor once a deadlock was
  ** reported that the callback left as it was: it would be reported for
  ** ever, at once each time) */
  int want = e->attached && e->on_attach != NULL && e->stats.tasks > 0 &&
             !e->stuck_seen && !e->closing;
  if (!e->attach_init) return;
  if (want && !uv_has_ref(h)) uv_ref(h);
  else if (!want && uv_has_ref(h)) uv_unref(h);
}

static void check_cb(uv_check_t *h);

/* Counts the referenced sentinels of attached engines (any engine on the
** loop: libuv's check_cb field tells corral's apart). */
static void count_sentinel(uv_handle_t *h, void *arg) {
  if (h->type == UV_CHECK && ((uv_check_t *)h)->check_cb == check_cb &&
      uv_is_active(h) && uv_has_ref(h))
    (*(unsigned *)arg)++;
}

/*
** Whether nothing keeps e's loop alive but the sentinels: no deadline or
** I/O wait of e's, no request, no other active referenced handle (a
** host's, another engine's waker, e's signal watchers and host ops). The
** walk is made only when e itself has no deadline or I/O to wait for.
** Handles being closed do not count: they close in this very pass.
*/
static int only_sentinels(cr_engine_t *e) {
  uv_loop_t *loop = e->loop;
  unsigned n = 0;
  if (e->nheap > 0 || e->io_waits > 0 || loop->active_reqs.count > 0)
    return 0;
  if (loop->active_handles == 0) return 1;
  uv_walk(loop, count_sentinel, &n);
  return loop->active_handles <= n;
}

/* Whether a task of e sleeps with no deadline (sleep(math.huge)): it
** waits for a cancel on purpose. */
static int sleeps_forever(cr_engine_t *e) {
  cr_scope_t *s = NULL;
  while ((s = cr_scope_walk(e, NULL, s)) != NULL) {
    cr_task_t *t = cr_scope_owner(s);
    if (s == &t->scope && t->status == CR_TASK_WAITING &&
        t->wait == CR_WAIT_SLEEP && t->alarm_on && !cr_timer_armed(&t->alarm))
      return 1;
  }
  return 0;
}

int cr_engine_stuck(cr_engine_t *e) {
  unsigned n = 0;
  if (e->stats.tasks == 0 || e->current != NULL || cr_engine_has_ready(e) ||
      e->nheap > 0 ||
      e->io_waits > 0 || e->loop->active_reqs.count > 0)
    return 0;
  uv_walk(e->loop, count_sentinel, &n);
  return e->loop->active_handles <= n + cr__signal_idle_root_watchers(e) &&
         !sleeps_forever(e);
}

/* Whether the loop is alive for a stepped engine: uv_loop_alive, less the
** sentinels of attached engines that share the loop. */
static int loop_alive(cr_engine_t *e) {
  if (!uv_loop_alive(e->loop)) return 0;
  return e->loop->active_handles == 0 || !only_sentinels(e);
}

/*
** No task can run. Wake the tasks in cr_task_wait_idle (on the real clock
** once ready I/O has been collected), or hold the virtual clock for
** autojump. 1: the step returns now, instead of jumping or blocking.
*/
static int when_idle(cr_engine_t *e, int block) {
  if (!cr__queue_empty(&e->idlers)) {
    if (e->clock == CR_CLOCK_REAL) {
      io_poll(e, UV_RUN_NOWAIT);
      cr_engine_poll_deadlines(e);
      if (!cr__queue_empty(&e->runq)) return 1;
    }
    while (!cr__queue_empty(&e->idlers))
      cr_task_wake(cr__queue_data(cr__queue_head(&e->idlers), cr_task_t,
                                  wait_link), 0);
    return 1;
  }
  if (e->clock == CR_CLOCK_VIRTUAL && e->autojump > 0 && cr__heap_top(e))
    return autojump_wait(e, block);
  return 0;
}

/* --- the step -------------------------------------------------------- */

/* While t runs: the next task's continuation (its record was asked for
** one turn ago) and the record of the one after it. */
static void prefetch_ahead(cr_engine_t *e, const cr_task_t *t) {
  const cr_queue_t *q = t->runq.next;
  if (q == &e->runq) return;
  t = cr__queue_data(q, cr_task_t, runq);
  cr__prefetch_span((uintptr_t)t->data, 192);
  if (t->runq.next != &e->runq)
    cr__prefetch_task_at(t->runq.next, offsetof(cr_task_t, runq));
}

/*
** The next task to run. Tasks woken by a deadline (the head section) go
** first, so that none is late behind thousands of tasks spawned before it
** came due. But while other tasks wait too, the two sections take turns:
** the head's turn is the tasks in it when the turn begins, the rest's as
** many of its own (one at least). Deadlines that keep coming due (many
** short timeouts in a loop, more than one turn of them takes) would
** otherwise keep every other task, I/O's and new ones included, from ever
** running. On the virtual clock, deadlines fire only when nothing can run,
** so a head section is always drained before the rest runs, as before.
*/
static cr_task_t *next_ready(cr_engine_t *e) {
  cr_queue_t *q = cr__queue_head(&e->runq);
  size_t rest = e->nready - e->nhead;
  if (e->nhead == 0 || rest == 0) {      /* one section: its order */
    e->turn_left = e->head_ran = 0;
    e->turn_rest = 0;
    return cr__queue_data(q, cr_task_t, runq);
  }
  if (e->turn_left == 0) {               /* a turn ends: the other's */
    e->turn_rest = !e->turn_rest && e->head_ran > 0;
    if (e->turn_rest) {
      e->turn_left = rest < e->head_ran ? rest : e->head_ran;
    } else {
      e->turn_left = e->nhead;
      e->head_ran = 0;
    }
  }
  e->turn_left--;
  if (e->turn_rest) q = e->woke_tail->next;
  else e->head_ran++;
  return cr__queue_data(q, cr_task_t, runq);
}

/* A burst of stop signals is over once the first waiter it woke has left
** the run queue (the program has begun to answer it): at the start and
** the end of a pass. */
static void burst_over(cr_engine_t *e) {
  if (e->burst_waiter == NULL) e->signal_burst = 0;
}

/* A coarse monotonic clock in milliseconds: a few nanoseconds to read
** (ticks of a few ms), for the length of a pass. */
#ifdef CLOCK_MONOTONIC_COARSE
#define PASS_CLOCK CLOCK_MONOTONIC_COARSE
#else
#define PASS_CLOCK CLOCK_MONOTONIC
#endif
static uint64_t pass_clock_ms(void) {
  struct timespec ts;
  if (clock_gettime(PASS_CLOCK, &ts) != 0) return 0;
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Tasks begin to run after a poll: the time they may take before the next
** starts now. (Attached, libuv runs two passes between its polls, before
** and after: the first after a poll starts it, the other takes the rest;
** on the virtual clock too, as where a pass ends changes no task's order:
** a test's real I/O must not wait for thousands of its busy task's turns.) */
static void after_poll(cr_engine_t *e) { e->pass_from = pass_clock_ms(); }

int cr_engine_pass_over(cr_engine_t *e) {
  return pass_clock_ms() >= e->pass_from + CR__PASS_MS;
}

static int run_ready(cr_engine_t *e) {
  int n = 0;
  /* (handles closed in this pass: a killed process closing until it is
  ** reaped must not end every pass) */
  size_t closing = e->io_closing + CR__CLOSING_PASS_MAX;
  uint64_t ends = e->pass_from + CR__PASS_MS;
  burst_over(e);
  while (!cr__queue_empty(&e->runq) && n < CR__PASS_BUDGET &&
         !__atomic_load_n(&e->poll_soon, __ATOMIC_RELAXED) &&
         e->io_closing < closing) {
    cr_task_t *t;
    int got;
    if (e->tie_salt) next_in_batch(e);
    t = next_ready(e);
    prefetch_ahead(e, t);
    cr__runq_remove(e, t);
    t->queued = 0;
    if (t->claim) cr__stream_unclaim(t);   /* it runs: no one came between */
    t->handed = 0;                 /* it runs: a lookup's list is its own */
    /* A t:cancel that came after a delivered wake-up, before the task ran:
    ** the call returns what it was handed, and the cancel is not owed for
    ** that wait (a return now ends the task done, nothing handed to it
    ** lost); it stays a level, so the next cancellation point raises, and
    ** the next cancellation point a shield hides it from owes it again
    ** (delivered kept while it runs: asked, in scope.c). */
    got = t->delivered;            /* (queued: as cr_task_handed says) */
    if (t->delivered && t->scope.cancel_owed)
      t->scope.cancel_owed = 0;
    else
      t->delivered = 0;
    t->status = CR_TASK_RUNNING;
    e->current = t;
    CR__EMIT(e, CR_EV_RUN, t, NULL, got, CR_WAIT_NONE, NULL);
    e->run(t);
    CR__EMIT(e, CR_EV_SUSPEND, t, NULL, (int)t->status, t->wait,
             t->wait_obj);
    e->current = NULL;
    /* Deadlines are read at every cancellation point; tasks that reach
    ** none (they compute and return) would hold a sleeper up for a whole
    ** pass, so the clock is read every so many resumes too. */
    if ((++n & (CR__DEADLINE_EVERY - 1)) == 0) cr_engine_poll_deadlines(e);
    if (pass_clock_ms() >= ends) break;   /* I/O's turn (and a host's) */
  }
  if (n) ran_tasks(e);
  burst_over(e);                 /* the next poll's arrivals are new ones */
  return n;
}

static int step(cr_engine_t *e, int block);

/* One pass (see corral.h). The idle handle serves the pass's polls only. */
int cr_engine_step(cr_engine_t *e, int block) {
  int rc;
  if (e->closed) return CR_EINVAL;
  e->driving = 1;
  if (!cr__queue_empty(&e->runq)) cr__engine_ready(e);
  rc = step(e, block);
  e->driving = 0;
  if (!e->attached) uv_idle_stop(&e->idle);
  return rc;
}

/* Whether only the root policy's stop-signal watchers keep the run open
** (cr_engine_stuck): a deadlock all the same, reported at once rather than
** when Ctrl-C comes, since the signal could only cancel the root. (Not when
** a task sleeps with no deadline: it waits for that signal on purpose.) */
static int held_by_root_watchers(cr_engine_t *e) {
  return cr__signal_idle_root_watchers(e) > 0 && cr_engine_stuck(e);
}

static int step(cr_engine_t *e, int block) {
  if (e->alloc_seen != cr__alloc_failures()) {
    e->alloc_seen = cr__alloc_failures();   /* libuv ran out of memory */
    return CR_ENOMEM;
  }
  after_poll(e);
  run_ready(e);
  /* No task left: do not wait on handles that are not ours to await
  ** (signal watchers, a host's own handles). */
  if (e->stats.tasks == 0) return 0;
  if (cr__queue_empty(&e->runq)) uv_idle_stop(&e->idle);
  if (!cr__queue_empty(&e->runq)) {
    /* Still busy: poll I/O once so it is never starved, then go on. */
    io_poll(e, UV_RUN_NOWAIT);
    cr_engine_poll_deadlines(e);
    return 1;
  }
  if (e->clock == CR_CLOCK_VIRTUAL) {
    cr_timer_t *t;
    io_poll(e, UV_RUN_NOWAIT);
    if (!cr__queue_empty(&e->runq)) return 1;
    if (when_idle(e, block)) return 1;
    /* Nothing can run and no I/O is ready: jump to the next deadline. */
    if ((t = cr__heap_top(e)) != NULL) {
      if (t->when > e->vnow) e->vnow = t->when;
      cr__timers_fire(e, e->vnow);
      return 1;
    }
    if (loop_alive(e) && !held_by_root_watchers(e)) {
      if (block) io_poll(e, UV_RUN_ONCE);
      return 1;
    }
    return e->stats.tasks ? CR_EDEADLOCK : 0;
  }
  cr_engine_poll_deadlines(e);
  if (!cr__queue_empty(&e->runq)) {
    /* Deadlines refilled the queue: poll I/O once all the same, or a run
    ** whose timers always come due between passes would never read it. */
    io_poll(e, UV_RUN_NOWAIT);
    return 1;
  }
  if (when_idle(e, block)) return 1;
  arm_uvtimer(e);
  if (!loop_alive(e) || held_by_root_watchers(e))
    return e->stats.tasks ? CR_EDEADLOCK : 0;
  io_poll(e, block ? UV_RUN_ONCE : UV_RUN_NOWAIT);
  cr_engine_poll_deadlines(e);
  return 1;
}

/* --- attached to a host's uv_run ------------------------------------ */

/* Run what is ready and fire due deadlines; stop keeping the poll from
** blocking once nothing is ready. */
static void attached_pass(cr_engine_t *e) {
  run_ready(e);
  cr_engine_poll_deadlines(e);
}

/* The pass, inside the binding's guard when it has one (a protected call:
** a binding that runs out of memory in a task's bookkeeping cannot raise
** through libuv's callback). */
static void guarded_pass(cr_engine_t *e) {
  if (e->guard != NULL)
    e->guard(e, attached_pass);
  else
    attached_pass(e);
}

/*
** Whether check_cb has work though nothing is ready: report the end (the
** root may have finished in this very pass), wake idle waiters, or move
** the virtual clock. The poll must not block then: the host's own handles
** (a signal watcher, an idle listener) may keep it waiting for ever.
*/
static int check_has_work(cr_engine_t *e) {
  return (e->stats.tasks == 0 && e->on_attach != NULL && !e->end_seen) ||
         !cr__queue_empty(&e->idlers) ||
         (e->clock == CR_CLOCK_VIRTUAL && e->nheap > 0) ||
         (e->stats.tasks > 0 && e->on_attach != NULL && !e->stuck_seen &&
          only_sentinels(e));
}

/* Before the poll: run tasks woken by timers and pending callbacks, and
** arm the timer for the next deadline so the poll wakes up for it. */
static void prepare_cb(uv_prepare_t *h) {
  cr_engine_t *e = h->data;
  if (e->current != NULL) return;      /* a task ran uv_run itself: not ours */
  guarded_pass(e);
  sync_sentinel(e);
  if (e->clock == CR_CLOCK_REAL) arm_uvtimer(e);
  if (cr__queue_empty(&e->runq) && check_has_work(e)) cr__engine_ready(e);
  poll_begins(e);                      /* libuv polls next */
}

/*
** After the poll: run tasks woken by I/O. When none can run, wake the idle
** waiters, or jump the virtual clock, or report: no task left, or tasks
** that nothing can wake (nothing else keeps the loop alive).
*/
/* Tell the attached host (cr_engine_close knows it is called from there). */
static void report(cr_engine_t *e, int status) {
  e->in_report = 1;
  e->on_attach(e, status);
  e->in_report = 0;
}

static void check_cb(uv_check_t *h) {
  cr_engine_t *e = h->data;
  cr_timer_t *t;
  /* A task is running: a C function it called turned the loop itself
  ** (libuv forbids it; it is still no deadlock, nor a pass to run). */
  if (e->current != NULL) return;
  after_poll(e);
  cr__signal_reconcile(e);
  guarded_pass(e);
  sync_sentinel(e);
  if (!cr__queue_empty(&e->runq)) return;
  /* Nothing ready: the poll may block from the next pass on. (Not in the
  ** prepare: another engine on the loop may have decided, in its own
  ** prepare just before, that this pass's poll would not block, and then
  ** its check, which looks for a deadlock, would never come.) */
  uv_idle_stop(&e->idle);
  if (e->stats.tasks == 0) {
    /* reported once per end: a host that stays attached is neither woken
    ** nor told again */
    if (!e->end_seen && e->on_attach) {
      e->end_seen = 1;
      report(e, 0);
      if (e->closing || !e->attached) return;
    }
    /* the virtual clock still moves for a deadline armed with no task (it
    ** made the poll not block, and was never fired: a spin) */
    if (e->clock == CR_CLOCK_VIRTUAL && (t = cr__heap_top(e)) != NULL) {
      if (t->when > e->vnow) e->vnow = t->when;
      cr__timers_fire(e, e->vnow);
    }
    return;
  }
  if (!cr__queue_empty(&e->idlers)) {
    while (!cr__queue_empty(&e->idlers))
      cr_task_wake(cr__queue_data(cr__queue_head(&e->idlers), cr_task_t,
                                  wait_link), 0);
    return;
  }
  if (e->clock == CR_CLOCK_VIRTUAL && (t = cr__heap_top(e)) != NULL) {
    if (t->when > e->vnow) e->vnow = t->when;
    cr__timers_fire(e, e->vnow);
    return;
  }
  if (e->clock == CR_CLOCK_REAL) arm_uvtimer(e);
  if (e->on_attach && !e->stuck_seen && only_sentinels(e)) {
    report(e, CR_EDEADLOCK);
    if (e->closing || !e->attached) return;   /* closed or detached there */
    /* the callback gave up on them (no task left), woke one, armed a
    ** deadline, or did none of these: then once is enough */
    if (e->clock == CR_CLOCK_REAL) arm_uvtimer(e);
    if (e->stats.tasks > 0 && cr__queue_empty(&e->runq) && only_sentinels(e))
      e->stuck_seen = 1;
    sync_sentinel(e);
  }
}

static int attach_init(cr_engine_t *e) {
  int rc = uv_prepare_init(e->loop, &e->prepare);
  if (rc) return rc;
  rc = uv_check_init(e->loop, &e->check);
  if (rc) {
    uv_close((uv_handle_t *)&e->prepare, NULL);
    return rc;
  }
  e->prepare.data = e->check.data = e;
  uv_unref((uv_handle_t *)&e->prepare);
  uv_unref((uv_handle_t *)&e->check);
  e->attach_init = 1;
  e->stats.handles += 2;
  return 0;
}

int cr_engine_attach(cr_engine_t *e, cr_attach_cb cb) {
  int rc;
  if (e->closing) return CR_EINVAL;
  if (!e->attach_init && (rc = attach_init(e)) != 0) return rc;
  e->on_attach = cb;
  e->end_seen = e->stuck_seen = 0;
  if (e->attached) {
    sync_sentinel(e);                    /* (a new root: tasks again) */
    return 0;
  }
  uv_prepare_start(&e->prepare, prepare_cb);
  uv_check_start(&e->check, check_cb);
  /* A ready task keeps the host's uv_run going. */
  uv_ref((uv_handle_t *)&e->idle);
  e->attached = 1;
  sync_sentinel(e);
  if (!cr__queue_empty(&e->runq)) cr__engine_ready(e);
  return 0;
}

void cr_engine_detach(cr_engine_t *e) {
  if (!e->attached) return;
  e->attached = 0;
  e->on_attach = NULL;
  uv_prepare_stop(&e->prepare);
  uv_check_stop(&e->check);
  sync_sentinel(e);
  uv_idle_stop(&e->idle);                /* nobody runs what is ready now */
  uv_unref((uv_handle_t *)&e->idle);
  if (e->clock == CR_CLOCK_REAL) arm_uvtimer(e);   /* stops it if idle */
}

int cr_engine_timeout(cr_engine_t *e) {
  if (cr_engine_has_ready(e)) return 0;
  if (e->clock == CR_CLOCK_VIRTUAL) {
    if (cr__heap_top(e) != NULL) return 0;
  } else {
    arm_uvtimer(e);
    /* The host may have spent time outside the loop since it last turned:
    ** the timeout counts from now, not from the loop's cached time. */
    uv_update_time(e->loop);
  }
  return uv_backend_timeout(e->loop);
}

int cr_engine_backend_fd(cr_engine_t *e) { return uv_backend_fd(e->loop); }

int cr_engine_has_ready(const cr_engine_t *e) {
  return !cr__queue_empty(&e->runq) || !cr__queue_empty(&e->idlers);
}

/* --- abandon ---------------------------------------------------------- */

/* A leaf of the scope tree goes: its task (if it is a task's own scope)
** is orphaned, a group's stop is forgotten, the scope is unlinked. */
static void abandon_scope(cr_scope_t *s) {
  cr_engine_t *e = s->engine;
  cr_task_t *owner = cr_scope_owner(s);
  if (s->is_group) {
    cr_group_t *g = (cr_group_t *)s;
    void *reason = g->stop_cancel.reason;
    g->stop_cancel.reason = NULL;
    cr_timer_stop(e, &g->stop_timer);
    cr__release(e, reason);
    g->closed = 1;
  }
  if (owner && owner->cur == s) owner->cur = s->parent;
  if (s->is_task) cr__task_orphan(owner);
  cr__scope_unlink(s);
}

void cr_engine_abandon(cr_engine_t *e) {
  e->current = NULL;          /* an error may have escaped a task's resume */
  e->batch_left = 0;
  while (!cr__queue_empty(&e->roots)) {
    cr_scope_t *s = cr__queue_data(cr__queue_head(&e->roots), cr_scope_t,
                                   sibling);
    /* Leaves first, climbing back up: O(scopes), no recursion. */
    while (s != NULL) {
      cr_scope_t *parent;
      while (!cr__queue_empty(&s->children))
        s = cr__queue_data(cr__queue_head(&s->children), cr_scope_t,
                           sibling);
      parent = s->parent;
      abandon_scope(s);
      s = parent;
    }
  }
  while (!cr__queue_empty(&e->runq)) {
    cr_task_t *t = cr__queue_data(cr__queue_head(&e->runq), cr_task_t, runq);
    cr__runq_remove(e, t);
    t->queued = 0;
  }
  while (cr__heap_top(e) != NULL) cr_timer_stop(e, cr__heap_top(e));
}
