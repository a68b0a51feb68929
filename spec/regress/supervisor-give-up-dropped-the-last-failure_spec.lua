-- Regression: a supervisor with an intensity above 1000 kept every restart of
-- its window with the error and traceback (memory grew by about 700 bytes a
-- restart), and its give-up ErrorGroup kept the oldest 1000 of them, so the
-- last failure, which the docs say is included, was dropped. It keeps the
-- newest 1000 failures now (the older ones are counted in `dropped`), and only
-- the times of the rest.
local testing = require "corral.testing"
local corral = require "corral"
local supervisor = require "corral.supervisor"

describe("regression: a supervisor that gives up after more than 1000 restarts", function()
  it("reports the newest failures, the last one included, and counts the older", function()
    local n = 0
    local ok, eg = pcall(testing.run, function()
      supervisor.run({
        intensity = 1500, period = 1e9,
        children = { { name = "w", fn = function()
          corral.sleep(1)
          n = n + 1
          error("crash " .. n, 0)
        end } },
      })
    end)
    assert.is_false(ok)
    assert.equal(1501, n)
    assert.matches("restart intensity exceeded %(1501 restarts", eg.message)
    assert.equal(1000, #eg.errors)
    assert.equal(501, eg.dropped)
    assert.equal("crash 502", eg.errors[1])
    assert.equal("crash 1501", eg.errors[1000])
  end)
end)
