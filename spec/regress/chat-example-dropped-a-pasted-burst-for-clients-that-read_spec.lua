-- Regression: scripts/examples/chat.lua (shown in docs/examples.md) posted
-- every line of a client's read into the other clients' outboxes of 64 lines
-- without letting their writers run in between: a client that pasted 200
-- lines at once (one read) overflowed the outbox of a client that read all
-- the time, which got 65 of them. Found by a user writing a broker on the
-- example's pattern. The handler gives the writers a turn after each line.
local BIN = os.getenv("CORRAL_BIN") or "build/corral"
local corral = require "corral"

describe("regression: the chat example under a pasted burst", function()
  it("delivers every line to a client that keeps reading", function()
    local got, ended = 0, nil
    corral.run(function()
      local l = corral.tcp.listen("127.0.0.1", 0)     -- a free port, then let go
      local port = l.port
      l:close()
      local srv <close> = corral.exec(BIN, { "scripts/examples/chat.lua", tostring(port) },
        { stdout = "pipe" })
      assert.matches("^chat on port", srv.stdout:read_line())
      local reader <close> = corral.tcp.connect("127.0.0.1", port)
      local talker <close> = corral.tcp.connect("127.0.0.1", port)
      corral.sleep(0.1)                                -- both handlers running
      local burst = {}
      for i = 1, 200 do burst[i] = "line " .. i .. "\n" end
      talker:write(table.concat(burst))                -- one write, one read
      corral.move_on_after(5, function()
        for line in reader:lines() do
          got = got + 1
          assert.matches(": line " .. got .. "$", line)
          if got == 200 then break end
        end
      end)
      reader:close()
      talker:close()
      corral.sleep(0.1)                                -- their handlers end
      srv:kill("SIGINT")
      ended = srv:wait()
    end)
    assert.equal(200, got)
    assert.equal(0, ended)
  end)
end)
