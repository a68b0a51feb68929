-- SIGUSR1 to a task computing without giving up the CPU hooks it so that its
-- tree prints at the hook. A SIGINT or SIGTERM that came while that hook was
-- on (within the million instructions before it fires) found the task hooked
-- already and did nothing more: the hook printed the tree and let the task
-- compute on, so Ctrl-C was lost until a second one came, and the busy task
-- ran to its end before the program stopped. Now the stop signal starts its
-- own way on that task: it gives up the CPU, the loop delivers both signals
-- (the tree, once) and the task is cancelled there.
local converse = require "converse"

-- The script (RUN: how the run is made): each signal sent to itself while
-- the task waits in one C call (a popen's read: its handler has run when the
-- read returns), SIGUSR1 first, then sig; then it computes.
local function script(run, sig)
  return ([[
local corral = require "corral"
%s
local pid = io.open("/proc/self/stat"):read("n")
local function send(sig)
  local p = io.popen(("kill -%%s %%d; echo sent"):format(sig, pid))
  p:read("a"); p:close()
end
local ok, err = pcall(RUN, function()
  local c <close> = setmetatable({}, { __close = function()
    io.stdout:write("cleanup\n"); io.stdout:flush()
  end })
  send("USR1")
  send(%q)
  local x = 0
  for i = 1, 3e7 do x = x + i end
  io.stdout:write("not cancelled\n"); io.stdout:flush()
end)
if not ok then error(err, 0) end
]]):format(run, sig)
end

local RUN_UNDER_LUA = 'local function RUN(f) corral.run(f, ' ..
  '{ signals = true, debug_signal = "SIGUSR1" }) end'

-- The same, busy inside a C call (a sort's comparator): the loop cannot turn
-- there, so the stop signal is delivered at the hook, and the tree (the first
-- fix left it to the loop, which turned no more: none was printed) with it.
local function in_c_call(sig)
  return ([[
local pid = io.open("/proc/self/stat"):read("n")
local function send(sig)
  local p = io.popen(("kill -%%s %%d; echo sent"):format(sig, pid))
  p:read("a"); p:close()
end
local c <close> = setmetatable({}, { __close = function()
  io.stdout:write("cleanup\n"); io.stdout:flush()
end })
local first = true
table.sort({ 3, 1, 2 }, function(a, b)
  if first then
    first = false
    send("USR1")
    send(%q)
    local x = 0
    for i = 1, 3e7 do x = x + i end
    io.stdout:write("not cancelled\n"); io.stdout:flush()
  end
  return a < b
end)
]]):format(sig)
end

describe("regression: a stop signal after SIGUSR1 on a busy task was lost", function()
  it("busy inside a C call: cancelled there, and the tree printed once", function()
    local r = converse.corral(in_c_call("TERM"))
    assert.equal("cleanup\n", r.stdout)
    assert.equal(143, r.code)
    local _, trees = r.stderr:gsub("corral tree at", "")
    assert.equal(1, trees)
    assert.matches("running at [^\n]*:16\n", r.stderr)
  end)

  for _, case in ipairs({ { "INT", 130 }, { "TERM", 143 } }) do
    local sig, code = case[1], case[2]
    it("SIG" .. sig .. " under the command cancels the task at once", function()
      local r = converse.corral(script(converse.RUN_UNDER_COMMAND, sig))
      assert.equal("cleanup\n", r.stdout)
      assert.equal(code, r.code)
      assert.matches("interrupted by SIG" .. sig, r.stderr, 1, true)
      local _, trees = r.stderr:gsub("corral tree at", "")
      assert.equal(1, trees)
    end)

    it("SIG" .. sig .. " under corral.run with signals and debug_signal", function()
      local r = converse.lua(script(RUN_UNDER_LUA, sig))
      assert.equal("cleanup\n", r.stdout)
      assert.matches("SIG" .. sig, r.stderr, 1, true)
      local _, trees = r.stderr:gsub("corral tree at", "")
      assert.equal(1, trees)
    end)
  end
end)
