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

  it("gives a stack that grew back to the collector", function()
    local grown, settled
    vrun(function()
      local function deep(n) if n == 0 then return 0 end return 1 + deep(n - 1) end
      collectgarbage()
      local base = collectgarbage("count")
      corral.group(function(g) g:spawn(deep, 30000) end)
      grown = collectgarbage("count") - base
      collectgarbage()
      collectgarbage()
      settled = collectgarbage("count") - base
      assert.equal(1, pooled())
    end)
    assert.is_true(grown > 1000, "the recursion grew the stack (" .. grown .. " kB)")
    assert.is_true(settled < grown / 4,
                   ("%.0f kB still held of %.0f kB"):format(settled, grown))
  end)
end)
