-- A write cancelled (or closed) after s:shutdown() had been queued behind
-- it gave the peer a clean end after a cut-off message: libuv refuses a
-- reset close after a shutdown, so the stream was closed with a FIN. The
-- peer now reads ECONNRESET, as it does for any cancelled write.
local corral = require "corral"
local support = require "support"

-- Drain s: the code of the IoError its read raised, or "clean end".
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
      support.with_tcp_pair(function(srv, c)
        corral.group(function(g)
          local big, ws = string.rep("x", 32 << 20), nil
          g:spawn(function()
            if how == "cancel" then corral.scope(function(s) ws = s; c:write(big) end)
            else pcall(c.write, c, big) end
          end)
          corral.sleep(0.01)               -- the write waits: srv reads nothing
          c:shutdown()                     -- queued behind the write
          -- (cancelled by hand, not by a deadline: a deadline that had passed
          -- with the sleep's on a loaded machine closed the stream first)
          if how == "cancel" then ws:cancel() else corral.sleep(0.04); c:close() end
        end)
        seen = drain(srv)
      end)
      assert.equal("ECONNRESET", seen)
    end)
  end
end)
