-- A supervisor hook that cancelled the task it runs in (the supervisor's
-- own task) ended that task quietly: sup:stop() then did nothing, the
-- children ran on, and supervisor.run never returned. It ends the
-- supervisor now, as a group body that cancels its group ends the group.
local corral = require "corral"
local testing = require "corral.testing"
local supervisor = require "corral.supervisor"

describe("a supervisor hook that cancels its own task", function()
  for _, hook in ipairs({ "on_restart", "on_failure" }) do
    it("(" .. hook .. ") ends the supervisor and its children", testing.async(function()
      local heard, body_end = 0, "not reached"
      local spec = {
        children = {
          { name = "crashy", restart = hook == "on_restart" and "permanent" or "temporary",
            fn = function(ch)
              if ch.restarts == 0 then corral.sleep(1); error("crash", 0) end
              corral.sleep(math.huge)
            end },
          { name = "steady", shutdown = 0, fn = function() corral.sleep(math.huge) end },
        },
      }
      spec[hook] = function()
        heard = heard + 1
        corral.current_task():cancel("enough")
      end
      local r = table.pack(supervisor.run(spec, function(sup)
        corral.sleep(2)
        body_end = "reached"
        sup:stop()
        return "body done"
      end))
      assert.equal(1, heard)
      assert.equal(0, r.n)                    -- the body was cancelled too
      assert.equal("not reached", body_end)
      assert.equal(1, corral.now())           -- at the crash: nothing waited
    end))
  end
end)
