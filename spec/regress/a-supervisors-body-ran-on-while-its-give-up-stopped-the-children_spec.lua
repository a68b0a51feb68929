-- A supervisor that gave up stopped its other children gracefully (each
-- with its shutdown grace, one at a time) and only then cancelled its body:
-- the body ran on for those seconds, as if nothing had happened, and a
-- sup:add or sup:restart it asked meanwhile waited behind the stop for
-- seconds before it raised. Giving up is the supervisor's failure, and a
-- group's body is cancelled at its first failure: the body is now
-- cancelled at once, before the children are stopped.
local corral = require "corral"
local support = require "support"
local supervisor = require "corral.supervisor"

describe("regression: a supervisor's give-up", function()
  it("cancels the body at once, before the other children are stopped", function()
    local seen = {}
    local eg = support.vrun(function()
      return support.error_group(supervisor.run, { intensity = 0, children = {
        { name = "slow", shutdown = 5, fn = function()
          pcall(corral.sleep, math.huge)          -- outlasts its grace
          seen.slow_end = corral.now()
        end },
        { name = "x", fn = function() corral.sleep(1); error("x failed", 0) end },
      } }, function(sup)
        local ok, e = pcall(corral.sleep, 100)
        seen.body_woke = corral.now()
        seen.cancelled = not ok and corral.is_cancelled(e)
        local t0 = corral.now()
        local ok2, e2 = pcall(sup.add, sup, { name = "late", fn = function() end })
        seen.add_took = corral.now() - t0
        seen.add_cancelled = not ok2 and corral.is_cancelled(e2)
        error(e, 0)
      end)
    end)
    assert.equal(1, seen.body_woke)                -- not 6
    assert.is_true(seen.cancelled)
    assert.equal(0, seen.add_took)
    assert.is_true(seen.add_cancelled)
    assert.equal(6, seen.slow_end)                 -- the stop still waits its grace
    assert.truthy(eg.message:find("restart intensity exceeded", 1, true))
    assert.same({ "x failed" }, eg.errors)
  end)
end)
