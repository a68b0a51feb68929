-- s.cancel_called stayed false after a scope's deadline had passed, while
-- the task computed, until its next checkpoint let the loop run the timer;
-- Trio's cancel_called is true once the deadline has passed. Reading the
-- flag now fires a deadline that has passed. Real clock: the task computes
-- until corral.now() is past the deadline.
local corral = require "corral"

local function compute_until(t) while corral.now() <= t do end end

describe("regression: cancel_called and a deadline passed while computing", function()
  it("is true for a scope as soon as the deadline has passed", function()
    local seen, raised
    corral.run(function()
      corral.scope(function(s)
        compute_until(s.deadline)
        seen = s.cancel_called
        raised = not pcall(corral.checkpoint)
      end, { timeout = 0.002 })
    end)
    assert.is_true(seen)
    assert.is_true(raised)
  end)

  it("is true for a group too, and the Cancelled is the deadline's", function()
    local seen, err
    corral.run(function()
      corral.group(function(g)
        compute_until(g.deadline)
        seen = g.cancel_called
        local ok
        ok, err = pcall(corral.checkpoint)
      end, { timeout = 0.002 })
    end)
    assert.is_true(seen)
    assert.equal("deadline", err.source)
  end)

  it("stays false before the deadline", function()
    local seen
    corral.run(function()
      corral.scope(function(s) seen = s.cancel_called end, { timeout = 60 })
    end)
    assert.is_false(seen)
  end)
end)
