/*
** lio.c -- TCP, name resolution, child processes and signals from Lua.
**
** Objects are boxes around engine-owned I/O objects: libuv owns a handle
** until its close callback, so the engine frees the memory and tells the
** box through on_free. `<close>`, close() and __gc share one idempotent
** path; using a closed object raises "attempt to use a closed ...".
*/
#include <signal.h>
#include <string.h>
#include "lcorral.h"

#define LCR_STREAM "corral.Stream"
#define LCR_LISTENER "corral.Listener"
#define LCR_PROCESS "corral.Process"

typedef struct { cr_io_t *io; } lcr_Box;

/* --- boxes ------------------------------------------------------------ */

static void box_on_free(cr_io_t *io) {
  lcr_Box *b = io->data;
  if (b) b->io = NULL;
}

/* Wrap io in a new box of type tname. [-0, +1, m] */
static lcr_Box *newbox(lua_State *L, cr_io_t *io, const char *tname,
                       int nuv) {
  lcr_Box *b = lua_newuserdatauv(L, sizeof *b, nuv);
  b->io = NULL;
  luaL_setmetatable(L, tname);
  if (io) {
    b->io = io;
    io->data = b;
    io->on_free = box_on_free;
  }
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

static void *checkio(lua_State *L, const char *tname, const char *what) {
  lcr_Box *b = luaL_checkudata(L, 1, tname);
  if (b->io == NULL || b->io->closing)
    luaL_error(L, "attempt to use a closed %s", what);
  return b->io;
}

static int box__close(lua_State *L) {
  lcr_Box *b = lua_touserdata(L, 1);
  if (b) box_close(b);
  return 0;
}

/*
** An OS error as "op: message (NAME)". It carries no source position: it
** is about the world, not about a line of the program. [-0, +0, v]
*/
static int ioerror(lua_State *L, const char *op, int rc) {
  if (rc == CR_ECLOSED)
    lua_pushfstring(L, "%s: closed while in use", op);
  else if (rc == CR_ENOMEM)
    return lcr_raise(L, rc);
  else
    lua_pushfstring(L, "%s: %s (%s)", op, cr_strerror(rc), cr_err_name(rc));
  return lua_error(L);
}

/*
** Where a blocking call stands after (re)entry: 1 = try the operation now
** (first entry, or an aborted wait whose task is no longer cancelled),
** 0 = the operation completed, < 0 = it failed with that code.
** Raises Cancelled when the task is cancelled and nothing was delivered.
*/
static int woke(lua_State *L, int status, lcr_Task **tp, const char *fn) {
  lcr_Task *t = lcr_checkblocking(L, fn);
  *tp = t;
  if (status != LUA_YIELD || t->t.wake_status == CR_ECANCELED) {
    lcr_checkcancel(L, t);
    return 1;
  }
  return t->t.wake_status;
}

/* --- streams ------------------------------------------------------------ */

/* The stream at 1, checked by metatable pointer (read/write are hot). */
static cr_stream_t *checkstream(lua_State *L) {
  lcr_Box *b = lcr_checkself(L, 1, LCR_MT_STREAM, LCR_STREAM);
  if (b->io == NULL || b->io->closing)
    luaL_error(L, "attempt to use a closed stream");
  return (cr_stream_t *)b->io;
}

/* [stream, max] */
static int stream_read_k(lua_State *L, int status, lua_KContext ctx) {
  lcr_Task *t;
  cr_stream_t *s;
  const char *p;
  size_t n, max = (size_t)ctx;
  int rc = woke(L, status, &t, "read");
  if (rc < 0) return ioerror(L, "read", rc);
  s = checkstream(L);
  rc = cr_stream_read(s, &t->t, &p, &n);
  if (rc == 1) return lcr_yield(L, t, ctx, stream_read_k);
  if (rc == UV_EOF) {
    lua_pushnil(L);
    return 1;
  }
  if (rc < 0) return ioerror(L, "read", rc);
  if (n > max) n = max;
  lua_pushlstring(L, p, n);
  cr_stream_consume(s, n);
  return 1;
}

static int stream_read(lua_State *L) {
  lua_Integer max = luaL_optinteger(L, 2, 65536);
  luaL_argcheck(L, max >= 1, 2, "max must be >= 1");
  checkstream(L);
  lua_settop(L, 1);
  return stream_read_k(L, LUA_OK, (lua_KContext)max);
}

/* [stream, data] */
static int stream_write_k(lua_State *L, int status, lua_KContext ctx) {
  lcr_Task *t;
  cr_stream_t *s;
  size_t len;
  const char *data;
  int rc = woke(L, status, &t, "write");
  (void)ctx;
  if (rc == 0) return 0;
  if (rc < 0) return ioerror(L, "write", rc);
  s = checkstream(L);
  data = lua_tolstring(L, 2, &len);
  rc = cr_stream_write(s, &t->t, data, len);
  if (rc == 1) return lcr_yield(L, t, 0, stream_write_k);
  if (rc < 0) return ioerror(L, "write", rc);
  return 0;
}

static int stream_write(lua_State *L) {
  checkstream(L);
  luaL_checkstring(L, 2);
  lua_settop(L, 2);
  return stream_write_k(L, LUA_OK, 0);
}

static int stream_shutdown(lua_State *L) {
  int rc = cr_stream_shutdown(checkstream(L));
  if (rc < 0) return ioerror(L, "shutdown", rc);
  return 0;
}

static int stream__index(lua_State *L) {
  lcr_Box *b = luaL_checkudata(L, 1, LCR_STREAM);
  const char *k = luaL_checkstring(L, 2);
  if (strcmp(k, "closed") == 0) {
    lua_pushboolean(L, b->io == NULL || b->io->closing);
    return 1;
  }
  return 0;          /* methods were looked up first (index_dispatch) */
}

/* --- TCP ---------------------------------------------------------------- */

static int checkaddr(lua_State *L, int iarg, int parg, struct sockaddr_storage *ss) {
  const char *ip = luaL_checkstring(L, iarg);
  lua_Integer port = luaL_checkinteger(L, parg);
  luaL_argcheck(L, port >= 0 && port <= 65535, parg,
                "port must be an integer in 0..65535");
  if (uv_ip4_addr(ip, (int)port, (struct sockaddr_in *)ss) == 0) return 0;
  if (uv_ip6_addr(ip, (int)port, (struct sockaddr_in6 *)ss) == 0) return 0;
  return luaL_argerror(L, iarg, "not an IPv4 or IPv6 address");
}

/* [ip, port, box] */
static int tcp_connect_k(lua_State *L, int status, lua_KContext ctx) {
  lcr_Task *t;
  lcr_Box *b = lua_touserdata(L, 3);
  int rc = woke(L, status, &t, "connect");
  (void)ctx;
  if (rc == 0 && b->io) return 1;
  box_close(b);
  if (rc < 0) return ioerror(L, "connect", rc);
  /* no longer cancelled after an abort closed the socket: report it */
  return ioerror(L, "connect", UV_ECANCELED);
}

static int l_tcp_connect(lua_State *L) {
  struct sockaddr_storage ss;
  lcr_Task *t;
  cr_stream_t *s = NULL;
  lcr_Box *b;
  int rc;
  checkaddr(L, 1, 2, &ss);
  t = lcr_checkblocking(L, "connect");
  lcr_checkcancel(L, t);
  lua_settop(L, 2);
  b = newbox(L, NULL, LCR_STREAM, 0);                    /* 3 */
  rc = cr_tcp_connect(t->E ? &t->E->e : NULL, &t->t, (struct sockaddr *)&ss, &s);
  if (s) {
    b->io = &s->io;
    s->io.data = b;
    s->io.on_free = box_on_free;
  }
  if (rc == 1) return lcr_yield(L, t, 0, tcp_connect_k);
  box_close(b);
  return ioerror(L, "connect", rc < 0 ? rc : UV_EINVAL);
}

static int l_tcp_listen(lua_State *L) {
  struct sockaddr_storage ss;
  lcr_Engine *E;
  cr_listener_t *l = NULL;
  lua_Integer backlog = luaL_optinteger(L, 3, 511);
  int rc;
  checkaddr(L, 1, 2, &ss);
  luaL_argcheck(L, backlog >= 1 && backlog <= 65535, 3, "backlog must be >= 1");
  E = lcr_engine(L, "listen");
  rc = cr_tcp_listen(&E->e, (struct sockaddr *)&ss, (int)backlog, &l);
  if (rc) return ioerror(L, "listen", rc);
  newbox(L, &l->io, LCR_LISTENER, 0);
  return 1;
}

static int listener_accept_k(lua_State *L, int status, lua_KContext ctx) {
  lcr_Task *t;
  cr_stream_t *s = NULL;
  int rc = woke(L, status, &t, "accept");
  (void)ctx;
  if (rc == 0) {
    s = t->t.xfer;
    t->t.xfer = NULL;
  } else if (rc < 0) {
    return ioerror(L, "accept", rc);
  } else {
    rc = cr_tcp_accept(checkio(L, LCR_LISTENER, "listener"), &t->t, &s);
    if (rc == 1) return lcr_yield(L, t, 0, listener_accept_k);
    if (rc < 0) return ioerror(L, "accept", rc);
  }
  newbox(L, &s->io, LCR_STREAM, 0);
  return 1;
}

static int listener_accept(lua_State *L) {
  checkio(L, LCR_LISTENER, "listener");
  lua_settop(L, 1);
  return listener_accept_k(L, LUA_OK, 0);
}

static int listener__index(lua_State *L) {
  lcr_Box *b = luaL_checkudata(L, 1, LCR_LISTENER);
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
  lcr_Task *t;
  struct addrinfo *res, *ai;
  char names[MAX_ADDRS][64];
  int families[MAX_ADDRS], n = 0, i, j;
  int rc = woke(L, status, &t, "resolve");
  (void)ctx;
  if (rc == 1) {
    rc = cr_resolve(&t->E->e, &t->t, lua_tostring(L, 1));
    if (rc == 1) return lcr_yield(L, t, 0, resolve_k);
  }
  if (rc < 0) return ioerror(L, "resolve", rc);
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
  luaL_checkstring(L, 1);
  lua_settop(L, 1);
  return resolve_k(L, LUA_OK, 0);
}

static int l_is_ip(lua_State *L) {
  struct sockaddr_storage ss;
  const char *ip = luaL_checkstring(L, 1);
  lua_pushboolean(L, uv_ip4_addr(ip, 0, (struct sockaddr_in *)&ss) == 0 ||
                     uv_ip6_addr(ip, 0, (struct sockaddr_in6 *)&ss) == 0);
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

/* [-0, +1, m] the name of a valid signal number. */
static void pushsigname(lua_State *L, int num) {
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

static int known_signum(lua_Integer n) {
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
    if (!known_signum(n))
      return luaL_argerror(L, arg, lua_pushfstring(L,
                           "no signal numbered %I on this platform", n));
    return (int)n;
  }
  if (lua_type(L, arg) != LUA_TSTRING)
    return luaL_typeerror(L, arg, "signal name or number");
  name = lua_tostring(L, arg);
  bare = strncmp(name, "SIG", 3) == 0 ? name + 3 : name;
  for (i = 0; signames[i].name; i++)
    if (strcmp(bare, signames[i].name + 3) == 0) return signames[i].num;
  if ((i = rtsignal(bare)) != 0) return i;
  return luaL_argerror(L, arg, lua_pushfstring(L,
    "unknown signal name '%s'; expected a name like \"SIGINT\" or \"INT\"", name));
}

static int signal_k(lua_State *L, int status, lua_KContext ctx) {
  lcr_Task *t;
  int rc = woke(L, status, &t, "signal");
  if (rc == 1) {
    rc = cr_signal_wait(&t->E->e, &t->t, (int)ctx);
    if (rc == 1) return lcr_yield(L, t, ctx, signal_k);
  }
  if (rc < 0) return ioerror(L, "signal", rc);
  pushsigname(L, (int)ctx);
  return 1;
}

static int l_signal(lua_State *L) {
  int sig = checksignal(L, 1);
  if (sig == SIGKILL || sig == SIGSTOP)
    return luaL_argerror(L, 1, lua_pushfstring(L,
                         "%s cannot be caught or waited for", signame(sig)));
  lua_settop(L, 0);
  return signal_k(L, LUA_OK, sig);
}

/* --- processes --------------------------------------------------------- */

/* A NULL-terminated array of strings, in memory the GC owns. [-0, +1, m] */
static char **strv(lua_State *L, int n) {
  return lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
}

static int l_exec(lua_State *L) {
  lcr_Engine *E;
  cr_proc_opts_t o;
  cr_proc_t *p = NULL;
  lcr_Box *b;
  int n, i, rc;
  const char *path = luaL_checkstring(L, 1);
  memset(&o, 0, sizeof o);
  o.file = path;
  o.pipe[0] = o.pipe[1] = o.pipe[2] = 1;
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  E = lcr_engine(L, "exec");
  lua_settop(L, 3);
  n = lua_istable(L, 2) ? (int)luaL_len(L, 2) : 0;
  o.args = strv(L, n + 1);                                 /* 4 */
  lua_createtable(L, n, 0);               /* 5: keeps converted strings */
  o.args[0] = (char *)path;
  for (i = 1; i <= n; i++) {
    lua_geti(L, 2, i);
    if (!lua_isstring(L, -1))
      luaL_argerror(L, 2, "arguments must be strings");
    o.args[i] = (char *)lua_tostring(L, -1);
    lua_rawseti(L, 5, i);
  }
  o.args[n + 1] = NULL;
  if (lua_istable(L, 3)) {
    static const char *const names[3] = {"stdin", "stdout", "stderr"};
    if (lua_getfield(L, 3, "cwd") != LUA_TNIL) {
      if (!lua_isstring(L, -1)) luaL_argerror(L, 3, "cwd must be a string");
      o.cwd = lua_tostring(L, -1);
    }
    lua_pop(L, 1);            /* the opts table keeps the string alive */
    for (i = 0; i < 3; i++) {
      if (lua_getfield(L, 3, names[i]) != LUA_TNIL) {
        const char *m = lua_tostring(L, -1);
        if (m && strcmp(m, "inherit") == 0) o.pipe[i] = 0;
        else if (!m || strcmp(m, "pipe") != 0)
          luaL_argerror(L, 3, "stdin/stdout/stderr must be \"pipe\" or "
                              "\"inherit\"");
      }
      lua_pop(L, 1);
    }
    if (lua_getfield(L, 3, "env") != LUA_TNIL) {
      int k = 0, cap = 0;
      luaL_checktype(L, -1, LUA_TTABLE);
      lua_pushnil(L);
      while (lua_next(L, -2)) { cap++; lua_pop(L, 1); }
      o.env = strv(L, cap);                                 /* env array */
      lua_newtable(L);                                      /* anchors */
      lua_pushnil(L);
      while (lua_next(L, -4)) {
        if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1))
          luaL_argerror(L, 3, "env must map strings to strings");
        lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
        o.env[k] = (char *)lua_tostring(L, -1);
        lua_rawseti(L, -4, ++k);
        lua_pop(L, 1);
      }
      o.env[k] = NULL;
    }
  }
  b = newbox(L, NULL, LCR_PROCESS, 3);
  rc = cr_proc_spawn(&E->e, &o, &p);
  if (rc) return ioerror(L, "exec", rc);
  b->io = &p->io;
  p->io.data = b;
  p->io.on_free = box_on_free;
  for (i = 0; i < 3; i++) {
    if (p->stdio[i]) newbox(L, &p->stdio[i]->io, LCR_STREAM, 0);
    else lua_pushnil(L);
    lua_setiuservalue(L, -2, i + 1);
  }
  return 1;
}

static int proc_wait_k(lua_State *L, int status, lua_KContext ctx) {
  lcr_Task *t;
  lcr_Box *b = lua_touserdata(L, 1);
  cr_proc_t *p;
  const char *sig;
  int rc = woke(L, status, &t, "wait");
  (void)ctx;
  if (b->io == NULL) return luaL_error(L, "attempt to use a closed process");
  p = (cr_proc_t *)b->io;
  if (rc == 1 && cr_proc_wait(p, &t->t) == 1)
    return lcr_yield(L, t, 0, proc_wait_k);
  if (!p->exited) return luaL_error(L, "wait: the process was closed");
  lua_pushinteger(L, (lua_Integer)p->exit_status);
  sig = p->term_signal ? signame(p->term_signal) : NULL;
  if (sig) lua_pushstring(L, sig);
  else if (p->term_signal) lua_pushinteger(L, p->term_signal);
  else lua_pushnil(L);
  return 2;
}

static int proc_wait(lua_State *L) {
  luaL_checkudata(L, 1, LCR_PROCESS);
  lua_settop(L, 1);
  return proc_wait_k(L, LUA_OK, 0);
}

static int proc_kill(lua_State *L) {
  cr_proc_t *p = checkio(L, LCR_PROCESS, "process");
  int sig = lua_isnoneornil(L, 2) ? SIGTERM : checksignal(L, 2);
  int rc = cr_proc_kill(p, sig);
  if (rc == UV_ESRCH) return 0;          /* already exited: nothing to do */
  if (rc < 0) return ioerror(L, "kill", rc);
  return 0;
}

static int proc__index(lua_State *L) {
  lcr_Box *b = luaL_checkudata(L, 1, LCR_PROCESS);
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
  return 0;          /* methods were looked up first (index_dispatch) */
}

/* --- the Lua half: tcp.connect and tcp.listen accept host names ------- */

static const char io_lua[] =
"local corral, core = ...\n"
"-- level: 2 = the caller of the function that calls argerr\n"
"local function argerr(n, f, msg, level)\n"
"  error(('bad argument #%d to \\'%s\\' (%s)'):format(n, f, msg), (level or 2) + 1)\n"
"end\n"
"local function checkport(port, f)\n"
"  if math.type(port) ~= 'integer' or port < 0 or port > 65535 then\n"
"    argerr(2, f, 'port must be an integer in 0..65535', 3)\n"
"  end\n"
"end\n"
"local function addresses(host)\n"
"  if core.is_ip(host) then return {{address = host}} end\n"
"  local list = corral.resolve(host)\n"
"  if #list == 0 then error('resolve: no address for ' .. host, 0) end\n"
"  return list\n"
"end\n"
"local tcp = {}\n"
"--- Connect to host:port; tries each address in turn.\n"
"function tcp.connect(host, port, opts)\n"
"  if type(host) ~= 'string' then argerr(1, 'connect', 'string expected, got ' .. type(host)) end\n"
"  checkport(port, 'connect')\n"
"  if opts ~= nil and type(opts) ~= 'table' then argerr(3, 'connect', 'table expected, got ' .. type(opts)) end\n"
"  local timeout = opts and opts.timeout\n"
"  if timeout ~= nil and (type(timeout) ~= 'number' or not (timeout >= 0)) then\n"
"    argerr(3, 'connect', 'timeout must be a number of seconds >= 0')\n"
"  end\n"
"  local function go()\n"
"    local last\n"
"    for _, a in ipairs(addresses(host)) do\n"
"      local ok, s = pcall(core.tcp_connect, a.address, port)\n"
"      if ok then return s end\n"
"      if corral.is_cancelled(s) then error(s, 0) end\n"
"      last = s\n"
"    end\n"
"    error(last, 0)\n"
"  end\n"
"  if timeout then return corral.fail_after(timeout, go) end\n"
"  return go()\n"
"end\n"
"--- Listen on host:port (port 0 picks a free one: see listener.port).\n"
"function tcp.listen(host, port, opts)\n"
"  if type(host) ~= 'string' then argerr(1, 'listen', 'string expected, got ' .. type(host)) end\n"
"  checkport(port, 'listen')\n"
"  if opts ~= nil and type(opts) ~= 'table' then argerr(3, 'listen', 'table expected, got ' .. type(opts)) end\n"
"  local backlog = opts and opts.backlog or 511\n"
"  if math.type(backlog) ~= 'integer' or backlog < 1 then\n"
"    argerr(3, 'listen', 'backlog must be an integer >= 1')\n"
"  end\n"
"  return core.tcp_listen(addresses(host)[1].address, port, backlog)\n"
"end\n"
"corral.tcp = tcp\n";

static const luaL_Reg stream_methods[] = {
  {"read", stream_read}, {"write", stream_write},
  {"shutdown", stream_shutdown}, {"close", box__close}, {NULL, NULL}
};
static const luaL_Reg stream_meta[] = {
  {"__index", stream__index}, {"__close", box__close}, {"__gc", box__close},
  {NULL, NULL}
};
static const luaL_Reg listener_methods[] = {
  {"accept", listener_accept}, {"close", box__close}, {NULL, NULL}
};
static const luaL_Reg listener_meta[] = {
  {"__index", listener__index}, {"__close", box__close},
  {"__gc", box__close}, {NULL, NULL}
};
static const luaL_Reg proc_methods[] = {
  {"wait", proc_wait}, {"kill", proc_kill}, {"close", box__close},
  {NULL, NULL}
};
static const luaL_Reg proc_meta[] = {
  {"__index", proc__index}, {"__close", box__close}, {"__gc", box__close},
  {NULL, NULL}
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
  {NULL, NULL}
};

/* Stack: [..., state, module]. */
void lcr_open_io(lua_State *L) {
  lcr_register(L, LCR_STREAM, stream_methods, stream_meta);
  lcr_register_mt(L, LCR_STREAM, LCR_MT_STREAM);
  lcr_register(L, LCR_LISTENER, listener_methods, listener_meta);
  lcr_register(L, LCR_PROCESS, proc_methods, proc_meta);
}

void lcr_open_io_lua(lua_State *L, int state, int module) {
  if (luaL_loadbuffer(L, io_lua, sizeof io_lua - 1, "=corral.tcp") != LUA_OK)
    lua_error(L);
  lua_pushvalue(L, module);
  lua_newtable(L);
  lua_pushvalue(L, state);
  luaL_setfuncs(L, core_funcs, 1);
  lua_call(L, 2, 0);
}
