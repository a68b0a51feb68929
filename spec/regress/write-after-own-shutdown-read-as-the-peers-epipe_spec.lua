-- s:write after our own s:shutdown() raised the IoError EPIPE, which reads
-- as if the peer (or the child) had gone. It is the program's mistake, and
-- raises a plain error at the caller's line, on TCP, on a child's stdin and
-- on testing.stream_pair alike.
local corral = require "corral"
local testing = require "corral.testing"

local MSG = "stream:write: this stream was shut down for writing (s:shutdown() was called)"

local function mistake(s)
  local ok, err = pcall(function() s:write("late") end)
  assert.is_false(ok)
  assert.is_false(corral.is_io_error(err))
  assert.equal(debug.getinfo(1, "S").short_src .. ":11: " .. MSG, err)
end

describe("a write after our own shutdown", function()
  it("is a mistake on a TCP stream", testing.async(function()
    local l <close> = corral.tcp.listen("127.0.0.1", 0)
    local c <close> = corral.tcp.connect("127.0.0.1", l.port)
    local s <close> = l:accept()
    c:shutdown()
    mistake(c)
    assert.is_nil(s:read())               -- the peer still sees a clean end
  end, { clock = "real" }))

  it("is a mistake on a child's stdin", testing.async(function()
    local p <close> = corral.exec("cat")
    p.stdin:shutdown()
    mistake(p.stdin)
    assert.is_nil(p.stdout:read())
    assert.same({ 0 }, { p:wait() })
  end, { clock = "real" }))

  it("is a mistake on testing.stream_pair", testing.async(function()
    local a, b = testing.stream_pair()
    local _ <close> = a
    local _ <close> = b
    a:shutdown()
    mistake(a)
    assert.is_nil(b:read())
  end))
end)
