-- Found by the second hostile pass.
--
-- §8: the trace is Chrome trace-event JSON that opens in Perfetto, and
-- trace-svg's output is an SVG readable in any browser. Three ways to break
-- them with ordinary values:
--   * a task name, group name, cancel reason or error message holding bytes
--     that are not UTF-8 ("\xff") is copied raw into the JSON: JSON must be
--     UTF-8, so Perfetto and strict parsers reject the file (ltrace.lua's str
--     escapes control bytes but not invalid sequences);
--   * under the virtual clock, corral.now() can be huge (sleep(1e303)): the
--     microsecond timestamps overflow to inf and are written as `inf`, which
--     is not JSON;
--   * trace_svg.lua's esc() escapes < > & " ' but leaves control bytes ("\1"),
--     which are not allowed in XML 1.0 even as references: the SVG is not
--     well-formed.
local corral = require "corral"
local svg = require "corral.trace_svg"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  os.remove(path)
  return s
end

describe("regression: the trace and its SVG stay well-formed", function()
  it("a name or error that is not UTF-8 still gives a UTF-8 trace", function()
    local path = os.tmpname()
    local bad = "bad\xff\xfename"
    pcall(corral.run, function()
      corral.group(function(g)
        g:spawn({ function() error(bad) end, name = bad })
      end, { name = bad })
    end, { clock = "virtual", trace = path })
    local text = read(path)
    assert.is_truthy(utf8.len(text), "the trace file is not valid UTF-8")
  end)

  it("huge virtual times give numbers, never inf or nan", function()
    local path = os.tmpname()
    corral.run(function()
      corral.sleep(1e303)
      corral.sleep(1e303)
    end, { clock = "virtual", trace = path })
    local text = read(path)
    assert.is_falsy(text:find('"ts":%-?inf') or text:find('"ts":%-?nan'),
      "a timestamp was written as inf/nan")
    assert.is_falsy(text:find('"dur":%-?inf') or text:find('"dur":%-?nan'),
      "a duration was written as inf/nan")
  end)

  it("trace-svg never writes a control character into the SVG", function()
    local json = '{"traceEvents":[' ..
      '{"ph":"M","name":"thread_name","pid":1,"tid":1,"args":{"name":"a\\u0001b\\u0000c<&>"}},' ..
      '{"ph":"X","pid":1,"tid":1,"ts":0,"dur":10,"cat":"run","name":"x"},' ..
      '{"ph":"i","pid":1,"tid":1,"ts":5,"cat":"error","name":"e","args":{"error":"boom\\u0002"}}]}'
    local out = svg.render(json)
    assert.is_falsy(out:find("[%z\1-\8\11\12\14-\31]"), "a control byte reached the SVG")
    assert.matches("a.b.c&lt;&amp;&gt;", out)
  end)
end)
