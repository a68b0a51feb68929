-- A connect option returning false (not nil) won the race as if it were a
-- stream: every other attempt was cancelled and connect raised an empty
-- ErrorGroup, "all 0 attempts ... failed". false is no stream, as nil is.
local corral = require "corral"
local he = require "corral.happy_eyeballs"
local support = require "support"

describe("regression: happy_eyeballs with a connect that returns false", function()
  it("counts it as a failed attempt", function()
    local eg = support.error_group(support.vrun, function()
      he.connect("dual.test", 80, {
        resolve = function() return { { address = "192.0.2.1", family = "inet" }, { address = "192.0.2.2", family = "inet" } } end,
        connect = function() return false end,
      })
    end)
    assert.equal(2, #eg)
    assert.matches("connect returned no stream", tostring(eg.errors[1]))
  end)
end)
