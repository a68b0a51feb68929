/*
** signal.c -- waiting for signals, and the root's SIGINT/SIGTERM policy.
**
** One uv_signal_t per signal number and engine, created on first use and
** kept until the engine closes; every waiter wakes on each arrival. A
** watcher is referenced (keeps the loop alive) only while a task waits on
** it, so an idle watcher never hides a deadlock. The root policy's
** watchers stay referenced, so that libuv polls them, but the step that
** finds nothing else able to wake a task reports the deadlock all the same
** (loop.c, held_by_root_watchers): the signal could only cancel the root.
** (libuv polls no signal while nothing keeps its loop alive,
** so an unreferenced watcher could not deliver Ctrl-C to a busy run.)
**
** What an arrival nobody waits for does:
**   - most signals: dropped. A watcher stays installed between two waits,
**     so a program that loops on corral.signal("SIGHUP") does not die of
**     a SIGHUP that comes while it is busy;
**   - SIGINT and SIGTERM, the "stop" signals: with the root policy on
**     (cr_signal_root), the first cancels the root and any later one kills
**     the process with the default action; without it, their watchers are
**     stopped while idle, so the default action applies as if corral had
**     never caught them.
**
** Signal dispositions are process-wide. libuv installs one handler per
** signal for the whole process and hands each arrival to every watcher of
** every loop, so two engines that watch a signal both see it; once the
** last watcher in the process stops, the disposition from before the first
** comes back (sigwatch_stop). The kill below does not wait for that: it
** ends the process for everyone.
*/
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

typedef struct {
  uv_signal_t h;
  cr_engine_t *e;
  int signum;
  unsigned base[2];       /* arrivals and libuv's writes for h when it
                          ** started; lost: the drops made good since
                          ** (cr__signal_reconcile) */
  int lost;
  unsigned root : 1;      /* SIGINT/SIGTERM under the root policy */
  cr_queue_t waiters;
  cr_queue_t link;
} sigwatch;

/*
** The disposition each signal had before the first watcher in the process
** started, and how many of corral's watchers of it are active, across
** engines: dispositions are the process's, not an engine's, so this is the
** one state engines share (under a lock: two engines may run in two
** threads). Kept per watcher, the one that stopped last put back what it
** had found, libuv's own handler when another engine's watcher ran then,
** and the signal was swallowed for good.
*/
typedef struct {
  uv_signal_t *h;
  int signum;
  unsigned base[2];       /* a host's watcher: see cr__signal_reconcile */
  int lost;
} counted_watch;

#define CR__FRONTS 2          /* functions in front of one signal, at most */

static struct {
  uv_once_t once;
  uv_mutex_t lock;
  unsigned active[NSIG];
  struct sigaction before[NSIG];
  counted_watch *counted;       /* the watchers counted in `active`, so that */
  size_t ncounted, cap;         /* a restart or a close uncounts the right one */
  unsigned spawners;            /* engines whose loop libuv watches SIGCHLD on */
  struct sigaction chld_before; /* SIGCHLD's disposition before the first */
  /* The fronts (cr_signal_front) and what they sit on, read by the front's
  ** handler in any thread without the lock: the functions are atomic, and
  ** `under` is written to the copy not in use, then published by `under_i`. */
  _Atomic(cr_signal_front_fn) front[NSIG][CR__FRONTS];
  unsigned char needs[NSIG][CR__FRONTS]; /* set with need_handler */
  struct sigaction under[NSIG][2];
  atomic_int under_i[NSIG];
  /* The program (or a handler the front called: lua's) set a disposition
  ** of its own over the front: it is the program's choice from then on, and
  ** comes back after libuv's watchers, instead of the front. */
  unsigned char displaced[NSIG];
  struct sigaction program[NSIG];
  struct sigaction lib[NSIG];   /* libuv's handler, as put there since */
  unsigned char lib_known[NSIG];
  /* Arrivals of each signal a front holds, counted after libuv's handler
  ** had them (cr__signal_reconcile). A counted watcher's signal is held by
  ** the front for that alone while the watcher is active (`counting`). */
  atomic_uint arrived[NSIG];
  unsigned char counting[NSIG];
  atomic_int hosts;             /* counted watchers that are not corral's */
} dispositions = {UV_ONCE_INIT};

static void dispositions_init(void) {
  if (uv_mutex_init(&dispositions.lock) != 0) abort();
}

static void signal_cb(uv_signal_t *h, int signum);

static int is_stop_signal(int signum) {
  return signum == SIGINT || signum == SIGTERM;
}

/* Valid for cr_signal_wait: a signal the platform has that can be caught. */
static int catchable(int signum) {
  struct sigaction sa;
  if (signum <= 0 || signum >= NSIG || signum == SIGKILL ||
      signum == SIGSTOP)
    return 0;
  return sigaction(signum, NULL, &sa) == 0;  /* EINVAL for reserved ones */
}

/* sa made the default action, with no flags and an empty mask.
** Async-signal-safe. */
static void make_dfl(struct sigaction *sa) {
  memset(sa, 0, sizeof *sa);
  sa->sa_handler = SIG_DFL;
  sigemptyset(&sa->sa_mask);
}

/* Whether a disposition is the default action. */
static int is_dfl(const struct sigaction *sa) {
  return !(sa->sa_flags & SA_SIGINFO) && sa->sa_handler == SIG_DFL;
}

/* Whether a disposition is a function to call (not SIG_DFL or SIG_IGN). */
static int is_handler(const struct sigaction *p) {
  return (p->sa_flags & SA_SIGINFO) ||
         (p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN);
}

/* Whether two dispositions call the same function. */
static int same_handler(const struct sigaction *a, const struct sigaction *b) {
  if ((a->sa_flags & SA_SIGINFO) != (b->sa_flags & SA_SIGINFO)) return 0;
  return (a->sa_flags & SA_SIGINFO) ? a->sa_sigaction == b->sa_sigaction
                                    : a->sa_handler == b->sa_handler;
}

/* Whether a front function (cr_signal_front) holds signum. (Locked.) */
static int has_front_fn(int signum) {
  int k;
  for (k = 0; k < CR__FRONTS; k++)
    if (atomic_load(&dispositions.front[signum][k]) != NULL) return 1;
  return 0;
}

/* Whether a front holds signum: for functions, or to count arrivals.
** (Locked.) */
static int has_front(int signum) {
  return dispositions.counting[signum] || has_front_fn(signum);
}

/* Whether corral holds signum: a counted watcher, or a front function
** (the front that only counts arrivals is the watchers', or libuv's child
** watcher's, whose SIGCHLD has its own `before`). (Locked.) */
static int in_use(int signum) {
  return dispositions.active[signum] > 0 || has_front_fn(signum);
}

static void front_handler(int signum, siginfo_t *info, void *uc);

/* Whether the disposition sa is the front's. */
static int is_front(const struct sigaction *sa) {
  return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == front_handler;
}

static const struct sigaction *under(int signum);

/* Whether every front of signum asked for a handler underneath. (Locked.) */
static int fronts_need_handler(int signum) {
  int k;
  for (k = 0; k < CR__FRONTS; k++)
    if (atomic_load(&dispositions.front[signum][k]) != NULL &&
        !dispositions.needs[signum][k])
      return 0;
  return 1;
}

/* Whether the front of signum stands aside: nothing underneath to call
** (SIG_IGN, SIG_DFL) and no front that wants the arrivals all the same;
** what is underneath is the disposition then, as if corral were not
** there. (Locked.) */
static int parked(int signum) {
  return !is_handler(under(signum)) && fronts_need_handler(signum);
}

/* Make the front signum's disposition (or what it sits on, when it stands
** aside). It restarts interrupted calls as what it sits on does. (Locked.) */
static void put_front(int signum) {
  struct sigaction sa;
  if (parked(signum)) {
    sigaction(signum, under(signum), NULL);
    return;
  }
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = front_handler;
  sa.sa_flags = SA_SIGINFO | (under(signum)->sa_flags & SA_RESTART);
  sigfillset(&sa.sa_mask);     /* as libuv's own, which it calls */
  sigaction(signum, &sa, NULL);
}

/* Whether sa is what the front of signum has put in place. (Locked.) */
static int front_in_place(int signum, const struct sigaction *sa) {
  if (is_front(sa)) return 1;
  return parked(signum) && same_handler(sa, under(signum));
}

/* Before libuv changes signum's disposition (a watcher starts or stops):
** a disposition the program set over the front is noted as its own. */
static void note_displaced(int signum) {
  struct sigaction cur;
  if (!has_front(signum) || sigaction(signum, NULL, &cur) != 0 ||
      front_in_place(signum, &cur))
    return;
  /* (libuv's own, put there by a watcher's start, is not a choice) */
  if (dispositions.displaced[signum] && dispositions.lib_known[signum] &&
      same_handler(&cur, &dispositions.lib[signum]))
    return;
  dispositions.displaced[signum] = 1;
  dispositions.program[signum] = cur;
}

/* After a watcher of signum started while the program's choice stands:
** what is there now, if it changed, is libuv's handler. (Locked.) */
static void note_lib(int signum) {
  struct sigaction now;
  if (!dispositions.displaced[signum] || sigaction(signum, NULL, &now) != 0 ||
      same_handler(&now, &dispositions.program[signum]))
    return;
  dispositions.lib[signum] = now;
  dispositions.lib_known[signum] = 1;
}

/* What the front of signum sits on, for its handler. (Locked.) */
static const struct sigaction *under(int signum) {
  return &dispositions.under[signum][atomic_load(&dispositions.under_i[signum])];
}

/* The front of signum sits on sa now (never on itself). (Locked.) */
static void set_under(int signum, const struct sigaction *sa) {
  int i = !atomic_load(&dispositions.under_i[signum]);
  if (is_front(sa)) return;
  dispositions.under[signum][i] = *sa;
  atomic_store(&dispositions.under_i[signum], i);
}

/* After libuv may have changed signum's disposition (a watcher started or
** stopped) while a front holds it: what libuv put there goes under the
** front (SIG_DFL once it let go: then what the process had), and the front
** goes back on top. (Locked.) */
static void refront(int signum) {
  struct sigaction now;
  if (!has_front(signum) || sigaction(signum, NULL, &now) != 0 ||
      front_in_place(signum, &now))
    return;
  if (dispositions.displaced[signum]) {  /* the program's choice stays */
    if (dispositions.active[signum] == 0 && is_dfl(&now)) {  /* libuv let go */
      sigaction(signum, &dispositions.program[signum], NULL);
      set_under(signum, &dispositions.before[signum]);
    }
    return;
  }
  set_under(signum, is_dfl(&now) ? &dispositions.before[signum] : &now);
  put_front(signum);
}

/*
** Start and stop a watcher, corral's or a host's. libuv puts SIG_DFL back
** when the last watcher of a signal in the process stops, whatever the
** process had before (lua's own SIGINT handler, a host's, an inherited
** SIG_IGN): that is what comes back instead, so that waiting for SIGINT
** once does not turn the next Ctrl-C into a kill. A watcher that is not
** counted here (libuv's own, for its child processes) may hold the signal
** already: what came before it was not seen, so nothing is put back then.
*/
static void uncount(size_t i, int stop);

/* The index of h among the counted watchers, or ncounted. An entry whose
** handle no longer watches its signal (closed without cr_signal_stop, its
** memory since reused) is dropped as that stop would have. (Locked.) */
static size_t counted_find(uv_signal_t *h) {
  size_t i;
  for (i = 0; i < dispositions.ncounted; i++) {
    counted_watch *c = &dispositions.counted[i];
    if (c->h != h) continue;
    if (uv_is_active((uv_handle_t *)h) && h->signum == c->signum) return i;
    uncount(i, 0);
    break;
  }
  return dispositions.ncounted;
}

/* Once libuv has let go of signum (SIG_DFL now), put back `before`, when
** that was more than the default. (Locked.) */
static void give_back(int signum, const struct sigaction *before) {
  struct sigaction cur;
  if (!is_dfl(before) && sigaction(signum, NULL, &cur) == 0 && is_dfl(&cur))
    sigaction(signum, before, NULL);
}

/* Count from now the arrivals of signum and libuv's writes for h (see
** lost_since): libuv's count first, so that an arrival between the two
** reads counts as written, never as dropped. */
static void count_from(const uv_signal_t *h, int signum, unsigned base[2],
                       int *lost) {
  base[1] = __atomic_load_n(&h->caught_signals, __ATOMIC_ACQUIRE);
  base[0] = atomic_load(&dispositions.arrived[signum]);
  *lost = 0;
}

/* Arrivals of signum since base that libuv did not write for h: dropped
** from a full pipe. The handler writes first and counts the arrival after,
** so the arrivals are read first: one in between reads as written. */
static int lost_since(const uv_signal_t *h, int signum, const unsigned base[2]) {
  unsigned arrived = atomic_load(&dispositions.arrived[signum]);
  unsigned caught = __atomic_load_n(&h->caught_signals, __ATOMIC_ACQUIRE);
  return (int)((arrived - base[0]) - (caught - base[1]));
}

/* The front that held signum only to count its arrivals goes: what it sat
** on (libuv's handler, still there for watchers corral does not count)
** comes back, unless libuv let go (SIG_DFL then) or the program set a
** disposition of its own. (Locked.) */
static void take_down(int signum) {
  struct sigaction cur;
  if (sigaction(signum, NULL, &cur) == 0 && is_front(&cur))
    sigaction(signum, under(signum), NULL);
}

/*
** Forget counted watcher i (stopping it when `stop`); the last of its
** signal gives back what the signal had before the first. (Locked.) The
** signal waits, in this thread, from the stop to the give-back: libuv's
** last stop puts SIG_DFL, and an arrival in between (a SIGUSR1 that the
** command holds with a handler) would take the default action.
*/
static void uncount(size_t i, int stop) {
  counted_watch c = dispositions.counted[i];
  sigset_t one, old;
  if (c.h->signal_cb != signal_cb) atomic_fetch_sub(&dispositions.hosts, 1);
  dispositions.counted[i] = dispositions.counted[--dispositions.ncounted];
  if (dispositions.ncounted == 0) {
    free(dispositions.counted);
    dispositions.counted = NULL;
    dispositions.cap = 0;
  }
  sigemptyset(&one);
  sigaddset(&one, c.signum);
  pthread_sigmask(SIG_BLOCK, &one, &old);
  if (stop) {
    note_displaced(c.signum);
    uv_signal_stop(c.h);
  }
  if (--dispositions.active[c.signum] == 0 &&
      (c.signum != SIGCHLD || dispositions.spawners == 0)) {
    int counting = dispositions.counting[c.signum];
    dispositions.counting[c.signum] = 0;
    if (has_front(c.signum)) {
      refront(c.signum);               /* libuv may have put SIG_DFL */
    } else {
      if (counting) take_down(c.signum);
      give_back(c.signum, &dispositions.before[c.signum]);
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Room for one more counted watcher: 0 or UV_ENOMEM. (Locked.) */
static int counted_room(void) {
  counted_watch *v;
  size_t cap;
  if (dispositions.ncounted < dispositions.cap) return 0;
  cap = dispositions.cap ? 2 * dispositions.cap : 8;
  v = realloc(dispositions.counted, cap * sizeof *v);
  if (v == NULL) return UV_ENOMEM;
  dispositions.counted = v;
  dispositions.cap = cap;
  return 0;
}

/* While a counted watcher of signum is active, the front holds signum to
** count its arrivals (cr__signal_reconcile), sitting on libuv's handler;
** the first to do so sets it up as front_add does for a first front.
** (Locked.) */
static void count_arrivals(int signum) {
  struct sigaction now;
  if (dispositions.counting[signum]) return;
  if (!has_front(signum)) {
    dispositions.displaced[signum] = dispositions.lib_known[signum] = 0;
    if (sigaction(signum, NULL, &now) != 0) make_dfl(&now);
    set_under(signum, &now);
  }
  dispositions.counting[signum] = 1;
}

/* Start h, counted (locked): what the signal had is kept by the first. */
static int count_start(uv_signal_t *h, uv_signal_cb cb, int signum) {
  struct sigaction now, *before = &dispositions.before[signum];
  int rc, first = !in_use(signum);     /* a front keeps what it found */
  /* SIGCHLD while a loop watches it for its processes: libuv's handler is
  ** there, and what came before it was kept at the first spawn. */
  int chld = signum == SIGCHLD && dispositions.spawners > 0;
  if ((rc = counted_room()) != 0) return rc;
  if (first && chld) {
    *before = dispositions.chld_before;
  } else if (first && sigaction(signum, NULL, before) != 0) {
    make_dfl(before);                  /* nothing to give back */
  }
  note_displaced(signum);
  if ((rc = uv_signal_start(h, cb, signum)) != 0) return rc;
  note_lib(signum);
  dispositions.active[signum]++;
  dispositions.counted[dispositions.ncounted].h = h;
  dispositions.counted[dispositions.ncounted].signum = signum;
  count_from(h, signum, dispositions.counted[dispositions.ncounted].base,
             &dispositions.counted[dispositions.ncounted].lost);
  dispositions.ncounted++;
  if (cb != signal_cb) atomic_fetch_add(&dispositions.hosts, 1);
  if (first && !chld && sigaction(signum, NULL, &now) == 0 &&
      same_handler(&now, before))      /* libuv's handler was there */
    make_dfl(before);
  count_arrivals(signum);
  refront(signum);                     /* libuv may have put its own */
  return 0;
}

int cr_signal_start(uv_signal_t *h, uv_signal_cb cb, int signum) {
  size_t i;
  int rc;
  if (signum <= 0 || signum >= NSIG) return UV_EINVAL;
  uv_once(&dispositions.once, dispositions_init);
  uv_mutex_lock(&dispositions.lock);
  i = counted_find(h);
  if (i < dispositions.ncounted) {     /* a restart, as uv_signal_start's */
    if (h->signum == signum && h->signal_cb == cb) {
      uv_mutex_unlock(&dispositions.lock);
      return 0;
    }
    uncount(i, 1);
  }
  rc = count_start(h, cb, signum);
  uv_mutex_unlock(&dispositions.lock);
  return rc;
}

/*
** A watcher corral never counted stops (a plain uv_signal_stop). If it was
** libuv's last of its signal, libuv put SIG_DFL back, and its handler,
** which a front may sit on or have taken for what the process had, is
** gone: the default action takes its place there, and the front goes back
** on top. (Locked.)
*/
static void plain_stop(uv_signal_t *h) {
  struct sigaction lib, now, dfl;
  int signum = h->signum;
  int known = signum > 0 && signum < NSIG && uv_is_active((uv_handle_t *)h) &&
              sigaction(signum, NULL, &lib) == 0;
  uv_signal_stop(h);
  if (!known || !has_front(signum)) return;
  if (is_front(&lib)) lib = *under(signum);   /* the handler libuv had */
  if (!is_handler(&lib)) return;
  make_dfl(&dfl);
  /* (what the process had before corral held it is not known then) */
  if (same_handler(&dispositions.before[signum], &lib))
    dispositions.before[signum] = dfl;
  if (sigaction(signum, NULL, &now) != 0 || !is_dfl(&now))
    return;                              /* libuv still holds it */
  if (same_handler(under(signum), &lib)) set_under(signum, &dfl);
  put_front(signum);
}

void cr_signal_stop(uv_signal_t *h) {
  size_t i;
  uv_once(&dispositions.once, dispositions_init);
  uv_mutex_lock(&dispositions.lock);
  i = counted_find(h);
  if (i < dispositions.ncounted) uncount(i, 1);
  else plain_stop(h);                  /* not counted */
  uv_mutex_unlock(&dispositions.lock);
}

/*
** A front: the disposition of signum while it is set, whatever libuv does
** as watchers start and stop (it is put back on top after each). Each
** arrival goes first to what the front sits on (chain), then to its
** functions. What signum had before corral held it comes back once neither
** a front nor a counted watcher holds it. Up to CR__FRONTS functions per
** signal in the process, whichever engines' runs set them.
*/
static int front_slot(int signum, cr_signal_front_fn fn) {
  int k;
  for (k = 0; k < CR__FRONTS; k++)
    if (atomic_load(&dispositions.front[signum][k]) == fn) return k;
  return -1;
}

/* (Locked.) */
static int front_add(int signum, cr_signal_front_fn fn, int need_handler) {
  struct sigaction cur;
  int k = front_slot(signum, NULL);
  if (signum == SIGKILL || signum == SIGSTOP) return CR_EINVAL;
  if (k < 0 || front_slot(signum, fn) >= 0) return CR_EBUSY;
  if (!has_front(signum)) {
    dispositions.displaced[signum] = dispositions.lib_known[signum] = 0;
    if (sigaction(signum, NULL, &cur) != 0) make_dfl(&cur);
    if (!in_use(signum)) dispositions.before[signum] = cur;
    set_under(signum, &cur);
  }
  if (need_handler && !is_handler(under(signum)))
    return CR_EINVAL;                    /* nothing underneath to call */
  dispositions.needs[signum][k] = need_handler != 0;
  atomic_store(&dispositions.front[signum][k], fn);
  put_front(signum);
  return 0;
}

int cr_signal_front(int signum, cr_signal_front_fn fn, int need_handler) {
  int rc;
  if (signum <= 0 || signum >= NSIG || fn == NULL) return CR_EINVAL;
  uv_once(&dispositions.once, dispositions_init);
  uv_mutex_lock(&dispositions.lock);
  rc = front_add(signum, fn, need_handler);
  uv_mutex_unlock(&dispositions.lock);
  return rc;
}

void cr_signal_unfront(int signum, cr_signal_front_fn fn, int dfl_is_ours) {
  struct sigaction cur;
  int k;
  if (signum <= 0 || signum >= NSIG || fn == NULL) return;
  uv_once(&dispositions.once, dispositions_init);
  uv_mutex_lock(&dispositions.lock);
  if ((k = front_slot(signum, fn)) >= 0) {
    /* The last: what it sits on goes back, unless another disposition was
    ** set meanwhile (SIG_DFL counts as the front's when dfl_is_ours: lua's
    ** own SIGINT handler, which the front calls, puts it there). */
    int ours = sigaction(signum, NULL, &cur) == 0 &&
               (front_in_place(signum, &cur) ||
                (dfl_is_ours && is_dfl(&cur)));
    atomic_store(&dispositions.front[signum][k], NULL);
    if (!has_front(signum) && ours)
      sigaction(signum, under(signum), NULL);
  }
  uv_mutex_unlock(&dispositions.lock);
}

/* The default action of signum, as if the front had never been there:
** nothing for those ignored by default, a stop for the stop signals, else
** the signal again with SIG_DFL (the process ends once the handler
** returns). Async-signal-safe. */
static void default_action(int signum) {
  struct sigaction dfl;
  switch (signum) {
    case SIGCHLD: case SIGURG: case SIGWINCH: case SIGCONT:
      return;
    case SIGTSTP: case SIGTTIN: case SIGTTOU:
      raise(SIGSTOP);
      return;
    default:
      break;
  }
  make_dfl(&dfl);
  sigaction(signum, &dfl, NULL);
  raise(signum);
}

/* What the front sits on gets the arrival: its handler is called, SIG_DFL's
** default action taken, SIG_IGN ignores. Async-signal-safe: no lock (see
** `under`). */
static void chain(int signum, siginfo_t *info, void *uc) {
  int i = atomic_load(&dispositions.under_i[signum]);
  struct sigaction p = dispositions.under[signum][i];
  if (p.sa_flags & SA_RESETHAND) {     /* a one-shot handler: DFL after */
    make_dfl(&dispositions.under[signum][!i]);
    atomic_store(&dispositions.under_i[signum], !i);
  }
  if (p.sa_flags & SA_SIGINFO) {
    if (p.sa_sigaction != front_handler) p.sa_sigaction(signum, info, uc);
  } else if (is_dfl(&p)) {
    default_action(signum);
  } else if (p.sa_handler != SIG_IGN) {
    p.sa_handler(signum);
  }
}

/*
** cr_signal_forward's signal carries the address of forward_marks[k] as
** its value: the front in slot k is the one it is for, and what the fronts
** sit on had the arrival already (in the thread it came to). No other
** sender can mean that address (a program's own sigqueue of SIGINT to
** itself, with whatever value, is an arrival like any other); the sender's
** pid is checked too.
*/
static const char forward_marks[CR__FRONTS];

static int forwarded_to(const siginfo_t *info) {
  const char *mark;
  if (info == NULL || info->si_code != SI_QUEUE || info->si_pid != getpid())
    return -1;
  mark = info->si_value.sival_ptr;
  if (mark < forward_marks || mark >= forward_marks + CR__FRONTS) return -1;
  return (int)(mark - forward_marks);
}

int cr_signal_forward(uv_thread_t thread, int signum, cr_signal_front_fn fn) {
  union sigval v;
  int k;
  if (signum <= 0 || signum >= NSIG || fn == NULL) return CR_EINVAL;
  if ((k = front_slot(signum, fn)) < 0) return CR_EINVAL;   /* not a front */
  v.sival_ptr = (void *)&forward_marks[k];
  return pthread_sigqueue(thread, signum, v) == 0 ? 0 : CR_EINVAL;
}

/* (errno is the interrupted code's: what the handlers called set is put
** back.) */
static void front_handler(int signum, siginfo_t *info, void *uc) {
  int only = forwarded_to(info), k, saved = errno;
  if (signum <= 0 || signum >= NSIG) return;
  if (only < 0) {
    chain(signum, info, uc);
    atomic_fetch_add(&dispositions.arrived[signum], 1);   /* (after: see */
  }                                                       /* reconcile) */
  for (k = 0; k < CR__FRONTS; k++) {
    cr_signal_front_fn fn = atomic_load(&dispositions.front[signum][k]);
    if (fn != NULL && (only < 0 || k == only)) fn(signum);
  }
  errno = saved;
}

/*
** libuv watches SIGCHLD for a loop's child processes from its first spawn
** until the loop closes, outside the count, and then leaves SIG_DFL: a
** host's handler, or an inherited SIG_IGN, was lost after any run that ran
** a process. What SIGCHLD had before the first engine's first spawn comes
** back once the last of their loops is closed (a host's own loop is closed
** by the host, after corral: libuv has the last word there).
*/
void cr__signal_spawning(cr_engine_t *e) {
  e->chld_restart = !uv_is_active((uv_handle_t *)&e->loop->child_watcher);
  if (e->chld) return;
  e->chld = 1;
  uv_once(&dispositions.once, dispositions_init);
  uv_mutex_lock(&dispositions.lock);
  if (dispositions.spawners++ == 0) {
    if (dispositions.active[SIGCHLD] > 0)        /* a counted watcher's */
      dispositions.chld_before = dispositions.before[SIGCHLD];
    else if (sigaction(SIGCHLD, NULL, &dispositions.chld_before) != 0)
      make_dfl(&dispositions.chld_before);
  }
  uv_mutex_unlock(&dispositions.lock);
}

/* After a spawn. The first: if libuv's handler was in place already
** (another loop's processes), what came before it is not known. Each that
** started libuv's child watcher again (its last process had closed, and
** libuv put SIG_DFL back): SIGCHLD's arrivals are counted for it afresh,
** the front back on libuv's handler (cr__signal_reconcile). */
void cr__signal_spawned(cr_engine_t *e) {
  struct sigaction now;
  if (e->chld == 2 && !e->chld_restart) return;
  uv_mutex_lock(&dispositions.lock);
  if (e->chld == 1 && dispositions.spawners == 1 &&
      sigaction(SIGCHLD, NULL, &now) == 0 &&
      same_handler(&now, &dispositions.chld_before))
    make_dfl(&dispositions.chld_before);
  e->chld = 2;
  count_arrivals(SIGCHLD);               /* for libuv's child watcher too */
  refront(SIGCHLD);
  count_from(&e->loop->child_watcher, SIGCHLD, e->chld_base, &e->chld_lost);
  uv_mutex_unlock(&dispositions.lock);
}

void cr__signal_loop_closed(cr_engine_t *e) {
  if (!e->chld) return;
  e->chld = 0;
  uv_mutex_lock(&dispositions.lock);
  if (--dispositions.spawners == 0 && dispositions.active[SIGCHLD] == 0) {
    if (dispositions.counting[SIGCHLD]) {
      dispositions.counting[SIGCHLD] = 0;
      if (!has_front(SIGCHLD)) take_down(SIGCHLD);
    }
    give_back(SIGCHLD, &dispositions.chld_before);
  }
  uv_mutex_unlock(&dispositions.lock);
}

static int sigwatch_start(sigwatch *w) {
  int active = uv_is_active((uv_handle_t *)&w->h);
  int rc = cr_signal_start(&w->h, signal_cb, w->signum);
  if (rc == 0 && !active)                  /* earlier ones were not its */
    count_from(&w->h, w->signum, w->base, &w->lost);
  return rc;
}

static void sigwatch_stop(sigwatch *w) { cr_signal_stop(&w->h); }

/*
** Start, stop, ref or unref w after its waiters or its root flag changed:
** referenced while waited on; a stop signal nobody handles is stopped.
*/
static int sigwatch_update(sigwatch *w) {
  int waited = !cr__queue_empty(&w->waiters), rc;
  if (!waited && !w->root && is_stop_signal(w->signum)) {
    sigwatch_stop(w);
    return 0;
  }
  if ((rc = sigwatch_start(w)) != 0) return rc;   /* (if not started) */
  /* The root policy's watcher holds the run open while a signal could still
  ** cancel the root; once one has, the next can only kill: a run stuck
  ** after that cancel is a deadlock to report, not a wait for it. */
  if (waited || (w->root && !w->e->root_signal))
    uv_ref((uv_handle_t *)&w->h);
  else
    uv_unref((uv_handle_t *)&w->h);
  return 0;
}

static void sigwatch_close_cb(uv_handle_t *h) {
  sigwatch *w = h->data;
  w->e->stats.handles--;
  free(w);
}

void cr__signal_close_all(cr_engine_t *e) {
  e->sigroot = NULL;
  e->on_root_signal = NULL;
  while (!cr__queue_empty(&e->sigwatchers)) {
    sigwatch *w = cr__queue_data(cr__queue_head(&e->sigwatchers), sigwatch,
                                 link);
    cr__queue_remove(&w->link);
    sigwatch_stop(w);
    uv_close((uv_handle_t *)&w->h, sigwatch_close_cb);
  }
}

/* The watcher of signum, created (not started) if there is none yet. */
static int sigwatch_get(cr_engine_t *e, int signum, sigwatch **out) {
  cr_queue_t *q;
  sigwatch *w;
  int rc;
  for (q = e->sigwatchers.next; q != &e->sigwatchers; q = q->next) {
    w = cr__queue_data(q, sigwatch, link);
    if (w->signum == signum) {
      *out = w;
      return 0;
    }
  }
  w = malloc(sizeof *w);
  if (w == NULL) return CR_ENOMEM;
  memset(w, 0, sizeof *w);
  rc = uv_signal_init(e->loop, &w->h);
  if (rc) {
    free(w);
    return rc;
  }
  w->h.data = w;
  w->e = e;
  w->signum = signum;
  cr__queue_init(&w->waiters);
  cr__queue_insert_tail(&e->sigwatchers, &w->link);
  e->stats.handles++;
  *out = w;
  return 0;
}

/*
** End the process with signum's default action: SIGKILL the children the
** run had not closed (their close would have), stop our watchers of it,
** put SIG_DFL back whoever else watches it, unblock it and raise it.
*/
static void die_by(cr_engine_t *e, int signum) {
  struct sigaction sa;
  sigset_t set;
  cr_queue_t *q;
  cr_engine_kill_children(e);
  for (q = e->sigwatchers.next; q != &e->sigwatchers; q = q->next) {
    sigwatch *w = cr__queue_data(q, sigwatch, link);
    if (w->signum == signum) uv_signal_stop(&w->h);
  }
  make_dfl(&sa);
  sigaction(signum, &sa, NULL);
  sigemptyset(&set);
  sigaddset(&set, signum);
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  raise(signum);
  _exit(128 + signum);           /* not reached: the default action kills */
}

/* Wake w's waiters; the first one woken. */
static cr_task_t *wake_all(sigwatch *w) {
  cr_task_t *first = NULL;
  while (!cr__queue_empty(&w->waiters)) {
    cr_task_t *t = cr__queue_data(cr__queue_head(&w->waiters), cr_task_t,
                                  wait_link);
    cr__queue_remove(&t->wait_link);
    t->xfer = NULL;
    cr_task_wake(t, 0);
    if (first == NULL) first = t;
  }
  return first;
}

static int burst_bit(int signum) {
  return signum == SIGTERM ? CR_BURST_SIGTERM : CR_BURST_SIGINT;
}

/* The root policy's watchers, after the root_signal changed. */
static void root_watchers_update(cr_engine_t *e) {
  cr_queue_t *q;
  for (q = e->sigwatchers.next; q != &e->sigwatchers; q = q->next) {
    sigwatch *w = cr__queue_data(q, sigwatch, link);
    if (w->root) (void)sigwatch_update(w);
  }
}

static void cancel_root(cr_engine_t *e, int signum) {
  cr_task_t *root = e->sigroot;
  e->signal_burst |= burst_bit(signum) | CR_BURST_ROOT;   /* first: a */
  e->root_signal = signum;     /* handler may look now (both volatile) */
  if (!root->finished && !root->scope.cancel_called && !root->scope.exited)
    cr_scope_cancel(&root->scope, CR_SRC_SIGNAL, 0,
                    e->on_root_signal ? e->on_root_signal(e, signum) : NULL);
  root_watchers_update(e);
}

/* What an arrival of signum does (the root policy's rules): it wakes the
** waiters, or cancels the root, or (one more once the root unwinds from
** one) kills. Within one batch of deliveries (signal_burst), the same stop
** signal again is the same arrival (`timeout` sends its SIGTERM to the
** child and to its process group, two arrivals a moment apart, and a
** graceful handler must not take the second for a second Ctrl-C), and any
** stop signal after the root was cancelled is part of that cancel. */
static void deliver(sigwatch *w, int signum) {
  cr_engine_t *e = w->e;
  int stop = is_stop_signal(signum);
  e->signals_seen++;
  if (stop && (e->signal_burst & burst_bit(signum))) return;  /* again */
  if (stop && e->sigroot && e->root_signal) {
    if (e->signal_burst & CR_BURST_ROOT) return;   /* part of the cancel */
    die_by(e, signum);
  }
  if (!cr__queue_empty(&w->waiters)) {
    cr_task_t *first = wake_all(w);
    sigwatch_update(w);
    if (stop) {          /* the burst lasts until the program answers it */
      e->signal_burst |= burst_bit(signum);
      if (e->burst_waiter == NULL && first->queued) e->burst_waiter = first;
    }
    return;
  }
  if (!stop) return;                       /* nobody waits: dropped */
  if (e->sigroot == NULL) die_by(e, signum);
  cancel_root(e, signum);
}

static void signal_cb(uv_signal_t *h, int signum) {
  sigwatch *w = h->data;
  cr_engine_t *e = w->e;
  unsigned *early = is_stop_signal(signum)
                  ? &e->delivered_early[signum == SIGTERM] : NULL;
  if (early && *early > 0) {             /* cr_signal_deliver did it */
    (*early)--;
    return;
  }
  deliver(w, signum);
}

/* A host's own watchers on e's loop (cr_signal_start) are counted too: one
** whose signal libuv dropped has its callback called, as libuv would have,
** once the lock is let go (a callback may start or stop watchers). */
#define CR__HOST_DROPS 16
static void reconcile_hosts(cr_engine_t *e) {
  uv_signal_t *due[CR__HOST_DROPS];
  int sig[CR__HOST_DROPS], n = 0, lost, i;
  uv_mutex_lock(&dispositions.lock);
  for (i = 0; i < (int)dispositions.ncounted && n < CR__HOST_DROPS; i++) {
    counted_watch *c = &dispositions.counted[i];
    if (c->h->loop != e->loop || c->h->signal_cb == signal_cb ||
        !uv_is_active((uv_handle_t *)c->h) ||
        (lost = lost_since(c->h, c->signum, c->base)) <= c->lost)
      continue;
    c->lost = lost;
    due[n] = c->h;
    sig[n++] = c->signum;
  }
  uv_mutex_unlock(&dispositions.lock);
  for (i = 0; i < n; i++)
    if (uv_is_active((uv_handle_t *)due[i]) && due[i]->signum == sig[i])
      due[i]->signal_cb(due[i], sig[i]);
}

/*
** libuv hands each arrival to the loop through a pipe, and drops it when
** the pipe is full: a storm of one signal (a shell's `kill` in a loop sends
** tens of thousands a second) that outran the loop for a moment lost the
** SIGTERM that came at its end, and a program waiting for it waited for
** ever; a SIGCHLD lost so left its child a zombie and p:wait() waiting. A
** watched signal's arrivals are counted by the front, after libuv's handler
** had them, and set against libuv's own count of what it wrote for each
** watcher: after a poll, an arrival it did not write was dropped, and is
** delivered now (several as one, as the kernel merges them); a SIGCHLD is
** raised again, for libuv to reap. The poll that follows a drop is
** certain: the pipe was full.
*/
void cr__signal_reconcile(cr_engine_t *e) {
  cr_queue_t *q = e->sigwatchers.next;
  int lost;
  while (q != &e->sigwatchers) {
    sigwatch *w = cr__queue_data(q, sigwatch, link);
    q = q->next;                         /* (deliver may change the list) */
    if (!uv_is_active((uv_handle_t *)&w->h) ||
        (lost = lost_since(&w->h, w->signum, w->base)) <= w->lost)
      continue;
    w->lost = lost;
    deliver(w, w->signum);
  }
  if (atomic_load(&dispositions.hosts) > 0) reconcile_hosts(e);
  /* (libuv's child watcher stops with its last process: uncounted then) */
  if (e->chld == 2 &&
      uv_is_active((uv_handle_t *)&e->loop->child_watcher) &&
      (lost = lost_since(&e->loop->child_watcher, SIGCHLD, e->chld_base)) >
      e->chld_lost) {
    e->chld_lost = lost;
    raise(SIGCHLD);                      /* (written now: the pipe drained) */
  }
}

/* The active watcher of stop signal signum, or NULL. */
static sigwatch *stop_watcher(cr_engine_t *e, int signum) {
  cr_queue_t *q;
  if (!is_stop_signal(signum)) return NULL;
  for (q = e->sigwatchers.next; q != &e->sigwatchers; q = q->next) {
    sigwatch *w = cr__queue_data(q, sigwatch, link);
    if (w->signum == signum && uv_is_active((uv_handle_t *)&w->h)) return w;
  }
  return NULL;
}

void cr_signal_burst_end(cr_engine_t *e) {
  e->signal_burst = 0;
  e->burst_waiter = NULL;
}

int cr_signal_deliver(cr_engine_t *e, int signum) {
  sigwatch *w = stop_watcher(e, signum);
  if (w == NULL) return CR_EINVAL;
  e->delivered_early[signum == SIGTERM]++;
  deliver(w, signum);
  return 0;
}

int cr_signal_absorb(cr_engine_t *e, int signum) {
  if (stop_watcher(e, signum) == NULL) return CR_EINVAL;
  e->delivered_early[signum == SIGTERM]++;
  e->signals_seen++;
  return 0;
}

static cr_abort_t signal_abort(cr_task_t *t) {
  sigwatch *w = t->xfer;
  t->xfer = NULL;
  if (cr__task_waiting_in_list(t)) cr__queue_remove(&t->wait_link);
  if (w) sigwatch_update(w);
  return CR_ABORT_DONE;
}

int cr_signal_wait(cr_engine_t *e, cr_task_t *t, int signum) {
  sigwatch *w;
  int rc;
  CR__IF_CLOSED(e);
  if (!catchable(signum)) return CR_EINVAL;
  rc = sigwatch_get(e, signum, &w);
  if (rc) return rc;
  cr__wait_enter(t, &w->waiters, CR_WAIT_SIGNAL, w);
  rc = sigwatch_update(w);
  if (rc) {
    cr__queue_remove(&t->wait_link);
    sigwatch_update(w);
    return rc;
  }
  t->xfer = w;
  cr_task_park_on(t, signal_abort, CR_WAIT_SIGNAL, w);
  return 1;
}

int cr_signal_root(cr_engine_t *e, cr_task_t *root, cr_reason_cb cb) {
  static const int stops[2] = {SIGINT, SIGTERM};
  int i, rc = 0;
  CR__IF_CLOSED(e);
  e->sigroot = root;
  e->on_root_signal = root ? cb : NULL;
  for (i = 0; i < 2; i++) {
    sigwatch *w;
    int r = sigwatch_get(e, stops[i], &w);
    if (r == 0) {
      w->root = root != NULL;
      r = sigwatch_update(w);
    }
    if (r && !rc) rc = r;
  }
  if (rc && root) cr_signal_root(e, NULL, NULL);
  return rc;
}

void cr_signal_interrupt(cr_engine_t *e, cr_task_t *root, int signum,
                         cr_reason_cb cb) {
  if (e->sigroot == NULL) {
    e->sigroot = root;
    e->on_root_signal = cb;
  }
  cancel_root(e, signum);
}

/*
** Whether stopping a watcher of signum leaves no moment in which a signal
** the process handles would kill it: libuv puts SIG_DFL back when its last
** watcher stops, and only then can the handler from before be given back.
** So only a watcher another one still covers, or whose signal had the
** default action before, stops cleanly. (Locked.)
*/
static int stops_cleanly(int signum) {
  return dispositions.active[signum] > 1 ||
         (is_dfl(&dispositions.before[signum]) && !has_front_fn(signum));
}

void cr_signal_release_idle(cr_engine_t *e) {
  cr_queue_t *q;
  e->release_pending = cr__kids_running(e);
  if (e->release_pending) return;      /* at the last one's exit (proc.c) */
  uv_once(&dispositions.once, dispositions_init);
  uv_mutex_lock(&dispositions.lock);
  for (q = e->sigwatchers.next; q != &e->sigwatchers; q = q->next) {
    sigwatch *w = cr__queue_data(q, sigwatch, link);
    size_t i;
    if (!cr__queue_empty(&w->waiters) || w->root) continue;
    i = counted_find(&w->h);
    if (i < dispositions.ncounted && stops_cleanly(w->signum)) uncount(i, 1);
  }
  uv_mutex_unlock(&dispositions.lock);
}

unsigned cr__signal_idle_root_watchers(const cr_engine_t *e) {
  const cr_queue_t *q;
  unsigned n = 0;
  for (q = e->sigwatchers.next; q != &e->sigwatchers; q = q->next) {
    const sigwatch *w = cr__queue_data(q, sigwatch, link);
    const uv_handle_t *h = (const uv_handle_t *)&w->h;
    n += w->root && cr__queue_empty(&w->waiters) && uv_is_active(h) &&
         uv_has_ref(h);
  }
  return n;
}

size_t cr_signal_watchers(const cr_engine_t *e) {
  const cr_queue_t *q;
  size_t n = 0;
  for (q = e->sigwatchers.next; q != &e->sigwatchers; q = q->next) n++;
  return n;
}

int cr_signal_waited(const void *wait_obj) {
  return wait_obj ? ((const sigwatch *)wait_obj)->signum : 0;
}
