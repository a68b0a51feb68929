-- p:wait() reported a child killed by a real-time signal as a number (34)
-- where corral.signal and p:kill use names ("SIGRTMIN"); and the "one reader
-- at a time" error of read_line, read_exactly and lines pointed into
-- corral's own Lua, not at the caller's line.
local corral = require "corral"

describe("regression: a process killed by a real-time signal", function()
  it("reports the signal by name", function()
    corral.run(function()
      for _, name in ipairs{ "SIGRTMIN", "SIGRTMIN+2", "SIGRTMAX" } do
        local p <close> = corral.exec("/bin/sleep", { "5" })
        p:kill(name)
        local _, sig = p:wait()
        assert.equal(name, sig)
      end
    end)
  end)
end)

describe("regression: a second reader of a stream", function()
  it("is told at its own line, whichever read it calls", function()
    corral.run(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      local c <close> = corral.tcp.connect("127.0.0.1", l.port)
      local s <close> = l:accept()
      corral.group(function(g)
        g:spawn(function() pcall(s.read, s) end)
        corral.sleep(0.01)
        for _, read in ipairs{
          function() local line = s:read_line(); return line end,  -- not a tail call:
          function() local b = s:read_exactly(3); return b end,    -- a position is a frame
          function() for _ in s:lines() do end end,
        } do
          local ok, err = pcall(read)
          assert.is_false(ok)
          assert.matches("one reader at a time", err)
          assert.matches("_spec%.lua:%d+: stream:", err)
        end
        s:close()
      end)
    end)
  end)
end)
