/*
** test-lua-alloc.c -- the core scenarios under allocation failure.
**
** Each scenario runs once to count its allocations, then again for every
** n up to that count with a lua_Alloc that fails the n-th (and every
** later) growing allocation. Whatever fails, corral must raise a Lua
** error (never crash), leave nothing allocated once the state is closed,
** and leave the module usable: a plain corral.run must still work in the
** same state afterwards.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>

LUAMOD_API int luaopen_corral(lua_State *L);

typedef struct {
  size_t count;      /* growing allocations since counting started */
  size_t fail_at;    /* 0 = never fail */
  long blocks;       /* live blocks */
} arena;

static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  arena *a = ud;
  if (nsize == 0) {
    if (ptr) {
      a->blocks--;
      free(ptr);
    }
    return NULL;
  }
  if (ptr == NULL || nsize > osize) {   /* Lua never lets a shrink fail */
    a->count++;
    if (a->fail_at && a->count >= a->fail_at) return NULL;
  }
  if (ptr == NULL) {
    void *p = malloc(nsize);
    if (p) a->blocks++;
    return p;
  }
  return realloc(ptr, nsize);
}

static const char *const scenarios[][2] = {
  {"spawn and join",
   "local corral = require 'corral'\n"
   "return corral.run(function()\n"
   "  local t\n"
   "  local r = corral.group(function(g)\n"
   "    for i = 1, 3 do t = g:spawn(function(x) corral.sleep(x) return x end, i) end\n"
   "    return 'body'\n"
   "  end)\n"
   "  assert(r == 'body' and select(2, t:wait()) == 3)\n"
   "end, {clock = 'virtual'})\n"},
  {"failure and ErrorGroup",
   "local corral = require 'corral'\n"
   "local ok, e = pcall(corral.run, function()\n"
   "  corral.group(function(g)\n"
   "    g:spawn(function() corral.sleep(1) error('boom') end)\n"
   "    g:spawn(function() local _ <close> = setmetatable({}, {__close = function() end})\n"
   "      corral.sleep(5) end)\n"
   "  end)\n"
   "end, {clock = 'virtual'})\n"
   "assert(not ok)\n"
   "local s = tostring(e)\n"},
  {"a failing body with children",
   "local corral = require 'corral'\n"
   "pcall(corral.run, function()\n"
   "  corral.group(function(g)\n"
   "    g:spawn(function() corral.sleep(2) end)\n"
   "    corral.sleep(1)\n"
   "    error({code = 1})\n"
   "  end)\n"
   "end, {clock = 'virtual'})\n"},
  {"defer_errors and on_error",
   "local corral = require 'corral'\n"
   "pcall(corral.run, function()\n"
   "  corral.group(function(g)\n"
   "    for i = 1, 4 do g:spawn(function() corral.sleep(i) error(i) end) end\n"
   "  end, {defer_errors = true, on_error = function(e) return e == 2 end})\n"
   "end, {clock = 'virtual'})\n"},
  {"cancel, scopes and timeouts",
   "local corral = require 'corral'\n"
   "corral.run(function()\n"
   "  corral.group(function(g)\n"
   "    g:spawn(function() corral.sleep(math.huge) end)\n"
   "    corral.sleep(1)\n"
   "    g:cancel('enough')\n"
   "  end)\n"
   "  corral.move_on_after(1, corral.sleep, 5)\n"
   "  pcall(corral.fail_after, 1, corral.sleep, 5)\n"
   "  corral.scope(function(s) s.shield = true; s:cancel(); pcall(corral.checkpoint) end)\n"
   "end, {clock = 'virtual'})\n"},
  {"start, stop and channels",
   "local corral = require 'corral'\n"
   "corral.run(function()\n"
   "  local ch = corral.channel(1)\n"
   "  corral.group(function(g)\n"
   "    local v = g:start(function(ready) ready(42) for x in ch:iter() do end end)\n"
   "    ch:send(v) ch:send(v + 1) ch:close()\n"
   "    g:spawn(function() g:wait_stopping() end)\n"
   "    g:stop(1)\n"
   "  end)\n"
   "  local l, e = corral.lock(), corral.event()\n"
   "  corral.group(function(g)\n"
   "    g:spawn(function() l:with(e.wait, e) end)\n"
   "    corral.sleep(1) e:set()\n"
   "  end)\n"
   "end, {clock = 'virtual'})\n"},
};

/* I/O last: its handles must be closed on every failing path too. */
static const char io_scenario[] =
   "local corral = require 'corral'\n"
   "corral.run(function()\n"
   "  local l <close> = corral.tcp.listen('127.0.0.1', 0)\n"
   "  corral.group(function(g)\n"
   "    g:spawn(function()\n"
   "      local s <close> = l:accept()\n"
   "      s:write(s:read())\n"
   "    end)\n"
   "    local c <close> = corral.tcp.connect('127.0.0.1', l.port)\n"
   "    c:write('ping')\n"
   "    assert(c:read() == 'ping')\n"
   "    local p <close> = corral.exec('/bin/echo', {'hi'})\n"
   "    p.stdout:read()\n"
   "    p:wait()\n"
   "  end)\n"
   "end)\n";

static const char sanity[] =
  "local corral = require 'corral'\n"
  "assert(corral.run(function() corral.sleep(0) return 7 end,\n"
  "                  {clock = 'virtual'}) == 7)\n";

/* One attempt: returns 0 if all checks held. */
static int attempt(const char *code, size_t fail_at, size_t *count,
                   int *failed) {
  arena a = {0, 0, 0};
  lua_State *L = lua_newstate(l_alloc, &a);
  int st;
  if (L == NULL) return 1;
  luaL_openlibs(L);
  luaL_requiref(L, "corral", luaopen_corral, 0);
  lua_pop(L, 1);
  a.count = 0;
  a.fail_at = fail_at;
  st = luaL_loadstring(L, code);
  if (st == LUA_OK) st = lua_pcall(L, 0, 0, 0);
  *failed = st != LUA_OK;
  *count = a.count;
  if (st != LUA_OK && fail_at == 0) {
    fprintf(stderr, "scenario failed without injected failures: %s\n",
            lua_tostring(L, -1));
    lua_close(L);
    return 1;
  }
  a.fail_at = 0;
  lua_settop(L, 0);
  if (luaL_loadstring(L, sanity) != LUA_OK || lua_pcall(L, 0, 0, 0) != LUA_OK) {
    fprintf(stderr, "after failing allocation %zu the module is unusable: %s\n",
            fail_at, lua_tostring(L, -1));
    lua_close(L);
    return 1;
  }
  lua_close(L);
  if (a.blocks != 0) {
    fprintf(stderr, "after failing allocation %zu: %ld blocks leaked\n",
            fail_at, a.blocks);
    return 1;
  }
  return 0;
}

int main(void) {
  size_t i, n, total, points = 0, stride = 1;
  int failed_tests = 0, failed;
  const char *s = getenv("CORRAL_ALLOC_STRIDE");   /* valgrind runs: sample */
  if (s && atoi(s) > 0) stride = (size_t)atoi(s);
  for (i = 0; i <= sizeof scenarios / sizeof scenarios[0]; i++) {
    int bad = 0;
    const char *name = i < sizeof scenarios / sizeof scenarios[0]
                         ? scenarios[i][0] : "tcp echo and a child process";
    const char *code = i < sizeof scenarios / sizeof scenarios[0]
                         ? scenarios[i][1] : io_scenario;
    if (attempt(code, 0, &total, &failed)) {
      printf("FAIL %s (clean run)\n", name);
      failed_tests++;
      continue;
    }
    for (n = 1; n <= total + 1 && !bad; n += stride) {
      size_t c;
      points++;
      if (attempt(code, n, &c, &failed)) {
        fprintf(stderr, "  scenario '%s', failing allocation %zu of %zu\n",
                name, n, total);
        bad = 1;
      }
    }
    printf("%s %s (%zu allocation points)\n", bad ? "FAIL" : "ok  ",
           name, total);
    failed_tests += bad;
  }
  printf("allocation points tried: %zu\n", points);
  n = sizeof scenarios / sizeof scenarios[0] + 1;
  printf("%zu passed, %d failed\n", n - (size_t)failed_tests, failed_tests);
  return failed_tests != 0;
}
