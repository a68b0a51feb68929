-- testing.stream_pair: writes that waited for room went out in whatever
-- order their tasks woke in (under some seeds, the later call's bytes
-- first); on TCP they go out in the order they were called.
local corral = require "corral"
local testing = require "corral.testing"

local read_all = require("support").read_all

describe("stream_pair writes waiting for room", function()
  it("go out in call order under every seed", function()
    testing.each_seed(30, function()
      local a, b = testing.stream_pair({ buffer = 4 })
      local _ <close> = a
      local _ <close> = b
      a:write("abcd")                        -- the buffer is full
      corral.group(function(g)
        g:spawn(function() a:write("ef") end)
        testing.wait_all_tasks_blocked()
        g:spawn(function() a:write("gh") end)
        testing.wait_all_tasks_blocked()
        g:spawn(function() a:write("ij") end)
        testing.wait_all_tasks_blocked()
        a:shutdown()
        assert.equal("abcdefghij", read_all(b))
      end)
    end)
  end)

  it("let the next in line go when one of them is cancelled", testing.async(function()
    local a, b = testing.stream_pair({ buffer = 4 })
    local _ <close> = a
    local _ <close> = b
    a:write("abcd")
    corral.group(function(g)
      local first = g:spawn(function() a:write("ef") end)
      testing.wait_all_tasks_blocked()
      g:spawn(function() a:write("gh") end)
      testing.wait_all_tasks_blocked()
      first:cancel()
      a:shutdown()
      assert.equal("abcdgh", read_all(b))
    end)
  end))
end)
