-- Found by the second hostile pass.
--
-- §8: `corral trace-svg` renders a trace file. When the trace's time span is
-- subnormal (a slice of 5e-324 µs), tick_step (scripts/corral/trace_svg.lua)
-- computes span / 10 = 0, so the step is 10^-inf = 0 and axis() loops
-- `while k * 0 <= span` forever, appending to its output until memory runs
-- out. Any JSON must end with an SVG or an error, never a hang. (Fix: fall
-- back to a span of 1 when t1 - t0 is not a normal positive number, or
-- guard tick_step against a zero or non-finite step.)
local svg = require "corral.trace_svg"

-- Run f, raising "did not finish" after `budget` VM instructions.
local function bounded(budget, f, ...)
  local co = coroutine.create(f)
  debug.sethook(co, function() error("did not finish", 0) end, "", budget)
  local r = table.pack(coroutine.resume(co, ...))
  return table.unpack(r, 1, r.n)
end

describe("regression: trace-svg on a trace with a subnormal time span", function()
  for _, dur in ipairs({ "5e-324", "1e-320", "2.2e-308" }) do
    it("renders (or refuses) a slice of " .. dur .. " µs in bounded time", function()
      local json = ('{"traceEvents":[{"ph":"X","pid":1,"tid":1,"ts":0,"dur":%s,' ..
        '"cat":"run","name":"x"}]}'):format(dur)
      local ok, out = bounded(1e7, svg.render, json)
      assert.are_not.equal("did not finish", out)
      if ok then assert.matches("^<svg", out) end
    end)
  end
end)
