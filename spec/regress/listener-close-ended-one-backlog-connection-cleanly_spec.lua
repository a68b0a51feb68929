-- Closing a listener with connections nobody accepted: the kernel reset
-- those in its backlog, but the one libuv had accepted ahead (and held an
-- fd for) was closed cleanly, so one client read a clean end and the
-- others ECONNRESET. That one is reset too now.
local corral = require "corral"

describe("regression: a listener closed with a backlog", function()
  it("resets every connection nobody accepted", function()
    local errs = {}
    corral.run(function()
      local l = corral.tcp.listen("127.0.0.1", 0)
      local clients = {}
      for i = 1, 3 do clients[i] = corral.tcp.connect("127.0.0.1", l.port) end
      corral.sleep(0)                  -- libuv takes one ahead meanwhile
      l:close()
      for i, c in ipairs(clients) do
        local ok, err = pcall(c.read, c)
        errs[i] = ok and ("read " .. tostring(err)) or err.code
        c:close()
      end
    end)
    assert.same({ "ECONNRESET", "ECONNRESET", "ECONNRESET" }, errs)
  end)
end)
