-- sup:stop() called from a cancelled task returned quietly once the supervisor's
-- own task had ended (the same outer cancel had ended it, or supervisor.run had
-- returned), where sup:add, sup:remove and sup:restart raise that task's
-- Cancelled, and docs/policies.md says all four do: the check that a stopped
-- supervisor needs no stop came before the check of the caller's cancel. A body
-- that caught its Cancelled and went on to call sup:stop() was told that the
-- children had ended while they were still being cancelled. The Cancelled now
-- comes first, as for the other methods; an uncancelled caller's stop of a
-- stopped supervisor still does nothing.
local corral = require "corral"
local supervisor = require "corral.supervisor"
local testing = require "corral.testing"
local support = require "support"

describe("regression: a cancelled caller's stop of an ended supervisor", function()
  it("raises its Cancelled, as add, remove and restart do, once supervisor.run has returned", function()
    support.vrun(function()
      local kept
      supervisor.run({}, function(sup) kept = sup end)
      kept:stop()                                   -- not cancelled: nothing to do
      corral.scope(function(s)
        s:cancel("caller")
        for _, call in ipairs({
          function() kept:stop() end,
          function() kept:add({ name = "x", fn = print }) end,
          function() kept:remove("x") end,
          function() kept:restart("x") end,
        }) do
          local e = support.cancelled(call)
          assert.equal("caller", e.reason)
        end
      end)
    end)
  end)

  it("raises it in a body whose cancel ended the supervisor, while the children are still ending", function()
    local log = support.log()
    support.vrun(function()
      corral.move_on_after(1, supervisor.run, { children = { { name = "a", fn = function()
        local ok, e = pcall(corral.sleep, math.huge)
        corral.scope(function() corral.sleep(2) end, { shield = true })   -- a slow cleanup
        log:stamp("a ended")
        if not ok then error(e, 0) end
      end } } }, function(sup)
        local ok = pcall(corral.sleep, math.huge)
        assert.is_false(ok)
        -- the supervisor's own task ends on the same cancel
        corral.scope(function() testing.wait_all_tasks_blocked() end, { shield = true })
        local e = support.cancelled(sup.stop, sup)
        log:stamp("stop raised " .. tostring(corral.is_cancelled(e)))
        error(e, 0)
      end)
    end)
    assert.same({ "stop raised true@1", "a ended@3" }, log.items)
  end)
end)
