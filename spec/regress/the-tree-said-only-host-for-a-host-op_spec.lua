-- A task waiting on a C host's awaitable (corral_op_await) read `waiting on
-- host` in corral.tree(), the deadlock report and the SIGUSR1 dump, with no
-- word of which of the host's operations it waits on, though every op type
-- has a name (corral_op_type_t.name). The tree now says `waiting on host op
-- hash.file`, and its table format has wait.op = "hash.file". Run in the
-- example host (examples/host/hashhost.c), built beside the corral command.
local converse = require "converse"
local BIN = os.getenv("CORRAL_BIN") or "build/corral"
local HOST = BIN:gsub("[^/]*$", "") .. "examples/corral-host-example"

describe("regression: the tree said only 'host' for a host op", function()
  it("names the op a task waits on", function()
    local script = converse.tmpfile([[
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
    local p = assert(io.popen(("%s --time-limit 5 %s 2>&1"):format(HOST, script)))
    local out = p:read("a")
    p:close()
    os.remove(script)
    assert.matches("task hasher #%d+ waiting on host op hash%.file at ", out)
    assert.matches("kind=host\twhat=host\top=hash.file", out, 1, true)
  end)
end)
