local corral = require "corral"
local testing = require "corral.testing"

describe("a worker", function()
  it("waits for work, then does it", testing.async(function()
    local jobs, state = corral.channel(), "starting"
    corral.group(function(g)
      g:spawn(function()
        for job in jobs:iter() do state = "working on " .. job end
        state = "stopped"
      end)
      testing.wait_all_tasks_blocked()    -- the worker is parked in recv now
      assert.equal("starting", state)
      jobs:send("a")
      testing.wait_all_tasks_blocked()
      assert.equal("working on a", state)
      jobs:close()
    end)
    assert.equal("stopped", state)
  end))
end)
