-- With coroutines reused for later tasks, a module that kept the unwrapped
-- coroutine.running from before require "corral" (coroutine-local storage
-- in a weak table, say) saw one task's identity, and its data, in the next
-- task. Under require the pool is therefore off; only a host that knows no
-- such copy exists (the corral command) turns it on.
local corral = require "corral"
local support = require "support"

describe("regression: under require \"corral\"", function()
  it("an ended task's coroutine is not reused", function()
    local pooled, first, later = nil, nil, {}
    support.vrun(function()
      corral.group(function(g)
        g:spawn(function() first = coroutine.running() end)
      end)
      pooled = corral.debug_stats().pooled
      corral.group(function(g)
        for i = 1, 20 do g:spawn(function() later[i] = coroutine.running() end) end
      end)
    end)
    assert.equal(0, pooled)
    for i = 1, 20 do assert.is_not.equal(first, later[i]) end
  end)
end)
