-- A supervised child that cancelled its own task (corral.current_task():cancel())
-- ended "cancelled", but the Cancelled left its instance before the instance told
-- the manager: the child stayed "running" in sup:children() for ever, was never
-- restarted, and a supervisor without a body waited on it until deadlock. The
-- report is now a <close>, so every end of an instance reaches the manager.
local corral = require "corral"
local support = require "support"
local supervisor = require "corral.supervisor"

local function self_cancelling(counter)
  return function()
    counter.n = counter.n + 1
    corral.current_task():cancel("done")
    corral.sleep(1)
  end
end

describe("regression: a supervised child that cancelled its own task", function()
  it("is forgotten when transient, so a supervisor without a body returns", function()
    local starts = { n = 0 }
    support.vrun(function()
      supervisor.run({ children = {
        { name = "w", restart = "transient", fn = self_cancelling(starts) } } })
    end)
    assert.equal(1, starts.n)
  end)

  it("is restarted when permanent, and counts toward the intensity", function()
    local starts, seen = { n = 0 }, {}
    local ok, eg = pcall(support.vrun, function()
      supervisor.run({ intensity = 2,
        on_restart = function(name, err) seen[#seen + 1] = tostring(err) end,
        children = { { name = "w", fn = self_cancelling(starts) } } })
    end)
    assert.is_false(ok)
    assert.equal(3, starts.n)                    -- the start, then 2 restarts
    assert.same({ "nil", "nil" }, seen)
    -- (the entry names the cancel: who, and why)
    assert.equal("supervisor: child 'w' was cancelled (Cancelled: done (source=explicit, "
      .. "origin=w)) (a permanent child is restarted "
      .. "whenever it ends; restart = \"transient\" restarts it only after a failure)",
      eg.errors[1])
  end)
end)
