-- The peer accepts and closes at once; we write, then read. Linux answers
-- the write with a reset but keeps EPIPE as the socket's pending error (the
-- reset came after the peer's FIN), and the read raised
-- "stream:read: broken pipe (EPIPE)": a reset is ECONNRESET for a read, as
-- the docs say, whatever the kernel's word for it.
local corral = require "corral"

describe("regression: a read after the peer closed and our write was reset", function()
  it("raises ECONNRESET (or reads the end), never EPIPE", function()
    local codes = {}
    corral.run(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      for _ = 1, 20 do
        corral.group(function(g)
          g:spawn(function() local s = l:accept(); s:close() end)
          local c <close> = corral.tcp.connect("127.0.0.1", l.port)
          pcall(c.write, c, "hello")
          local ok, e = pcall(c.read, c)
          codes[#codes + 1] = ok and tostring(e) or e.code
        end)
      end
    end)
    for _, code in ipairs(codes) do
      assert.is_true(code == "ECONNRESET" or code == "nil", code)
    end
  end)
end)
