-- g:stop(grace) from one task, then a later g:stop with a longer grace (or
-- none) from another: the second stop cannot move the end (a later stop can
-- only bring it closer), so the first grace still runs out and cancels the
-- rest, but the Cancelled named the second stopper as its origin. "Why was
-- I cancelled?" pointed at a task whose stop asked to wait longer.
local corral = require "corral"
local support = require "support"

local function cancelled_by(second_grace)
  local c
  support.vrun(function()
    corral.group(function(g)
      g:spawn({ function()
        local _, e = pcall(corral.sleep, 100)
        c = e
        error(e, 0)
      end, name = "victim" })
      g:spawn({ function() g:stop(1) end, name = "impatient" })
      g:spawn({ function() corral.sleep(0.5); g:stop(second_grace) end, name = "patient" })
    end)
    assert.equal(1, corral.now())
  end)
  return c
end

describe("regression: a later, more patient stop took the origin of the cancel it did not cause", function()
  it("a longer second grace leaves the first stopper as the origin", function()
    local c = cancelled_by(10)
    assert.is_true(corral.is_cancelled(c))
    assert.equal("stop", c.source)
    assert.equal("impatient", c.origin)
  end)

  it("so does a second stop with no grace or an infinite one", function()
    assert.equal("impatient", cancelled_by(nil).origin)
    assert.equal("impatient", cancelled_by(math.huge).origin)
  end)

  it("a second stop that brings the end closer is the origin", function()
    local c
    support.vrun(function()
      corral.group(function(g)
        g:spawn(function() local _, e = pcall(corral.sleep, 100); c = e; error(e, 0) end)
        g:spawn({ function() g:stop(10) end, name = "patient" })
        g:spawn({ function() corral.sleep(0.5); g:stop(0.5) end, name = "impatient" })
      end)
      assert.equal(1, corral.now())
    end)
    assert.equal("impatient", c.origin)
  end)
end)
