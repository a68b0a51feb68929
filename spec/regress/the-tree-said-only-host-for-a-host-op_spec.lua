-- A task waiting on a C host's awaitable (corral_op_await) read `waiting on
-- host` in corral.tree(), the deadlock report and the SIGUSR1 dump, with no
-- word of which of the host's operations it waits on, though every op type
-- has a name (corral_op_type_t.name). The tree now says `waiting on host op
-- hash.file`, and its table format has wait.op = "hash.file". A task in
-- corral.host.wait_stop() read `waiting on event` (the event it is built
-- on); it now reads `waiting on corral.host.wait_stop`. Run in the example
-- host (examples/host/hashhost.c), built beside the corral command.
local converse = require "converse"
local BIN = os.getenv("CORRAL_BIN") or "build/corral"
local HOST = BIN:gsub("[^/]*$", "") .. "examples/corral-host-example"

local function in_host(code)
  local script = converse.tmpfile(code)
  local p = assert(io.popen(("%s --time-limit 5 %s 2>&1"):format(HOST, script)))
  local out = p:read("a")
  p:close()
  os.remove(script)
  return out
end

describe("regression: the tree said only 'host' for a host op", function()
  it("names the op a task waits on", function()
    local out = in_host([[
      local corral = require "corral"
      local hash = require "hash"
      local me = debug.getinfo(1, "S").source:sub(2)
      corral.group(function(g)
        g:spawn({function() hash.file(me, 1000) end, name = "hasher"})
        corral.sleep(0.05)
        print(corral.tree())
        local t = corral.tree({format = "table"})
        local w = t.children[1].children[1].wait
        print("kind=" .. w.kind, "what=" .. w.what, "op=" .. tostring(w.op))
        g:cancel()
      end)
    ]])
    assert.matches("task hasher #%d+ waiting on host op hash%.file at ", out)
    assert.matches("kind=host\twhat=host\top=hash.file", out, 1, true)
  end)

  it("names a wait for the host's stop", function()
    local out = in_host([[
      local corral = require "corral"
      corral.group(function(g)
        g:spawn({function() corral.host.wait_stop() end, name = "stopper"})
        corral.sleep(0.05)
        print(corral.tree())
        local w = corral.tree({format = "table"}).children[1].children[1].wait
        print("kind=" .. w.kind, "what=" .. w.what)
        g:cancel()
      end)
    ]])
    assert.matches("task stopper #%d+ waiting on corral%.host%.wait_stop at ", out)
    assert.matches("kind=event\twhat=corral.host.wait_stop", out, 1, true)
  end)
end)
