-- corral_host_close with a root running (and a root given up on) abandons
-- each op a task waits on: it calls the op's cancel callback, then frees
-- the op if the host completed it, one op after the other, with the tasks
-- still parked. A cancel callback that took the task tree (a host logging
-- it through its state) walked the tasks parked on the ops already freed:
-- the tree's `waiting on host op NAME` read the name through a freed op (a
-- crash once the memory was reused). The tasks are abandoned before the
-- ops now. The host's check is spec/c/test-host-tree-while-ops-abandoned.c
-- (ctest c/host-tree-while-ops-abandoned), run here from the build beside
-- the command.
local BIN = os.getenv("CORRAL_BIN") or "build/corral"
local TEST = BIN:gsub("[^/]*$", "") .. "spec/c/test-host-tree-while-ops-abandoned"

describe("regression: a tree taken while the host gave up its ops read a freed op", function()
  it("the tree has no task parked on an op", function()
    local p = assert(io.popen(TEST .. " 2>&1"))
    local out = p:read("a")
    local ok = p:close()
    assert.matches("test_close_with_ops_waited_on%s+ok", out)
    assert.is_true(ok, out)
  end)
end)
