-- spec/run_spec.lua: corral.run, the clock, sleep, checkpoint, and what happens when
-- a task's coroutine is misused. docs/api.md (last bullets).
local corral = require "corral"
local support = require "support"

local vrun, now = support.vrun, corral.now
local SRC = debug.getinfo(1, "S").short_src

describe("corral.run", function()
  it("returns the root task's results, nils included", function()
    local r = table.pack(vrun(function() return 1, nil, "three" end))
    assert.same({ n = 3, 1, nil, "three" }, r)
  end)

  it("returns only when everything the root spawned has finished", function()
    local log = support.log()
    vrun(function()
      corral.group(function(g)
        g:spawn(function() corral.sleep(2); log:stamp("child") end)
      end)
      log:stamp("root")
    end)
    log:add("run returned")
    assert.same({ "child@2", "root@2", "run returned" }, log.items)
  end)

  it("raises the root's string error unchanged, position included", function()
    local line
    local err = support.raises(vrun, function()
      line = debug.getinfo(1, "l").currentline; error("boom")
    end)
    assert.equal(SRC .. ":" .. line .. ": boom", err)
  end)

  it("raises the root's table error as the very same table", function()
    local thrown = { code = 42 }
    local err = support.raises(vrun, function() error(thrown) end)
    assert.is_true(rawequal(thrown, err))
  end)

  it("raises the root's Cancelled when the root task is cancelled", function()
    local log = support.log()
    local err = support.cancelled(vrun, function()
      corral.current_task():cancel("shutting down")
      log:add("cancel is not a cancellation point")
      corral.checkpoint()
      log:add("unreached")
    end)
    assert.same({ "cancel is not a cancellation point" }, log.items)
    assert.equal("shutting down", err.reason)
    assert.equal("explicit", err.source)
  end)

  it("cannot be called inside a running task, and the outer run carries on", function()
    local log = support.log()
    vrun(function()
      local ok, err = pcall(corral.run, function() log:add("inner body ran") end, { clock = "virtual" })
      assert.is_false(ok)
      support.assert_mentions(err, "run", "inside")
      corral.sleep(1)
      log:stamp("outer carries on")
    end)
    assert.same({ "outer carries on@1" }, log.items)
  end)

  it("rejects a body that is not a function", function()
    support.assert_arg_error(1, "run", "function expected", function() corral.run(42) end)
  end)

  it("rejects an unknown clock without running the body", function()
    local ran = false
    local err = support.raises(corral.run, function() ran = true end, { clock = "sundial" })
    local text = tostring(err)
    assert.is_truthy(text:find("clock", 1, true) or text:find("sundial", 1, true))
    assert.is_false(ran)
  end)
end)

describe("the virtual clock", function()
  it("starts at 0 in every run", function()
    local starts = {}
    vrun(function() starts[1] = now(); corral.sleep(5) end)
    vrun(function() starts[2] = now() end)
    assert.same({ 0, 0 }, starts)
  end)

  it("advances by exactly the slept time when nothing else can run", function()
    local seen = {}
    vrun(function()
      corral.sleep(1); seen[#seen + 1] = now()
      corral.sleep(0.25); seen[#seen + 1] = now()
      corral.sleep(2.5); seen[#seen + 1] = now()
    end)
    assert.same({ 1, 1.25, 3.75 }, seen)
  end)

  it("jumps straight to the next deadline, however far", function()
    local t
    vrun(function() corral.sleep(3600 * 24 * 365); t = now() end)
    assert.equal(3600 * 24 * 365, t)
  end)

  it("stands still while any task can run", function()
    local log = support.log()
    vrun(function()
      corral.group(function(g)
        g:spawn(function() corral.sleep(0.5); log:stamp("sleeper woke") end)
        g:spawn(function()
          for _ = 1, 100 do corral.checkpoint() end
          log:stamp("busy task done")
        end)
      end)
    end)
    assert.same({ "busy task done@0", "sleeper woke@0.5" }, log.items)
  end)

  it("wakes sleepers in deadline order, whatever order they went to sleep in", function()
    local log = support.log()
    vrun(function()
      corral.group(function(g)
        for _, d in ipairs({ 3, 1, 2 }) do
          g:spawn(function() corral.sleep(d); log:stamp("slept " .. d) end)
        end
      end)
    end)
    assert.same({ "slept 1@1", "slept 2@2", "slept 3@3" }, log.items)
  end)

  it("sleep(0) does not advance the clock", function()
    local t
    vrun(function() corral.sleep(0); corral.sleep(0); t = now() end)
    assert.equal(0, t)
  end)

  it("sleep(math.huge) sleeps until the task is cancelled", function()
    local r, t
    vrun(function()
      r = table.pack(corral.move_on_after(7, corral.sleep, math.huge))
      t = now()
    end)
    assert.same({ n = 1, false }, r)
    assert.equal(7, t)
  end)

  it("sleep_until(t) wakes at t on the corral.now() clock", function()
    local seen = {}
    vrun(function()
      corral.sleep(1)
      corral.sleep_until(5); seen[1] = now()
      corral.sleep_until(5.5); seen[2] = now()
    end)
    assert.same({ 5, 5.5 }, seen)
  end)

  it("sleep_until a time already past returns without moving the clock", function()
    local t
    vrun(function()
      corral.sleep(3)
      corral.sleep_until(1)
      corral.sleep_until(3)
      t = now()
    end)
    assert.equal(3, t)
  end)
end)

describe("corral.checkpoint", function()
  it("lets the other ready tasks run, in FIFO order, before coming back #fifo", function()
    local log = support.log()
    vrun(function()
      corral.group(function(g)
        for _, name in ipairs({ "a", "b", "c" }) do
          g:spawn(function()
            for i = 1, 3 do log:add(name .. i); corral.checkpoint() end
          end)
        end
      end)
    end)
    assert.same({ "a1", "b1", "c1", "a2", "b2", "c2", "a3", "b3", "c3" }, log.items)
  end)

  it("does not advance the clock", function()
    local t
    vrun(function()
      for _ = 1, 10 do corral.checkpoint() end
      t = now()
    end)
    assert.equal(0, t)
  end)
end)

describe("the real clock", function()
  it("starts near 0 at the start of a run", function()
    local t0 = corral.run(function() return corral.now() end)
    assert.is_true(t0 >= 0 and t0 < 1, "now() at start was " .. tostring(t0))
  end)

  -- The one spec that lets real time pass (about 20 ms of computing, no sleep):
  -- the virtual clock cannot move while a task runs, so only the real clock can
  -- show that a checkpoint reads the current time rather than a cached loop time.
  it("fires a deadline that passed while a task computed at its next checkpoint", function()
    local log = support.log()
    local r = table.pack(corral.run(function()
      return corral.move_on_after(0.005, function()
        local c0 = os.clock()
        while os.clock() - c0 < 0.02 do end -- no cancellation point in here
        log:add("computed past the deadline")
        corral.checkpoint()
        log:add("unreached")
      end)
    end))
    assert.same({ n = 1, false }, r)
    assert.same({ "computed past the deadline" }, log.items)
  end)

  -- Ordering only: about 2 ms of computing makes the sleeper's deadline pass
  -- before thousands of spawned tasks have started.
  it("runs a task woken by its deadline ahead of spawned tasks not started yet", function()
    local N, started, seen = 5000, 0, nil
    corral.run(function()
      corral.group(function(g)
        g:spawn(function()
          corral.sleep(1e-4)
          seen = started
        end)
        corral.checkpoint()                -- the sleeper is asleep
        local c0 = os.clock()
        while os.clock() - c0 < 0.002 do end
        for _ = 1, N do g:spawn(function() started = started + 1 end) end
      end)
    end)
    assert.is_true(seen ~= nil and seen < N,
                   "the sleeper ran after " .. tostring(seen) .. " of " .. N)
  end)

  -- Regression: the clock was read only at cancellation points and between
  -- passes of 4096 resumes, so a deadline that came due while spawned tasks
  -- ran without reaching one (they compute and return) waited for all of them.
  it("wakes a sleeper whose deadline comes due among tasks that never reach a cancellation point", function()
    local N, started, seen = 2000, 0, nil
    corral.run(function()
      corral.group(function(g)
        g:spawn(function()
          corral.sleep(0.002)
          seen = started
        end)
        corral.checkpoint()                -- the sleeper is asleep
        for _ = 1, N do
          g:spawn(function()
            local c0 = os.clock()
            while os.clock() - c0 < 2e-5 do end
            started = started + 1
          end)
        end
      end)
    end)
    assert.is_true(seen ~= nil and seen < N / 2,
                   "the sleeper ran after " .. tostring(seen) .. " of " .. N)
  end)
end)

describe("argument checks", function()
  it("sleep rejects negative seconds", function()
    vrun(function()
      support.assert_arg_error(1, "sleep", ">= 0", function() corral.sleep(-1) end)
    end)
  end)

  it("sleep rejects NaN", function()
    vrun(function()
      support.assert_arg_error(1, "sleep", "NaN", function() corral.sleep(0 / 0) end)
    end)
  end)

  it("sleep rejects a non-number", function()
    vrun(function()
      support.assert_arg_error(1, "sleep", "number expected", function() corral.sleep({}) end)
      support.assert_arg_error(1, "sleep", "number expected", function() corral.sleep("soon") end)
      support.assert_arg_error(1, "sleep", "number expected", function() corral.sleep() end)
    end)
  end)

  it("sleep_until rejects NaN and non-numbers", function()
    vrun(function()
      support.assert_arg_error(1, "sleep_until", nil, function() corral.sleep_until(0 / 0) end)
      support.assert_arg_error(1, "sleep_until", "number expected", function() corral.sleep_until({}) end)
    end)
  end)

  it("a rejected sleep neither blocks nor moves the clock", function()
    local t
    vrun(function()
      pcall(corral.sleep, -5)
      t = now()
    end)
    assert.equal(0, t)
  end)
end)

describe("outside corral.run", function()
  it("blocking calls raise an error saying they were called outside", function()
    support.assert_mentions(support.raises(corral.sleep, 1), "outside")
    support.assert_mentions(support.raises(corral.checkpoint), "outside")
  end)
end)

describe("a task's coroutine belongs to the engine", function()
  it("a bare coroutine.yield in the root task makes run raise an error naming it", function()
    local log = support.log()
    local err = support.raises(vrun, function()
      log:add("before")
      coroutine.yield("oops")
      log:add("unreached")
    end)
    support.assert_mentions(err, "coroutine.yield")
    assert.same({ "before" }, log.items)
  end)

  it("a bare coroutine.yield in a child is that child's failure", function()
    local log = support.log()
    local eg = support.error_group(vrun, function()
      corral.group(function(g)
        g:spawn({ function() coroutine.yield("oops") end, name = "yielder" })
        g:spawn(function()
          local ok, e = pcall(corral.sleep, 10)
          log:stamp(corral.is_cancelled(e) and "sibling cancelled" or "sibling not cancelled")
          error(e, 0)
        end)
      end)
    end)
    assert.equal(1, #eg)
    assert.same({ "yielder" }, eg.tasks)
    support.assert_mentions(eg.errors[1], "coroutine.yield")
    assert.same({ "sibling cancelled@0" }, log.items)
  end)

  it("a corral blocking call inside the user's own coroutine raises an error naming the mistake", function()
    local errs, t = {}, nil
    vrun(function()
      for _, call in ipairs({ function() corral.sleep(1) end, corral.checkpoint }) do
        local gen = coroutine.wrap(function() call() end)
        local ok, err = pcall(gen)
        assert.is_false(ok)
        errs[#errs + 1] = err
      end
      corral.sleep(1) -- the task itself is unharmed
      t = now()
    end)
    assert.equal(2, #errs)
    for _, err in ipairs(errs) do support.assert_mentions(err, "coroutine", "corral") end
    assert.equal(1, t)
  end)

  it("the user's own coroutines work as usual inside a task", function()
    local got, t = {}, nil
    vrun(function()
      local gen = coroutine.wrap(function()
        for i = 1, 3 do coroutine.yield(i * 10) end
      end)
      for i = 1, 3 do
        got[i] = gen()
        corral.sleep(1)
      end
      t = now()
    end)
    assert.same({ 10, 20, 30 }, got)
    assert.equal(3, t)
  end)
end)

describe("deadlock under the virtual clock", function()
  it("when every task blocks forever, run cancels them all, runs their cleanups and raises 'deadlock'", function()
    local log = support.log()
    local err = support.raises(vrun, function()
      local _ <close> = support.closer(function() log:add("root cleanup") end)
      corral.group(function(g)
        g:spawn(function()
          local _ <close> = support.closer(function(e)
            log:add(corral.is_cancelled(e) and "child cleanup after Cancelled" or "child cleanup")
          end)
          corral.sleep(math.huge)
        end)
      end)
    end)
    support.assert_mentions(err, "deadlock")
    assert.same({ "child cleanup after Cancelled", "root cleanup" }, log.items)
  end)
end)
