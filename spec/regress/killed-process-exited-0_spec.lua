-- A process ended by a signal has no exit code; libuv reports 0 for it, and
-- p:wait() passed that on, so `if p:wait() == 0` took a killed child for a
-- success. It reports 128 + the signal now, as a shell does.
local corral = require "corral"
local support = require "support"

describe("regression: a process killed by a signal", function()
  it("does not report exit code 0", function()
    local r = {}
    support.vrun(function()
      local p <close> = corral.exec("/bin/sh", { "-c", "kill -TERM $$" })
      r[1] = table.pack(p:wait())
      local q <close> = corral.exec("/bin/sleep", { "10" })
      q:kill("SIGKILL")
      r[2] = table.pack(q:wait())
      local ok <close> = corral.exec("/bin/sh", { "-c", "exit 0" })
      r[3] = table.pack(ok:wait())
    end)
    assert.same({ { n = 2, 143, "SIGTERM" }, { n = 2, 137, "SIGKILL" }, { n = 2, 0, nil } }, r)
  end)
end)
