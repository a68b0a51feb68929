-- A reader and a writer on one stream, the writer blocked because the peer
-- never reads (the usual per-connection pair): cancelling both made the
-- writer's cancelled write close the stream (as documented), which woke the
-- reader with "closed while in use (ECLOSED)" before its own cancel reached
-- it. Depending on spawn order, g:cancel() then raised an ErrorGroup, and a
-- move_on_after around the pair raised instead of returning false. A task
-- woken by ECLOSED while it is cancelled now raises its Cancelled.
local corral = require "corral"

local function pair(order, wrap)
  local result
  corral.run(function()
    corral.group(function(outer)
      local port = outer:start(function(ready)
        local l <close> = corral.tcp.listen("127.0.0.1", 0)
        ready(l.port)
        local peer <close> = l:accept()
        corral.sleep(math.huge)                     -- never reads
      end)
      local s <close> = corral.tcp.connect("127.0.0.1", port)
      local chunk = ("w"):rep(65536)
      local function writer() while true do s:write(chunk) end end
      local function reader() for _ in s:lines() do end end
      local function body(g)
        for _, who in ipairs(order) do
          g:spawn({ who == "writer" and writer or reader, name = who })
        end
        corral.sleep(0.05)
        if not wrap then g:cancel("enough") end
      end
      if wrap then
        result = table.pack(pcall(corral.move_on_after, 0.05, corral.group, body))
      else
        result = table.pack(pcall(corral.group, body))
      end
      outer:cancel()
    end)
  end)
  return result
end

describe("regression: a cancel whose write closed a stream another task reads", function()
  it("ends both tasks cancelled, whichever was spawned first", function()
    for _, order in ipairs({ { "writer", "reader" }, { "reader", "writer" } }) do
      local r = pair(order)
      assert.is_true(r[1], tostring(r[2]))
    end
  end)

  it("lets move_on_after return false", function()
    local r = pair({ "writer", "reader" }, true)
    assert.is_true(r[1], tostring(r[2]))
    assert.is_false(r[2])
  end)
end)
