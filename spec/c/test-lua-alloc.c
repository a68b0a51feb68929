/*
** test-lua-alloc.c -- the core scenarios under allocation failure.
**
** Each scenario runs once to count its allocations, then again for every
** n up to that count with a lua_Alloc that fails the n-th (and every
** later) growing allocation. Whatever fails, corral must raise a Lua
** error (never crash), leave nothing allocated once the state is closed,
** and leave the module usable: a plain corral.run must still work in the
** same state afterwards. An ErrorGroup never reads "0 failures": a failure
** whose record ran out of memory is listed as "not enough memory" ("LOST"
** marks a scenario that saw one).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>

#include "failing_alloc.h"

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
   "local s = tostring(e)\n"
   "assert(not s:find('ErrorGroup: 0 failures', 1, true), 'LOST: ' .. s)\n"},
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
  {"failures listed out of order (on_error blocks over one)",
   "local corral = require 'corral'\n"
   "corral.run(function()\n"
   "  local ok, e = pcall(corral.group, function(g)\n"
   "    for i = 1, 5 do g:spawn({function() corral.sleep(i / 10)\n"
   "      error('E' .. i, 0) end, name = 't' .. i}) end\n"
   "  end, {defer_errors = true, on_error = function(err)\n"
   "    if err == 'E1' then corral.sleep(1) end end})\n"
   "  if type(e) == 'table' and type(e.tasks) == 'table' then\n"
   "    for i = 1, #e.tasks do\n"
   "      local err = e.errors[i]\n"
   "      if type(err) == 'string' and err:match('^E%d$')\n"
   "         and 't' .. err:sub(2) ~= e.tasks[i] then\n"
   "        error('MISALIGNED: ' .. err .. ' listed for ' .. e.tasks[i], 0)\n"
   "      end\n"
   "    end\n"
   "  end\n"
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
  /* A send past the 64 slots a channel's ring is made with stores its
  ** value in a slot that may need memory: one whose store failed once left
  ** an empty slot counted, and a recv on the open channel returned nil. */
  {"a channel of 200 values",
   "local corral = require 'corral'\n"
   "corral.run(function()\n"
   "  for _, cap in ipairs({200, math.huge}) do\n"
   "    local ch, sent = corral.channel(cap), {}\n"
   "    for i = 1, 200 do\n"
   "      if pcall(ch.send, ch, i) then sent[#sent + 1] = i end\n"
   "    end\n"
   "    assert(#ch == #sent, 'LOST: #ch ' .. #ch .. ', sent ' .. #sent)\n"
   "    for k = 1, #sent do\n"
   "      local v = ch:recv()\n"
   "      if v ~= sent[k] then\n"
   "        error('LOST: recv #' .. k .. ' got ' .. tostring(v) .. ', sent '\n"
   "              .. sent[k], 0)\n"
   "      end\n"
   "    end\n"
   "  end\n"
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

/* One attempt: returns 0 if all checks held. */
static int attempt(const char *code, size_t fail_at, size_t fail_len,
                   size_t *count, int *failed) {
  arena a = {0, 0, 0, 0};
  lua_State *L = alloc_state(&a);
  char what[64];
  int st;
  if (L == NULL) return 1;
  a.count = 0;
  a.fail_at = fail_at;
  a.fail_len = fail_len;
  st = luaL_loadstring(L, code);
  if (st == LUA_OK) st = lua_pcall(L, 0, 0, 0);
  *failed = st != LUA_OK;
  *count = a.count;
  if (st != LUA_OK && lua_type(L, -1) == LUA_TSTRING &&
      (strstr(lua_tostring(L, -1), "MISALIGNED") != NULL ||
       strstr(lua_tostring(L, -1), "LOST: ") != NULL)) {
    fprintf(stderr, "failing allocation %zu: %s\n", fail_at,
            lua_tostring(L, -1));      /* a failure listed for another task */
    lua_close(L);
    return 1;
  }
  if (st != LUA_OK && fail_at == 0) {
    fprintf(stderr, "scenario failed without injected failures: %s\n",
            lua_tostring(L, -1));
    lua_close(L);
    return 1;
  }
  snprintf(what, sizeof what, "after failing allocation %zu", fail_at);
  return !alloc_state_done(L, &a, what);
}

/*
** require "corral" itself under allocation failure: whatever fails, a later
** require must give a module whose coroutine.running marks the task that
** asks (a half-done require once left the wrapper on the dead attempt's
** state), so a reused coroutine never carries one task's data to the next,
** with the pool forced on (key = 1) or left to corral's search (key = -1).
*/
static const char identity_check[] =
  "local corral = require 'corral'\n"
  "local data, out = setmetatable({}, {__mode = 'k'}), 'ok'\n"
  "corral.run(function()\n"
  "  corral.group(function(g)\n"
  "    g:spawn(function() data[coroutine.running()] = 'A' end) end)\n"
  "  corral.group(function(g) for _ = 1, 3 do\n"
  "    g:spawn(function() if data[coroutine.running()] then out = 'leak' end end)\n"
  "  end end)\n"
  "end, {clock = 'virtual'})\n"
  "assert(out == 'ok', 'a task saw another task\\'s coroutine')\n";

static int attempt_require(size_t fail_at, int key, size_t *count) {
  arena a = {0, 0, 0, 0};
  lua_State *L = lua_newstate(l_alloc, &a);
  int ok;
  if (L == NULL) return 1;
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_corral);
  lua_setfield(L, -2, "corral");
  lua_pop(L, 1);
  if (key >= 0) {
    lua_pushboolean(L, key);
    lua_setfield(L, LUA_REGISTRYINDEX, "corral.reuse_coroutines");
  }
  a.count = 0;
  a.fail_at = fail_at;
  (void)luaL_dostring(L, "require 'corral'");
  *count = a.count;
  a.fail_at = 0;
  lua_settop(L, 0);
  ok = luaL_dostring(L, identity_check) == LUA_OK;
  if (!ok)
    fprintf(stderr, "after failing allocation %zu of require (key %d): %s\n",
            fail_at, key, lua_tostring(L, -1));
  lua_close(L);
  if (ok && a.blocks != 0) {
    fprintf(stderr, "after failing allocation %zu of require: %ld blocks "
            "leaked\n", fail_at, a.blocks);
    ok = 0;
  }
  return !ok;
}

/* Every failure point of require, for both keys; 1 if any went wrong. */
static int require_under_failure(size_t stride, size_t *points) {
  int key, bad = 0;
  for (key = -1; key <= 1; key += 2) {
    size_t n, total, c;
    if (attempt_require(0, key, &total)) return 1;
    for (n = 1; n <= total + 1 && !bad; n += stride, (*points)++)
      bad = attempt_require(n, key, &c);
    printf("%s require (key %d, %zu allocation points)\n", bad ? "FAIL" : "ok  ",
           key, total);
  }
  return bad;
}

int main(void) {
  static const size_t window[3] = {0, 2, 8};
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
    if (attempt(code, 0, 0, &total, &failed)) {
      printf("FAIL %s (clean run)\n", name);
      failed_tests++;
      continue;
    }
    /* every allocation from the n-th on fails; then only the n-th and the
    ** next (Lua retries once after an emergency collection), so that the
    ** run goes on past a failure it recovered from; then the n-th and the
    ** seven after it, long enough for a step that retries once (recording
    ** a failure) to fail twice and go on */
    for (n = 1; n <= 3 * (total + 1) && !bad; n += stride) {
      size_t c, at = (n - 1) % (total + 1) + 1, pass = (n - 1) / (total + 1);
      points++;
      if (attempt(code, at, window[pass], &c, &failed)) {
        fprintf(stderr, "  scenario '%s', failing allocation %zu of %zu "
                "and %s\n", name, at, total, window[pass] == 0 ? "every later "
                "one" : window[pass] == 2 ? "the next" : "the seven after");
        bad = 1;
      }
    }
    printf("%s %s (%zu allocation points)\n", bad ? "FAIL" : "ok  ",
           name, total);
    failed_tests += bad;
  }
  failed_tests += require_under_failure(stride, &points);
  printf("allocation points tried: %zu\n", points);
  n = sizeof scenarios / sizeof scenarios[0] + 2;
  printf("%zu passed, %d failed\n", n - (size_t)failed_tests, failed_tests);
  return failed_tests != 0;
}
