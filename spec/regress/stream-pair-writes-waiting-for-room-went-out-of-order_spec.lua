-- testing.stream_pair: writes that waited for room went out in whatever
-- order their tasks woke in (under some seeds, the later call's bytes
-- first); on TCP they go out in the order they were called.
local corral = require "corral"
local testing = require "corral.testing"

local support = require "support"
local read_all = support.read_all

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

  -- (as on TCP, whose kernel may have taken part of it, a cancelled waiting
  -- write closes the stream with a reset: see
  -- a-cancelled-write-left-the-in-memory-stream-open)
  it("fail the next in line when one of them is cancelled, and reset the peer", testing.async(function()
    local a, b = testing.stream_pair({ buffer = 4 })
    local _ <close> = a
    local _ <close> = b
    a:write("abcd")
    local second
    corral.group(function(g)
      local first = g:spawn(function() a:write("ef") end)
      testing.wait_all_tasks_blocked()
      g:spawn(function() second = support.raises(a.write, a, "gh") end)
      testing.wait_all_tasks_blocked()
      first:cancel()
    end)
    assert.equal("ECLOSED", second.code)
    assert.equal("abcd", b:read())
    assert.equal("ECONNRESET", support.raises(b.read, b).code)
  end))
end)
