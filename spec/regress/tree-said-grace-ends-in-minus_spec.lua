-- The tree showed a stop's grace that ran out while the task calling tree
-- ran without a cancellation point as "grace ends in -0.261s", as it once
-- showed such a deadline as "deadline in -0.261s". It now says the grace
-- ended, and how long ago, without firing it (the tree has no side effect).
local corral = require "corral"

describe("regression: the tree's grace that ran out", function()
  it("says it ended, and how long ago", function()
    -- real time: the virtual clock cannot pass the grace without a checkpoint
    local text
    corral.run(function()
      corral.group(function(g)
        g:spawn(function() corral.sleep(10) end)
        g:stop(0.01)
        local t0 = os.clock()
        while os.clock() - t0 < 0.05 do end               -- past it, no checkpoint
        text = corral.tree()
      end)
    end)
    assert.matches("%(stopping, grace ended %d+%.%d+s ago%)", text)
    assert.is_nil(text:find("grace ends in %-"))
  end)
end)
