local corral = require "corral"
local testing = require "corral.testing"

-- A server in another process: it answers a line after 0.2 s of real time,
-- then says nothing (`exec`: closing the process kills the sleep itself).
local SERVER = 'read line; sleep 0.2; echo "re: $line"; exec sleep 60'

describe("a client with timeouts, against a server in another process", function()
  it("gets the answer, then times out on silence", testing.async(function()
    local p <close> = corral.exec("/bin/sh", { "-c", SERVER })
    p.stdin:write("hello\n")
    -- real I/O under a virtual timeout: the clock waits for the pipe
    assert.equal("re: hello", corral.fail_after(5, p.stdout.read_line, p.stdout))
    assert.equal(0, corral.now())
    -- nothing comes: after 1 s of real time with every task blocked,
    -- the virtual clock jumps to the deadline
    assert.is_false(corral.move_on_after(30, p.stdout.read_line, p.stdout))
    assert.equal(30, corral.now())
  end, { autojump_threshold = 1 }))

  it("times out at once without the threshold", testing.async(function()
    local p <close> = corral.exec("/bin/sh", { "-c", SERVER })
    p.stdin:write("hello\n")
    -- the clock jumps as soon as every task is blocked: the answer is late
    assert.is_false(corral.move_on_after(5, p.stdout.read_line, p.stdout))
    assert.equal(5, corral.now())
  end))
end)
