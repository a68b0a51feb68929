-- corral ignored SIGPIPE process-wide (SIG_IGN) so that sockets report EPIPE,
-- and an ignored signal is inherited across exec: a program started by
-- io.popen or os.execute ran with SIGPIPE ignored (`yes | head` printing
-- "Broken pipe" errors), unlike under lua. A handler that does nothing is
-- reset to the default at exec.
local corral = require "corral"

-- SIGPIPE's bit in a /proc status signal mask (bit signum - 1).
local SIGPIPE_BIT = 1 << 12

local function child_ignores_sigpipe()
  local p = assert(io.popen("grep SigIgn /proc/self/status"))
  local line = p:read("a")
  p:close()
  local mask = assert(tonumber(line:match("SigIgn:%s*(%x+)"), 16))
  return mask & SIGPIPE_BIT ~= 0
end

describe("regression: SIGPIPE and programs started from a corral process", function()
  it("a program started by io.popen after a run gets the default SIGPIPE", function()
    corral.run(function() end)
    assert.is_false(child_ignores_sigpipe())
  end)

  it("a socket whose peer has gone still raises EPIPE, not a kill", function()
    local err
    corral.run(function()
      local l = corral.tcp.listen("127.0.0.1", 0)
      local c = corral.tcp.connect("127.0.0.1", l.port)
      local s = l:accept()
      s:close()
      l:close()
      local ok, e = pcall(function()
        for _ = 1, 100 do c:write(("x"):rep(65536)); corral.sleep(0.001) end
      end)
      err = e
      c:close()
    end)
    assert.is_true(corral.is_io_error(err))
    assert.truthy(err.code == "EPIPE" or err.code == "ECONNRESET", tostring(err))
  end)
end)
