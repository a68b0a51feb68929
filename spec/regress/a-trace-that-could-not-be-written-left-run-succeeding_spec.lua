-- corral.run(fn, {trace = "/dev/full"}) printed "the trace was not written"
-- on stderr and returned fn's results, so a program under `lua` could not
-- know what the command reports with status 1; the message also carried an
-- internal position ("corral.trace:302: No space left on device").
local corral = require "corral"

describe("regression: a trace that could not be written left run succeeding", function()
  local full = io.open("/dev/full", "w")
  if full then full:close() end
  local it_full = full and it or pending

  it_full("run raises why, without a position of corral's", function()
    local ok, err = pcall(corral.run, function()
      corral.sleep(0)
      return "result"
    end, { clock = "virtual", trace = "/dev/full", trace_limit = 100000 })
    assert.is_false(ok)
    assert.equal("corral.run: the trace was not written: No space left on device", err)
  end)

  it_full("the run's own error wins", function()
    local ok, err = pcall(corral.run, function() error("mine", 0) end,
                          { clock = "virtual", trace = "/dev/full" })
    assert.is_false(ok)
    assert.equal("mine", err)
  end)
end)
