-- Since a child's fn runs in a task of the child's own group, a task fn
-- spawned there (corral.current_task().group:spawn) is part of the child.
-- Its failure escaped the child's group and took the whole supervisor down,
-- cancelling the siblings without their grace and skipping on_failure. It
-- is the child's failure now, dealt with by the child's restart.
local corral = require "corral"
local supervisor = require "corral.supervisor"
local support = require "support"

local function worker(restart)
  return { name = "worker", restart = restart, fn = function(child)
    corral.current_task().group:spawn(function()
      corral.sleep(1)
      error("background job failed", 0)
    end)
    child:wait_stopping()
  end }
end

describe("regression: a failing task in a supervised child's group", function()
  it("is the child's failure: a temporary child's goes to on_failure", function()
    local log = support.log()
    support.vrun(function()
      supervisor.run({
        on_failure = function(name, e)
          log:stamp(name .. " failed: " .. e.errors[1])
        end,
        children = {
          { name = "other", fn = function(child)
            child:wait_stopping()
            log:stamp("other stopped")
          end },
          worker("temporary"),
        },
      }, function(sup)
        corral.sleep(2)
        sup:stop()
      end)
    end)
    assert.same({ "worker failed: background job failed@1", "other stopped@2" }, log.items)
  end)

  it("restarts a permanent child, with the failure as the reason", function()
    local reasons, reported = {}, {}
    support.vrun(function()
      supervisor.run({
        intensity = 10,
        on_restart = function(name, e, n) reasons[n] = name .. ": " .. e.errors[1] end,
        -- the third helper fails at 3, during the stop's grace: reported
        on_failure = function(name, e) reported[#reported + 1] = name .. ": " .. e.errors[1] end,
        children = { worker("permanent") },
      }, function(sup)
        corral.sleep(2.5)
        sup:stop()
      end)
    end)
    assert.same({ "worker: background job failed", "worker: background job failed" }, reasons)
    assert.same({ "worker: background job failed" }, reported)
  end)

  it("lasts, once fn has returned, until the tasks fn spawned there end", function()
    local log = support.log()
    support.vrun(function()
      supervisor.run({
        on_restart = function(name) log:stamp("restart " .. name) end,
        children = { { name = "w", restart = "transient", fn = function()
          corral.current_task().group:spawn(function() corral.sleep(2) end)
        end } },
      }, function(sup)
        corral.sleep(1)
        log:stamp("w " .. sup:children()[1].status)
        corral.sleep(2)
        log:stamp(#sup:children() .. " children")
      end)
    end)
    assert.same({ "w running@1", "0 children@3" }, log.items)
  end)
end)
