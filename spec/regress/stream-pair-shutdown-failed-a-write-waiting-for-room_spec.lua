-- testing.stream_pair: a shutdown by one task while another's write waited
-- for room failed that write with EPIPE, and its bytes never reached the
-- peer. On TCP the shutdown is queued behind the write, which completes:
-- the peer reads every byte, then the end of file.
local corral = require "corral"
local testing = require "corral.testing"

local support = require "support"
local read_all = support.read_all

describe("a stream_pair shutdown while a write waits for room", function()
  it("lets the write complete, then ends the peer's reading", testing.async(function()
    local a, b = testing.stream_pair({ buffer = 4 })
    local _ <close> = a
    local _ <close> = b
    a:write("1234")                          -- the buffer is full
    corral.group(function(g)
      g:spawn(function() a:write("5678") end)
      testing.wait_all_tasks_blocked()       -- the write waits for room
      a:shutdown()
      assert.equal("12345678", read_all(b))
    end)
  end))

  -- (as on TCP, the waiting write's cancel closes the stream with a reset:
  -- see a-cancelled-write-left-the-in-memory-stream-open)
  it("ends the peer's reading after a waiting write that was cancelled", testing.async(function()
    local a, b = testing.stream_pair({ buffer = 4 })
    local _ <close> = a
    local _ <close> = b
    a:write("1234")
    corral.group(function(g)
      local t = g:spawn(function() a:write("5678") end)
      testing.wait_all_tasks_blocked()
      a:shutdown()
      t:cancel()
      testing.wait_all_tasks_blocked()
      assert.equal("1234", b:read())
      -- then the end (a reset, the write cut short), not a wait for ever
      assert.equal("ECONNRESET", support.raises(b.read, b).code)
    end)
  end))
end)
