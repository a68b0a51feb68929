-- A g:start child that its group's cancel reached while it was starting
-- (its own scope cancelled "as its group") ignored a later t:cancel: the
-- scope was cancelled already, so the call did nothing, and the child that
-- then returned without a cancellation point ended "done" with its results,
-- where an ordinary child with the same history ends "cancelled".
local corral = require "corral"
local support = require "support"

describe("regression: a t:cancel after its group's cancel was lost on a starting child", function()
  it("the child ends cancelled", function()
    local child, waited
    support.vrun(function()
      corral.group(function(g)
        corral.group(function(g2)
          g:spawn(function()
            return g2:start(function(ready)
              child = corral.current_task()
              corral.scope(function() corral.sleep(2) end, { shield = true })
              ready("r")
              return "child results"
            end)
          end)
          corral.sleep(1)
          g2:cancel("group cancel")
          child:cancel("explicit")
        end)
        waited = table.pack(child:wait())
      end)
    end)
    assert.equal("cancelled", child.status)
    assert.is_false(waited[1])
    assert.is_true(corral.is_cancelled(waited[2]))
  end)
end)
