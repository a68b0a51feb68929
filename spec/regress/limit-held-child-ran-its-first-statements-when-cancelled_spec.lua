-- A child held back by its group's limit ran its function up to its first
-- cancellation point when the group was cancelled, although it never got a
-- slot: a queued job's side effects ("delete the temp file") happened on
-- Ctrl-C. In a group with a limit, a child cancelled before it started now
-- never runs its function, as if its slot were a semaphore acquired first.
-- A group without a limit keeps Trio's rule: a child spawned into a
-- cancelled group runs up to its first cancellation point.
local corral = require "corral"
local support = require "support"

describe("regression: a child of a group with a limit, cancelled before it started", function()
  it("never runs its function", function()
    local ran = {}
    support.vrun(function()
      corral.group(function(g)
        for i = 1, 4 do
          g:spawn(function() ran[#ran + 1] = i; corral.sleep(1) end)
        end
        corral.sleep(0.1)
        g:cancel("shutdown")
      end, { limit = 1 })
    end)
    assert.same({ 1 }, ran)
  end)

  it("never runs it when spawned into the cancelled group either", function()
    local ran = false
    support.vrun(function()
      corral.group(function(g)
        g:cancel()
        local t = g:spawn(function() ran = true end)
        local ok, e = t:wait()
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(e))
      end, { limit = 3 })
    end)
    assert.is_false(ran)
  end)

  it("leaves a group without a limit as it was: the child runs to its first checkpoint", function()
    local ran = false
    support.vrun(function()
      corral.group(function(g)
        g:cancel()
        g:spawn(function() ran = true; corral.checkpoint() end)
      end)
    end)
    assert.is_true(ran)
  end)
end)
