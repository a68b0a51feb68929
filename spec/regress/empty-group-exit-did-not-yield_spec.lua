-- Leaving a group that had no child left to wait for returned at once, so a
-- loop of such groups never let a spawned sibling run (AnyIO's "empty task
-- group contains a yield point"; Trio's nursery exit is a cancel-shielded
-- checkpoint). Leaving a group is now a schedule point, and still not a
-- cancellation point.
local corral = require "corral"

local function run(fn) return corral.run(fn, { clock = "virtual" }) end

describe("regression: an empty group's exit", function()
  it("lets a task spawned before it run #fifo", function()
    local ran
    run(function()
      corral.group(function(outer)
        outer:spawn(function() ran = true end)
        corral.group(function() end)
        assert.is_true(ran)
      end)
    end)
  end)

  it("lets others run once even when its children have all finished #fifo", function()
    local order = {}
    run(function()
      corral.group(function(outer)
        corral.group(function(g)
          local t = g:spawn(function() end)
          t:wait()                   -- leaves nothing to join at the exit
          outer:spawn(function() order[#order + 1] = "sibling" end)
          order[#order + 1] = "body"
        end)
        order[#order + 1] = "after"
      end)
    end)
    assert.same({ "body", "sibling", "after" }, order)
  end)

  it("is not a cancellation point", function()
    local results, raised
    run(function()
      corral.scope(function(s)
        s:cancel()
        results = { corral.group(function() return 1, 2 end) }
        raised = not pcall(corral.checkpoint)
      end)
    end)
    assert.same({ 1, 2 }, results)
    assert.is_true(raised)
  end)

  it("waits for a child spawned into it during that turn #fifo", function()
    local late_done
    run(function()
      corral.group(function(outer)
        local inner
        outer:spawn(function()
          inner:spawn(function() corral.sleep(1); late_done = corral.now() end)
        end)
        corral.group(function(g) inner = g end)
        assert.equal(1, late_done)
      end)
    end)
  end)
end)
