-- testing.stream_pair: a write cancelled while it waited (for room, or in
-- line behind another write) wrote nothing and left its stream open, so a
-- program that went on using a stream after a timed-out write passed its
-- specs; on TCP the same cancel closes the stream with a reset (the kernel
-- may have taken part of the data), the next use raises "attempt to use a
-- closed stream" and the peer's read ECONNRESET. A close while a write was
-- under way ended the peer's reading cleanly where TCP resets it. The
-- in-memory streams now do as TCP does.
local corral = require "corral"
local testing = require "corral.testing"
local support = require "support"

describe("regression: a cancelled write left the in-memory stream open", function()
  it("a write cancelled while it waits for room closes its stream with a reset", testing.async(function()
    local a, b = testing.stream_pair({ buffer = 4 })
    local _ <close> = a
    local _ <close> = b
    a:write("abcd")
    assert.is_false(corral.move_on_after(1, a.write, a, "efgh"))
    assert.is_true(a.closed)
    support.assert_mentions(support.raises(a.write, a, "later"),
      "stream:write: attempt to use a closed stream")
    assert.equal("abcd", b:read())
    local reset = support.raises(b.read, b)
    assert.is_true(corral.is_io_error(reset))
    assert.equal("ECONNRESET", reset.code)
    assert.equal("EPIPE", support.raises(b.write, b, "back").code)
  end))

  it("so does one cancelled in line behind another: the others raise ECLOSED", testing.async(function()
    local a, b = testing.stream_pair({ buffer = 4 })
    local _ <close> = a
    local _ <close> = b
    a:write("abcd")
    local errs = {}
    corral.group(function(g)
      g:spawn(function() errs[1] = support.raises(a.write, a, "ef") end)
      testing.wait_all_tasks_blocked()
      local second = g:spawn(function() a:write("gh") end)
      testing.wait_all_tasks_blocked()
      a:shutdown()                           -- queued behind the writes
      second:cancel()
    end)
    assert.equal("ECLOSED", errs[1].code)
    assert.equal("abcd", b:read())
    assert.equal("ECONNRESET", support.raises(b.read, b).code)
  end))

  it("a close while a write is under way resets the peer; that write raises ECLOSED", testing.async(function()
    local a, b = testing.stream_pair({ buffer = 4 })
    local _ <close> = b
    a:write("abcd")
    local err
    corral.group(function(g)
      g:spawn(function() err = support.raises(a.write, a, "ef") end)
      testing.wait_all_tasks_blocked()
      a:close()
    end)
    assert.equal("ECLOSED", err.code)
    assert.equal("abcd", b:read())
    assert.equal("ECONNRESET", support.raises(b.read, b).code)
  end))

  it("a write that never waited is not cut short: in a cancelled scope it writes nothing, "
    .. "and the stream stays open", testing.async(function()
    local a, b = testing.stream_pair({ buffer = 4 })
    local _ <close> = a
    local _ <close> = b
    a:write("abcd")
    corral.scope(function(s)
      s:cancel()
      assert.is_true(corral.is_cancelled(support.raises(a.write, a, "lost")))
    end)
    assert.is_false(a.closed)
    assert.equal("abcd", b:read())
    a:write("ef")
    a:close()
    assert.equal("ef", b:read())
    assert.is_nil(b:read())                  -- nothing under way: a clean end
  end))
end)
