-- Regression: under the command, os.exit ended the process at once, as
-- lua's does, and the child processes the run had started with corral.exec
-- went on running, reparented to init (a service manager saw the service
-- stopped with its workers still there), where dying of SIGPIPE or a third
-- Ctrl-C kills them first. os.exit kills them too now, with SIGKILL.
local BIN = os.getenv("CORRAL_BIN") or "build/corral"

local write = require("support").write_file

describe("regression: os.exit under the command", function()
  it("kills the child processes its run started, and keeps the status", function()
    local script, pidfile = os.tmpname(), os.tmpname()
    write(script, ([[
      local corral = require "corral"
      corral.group(function(g)
        g:spawn(function()
          local p <close> = corral.exec("sleep", {"1000"})
          local f = assert(io.open(%q, "w")); f:write(p.pid); f:close()
          p:wait()
        end)
        corral.sleep(0.05)
        os.exit(4)
      end)
    ]]):format(pidfile))
    local p = assert(io.popen(("%s %s; echo \"status $?\""):format(BIN, script)))
    local status = tonumber(p:read("a"):match("status (%d+)"))
    p:close()
    local pid = require("support").take_number(pidfile)
    os.remove(script)
    local alive = require("support").left_alive({ pid })   -- (kills what is left)
    assert.equal(4, status)
    assert.equal(0, alive, "the child outlived the command")
  end)
end)
