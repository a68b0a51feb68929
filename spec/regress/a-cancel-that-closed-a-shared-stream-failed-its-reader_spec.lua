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

  -- (found verifying the above) a reader that data had woken, the cancel and
  -- the close coming before it ran, still failed with ECLOSED
  it("ends a reader cancelled after data woke it, both spawn orders", function()
    for _, wr in ipairs({ true, false }) do
      local res
      corral.run(function()
        corral.group(function(outer)
          local l <close> = corral.tcp.listen("127.0.0.1", 0)
          local peers = {}
          outer:spawn(function()
            for i = 1, 2 do peers[i] = l:accept() end
            corral.sleep(math.huge)
          end)
          local a <close> = corral.tcp.connect("127.0.0.1", l.port)   -- the canceller's
          local s <close> = corral.tcp.connect("127.0.0.1", l.port)   -- shared
          while not peers[2] do corral.sleep(0.01) end
          res = table.pack(pcall(corral.group, function(g)
            local function writer() local chunk = ("w"):rep(65536) while true do s:write(chunk) end end
            local function reader() while true do s:read() end end
            g:spawn(wr and writer or reader)
            g:spawn(wr and reader or writer)
            g:spawn(function() a:read(); g:cancel("from the canceller") end)
            corral.sleep(0.05)                 -- the writer is blocked by now
            peers[1]:write("a")                -- both readable in one poll,
            peers[2]:write("b")                -- the canceller's first
            corral.sleep(math.huge)
          end))
          outer:cancel()
        end)
      end)
      assert.is_true(res[1], tostring(res[2]))
    end
  end)

  it("lets move_on_after return false", function()
    local r = pair({ "writer", "reader" }, true)
    assert.is_true(r[1], tostring(r[2]))
    assert.is_false(r[2])
  end)
end)
