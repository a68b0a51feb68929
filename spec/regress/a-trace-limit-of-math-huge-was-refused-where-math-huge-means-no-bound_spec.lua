-- What broke: corral.run(fn, {trace = path, trace_limit = math.huge}) raised
-- "trace_limit must be an integer >= 1", although math.huge means "no bound"
-- everywhere else in the API (a group's limit, a channel's capacity, a sleep).
-- It now keeps every event, as the largest integer limit does.

local corral = require "corral"
local json = require "dkjson"

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

describe("trace_limit = math.huge", function()
  it("is no bound: every event is kept and none dropped", function()
    local path = os.tmpname()
    corral.run(function()
      corral.group(function(g)
        for i = 1, 3000 do g:spawn(corral.sleep, i % 7) end
      end)
    end, { clock = "virtual", trace = path, trace_limit = math.huge })
    local doc = json.decode(slurp(path))
    os.remove(path)
    assert.equal(0, doc.otherData.dropped_events)
    assert.equal(math.maxinteger, doc.otherData.trace_limit)
    assert.is_true(doc.otherData.events > 9000)
  end)

  it("still refuses -math.huge, NaN and fractions", function()
    for _, bad in ipairs({ -math.huge, 0 / 0, 1.5, 0 }) do
      assert.error_matches(function()
        corral.run(function() end, { trace = "/nonexistent/t.json", trace_limit = bad })
      end, "trace_limit must be an integer >= 1", 1, true)
    end
  end)
end)
