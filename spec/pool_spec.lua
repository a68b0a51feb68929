-- The coroutine pool: a task that ended leaves its (empty) coroutine for a
-- later spawn, unless coroutine.running() handed it out. It is on in the
-- corral command; here, as a host would, through the registry key every
-- run reads (this file's own busted process: nothing kept the unwrapped
-- coroutine.running).
debug.getregistry()["corral.reuse_coroutines"] = true
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

local function pooled() return corral.debug_stats().pooled end

describe("the coroutine pool", function()
  it("keeps the coroutines of ended tasks and starts new tasks on them", function()
    local before, after, refilled
    vrun(function()
      corral.group(function(g)
        for i = 1, 20 do g:spawn(function() return i end) end
      end)
      before = pooled()
      corral.group(function(g)
        for _ = 1, 5 do g:spawn(corral.checkpoint) end
        after = pooled()                 -- taken by the five spawns
      end)
      refilled = pooled()
    end)
    assert.equal(20, before)
    assert.equal(15, after)
    assert.equal(20, refilled)
    assert.equal(0, corral.debug_stats().pooled)   -- let go at the end of the run
  end)

  it("moves results out first: a task's results stay its own", function()
    local first, got = {}, {}
    vrun(function()
      corral.group(function(g)
        for i = 1, 10 do first[i] = g:spawn(function() return "a" .. i, i end) end
      end)
      corral.group(function(g)
        for i = 1, 10 do g:spawn(function() return "b" .. i end) end
      end)
      for i = 1, 10 do got[i] = { first[i]:wait() } end
    end)
    for i = 1, 10 do assert.same({ true, "a" .. i, i }, got[i]) end
  end)

  it("never reuses a coroutine that coroutine.running() handed out", function()
    local kept, seen, status = nil, {}, nil
    vrun(function()
      corral.group(function(g)
        g:spawn(function() kept = coroutine.running() end)
      end)
      corral.group(function(g)
        for i = 1, 50 do
          g:spawn(function()
            corral.checkpoint()
            seen[i] = coroutine.running()
          end)
        end
      end)
      status = coroutine.status(kept)
    end)
    assert.equal("dead", status)
    for i = 1, 50 do assert.is_not.equal(kept, seen[i]) end
  end)

  it("does not carry a task's debug hook into the next task", function()
    local fired, during = 0, nil
    vrun(function()
      corral.group(function(g)
        g:spawn(function()               -- ends with its line hook still set
          debug.sethook(function() fired = fired + 1 end, "l")
          local _ = 1
        end)
      end)
      during = fired
      fired = 0
      corral.group(function(g)           -- the first one gets its coroutine
        for _ = 1, 5 do
          g:spawn(function() local x = 0; for j = 1, 10 do x = x + j end end)
        end
      end)
    end)
    assert.is_true(during > 0, "the hook ran in the task that set it")
    assert.equal(0, fired)
  end)

  -- Twice, and in the generational mode lua5.4 and the command run in: the
  -- second time the pooled coroutine is not new, and the collector, which
  -- shrank the stack of a new one, kept the grown stack of a reused one.
  it("gives a stack that grew back to the collector", function()
    local mode = collectgarbage("generational")
    local rounds = {}
    vrun(function()
      local function deep(n) if n == 0 then return 0 end return 1 + deep(n - 1) end
      for r = 1, 2 do
        collectgarbage()
        local base = collectgarbage("count")
        corral.group(function(g) g:spawn(deep, 30000) end)
        local grown = collectgarbage("count") - base
        local pooled_before = pooled()
        collectgarbage()
        collectgarbage()
        rounds[r] = { grown = grown, settled = collectgarbage("count") - base,
                      before = pooled_before, after = pooled() }
      end
    end)
    collectgarbage(mode)
    for r, x in ipairs(rounds) do
      assert.equal(1, x.before, "round " .. r .. ": the ended task's coroutine was pooled")
      assert.equal(0, x.after, "round " .. r .. ": the collector took it")
      assert.is_true(x.grown > 1000, "the recursion grew the stack (" .. x.grown .. " kB)")
      assert.is_true(x.settled < x.grown / 4,
                     ("round %d: %.0f kB still held of %.0f kB"):format(r, x.settled, x.grown))
    end
  end)
end)
