-- A task abandoned at a deadlock (blocked even after cancelling, e.g. in a
-- shielded scope) was "cancelled", but t:wait() answered false and its
-- coroutine: the parked stack top was read as a count of results. It now
-- answers false and a Cancelled with source "deadlock".
local corral = require "corral"

describe("regression: t:wait() on an abandoned task", function()
  it("gives a Cancelled, not the task's coroutine", function()
    local T
    local ok = pcall(corral.run, function()
      T = corral.current_task()
      corral.scope(function() corral.event():wait() end, { shield = true })
    end, { clock = "virtual" })
    assert.is_false(ok)
    assert.equal("cancelled", T.status)
    local done, err = corral.run(function() return T:wait() end)
    assert.is_false(done)
    assert.is_true(corral.is_cancelled(err))
    assert.equal("deadlock", err.source)
  end)
end)
