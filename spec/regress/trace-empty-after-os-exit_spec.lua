-- `corral --trace t.json script.lua` with a script that ends in os.exit(n)
-- left t.json empty: os.exit ends the process without ending the run, and
-- the trace is written when the run ends. The command now writes it before
-- os.exit. And `corral trace-svg` on an empty file said "trace-svg:
-- trace-svg: bad JSON at byte 1: unexpected character".
local BIN = os.getenv("CORRAL_BIN") or "build/corral"

local function q(s) return "'" .. s:gsub("'", [['\'']]) .. "'" end

local function sh(line)
  local err = os.tmpname()
  local p = assert(io.popen(("%s 2>%s; echo $?"):format(line, q(err))))
  local code = tonumber(p:read("a"))
  p:close()
  local f = assert(io.open(err, "rb")); local text = f:read("a"); f:close(); os.remove(err)
  return code, text
end

describe("regression: the trace of a script that calls os.exit", function()
  it("is written, and trace-svg reads it", function()
    local script, trace = os.tmpname(), os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write("local corral = require 'corral'\ncorral.sleep(0.01)\nos.exit(3)\n")
    f:close()
    local code = sh(("%s --trace %s %s"):format(q(BIN), q(trace), q(script)))
    assert.equal(3, code)
    local t = assert(io.open(trace, "rb")):read("a")
    assert.matches('^{"traceEvents":%[', t)
    assert.matches("%]", t)
    local svg_code = sh(("%s trace-svg %s >/dev/null"):format(q(BIN), q(trace)))
    assert.equal(0, svg_code)
    os.remove(script)
    os.remove(trace)
  end)

  it("trace-svg names an empty file as such, once", function()
    local empty = os.tmpname()
    local code, err = sh(("%s trace-svg %s >/dev/null"):format(q(BIN), q(empty)))
    os.remove(empty)
    assert.equal(1, code)
    assert.matches("^[^:]*: trace%-svg: bad JSON at byte 1: unexpected end of input", err)
    assert.is_nil(err:find("trace-svg: trace-svg", 1, true))
  end)

  it("trace-svg draws what it can of events missing their fields", function()
    -- (an event without tid raised "attempt to concatenate a nil value")
    for _, json in ipairs({
      '{"traceEvents":[{"ph":"X","pid":1,"ts":1}]}',
      '{"traceEvents":[{"ph":"X","pid":1,"tid":1,"ts":1,"dur":"x"}]}',
      '[{"ph":"M","name":"thread_name","pid":1,"tid":1}]',
      '{"traceEvents":5}', '[1,2,"x"]',
    }) do
      local path = os.tmpname()
      local f = assert(io.open(path, "w")); f:write(json); f:close()
      local code, err = sh(("%s trace-svg %s >/dev/null"):format(q(BIN), q(path)))
      os.remove(path)
      assert.equal(0, code, json .. ": " .. err)
    end
  end)
end)
