-- Regression: a task that caught an error (through corral.scope) and later
-- failed with another error of the same text got the first one's
-- traceback: the message handler took "equal" for "the same error raised
-- again", and strings are equal by value. Only an object (a table, a
-- userdata, a function, a coroutine) is known by identity now, as g:start
-- already treated a child's error.
local corral = require "corral"

local function check() error("bad value", 0) end
local function caller_a() check() end
local function caller_b() check() end

describe("regression: the traceback of a failure with a caught error's text", function()
  it("is where the failure was raised, not where the caught one was", function()
    local eg
    corral.run(function()
      local _, e = pcall(corral.group, function(g)
        g:spawn(function()
          pcall(corral.scope, caller_a)         -- caught, and dropped
          caller_b()                            -- the task's failure
        end)
      end)
      eg = e
    end)
    assert.matches("in upvalue 'caller_b'", eg.tracebacks[1])
    assert.not_matches("caller_a", eg.tracebacks[1])
  end)

  it("still keeps an object's first traceback when it is raised again unchanged", function()
    local eg
    corral.run(function()
      local err = { "bad" }
      local _, e = pcall(corral.group, function(g)
        g:spawn(function()
          local _, e1 = pcall(corral.scope, function() error(err) end)
          error(e1)                             -- the same object, again
        end)
      end)
      eg = e
    end)
    assert.matches("in function 'corral.scope'", eg.tracebacks[1])
  end)

  it("does not keep a caught string error alive, nor its whole text", function()
    local grown
    corral.run(function()
      collectgarbage()
      local before = collectgarbage("count")
      pcall(corral.scope, function() error(string.rep("x", 4 * 1024 * 1024), 0) end)
      collectgarbage()
      collectgarbage()
      grown = collectgarbage("count") - before  -- the task still runs
    end)
    assert.is_true(grown < 512, ("%.0f KB kept"):format(grown))
  end)
end)
