-- trace-svg's collapsed lane shaded a column "running" at a quarter of full
-- green whenever any of the group's tasks ran in it at all, so a thousand
-- handlers that each ran a microsecond drew a solid running band over the
-- whole run. The running row now shows how much of each column one of them
-- ran (one runs at a time), and too little to see is not drawn.
local trace_svg = require "corral.trace_svg"

local GREEN = "#2e7d32"

-- A trace of one group (pid 2) of n tasks: each runs `dur` µs at its own
-- time over one second, and waits otherwise; task 1 also runs `busy` µs.
local function trace(n, dur, busy)
  local ev = { '{"ph":"M","name":"process_name","pid":2,"args":{"name":"group g #2"}}' }
  for i = 1, n do
    local at = (i - 1) * 1e6 / n
    ev[#ev + 1] = ('{"ph":"M","name":"thread_name","pid":2,"tid":%d,"args":{"name":"t%d #%d"}}'):format(i, i, i)
    ev[#ev + 1] = ('{"ph":"X","cat":"run","name":"run","pid":2,"tid":%d,"ts":%.3f,"dur":%.3f}'):format(i, at, dur)
    ev[#ev + 1] = ('{"ph":"X","cat":"wait","name":"sleep","pid":2,"tid":%d,"ts":%.3f,"dur":%.3f}'):format(i, at + dur, 1e6 - at - dur)
  end
  if busy then
    ev[#ev + 1] = ('{"ph":"X","cat":"run","name":"run","pid":2,"tid":1,"ts":500000,"dur":%d}'):format(busy)
  end
  return '{"traceEvents":[' .. table.concat(ev, ",") .. ']}'
end

local function green_opacities(svg)
  local list = {}
  for o in svg:gmatch('fill="' .. GREEN .. '" fill%-opacity="([%d.]+)"') do list[#list + 1] = tonumber(o) end
  return list
end

describe("regression: a collapsed group showed short runs as running throughout", function()
  it("a microsecond's run per task draws no running band", function()
    local svg = trace_svg.render(trace(100, 1))
    assert.truthy(svg:find("100 tasks (collapsed)", 1, true))
    assert.same({}, green_opacities(svg))
  end)

  -- (the first fix drew nothing where one task of a thousand waited: the
  -- one that held the group open)
  it("one task waiting on is still drawn", function()
    -- 1000 tasks wait 10 ms; one of them waits the whole second
    local ev = { '{"ph":"M","name":"process_name","pid":2,"args":{"name":"group g #2"}}' }
    for i = 1, 1000 do
      ev[#ev + 1] = ('{"ph":"X","cat":"wait","name":"sleep","pid":2,"tid":%d,"ts":0,"dur":%d}')
        :format(i, i == 1 and 1000000 or 10000)
    end
    local svg = trace_svg.render('{"traceEvents":[' .. table.concat(ev, ",") .. ']}')
    local late = 0                       -- waiting drawn in the picture's second half
    for x in svg:gmatch('<rect x="(%d+)" y="[%d.]+" width="1" height="[%d.]+" fill="#90caf9"') do
      if tonumber(x) > 800 then late = late + 1 end
    end
    assert.is_true(late > 100)
  end)

  it("one task computing for a while is full green there", function()
    local svg = trace_svg.render(trace(100, 1, 100000))
    local full = 0
    for _, o in ipairs(green_opacities(svg)) do if o == 1 then full = full + 1 end end
    assert.is_true(full >= 50)          -- 0.1 s of a 1 s picture, 1200 px wide
  end)
end)
