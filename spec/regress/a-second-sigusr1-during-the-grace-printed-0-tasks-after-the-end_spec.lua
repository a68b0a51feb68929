-- SIGUSR1 to a task computing without giving up the CPU prints the tree from
-- a hook on that task once it has computed a million instructions more, and
-- the loop's own delivery of that arrival, when it turns, prints nothing. A
-- second SIGUSR1 within those million instructions was taken into the same
-- tree but its delivery was not skipped: a second tree came once the loop
-- turned, after the busy code, showing where the task had gone since, or
-- "0 tasks" once a busy script had ended. One tree answers both now.
local converse = require "converse"

-- Two SIGUSR1s, each sent to itself while the task waits in one C call (a
-- popen's read: its handler has run when the read returns), then a busy
-- loop on line 8 (then the script ends, or, with a sleep, waits).
local function script(after)
  return ([[
local pid = io.open("/proc/self/stat"):read("n")
local function send(sig)
  local p = io.popen(("kill -%%s %%d; echo sent"):format(sig, pid))
  p:read("a"); p:close()
end
send("USR1"); send("USR1")
local x = 0
for i = 1, 3e6 do x = x + i end
io.stdout:write("computed\n"); io.stdout:flush()
%s
]]):format(after or "")
end

describe("regression: a second SIGUSR1 during the grace printed '0 tasks' after the end", function()
  it("a busy script: one tree, running at the busy line, none after the end", function()
    local r = converse.corral(script())
    assert.equal(0, r.code)
    assert.equal("computed\n", r.stdout)
    local _, trees = r.stderr:gsub("corral tree at", "")
    assert.equal(1, trees)
    assert.matches("^corral tree at [%d.]+s: 1 task\ntask [^\n]* running at [^\n]*:8\n$", r.stderr)
  end)

  it("a later SIGUSR1 on the idle program still prints its tree", function()
    local r = converse.corral(script([[
local corral = require "corral"
local p <close> = corral.exec("/bin/sh", { "-c", "kill -USR1 " .. pid })
p:wait()                        -- (the signal comes while the task waits)
io.stdout:write("end\n")
]]))
    assert.equal(0, r.code)
    assert.equal("computed\nend\n", r.stdout)
    local _, trees = r.stderr:gsub("corral tree at", "")
    assert.equal(2, trees)
    assert.matches("running at [^\n]*:8\n", r.stderr)
    assert.matches("waiting on", r.stderr, 1, true)
  end)
end)
