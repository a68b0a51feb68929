-- Found by the fourth hostile pass.
--
-- §8: the trace has "a track per task ... run slices; waits" and "opens in
-- Perfetto", which drops a complete ("X") slice that starts inside another
-- of its track and ends past it. The writer printed each slice's ts and dur
-- rounded to the nanosecond (three decimals of a microsecond) each on its
-- own. Past a day or so of virtual time (ts >= 1e11 us), a double no longer
-- holds ts to the nanosecond, so ts + dur as written could end a nanosecond
-- after the next slice of the same task began (a run, then the wait that
-- follows it): at corral.now() = 1e6 (a spec that sleeps eleven days), a
-- run of 0.002 us at ...0.396 overlapped the wait written at ...0.397.
local corral = require "corral"

-- Integer nanoseconds of a number as written ("1000000000000.396").
local function ns(text)
  local int, frac = text:match("^(%d+)%.(%d%d%d)$")
  assert(int, "unexpected number format: " .. text)
  return tonumber(int) * 1000 + tonumber(frac)
end

-- Every X slice of the file, as {from, to} in integer ns, by track.
local function slices(text)
  local by = {}
  for ev in text:gmatch('{"ph":"X"[^\n]*') do
    local ts = ev:match('"ts":([%d%.]+)')
    local dur = ev:match('"dur":([%d%.]+)')
    local track = ev:match('"pid":(%d+)') .. "/" .. ev:match('"tid":(%d+)')
    local from = ns(ts)
    by[track] = by[track] or {}
    table.insert(by[track], { from, from + ns(dur) })
  end
  return by
end

describe("regression: trace slices overlapped after a day of virtual time", function()
  it("writes each track's slices end to end or nested, never crossing", function()
    local path = os.tmpname()
    for _, start in ipairs({ 1e5, 1e6, 3e7 }) do
      corral.run(function()
        corral.sleep(start)
        corral.group(function(g)
          for i = 1, 50 do
            g:spawn(function()
              for _ = 1, 3 do corral.checkpoint() end
              corral.sleep(1)
              if i == 7 then g:cancel("x") end
              corral.sleep(1)
            end)
          end
        end)
      end, { clock = "virtual", trace = path })
      local f = assert(io.open(path, "rb"))
      local text = f:read("a")
      f:close()
      for track, list in pairs(slices(text)) do
        table.sort(list, function(a, b) return a[1] < b[1] end)
        for k = 2, #list do
          local a, b = list[k - 1], list[k]
          assert(b[1] >= a[2] or b[2] <= a[2], string.format(
            "at %g s, track %s: slice [%d, %d] crosses [%d, %d]",
            start, track, b[1], b[2], a[1], a[2]))
        end
      end
    end
    os.remove(path)
  end)
end)
