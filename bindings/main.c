/*
** main.c -- the `corral` command: a Lua 5.4 interpreter with the corral
** module preloaded, whose command line is handled by scripts/corral/cli.lua
** (compiled in as the array cli_lua, see cmake/Embed.cmake).
**
**   corral [options] [script [args...]]   exit 0 on success, 1 on error,
**                                         2 on a usage error, 130/143 when
**                                         SIGINT/SIGTERM cancelled the root.
**
** C does only what Lua cannot: build the state, preload the modules, pass
** the command line, the version and whether stdin is a terminal.
*/
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>
#include "corral.h"
#include "corral_lua.h"
#include "arena.h"
#include "cli_lua.h"
#include "trace_svg_lua.h"

#ifndef CORRAL_VERSION_STRING
#define CORRAL_VERSION_STRING "unknown"
#endif

LUAMOD_API int luaopen_corral(lua_State *L);

/* SIGUSR1 was ignored when the command started (nohup-like): it stays so,
** for the command and what it starts, and prints no tree. */
static int usr1_was_ignored;

/* info.is_regular(path): whether path names a regular file (the command
** looks into one before writing a trace over it; a FIFO or a device it
** must not open). */
static int l_is_regular(lua_State *L) {
  struct stat st;
  const char *path = luaL_checkstring(L, 1);
  lua_pushboolean(L, stat(path, &st) == 0 && S_ISREG(st.st_mode));
  return 1;
}

/* info.same_file(a, b): whether the two paths name one file (a trace
** named as the script it runs would be written over it). */
static int l_same_file(lua_State *L) {
  struct stat a, b;
  const char *pa = luaL_checkstring(L, 1), *pb = luaL_checkstring(L, 2);
  lua_pushboolean(L, stat(pa, &a) == 0 && stat(pb, &b) == 0 &&
                     a.st_dev == b.st_dev && a.st_ino == b.st_ino);
  return 1;
}

/* info.is_stdin(path): whether path names the file the standard input is
** (/dev/stdin, /dev/fd/0 and every other spelling of it). */
static int l_is_stdin(lua_State *L) {
  struct stat a, b;
  const char *p = luaL_checkstring(L, 1);
  lua_pushboolean(L, stat(p, &a) == 0 && fstat(0, &b) == 0 &&
                     a.st_dev == b.st_dev && a.st_ino == b.st_ino);
  return 1;
}

/* The registry's table of the module's functions that C calls, as they
** were before any script ran: a script that replaces or removes
** corral._trace_flush (a mock, a sandbox) changes nothing here. */
#define CLI_SAVED "corral.cli: saved functions"

static void save_corral(lua_State *L) {
  static const char *const names[] = {"_trace_flush", "_trace_failed",
                                      "_kill_children", NULL};
  int i;
  lua_newtable(L);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "corral");
  for (i = 0; names[i] != NULL && lua_istable(L, -1); i++) {
    lua_getfield(L, -1, names[i]);
    lua_setfield(L, -4, names[i]);
  }
  lua_pop(L, 2);
  lua_setfield(L, LUA_REGISTRYINDEX, CLI_SAVED);
}

/* corral.<name>() as saved (save_corral), protected: its first result as
** a boolean (false if there is none, or it failed). */
static int call_corral(lua_State *L, const char *name) {
  int top = lua_gettop(L), r = 0;
  if (lua_getfield(L, LUA_REGISTRYINDEX, CLI_SAVED) == LUA_TTABLE &&
      lua_getfield(L, -1, name) == LUA_TFUNCTION &&
      lua_pcall(L, 0, 1, 0) == LUA_OK)
    r = lua_toboolean(L, -1);
  lua_settop(L, top);
  return r;
}

/* A trace being written (--trace) is written now: the process is about to
** end without ending the run (os.exit, or a reader gone). Whether it could
** not be (a failure is reported there). */
static int flush_trace(lua_State *L) {
  call_corral(L, "_trace_flush");
  return call_corral(L, "_trace_failed");
}

/*
** A pipe closed by its reader (`corral gen.lua | head`): corral catches
** SIGPIPE so that sockets report EPIPE, so print would fail silently for
** ever. Like lua, the command then dies of SIGPIPE (status 141 in a shell)
** at the first print, write or flush of a Lua file that hits it, its trace
** written and the run's child processes killed first (as a third Ctrl-C
** kills them: the run does not unwind to close them).
** (With SIGPIPE blocked or ignored, lua's write just fails with EPIPE and
** goes on: so does the command's, trace and all.)
*/
static void pipe_gone(lua_State *L) {
  sigset_t now;
  struct sigaction sa;
  if (pthread_sigmask(SIG_BLOCK, NULL, &now) == 0 && sigismember(&now, SIGPIPE))
    return;
  /* ignored when the process started (corral then leaves it so): EPIPE */
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN) return;
  (void)flush_trace(L);
  (void)call_corral(L, "_kill_children");
  signal(SIGPIPE, SIG_DFL);
  raise(SIGPIPE);
}

/*
** The run is over (the script ended, or os.exit): SIGPIPE gets back what
** the process had before corral caught it, so that what Lua still flushes
** (stdout's buffer, files closed by lua_close or exit, io.popen pipes)
** meets a reader that has gone as under lua: SIGPIPE (141), or EPIPE when
** it was ignored. [upvalue or argument: the saved disposition]
*/
static void pipe_restore(const struct sigaction *before) {
  if (before != NULL) sigaction(SIGPIPE, before, NULL);
}

/* print, as Lua's own, and checked (see pipe_gone). */
static int cli_print(lua_State *L) {
  int n = lua_gettop(L), i;
  for (i = 1; i <= n; i++) {
    size_t len;
    const char *s = luaL_tolstring(L, i, &len);
    if (i > 1) fwrite("\t", 1, 1, stdout);
    fwrite(s, 1, len, stdout);
    lua_pop(L, 1);
  }
  fwrite("\n", 1, 1, stdout);
  if (fflush(stdout) != 0 && errno == EPIPE) pipe_gone(L);
  return 0;
}

/*
** The error on top, raised by a library function called from here, as
** luaL_argerror would have worded it had the user's call reached it
** directly: at the caller's line, naming the function (upvalue 2), and
** not counting self in a method call. [-1, +1, m]
*/
static void rename_argerror(lua_State *L) {
  const char *msg = lua_tostring(L, -1), *p = strstr(msg, "bad argument #");
  const char *name = lua_tostring(L, lua_upvalueindex(2));
  lua_Debug ar;
  int arg;
  luaL_where(L, 1);
  if (p != NULL && sscanf(p, "bad argument #%d to '?'", &arg) == 1 &&
      (p = strstr(p, "to '?'")) != NULL) {
    if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) &&
        ar.namewhat != NULL && strcmp(ar.namewhat, "method") == 0)
      arg--;
    if (arg == 0)
      lua_pushfstring(L, "calling '%s' on bad self%s", name, p + 6);
    else
      lua_pushfstring(L, "bad argument #%d to '%s'%s", arg, name, p + 6);
  } else {
    lua_pushvalue(L, -2);
  }
  lua_concat(L, 2);
  lua_remove(L, -2);
}

/* The results at 1.. say EPIPE: nil, a message, 32; not the nil, "exit",
** 32 of an io.popen child's close that exited with 32. */
static int broken_pipe(lua_State *L) {
  const char *what = lua_tostring(L, 2);
  return lua_isnil(L, 1) && lua_tointeger(L, 3) == EPIPE && what != NULL &&
         strcmp(what, "exit") != 0 && strcmp(what, "signal") != 0;
}

/*
** io.write, io.flush, and the write and flush methods of files (the
** original as upvalue 1, its name as 2), checked the same way. A bad
** argument is reported as lua reports it, at the caller's line and naming
** the function (called from here, the original cannot know its name).
*/
static int cli_checked(lua_State *L) {
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  if (lua_pcall(L, n, LUA_MULTRET, 0) != LUA_OK) {
    if (lua_type(L, -1) == LUA_TSTRING) rename_argerror(L);
    return lua_error(L);
  }
  if (broken_pipe(L)) pipe_gone(L);
  return lua_gettop(L);
}

/* t[name] = cli_checked over t[name], when that is a function. */
static void check_field(lua_State *L, int t, const char *name) {
  t = lua_absindex(L, t);
  if (lua_getfield(L, t, name) != LUA_TFUNCTION) {
    lua_pop(L, 1);
    return;
  }
  lua_pushstring(L, name);
  lua_pushcclosure(L, cli_checked, 2);
  lua_setfield(L, t, name);
}

/*
** os.exit (the original as upvalue 1), which ends the process without
** ending the run: a trace being written (--trace) is written first. Its
** arguments are checked first, as os.exit checks them, so that a bad one
** raises at the caller's line and the trace goes on.
*/
static int cli_exit(lua_State *L) {
  int n = lua_gettop(L);
  int success = lua_isboolean(L, 1) ? lua_toboolean(L, 1)
                : luaL_optinteger(L, 1, EXIT_SUCCESS) == EXIT_SUCCESS;
  /* a trace that could not be written turns a success into status 1 */
  if (flush_trace(L) && success) {
    if (n == 0) n = 1;
    lua_pushinteger(L, 1);
    lua_replace(L, 1);
  }
  /* nothing unwinds: the run's children would outlive it (as on SIGPIPE) */
  (void)call_corral(L, "_kill_children");
  pipe_restore(lua_touserdata(L, lua_upvalueindex(2)));
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, 0);
  return 0;
}

static void check_stdout(lua_State *L, struct sigaction *pipe_before) {
  int top = lua_gettop(L);
  lua_pushcfunction(L, cli_print);
  lua_setglobal(L, "print");
  if (lua_getglobal(L, "io") == LUA_TTABLE) {
    check_field(L, -1, "write");
    check_field(L, -1, "flush");
    check_field(L, -1, "close");     /* an io.popen pipe flushes there */
  }
  lua_pop(L, 1);
  if (lua_getglobal(L, "os") == LUA_TTABLE &&
      lua_getfield(L, -1, "exit") == LUA_TFUNCTION) {
    lua_pushlightuserdata(L, pipe_before);
    lua_pushcclosure(L, cli_exit, 2);
    lua_setfield(L, -2, "exit");
  }
  lua_settop(L, top);
  /* the methods of every file: io.stdout:write(...) */
  if (luaL_getmetatable(L, LUA_FILEHANDLE) == LUA_TTABLE &&
      lua_getfield(L, -1, "__index") == LUA_TTABLE) {
    check_field(L, -1, "write");
    check_field(L, -1, "flush");
    check_field(L, -1, "close");
  }
  lua_settop(L, top);
}

/* package.preload["corral.cli"]: the embedded driver. */
static int open_cli(lua_State *L) {
  if (luaL_loadbuffer(L, (const char *)cli_lua, cli_lua_len,
                      "=corral.cli") != LUA_OK)
    return lua_error(L);
  lua_call(L, 0, 1);
  return 1;
}

/* package.preload["corral.trace_svg"]: `corral trace-svg`. */
static int open_trace_svg(lua_State *L) {
  if (luaL_loadbuffer(L, (const char *)trace_svg_lua, trace_svg_lua_len,
                      "=corral.trace_svg") != LUA_OK)
    return lua_error(L);
  lua_call(L, 0, 1);
  return 1;
}

static void preload(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_corral);
  lua_setfield(L, -2, "corral");
  lua_pushcfunction(L, open_cli);
  lua_setfield(L, -2, "corral.cli");
  lua_pushcfunction(L, open_trace_svg);
  lua_setfield(L, -2, "corral.trace_svg");
  lua_pop(L, 1);
}

/*
** Where the installed scripts/corral/ is: beside the command (its bin dir,
** then CORRAL_LUADIR_REL) when it holds corral/race.lua there, so that an
** install moved or made with `cmake --install --prefix` still finds its
** own; else the dir configured at build time. [-0, +1, m]
*/
static void push_luadir(lua_State *L) {
#ifdef CORRAL_LUADIR_REL
  char exe[4096], probe[4096 + 64];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  char *slash;
  if (n > 0) {
    exe[n] = '\0';
    if ((slash = strrchr(exe, '/')) != NULL) {
      *slash = '\0';
      snprintf(probe, sizeof probe, "%s/%s/corral/race.lua", exe,
               CORRAL_LUADIR_REL);
      if (access(probe, R_OK) == 0) {
        lua_pushfstring(L, "%s/%s", exe, CORRAL_LUADIR_REL);
        return;
      }
    }
  }
#endif
  lua_pushliteral(L, CORRAL_LUADIR);
}

/* require("corral.cli").main(argv, info) -> exit status. */
static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  int i;
  luaL_openlibs(L);
  check_stdout(L, lua_touserdata(L, 3));
  /* As lua5.4 itself does (lua.c): generational mode, which suits many
  ** short-lived objects (tasks). */
  lua_gc(L, LUA_GCGEN, 0, 0);
  /* corral is loaded before any script here, so nothing can hold the
  ** unwrapped coroutine.running: ended tasks' coroutines may be reused. */
  lua_pushboolean(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, CORRAL_REUSE_COROUTINES);
  lua_pushliteral(L, "corral");            /* prefixes corral's own lines */
  lua_setfield(L, LUA_REGISTRYINDEX, CORRAL_PROGNAME);
  preload(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "corral.cli");
  lua_call(L, 1, 1);                /* (which loads corral) */
  save_corral(L);
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc, 1);                 /* argv, argv[0] = progname */
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_createtable(L, 0, 8);                    /* info */
  lua_pushliteral(L, LUA_PATH_DEFAULT);        /* what -E resets to, as lua */
  lua_setfield(L, -2, "path_default");
  lua_pushliteral(L, LUA_CPATH_DEFAULT);
  lua_setfield(L, -2, "cpath_default");
  lua_pushliteral(L, "corral");                /* for messages */
  lua_setfield(L, -2, "progname");
  push_luadir(L);                              /* where make install puts */
  lua_setfield(L, -2, "luadir");               /* scripts/corral/ */
  lua_pushliteral(L, CORRAL_VERSION_STRING);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, uv_version_string());
  lua_setfield(L, -2, "libuv");
  lua_pushliteral(L, LUA_RELEASE);
  lua_setfield(L, -2, "lua");
  lua_pushboolean(L, isatty(STDIN_FILENO));
  lua_setfield(L, -2, "stdin_is_tty");
  lua_pushboolean(L, usr1_was_ignored);       /* then no tree on SIGUSR1 */
  lua_setfield(L, -2, "usr1_ignored");
  lua_pushcfunction(L, l_is_regular);
  lua_setfield(L, -2, "is_regular");
  lua_pushcfunction(L, l_same_file);
  lua_setfield(L, -2, "same_file");
  lua_pushcfunction(L, l_is_stdin);
  lua_setfield(L, -2, "is_stdin");
  lua_call(L, 2, 1);
  return 1;
}

/*
** SIGUSR1 prints the task tree while the run runs (its debug_signal) and
** must not kill the command before the run (while a slow stdin brings the
** script) or after it (while the state closes): a handler that does
** nothing holds it then, if it had the default action. A handler, not
** SIG_IGN, so that what the script starts (io.popen) gets the default.
*/
static void usr1_held(int signum) { (void)signum; }

static void hold_usr1(void) {
  struct sigaction sa;
  if (sigaction(SIGUSR1, NULL, &sa) != 0 || (sa.sa_flags & SA_SIGINFO))
    return;
  usr1_was_ignored = sa.sa_handler == SIG_IGN;
  if (sa.sa_handler != SIG_DFL) return;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = usr1_held;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
}

int main(int argc, char **argv) {
  arena_t arena = {0};                    /* lives as long as the state */
  struct sigaction pipe_before;           /* SIGPIPE before corral's */
  lua_State *L;
  int status, code;
  /* The command owns its process, so it may route libuv's allocations
  ** through corral's guard (no abort when libuv runs out of memory). A
  ** module loaded into someone else's process may not: libuv's allocator
  ** is process-wide. */
  cr_alloc_guard_libuv();
  memset(&pipe_before, 0, sizeof pipe_before);    /* (SIG_DFL if unknown) */
  sigaction(SIGPIPE, NULL, &pipe_before);
  hold_usr1();
  L = luaL_newstate();
  if (L == NULL) {
    fprintf(stderr, "corral: not enough memory\n");
    return 1;
  }
  arena_install(L, &arena);
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  lua_pushlightuserdata(L, &pipe_before);
  status = lua_pcall(L, 3, 1, 0);
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "corral: %s\n", msg ? msg : "(error object is not a string)");
    code = 1;
  } else {
    code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 1;
  }
  pipe_restore(&pipe_before);             /* what lua_close flushes: as lua */
  lua_close(L);
  arena_release(&arena);
  return code;
}
