-- A child that ended at once (c1) made a one_for_all supervisor restart
-- before a later initial child (c3) had begun: the restart stopped c3
-- before its fn ran, c2's shutdown grace spaced the restarts a second apart
-- so that the intensity never tripped, and c3 never started; the body,
-- which runs once every child has begun, never ran. The manager now takes
-- exits only once every initial child has begun, as OTP's supervisor takes
-- exit signals only after init has started them all.
local corral = require "corral"
local testing = require "corral.testing"
local supervisor = require "corral.supervisor"

describe("regression: a child that ends at once under one_for_all", function()
  it("is restarted after the later initial children began, under every schedule", function()
    testing.each_seed(30, function()
      local began, body_ran = {}, false
      corral.move_on_after(30, supervisor.run, {      -- (restarted for ever)
        strategy = "one_for_all", intensity = 2, period = 1,
        on_failure = function() end, on_restart = function() end,
        children = {
          { name = "c1", restart = "transient", shutdown = 0, fn = function()
            began.c1 = (began.c1 or 0) + 1
            error("c1 crashed", 0)
          end },
          { name = "c2", shutdown = 1, fn = function() corral.sleep(100) end },
          { name = "c3", shutdown = 0, fn = function()
            began.c3 = (began.c3 or 0) + 1
            corral.sleep(100)
          end },
        },
      }, function(sup)
        body_ran = true
        sup:stop()
      end)
      assert.is_true(body_ran)
      assert.is_true((began.c3 or 0) >= 1)
    end)
  end)
end)
