-- An unbounded channel (corral.channel(math.huge)) buffers its values in a
-- table whose keys move on with every value. Lua gives a table back the
-- room of a burst only when it inserts into one that is full, so a channel
-- drained after a burst of a million values kept about 16 MB for as long as
-- it stayed idle. The receive that drains it now gives it a fresh buffer.
local corral = require "corral"

describe("regression: a drained unbounded channel kept its peak memory", function()
  local function kb() collectgarbage(); collectgarbage(); return collectgarbage("count") end

  it("gives the burst's memory back once drained, in order and whole", function()
    corral.run(function()
      local ch = corral.channel(math.huge)
      local base = kb()
      for i = 1, 200000 do ch:send(i) end
      assert.is_true(kb() - base > 1000)         -- the burst: megabytes
      for i = 1, 200000 do assert.equal(i, ch:recv()) end
      assert.is_true(kb() - base < 64, "kept " .. (kb() - base) .. " KB")
      ch:send("after"); ch:send("more")         -- and it goes on as before
      assert.equal("after", ch:recv())
      assert.equal("more", select(1, ch:try_recv()))
      assert.same({ nil, "empty" }, { ch:try_recv() })
    end, { clock = "virtual" })
  end)

  it("a channel that never empties keeps every value, in order", function()
    corral.run(function()
      local ch = corral.channel(math.huge)
      ch:send(0)
      for i = 1, 10000 do ch:send(i); assert.equal(i - 1, ch:recv()) end
      assert.equal(10000, ch:recv())
    end, { clock = "virtual" })
  end)
end)
