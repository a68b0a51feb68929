/*
** lio.c -- TCP, name resolution, child processes and signals from Lua.
**
** Objects are boxes around engine-owned I/O objects: libuv owns a handle
** until its close callback, so the engine frees the memory and tells the
** box through on_free. `<close>`, close() and __gc share one idempotent
** path; using a closed object raises "attempt to use a closed ...".
**
** Failures of the world (a refused connection, a reset, a missing file)
** raise an IoError value: {code, op, message, call, address | path}, see
** io_error(). Mistakes of the program raise ordinary error strings that
** name the method as it was called ("stream:read: ...").
**
** The Lua half (tcp.connect/listen/serve, the stream helpers, IoError's
** __tostring) is bindings/lio.lua, compiled in as lio_lua.h.
*/
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lcorral.h"
#include "lio_lua.h"

#define LCR_STREAM "corral.Stream"
#define LCR_LISTENER "corral.Listener"
#define LCR_PROCESS "corral.Process"
#define LCR_IOERROR "corral.IoError"
#define LCR_ADDRESS "corral.Address"     /* {address, port}: lio.lua's */

/* At most this many arguments to corral.exec (Linux takes far fewer). */
#define MAX_EXEC_ARGS (1 << 20)

/* skip_line: a stream's read_line met a line longer than its max; the
** rest of that line is still unread (see skip_rest_of_line). */
typedef struct { cr_io_t *io; int skip_line; } lcr_Box;

/* What a box holds: its metatable name and the word used in messages. */
typedef struct { const char *tname, *what; int type; } lcr_Kind;
static const lcr_Kind K_STREAM = {LCR_STREAM, "stream", CR_IO_STREAM};
static const lcr_Kind K_LISTENER = {LCR_LISTENER, "listener", CR_IO_LISTENER};
static const lcr_Kind K_PROCESS = {LCR_PROCESS, "process", CR_IO_PROCESS};

/* --- boxes ------------------------------------------------------------ */

static void box_on_free(cr_io_t *io) {
  lcr_Box *b = io->data;
  if (b) b->io = NULL;
}

static void box_attach(lcr_Box *b, cr_io_t *io) {
  b->io = io;
  io->data = b;
  io->on_free = box_on_free;
}

/* Wrap io (or nothing yet) in a new box of type tname. [-0, +1, m] */
static lcr_Box *newbox(lua_State *L, cr_io_t *io, const char *tname,
                       int nuv) {
  lcr_Box *b = lua_newuserdatauv(L, sizeof *b, nuv);
  b->io = NULL;
  b->skip_line = 0;
  luaL_setmetatable(L, tname);
  if (io) box_attach(b, io);
  return b;
}

static void box_close(lcr_Box *b) {
  if (b->io) {
    cr_io_t *io = b->io;
    io->data = NULL;
    io->on_free = NULL;
    b->io = NULL;
    cr_io_close(io);
  }
}

/* The box at idx if it is of kind k, else a standard argument error:
** "bad argument #1 to 'close' (stream expected, got FILE*)". [-0, +0, v] */
static lcr_Box *tobox(lua_State *L, int idx, const lcr_Kind *k) {
  lcr_Box *b = lcr_testudata(L, idx, k->tname, sizeof *b);
  /* the object's own kind too: a box given another kind's metatable
  ** (debug.setmetatable) is not read as one of this kind */
  if (b == NULL ||
      (b->io != NULL && (b->io->data != b || b->io->type != k->type)))
    lcr_selferror(L, idx, k->what);
  return b;
}

/* The open object in the box at 1, or an error naming the call. */
static void *checkopen(lua_State *L, const lcr_Kind *k, const char *call) {
  lcr_Box *b = tobox(L, 1, k);
  if (b->io == NULL || b->io->closing)
    luaL_error(L, "%s: attempt to use a closed %s", call, k->what);
  return b->io;
}

/* The same for a blocking call (accept, wait), a cancellation point: a
** cancelled task raises its Cancelled first, as a read does (see
** closed_stream): a child that first runs after its group was cancelled
** and its body's `<close>` closed the listener it was to accept on is
** cancelled, not a failure of the group. */
static void *checkopen_wait(lua_State *L, const lcr_Kind *k,
                            const char *call) {
  lcr_Box *b = tobox(L, 1, k);
  if (b->io == NULL || b->io->closing) lcr_checkcancel_running(L);
  return checkopen(L, k, call);
}

static int stream_close(lua_State *L) {
  box_close(tobox(L, 1, &K_STREAM));
  return 0;
}

static int listener_close(lua_State *L) {
  box_close(tobox(L, 1, &K_LISTENER));
  return 0;
}

static int proc_close(lua_State *L) {
  box_close(tobox(L, 1, &K_PROCESS));
  return 0;
}

/* __gc: close as close() does, counting an object the program left open
** (lcr_Engine.collected_open): dropped without a close, it leaked, however
** soon the collector came. */
static int box_gc(lua_State *L, const lcr_Kind *k) {
  lcr_Box *b = tobox(L, 1, k);
  if (b->io && !b->io->closing)
    ((lcr_Engine *)b->io->engine)->collected_open[k->type - 1]++;
  box_close(b);
  return 0;
}

static int stream_gc(lua_State *L) { return box_gc(L, &K_STREAM); }
static int listener_gc(lua_State *L) { return box_gc(L, &K_LISTENER); }
static int proc_gc(lua_State *L) { return box_gc(L, &K_PROCESS); }

/* --- errors ----------------------------------------------------------- */

/*
** Raise an IoError: call is the function as the user called it
** ("stream:read", "connect"), op the operation ("read", "connect"), msg
** NULL for the system's message, field/value what it was about
** ("address", "127.0.0.1:80"; field NULL for none). Out of memory raises
** Lua's own memory error. [-0, +0, v]
*/
static int io_error(lua_State *L, const char *call, const char *op, int rc,
                    const char *msg, const char *field, const char *value) {
  if (rc == CR_ENOMEM) return lcr_raise(L, rc);
  lua_createtable(L, 0, 6);
  lua_pushstring(L, lcr_errname(rc));
  lua_setfield(L, -2, "code");
  lua_pushstring(L, op);
  lua_setfield(L, -2, "op");
  lua_pushstring(L, msg ? msg : rc == CR_ECLOSED ? "closed while in use"
                                                 : cr_strerror(rc));
  lua_setfield(L, -2, "message");
  lua_pushstring(L, call);
  lua_setfield(L, -2, "call");
  if (field && value) {
    lua_pushstring(L, value);
    lua_setfield(L, -2, field);
  }
  luaL_setmetatable(L, LCR_IOERROR);
  return lua_error(L);
}

/*
** The peer of the TCP stream at index 1 ("127.0.0.1:80"), kept in its user
** value when it connected or was accepted: after a reset the socket no
** longer knows it. NULL for a pipe. [-0, +1, -]
*/
static const char *stream_where(lua_State *L) {
  if (lua_getiuservalue(L, 1, 1) != LUA_TSTRING) return NULL;
  return lua_tostring(L, -1);
}

/* An IoError of an operation on the stream at index 1, with the peer's
** address when it has one (not when the stream was closed under it: that
** is about this end). */
static int stream_error(lua_State *L, const char *call, const char *op,
                        int rc) {
  const char *where = rc == CR_ECLOSED ? NULL : stream_where(L);
  return io_error(L, call, op, rc, NULL, where ? "address" : NULL, where);
}

/* The short form, for calls that are named by their operation. */
static int ioerror(lua_State *L, const char *op, int rc) {
  return io_error(L, op, op, rc, NULL, NULL, NULL);
}

/*
** Where a blocking call stands after (re)entry: 1 = try the operation now
** (first entry, or an aborted wait whose task is no longer cancelled),
** 0 = the operation completed, < 0 = it failed with that code.
** Raises Cancelled when the task is cancelled and nothing was delivered:
** also when it was woken by its stream closing under it (ECLOSED), which
** a cancelled sibling's write does to a stream both use (the close comes
** of the same cancel, whichever task it reached first).
*/
static int woke(lua_State *L, int status, lcr_Task **tp, const char *call) {
  lcr_Task *t = *tp = lcr_checkblocking(L, call);
  if (status != LUA_YIELD || t->t.wake_status == CR_ECANCELED) {
    lcr_checkcancel(L, t);
    return 1;
  }
  if (t->t.wake_status == CR_ECLOSED) lcr_checkcancel(L, t);
  return t->t.wake_status;
}

/*
** Whether the handle at 1 was closed while its call waited (by another
** task, or by a write's own abort that a shield then hid): an I/O failure
** of that call, not the program's use of a closed handle.
*/
static int closed_while_waiting(lua_State *L, int status) {
  const lcr_Box *b = lua_touserdata(L, 1);
  return status == LUA_YIELD && (b->io == NULL || b->io->closing);
}

/* A string argument without embedded NUL (a C API would see a shorter
** one). [-0, +0, v] */
static const char *checkcstring(lua_State *L, int arg, const char *what) {
  size_t len;
  const char *s = luaL_checklstring(L, arg, &len);
  if (strlen(s) != len)
    luaL_argerror(L, arg, lua_pushfstring(L, "%s contains a NUL byte", what));
  return s;
}

/* {address = "...", port = n} for a socket address, nil if unknown. */
static void pushsockaddr(lua_State *L, const struct sockaddr_storage *ss) {
  char ip[64];
  int port;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
    uv_ip4_name(in, ip, sizeof ip);
    port = ntohs(in->sin_port);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
    uv_ip6_name(in6, ip, sizeof ip);
    port = ntohs(in6->sin6_port);
  } else {
    lua_pushnil(L);
    return;
  }
  lua_createtable(L, 0, 2);
  lua_pushstring(L, ip);
  lua_setfield(L, -2, "address");
  lua_pushinteger(L, port);
  lua_setfield(L, -2, "port");
  luaL_setmetatable(L, LCR_ADDRESS);     /* tostring: "127.0.0.1:80" */
}

/* --- streams ------------------------------------------------------------ */

/* The calls that read, as the user named them (the read context). */
static const char *const read_calls[] = {
  "stream:read", "stream:read_line", "stream:read_exactly", "stream:lines"
};
enum { READ_PLAIN, READ_LINE, READ_EXACTLY, READ_LINES };
/* How many frames up the user's call is: read is this C function; the
** others are lio.lua helpers calling it (read_line and lines tail-call the
** local read_line, which calls it). */
static const int read_levels[] = {1, 2, 2, 2};

/*
** A read or a write on a stream found closed. A task of the running engine
** that is cancelled raises its Cancelled: the close may come of that very
** cancel (a sibling's cancelled write closes a stream both use, before
** this task got to its first cancellation point). Anything else is the
** program's use of a closed stream.
*/
static void closed_stream(lua_State *L, const char *call, int level) {
  lcr_checkcancel_running(L);
  lcr_error_at(L, level, "%s: attempt to use a closed stream", call);
}

/* The open stream at 1, for a read or a write; by metatable pointer,
** read/write are hot. (The error at `level`, as lcr_error_at counts: the
** user's line.) */
static lcr_Box *checkstreambox(lua_State *L, const char *call, int level) {
  lcr_Box *b = lcr_testself(L, 1, LCR_MT_STREAM);
  if (b == NULL) b = tobox(L, 1, &K_STREAM);
  if (b->io == NULL || b->io->closing) closed_stream(L, call, level);
  return b;
}

static cr_stream_t *checkstream(lua_State *L, const char *call) {
  return (cr_stream_t *)checkstreambox(L, call, 1)->io;
}

/*
** How many of the n buffered bytes at p a read takes: at most max, and
** with a delimiter (>= 0) no more than up to and including its first
** occurrence. 0 = wait for more: a `whole` read (the helpers) takes a
** short piece only once the buffer is full or the stream ended, so a line
** or a count that fits in the buffer is consumed all at once, and a
** cancelled helper loses nothing.
*/
static size_t read_take(const char *p, size_t n, size_t max, int delim,
                        int whole) {
  if (delim >= 0) {
    const char *d = memchr(p, delim, n < max ? n : max);
    if (d) return (size_t)(d - p) + 1;
  }
  if (n >= max) return max;
  return whole ? 0 : n;
}

/*
** After read_line met a line longer than its max (EMSGSIZE), the next
** read_line or lines drops the rest of that line, through its "\n", and
** reads the line after it: a peer cannot smuggle the tail of an over-long
** line in as a line of its own. read and read_exactly take bytes as they
** come, and end the skip once they take some (stream_read_k). Drops what is
** buffered of the line: 0 and the buffer once its end was dropped, else
** what cr_stream_read says.
*/
static int skip_rest_of_line(lcr_Box *b, cr_task_t *t, int which,
                             const char **p, size_t *n) {
  cr_stream_t *s = (cr_stream_t *)b->io;
  int rc = cr_stream_read(s, t, p, n);
  if (which == READ_PLAIN || which == READ_EXACTLY) return rc;
  while (rc == 0 && b->skip_line) {
    const char *nl = memchr(*p, '\n', *n);
    if (nl) b->skip_line = 0;
    cr_stream_consume(s, nl ? (size_t)(nl - *p) + 1 : *n);
    rc = cr_stream_read(s, t, p, n);
  }
  if (rc == UV_EOF) b->skip_line = 0;
  return rc;
}

/* A read or write that did not have to wait (the data was buffered, the
** kernel took the bytes at once) gives way once a pass's time is up
** (lcr_done_now), in a test's run too: real I/O does not replay anyway. A
** call of several reads (read_line, read_exactly) gives way once, at its
** end (stream_give_way), never between them: another reader would take
** its place. */
static int done_now(lua_State *L, lcr_Task *t, int nres) {
  return lcr_done_now(L, t, nres, 0);
}

/* [stream, max, delim byte or -1]; ctx indexes read_calls (0 = read) */
static int stream_read_k(lua_State *L, int status, lua_KContext ctx) {
  LCR_ENGINE_ONLY(L, status, ctx, stream_read_k);
  const char *call = read_calls[ctx];
  lcr_Task *t;
  lcr_Box *b;
  cr_stream_t *s;
  const char *p;
  size_t n, take;
  int rc = woke(L, status, &t, call);
  if (rc < 0) return stream_error(L, call, "read", rc);
  if (closed_while_waiting(L, status)) {    /* data or not: lost with it */
    lcr_checkcancel(L, t);                  /* (see woke) */
    return stream_error(L, call, "read", CR_ECLOSED);
  }
  b = checkstreambox(L, call, read_levels[ctx]);   /* (closed meanwhile) */
  s = (cr_stream_t *)b->io;
  rc = skip_rest_of_line(b, &t->t, (int)ctx, &p, &n);
  if (rc == 0) {
    take = read_take(p, n, (size_t)lua_tointeger(L, 2),
                     (int)lua_tointeger(L, 3), ctx != 0);
    if (take == 0) {
      rc = cr_stream_wait_more(s, &t->t);
      if (rc == 1) return lcr_yield(L, t, ctx, stream_read_k);
      take = n;                      /* full, ended or failed: what is there */
    }
    lua_pushlstring(L, p, take);
    cr_stream_consume(s, take);
    b->skip_line = 0;                /* bytes taken: the skip is over */
    return ctx == READ_PLAIN ? done_now(L, t, 1) : 1;
  }
  if (rc == 1) return lcr_yield(L, t, ctx, stream_read_k);
  if (rc == UV_EOF) {
    lua_pushnil(L);
    return 1;
  }
  if (rc == UV_EBUSY)
    return lcr_error_at(L, read_levels[ctx], "%s: another task is "
                        "already reading this stream (one reader at a time)",
                        call);
  return stream_error(L, call, "read", rc);
}

/*
** A child's stdin pipe only carries data to it, its stdout and stderr only
** from it: using one the other way is a mistake of the program (a plain
** error), not an I/O failure of the child.
*/
static void check_direction(lua_State *L, cr_stream_t *s, int writing,
                            const char *call, int level) {
  /* readable: the child's stdout or stderr; stdin never is (and is not
  ** writable either once shut down: that flag cannot tell them apart) */
  if (s->h.handle.type != UV_NAMED_PIPE ||
      (writing ? !uv_is_readable(&s->h.stream) : uv_is_readable(&s->h.stream)))
    return;
  lcr_error_at(L, level, writing
    ? "%s: this pipe only carries data from the child (its stdout or "
      "stderr): read it instead"
    : "%s: this pipe only carries data to the child (its stdin): write to "
      "it instead", call);
}

static int stream_read(lua_State *L) {
  lua_Integer max = 65536;
  int ok = 1;             /* (worded as read_line's and read_exactly's) */
  if (!lua_isnoneornil(L, 2)) max = lua_tointegerx(L, 2, &ok);
  check_direction(L, checkstream(L, "stream:read"), 0, "stream:read", 1);
  lcr_checknargs(L, 2, LCR_NO_TIMEOUT);
  luaL_argcheck(L, ok && max >= 1, 2, "max must be an integer >= 1");
  lua_settop(L, 1);
  lua_pushinteger(L, max);
  lua_pushinteger(L, -1);
  return stream_read_k(L, LUA_OK, 0);
}

/* s:_read(max, delim, call): the primitive of the Lua helpers. */
static int stream_read_helper(lua_State *L) {
  lua_Integer max = luaL_checkinteger(L, 2);
  lua_Integer delim = luaL_checkinteger(L, 3);
  lua_Integer which = luaL_checkinteger(L, 4);
  luaL_argcheck(L, which >= 0 && which < 4, 4, "unknown call");
  check_direction(L, (cr_stream_t *)checkstreambox(L, read_calls[which],
                  read_levels[which])->io, 0, read_calls[which],
                  read_levels[which]);
  luaL_argcheck(L, max >= 1, 2, "max must be an integer >= 1");
  luaL_argcheck(L, delim >= -1 && delim <= 255, 3, "not a byte");
  lua_settop(L, 3);
  return stream_read_k(L, LUA_OK, (lua_KContext)which);
}

/* s:_give_way(call): the end of a call of several reads (done_now), its
** results kept by the Lua helper that made it. */
static int stream_give_way(lua_State *L) {
  lua_Integer which = luaL_checkinteger(L, 2);
  lcr_Task *t;
  luaL_argcheck(L, which > READ_PLAIN && which < 4, 2, "unknown call");
  checkstreambox(L, read_calls[which], read_levels[which]);
  t = lcr_checkblocking(L, read_calls[which]);
  lua_settop(L, 1);
  return done_now(L, t, 0);
}

/* [stream, data] */
static int stream_write_k(lua_State *L, int status, lua_KContext ctx) {
  LCR_ENGINE_ONLY(L, status, ctx, stream_write_k);
  lcr_Task *t;
  cr_stream_t *s;
  size_t len;
  const char *data;
  int rc = woke(L, status, &t, "stream:write");
  (void)ctx;
  if (rc == 0) return 0;
  if (rc < 0) return stream_error(L, "stream:write", "write", rc);
  if (closed_while_waiting(L, status))       /* the write's own abort */
    return stream_error(L, "stream:write", "write", UV_ECANCELED);
  s = checkstream(L, "stream:write");
  data = lua_tolstring(L, 2, &len);
  rc = cr_stream_write(s, &t->t, data, len);
  if (rc == 1) return lcr_yield(L, t, 0, stream_write_k);
  if (rc < 0) return stream_error(L, "stream:write", "write", rc);
  return done_now(L, t, 0);
}

static int stream_write(lua_State *L) {
  cr_stream_t *s = checkstream(L, "stream:write");
  check_direction(L, s, 1, "stream:write", 1);
  lcr_checknargs(L, 2, LCR_NO_TIMEOUT);
  luaL_checkstring(L, 2);
  /* after our own shutdown: the program's mistake, not the peer's EPIPE */
  if (s->shut)
    lcr_error_at(L, 1, "stream:write: this stream was shut down for writing "
                 "(s:shutdown() was called)");
  lua_settop(L, 2);
  return stream_write_k(L, LUA_OK, 0);
}

/* (A stream closed by the cancel of the task that shuts it down, say in
** its cleanup: nothing is left to shut down, and nothing is raised, as
** close would not.) */
static int stream_shutdown(lua_State *L) {
  lcr_Box *b = tobox(L, 1, &K_STREAM);
  cr_stream_t *s;
  int rc;
  lcr_Task *t = lcr_running_task(L);
  lcr_checknargs(L, 1, NULL);
  if ((b->io == NULL || b->io->closing) && t != NULL &&
      cr_task_cancelled_now(&t->t) != NULL)      /* (asks, raises nothing) */
    return 0;
  s = checkopen(L, &K_STREAM, "stream:shutdown");
  if (s->h.handle.type == UV_NAMED_PIPE && uv_is_readable(&s->h.stream))
    lcr_error_at(L, 1, "stream:shutdown: this pipe only carries data from "
                 "the child (its stdout or stderr): it has no sending side "
                 "to shut down (close it to stop reading)");
  rc = cr_stream_shutdown(s);
  if (rc < 0) return stream_error(L, "stream:shutdown", "shutdown", rc);
  return 0;
}

/* s.peer / s.local_address: {address, port} of a TCP stream, else nil. */
static int stream_address(lua_State *L, cr_stream_t *s, int peer) {
  struct sockaddr_storage ss;
  int len = (int)sizeof ss, rc;
  if (s == NULL || s->h.handle.type != UV_TCP) {
    lua_pushnil(L);
    return 1;
  }
  memset(&ss, 0, sizeof ss);
  rc = peer ? uv_tcp_getpeername(&s->h.tcp, (struct sockaddr *)&ss, &len)
            : uv_tcp_getsockname(&s->h.tcp, (struct sockaddr *)&ss, &len);
  if (rc) lua_pushnil(L);
  else pushsockaddr(L, &ss);
  return 1;
}

static int stream__index(lua_State *L) {
  lcr_Box *b = tobox(L, 1, &K_STREAM);
  const char *k = luaL_checkstring(L, 2);
  cr_stream_t *s = b->io && !b->io->closing ? (cr_stream_t *)b->io : NULL;
  if (strcmp(k, "closed") == 0) {
    lua_pushboolean(L, s == NULL);
    return 1;
  }
  if (strcmp(k, "peer") == 0) return stream_address(L, s, 1);
  if (strcmp(k, "local_address") == 0) return stream_address(L, s, 0);
  return 0;          /* methods were looked up first (index_dispatch) */
}

/* --- TCP ---------------------------------------------------------------- */

/* "127.0.0.1:80" or "[::1]:80", for error messages. */
static const char *fmtaddr(lua_State *L, const char *ip, lua_Integer port) {
  if (strchr(ip, ':')) return lua_pushfstring(L, "[%s]:%I", ip, port);
  return lua_pushfstring(L, "%s:%I", ip, port);
}

/* "ip:port" of the peer of TCP stream s, or nil. [-0, +1, m] */
static void push_peer(lua_State *L, cr_stream_t *s) {
  struct sockaddr_storage ss;
  int len = (int)sizeof ss;
  memset(&ss, 0, sizeof ss);
  if (uv_tcp_getpeername(&s->h.tcp, (struct sockaddr *)&ss, &len) != 0 ||
      (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
    lua_pushnil(L);
    return;
  }
  pushsockaddr(L, &ss);
  lua_getfield(L, -1, "address");
  lua_getfield(L, -2, "port");
  fmtaddr(L, lua_tostring(L, -2), lua_tointeger(L, -1));
  lua_replace(L, -4);
  lua_pop(L, 2);
}

static int checkaddr(lua_State *L, int iarg, int parg,
                     struct sockaddr_storage *ss) {
  const char *ip = checkcstring(L, iarg, "host");
  lua_Integer port = luaL_checkinteger(L, parg);
  luaL_argcheck(L, port >= 0 && port <= 65535, parg,
                "port must be an integer in 0..65535");
  if (uv_ip4_addr(ip, (int)port, (struct sockaddr_in *)ss) == 0) return 0;
  if (uv_ip6_addr(ip, (int)port, (struct sockaddr_in6 *)ss) == 0) return 0;
  return luaL_argerror(L, iarg, "not an IPv4 or IPv6 address");
}

static int connect_error(lua_State *L, int rc) {
  const char *where = fmtaddr(L, lua_tostring(L, 1), lua_tointeger(L, 2));
  return io_error(L, "connect", "connect", rc, NULL, "address", where);
}

/* [ip, port, box] */
static int tcp_connect_k(lua_State *L, int status, lua_KContext ctx) {
  LCR_ENGINE_ONLY(L, status, ctx, tcp_connect_k);
  lcr_Task *t;
  lcr_Box *b = lua_touserdata(L, 3);
  int rc = woke(L, status, &t, "corral.tcp.connect");
  (void)ctx;
  if (rc == 0 && b->io) {
    fmtaddr(L, lua_tostring(L, 1), lua_tointeger(L, 2));
    lua_setiuservalue(L, 3, 1);          /* its peer, for its errors */
    return 1;
  }
  box_close(b);
  /* no longer cancelled after an abort closed the socket: report it */
  return connect_error(L, rc < 0 ? rc : UV_ECANCELED);
}

static int l_tcp_connect(lua_State *L) {
  struct sockaddr_storage ss;
  lcr_Task *t;
  cr_stream_t *s = NULL;
  lcr_Box *b;
  int rc;
  checkaddr(L, 1, 2, &ss);
  t = lcr_checkblocking(L, "corral.tcp.connect");
  lcr_checkcancel(L, t);
  lua_settop(L, 2);
  b = newbox(L, NULL, LCR_STREAM, 1);                    /* 3 */
  rc = cr_tcp_connect(&lcr_taskengine(t)->e, &t->t, (struct sockaddr *)&ss, &s);
  if (s) box_attach(b, &s->io);
  if (rc == 1) return lcr_yield(L, t, 0, tcp_connect_k);
  box_close(b);
  return connect_error(L, rc < 0 ? rc : UV_EINVAL);
}

static int l_tcp_listen(lua_State *L) {
  struct sockaddr_storage ss;
  lcr_Engine *E;
  cr_listener_t *l = NULL;
  lua_Integer backlog = luaL_optinteger(L, 3, 511);
  int rc;
  checkaddr(L, 1, 2, &ss);
  luaL_argcheck(L, backlog >= 1 && backlog <= 65535, 3,
                "backlog must be an integer in 1..65535");
  E = lcr_engine(L, "corral.tcp.listen");
  rc = cr_tcp_listen(&E->e, (struct sockaddr *)&ss, (int)backlog, &l);
  if (rc) {
    const char *where = fmtaddr(L, lua_tostring(L, 1), lua_tointeger(L, 2));
    return io_error(L, "listen", "listen", rc, NULL, "address", where);
  }
  newbox(L, &l->io, LCR_LISTENER, 0);
  return 1;
}

static int listener_accept_k(lua_State *L, int status, lua_KContext ctx) {
  LCR_ENGINE_ONLY(L, status, ctx, listener_accept_k);
  static const char call[] = "listener:accept";
  lcr_Task *t;
  cr_stream_t *s = NULL;
  int rc = woke(L, status, &t, call);
  (void)ctx;
  if (rc == 0) {
    s = t->t.xfer;
    t->t.xfer = NULL;
  } else if (rc < 0 || closed_while_waiting(L, status)) {
    if (rc >= 0) lcr_checkcancel(L, t);     /* closed under it (see woke) */
    return io_error(L, call, "accept", rc < 0 ? rc : CR_ECLOSED, NULL, NULL,
                    NULL);
  } else {
    rc = cr_tcp_accept(checkopen_wait(L, &K_LISTENER, call), &t->t, &s);
    if (rc == 1) return lcr_yield(L, t, 0, listener_accept_k);
    if (rc < 0) return io_error(L, call, "accept", rc, NULL, NULL, NULL);
  }
  newbox(L, &s->io, LCR_STREAM, 1);
  push_peer(L, s);
  lua_setiuservalue(L, -2, 1);           /* its peer, for its errors */
  return 1;
}

static int listener_accept(lua_State *L) {
  checkopen_wait(L, &K_LISTENER, "listener:accept");
  lcr_checknargs(L, 1, LCR_NO_TIMEOUT);
  return listener_accept_k(L, LUA_OK, 0);
}

static int listener__index(lua_State *L) {
  lcr_Box *b = tobox(L, 1, &K_LISTENER);
  const char *k = luaL_checkstring(L, 2);
  if (strcmp(k, "port") == 0) {
    if (b->io) lua_pushinteger(L, ((cr_listener_t *)b->io)->port);
    else lua_pushnil(L);
    return 1;
  }
  if (strcmp(k, "closed") == 0) {
    lua_pushboolean(L, b->io == NULL || b->io->closing);
    return 1;
  }
  return 0;          /* methods were looked up first (index_dispatch) */
}

/* --- resolve -------------------------------------------------------------- */

#define MAX_ADDRS 32

static int resolve_k(lua_State *L, int status, lua_KContext ctx) {
  LCR_ENGINE_ONLY(L, status, ctx, resolve_k);
  lcr_Task *t;
  struct addrinfo *res, *ai;
  char names[MAX_ADDRS][64];
  int families[MAX_ADDRS], n = 0, i, j;
  int rc = woke(L, status, &t, "corral.resolve");
  (void)ctx;
  if (rc == 1) {
    rc = cr_resolve(&lcr_taskengine(t)->e, &t->t, lua_tostring(L, 1));
    if (rc == 1) return lcr_yield(L, t, 0, resolve_k);
  }
  if (rc < 0)
    return io_error(L, "resolve", "resolve", rc, NULL, "address",
                    lua_tostring(L, 1));
  /* copy out and free before touching Lua, which may raise */
  res = t->t.xfer;
  t->t.xfer = NULL;
  for (ai = res; ai && n < MAX_ADDRS; ai = ai->ai_next) {
    int dup = 0;
    if (ai->ai_family == AF_INET)
      uv_ip4_name((struct sockaddr_in *)ai->ai_addr, names[n], 64);
    else if (ai->ai_family == AF_INET6)
      uv_ip6_name((struct sockaddr_in6 *)ai->ai_addr, names[n], 64);
    else
      continue;
    for (j = 0; j < n; j++) dup |= strcmp(names[j], names[n]) == 0;
    if (dup) continue;
    families[n++] = ai->ai_family;
  }
  uv_freeaddrinfo(res);
  lua_createtable(L, n, 0);
  for (i = 0; i < n; i++) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, names[i]);
    lua_setfield(L, -2, "address");
    lua_pushstring(L, families[i] == AF_INET ? "inet" : "inet6");
    lua_setfield(L, -2, "family");
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int l_resolve(lua_State *L) {
  luaL_argcheck(L, *checkcstring(L, 1, "host") != '\0', 1, "host is empty");
  lcr_checknargs(L, 1, LCR_NO_TIMEOUT);
  return resolve_k(L, LUA_OK, 0);
}

static int l_running(lua_State *L) {
  lua_pushboolean(L, lcr_state(L)->eng != NULL);
  return 1;
}

static int l_is_stream(lua_State *L) {
  lua_pushboolean(L, luaL_testudata(L, 1, LCR_STREAM) != NULL);
  return 1;
}

static int l_is_ip(lua_State *L) {
  struct sockaddr_storage ss;
  size_t len;
  const char *ip = luaL_checklstring(L, 1, &len);
  lua_pushboolean(L, strlen(ip) == len &&
                     (uv_ip4_addr(ip, 0, (struct sockaddr_in *)&ss) == 0 ||
                      uv_ip6_addr(ip, 0, (struct sockaddr_in6 *)&ss) == 0));
  return 1;
}

/* --- signals -------------------------------------------------------------- */

/*
** Every signal name the platform defines. For a number, its first name is
** the one corral returns (SIGABRT, not SIGIOT). Real-time signals have no
** fixed numbers: they are SIGRTMIN, SIGRTMIN+n, SIGRTMAX-n and SIGRTMAX.
*/
#define SIG(n) {#n, n},
static const struct { const char *name; int num; } signames[] = {
  SIG(SIGHUP) SIG(SIGINT) SIG(SIGQUIT) SIG(SIGILL) SIG(SIGTRAP)
  SIG(SIGABRT) SIG(SIGBUS) SIG(SIGFPE) SIG(SIGKILL) SIG(SIGUSR1)
  SIG(SIGSEGV) SIG(SIGUSR2) SIG(SIGPIPE) SIG(SIGALRM) SIG(SIGTERM)
  SIG(SIGCHLD) SIG(SIGCONT) SIG(SIGSTOP) SIG(SIGTSTP) SIG(SIGTTIN)
  SIG(SIGTTOU) SIG(SIGURG) SIG(SIGXCPU) SIG(SIGXFSZ) SIG(SIGVTALRM)
  SIG(SIGPROF) SIG(SIGSYS)
#ifdef SIGWINCH
  SIG(SIGWINCH)
#endif
#ifdef SIGIO
  SIG(SIGIO)
#endif
#ifdef SIGSTKFLT
  SIG(SIGSTKFLT)
#endif
#ifdef SIGPWR
  SIG(SIGPWR)
#endif
#ifdef SIGEMT
  SIG(SIGEMT)
#endif
#ifdef SIGINFO
  SIG(SIGINFO)
#endif
#ifdef SIGIOT
  SIG(SIGIOT)
#endif
#ifdef SIGPOLL
  SIG(SIGPOLL)
#endif
#ifdef SIGCLD
  SIG(SIGCLD)
#endif
  {NULL, 0}
};
#undef SIG

static const char *signame(int num) {
  int i;
  for (i = 0; signames[i].name; i++)
    if (signames[i].num == num) return signames[i].name;
  return NULL;
}

/* [-0, +1, m] the name of a valid signal number, as corral.signal returns
** it (also the task tree's, for what a task waits on). */
void lcr_pushsigname(lua_State *L, int num) {
  const char *name = signame(num);
  if (name) lua_pushstring(L, name);
#ifdef SIGRTMIN
  else if (num == SIGRTMIN) lua_pushliteral(L, "SIGRTMIN");
  else if (num == SIGRTMAX) lua_pushliteral(L, "SIGRTMAX");
  else if (num > SIGRTMIN && num < SIGRTMAX)
    lua_pushfstring(L, "SIGRTMIN+%d", num - SIGRTMIN);
#endif
  else lua_pushinteger(L, num);
}

/* "RTMIN", "RTMIN+n", "RTMAX-n", "RTMAX" -> its number, or 0. */
static int rtsignal(const char *s) {
#ifdef SIGRTMIN
  int base, sign, n = 0, digits = 0;
  if (strncmp(s, "RTMIN", 5) == 0) base = SIGRTMIN, sign = '+';
  else if (strncmp(s, "RTMAX", 5) == 0) base = SIGRTMAX, sign = '-';
  else return 0;
  s += 5;
  if (*s && *s++ != sign) return 0;
  for (; *s >= '0' && *s <= '9' && digits < 4; s++, digits++)
    n = n * 10 + (*s - '0');
  if (*s || (s[-1] == sign)) return 0;     /* trailing junk, or "RTMIN+" */
  n = sign == '+' ? base + n : base - n;
  return n >= SIGRTMIN && n <= SIGRTMAX ? n : 0;
#else
  (void)s;
  return 0;
#endif
}

/* Whether the platform has a signal numbered n (glibc keeps 32 and 33 for
** itself). Also run's debug_signal (ltrace.c). */
int lcr_known_signum(lua_Integer n) {
  if (n <= 0 || n >= NSIG) return 0;
#ifdef SIGRTMIN
  if (n >= SIGRTMIN && n <= SIGRTMAX) return 1;
#endif
  return signame((int)n) != NULL;
}

/*
** A signal as a name ("SIGINT" or "INT", "SIGRTMIN+3") or a number the
** platform has. [-0, +0, v]
*/
static int checksignal(lua_State *L, int arg) {
  const char *name, *bare;
  int i, isint;
  if (lua_type(L, arg) == LUA_TNUMBER) {
    lua_Integer n = lua_tointegerx(L, arg, &isint);
    if (!isint) return luaL_argerror(L, arg, "signal number must be an integer");
    if (!lcr_known_signum(n))
      return luaL_argerror(L, arg, lua_pushfstring(L,
                           "no signal numbered %I on this platform", n));
    return (int)n;
  }
  if (lua_type(L, arg) != LUA_TSTRING)
    return luaL_typeerror(L, arg, "signal name or number");
  if ((name = lcr_tocname(L, arg)) == NULL)
    return luaL_argerror(L, arg, "signal name contains a NUL byte");
  bare = strncmp(name, "SIG", 3) == 0 ? name + 3 : name;
  for (i = 0; signames[i].name; i++)
    if (strcmp(bare, signames[i].name + 3) == 0) return signames[i].num;
  if ((i = rtsignal(bare)) != 0) return i;
  return luaL_argerror(L, arg, lua_pushfstring(L,
    "unknown signal name '%s'; expected a name like \"SIGINT\" or \"INT\"", name));
}

static int signal_k(lua_State *L, int status, lua_KContext ctx) {
  LCR_ENGINE_ONLY(L, status, ctx, signal_k);
  lcr_Task *t;
  int rc = woke(L, status, &t, "corral.signal");
  if (rc == 1) {
    rc = cr_signal_wait(&lcr_taskengine(t)->e, &t->t, (int)ctx);
    if (rc == 1) return lcr_yield(L, t, ctx, signal_k);
  }
  if (rc < 0) return ioerror(L, "signal", rc);
  lcr_pushsigname(L, (int)ctx);
  return 1;
}

static int l_signal(lua_State *L) {
  int sig = checksignal(L, 1);
  if (sig == SIGKILL || sig == SIGSTOP)
    return luaL_argerror(L, 1, lua_pushfstring(L,
                         "%s cannot be caught or waited for", signame(sig)));
  lcr_checknargs(L, 1, LCR_NO_TIMEOUT);
  lua_settop(L, 0);
  return signal_k(L, LUA_OK, sig);
}

/* --- processes --------------------------------------------------------- */

/*
** corral.exec keeps every string it hands to uv_spawn in an anchor table
** (stack index ANCHORS), so none can be collected or be a temporary
** conversion that is popped before the spawn reads it.
*/
enum { EXEC_ANCHORS = 4 };

/* Anchor the string at the top (a converted copy if it is a number) and
** return it; it must not contain NUL. Pops it. [-1, +0, v] */
static char *anchor_cstring(lua_State *L, int arg, const char *what) {
  size_t len;
  const char *s;
  if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
    luaL_argerror(L, arg, lua_pushfstring(L, "%s must be a string, got %s",
                                          what, luaL_typename(L, -1)));
  s = lua_tolstring(L, -1, &len);
  if (strlen(s) != len)
    luaL_argerror(L, arg, lua_pushfstring(L, "%s contains a NUL byte", what));
  lua_rawseti(L, EXEC_ANCHORS, luaL_len(L, EXEC_ANCHORS) + 1);
  return (char *)s;
}

/* A NULL-terminated array of n + 1 strings, in memory the GC owns: kept
** in the anchor table. [-0, +0, m] */
static char **strv(lua_State *L, lua_Integer n) {
  char **v = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
  lua_rawseti(L, EXEC_ANCHORS, luaL_len(L, EXEC_ANCHORS) + 1);
  return v;
}

/*
** Every raw key of args must be one that the loop over 1..n reads: a key
** past n (after a hole, where `#` may stop) or a key that is no index would
** be dropped without a word. A proxy (__len or __index) is read through its
** metamethods, and its raw fields are its own business. [-0, +0, v]
*/
static void check_arg_keys(lua_State *L, lua_Integer n) {
  if (luaL_getmetafield(L, 2, "__len") != LUA_TNIL ||
      luaL_getmetafield(L, 2, "__index") != LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    lua_Integer k = lua_isinteger(L, -2) ? lua_tointeger(L, -2) : 0, hole = 1;
    lua_pop(L, 1);
    if (k >= 1 && k <= n) continue;
    if (k > n) {
      while (lua_rawgeti(L, 2, hole) != LUA_TNIL) { lua_pop(L, 1); hole++; }
      luaL_argerror(L, 2, lua_pushfstring(L, "args must be a list without "
                    "holes, got args[%I] but no args[%I]", k, hole));
    }
    if (lua_type(L, -1) == LUA_TSTRING)
      luaL_argerror(L, 2, lua_pushfstring(L, "args must be a list, got key "
                    "'%s'", lua_tostring(L, -1)));
    if (lua_isinteger(L, -1))
      luaL_argerror(L, 2, lua_pushfstring(L, "args must be a list, got key "
                    "[%I]", lua_tointeger(L, -1)));
    if (lua_type(L, -1) == LUA_TNUMBER)
      luaL_argerror(L, 2, lua_pushfstring(L, "args must be a list, got key "
                    "[%f]", lua_tonumber(L, -1)));
    luaL_argerror(L, 2, lua_pushfstring(L, "args must be a list, got a key "
                  "of type %s", luaL_typename(L, -1)));
  }
}

/* argv from the table at 2 (path first); its length may come from __len,
** so it is bounded before anything is allocated. */
static void exec_args(lua_State *L, cr_proc_opts_t *o) {
  lua_Integer n = 0, i;
  int isint;
  char **v;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_len(L, 2);
    n = lua_tointegerx(L, -1, &isint);     /* 2.0 is 2 (not "2") */
    if (!isint || lua_type(L, -1) != LUA_TNUMBER)
      luaL_argerror(L, 2, "the length of args must be an integer");
    lua_pop(L, 1);
    luaL_argcheck(L, n >= 0 && n <= MAX_EXEC_ARGS, 2,
                  "the length of args must be in 0..1048576");
    check_arg_keys(L, n);
  }
  v = strv(L, n + 1);
  v[0] = (char *)o->file;
  for (i = 1; i <= n; i++) {
    lua_geti(L, 2, i);
    lua_pushfstring(L, "args[%I]", (lua_Integer)i);
    lua_insert(L, -2);
    v[i] = anchor_cstring(L, 2, lua_tostring(L, -2));
    lua_pop(L, 1);
  }
  v[n + 1] = NULL;
  o->args = v;
}

/* opts.env: a table of name -> value that replaces the environment. */
static void exec_env(lua_State *L, cr_proc_opts_t *o, int env) {
  lua_Integer cap = 0, k = 0;
  luaL_argcheck(L, lua_istable(L, env), 3, "env must be a table");
  lua_pushnil(L);
  while (lua_next(L, env)) { cap++; lua_pop(L, 1); }
  o->env = strv(L, cap);
  lua_pushnil(L);
  while (k < cap && lua_next(L, env)) {
    const char *name;
    if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1))
      luaL_argerror(L, 3, "env must map strings to strings (or numbers)");
    name = lua_tostring(L, -2);
    if (strchr(name, '=') || *name == '\0')
      luaL_argerror(L, 3, "an env name must be non-empty, without '='");
    lua_pushvalue(L, -2);
    lua_pushliteral(L, "=");
    lua_pushvalue(L, -3);
    lua_concat(L, 3);                                  /* "name=value" */
    o->env[k++] = anchor_cstring(L, 3, "env");
    lua_pop(L, 1);                                     /* the value */
  }
  if (k == cap) lua_pop(L, 1);  /* the key, when lua_next was not done */
  o->env[k] = NULL;
}

static void exec_opts(lua_State *L, cr_proc_opts_t *o) {
  static const char *const names[] = {"cwd", "env", "stdin", "stdout",
                                      "stderr", NULL};
  int i;
  lcr_checkopts(L, 3, 0, names);
  if (lua_isnoneornil(L, 3)) return;
  if (lua_getfield(L, 3, "cwd") != LUA_TNIL)
    o->cwd = anchor_cstring(L, 3, "cwd");
  else
    lua_pop(L, 1);
  for (i = 0; i < 3; i++) {
    if (lua_getfield(L, 3, names[i + 2]) != LUA_TNIL) {
      const char *m = lcr_tocname(L, -1);
      if (m == NULL) m = "";
      if (strcmp(m, "inherit") == 0) o->pipe[i] = 0;
      else if (strcmp(m, "pipe") != 0)
        luaL_argerror(L, 3, lua_pushfstring(L, "%s must be \"pipe\" or "
                                            "\"inherit\"", names[i + 2]));
    }
    lua_pop(L, 1);
  }
  if (lua_getfield(L, 3, "env") != LUA_TNIL)
    exec_env(L, o, lua_gettop(L));
  lua_pop(L, 1);
}

static int is_directory(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int l_exec(lua_State *L) {
  lcr_Engine *E;
  cr_proc_opts_t o;
  cr_proc_t *p = NULL;
  lcr_Box *b;
  int i, rc;
  memset(&o, 0, sizeof o);
  o.file = checkcstring(L, 1, "path");
  luaL_argcheck(L, o.file[0] != '\0', 1, "path is empty");
  o.pipe[0] = o.pipe[1] = o.pipe[2] = 1;
  lcr_checknargs(L, 3, NULL);
  E = lcr_engine(L, "corral.exec");
  lua_settop(L, 3);
  lua_newtable(L);                                   /* EXEC_ANCHORS */
  exec_args(L, &o);
  exec_opts(L, &o);
  b = newbox(L, NULL, LCR_PROCESS, 3);
  rc = cr_proc_spawn(&E->e, &o, &p);
  if ((rc == UV_ENOENT || rc == UV_ENOTDIR) && o.cwd &&
      !is_directory(o.cwd))                       /* not the program */
    return io_error(L, "exec", "spawn", rc, lua_pushfstring(L,
                    "cwd %s: %s", o.cwd, access(o.cwd, F_OK) != 0
                    ? "no such directory" : "not a directory"),
                    "path", o.file);
  if (rc) return io_error(L, "exec", "spawn", rc, NULL, "path", o.file);
  box_attach(b, &p->io);
  for (i = 0; i < 3; i++) {
    if (p->stdio[i]) {
      /* a pipe keeps its process: the collector closes a process (and
      ** kills the child) only once its pipes are unreachable too, so
      ** `for l in corral.exec(...).stdout:lines()` reads to the end */
      newbox(L, &p->stdio[i]->io, LCR_STREAM, 1);
      lua_pushvalue(L, -2);
      lua_setiuservalue(L, -2, 1);
    } else {
      lua_pushnil(L);
    }
    lua_setiuservalue(L, -2, i + 1);
  }
  return 1;
}

/* Killed: 128 + the signal, as a shell reports it (libuv says 0, which
** `p:wait() == 0` would take for success), and its name. */
static int push_exit(lua_State *L, int code, int sig) {
  if (sig) {
    lua_pushinteger(L, 128 + (lua_Integer)sig);
    lcr_pushsigname(L, sig);                        /* as corral.signal */
  } else {
    lua_pushinteger(L, (lua_Integer)code);
    lua_pushnil(L);
  }
  return 2;
}

static int proc_wait_k(lua_State *L, int status, lua_KContext ctx) {
  LCR_ENGINE_ONLY(L, status, ctx, proc_wait_k);
  static const char call[] = "process:wait";
  lcr_Task *t;
  cr_proc_t *p;
  int rc = woke(L, status, &t, call);
  (void)ctx;
  if (rc == CR_ECLOSED)
    return io_error(L, call, "wait", rc, "the process was closed while "
                    "waited on", NULL, NULL);
  if (rc == 0 && t->t.xfer != NULL) {    /* delivered: even if another
                                         ** waiter closed it since */
    const void *x = t->t.xfer;
    t->t.xfer = NULL;
    return push_exit(L, cr_proc_outcome_status(x), cr_proc_outcome_signal(x));
  }
  p = checkopen_wait(L, &K_PROCESS, call);
  if (rc == 1) rc = cr_proc_wait(p, &t->t);
  if (rc == 1) return lcr_yield(L, t, 0, proc_wait_k);
  if (rc < 0) return io_error(L, call, "wait", rc, NULL, NULL, NULL);
  return push_exit(L, (int)p->exit_status, p->term_signal);
}

static int proc_wait(lua_State *L) {
  checkopen_wait(L, &K_PROCESS, "process:wait");
  lcr_checknargs(L, 1, LCR_NO_TIMEOUT);
  return proc_wait_k(L, LUA_OK, 0);
}

static int proc_kill(lua_State *L) {
  cr_proc_t *p = checkopen(L, &K_PROCESS, "process:kill");
  int sig, rc;
  lcr_checknargs(L, 2, NULL);
  sig = lua_isnoneornil(L, 2) ? SIGTERM : checksignal(L, 2);
  rc = cr_proc_kill(p, sig);
  if (rc == UV_ESRCH) return 0;          /* already exited: nothing to do */
  if (rc < 0) return io_error(L, "process:kill", "kill", rc, 0, 0, 0);
  return 0;
}

static int proc__index(lua_State *L) {
  lcr_Box *b = tobox(L, 1, &K_PROCESS);
  const char *k = luaL_checkstring(L, 2);
  static const char *const io[3] = {"stdin", "stdout", "stderr"};
  int i;
  for (i = 0; i < 3; i++)
    if (strcmp(k, io[i]) == 0) {
      lua_getiuservalue(L, 1, i + 1);
      return 1;
    }
  if (strcmp(k, "pid") == 0) {
    if (b->io) lua_pushinteger(L, ((cr_proc_t *)b->io)->pid);
    else lua_pushnil(L);
    return 1;
  }
  if (strcmp(k, "closed") == 0) {
    lua_pushboolean(L, b->io == NULL || b->io->closing);
    return 1;
  }
  return 0;          /* methods were looked up first (index_dispatch) */
}

/* --- registration ------------------------------------------------------- */

/* s:_where() -> its peer ("127.0.0.1:80"), or nil for a pipe: the address
** of the Lua helpers' errors (lio.lua). */
static int stream_where_helper(lua_State *L) {
  tobox(L, 1, &K_STREAM);
  if (stream_where(L) == NULL) lua_pushnil(L);
  return 1;
}

/* s:_skip_line(): read_line left the rest of an over-long line unread. */
static int stream_skip_line_helper(lua_State *L) {
  tobox(L, 1, &K_STREAM)->skip_line = 1;
  return 0;
}

static const luaL_Reg stream_methods[] = {
  {"read", stream_read}, {"write", stream_write},
  {"shutdown", stream_shutdown}, {"close", stream_close},
  {"_read", stream_read_helper}, {"_where", stream_where_helper},
  {"_skip_line", stream_skip_line_helper}, {"_give_way", stream_give_way},
  {NULL, NULL}
};
/* obj.x = v on a stream, listener or process: their fields are read-only
** (the upvalue names the kind). */
static int io__newindex(lua_State *L) {
  return luaL_error(L, "%s: cannot set field '%s' (its fields are read-only)",
                    lua_tostring(L, lua_upvalueindex(1)), lcr_push_key(L, 2));
}

/* tostring(obj): "corral.Kind(detail)", detail ", closed" once closed (or
** "closed" alone when there is no detail). [-0, +1, m] */
static int io_tostring(lua_State *L, const lcr_Kind *k, const char *detail) {
  lcr_Box *b = tobox(L, 1, k);
  int closed = b->io == NULL || b->io->closing;
  lua_pushfstring(L, "%s(%s%s%s)", k->tname, detail ? detail : "",
                  detail && closed ? ", " : "", closed ? "closed" : "");
  return 1;
}

/* corral.Stream(127.0.0.1:80) for TCP (corral.Stream(tcp) when the peer
** had gone before the accept), corral.Stream(pipe) for a pipe */
static int stream__tostring(lua_State *L) {
  lcr_Box *b = tobox(L, 1, &K_STREAM);
  const char *where = stream_where(L);
  if (where == NULL && b->io != NULL)
    where = ((cr_stream_t *)b->io)->h.handle.type == UV_TCP ? "tcp" : "pipe";
  return io_tostring(L, &K_STREAM, where ? where : "pipe");
}

/* corral.Listener(port 8080) */
static int listener__tostring(lua_State *L) {
  lcr_Box *b = tobox(L, 1, &K_LISTENER);
  if (b->io == NULL) return io_tostring(L, &K_LISTENER, NULL);
  lua_pushfstring(L, "port %d", ((cr_listener_t *)b->io)->port);
  return io_tostring(L, &K_LISTENER, lua_tostring(L, -1));
}

/* corral.Process(pid 42, running), (pid 42, exited 1), (pid 42, killed by
** SIGKILL); once closed (pid 42, closed) */
static int proc__tostring(lua_State *L) {
  lcr_Box *b = tobox(L, 1, &K_PROCESS);
  const cr_proc_t *p = (const cr_proc_t *)b->io;
  if (p == NULL) return io_tostring(L, &K_PROCESS, NULL);   /* closed */
  if (!p->exited)
    lua_pushfstring(L, "pid %d, running", p->pid);
  else if (p->term_signal != 0) {
    lcr_pushsigname(L, p->term_signal);
    lua_pushfstring(L, "pid %d, killed by %s", p->pid, lua_tostring(L, -1));
  } else
    lua_pushfstring(L, "pid %d, exited %d", p->pid, (int)p->exit_status);
  return io_tostring(L, &K_PROCESS, lua_tostring(L, -1));
}

static const luaL_Reg stream_meta[] = {
  {"__index", stream__index}, {"__close", stream_close},
  {"__gc", stream_gc}, {"__tostring", stream__tostring}, {NULL, NULL}
};
static const luaL_Reg listener_methods[] = {
  {"accept", listener_accept}, {"close", listener_close}, {NULL, NULL}
};
static const luaL_Reg listener_meta[] = {
  {"__index", listener__index}, {"__close", listener_close},
  {"__gc", listener_gc}, {"__tostring", listener__tostring}, {NULL, NULL}
};
static const luaL_Reg proc_methods[] = {
  {"wait", proc_wait}, {"kill", proc_kill}, {"close", proc_close},
  {NULL, NULL}
};
static const luaL_Reg proc_meta[] = {
  {"__index", proc__index}, {"__close", proc_close}, {"__gc", proc_gc},
  {"__tostring", proc__tostring}, {NULL, NULL}
};

const luaL_Reg lcr_io_funcs[] = {
  {"resolve", l_resolve},
  {"exec", l_exec},
  {"signal", l_signal},
  {NULL, NULL}
};

static const luaL_Reg core_funcs[] = {
  {"tcp_connect", l_tcp_connect},
  {"tcp_listen", l_tcp_listen},
  {"is_ip", l_is_ip},
  {"is_stream", l_is_stream},
  {"running", l_running},
  {"cancel_point", lcr_cancel_point},
  {"type", lcr_rawtype},
  {NULL, NULL}
};

/* Stack: [..., state, module]. */
/* The metatable tname gets __newindex = io__newindex naming `kind`. */
static void set_newindex(lua_State *L, const char *tname, const char *kind) {
  luaL_getmetatable(L, tname);
  lua_pushstring(L, kind);
  lua_pushcclosure(L, io__newindex, 1);
  lua_setfield(L, -2, "__newindex");
  lua_pop(L, 1);
}

void lcr_open_io(lua_State *L) {
  lcr_register(L, LCR_STREAM, stream_methods, stream_meta);
  lcr_register_mt(L, LCR_STREAM, LCR_MT_STREAM, sizeof(lcr_Box));
  lcr_register(L, LCR_LISTENER, listener_methods, listener_meta);
  lcr_register(L, LCR_PROCESS, proc_methods, proc_meta);
  set_newindex(L, LCR_STREAM, "stream");
  set_newindex(L, LCR_LISTENER, "listener");
  set_newindex(L, LCR_PROCESS, "process");
  luaL_newmetatable(L, LCR_IOERROR);     /* filled in by lio.lua */
  luaL_newmetatable(L, LCR_ADDRESS);     /* likewise */
  lua_pop(L, 2);
}

/* Run lio.lua with (module, core): core holds the C primitives, the
** stream methods table and IoError's metatable. */
void lcr_open_io_lua(lua_State *L, int state, int module) {
  if (luaL_loadbuffer(L, lio_lua, lio_lua_len, "=corral.io") != LUA_OK)
    lua_error(L);
  lua_pushvalue(L, module);
  lua_newtable(L);
  lua_pushvalue(L, state);
  luaL_setfuncs(L, core_funcs, 1);
  luaL_getmetatable(L, LCR_STREAM);
  lua_getfield(L, -1, "__methods");
  lua_setfield(L, -3, "stream_methods");
  lua_pop(L, 1);
  luaL_getmetatable(L, LCR_IOERROR);
  lua_setfield(L, -2, "IoError");
  luaL_getmetatable(L, LCR_ADDRESS);
  lua_setfield(L, -2, "Address");
  lua_call(L, 2, 0);
}
