-- corral trace-svg on a file that is not a corral trace: huge or negative
-- times raised "table index is NaN" from inside the renderer, and a huge
-- dropped_events count "number has no integer representation". Events it
-- cannot place are skipped, as those missing their fields are.
local trace_svg = require "corral.trace_svg"

describe("regression: trace-svg on malformed traces", function()
  it("skips times it cannot place", function()
    local svg = trace_svg.render([[{"traceEvents":[
      {"ph":"X","name":"run","ts":0,"dur":1e308,"pid":1,"tid":1},
      {"ph":"X","name":"run","ts":-1e308,"dur":-5,"pid":1,"tid":1},
      {"ph":"X","name":"run","ts":10,"dur":5,"pid":1,"tid":1}],
      "otherData":{"dropped_events":1e308}}]])
    assert.matches("^<svg ", svg)
    assert.is_nil(svg:find("nan", 1, true))
  end)

  it("checks its options' values and shows a key's NUL", function()
    for opts, want in pairs({ [{ width = 0 / 0 }] = "width must be an integer in 400..100000",
                              [{ max_lanes = 0 }] = "max_lanes must be an integer >= 1",
                              [{ ["w\0x"] = 1 }] = "unknown option 'w\\000x'" }) do
      local ok, err = pcall(trace_svg.render, "{}", opts)
      assert.is_false(ok)
      assert.equal("bad argument #2 to 'render' (" .. want .. ")", err)
    end
  end)

end)
