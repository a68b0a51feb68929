-- A task that starts only once a Ctrl-C has cancelled the root (it waited
-- behind a busy one) is hooked from its first instruction, so that it too is
-- cut short if it computes. SIGUSR1 while that hook was on found the task
-- hooked already and left its tree to the loop; the task, shielded, went on
-- computing past the hook, and the program then ended without the loop ever
-- delivering the signal: no tree at all. Its hook now prints the tree there.
local converse = require "converse"

-- Each signal sent to itself while the task waits in one C call (a popen's
-- read: its handler has run when the read returns). The first task's SIGINT
-- cancels the root once it gives up the CPU; the second starts after that.
local SCRIPT = [[
local corral = require "corral"
local pid = io.open("/proc/self/stat"):read("n")
local function send(sig)
  local p = io.popen(("kill -%s %d; echo sent"):format(sig, pid))
  p:read("a"); p:close()
end
corral.group(function(g)
  g:spawn(function()
    send("INT")
    local x = 0
    for i = 1, 3e6 do x = x + i end
  end)
  g:spawn(function()
    corral.scope(function()
      send("USR1")
      local x = 0
      for i = 1, 3e7 do x = x + i end
      io.stdout:write("computed\n"); io.stdout:flush()
    end, { shield = true })
  end)
end)
]]

describe("regression: SIGUSR1 to a shielded task started after Ctrl-C printed no tree", function()
  it("the tree comes while it computes, showing it running in its shield", function()
    local r = converse.corral(SCRIPT)
    assert.equal(130, r.code)
    assert.equal("computed\n", r.stdout)
    local _, trees = r.stderr:gsub("corral tree at", "")
    assert.equal(1, trees)
    assert.matches("running at [^\n]*:17\n *`%- scope #%d+ %(shield%)\n", r.stderr)
    assert.matches("interrupted by SIGINT", r.stderr, 1, true)
  end)
end)
