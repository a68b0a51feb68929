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

end)
