-- A C host's op cancel callback runs inside the walk that delivers a cancel
-- to the parked tasks. One that cancelled a scope below the one being
-- delivered (through the host's state: s:cancel(), or a debugging
-- tostring(s) firing a deadline that had passed, as reading
-- s.cancel_called does) had that cancel skipped twice: the scope left its
-- delivery to the walk of the scope cancelled above, and that walk passes
-- a cancelled scope by. The tasks in it were never woken and the root
-- waited for ever. The host's check is
-- spec/c/test-host-cancel-callback-cancels.c (ctest
-- c/host-cancel-callback-cancels), run here from the build beside the
-- command.
local BIN = os.getenv("CORRAL_BIN") or "build/corral"
local TEST = BIN:gsub("[^/]*$", "") .. "spec/c/test-host-cancel-callback-cancels"

describe("regression: a cancel callback that cancelled a scope left its tasks waiting", function()
  it("every task is woken and the root ends", function()
    local p = assert(io.popen(TEST .. " 2>&1"))
    local out = p:read("a")
    local ok = p:close()
    assert.matches("test_callback_cancels_scopes%s+ok", out)
    assert.matches("test_callback_fires_deadlines_by_tostring%s+ok", out)
    assert.is_true(ok, out)
  end)
end)
