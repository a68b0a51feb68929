-- The give-up message wrote the period with %g: "(1 restart in inf s)",
-- "in 1e+06 s", "in 0.333333 s". It now writes a whole number as one, three
-- significant digits below 1 s, two decimals at most above, and "since it
-- started" for math.huge (every restart counts).
local corral = require "corral"
local support = require "support"
local supervisor = require "corral.supervisor"

local function message_for(period)
  return support.vrun(function()
    local eg = support.error_group(supervisor.run, { intensity = 0, period = period,
      children = { { name = "x", fn = function() corral.sleep(1); error("x", 0) end } } })
    return eg.message
  end)
end

describe("regression: the give-up message's period", function()
  it("reads as a person would write it", function()
    local cases = {
      { math.huge, "since it started" }, { 1e6, "in 1000000 s" }, { 1 / 3, "in 0.333 s" },
      { 12.345678, "in 12.35 s" }, { 1e20, "in 1e+20 s" },
    }
    for _, case in ipairs(cases) do
      assert.equal("supervisor: restart intensity exceeded (1 restart " .. case[2] .. ")",
        message_for(case[1]))
    end
  end)
end)
