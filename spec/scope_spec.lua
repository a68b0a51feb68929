-- spec/scope_spec.lua: cancel scopes, deadlines and shields (docs/model.md):
-- corral.scope, move_on_after/at, fail_after/at, level-triggered cancellation,
-- which scope absorbs a Cancelled, and a delivered wake-up winning over a cancel.
local corral = require "corral"
local support = require "support"

local vrun, now = support.vrun, corral.now

describe("corral.scope", function()
  it("passes the scope to the body and returns the body's results", function()
    local fields, r
    vrun(function()
      r = table.pack(corral.scope(function(s)
        fields = {
          deadline = s.deadline, shield = s.shield,
          cancel_called = s.cancel_called, cancel_caught = s.cancel_caught,
        }
        return "a", nil
      end))
    end)
    assert.same({ n = 2, "a", nil }, r)
    assert.same({ deadline = math.huge, shield = false, cancel_called = false, cancel_caught = false }, fields)
  end)

  it("s:cancel() from the body: the next cancellation point raises, the scope absorbs it and returns nothing", function()
    local log = support.log()
    local scope, r
    vrun(function()
      r = table.pack(corral.scope(function(s)
        scope = s
        s:cancel()
        log:add("cancel is not a cancellation point")
        corral.sleep(1)
        log:add("unreached")
      end))
      log:stamp("after the scope")
    end)
    assert.equal(0, r.n)
    assert.same({ "cancel is not a cancellation point", "after the scope@0" }, log.items)
    assert.is_true(scope.cancel_called)
    assert.is_true(scope.cancel_caught)
  end)

  it("s:cancel() from another task interrupts the blocked body", function()
    local log = support.log()
    vrun(function()
      corral.group(function(g)
        local scope
        g:spawn(function() corral.sleep(2); scope:cancel() end)
        corral.scope(function(s)
          scope = s
          corral.sleep(10)
          log:add("unreached")
        end)
        log:stamp("scope exited")
      end)
    end)
    assert.same({ "scope exited@2" }, log.items)
  end)

  it("a cancel that no cancellation point saw sets cancel_called but not cancel_caught", function()
    local scope, r
    vrun(function()
      r = table.pack(corral.scope(function(s)
        scope = s
        s:cancel()
        return "finished anyway"
      end))
    end)
    assert.same({ n = 1, "finished anyway" }, r)
    assert.is_true(scope.cancel_called)
    assert.is_false(scope.cancel_caught)
  end)

  it("s:cancel() after the scope exited does nothing", function()
    local scope, t
    vrun(function()
      corral.scope(function(s) scope = s end)
      scope:cancel()
      corral.sleep(1) -- would raise if the cancel had leaked out to the caller
      t = now()
    end)
    assert.equal(1, t)
    assert.is_false(scope.cancel_called)
  end)

  it("entering a scope or a group inside a cancelled scope is not a cancellation point", function()
    local log = support.log()
    vrun(function()
      corral.scope(function(s)
        s:cancel()
        log:add(corral.scope(function() return "scope body ran" end))
        log:add(corral.group(function() return "group body ran" end))
        log:add("still running")
        corral.checkpoint()
        log:add("unreached")
      end)
    end)
    assert.same({ "scope body ran", "group body ran", "still running" }, log.items)
  end)

  describe("level-triggered cancellation", function()
    it("a pcall that swallows Cancelled gets it again at every later cancellation point", function()
      local seen, t = {}, nil
      vrun(function()
        corral.group(function(g)
          local other = g:spawn(function() corral.sleep(5) end)
          corral.scope(function(s)
            corral.sleep(1)
            s:cancel("stop")
            local points = {
              function() corral.sleep(1) end,
              function() corral.checkpoint() end,
              function() corral.sleep(0) end,
              function() corral.sleep_until(100) end,
              function() other:wait() end,
              function() corral.sleep(1) end,
            }
            for _, point in ipairs(points) do
              local ok, e = pcall(point)
              seen[#seen + 1] = ok and "returned" or corral.is_cancelled(e) and e.reason or tostring(e)
            end
            t = now()
          end)
        end)
      end)
      assert.same({ "stop", "stop", "stop", "stop", "stop", "stop" }, seen)
      assert.equal(1, t)
    end)

    it("swallowing Cancelled in a loop cannot make a task immortal", function()
      local survived, t = 0, nil
      vrun(function()
        corral.move_on_after(1, function()
          for _ = 1, 1000 do
            if pcall(corral.sleep, 2) then survived = survived + 1 end
          end
          t = now()
        end)
      end)
      assert.equal(0, survived)
      assert.equal(1, t)
    end)

    it("once the task leaves the cancelled scope, its cancellation points block normally again", function()
      local log = support.log()
      vrun(function()
        corral.scope(function(s)
          s:cancel()
          pcall(corral.checkpoint)
        end)
        corral.sleep(2)
        log:stamp("slept after the scope")
      end)
      assert.same({ "slept after the scope@2" }, log.items)
    end)
  end)

  describe("which scope absorbs a Cancelled", function()
    local function cancel_both(first, second)
      local log = support.log()
      local scopes, err = {}, nil
      vrun(function()
        corral.scope(function(outer)
          scopes.outer = outer
          corral.scope(function(inner)
            scopes.inner = inner
            scopes[first]:cancel(first .. " reason")
            scopes[second]:cancel(second .. " reason")
            local ok, e = pcall(corral.checkpoint)
            err = e
            error(e, 0)
          end)
          log:add("unreached: between the scopes")
        end)
        log:stamp("outer exited")
      end)
      return log, scopes, err
    end

    for _, order in ipairs({ { "inner", "outer" }, { "outer", "inner" } }) do
      it(("the outermost cancelled scope absorbs it and its reason is carried (%s cancelled first)"):format(order[1]), function()
        local log, scopes, err = cancel_both(order[1], order[2])
        assert.same({ "outer exited@0" }, log.items)
        assert.is_true(corral.is_cancelled(err))
        assert.equal("outer reason", err.reason)
        assert.is_true(scopes.inner.cancel_called)
        assert.is_false(scopes.inner.cancel_caught)
        assert.is_true(scopes.outer.cancel_called)
        assert.is_true(scopes.outer.cancel_caught)
      end)
    end

    it("a shielded scope hides the cancelled scopes outside it, so it absorbs its own cancel", function()
      local log = support.log()
      local shielded, inner_err, outer_err
      vrun(function()
        corral.scope(function(outer)
          outer:cancel("outer reason")
          corral.scope(function(s)
            shielded = s
            s:cancel("inner reason")
            local ok, e = pcall(corral.checkpoint)
            inner_err = e
            error(e, 0)
          end, { shield = true })
          log:add("after the shielded scope")
          local ok, e = pcall(corral.checkpoint)
          outer_err = e
        end)
      end)
      assert.same({ "after the shielded scope" }, log.items)
      assert.equal("inner reason", inner_err.reason)
      assert.is_true(shielded.cancel_caught)
      assert.is_true(corral.is_cancelled(outer_err))
      assert.equal("outer reason", outer_err.reason)
    end)

    it("absorbs a bare Cancelled only: an ErrorGroup holding one is a failure", function()
      local caught, err
      local ok = pcall(vrun, function()
        local s
        local ok2, e2 = pcall(corral.scope, function(scope)
          s = scope
          scope:cancel()
          local _, c = pcall(corral.sleep, math.huge)
          error(corral.error_group({ c }, { "x" }), 0)
        end)
        caught, err = s.cancel_caught, e2
        assert(not ok2)
      end)
      assert.is_true(ok)
      assert.is_false(caught)
      assert.is_true(corral.is_error_group(err))
      assert.is_true(corral.is_cancelled(err.errors[1]))
    end)
  end)
end)

describe("deadlines", function()
  it("a scope with a timeout is cancelled at exactly now + timeout", function()
    local log = support.log()
    local scope, deadline
    vrun(function()
      corral.sleep(1)
      corral.scope(function(s)
        scope = s
        deadline = s.deadline
        corral.sleep(10)
        log:add("unreached")
      end, { timeout = 2.5 })
      log:stamp("scope exited")
    end)
    assert.equal(3.5, deadline)
    assert.same({ "scope exited@3.5" }, log.items)
    assert.is_true(scope.cancel_called)
    assert.is_true(scope.cancel_caught)
  end)

  it("a scope with an absolute deadline is cancelled at that corral.now() time", function()
    local log = support.log()
    local deadline
    vrun(function()
      corral.sleep(1)
      corral.scope(function(s)
        deadline = s.deadline
        corral.sleep(10)
      end, { deadline = 4 })
      log:stamp("scope exited")
    end)
    assert.equal(4, deadline)
    assert.same({ "scope exited@4" }, log.items)
  end)

  it("a scope that does not reach its deadline is not cancelled", function()
    local scope, r
    vrun(function()
      r = table.pack(corral.scope(function(s)
        scope = s
        corral.sleep(1)
        return "in time"
      end, { timeout = 2 }))
      corral.sleep(5) -- the old deadline must not fire later
    end)
    assert.same({ n = 1, "in time" }, r)
    assert.is_false(scope.cancel_called)
  end)

  for _, case in ipairs({
    { what = "timeout 0", opts = { timeout = 0 } },
    { what = "a deadline equal to now", opts = { deadline = 2 } },
    { what = "a deadline before now", opts = { deadline = 1 } },
  }) do
    it(case.what .. " expires the scope on entry: the body runs up to its first cancellation point, which raises", function()
      local log = support.log()
      local scope, r
      vrun(function()
        corral.sleep(2)
        r = table.pack(corral.scope(function(s)
          scope = s
          log:add("body entered")
          corral.checkpoint()
          log:add("unreached")
        end, case.opts))
        log:stamp("scope returned")
      end)
      assert.equal(0, r.n)
      assert.same({ "body entered", "scope returned@2" }, log.items)
      assert.is_true(scope.cancel_called)
      assert.is_true(scope.cancel_caught)
    end)
  end

  it("moving s.deadline earlier wakes the blocked body at the new deadline", function()
    local log = support.log()
    vrun(function()
      corral.group(function(g)
        local scope
        g:spawn(function() corral.sleep(1); scope.deadline = 3 end)
        corral.scope(function(s)
          scope = s
          corral.sleep(10)
        end, { timeout = 8 })
        log:stamp("scope exited")
      end)
    end)
    assert.same({ "scope exited@3" }, log.items)
  end)

  it("moving s.deadline into the past cancels the blocked body at once", function()
    local log = support.log()
    vrun(function()
      corral.group(function(g)
        local scope
        g:spawn(function() corral.sleep(1); scope.deadline = 0.5 end)
        corral.scope(function(s)
          scope = s
          corral.sleep(10)
        end)
        log:stamp("scope exited")
      end)
    end)
    assert.same({ "scope exited@1" }, log.items)
  end)

  it("moving s.deadline later postpones it, and math.huge removes it", function()
    local log = support.log()
    vrun(function()
      corral.scope(function(s)
        s.deadline = 4
        corral.sleep(10)
      end, { timeout = 1 })
      log:stamp("postponed deadline fired")
      corral.scope(function(s)
        s.deadline = math.huge
        corral.sleep(10)
        log:stamp("slept in full")
      end, { timeout = 1 })
    end)
    assert.same({ "postponed deadline fired@4", "slept in full@14" }, log.items)
  end)

  it("nested deadlines fire in order, innermost first", function()
    local log = support.log()
    vrun(function()
      corral.move_on_after(3, function()
        corral.move_on_after(2, function()
          corral.move_on_after(1, corral.sleep, math.huge)
          log:stamp("inner fired")
          corral.sleep(math.huge)
        end)
        log:stamp("middle fired")
        corral.sleep(math.huge)
      end)
      log:stamp("outer fired")
    end)
    assert.same({ "inner fired@1", "middle fired@2", "outer fired@3" }, log.items)
  end)

  it("an outer deadline that fires first passes through the inner scope, whose own deadline never fires", function()
    local log = support.log()
    local inner
    vrun(function()
      corral.move_on_after(1, function()
        corral.scope(function(s)
          inner = s
          corral.sleep(math.huge)
        end, { timeout = 3 })
        log:add("unreached: after the inner scope")
      end)
      log:stamp("outer fired")
      corral.sleep(5)
    end)
    assert.same({ "outer fired@1" }, log.items)
    assert.is_false(inner.cancel_called)
    assert.is_false(inner.cancel_caught)
  end)

  it("deadlines in different tasks fire in time order", function()
    local log = support.log()
    vrun(function()
      corral.group(function(g)
        for _, d in ipairs({ 3, 1, 2 }) do
          g:spawn(function()
            corral.move_on_after(d, corral.sleep, math.huge)
            log:stamp("deadline " .. d)
          end)
        end
      end)
    end)
    assert.same({ "deadline 1@1", "deadline 2@2", "deadline 3@3" }, log.items)
  end)

  it("deadlines that fall at the same time fire in the order they were set #fifo", function()
    local log = support.log()
    vrun(function()
      corral.group(function(g)
        for _, name in ipairs({ "a", "b", "c" }) do
          g:spawn(function()
            corral.move_on_at(5, corral.sleep, math.huge)
            log:stamp(name)
          end)
        end
      end)
    end)
    assert.same({ "a@5", "b@5", "c@5" }, log.items)
  end)
end)

describe("move_on_after and move_on_at", function()
  it("move_on_after returns true and fn's results when fn finishes in time", function()
    local r
    vrun(function()
      r = table.pack(corral.move_on_after(2, function(a, b)
        corral.sleep(1)
        return a + b, nil
      end, 2, 3))
    end)
    assert.same({ n = 3, true, 5, nil }, r)
  end)

  it("move_on_after returns false when the time ran out", function()
    local log = support.log()
    local r
    vrun(function()
      r = table.pack(corral.move_on_after(2, function()
        corral.sleep(5)
        log:add("unreached")
      end))
      log:stamp("moved on")
    end)
    assert.same({ n = 1, false }, r)
    assert.same({ "moved on@2" }, log.items)
  end)

  it("move_on_after(0, fn) runs fn up to its first cancellation point", function()
    local log = support.log()
    local r
    vrun(function()
      r = table.pack(corral.move_on_after(0, function()
        log:add("fn entered")
        corral.sleep(0)
        log:add("unreached")
      end))
    end)
    assert.same({ n = 1, false }, r)
    assert.same({ "fn entered" }, log.items)
  end)

  it("move_on_at takes an absolute deadline", function()
    local r1, r2, t
    vrun(function()
      corral.sleep(1)
      r1 = table.pack(corral.move_on_at(3, corral.sleep, 10))
      t = now()
      r2 = table.pack(corral.move_on_at(10, function() return "fast" end))
    end)
    assert.same({ n = 1, false }, r1)
    assert.equal(3, t)
    assert.same({ n = 2, true, "fast" }, r2)
  end)
end)

describe("fail_after and fail_at", function()
  it("fail_after returns fn's results (without a leading true) when fn finishes in time", function()
    local r
    vrun(function()
      r = table.pack(corral.fail_after(2, function(a)
        corral.sleep(1)
        return a, nil
      end, "x"))
    end)
    assert.same({ n = 2, "x", nil }, r)
  end)

  it("fail_after raises a Timeout when its own deadline fires", function()
    local log = support.log()
    local err
    vrun(function()
      err = support.raises(corral.fail_after, 1, function()
        corral.sleep(10)
        log:add("unreached")
      end)
      log:stamp("timed out")
    end)
    assert.is_true(corral.is_timeout(err))
    assert.same({ "timed out@1" }, log.items)
  end)

  it("fail_at takes an absolute deadline", function()
    local err, t
    vrun(function()
      corral.sleep(2)
      err = support.raises(corral.fail_at, 5, corral.sleep, 10)
      t = now()
    end)
    assert.is_true(corral.is_timeout(err))
    assert.equal(5, t)
  end)

  it("fail_after(0, fn) raises a Timeout at fn's first cancellation point", function()
    local log = support.log()
    local err
    vrun(function()
      err = support.raises(corral.fail_after, 0, function()
        log:add("fn entered")
        corral.checkpoint()
        log:add("unreached")
      end)
    end)
    assert.is_true(corral.is_timeout(err))
    assert.same({ "fn entered" }, log.items)
  end)

  it("an outer move_on_after firing first passes a Cancelled through fail_after unchanged", function()
    local r, through, t
    vrun(function()
      r = table.pack(corral.move_on_after(1, function()
        local ok, e = pcall(corral.fail_after, 5, corral.sleep, 10)
        through = e
        error(e, 0)
      end))
      t = now()
    end)
    assert.same({ n = 1, false }, r)
    assert.is_true(corral.is_cancelled(through))
    assert.is_false(corral.is_timeout(through))
    assert.equal("deadline", through.source)
    assert.equal(1, t)
  end)

  it("an outer fail_after firing first raises its Timeout through an inner move_on_after", function()
    local log = support.log()
    local err
    vrun(function()
      err = support.raises(corral.fail_after, 1, function()
        corral.move_on_after(5, corral.sleep, 10)
        log:add("unreached: inner move_on_after returned")
      end)
      log:stamp("timed out")
    end)
    assert.is_true(corral.is_timeout(err))
    assert.same({ "timed out@1" }, log.items)
  end)
end)

describe("shielded scopes", function()
  it("a shielded scope ignores the cancellation of enclosing scopes", function()
    local log = support.log()
    local r
    vrun(function()
      r = table.pack(corral.move_on_after(1, function()
        corral.scope(function()
          corral.sleep(3)
          log:stamp("shielded sleep finished")
        end, { shield = true })
        log:stamp("after the shield")
        corral.checkpoint()
        log:add("unreached")
      end))
      log:stamp("moved on")
    end)
    assert.same({ n = 1, false }, r)
    assert.same({ "shielded sleep finished@3", "after the shield@3", "moved on@3" }, log.items)
  end)

  it("a shielded cleanup can sleep inside a cancelled task", function()
    local log = support.log()
    local t
    vrun(function()
      corral.group(function(g)
        t = g:spawn(function()
          local ok, e = pcall(corral.sleep, math.huge)
          log:stamp("cancelled")
          corral.scope(function()
            corral.sleep(2)
            log:stamp("cleanup done")
          end, { shield = true })
          local ok2, e2 = pcall(corral.checkpoint)
          log:add(corral.is_cancelled(e2) and "cancelled again after the shield" or "not cancelled after the shield")
          error(e, 0)
        end)
        corral.sleep(1)
        t:cancel()
      end)
    end)
    assert.same({ "cancelled@1", "cleanup done@3", "cancelled again after the shield" }, log.items)
    assert.equal("cancelled", t.status)
  end)

  it("a shielded scope's own deadline still applies", function()
    local log = support.log()
    vrun(function()
      corral.scope(function(outer)
        outer:cancel()
        local r = table.pack(corral.scope(function()
          corral.sleep(5)
          log:add("unreached")
        end, { shield = true, timeout = 1 }))
        log:stamp("shielded scope timed out, returning " .. r.n .. " values")
        corral.checkpoint()
        log:add("unreached: the outer cancel still holds")
      end)
    end)
    assert.same({ "shielded scope timed out, returning 0 values@1" }, log.items)
  end)

  it("a shielded scope's own cancel still applies", function()
    local log = support.log()
    vrun(function()
      corral.group(function(g)
        local shielded
        g:spawn(function() corral.sleep(2); shielded:cancel() end)
        corral.scope(function(outer)
          outer:cancel()
          corral.scope(function(s)
            shielded = s
            corral.sleep(5)
            log:add("unreached")
          end, { shield = true })
          log:stamp("shielded scope cancelled")
        end)
      end)
    end)
    assert.same({ "shielded scope cancelled@2" }, log.items)
  end)

  it("s.shield can be turned on and off while the scope runs", function()
    local log = support.log()
    vrun(function()
      corral.scope(function(outer)
        outer:cancel("outer")
        corral.scope(function(s)
          s.shield = true
          log:add("shield is " .. tostring(s.shield))
          corral.sleep(1)
          log:stamp("slept while shielded")
          s.shield = false
          corral.checkpoint()
          log:add("unreached")
        end)
        log:add("unreached: after the inner scope")
      end)
      log:stamp("outer exited")
    end)
    assert.same({ "shield is true", "slept while shielded@1", "outer exited@1" }, log.items)
  end)

  it("a shielded group's body and children ignore the enclosing cancellation", function()
    local log = support.log()
    vrun(function()
      corral.scope(function(outer)
        outer:cancel()
        corral.group(function(g)
          g:spawn(function() corral.sleep(1); log:stamp("child slept") end)
          corral.sleep(2)
          log:stamp("body slept")
        end, { shield = true })
        log:stamp("after the group")
        corral.checkpoint()
        log:add("unreached")
      end)
    end)
    assert.same({ "child slept@1", "body slept@2", "after the group@2" }, log.items)
  end)
end)

describe("a delivered wake-up wins over a later cancellation", function()
  it("start returns the value handed over by ready even though the caller's scope was cancelled in the same turn", function()
    local got, later, scope
    vrun(function()
      corral.group(function(g)
        corral.scope(function(s)
          scope = s
          got = g:start(function(ready)
            ready("value")
            s:cancel("too late") -- same turn: the caller already has its value
          end)
          local ok, e = pcall(corral.checkpoint)
          later = e
          error(e, 0)
        end)
      end)
    end)
    assert.equal("value", got)
    assert.is_true(corral.is_cancelled(later))
    assert.equal("too late", later.reason)
    assert.is_true(scope.cancel_caught)
  end)

  -- B and C wake at t=1 in the order their sleeps began (equal deadlines fire in
  -- the order they were set): B finishes, handing "value" to the waiting body, and
  -- then C cancels the body's scope before the body has run again.
  it("t:wait returns the result of a task that finished before the waiter's scope was cancelled #fifo", function()
    local got, later
    vrun(function()
      corral.group(function(g)
        local scope
        local b = g:spawn(function() corral.sleep(1); return "value" end)
        g:spawn(function() corral.sleep(1); scope:cancel("too late") end)
        corral.scope(function(s)
          scope = s
          got = table.pack(b:wait())
          local ok, e = pcall(corral.checkpoint)
          later = e
          error(e, 0)
        end)
      end)
    end)
    assert.same({ n = 2, true, "value" }, got)
    assert.is_true(corral.is_cancelled(later))
    assert.equal("too late", later.reason)
  end)
end)

describe("argument checks", function()
  it("scope rejects a body that is not a function", function()
    vrun(function()
      support.assert_arg_error(1, "scope", "function expected", function() corral.scope(42) end)
    end)
  end)

  it("scope rejects a negative timeout", function()
    vrun(function()
      local err = support.raises(corral.scope, function() end, { timeout = -1 })
      support.assert_mentions(err, "timeout")
    end)
  end)

  it("move_on_after and fail_after reject negative and NaN seconds", function()
    vrun(function()
      local fn = function() end
      support.assert_arg_error(1, "move_on_after", nil, function() corral.move_on_after(-1, fn) end)
      support.assert_arg_error(1, "move_on_after", nil, function() corral.move_on_after(0 / 0, fn) end)
      support.assert_arg_error(1, "fail_after", nil, function() corral.fail_after(-1, fn) end)
      support.assert_arg_error(1, "fail_after", nil, function() corral.fail_after(0 / 0, fn) end)
      support.assert_arg_error(1, "move_on_at", nil, function() corral.move_on_at(0 / 0, fn) end)
      support.assert_arg_error(1, "fail_at", nil, function() corral.fail_at(0 / 0, fn) end)
    end)
  end)

  it("move_on_after and fail_after reject a non-number time and a non-function body", function()
    vrun(function()
      support.assert_arg_error(1, "move_on_after", "number expected", function() corral.move_on_after("soon", print) end)
      support.assert_arg_error(2, "move_on_after", "got number", function() corral.move_on_after(1, 42) end)
      support.assert_arg_error(2, "fail_after", "got number", function() corral.fail_after(1, 42) end)
    end)
  end)
end)

describe("scopes nested in one task beyond Lua's C-call limit", function()
  it("fail that task with 'C stack overflow', leaving nothing open", function()
    local testing = require "corral.testing"
    local depth, ok, err, after = 0, nil, nil, nil
    testing.run(function()
      local function nest(n)
        depth = n
        corral.scope(function() nest(n + 1) end)
      end
      ok, err = pcall(nest, 1)
      corral.sleep(1)              -- the task goes on normally afterwards
      after = corral.now()
    end)
    assert.is_false(ok)
    assert.matches("stack overflow", tostring(err))
    assert.is_true(depth > 100)
    assert.equal(1, after)
  end)
end)
