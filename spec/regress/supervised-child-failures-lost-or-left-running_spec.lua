-- Three gaps in a supervised child's group, found by a second hostile pass:
-- when fn failed and a task it spawned there failed too, only fn's error
-- was kept (the helper's root cause, "disk full", vanished); when fn failed
-- while such a task ran on, the child was neither restarted nor reported
-- until that task ended by itself (never, for a sleeper); and a one_for_all
-- restart loop stopped a child sup:add had started before it ever began,
-- at every restart, so sup:add never returned.
local corral = require "corral"
local supervisor = require "corral.supervisor"
local support = require "support"

describe("regression: a supervised child's group", function()
  it("keeps both failures when fn and a task it spawned fail, fn's first", function()
    local reported
    support.vrun(function()
      supervisor.run({ on_failure = function(_, e) reported = e end, children = {
        { name = "w", restart = "temporary", fn = function()
          corral.current_task().group:spawn(function()
            corral.sleep(1)
            error("helper: disk full", 0)
          end)
          pcall(corral.sleep, 10)              -- cancelled by the helper's failure
          error("worker interrupted", 0)       -- its cleanup raises
        end },
      } })
    end)
    assert.is_true(corral.is_error_group(reported))
    assert.same({ "worker interrupted", "helper: disk full" }, reported.errors)
    assert.equal("w", reported.tasks[1])
  end)

  it("cancels the tasks fn spawned when fn fails, and restarts the child at once", function()
    local log = support.log()
    support.vrun(function()
      supervisor.run({ intensity = 5,
        on_restart = function(name, e) log:stamp("restart " .. name .. ": " .. e) end,
        children = { { name = "w", fn = function(child)
          if child.restarts > 0 then return child:wait_stopping() end
          corral.current_task().group:spawn(function()
            local _ <close> = setmetatable({}, { __close = function() log:stamp("helper ended") end })
            corral.sleep(math.huge)
          end)
          corral.sleep(0.5)
          error("fn failed", 0)
        end } },
      }, function(sup)
        corral.sleep(1)
        sup:stop()
      end)
    end)
    assert.same({ "helper ended@0.5", "restart w: fn failed@0.5" }, log.items)
  end)

  it("lets a child sup:add started begin before another child's restart", function()
    local added_at
    support.vrun(function()
      corral.move_on_after(30, supervisor.run, {   -- (restarted for ever)
        strategy = "one_for_all", intensity = 100, on_failure = function() end,
        children = {
          { name = "a", shutdown = 1, fn = function() corral.sleep(math.huge) end },
          { name = "crash", fn = function() error("crash", 0) end },
        },
      }, function(sup)
        sup:add({ name = "x", fn = function() corral.sleep(math.huge) end })
        added_at = corral.now()
        sup:stop()
      end)
    end)
    assert.is_not_nil(added_at, "sup:add never returned")
  end)
end)
