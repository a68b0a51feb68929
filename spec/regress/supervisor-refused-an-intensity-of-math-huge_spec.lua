-- supervisor.run refused intensity = math.huge ("must be an integer >= 0"),
-- the way to say "never give up" that retry's attempts = math.huge taught.
local corral = require "corral"
local supervisor = require "corral.supervisor"
local support = require "support"

describe("regression: a supervisor's intensity of math.huge", function()
  it("is taken, and the supervisor restarts for ever", function()
    local runs = 0
    support.vrun(function()
      supervisor.run({
        intensity = math.huge, period = 1,
        on_restart = function() end,
        children = { { name = "crash", fn = function()
          runs = runs + 1
          if runs == 50 then corral.sleep(math.huge) end
          error("boom", 0)
        end } },
      }, function(sup)
        corral.sleep(1)
        sup:stop()
      end)
    end)
    assert.equal(50, runs)
  end)

  it("still refuses what is neither an integer nor math.huge", function()
    for _, bad in ipairs({ -1, 1.5, 0 / 0, -math.huge, "3" }) do
      local ok, err = pcall(support.vrun, function()
        supervisor.run({ intensity = bad, children = {} })
      end)
      assert.is_false(ok)
      assert.matches("intensity must be an integer >= 0 or math.huge", tostring(err))
    end
  end)
end)
