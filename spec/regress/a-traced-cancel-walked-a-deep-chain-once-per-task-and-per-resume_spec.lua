-- With tracing on, a cancel asks of every task below the cancelled scope
-- whether the cancel reaches it (for the task's "cancelled" mark), and a task
-- whose cancel a shield hid asks again at each of its resumes (for the mark it
-- gets once it has left the shield). Each question walked up from the task to
-- the cancelled scope: cancelling a chain of nested groups thousands deep was
-- quadratic in its depth (15 s for one g:cancel() at 16,000 levels), and the
-- deepest task paid the whole depth at every checkpoint in its shield. The
-- walks now stop at the first group that knows the answer (the engine keeps
-- one in each group it passes, until a cancel, a shield or a moved task may
-- change it). corral.debug_stats().reach_steps counts the scopes they visit.
local corral = require "corral"

local DEPTH = 1000

-- Run fn(top) in a traced run, where top is a group holding a chain of DEPTH
-- nested groups; the deepest task runs deepest() inside a shielded scope.
local function chain(deepest, fn)
  local path = os.tmpname()
  corral.run(function()
    local function rec(k)
      if k == 0 then return corral.scope(deepest, { shield = true }) end
      corral.group(function(g) g:spawn(rec, k - 1) end)
    end
    corral.group(function(g)
      g:spawn(rec, DEPTH)
      corral.sleep(1)
      fn(g)
    end)
  end, { clock = "virtual", trace = path })
  os.remove(path)
end

local function steps() return corral.debug_stats().reach_steps end

describe("regression: a traced cancel of a deep chain", function()
  it("asks about every task below it in time linear in the chain", function()
    local spent
    chain(function() corral.sleep(2) end, function(g)
      local before = steps()
      g:cancel()
      spent = steps() - before
    end)
    -- one walk up the whole chain per task would be about DEPTH * DEPTH
    assert.is_true(spent < 10 * DEPTH, "scopes visited: " .. spent)
  end)

  it("costs a resume of a task a shield kept it from no walk of the chain", function()
    local RESUMES, spent = 10 * DEPTH, nil
    chain(function()
      corral.sleep(2)                 -- the cancel came at 1 s
      local before = steps()
      for _ = 1, RESUMES do corral.checkpoint() end
      spent = steps() - before
    end, function(g) g:cancel() end)
    assert.is_true(spent < 10 * DEPTH + 4 * RESUMES, "scopes visited: " .. spent)
  end)
end)
