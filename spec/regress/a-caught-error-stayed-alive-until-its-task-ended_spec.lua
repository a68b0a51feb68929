-- Regression: the last error a task raised through corral.scope, a group
-- or g:start stayed reachable until the task ended, after the program had
-- caught and dropped it: the message handler kept it beside its traceback
-- (to know an error re-raised unchanged). A long-lived task (a server's
-- accept loop) kept its last failure, and all it refers to, for ever.
-- CPython's test_taskgroups checks the same of asyncio (exception refcycles).
local corral = require "corral"

local function raise(i) error({ i = i }, 0) end

-- How many of the errors catch(i, keep) hands to keep (i = 1..n) survive
-- two full collections inside the run, while the task that caught them
-- still runs.
local function survivors(n, catch)
  local left = 0
  corral.run(function()
    local weak = setmetatable({}, { __mode = "k" })
    for i = 1, n do catch(i, function(e) weak[e] = i end) end
    collectgarbage()
    collectgarbage()
    for _ in pairs(weak) do left = left + 1 end
  end)
  return left
end

describe("regression: a caught error is not kept alive by its task", function()
  it("through corral.scope", function()
    assert.equal(0, survivors(5, function(i, keep)
      keep(select(2, pcall(corral.scope, function() raise(i) end)))
    end))
  end)

  it("through a group's body and a child, and a g:start child", function()
    assert.equal(0, survivors(3, function(i, keep)
      local _, e = pcall(corral.group, function() raise(i) end)
      keep(e)
      keep(e.errors[1])
      _, e = pcall(corral.group, function(g) g:spawn(raise, i) end)
      keep(e.errors[1])
      _, e = pcall(corral.group, function(g)
        g:start(function() raise(i) end)
      end)
      keep(e.errors[1])
    end))
  end)

  it("still gives an error re-raised unchanged its first traceback", function()
    corral.run(function()
      local e0 = { "first" }
      local function where_it_failed() error(e0, 0) end
      local _, e = pcall(corral.group, function(g)
        g:spawn(function()
          local ok, e1 = pcall(corral.scope, where_it_failed)
          assert(not ok and e1 == e0)
          collectgarbage()              -- e0 is still held: kept
          error(e1, 0)
        end)
      end)
      assert.matches("in function 'corral.scope'", e.tracebacks[1])   -- where it failed
    end)
  end)
end)
