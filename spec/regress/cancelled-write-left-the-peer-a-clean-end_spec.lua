-- A write cancelled under backpressure closes its stream (a write cannot be
-- taken back from the kernel), but it closed it with a FIN: the peer read a
-- truncated message followed by a clean end, and could not tell it from a
-- complete one. The stream is now closed with a reset, so the peer's read
-- raises ECONNRESET.
local corral = require "corral"
local testing = require "corral.testing"

describe("regression: a cancelled write", function()
  it("ends the connection with a reset the peer sees", function()
    local peer_err, got
    corral.run(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      local c <close> = corral.tcp.connect("127.0.0.1", l.port)
      local s <close> = l:accept()
      local msg = string.rep("x", 64 << 20)   -- far more than the buffers hold
      corral.group(function(g)
        local w = g:spawn(function() c:write(msg) end)
        testing.wait_all_tasks_blocked()        -- the writer waits for room
        w:cancel()
      end)
      assert.is_true(c.closed)
      got = 0
      while true do
        local ok, d = pcall(s.read, s)
        if not ok then peer_err = d break end
        assert.is_not_nil(d, "the peer read a clean end after a cut-off transfer")
        got = got + #d
      end
    end)
    assert.is_true(corral.is_io_error(peer_err))
    assert.equal("ECONNRESET", peer_err.code)
    assert.is_true(got < 64 << 20)
  end)
end)
