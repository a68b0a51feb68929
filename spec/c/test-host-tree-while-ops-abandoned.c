/*
** test-host-tree-while-ops-abandoned.c -- corral_host_close (or a root
** given up on) abandons every op a task waits on, calling each one's
** cancel callback in turn, and frees the ops it can. A callback that took
** the task tree (logging it through the host's state) walked the tasks
** still parked on the ops freed before it: a use after free. The tasks
** are abandoned before the ops now, so the tree no longer has them.
*/
#include <stdlib.h>
#include "host_test.h"

static corral_host_t *H;
static int trees, bad;

/* Take the tree, with the memory of an op freed just before handed out
** again and scribbled on (the allocator gives a freed block back first),
** so that a tree reading a freed op crashes rather than reads its old
** bytes. */
static int tree_cancel(corral_op_t *op) {
  lua_State *L = corral_host_state(H);
  void *junk[64];
  int top = lua_gettop(L), i;
  corral_op_complete(op, CR_ECANCELED);
  for (i = 0; i < 64; i++)
    if ((junk[i] = malloc((size_t)(i + 1) * 8)) != NULL)
      memset(junk[i], 0xA5, (size_t)(i + 1) * 8);
  if (luaL_dostring(L, "return require('corral').tree()") != LUA_OK ||
      strstr(lua_tostring(L, -1), "host op") != NULL)
    bad++;                              /* an abandoned task still parked */
  trees++;
  lua_settop(L, top);
  for (i = 0; i < 64; i++) free(junk[i]);
  return CORRAL_OP_WAIT;
}

static const corral_op_type_t tree_type = {"treeop", 0, NULL, tree_cancel};

static int l_op(lua_State *L) {
  return corral_op_await(L, corral_op_new(L, &tree_type));
}

static int test_close_with_ops_waited_on(void) {
  int i;
  CHECK(corral_host_new(&H, NULL) == 0);
  lua_register(corral_host_state(H), "op", l_op);
  CHECK(corral_host_start_string(H,
    "local corral = require 'corral'\n"
    "corral.group(function(g)\n"
    "  for i = 1, 4 do g:spawn(op) end\n"
    "end)", "=ops") == 0);
  for (i = 0; i < 5; i++) CHECK(corral_host_step(H) == CORRAL_RUNNING);
  CHECK(corral_host_close(H) == 0);
  CHECK(trees == 4);
  CHECK(bad == 0);
  return 0;
}

int main(void) {
  int failed = 0;
  RUN(test_close_with_ops_waited_on);
  return failed != 0;
}
