-- For a day, a TCP stream closed with bytes the peer sent still unread in
-- corral's read-ahead buffer was closed with a reset, as the kernel resets
-- a socket closed with unread data. But corral had taken those bytes from
-- the kernel, as a program's recv would have, and the reset threw away the
-- reply still queued to go out: a server answering a POST without reading
-- its body (a 404, a 413) sent 128 kB of a 2 MB reply, then ECONNRESET. The
-- close is a clean end again, and the reply arrives whole.
local corral = require "corral"
local testing = require "corral.testing"

describe("regression: a server that leaves part of a request unread", function()
  it("delivers its whole reply, then a clean end", function()
    local reply = "HTTP/1.0 404 Not Found\r\n\r\n" .. string.rep("x", 2 << 20)
    local got, ending
    corral.run(function()
      corral.group(function(g)
        local port = g:start(function(ready)
          corral.tcp.serve("127.0.0.1", 0, function(s)
            repeat local l = s:read_line() until l == nil or l == ""
            s:write(reply)                  -- the body is left unread
          end, { ready = ready })
        end)
        local c <close> = corral.tcp.connect("127.0.0.1", port)
        c:write("POST /upload HTTP/1.0\r\nContent-Length: 7\r\n\r\na=1&b=2")
        local parts = {}
        local ok, e = pcall(function()
          for d in function() return c:read() end do parts[#parts + 1] = d end
        end)
        got, ending = table.concat(parts), ok and "clean end" or e
        g:cancel()
      end)
    end)
    assert.equal("clean end", ending)
    assert.equal(#reply, #got)
  end)

  it("is matched by testing.stream_pair once the end has read", function()
    local after
    testing.run(function()
      local a, b = testing.stream_pair()
      local _ <close> = b
      b:write("GET\n")
      b:write("trailing bytes")
      assert.equal("GET", a:read_line())
      a:write("reply")
      a:close()                             -- "trailing bytes" unread
      assert.equal("reply", b:read())
      after = { pcall(b.read, b) }
    end)
    assert.same({ true }, after)            -- nil: a clean end
  end)
end)
