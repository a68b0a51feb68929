-- spec/regress/second-sigint-after-signal-wait_spec.lua
--
-- Broke: once a program had waited in corral.signal("SIGINT"), a SIGINT while the
-- root unwound no longer killed the process: the binding stopped only its own
-- watcher and raised the signal while corral.signal's watcher still held it. The
-- engine now owns the policy and puts back SIG_DFL before raising. Also pinned
-- here for corral.run(fn, {signals = true}) in a stock lua5.4 (the same rules as
-- the corral command) and for a run without signals, where a SIGINT nobody waits
-- for goes to the handler the process had (lua's, under lua5.4).

local corral = require "corral"
local converse = require "converse"

local lua_child = converse.lua

local RUN_WITH_SIGNALS = [[
local corral = require "corral"
io.stdout:setvbuf("no")
local ok, e = pcall(corral.run, function()
  corral.group(function(g)
    g:spawn(function()
      g:wait_stopping()
      print("stopping")
      local ok, e = pcall(corral.sleep, 3600)
      corral.scope(function() print("unwinding " .. tostring(e)); corral.sleep(3600) end,
                   { shield = true })
    end)
    print("ready")
    corral.signal("SIGINT")
    g:stop(3600)
  end)
end, { signals = true })
print("run returned", ok, e)
]]

describe("run{signals = true} after a corral.signal('SIGINT') wait", function()
  it("a SIGINT while the root unwinds kills the process with SIGINT's default action", function()
    local r = lua_child(RUN_WITH_SIGNALS, {
      { expect = "ready", send = "SIGINT" },
      { expect = "stopping", send = "SIGINT" },
      { expect = "unwinding Cancelled: SIGINT (source=signal)", send = "SIGINT" },
    })
    assert.equal(3, r.reached, r.stdout .. r.stderr)
    assert.equal("SIGINT", r.signal)
  end)

  it("run raises the signal's Cancelled even though the root swallowed it", function()
    local r = lua_child([[
      local corral = require "corral"
      io.stdout:setvbuf("no")
      local ok, e = pcall(corral.run, function()
        print("ready")
        local _, swallowed = pcall(corral.sleep, 3600)
        print("swallowed " .. tostring(swallowed))
        return "done"
      end, { signals = true })
      print(ok, corral.is_cancelled(e), e.source, e.reason)
    ]], { { expect = "ready", send = "SIGTERM" } })
    assert.equal(0, r.code, r.stderr)
    assert.same({ "ready", "swallowed Cancelled: SIGTERM (source=signal)", "false\ttrue\tsignal\tSIGTERM" },
                converse.lines(r.stdout))
  end)
end)

describe("a run without signals, after a corral.signal('SIGINT') wait", function()
  -- libuv put SIG_DFL back when the wait ended, so the next SIGINT killed the
  -- process; now the handler the process had comes back: under lua5.4 that
  -- is lua's, which a run hears as a cancel of its root (docs/api.md).
  it("gives SIGINT back to the handler the process had (lua's) once nobody waits for it", function()
    local r = lua_child([[
      local corral = require "corral"
      io.stdout:setvbuf("no")
      corral.run(function()
        corral.group(function(g)         -- ready once the waiter is parked
          g:spawn(function() print("got " .. corral.signal("INT")) end)
          g:spawn(function() print("ready") end)
        end)
        print("busy")
        corral.sleep(3600)
      end)
    ]], { { expect = "ready", send = "SIGINT" }, { expect = "busy", send = "SIGINT" } })
    assert.equal(2, r.reached)
    assert.is_nil(r.signal)
    assert.equal(1, r.code)                    -- lua prints run's error
    assert.equal("ready\ngot SIGINT\nbusy\n", r.stdout)
    assert.truthy(r.stderr:find("Cancelled: SIGINT (source=signal)", 1, true), r.stderr)
  end)
end)
