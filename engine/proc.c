/*
** proc.c -- child processes.
**
** libuv reaps a child only while its uv_process_t is open, so a process
** object is never closed before its exit callback: closing a running one
** sends SIGKILL and the handle closes when the exit is reaped. No child
** outlives its owner as a zombie.
*/
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "internal.h"

/* The pipes may outlive the process object (closed later by their own
** owners): they must stop pointing into it. */
static void proc_disown_pipes(cr_proc_t *p) {
  int i;
  for (i = 0; i < 3; i++)
    if (p->stdio[i]) p->stdio[i]->owner_slot = NULL;
}

static void proc_close_cb(uv_handle_t *h) {
  cr_proc_t *p = h->data;
  proc_disown_pipes(p);
  cr__io_free(&p->io);
}

static void wake_waiters(cr_proc_t *p, int status) {
  while (!cr__queue_empty(&p->waiters)) {
    cr_task_t *t = cr__queue_data(cr__queue_head(&p->waiters), cr_task_t,
                                  wait_link);
    cr__queue_remove(&t->wait_link);
    if (status == 0) t->xfer = cr__proc_outcome(p->exit_status, p->term_signal);
    cr_task_wake(t, status);
  }
}

/*
** The pid table of cr_engine_kill_children: a running child's pid is in it
** from its spawn until it is reaped. A signal handler may read it at any
** moment, on any thread, so it is written with atomics in an order that
** leaves it whole: an entry before the count that covers it; a removal
** moves the last entry into its place before the count drops (a reader
** then sees one child twice, never a reaped one); a full table is copied
** into a bigger one that is published before the count grows past the old
** size. Old tables are kept (chained) until the engine closes, since a
** reader may still hold one.
*/
typedef struct kid_table {
  struct kid_table *older;
  size_t cap, n;
  int pid[];
} kid_table;

static void kids_add(cr_engine_t *e, int pid) {
  kid_table *t = e->kids;
  size_t n = t ? t->n : 0;
  if (t == NULL || n == t->cap) {
    size_t cap = t ? 2 * t->cap : 16, i;
    kid_table *nt = malloc(sizeof *nt + cap * sizeof nt->pid[0]);
    if (nt == NULL) return;             /* (documented: missing) */
    nt->older = t;
    nt->cap = cap;
    for (i = 0; i < n; i++) nt->pid[i] = t->pid[i];
    __atomic_store_n(&nt->n, n, __ATOMIC_RELAXED);
    __atomic_store_n(&e->kids, nt, __ATOMIC_RELEASE);
    t = nt;
  }
  __atomic_store_n(&t->pid[n], pid, __ATOMIC_RELAXED);
  __atomic_store_n(&t->n, n + 1, __ATOMIC_RELEASE);
}

static void kids_remove(cr_engine_t *e, int pid) {
  kid_table *t = e->kids;
  size_t i, n = t ? t->n : 0;
  for (i = 0; i < n; i++)
    if (t->pid[i] == pid) {
      __atomic_store_n(&t->pid[i], t->pid[n - 1], __ATOMIC_RELAXED);
      __atomic_store_n(&t->n, n - 1, __ATOMIC_RELEASE);
      return;
    }
}

void cr_engine_kill_children(cr_engine_t *e) {
  kid_table *t = __atomic_load_n(&e->kids, __ATOMIC_ACQUIRE);
  size_t i, n;
  if (t == NULL) return;
  n = __atomic_load_n(&t->n, __ATOMIC_ACQUIRE);
  for (i = 0; i < n; i++) {
    int pid = __atomic_load_n(&t->pid[i], __ATOMIC_RELAXED);
    if (pid > 0) kill(pid, SIGKILL);
  }
}

int cr__kids_running(const cr_engine_t *e) {
  const kid_table *t = e->kids;
  return t != NULL && t->n > 0;
}

void cr__kids_free(cr_engine_t *e) {
  kid_table *t = e->kids;
  e->kids = NULL;
  while (t != NULL) {
    kid_table *older = t->older;
    free(t);
    t = older;
  }
}

static void exit_cb(uv_process_t *h, int64_t status, int term_signal) {
  cr_proc_t *p = h->data;
  cr_engine_t *e = p->io.engine;
  kids_remove(e, p->pid);
  p->exited = 1;
  p->exit_status = status;
  p->term_signal = term_signal;
  wake_waiters(p, 0);
  if (p->io.closing) uv_close((uv_handle_t *)&p->proc, proc_close_cb);
  if (e->release_pending && !cr__kids_running(e)) cr_signal_release_idle(e);
}

static void proc_close(cr_io_t *io) {
  cr_proc_t *p = (cr_proc_t *)io;
  int i;
  for (i = 0; i < 3; i++)
    if (p->stdio[i]) cr_io_close(&p->stdio[i]->io);
  wake_waiters(p, CR_ECLOSED);   /* closed while waited on */
  if (p->exited) {
    uv_close((uv_handle_t *)&p->proc, proc_close_cb);
  } else {
    uv_process_kill(&p->proc, SIGKILL);   /* exit_cb closes the handle */
    uv_ref((uv_handle_t *)&p->proc);      /* and the loop waits for it */
  }
}

/*
** The engine closes: reap every child its close killed here (SIGKILL
** cannot be caught, so the wait is short), so that its handle closes in
** this pass and nothing of it outlives the engine (on a host's loop, which
** the engine may not run until the exit is seen), and so that every signal
** the child sent has arrived before the signal watchers stop.
*/
void cr__proc_reap_all(cr_engine_t *e) {
  cr_queue_t *q;
  for (q = e->ios.next; q != &e->ios; q = q->next) {
    cr_io_t *io = cr__queue_data(q, cr_io_t, link);
    cr_proc_t *p = (cr_proc_t *)io;
    int status;
    if (io->type != CR_IO_PROCESS || !io->closing || p->exited) continue;
    while (waitpid(p->proc.pid, &status, 0) == -1 && errno == EINTR) {}
    kids_remove(e, p->pid);
    p->exited = 1;
    uv_close((uv_handle_t *)&p->proc, proc_close_cb);
  }
}

/*
** A child's stdout and stderr are real pipes, not the socket pair that
** UV_CREATE_PIPE makes: a child that writes into a pipe whose reader has
** closed dies of SIGPIPE, as under a shell (`yes | head`), where a socket
** with unread data would answer a reset (ECONNRESET) that the child would
** report as an error of its own. Our end is s (nonblocking, as libuv opens
** it); the child's is *child_fd, blocking, which the caller closes once the
** child has it. (Its stdin stays a socket pair: shutdown() on a pipe would
** not end the child's input.)
*/
static int output_pipe(cr_stream_t *s, int *child_fd) {
  uv_file fds[2];
  int rc = uv_pipe(fds, 0, 0);         /* both close on exec */
  if (rc) return rc;
  rc = uv_pipe_open(&s->h.pipe, fds[0]);
  if (rc) {
    close(fds[0]);
    close(fds[1]);
    return rc;
  }
  *child_fd = fds[1];
  return 0;
}

int cr_proc_spawn(cr_engine_t *e, const cr_proc_opts_t *o, cr_proc_t **out) {
  cr_proc_t *p;
  CR__IF_CLOSED(e);
  p = calloc(1, sizeof *p);
  uv_process_options_t opts;
  uv_stdio_container_t stdio[3];
  int i, rc = 0, child_fd[3] = {-1, -1, -1};
  *out = NULL;
  if (p == NULL) return CR_ENOMEM;
  cr__queue_init(&p->waiters);
  p->proc.data = p;
  for (i = 0; i < 3 && rc == 0; i++) {
    if (o->pipe[i]) {
      cr_stream_t *s = cr__stream_new(e);
      if (s == NULL) { rc = CR_ENOMEM; break; }
      rc = cr__stream_open_pipe(s);
      if (rc) { free(s); break; }
      p->stdio[i] = s;
      s->owner_slot = &p->stdio[i];
      if (i == 0) {
        stdio[i].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
        stdio[i].data.stream = &s->h.stream;
      } else {
        rc = output_pipe(s, &child_fd[i]);
        stdio[i].flags = UV_INHERIT_FD;
        stdio[i].data.fd = child_fd[i];
      }
    } else {
      stdio[i].flags = UV_INHERIT_FD;
      stdio[i].data.fd = i;
    }
  }
  memset(&opts, 0, sizeof opts);
  opts.file = o->file;
  opts.args = o->args;
  opts.env = o->env;
  opts.cwd = o->cwd;
  opts.exit_cb = exit_cb;
  opts.stdio_count = 3;
  opts.stdio = stdio;
  if (rc == 0) {
    cr__signal_spawning(e);            /* SIGCHLD's disposition, kept */
    rc = uv_spawn(e->loop, &p->proc, &opts);
    if (rc == 0) cr__signal_spawned(e);
  }
  for (i = 1; i < 3; i++)              /* the child has them, or failed */
    if (child_fd[i] >= 0) close(child_fd[i]);
  /* uv_spawn leaves the handle initialised even when it fails. */
  cr__io_init(e, &p->io, CR_IO_PROCESS, proc_close);
  if (rc) {
    p->exited = 1;                     /* nothing to reap */
    if (p->proc.loop == NULL) {        /* never reached uv_spawn */
      for (i = 0; i < 3; i++)
        if (p->stdio[i]) cr_io_close(&p->stdio[i]->io);
      proc_disown_pipes(p);
      cr__queue_remove(&p->io.link);
      e->stats.handles--;
      free(p);
      return rc;
    }
    cr_io_close(&p->io);
    return rc;
  }
  cr__io_unref(&p->proc);
  p->pid = p->proc.pid;
  kids_add(e, p->pid);
  *out = p;
  return 0;
}

int cr_proc_wait(cr_proc_t *p, cr_task_t *t) {
  if (p->exited) return 0;
  if (p->io.closing) return CR_ECLOSED;
  t->xfer = NULL;
  cr__wait_enter(t, &p->waiters, CR_WAIT_PROCESS, p);
  cr_task_park_on(t, cr_task_abort_unlink, CR_WAIT_PROCESS, p);
  return 1;
}

int cr_proc_kill(cr_proc_t *p, int signum) {
  if (p->exited) return UV_ESRCH;
  return uv_process_kill(&p->proc, signum);
}
