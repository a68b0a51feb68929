-- Regression: `corral server.lua | logger`, the reader gone: the command
-- died of SIGPIPE at the next print (as lua does) without unwinding, and
-- the child processes the run had started went on running, reparented to
-- init (one held in a `<close>` variable too), where a third Ctrl-C kills
-- them first. They are killed now, with SIGKILL, before the process dies.
local BIN = os.getenv("CORRAL_BIN") or "build/corral"

local write = require("support").write_file

describe("regression: the command dying of SIGPIPE", function()
  it("kills the child processes its run started first", function()
    local script, pidfile = os.tmpname(), os.tmpname()
    write(script, ([[
      local corral = require "corral"
      corral.group(function(g)
        g:spawn(function()
          local p <close> = corral.exec("sleep", {"1000"})
          local f = assert(io.open(%q, "w")); f:write(p.pid); f:close()
          p:wait()
        end)
        g:spawn(function()
          local p = corral.exec("sleep", {"1000"})     -- not closed either
          local f = assert(io.open(%q .. "2", "w")); f:write(p.pid); f:close()
          p:wait()
        end)
        corral.sleep(0.05)
        for i = 1, 1000 do print("log line " .. i); corral.sleep(0.001) end
      end)
    ]]):format(pidfile, pidfile))
    local p = assert(io.popen(("bash -c '%s %s | head -1 >/dev/null; echo \"${PIPESTATUS[0]}\"'")
      :format(BIN, script)))
    local status = tonumber(p:read("a"):match("%d+"))
    p:close()
    local pids = {}
    for _, path in ipairs({ pidfile, pidfile .. "2" }) do
      pids[#pids + 1] = require("support").take_number(path)
    end
    os.remove(script)
    local alive = require("support").left_alive(pids)   -- (kills what is left)
    assert.equal(141, status)
    assert.equal(0, alive, "children outlived the command")
  end)
end)
