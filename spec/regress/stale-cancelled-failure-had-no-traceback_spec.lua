-- A task that failed by raising a Cancelled whose scope had exited (kept
-- from an earlier cancel), or a live one that no cancelled scope around
-- the task would absorb, became a failure with no traceback: t:traceback()
-- gave nothing and the ErrorGroup's entry was "". The message handler
-- skipped every Cancelled; it skips only those a scope will absorb now.
local corral = require "corral"

describe("regression: a failure made of a Cancelled", function()
  it("keeps the traceback of where it was raised", function()
    local t, eg
    corral.run(function()
      local kept
      corral.scope(function(s)
        s:cancel("old")
        kept = select(2, pcall(corral.checkpoint))
      end)
      eg = select(2, pcall(corral.group, function(g)
        t = g:spawn(function() error(kept, 0) end)
      end))
    end)
    assert.equal("failed", t.status)
    assert.matches("stale%-cancelled%-failure%-had%-no%-traceback_spec%.lua:%d+:", t:traceback())
    assert.matches("stale%-cancelled%-failure%-had%-no%-traceback_spec%.lua:%d+:", eg.tracebacks[1])
  end)

  it("a cancelled task still takes no traceback", function()
    local t
    corral.run(function()
      corral.group(function(g)
        t = g:spawn(function() corral.sleep(1) end)
        corral.checkpoint()
        t:cancel()
      end)
    end, { clock = "virtual" })
    assert.equal("cancelled", t.status)
    assert.is_nil(t:traceback())
  end)
end)
