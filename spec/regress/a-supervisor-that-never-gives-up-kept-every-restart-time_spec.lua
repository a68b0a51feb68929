-- A supervisor with period = math.huge (every restart counts for ever) kept
-- the time of each restart in its intensity window; with intensity =
-- math.huge as well it never gives up, so a child crashing in a loop grew
-- that list without bound: 16 bytes and more per restart, for the life of
-- the program. With an infinite period no time is ever read, and none is kept.
local corral = require "corral"
local supervisor = require "corral.supervisor"

local function kbytes()
  collectgarbage("collect")
  collectgarbage("collect")
  return collectgarbage("count")
end

describe("regression: a supervisor that never gives up kept every restart time", function()
  it("holds no more memory after 20000 more restarts", function()
    local marks, reached = {}, {}
    corral.run(function()
      reached[2000], reached[22000] = corral.event(), corral.event()
      supervisor.run({ intensity = math.huge, period = math.huge, children = {
        { name = "crasher", fn = function(child)
            local e = reached[child.restarts]
            if e then e:set(); child:wait_stopping(); return end
            error("crash", 0)
          end },
      } }, function(sup)
        reached[2000]:wait()
        marks[1] = kbytes()
        sup:restart("crasher")          -- a manual restart does not count
        reached[22000]:wait()
        marks[2] = kbytes()
        sup:stop()
      end)
    end, { clock = "virtual" })
    assert.is_true(marks[2] - marks[1] < 200,
      ("grew %.0f KB over 20000 restarts"):format(marks[2] - marks[1]))
  end)
end)
