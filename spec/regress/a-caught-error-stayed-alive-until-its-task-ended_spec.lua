-- Regression: the last error a task raised through corral.scope, a group
-- or g:start stayed reachable until the task ended, after the program had
-- caught and dropped it: the message handler kept it beside its traceback
-- (to know an error re-raised unchanged). A long-lived task (a server's
-- accept loop) kept its last failure, and all it refers to, for ever.
-- CPython's test_taskgroups checks the same of asyncio (exception refcycles).
local corral = require "corral"


local function raise(i) error({ i = i }, 0) end

describe("regression: a caught error is not kept alive by its task", function()
  it("through corral.scope", function()
    local n = 0
    corral.run(function()
      local weak = setmetatable({}, { __mode = "k" })
      for i = 1, 5 do
        local _, e = pcall(corral.scope, function() raise(i) end)
        weak[e] = i
      end
      collectgarbage()
      collectgarbage()
      for _ in pairs(weak) do n = n + 1 end
    end)
    assert.equal(0, n)
  end)

  it("through a group's body and a child, and a g:start child", function()
    local n = 0
    corral.run(function()
      local weak = setmetatable({}, { __mode = "k" })
      for i = 1, 3 do
        local _, e = pcall(corral.group, function() raise(i) end)
        weak[e] = i
        weak[e.errors[1]] = i
        _, e = pcall(corral.group, function(g) g:spawn(raise, i) end)
        weak[e.errors[1]] = i
        _, e = pcall(corral.group, function(g)
          g:start(function() raise(i) end)
        end)
        weak[e.errors[1]] = i
      end
      collectgarbage()
      collectgarbage()
      for _ in pairs(weak) do n = n + 1 end
    end)
    assert.equal(0, n)
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
