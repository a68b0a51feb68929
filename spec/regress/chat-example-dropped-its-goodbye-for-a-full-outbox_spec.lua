-- Regression: scripts/examples/chat.lua (shown in docs/examples.md) said
-- goodbye on Ctrl-C with the try_send that drops a line for a full outbox,
-- so in a busy room the clients most behind were never told the server was
-- going down. Each client's own task queues it now, waiting for room.
local BIN = os.getenv("CORRAL_BIN") or "build/corral"
local corral = require "corral"

describe("regression: the chat example's goodbye", function()
  it("reaches a client whose outbox was full when Ctrl-C came", function()
    local told, ended
    corral.run(function()
      local l = corral.tcp.listen("127.0.0.1", 0)     -- a free port, then let go
      local port = l.port
      l:close()
      local srv = corral.exec(BIN, { "scripts/examples/chat.lua", tostring(port) },
        { stdout = "pipe" })
      local _ <close> = srv
      assert.matches("^chat on port", srv.stdout:read_line())
      local behind = corral.tcp.connect("127.0.0.1", port)   -- reads nothing yet
      local talker = corral.tcp.connect("127.0.0.1", port)
      corral.sleep(0.05)
      local long = ("x"):rep(50000)                  -- 20 MB: more than the
      for i = 1, 400 do talker:write(i .. long .. "\n") end   -- sockets hold
      corral.sleep(0.3)                                -- behind's outbox is full
      srv:kill("SIGINT")
      corral.move_on_after(4, function()
        for line in behind:lines() do
          if line == "server: closing in 5 s" then told = true; break end
        end
      end)
      talker:close()
      behind:close()
      ended = srv:wait()
    end)
    assert.is_true(told, "the client behind was not told")
    assert.equal(0, ended)
  end)

  -- (its first fix left the goodbye's task blocked in send when the client
  -- reset: the outbox closed under it, and serve logged "channel is closed")
  it("is dropped quietly for a client that resets while it waits for room", function()
    local errors
    corral.run(function()
      local l = corral.tcp.listen("127.0.0.1", 0)
      local port = l.port
      l:close()
      local srv = corral.exec(BIN, { "scripts/examples/chat.lua", tostring(port) },
        { stdout = "pipe", stderr = "pipe" })
      local _ <close> = srv
      srv.stdout:read_line()
      local behind = corral.tcp.connect("127.0.0.1", port)
      local talker = corral.tcp.connect("127.0.0.1", port)
      corral.sleep(0.05)
      local long = ("x"):rep(50000)
      for i = 1, 400 do talker:write(i .. long .. "\n") end
      corral.sleep(0.3)
      srv:kill("SIGINT")
      corral.sleep(0.1)                                -- its goodbye waits
      behind:close()                                   -- unread data: a reset
      talker:close()
      errors = require("support").read_all(srv.stderr)
      srv:wait()
    end)
    assert.falsy((errors or ""):find("channel is closed", 1, true), errors)
  end)
end)
