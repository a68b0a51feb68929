-- spec/regress/a-busy-task-that-set-its-own-debug-hook-ignored-sigterm-and-ctrl-c_spec.lua
--
-- Broke: a task computing for ever that sets its own debug hook (a budget
-- around each call: read the hook, set one, call, set the one read back)
-- ignored SIGTERM and the first two Ctrl-Cs; the third killed it with no
-- cleanup. A stop signal hooks a busy task with corral's own debug hook, which
-- the task's next debug.sethook replaced without a word; the task kept its
-- place among the hooked ones (it never yielded to give it up), so no later
-- signal hooked it again. Now corral's debug.sethook keeps the hook the task
-- sets as the task's own, given back at the end, and puts corral's back on;
-- debug.gethook shows the task its own (corral's, "external hook", could not
-- be set back); and a signal that finds corral's hook gone puts it back.

local converse = require "converse"

local BUDGET = [[
local corral = require "corral"
%s
local function with_budget(limit, fn)
  local h, m, c = debug.gethook()
  debug.sethook(function() error("over budget") end, "", limit)
  local ok, err = pcall(fn)
  debug.sethook(h, m, c)
  if not ok then error(err, 0) end
end
local function sum() local x = 0; for i = 1, 1e5 do x = x + i end end
]]

local FOREVER = BUDGET .. [[
RUN(function()
  local _ <close> = setmetatable({}, { __close = function(_, e)
    print("cleanup: " .. tostring(e))
  end })
  print("ready")
  io.stdout:flush()
  while true do with_budget(1e8, sum) end
end)
]]

describe("regression: a busy task that sets its own debug hook", function()
  it("stops at SIGTERM under the command, its cleanup run", function()
    local r = converse.corral(FOREVER:format(converse.RUN_UNDER_COMMAND),
      { { expect = "ready", send = "SIGTERM" } })
    assert.same({ "ready", "cleanup: Cancelled: SIGTERM (source=signal)" }, converse.lines(r.stdout))
    assert.equal(143, r.code)
  end)

  it("stops at the first Ctrl-C under run{signals = true}", function()
    local r = converse.lua(FOREVER:format(converse.RUN_UNDER_LUA),
      { { expect = "ready", send = "SIGINT" } })
    assert.same({ "ready", "cleanup: Cancelled: SIGINT (source=signal)" }, converse.lines(r.stdout))
    assert.equal(1, r.code)                    -- run raised the Cancelled
    assert.equal("lua5.4: Cancelled: SIGINT (source=signal)", r.stderr:match("[^\n]*"))
  end)

  it("keeps its own hook through a Ctrl-C the program waits for", function()
    local r = converse.corral(BUDGET:format("") .. [[
      local stop = false
      local function mine() end
      corral.group(function(g)
        g:spawn(function() corral.signal("SIGINT"); stop = true end)
        g:spawn(function()
          corral.checkpoint()                  -- the waiter is waiting by now
          debug.sethook(mine, "", 1e9)
          print("ready")
          io.stdout:flush()
          while not stop do with_budget(1e8, sum) end
          local h, m, c = debug.gethook()
          print(h == mine, m, c)
        end)
      end)
      print("stopped")
    ]], { { expect = "ready", send = "SIGINT" } })
    assert.same({ "ready", "true\t\t1000000000", "stopped" }, converse.lines(r.stdout))
    assert.equal(0, r.code)
  end)

  it("stops at the next Ctrl-C when a hook set past corral's took corral's off", function()
    -- Copies of debug.sethook and debug.gethook saved before corral was
    -- loaded: corral never hears of the hook set through the one, and the
    -- other shows corral's. The first Ctrl-C's hook is taken off unseen;
    -- the next finds it gone and puts it back, the grace over.
    local r = converse.lua([[
      local sethook, gethook = debug.sethook, debug.gethook
      local corral = require "corral"
      local pid = io.open("/proc/self/stat"):read("n")
      corral.run(function()
        local _ <close> = setmetatable({}, { __close = function(_, e)
          print("cleanup: " .. tostring(e))
        end })
        io.popen("kill -INT " .. pid):close()
        while gethook() == nil do end       -- the run's handler has hooked it
        sethook()
        print("unhooked")
        io.stdout:flush()
        local x = 0
        while true do x = x + 1 end
      end, { signals = true })
    ]], { { expect = "unhooked", send = "SIGINT" } })
    assert.same({ "unhooked", "cleanup: Cancelled: SIGINT (source=signal)" }, converse.lines(r.stdout))
    assert.equal(1, r.code)
  end)
end)
