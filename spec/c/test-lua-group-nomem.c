/*
** test-lua-group-nomem.c -- a group whose ErrorGroup is built while memory
** runs short.
**
** A child failed with {x = 1}, then memory ran out as the group built its
** ErrorGroup (or pushed the function that builds it, outside any pcall):
** the group raised a bare "not enough memory", and the child's failure was
** lost, though a group raises an ErrorGroup for any failure. Each attempt
** fails one allocation and Lua's retry of it (and then the next one too),
** at every point of the run in turn. Whenever the child ran and the group
** raised, what it raised must be an ErrorGroup that lists the child's
** failure: its {x = 1}, or "not enough memory" when memory ran out as the
** child made its {x = 1} (that was its failure then) or as the group
** recorded it (listed as "not enough memory" of "(name lost)").
*/
#include <stdio.h>
#include <string.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>

#include "failing_alloc.h"

/* Globals made before memory fails: setting them then allocates nothing. */
static const char setup[] =
  "corral = require 'corral'\n"
  "child_ran, raised, outcome = false, false, false\n";

static const char scenario[] =
  "corral.run(function()\n"
  "  local ok, e = pcall(corral.group, function(g)\n"
  "    g:spawn(function() child_ran = true error({x = 1}) end)\n"
  "    g:spawn(corral.sleep, 1)\n"
  "  end)\n"
  "  raised, outcome = not ok, e\n"
  "end, {clock = 'virtual'})\n";

static const char check[] =
  "if not (child_ran and raised) then return end\n"
  "assert(corral.is_error_group(outcome), 'bare: ' .. tostring(outcome))\n"
  "for i = 1, #outcome.tasks do\n"
  "  local v = outcome.errors[i]\n"
  "  if type(v) == 'table' and v.x == 1 or v == 'not enough memory' then\n"
  "    return\n"
  "  end\n"
  "end\n"
  "error('the child failure is not listed: ' .. tostring(outcome))\n";

/* One attempt: 1 if every check held. *total: the allocations counted. */
static int attempt(size_t fail_at, size_t fail_len, size_t *total) {
  arena a = {0, 0, 0, 0};
  lua_State *L = alloc_state(&a);
  char what[64];
  if (L == NULL) return 0;
  snprintf(what, sizeof what, "failing %zu (%zu)", fail_at, fail_len);
  if (luaL_dostring(L, setup) != LUA_OK ||
      luaL_loadstring(L, scenario) != LUA_OK) {
    fprintf(stderr, "%s: setup: %s\n", what, lua_tostring(L, -1));
    lua_close(L);
    return 0;
  }
  a.count = 0;
  a.fail_at = fail_at;
  a.fail_len = fail_len;
  (void)lua_pcall(L, 0, 0, 0);       /* (the run may fail: memory) */
  a.fail_at = 0;
  *total = a.count;
  lua_settop(L, 0);
  if (luaL_dostring(L, check) != LUA_OK) {
    fprintf(stderr, "%s: %s\n", what, lua_tostring(L, -1));
    lua_close(L);
    return 0;
  }
  return alloc_state_done(L, &a, what);
}

int main(void) {
  size_t total, n, len, c;
  int failed = 0;
  if (!attempt(0, 0, &total)) return 1;
  for (len = 2; len <= 3; len++)
    for (n = 1; n <= total + 1; n++) failed |= !attempt(n, len, &c);
  printf("%s a child's failure while memory runs short (%zu allocations)\n",
         failed ? "FAIL" : "ok  ", total);
  return failed;
}
