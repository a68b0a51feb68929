-- A stream_pair end closed with bytes still unread gave its peer a clean end
-- of file, where TCP resets the connection and the peer's read raises
-- ECONNRESET after what it had: a spec could pass where production sees a
-- reset. The peer now reads what it has, then ECONNRESET.
local corral = require "corral"
local testing = require "corral.testing"
local support = require "support"

describe("regression: a stream_pair end closed with bytes unread", function()
  it("resets the peer after the data it had", function()
    local got, err
    support.vrun(function()
      local a, b = testing.stream_pair()
      local _ <close> = b
      a:write("to b")
      b:write("to a, never read")
      a:close()
      got = b:read()
      local ok
      ok, err = pcall(b.read_line, b)
      assert.is_false(ok)
    end)
    assert.equal("to b", got)
    assert.is_true(corral.is_io_error(err))
    assert.equal("ECONNRESET", err.code)
    assert.equal("stream:read_line: connection reset by peer (ECONNRESET)", tostring(err))
  end)

  it("ends cleanly when nothing was left unread", function()
    local got, after
    support.vrun(function()
      local a, b = testing.stream_pair()
      local _ <close> = b
      a:write("x")
      a:close()
      got, after = b:read(), b:read()
    end)
    assert.equal("x", got)
    assert.is_nil(after)
  end)
end)
