-- Found by the hostile pass after the cancellation redesign.
--
-- The coroutine guard (coroutine.resume/close wrapped by require "corral")
-- only recognises a task's coroutine while it is suspended in a yield
-- (lua_status == LUA_YIELD, found by walking its stack). A finished task's
-- coroutine is dead but keeps the task's results on its stack (t:wait reads
-- them there), and coroutine.status calls it "suspended"; a task that has not
-- started yet has status LUA_OK too. So the guarded functions let them
-- through:
--   * coroutine.close(co) of a finished task empties its stack, and t:wait()
--     then reads below the coroutine's stack (valgrind: invalid read in
--     lua_pushvalue from push_outcome);
--   * coroutine.resume(co) of a finished task calls its last result as a
--     function, on the task's coroutine, and moves the results away;
--   * coroutine.resume(co) of a task not started yet calls its last spawn
--     argument (or its function) outside the engine; with coroutine.yield as
--     the function, the task then "finishes" with status "scheduled" forever.
-- Expected (§6): these raise the clear "belongs to a corral task" error and
-- change nothing. Suggested fix: recognise task coroutines by identity (a
-- weak table coroutine -> task) rather than by their stack, and keep a
-- finished task's results off its coroutine's stack.
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

describe("regression: coroutine operations on a finished or unstarted task's coroutine", function()
  it("coroutine.close of a finished task's coroutine is harmless and t:wait still has the results", function()
    vrun(function()
      corral.group(function(g)
        local co
        local t = g:spawn(function()
          co = coroutine.running()
          return "a", "b", "c", "d"
        end)
        t:wait()                      -- finished, whatever the schedule
        assert.equal("done", t.status)
        -- the finished task's coroutine is dead and empty: closing it frees
        -- nothing of the task's (its results live in the task)
        assert.equal("dead", coroutine.status(co))
        assert.is_true(coroutine.close(co))
        assert.same({ true, "a", "b", "c", "d" }, { t:wait() })
      end)
    end)
  end)

  it("coroutine.resume of a finished task's coroutine does not call its results", function()
    local called = false
    vrun(function()
      corral.group(function(g)
        local co
        local t = g:spawn(function()
          co = coroutine.running()
          return 1, function() called = true end
        end)
        t:wait()
        local ok, err = pcall(coroutine.resume, co)
        assert.is_false(ok and err ~= false)
        local r = { t:wait() }
        assert.equal(true, r[1])
        assert.equal(1, r[2])
        assert.is_function(r[3])
      end)
    end)
    assert.is_false(called)
  end)

  it("coroutine.resume of a task that has not started yet raises and the task runs normally", function()
    local log = support.log()
    vrun(function()
      corral.group(function(g)
        local t = g:spawn(function(x) log:stamp("ran with " .. x) return x end, "arg")
        local co = support.task_coroutine(t)
        assert.equal("thread", type(co))
        local ok, err = pcall(coroutine.resume, co, "foreign")
        assert.is_false(ok and err ~= false)
        assert.same({ true, "arg" }, { t:wait() })
      end)
    end)
    assert.same({ "ran with arg@0" }, log.items)
  end)

  it("a task whose unstarted coroutine yielded from outside does not stay 'scheduled'", function()
    local t
    local eg = support.error_group(vrun, function()
      corral.group(function(g)
        t = g:spawn(coroutine.yield)
        local ok, err = pcall(coroutine.resume, support.task_coroutine(t))
        assert.is_false(ok)
        assert.matches("belongs to a corral task", err)
      end)
    end)
    -- it ran under corral, where its bare yield is the usual failure
    assert.equal("failed", t.status)
    assert.matches("attempt to yield from a corral task", eg.errors[1])
  end)
end)
