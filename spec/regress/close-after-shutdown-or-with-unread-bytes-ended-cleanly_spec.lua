-- Two closes that cut a TCP connection short still sent a clean end (FIN):
-- a write cancelled (or closed) after s:shutdown() had been queued behind
-- it, because libuv refuses a reset close after a shutdown, and a stream
-- closed with bytes the peer sent still unread in corral's read-ahead
-- buffer, where the kernel (which resets a socket closed with unread data)
-- no longer saw them. The peer now reads ECONNRESET in both, as it does
-- for a plain cancelled write, and as testing.stream_pair says TCP does.
local corral = require "corral"
local support = require "support"

-- Drain s: "reset" if its read raised ECONNRESET, else what happened.
local function drain(s)
  while true do
    local ok, d = pcall(s.read, s)
    if not ok then return corral.is_io_error(d) and d.code or tostring(d) end
    if d == nil then return "clean end" end
  end
end

describe("regression: a connection cut short", function()
  for _, how in ipairs({ "cancel", "close" }) do
    it("resets after a shutdown queued behind the write (" .. how .. ")", function()
      local seen
      corral.run(function()
        local l <close> = corral.tcp.listen("127.0.0.1", 0)
        local srv, c = support.tcp_pair(l)
        local _srv <close> = srv
        local _c <close> = c
        corral.group(function(g)
          g:spawn(function()
            local big = string.rep("x", 32 << 20)
            if how == "cancel" then corral.move_on_after(0.05, c.write, c, big)
            else pcall(c.write, c, big) end
          end)
          corral.sleep(0.01)
          c:shutdown()                     -- queued behind the write
          if how == "close" then corral.sleep(0.04); c:close() end
        end)
        seen = drain(srv)
      end)
      assert.equal("ECONNRESET", seen)
    end)
  end

  it("resets when closed with read-ahead bytes unread", function()
    local seen
    corral.run(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      local srv, c = support.tcp_pair(l)
      local _c <close> = c
      c:write("one\ntwo\n")
      assert.equal("one", srv:read_line())
      srv:close()                          -- "two\n" is still in its buffer
      seen = drain(c)
    end)
    assert.equal("ECONNRESET", seen)
  end)
end)
