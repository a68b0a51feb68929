-- A channel's buffer replaced with debug.setuservalue raised only when the
-- replacement was not a table: another table was taken for the buffer, and
-- recv on an open channel returned nil (closed and drained) with items lost.
-- The channel knows its own buffer: any replacement raises.
local corral = require "corral"
local support = require "support"

describe("regression: a channel's buffer swapped for another table", function()
  for _, op in ipairs({ "recv", "send" }) do
    it("makes " .. op .. " raise, naming the channel", function()
      local ok, err = pcall(support.vrun, function()
        local ch = corral.channel(4)
        ch:send("a")
        debug.setuservalue(ch, { "x", "y" }, 1)
        if op == "recv" then ch:recv() else ch:send("b") end
      end)
      assert.is_false(ok)
      assert.matches("channel:" .. op .. ": the channel's buffer was replaced", err)
    end)
  end
end)
