-- A task's traceback looked at every level of its stack for a policy's
-- call of a branch, and the task record's lookup walked down to its base
-- the same way; each lua_getstack walks `level` frames, so both cost the
-- square of the depth: an error 100,000 calls deep took 21 s to report,
-- and an endless recursion in a task never ended (under the corral
-- command, not even for SIGTERM). Both ends of the stack are looked at
-- now, and its depth is found by bisection.
local corral = require "corral"
local support = require "support"

describe("regression: a deep recursion in a task took its traceback for ever", function()
  it("an endless recursion in a child is reported as a stack overflow", function()
    local function f() return f() + 1 end
    local eg = support.error_group(support.vrun, function()
      corral.group(function(g) g:spawn(f) end)
    end)
    assert.matches("stack overflow", eg.errors[1])
    assert.matches("\n\t...\t%(skipping %d+ levels%)\n", eg.tracebacks[1])
  end)

  it("a traceback of a task waiting deep down", function()
    support.vrun(function()
      corral.group(function(g)
        local function f(n) if n == 0 then corral.sleep(1) return 0 end return f(n - 1) + 1 end
        local t = g:spawn(f, 100000)
        corral.sleep(0.5)
        local tb = t:traceback()
        assert.matches("^stack traceback:\n\t%[C%]: in function 'corral.sleep'", tb)
        assert.matches("\n\t...\t%(skipping %d+ levels%)\n", tb)
        g:cancel()
      end)
    end)
  end)
end)
