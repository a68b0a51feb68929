-- A stream_pair reader waited to take a read whole (so that a cancelled call
-- consumes nothing), even when it asked for more than the writer may leave
-- unread (`buffer`): read_exactly(100000) on a 64 kB buffer, or read_line()
-- (max 65536, which asks for up to 65538 bytes) of a longer line, waited for
-- bytes the blocked writer could never send: a deadlock, where TCP streams
-- return the data or raise EMSGSIZE. Past the buffer the reader now takes
-- what the buffer holds, as a TCP stream takes its 64 kB.
local corral = require "corral"
local testing = require "corral.testing"
local support = require "support"

describe("regression: stream_pair reads larger than the buffer", function()
  it("read_exactly(n) with n over the buffer returns the data", function()
    local got
    support.vrun(function()
      local a, b = testing.stream_pair()
      local _ <close> = a
      local _ <close> = b
      corral.group(function(g)
        g:spawn(function() for _ = 1, 100 do a:write(("x"):rep(1000)) end end)
        got = b:read_exactly(100000)
      end)
    end)
    assert.equal(100000, #got)
  end)

  it("read_line() of a line over the buffer raises EMSGSIZE", function()
    local err
    support.vrun(function()
      local a, b = testing.stream_pair()
      local _ <close> = a
      local _ <close> = b
      corral.group(function(g)
        g:spawn(function()
          for _ = 1, 1100 do a:write(("y"):rep(64)) end
          a:write("\n")
        end)
        local ok
        ok, err = pcall(b.read_line, b)
        assert.is_false(ok)
        g:cancel()
      end)
    end)
    assert.equal("EMSGSIZE", err.code)
  end)

  it("read_line(max) with max + 2 over a small buffer raises EMSGSIZE", function()
    local err
    support.vrun(function()
      local a, b = testing.stream_pair({ buffer = 10 })
      local _ <close> = a
      local _ <close> = b
      corral.group(function(g)
        g:spawn(function() for _ = 1, 200 do a:write("x") end end)
        local ok
        ok, err = pcall(b.read_line, b, 9)
        assert.is_false(ok)
        g:cancel()
      end)
    end)
    assert.equal("EMSGSIZE", err.code)
  end)
end)
