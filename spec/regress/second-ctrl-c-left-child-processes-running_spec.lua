-- spec/regress/second-ctrl-c-left-child-processes-running_spec.lua
--
-- Broke: the signal that kills a run while it unwinds (a second Ctrl-C
-- during a cleanup that waits) ended the process at once, and the child
-- processes its cleanup was waiting for lived on as orphans, although the
-- run's end would have closed them (SIGKILL). They get that SIGKILL now,
-- before the process dies.

local converse = require "converse"
local left_alive = require("support").left_alive

local function read_pids(path)
  local pids = {}
  for line in io.lines(path) do pids[#pids + 1] = math.tointeger(tonumber(line)) end
  os.remove(path)
  return pids
end

-- Run `setup` (Lua that starts children and leaves `pids`, a list, and `wait`,
-- what the cleanup waits on, as globals) under corral.run with signals on; a
-- first SIGINT cancels the root, whose cleanup waits in a shield; a second
-- kills the process. Returns the children's pids.
local function killed_while_cleaning_up(setup)
  local pidfile = os.tmpname()
  local r = converse.lua(([[
    local corral = require "corral"
    io.stdout:setvbuf("no")
    corral.run(function()
      %s
      local f = assert(io.open(%q, "w"))
      for _, pid in ipairs(pids) do f:write(pid, "\n") end
      f:close()
      local _ <close> = setmetatable({}, { __close = function()
        corral.scope(function() print("cleaning up"); wait() end, { shield = true })
      end })
      print("ready")
      corral.sleep(3600)
    end, { signals = true })
  ]]):format(setup, pidfile), {
    { expect = "ready", send = "SIGINT" },
    { expect = "cleaning up", send = "SIGINT" },
  })
  assert.equal(2, r.reached, r.stdout .. r.stderr)
  assert.equal("SIGINT", r.signal)
  return read_pids(pidfile)
end

describe("regression: the signal that kills an unwinding run", function()
  it("SIGKILLs the child processes the run had not closed", function()
    local pids = killed_while_cleaning_up([[
      local p = corral.exec("sleep", { "1000" })
      pids = { p.pid }
      wait = function() p:wait() end     -- the child ignores nothing: waits
    ]])
    assert.equal(1, #pids)
    assert.equal(0, left_alive(pids), "the child outlived the run")
  end)

  it("SIGKILLs every one of many children, those started after others ended too", function()
    local pids = killed_while_cleaning_up([[
      local first, later = {}, {}
      for i = 1, 70 do first[i] = corral.exec("sleep", { "1000" }) end
      for i = 1, 70 do later[i] = corral.exec("sleep", { "1000" }) end
      for i = 1, 70 do first[i]:close() end      -- the table had been full
      pids = {}
      for i = 1, 70 do pids[i] = later[i].pid end
      wait = function() corral.sleep(3600) end
    ]])
    assert.equal(70, #pids)
    assert.equal(0, left_alive(pids), "children outlived the run")
  end)
end)
