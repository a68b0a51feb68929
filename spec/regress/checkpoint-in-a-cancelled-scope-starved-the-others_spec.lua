-- corral.checkpoint() (and sleep(0)) in a cancelled scope raised at once,
-- without giving other tasks a turn: a loop that swallowed its Cancelled,
-- or polled with expired timeouts (while ... do move_on_after(0, corral.
-- checkpoint) end), kept the CPU for ever and starved every other task,
-- the one that would have ended the loop included. A checkpoint is now a
-- schedule point first and a cancellation point after, as Trio's is.
local corral = require "corral"
local support = require "support"

-- `poll` runs up to 1000 times until `done`; a sibling sets it after one
-- turn. How many polls that took (1000: the sibling never ran).
local function polls_until_sibling_runs(poll)
  local done, n = false, 0
  support.vrun(function()
    corral.group(function(g)
      g:spawn(function() corral.checkpoint(); done = true end)
      while not done and n < 1000 do n = n + 1; poll() end
    end)
  end)
  return n
end

describe("regression: a checkpoint in a cancelled scope", function()
  it("lets other tasks run when its Cancelled is swallowed", function()
    local n = polls_until_sibling_runs(function()
      corral.scope(function(s) s:cancel(); pcall(corral.checkpoint) end)
    end)
    assert.is_true(n < 5, n)
  end)

  it("lets other tasks run in a loop of expired timeouts", function()
    local n = polls_until_sibling_runs(function()
      corral.move_on_after(0, corral.checkpoint)
    end)
    assert.is_true(n < 5, n)
  end)

  it("lets other tasks run for sleep(0) too", function()
    local n = polls_until_sibling_runs(function()
      corral.move_on_after(0, corral.sleep, 0)
    end)
    assert.is_true(n < 5, n)
  end)

  it("still raises, once the task runs again", function()
    support.vrun(function()
      corral.scope(function(s)
        s:cancel("r")
        local ok, err = pcall(corral.checkpoint)
        assert.is_false(ok)
        assert.is_true(corral.is_cancelled(err))
      end)
    end)
  end)
end)
