-- spec/regress/a-channel-of-maxinteger-capacity-read-as-unbounded_spec.lua
--
-- Broke: the binding took math.maxinteger slots for "no bound", so
-- corral.channel(math.maxinteger).capacity read math.huge, and the tree of a task
-- waiting on an unbounded channel gave its capacity as math.maxinteger. A bound
-- reads back as given now, and no bound as math.huge everywhere.

local corral = require "corral"
local support = require "support"

describe("a channel's capacity", function()
  it("reads back math.maxinteger as given, and math.huge only for no bound", function()
    assert.equal(math.maxinteger, corral.channel(math.maxinteger).capacity)
    assert.equal(math.type(1), math.type(corral.channel(math.maxinteger).capacity))
    assert.equal(math.huge, corral.channel(math.huge).capacity)
  end)

  it("is math.huge in the tree of a task waiting on an unbounded channel", function()
    local seen
    support.vrun(function()
      local ch = corral.channel(math.huge)
      corral.group(function(g)
        local t = g:spawn(function() ch:recv() end)
        while t.status ~= "waiting" do corral.checkpoint() end
        local root = corral.tree({ format = "table" })
        local group = root.children[1]
        seen = group.children[1].wait
        g:cancel()
      end)
    end)
    assert.equal("recv", seen.kind)
    assert.equal(math.huge, seen.capacity)
  end)
end)
