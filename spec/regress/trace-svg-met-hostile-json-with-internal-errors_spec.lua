-- corral trace-svg, given valid JSON that is no trace of corral's: args
-- that were a number, a reason or a name that was a table, raised Lua's own
-- "attempt to index/concatenate" from inside the renderer; JSON nested
-- thousands deep overflowed its stack; null, a number or an object without
-- traceEvents gave an empty picture and status 0 (an empty list of events
-- still does: an empty picture); and an unknown option was taken for a file
-- name.
local svg = require "corral.trace_svg"

local BIN = os.getenv("CORRAL_BIN") or "build/corral"

local function render(json)
  local ok, out = pcall(svg.render, json)
  return ok, out
end

local ONE = '{"ph":"X","pid":1,"tid":2,"ts":0,"dur":5,"cat":"run","name":"run"}'

describe("regression: trace-svg on JSON that is no trace of corral's", function()
  it("draws events whose fields have other types, without them", function()
    for _, odd in ipairs({
      '{"ph":"i","pid":1,"tid":2,"ts":1,"cat":"cancel","name":"c","args":5}',
      '{"ph":"i","pid":1,"tid":2,"ts":1,"cat":"cancel","name":"c","args":{"reason":{}}}',
      '{"ph":"i","pid":1,"tid":2,"ts":1,"cat":"error","name":{},"args":{"error":[1]}}',
      '{"ph":"X","pid":1,"tid":2,"ts":2,"dur":1,"cat":"run","name":{}}',
      '{"ph":"M","pid":1,"tid":2,"name":"thread_name","args":{"name":{}}}',
    }) do
      local ok, out = render('{"traceEvents":[' .. ONE .. "," .. odd .. "]}")
      assert(ok, out)
      assert.matches("^<svg", out)
    end
  end)

  it("says what is wrong with a file that is no trace", function()
    local cases = {
      ["null"] = "not a trace", ['"x"'] = "not a trace", ["5"] = "not a trace",
      ['{"a":1}'] = "not a trace",
      [string.rep("[", 5000) .. string.rep("]", 5000)] = "nested more than 200 deep",
      ['["\\u-001"]'] = "bad \\u escape", ['["\\u 41 "]'] = "bad \\u escape",
    }
    for json, want in pairs(cases) do
      local ok, err = render(json)
      assert.is_false(ok)
      assert.matches("^trace%-svg: ", err)
      assert.matches(want, err, 1, true)
    end
  end)

  it("takes an option it does not know for a usage error", function()
    local p = assert(io.popen(BIN .. " trace-svg --bogus 2>&1; echo \"exit=$?\""))
    local out = p:read("a")
    p:close()
    assert.matches("usage: ", out, 1, true)
    assert.matches("exit=2\n$", out)
  end)
end)
