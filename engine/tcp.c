/*
** tcp.c -- TCP connect, listen and accept, and name resolution.
*/
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

static void connect_cb(uv_connect_t *req, int status) {
  cr_stream_t *s = req->handle->data;
  cr_task_t *t = s->connector;
  if (status == 0) s->connected = 1;
  if (t) {
    s->connector = NULL;
    t->xfer = NULL;
    cr_task_wake(t, status);
  }
}

static cr_abort_t connect_abort(cr_task_t *t) {
  cr_stream_t *s = t->xfer;
  t->xfer = NULL;
  s->connector = NULL;
  cr_io_close(&s->io);                /* connect_cb gets UV_ECANCELED */
  return CR_ABORT_DONE;
}

/* A new TCP stream, Nagle off (request/response must not wait for ACKs). */
static int tcp_stream(cr_engine_t *e, cr_stream_t **out) {
  cr_stream_t *s = cr__stream_new(e);
  int rc;
  if (s == NULL) return CR_ENOMEM;
  rc = cr__stream_open_tcp(s);
  if (rc) {
    free(s);
    return rc;
  }
  uv_tcp_nodelay(&s->h.tcp, 1);
  *out = s;
  return 0;
}

int cr_tcp_connect(cr_engine_t *e, cr_task_t *t, const struct sockaddr *addr,
                   cr_stream_t **out) {
  cr_stream_t *s;
  int rc;
  *out = NULL;
  CR__IF_CLOSED(e);
  rc = tcp_stream(e, &s);
  if (rc) return rc;
  *out = s;
  rc = uv_tcp_connect(&s->connect_req, &s->h.tcp, addr, connect_cb);
  if (rc) return rc;                  /* the caller closes *out */
  s->connector = t;
  t->xfer = s;
  cr_task_park_on(t, connect_abort, CR_WAIT_CONNECT, s);
  return 1;
}

/* --- listeners ------------------------------------------------------- */

/*
** When accept runs out of descriptors or memory, libuv closes its reserve
** descriptor, accepts and closes what waits, and opens the reserve again.
** Once that reopening failed (the limit was lowered under the process, a
** thread took the descriptor meanwhile) libuv has no reserve and calls
** connection_cb with the error again and again in one loop that only a
** closed handle ends: the process spins at full CPU and no signal is ever
** read. So the listener rests instead: `tcp` is closed, the socket stays
** open and listening through `spare`, and the next cr_tcp_accept opens a
** new handle on a copy of it (or fails at once while no descriptor is
** free). Connections meanwhile wait in the kernel's backlog.
*/
static int out_of_resources(int status) {
  return status == UV_EMFILE || status == UV_ENFILE ||
         status == UV_ENOBUFS || status == UV_ENOMEM;
}

static void listener_close_cb(uv_handle_t *h) {
  cr_listener_t *l = h->data;
  cr__io_free(&l->io);
}

static void rested_cb(uv_handle_t *h) {
  cr_listener_t *l = h->data;
  if (l->io.closing) {                /* closed while `tcp` was closing */
    cr__io_free(&l->io);
    return;
  }
  uv_tcp_init(l->io.engine->loop, &l->tcp);  /* no socket: cannot fail */
  cr__io_unref(&l->tcp);
  l->tcp.data = l;
  l->resting = 2;
}

static void rest(cr_listener_t *l) {
  l->resting = 1;
  uv_close((uv_handle_t *)&l->tcp, rested_cb);
}

static void connection_cb(uv_stream_t *server, int status);

/* A rested listener listens again on a new descriptor of its socket. */
static int wake_up(cr_listener_t *l) {
  int fd = fcntl(l->spare, F_DUPFD_CLOEXEC, 0), rc;
  if (fd < 0) return uv_translate_sys_error(errno);
  rc = uv_tcp_open(&l->tcp, fd);
  if (rc) {
    close(fd);
    return rc;
  }
  l->resting = 0;
  rc = uv_listen((uv_stream_t *)&l->tcp, l->backlog, connection_cb);
  if (rc) rest(l);
  return rc;
}

static void wake_acceptors(cr_listener_t *l, int status) {
  while (!cr__queue_empty(&l->acceptors)) {
    cr_task_t *t = cr__queue_data(cr__queue_head(&l->acceptors), cr_task_t,
                                  wait_link);
    cr__queue_remove(&t->wait_link);
    cr_task_wake(t, status);
  }
}

static int accept_one(cr_listener_t *l, cr_stream_t **out);

/*
** libuv accepts one connection ahead of uv_accept and holds its fd: left
** to the listener's close, that one would end cleanly while the rest of
** the backlog is reset by the kernel. It is taken and reset too, so every
** connection nobody accepted is refused alike (and no fd outlives the
** listener's close). The spare descriptor is closed at once too, so that
** the socket stops listening now. A listener whose `tcp` is closing is
** freed by rested_cb.
*/
static void listener_close(cr_io_t *io) {
  cr_listener_t *l = (cr_listener_t *)io;
  cr_stream_t *s;
  wake_acceptors(l, CR_ECLOSED);
  if (l->spare >= 0) close(l->spare);
  l->spare = -1;
  if (l->resting == 1) return;
  if (l->pending > 0 && accept_one(l, &s) == 0) {
    l->pending = 0;
    s->reset = 1;
    cr_io_close(&s->io);
  }
  uv_close((uv_handle_t *)&l->tcp, listener_close_cb);
}

static int accept_one(cr_listener_t *l, cr_stream_t **out) {
  cr_stream_t *s;
  int rc = tcp_stream(l->io.engine, &s);
  if (rc) return rc;
  rc = uv_accept((uv_stream_t *)&l->tcp, &s->h.stream);
  if (rc) {
    cr_io_close(&s->io);
    return rc;
  }
  s->connected = 1;
  *out = s;
  return 0;
}

static void connection_cb(uv_stream_t *server, int status) {
  cr_listener_t *l = server->data;
  if (status < 0) {
    l->error = status;
    /* rest first: a waking acceptor's event may close the listener */
    if (out_of_resources(status)) rest(l);
    wake_acceptors(l, status);
    return;
  }
  l->pending++;
  /* Hand the connection straight to the longest waiting acceptor. */
  if (!cr__queue_empty(&l->acceptors)) {
    cr_task_t *t = cr__queue_data(cr__queue_head(&l->acceptors), cr_task_t,
                                  wait_link);
    cr_stream_t *s = NULL;
    int rc;
    cr__queue_remove(&t->wait_link);
    l->pending--;
    rc = accept_one(l, &s);
    t->xfer = rc == 0 ? s : NULL;
    cr_task_wake(t, rc);
  }
}

/* Binds and listens; the spare descriptor is taken first, so that a
** listener that could not rest never starts. */
static int listen_on(cr_listener_t *l, const struct sockaddr *addr) {
  uv_os_fd_t fd;
  int rc = uv_tcp_bind(&l->tcp, addr, 0);
  if (rc == 0) rc = uv_fileno((uv_handle_t *)&l->tcp, &fd);
  if (rc == 0 && (l->spare = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
    rc = uv_translate_sys_error(errno);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&l->tcp, l->backlog, connection_cb);
  return rc;
}

int cr_tcp_listen(cr_engine_t *e, const struct sockaddr *addr, int backlog,
                  cr_listener_t **out) {
  cr_listener_t *l;
  struct sockaddr_storage ss;
  int rc, len = (int)sizeof ss;
  *out = NULL;
  CR__IF_CLOSED(e);
  if ((l = calloc(1, sizeof *l)) == NULL) return CR_ENOMEM;
  l->spare = -1;
  l->backlog = backlog;
  rc = uv_tcp_init(e->loop, &l->tcp);
  if (rc) {
    free(l);
    return rc;
  }
  cr__io_unref(&l->tcp);
  l->tcp.data = l;
  cr__queue_init(&l->acceptors);
  cr__io_init(e, &l->io, CR_IO_LISTENER, listener_close);
  rc = listen_on(l, addr);
  if (rc == 0) rc = uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len);
  if (rc) {
    cr_io_close(&l->io);
    return rc;
  }
  if (ss.ss_family == AF_INET6)
    l->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  else
    l->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  *out = l;
  return 0;
}

int cr_tcp_accept(cr_listener_t *l, cr_task_t *t, cr_stream_t **out) {
  int rc;
  if (l->io.closing) return CR_ECLOSED;
  if (l->resting == 1) return l->error;
  if (l->resting == 2 && (rc = wake_up(l)) != 0) return rc;
  if (l->pending > 0) {
    l->pending--;
    return accept_one(l, out);
  }
  cr__wait_enter(t, &l->acceptors, CR_WAIT_ACCEPT, l);
  cr_task_park_on(t, cr_task_abort_unlink, CR_WAIT_ACCEPT, l);
  return 1;
}

/* --- name resolution ----------------------------------------------------- */

/* A lookup is in its engine's `resolves` list until it ends, or until the
** engine closes on a loop it does not own while the lookup still runs in
** the thread pool (uv_cancel cannot stop it then): it is detached (e and
** task NULL), and its callback, which the host's loop runs later, touches
** nothing but the request. */
typedef struct {
  uv_getaddrinfo_t req;
  cr_engine_t *e;         /* NULL once detached */
  cr_task_t *task;        /* NULL once the task stopped waiting */
  cr_queue_t link;        /* in e->resolves */
} resolve_req;

static void resolve_forget(resolve_req *r) {
  cr__queue_remove(&r->link);
  r->e->stats.handles--;
  r->e = NULL;
}

void cr__resolve_detach_all(cr_engine_t *e) {
  while (!cr__queue_empty(&e->resolves)) {
    resolve_req *r = cr__queue_data(cr__queue_head(&e->resolves),
                                    resolve_req, link);
    r->task = NULL;
    resolve_forget(r);
  }
}

/* The lookups of e's list that no task waits for any more: each counts as
** a handle until it ends on its own, which no program can hasten. A walk,
** not a counter: lookups in flight are few, and leak checks ask rarely. */
size_t cr_lookups_abandoned(const cr_engine_t *e) {
  const cr_queue_t *q;
  size_t n = 0;
  for (q = e->resolves.next; q != &e->resolves; q = q->next)
    if (cr__queue_data(q, resolve_req, link)->task == NULL) n++;
  return n;
}

static void resolve_cb(uv_getaddrinfo_t *req, int status,
                       struct addrinfo *res) {
  resolve_req *r = (resolve_req *)req;
  if (r->e) resolve_forget(r);
  if (r->task) {
    r->task->xfer = status == 0 ? res : NULL;
    r->task->handed = status == 0 && res != NULL;
    cr_task_wake(r->task, status);
  } else if (res) {
    uv_freeaddrinfo(res);
  }
  free(r);
}

/* A task woken by a lookup that goes before it ran to take the list. */
void cr__resolve_drop(cr_task_t *t) {
  if (t->xfer) uv_freeaddrinfo(t->xfer);
  t->xfer = NULL;
  t->handed = 0;
}

/* The lookup runs in libuv's thread pool: cancel it if it has not started,
** else let it finish unobserved; resolve_cb frees it either way. */
static cr_abort_t resolve_abort(cr_task_t *t) {
  resolve_req *r = t->xfer;
  t->xfer = NULL;
  r->task = NULL;
  uv_cancel((uv_req_t *)&r->req);
  return CR_ABORT_DONE;
}

/* uv_getaddrinfo with every signal blocked in this thread for the call:
** the first one starts libuv's thread pool, whose threads inherit the
** mask, so that no signal corral watches is ever handled in one of them
** (a handler in another thread than the loop's races with the loop). */
static int pool_getaddrinfo(uv_loop_t *loop, uv_getaddrinfo_t *req,
                            const char *host, const struct addrinfo *hints) {
  sigset_t all, old;
  int rc;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  rc = uv_getaddrinfo(loop, req, resolve_cb, host, NULL, hints);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return rc;
}

int cr_resolve(cr_engine_t *e, cr_task_t *t, const char *host) {
  struct addrinfo hints;
  resolve_req *r;
  int rc;
  CR__IF_CLOSED(e);
  if ((r = malloc(sizeof *r)) == NULL) return CR_ENOMEM;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  r->e = e;
  r->task = t;
  rc = pool_getaddrinfo(e->loop, &r->req, host, &hints);
  if (rc) {
    free(r);
    return rc;
  }
  e->stats.handles++;
  cr__queue_insert_tail(&e->resolves, &r->link);
  t->xfer = r;
  cr_task_park_on(t, resolve_abort, CR_WAIT_RESOLVE, r);
  return 1;
}
