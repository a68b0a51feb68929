-- A trace whose ring dropped a few of its oldest events lost every spawn
-- arrow of a parent whose first kept record came after its spawns (the
-- writer drew an arrow only while it knew the parent ran): 2,000 spawns,
-- 13 events dropped, 1,989 spawn marks and no arrow. A spawn comes from a
-- running task: the parent ran since before the window.
local corral = require "corral"
local json = require "dkjson"

local function spawn_counts(limit)
  local path = os.tmpname()
  corral.run(function()
    corral.group(function(g)
      for _ = 1, 2000 do g:spawn(corral.sleep, 1) end
      corral.sleep(0.5)
      g:cancel()
    end)
  end, { clock = "virtual", trace = path, trace_limit = limit })
  local f = assert(io.open(path))
  local trace = assert(json.decode(f:read("a")))
  f:close()
  os.remove(path)
  local marks, arrows = 0, 0
  for _, e in ipairs(trace.traceEvents) do
    if e.cat == "spawn" then marks = marks + 1 end
    if e.cat == "flow" and e.name == "spawn" and e.ph == "s" then arrows = arrows + 1 end
  end
  return trace.otherData.dropped_events, marks, arrows
end

describe("regression: spawn arrows vanished when the ring dropped the parent's first run", function()
  it("draws an arrow for every spawn kept", function()
    local dropped, marks, arrows = spawn_counts(18000)
    assert.is_true(dropped > 0)
    assert.is_true(marks > 1900)
    assert.equal(marks, arrows)
  end)
end)
