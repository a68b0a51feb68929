-- A caller whose deadline passed while it computed (no checkpoint since)
-- called g:start, and the child called ready(v) at once: start returned v
-- and the child was moved into g, past the caller's deadline, where it ran
-- on. ready() decided "is the caller cancelled?" without reading the
-- clock, as every cancellation point does. Real clock: the spin waits for
-- the deadline to pass, it times nothing.
local corral = require "corral"

local function spin_past(deadline)
  while corral.now() <= deadline do end  -- corral.now fires no deadline
end

describe("regression: g:start after a deadline passed during a computation", function()
  it("raises the caller's Cancelled; the child stays under the deadline", function()
    local moved, child_ran_on
    corral.run(function()
      corral.group(function(g)
        moved = { corral.move_on_after(0.001, function()
          spin_past(corral.now() + 0.002)
          return g:start(function(ready)
            ready("v")
            corral.sleep(0.05)
            child_ran_on = true
          end)
        end) }
      end)
    end)
    assert.same({ false }, moved)
    assert.is_nil(child_ran_on)
  end)

  it("counts the group's own deadline, passed in its body", function()
    local r
    corral.run(function()
      r = table.pack(corral.group(function(g)
        spin_past(corral.now() + 0.002)
        return g:start(function(ready) ready("v") end)
      end, { timeout = 0.001 }))
    end)
    assert.equal(0, r.n)
  end)
end)
