/*
** io.c -- what every I/O object shares, and streams (read, write,
** shutdown, close) over any uv_stream_t.
**
** A stream starts reading when a task first waits for data, into one
** 64 kB buffer of its own, and keeps its watcher on while that buffer has
** room: a request/response loop then costs no epoll_ctl per read. When
** the buffer is full, libuv is handed no space (UV_ENOBUFS) and reading
** stops until a read() drains it, so at most one buffer is read ahead.
** Unread data waits for the next read() instead of being lost when a
** reader is cancelled.
*/
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "internal.h"

#define READ_BUF 65536

void cr__io_init(cr_engine_t *e, cr_io_t *io, int type, cr_io_cb close) {
  io->data = NULL;
  io->on_free = NULL;
  io->engine = e;
  io->type = type;
  io->closing = 0;
  io->close = close;
  cr__queue_insert_tail(&e->ios, &io->link);
  e->stats.handles++;
}

void cr__io_free(cr_io_t *io) {
  cr__queue_remove(&io->link);
  io->engine->stats.handles--;
  if (io->closing) io->engine->io_closing--;
  if (io->on_free) io->on_free(io);
  free(io);
}

void cr_io_close(cr_io_t *io) {
  if (io->closing) return;
  io->closing = 1;
  io->engine->io_closing++;
  io->close(io);
}

void cr__io_close_all(cr_engine_t *e) {
  cr_queue_t *q = e->ios.next;
  while (q != &e->ios) {
    cr_io_t *io = cr__queue_data(q, cr_io_t, link);
    q = q->next;
    cr_io_close(io);
  }
}

/* --- streams ------------------------------------------------------------ */

static void stream_close_cb(uv_handle_t *h) {
  cr_stream_t *s = h->data;
  if (s->owner_slot) *s->owner_slot = NULL;   /* e.g. a process's pipe */
  free(s->buf);
  cr__io_free(&s->io);
}

static void wake_if(cr_task_t **slot, int status) {
  cr_task_t *t = *slot;
  if (t) {
    *slot = NULL;
    t->xfer = NULL;
    cr_task_wake(t, status);
  }
}

/*
** A TCP stream closed while a transfer is cut short ends with a reset, so
** that the peer sees an aborted transfer (ECONNRESET), not a clean end of
** a cut-off one: a write was cancelled, or bytes of a write still wait to
** go out. The reset is SO_LINGER {1, 0} before the close, set by hand as
** uv_tcp_close_reset would: that one refuses after a shutdown, whose FIN
** may still be queued behind the cut-off write. Bytes the peer sent that
** sit unread in the read-ahead buffer do not reset: corral took them from
** the kernel, as a program's recv would have, and a reset would throw away
** the reply still queued.
*/
static void stream_close(cr_io_t *io) {
  cr_stream_t *s = (cr_stream_t *)io;
  if (s->reader && s->reader->claim)   /* woken already: it finds it closed */
    cr__stream_unclaim(s->reader);
  wake_if(&s->reader, CR_ECLOSED);
  wake_if(&s->connector, CR_ECLOSED);
  if (s->h.handle.type == UV_TCP && s->h.stream.write_queue_size > 0)
    s->reset = 1;                      /* a write would be cut off */
  if (s->reset && s->h.handle.type == UV_TCP) {
    uv_os_fd_t fd;
    struct linger l = {1, 0};
    if (uv_fileno(&s->h.handle, &fd) == 0)
      (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  uv_close(&s->h.handle, stream_close_cb);
}

cr_stream_t *cr__stream_new(cr_engine_t *e) {
  cr_stream_t *s = calloc(1, sizeof *s);
  if (s) s->io.engine = e;
  return s;
}

int cr__stream_open_tcp(cr_stream_t *s) {
  int rc = uv_tcp_init(s->io.engine->loop, &s->h.tcp);
  if (rc) return rc;
  cr__io_unref(&s->h.tcp);
  s->h.handle.data = s;
  cr__io_init(s->io.engine, &s->io, CR_IO_STREAM, stream_close);
  return 0;
}

int cr__stream_open_pipe(cr_stream_t *s) {
  int rc = uv_pipe_init(s->io.engine->loop, &s->h.pipe, 0);
  if (rc) return rc;
  cr__io_unref(&s->h.pipe);
  s->h.handle.data = s;
  cr__io_init(s->io.engine, &s->io, CR_IO_STREAM, stream_close);
  return 0;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  cr_stream_t *s = h->data;
  (void)suggested;
  if (s->buf == NULL) s->buf = malloc(READ_BUF);
  if (s->buf == NULL) {
    *b = uv_buf_init(NULL, 0);
    return;
  }
  if (s->len == 0) s->off = 0;
  if (s->off + s->len == READ_BUF && s->off > 0) {   /* make room */
    memmove(s->buf, s->buf + s->off, s->len);
    s->off = 0;
  }
  *b = uv_buf_init(s->buf + s->off + s->len,
                   (unsigned)(READ_BUF - s->off - s->len));
}

/*
** libuv reports the end of a stream without reading when the peer hung up
** right after a partial read (POLLHUP), so a reset that came with the last
** data would read as a clean end and a cut-off transfer as a whole one.
** The socket's pending error tells them apart, unless a write took it
** first (write_failed): then the stream remembers the reset.
*/
static ssize_t eof_or_reset(uv_stream_t *st) {
  uv_os_fd_t fd;
  int err = 0;
  socklen_t len = sizeof err;
  if (((cr_stream_t *)st->data)->write_reset) return UV_ECONNRESET;
  if (st->type != UV_TCP || uv_fileno((uv_handle_t *)st, &fd) != 0 ||
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err == 0)
    return UV_EOF;
  /* Linux says EPIPE for a reset that came after the peer's FIN (a write
  ** of ours into a connection it had closed): a reset all the same. */
  if (err == EPIPE) err = ECONNRESET;
  return uv_translate_sys_error(err);
}

/*
** Data, the end or an error came: the parked reader is woken, and the
** stream stays its own (claimed) until it runs, so that no other task
** takes the bytes it waited for first (they may be the rest of its line);
** a reader then keeps it by not giving up the CPU until it has read. The
** scheduler lets go of the claim when it resumes the task (before any of
** its code runs: whatever it does next, a sleep whose alarm takes xfer
** included); a close, the task's end or an abandon before that, too.
*/
static void wake_reader(cr_stream_t *s) {
  cr_task_t *t = s->reader;
  if (t == NULL || t->claim) return;      /* (woken already) */
  t->claim = 1;                           /* t->xfer stays s */
  cr_task_wake(t, 0);
}

void cr__stream_unclaim(cr_task_t *t) {
  cr_stream_t *s = t->xfer;
  t->claim = 0;
  t->xfer = NULL;
  if (s->reader == t) s->reader = NULL;
}

/* One reader at a time: a read of t's on s may go on, 0, or UV_EBUSY. A
** claim of t's own is over (the scheduler drops it when it resumes t; a
** host that reads for t outside a resume must not leave it behind, or the
** resume would clear the reader of the read t parks in now). */
static int read_turn(cr_stream_t *s, cr_task_t *t) {
  if (s->reader == NULL) return 0;
  if (s->reader != t) return UV_EBUSY;
  if (t->claim) cr__stream_unclaim(t);
  return 0;
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  cr_stream_t *s = st->data;
  (void)b;
  if (n == 0) return;                  /* EAGAIN: nothing yet */
  if (n == UV_EOF) n = eof_or_reset(st);
  if (n > 0) {
    s->len += (size_t)n;
  } else {
    /* UV_ENOBUFS: the buffer is full (or could not be allocated): pause
    ** until a read() drains it. Anything else ends the stream. */
    if (n != UV_ENOBUFS || s->buf == NULL) s->rstatus = (int)n;
    uv_read_stop(st);
    s->reading = 0;
  }
  wake_reader(s);
}

static cr_abort_t read_abort(cr_task_t *t) {
  cr_stream_t *s = t->xfer;
  t->xfer = NULL;
  s->reader = NULL;                    /* data read meanwhile is kept */
  return CR_ABORT_DONE;
}

/* Park t as the stream's reader until data, EOF or an error arrives. */
static int read_park(cr_stream_t *s, cr_task_t *t) {
  int rc;
  if (s->reader && s->reader != t) return UV_EBUSY;
  if (!s->reading) {
    rc = uv_read_start(&s->h.stream, alloc_cb, read_cb);
    if (rc) return rc;
    s->reading = 1;
  }
  s->reader = t;
  t->xfer = s;
  cr_task_park_on(t, read_abort, CR_WAIT_READ, s);
  return 1;
}

int cr_stream_read(cr_stream_t *s, cr_task_t *t, const char **p, size_t *n) {
  int rc;
  if (s->io.closing) return CR_ECLOSED;
  /* one reader at a time, also when bytes wait: they may be the start of
  ** the line a parked or woken reader waits to finish */
  if ((rc = read_turn(s, t)) != 0) return rc;
  if (s->len) {
    *p = s->buf + s->off;
    *n = s->len;
    return 0;
  }
  if (s->rstatus) return s->rstatus;
  return read_park(s, t);
}

int cr_stream_wait_more(cr_stream_t *s, cr_task_t *t) {
  int rc;
  if (s->io.closing) return CR_ECLOSED;
  if ((rc = read_turn(s, t)) != 0) return rc;
  if (s->rstatus) return s->rstatus;
  if (s->len >= READ_BUF) return 0;    /* full: consume first */
  return read_park(s, t);
}

void cr_stream_consume(cr_stream_t *s, size_t n) {
  if (n > s->len) n = s->len;
  s->off += n;
  s->len -= n;
}

typedef struct {
  uv_write_t req;
  cr_stream_t *s;
  cr_task_t *task;      /* NULL once the writer stopped waiting */
  char data[];
} write_req;

/* A write's error, kept when it says the peer reset the connection: the
** socket's pending error is consumed by it, and a read that then meets the
** end of the stream must still say reset, not a clean end. (EPIPE after
** our own shutdown is ours, not the peer's.) */
static int write_failed(cr_stream_t *s, int rc) {
  if (rc == UV_ECONNRESET || (rc == UV_EPIPE && !s->shut))
    s->write_reset = 1;
  return rc;
}

static void write_cb(uv_write_t *req, int status) {
  write_req *r = (write_req *)req;
  write_failed(r->s, status);
  r->s->writes--;
  if (r->task) {
    r->task->xfer = NULL;
    /* a pending write ends with UV_ECANCELED when its stream closes */
    if (status == UV_ECANCELED && r->s->io.closing) status = CR_ECLOSED;
    cr_task_wake(r->task, status);
  }
  free(r);
}

/* A write cannot be taken back from the kernel: cancelling it closes the
** stream, whose pending writes then end with UV_ECANCELED. */
static cr_abort_t write_abort(cr_task_t *t) {
  write_req *r = t->xfer;
  t->xfer = NULL;
  r->task = NULL;
  r->s->reset = 1;
  cr_io_close(&r->s->io);
  return CR_ABORT_DONE;
}

/*
** Describe [data, data + len) as bufs of at most `chunk` bytes each: a
** uv_buf_t length is an unsigned int, so one buffer cannot carry 4 GiB.
** bufs must have room for cr__nbufs(len, chunk) entries.
*/
size_t cr__nbufs(size_t len, size_t chunk) {
  return len / chunk + (len % chunk != 0);
}

void cr__fill_bufs(uv_buf_t *bufs, char *data, size_t len, size_t chunk) {
  size_t i, n = cr__nbufs(len, chunk);
  for (i = 0; i < n; i++) {
    size_t part = len - i * chunk < chunk ? len - i * chunk : chunk;
    bufs[i] = uv_buf_init(data + i * chunk, (unsigned)part);
  }
}

/* Queue the rest of a write that did not go out at once; the data is
** copied, and the task parks until libuv has written it all. */
static int write_queued(cr_stream_t *s, cr_task_t *t, const char *data,
                        size_t len) {
  uv_buf_t one, *bufs = &one;
  size_t n = cr__nbufs(len, CR__WRITE_CHUNK);
  write_req *r;
  int rc;
  if (len > SIZE_MAX - sizeof *r || n > UINT_MAX) return CR_ENOMEM;
  r = malloc(sizeof *r + len);
  if (r == NULL) return CR_ENOMEM;
  if (n > 1 && (bufs = malloc(n * sizeof *bufs)) == NULL) {
    free(r);
    return CR_ENOMEM;
  }
  memcpy(r->data, data, len);
  r->s = s;
  r->task = t;
  cr__fill_bufs(bufs, r->data, len, CR__WRITE_CHUNK);
  rc = uv_write(&r->req, &s->h.stream, bufs, (unsigned)n, write_cb);
  if (bufs != &one) free(bufs);      /* uv_write keeps its own copy */
  if (rc) {
    free(r);
    return rc;
  }
  s->writes++;
  t->xfer = r;
  cr_task_park_on(t, write_abort, CR_WAIT_WRITE, s);
  return 1;
}

int cr_stream_write(cr_stream_t *s, cr_task_t *t, const char *data,
                    size_t len) {
  if (s->io.closing) return CR_ECLOSED;
  if (len == 0) return 0;
  if (s->writes == 0) {               /* the common case: no waiting */
    size_t first = len < CR__WRITE_CHUNK ? len : CR__WRITE_CHUNK;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)first);
    int rc = uv_try_write(&s->h.stream, &b, 1);
    if (rc > 0 && (size_t)rc == len) return 0;
    if (rc < 0 && rc != UV_EAGAIN && rc != UV_ENOSYS)
      return write_failed(s, rc);
    if (rc > 0) {
      data += rc;
      len -= (size_t)rc;
    }
  }
  return write_queued(s, t, data, len);
}

static void shutdown_cb(uv_shutdown_t *req, int status) {
  (void)status;
  free(req);
}

int cr_stream_shutdown(cr_stream_t *s) {
  uv_shutdown_t *req;
  int rc;
  if (s->io.closing) return CR_ECLOSED;
  if (s->shut) return 0;
  req = malloc(sizeof *req);
  if (req == NULL) return CR_ENOMEM;
  rc = uv_shutdown(req, &s->h.stream, shutdown_cb);
  if (rc) {
    free(req);
    return rc;
  }
  s->shut = 1;
  return 0;
}

size_t cr_io_count(const cr_engine_t *e, int type) {
  const cr_queue_t *q;
  size_t n = 0;
  for (q = e->ios.next; q != &e->ios; q = q->next)
    n += cr__queue_data(q, cr_io_t, link)->type == type;
  return n;
}

size_t cr_io_open(const cr_engine_t *e, int type) {
  const cr_queue_t *q;
  size_t n = 0;
  for (q = e->ios.next; q != &e->ios; q = q->next) {
    const cr_io_t *io = cr__queue_data(q, cr_io_t, link);
    n += io->type == type && !io->closing;
  }
  return n;
}

size_t cr_io_closing(const cr_engine_t *e) { return e->io_closing; }
