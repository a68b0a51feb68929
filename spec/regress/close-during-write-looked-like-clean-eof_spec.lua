-- A TCP stream closed by one task while another task's write still had bytes
-- to send let the peer read the cut-off message and then a clean EOF, as if
-- it were complete (a cancelled write already reset the connection). Now the
-- close resets too, so the peer's read raises ECONNRESET.
local corral = require "corral"

describe("regression: closing a stream while a write is under way", function()
  it("resets the connection: the peer does not see a clean end", function()
    local outcome, writer_err
    corral.run(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      corral.group(function(g)
        g:spawn(function()
          local s <close> = l:accept()
          while true do
            local ok, d = pcall(s.read, s)
            if not ok then outcome = d break end
            if d == nil then outcome = "clean EOF" break end
          end
        end)
        local c = corral.tcp.connect("127.0.0.1", l.port)
        local writer = g:spawn(function()
          local ok, err = pcall(function()
            while true do c:write(string.rep("y", 1 << 22)) end
          end)
          writer_err = not ok and err
        end)
        corral.sleep(0.05)
        -- under way: parked in a write (between two writes, woken by the
        -- last one's end, a close is a clean end and the next write the
        -- program's mistake; a loaded machine once closed there)
        while writer.status ~= "waiting" do corral.checkpoint() end
        c:close()
      end)
    end)
    assert.truthy(tostring(writer_err):find("ECLOSED", 1, true), tostring(writer_err))
    assert.truthy(tostring(outcome):find("ECONNRESET", 1, true), tostring(outcome))
  end)
end)
