-- tostring of a process, a stream or a listener gave "corral.Process:
-- 0x55...": no pid, no state, nothing to tell two apart in a log (Trio's
-- tests read a process's repr for its exit status).
local corral = require "corral"
local testing = require "corral.testing"

describe("tostring of an I/O object", function()
  it("shows a process's pid and how it ended", testing.async(function()
    local p = corral.exec("sleep", { "10" })
    local pid = p.pid
    assert.equal(("corral.Process(pid %d, running)"):format(pid), tostring(p))
    p:kill()
    p:wait()
    assert.equal(("corral.Process(pid %d, killed by SIGTERM)"):format(pid), tostring(p))
    p:close()
    assert.equal("corral.Process(closed)", tostring(p))
    local q <close> = corral.exec("sh", { "-c", "exit 3" })
    q:wait()
    assert.equal(("corral.Process(pid %d, exited 3)"):format(q.pid), tostring(q))
    assert.equal("corral.Stream(pipe)", tostring(q.stdout))
  end, { clock = "real" }))

  it("shows a stream's peer and a listener's port", testing.async(function()
    local l = corral.tcp.listen("127.0.0.1", 0)
    assert.equal(("corral.Listener(port %d)"):format(l.port), tostring(l))
    local c = corral.tcp.connect("127.0.0.1", l.port)
    local s <close> = l:accept()
    assert.equal(("corral.Stream(127.0.0.1:%d)"):format(l.port), tostring(c))
    c:close()
    assert.equal(("corral.Stream(127.0.0.1:%d, closed)"):format(l.port), tostring(c))
    l:close()
    assert.equal("corral.Listener(closed)", tostring(l))
  end, { clock = "real" }))
end)
