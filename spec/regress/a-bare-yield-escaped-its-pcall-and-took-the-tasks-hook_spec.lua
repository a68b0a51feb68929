-- spec/regress/a-bare-yield-escaped-its-pcall-and-took-the-tasks-hook_spec.lua
--
-- Broke: a bare coroutine.yield in a task reached the scheduler, which
-- resumed it with a hook set to raise at the next instruction. So
-- pcall(coroutine.yield) (and lk:with(coroutine.yield)) did not catch the
-- error: it came at the caller's next instruction, outside the pcall; and
-- the task's own hook (debug.sethook) was replaced, then cleared. require
-- "corral" now wraps coroutine.yield to raise at once on a task's own
-- coroutine; a copy of the original taken before require still takes the
-- hook path, which now puts the task's own hook back.
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

local MSG = "attempt to yield from a corral task with coroutine.yield"

-- The original coroutine.yield, as a copy taken before require would be
-- (the wrapper keeps it as its second upvalue; unwrapped, it is itself).
local function original_yield()
  local _, f = debug.getupvalue(coroutine.yield, 2)
  return f or coroutine.yield
end

describe("regression: a bare coroutine.yield", function()
  it("is caught by a pcall around it, and the task goes on", function()
    local caught, after = vrun(function()
      local ok, err = pcall(coroutine.yield)
      assert.is_false(ok)
      corral.checkpoint()
      return err, "after"
    end)
    assert.matches(MSG, caught, 1, true)
    assert.equal("after", after)
  end)

  it("is caught by the pcall lk:with makes, which releases the lock", function()
    local ok, err, locked = vrun(function()
      local lk = corral.lock()
      local ok, err = pcall(lk.with, lk, coroutine.yield)
      return ok, err, lk.locked
    end)
    assert.is_false(ok)
    assert.matches(MSG, err, 1, true)
    assert.is_false(locked)
  end)

  it("leaves the task's own hook in place", function()
    local hook = function() end
    local same, mask, count = vrun(function()
      debug.sethook(hook, "", 100)
      local ok = pcall(function() coroutine.yield() end)
      assert.is_false(ok)
      local h, m, c = debug.gethook()
      debug.sethook()
      return h == hook, m, c
    end)
    assert.is_true(same)
    assert.equal("", mask)
    assert.equal(100, count)
  end)

  it("through a copy taken before require, still fails, and gives the hook back", function()
    local yield, hook = original_yield(), function() end
    local same, count, err = vrun(function()
      debug.sethook(hook, "", 100)
      local ok, e = pcall(function() yield(); local x = 1; return x end)
      assert.is_false(ok)
      local h, _, c = debug.gethook()
      debug.sethook()
      return h == hook, c, e
    end)
    assert.matches(MSG, err, 1, true)
    assert.is_true(same)
    assert.equal(100, count)
  end)

  it("in a generator of the program's own inside a task is the original", function()
    local a, b, c = vrun(function()
      local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
      return gen(), gen(), gen()
    end)
    assert.same({ 1, 2, 3 }, { a, b, c })
  end)
end)
