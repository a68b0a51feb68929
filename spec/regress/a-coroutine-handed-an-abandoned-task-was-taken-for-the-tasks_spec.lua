-- spec/regress/a-coroutine-handed-an-abandoned-task-was-taken-for-the-tasks_spec.lua
--
-- Broke: a coroutine of the program's own, whose function was handed a task
-- abandoned at a deadlock (coroutine.resume(co, t)), could not be resumed
-- nor closed again: "this coroutine belongs to a corral task". corral told a
-- task's coroutine by the first local of its outermost frame being a Task
-- (task_main's first slot), which the program's function had too. The
-- outermost frame must now be task_main itself.
local corral = require "corral"

-- A task abandoned at a deadlock: cancelled, its run over, still held.
local function abandoned_task()
  local T
  local ok = pcall(corral.run, function()
    corral.group(function(g)
      T = g:spawn(function()
        corral.scope(function() corral.event():wait() end, { shield = true })
      end)
    end)
  end, { clock = "virtual" })
  assert.is_false(ok)
  assert.equal("cancelled", T.status)
  return T
end

local function gen()
  return coroutine.create(function(task) coroutine.yield(task ~= nil); return "end" end)
end

describe("regression: a coroutine handed an abandoned task", function()
  it("is resumed again, as any coroutine of the program's", function()
    local T = abandoned_task()
    local co = gen()
    assert.same({ true, true }, { coroutine.resume(co, T) })
    assert.same({ true, "end" }, { coroutine.resume(co) })
    assert.equal("dead", coroutine.status(co))
  end)

  it("is closed, as any coroutine of the program's", function()
    local T = abandoned_task()
    local co = gen()
    assert.is_true((coroutine.resume(co, T)))
    assert.same({ true }, { coroutine.close(co) })
    assert.equal("dead", coroutine.status(co))
  end)

  it("the task's own coroutine is still refused", function()
    local co
    local ok, err = pcall(corral.run, function()
      co = coroutine.running()
      return coroutine.resume(co)
    end, { clock = "virtual" })
    assert.is_false(ok)
    assert.matches("corral task", tostring(err), 1, true)
    assert.truthy(co)
  end)
end)
