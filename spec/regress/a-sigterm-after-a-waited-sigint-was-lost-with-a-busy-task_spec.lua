-- A SIGINT that a task waits for (corral.signal) interrupts a task that
-- computes without ever yielding: its hook makes it give up the CPU so the
-- waiter runs. A SIGTERM arriving while that waiter ran hooked the waiter in
-- place of the busy task, whose hook then went; the waiter blocked again by
-- itself, the busy task computed for ever, and the loop never turned to see
-- the SIGTERM: the command ran until killed (10 of 10 runs). The first fix
-- (an arrival left the running task alone while another was on its way)
-- lost it when the waiter itself computed for ever, and with two busy
-- tasks: each hooked task has a way of its own now.
local converse = require "converse"

-- n tasks that say "busy i", then compute for ever; each says "cleanup i"
-- when it unwinds. (Lua text, to go in a group's body with `g`.)
local function busy(n)
  return ([[
  for i = 1, %d do
    g:spawn(function()
      local c <close> = setmetatable({}, { __close = function()
        io.stdout:write("cleanup " .. i .. "\n"); io.stdout:flush()
      end })
      io.stdout:write("busy " .. i .. "\n"); io.stdout:flush()
      local n = 0
      while true do n = n + 1 end
    end)
  end
]]):format(n)
end

-- A SIGINT waiter whose code after each wake is `after_wake` (Lua text),
-- beside a task that says "ready" and computes for ever; SIGINT at "ready",
-- SIGTERM at the waiter's "woke". The command's result.
local function sigterm_after_waited_sigint(after_wake)
  return converse.corral(([[
local corral = require "corral"
corral.group(function(g)
  g:spawn(function()
    while true do
      corral.signal("SIGINT")
      io.stdout:write("woke\n"); io.stdout:flush()
      %s
    end
  end)
  g:spawn(function()       -- (after the waiter waits: the SIGINT is its)
    io.stdout:write("ready\n"); io.stdout:flush()
    local n = 0
    while true do n = n + 1 end
  end)
end)
]]):format(after_wake),
    { { expect = "ready", send = "SIGINT" }, { expect = "woke", send = "SIGTERM" } })
end

describe("regression: a SIGTERM after a waited SIGINT was lost with a busy task", function()
  it("the SIGTERM cancels the root and the command exits 143", function()
    local r = sigterm_after_waited_sigint(
      "local x = 0; for i = 1, 300000 do x = x + i end   -- well within the busy grace")
    assert.equal(2, r.reached)
    assert.equal(143, r.code)
    assert.matches("interrupted by SIGTERM", r.stderr)
  end)

  it("also when the woken waiter computes for ever too", function()
    local r = sigterm_after_waited_sigint("local x = 0; while true do x = x + 1 end")
    assert.equal(2, r.reached)
    assert.equal(143, r.code)
  end)

  it("and with two tasks computing for ever, the next signal nobody waits for ends the run", function()
    local r = converse.corral([[
local corral = require "corral"
corral.group(function(g)
  g:spawn(function() corral.signal("SIGTERM"); corral.sleep(math.huge) end)
]] .. busy(2) .. [[
end)
]], { { expect = "busy 1", send = "SIGTERM" }, { expect = "busy 2", send = "SIGINT" } })
    assert.equal(2, r.reached)
    assert.equal(130, r.code)
    assert.matches("cleanup 1", r.stdout)
    assert.matches("cleanup 2", r.stdout)
  end)
end)
