-- Under the corral command (signals on), the SIGINT and SIGTERM watchers kept
-- the run alive, so a script whose tasks were all blocked for good hung until
-- a signal came, where corral.run reports the deadlock with the tree. The
-- command reports it at once now; a task in corral.sleep(math.huge) (waiting
-- for Ctrl-C on purpose) still makes it wait for the signal, and so does a
-- corral.run with signals = true.
local converse = require "converse"

local function run(src, steps)
  return converse.run({ converse.BIN, converse.tmpfile(src) }, steps or {})
end

describe("regression: a deadlocked script under the command waited for Ctrl-C", function()
  it("reports the deadlock with the tree and exits 1, no signal needed", function()
    local r = run([[
      local corral = require "corral"
      corral.event():wait()
    ]])
    assert.equal(1, r.code, r.stderr)
    assert.matches("deadlock: every task was blocked and nothing could wake them", r.stderr, 1, true)
    assert.matches("waiting on event", r.stderr, 1, true)
  end)

  it("does the same for corral.run with signals = true", function()
    local r = converse.lua([[
      local corral = require "corral"
      local ok, err = pcall(corral.run, function() corral.channel():recv() end, { signals = true })
      print(ok, (tostring(err):match("deadlock: every task was blocked")))
    ]])
    assert.equal(0, r.code, r.stderr)
    assert.equal("false\tdeadlock: every task was blocked\n", r.stdout)
  end)

  it("still waits for the signal beside a task sleeping with no deadline", function()
    local r = run([[
      local corral = require "corral"
      io.stdout:setvbuf("no")
      corral.group(function(g)
        g:spawn(function() corral.event():wait() end)
        corral.sleep(0)
        print("ready")
        corral.sleep(math.huge)
      end)
    ]], { { expect = "ready", send = "SIGINT" } })
    assert.equal(130, r.code, r.stderr)
    assert.equal("corral: interrupted by SIGINT\n", r.stderr)
  end)
end)
