-- A __gc finalizer that spawned a task while corral made a new page of
-- anchors (the step of the collector that allocating the page may run) took
-- the same pair of slots as the task being spawned: two live tasks shared
-- one anchor, g:tasks() missed one, and a later finish freed the other's
-- coroutine while it slept (use after free). The pair is chosen once the
-- page exists now, and pages join only where there is room.
local corral = require "corral"
local support = require "support"

describe("regression: a finalizer spawning while an anchor page is made", function()
  it("leaves every task its own anchor", function()
    local g_, window, nested, fincalls = nil, false, 0, 0
    local mt = { __gc = function()
      fincalls = fincalls + 1
      if window and nested == 0 then
        nested = 1
        g_:spawn(function() corral.sleep(0.1) end)
      end
    end }
    local outer, listed, distinct, result
    support.vrun(function()
      corral.group(function(g)
        g_ = g
        for _ = 1, 2047 do g:spawn(corral.sleep, 100) end   -- pairs 2..2048
        collectgarbage("stop")
        for _ = 1, 100000 do setmetatable({}, mt) end
        collectgarbage("restart")
        collectgarbage("incremental", 100, 100, 0)
        while fincalls == 0 do collectgarbage("step", 0) end  -- finalizers due
        window = true
        outer = g:spawn(function() corral.sleep(5); return "outer" end)  -- page 2
        window = false
        collectgarbage("incremental", 200, 100, 13)
        local seen = {}
        distinct, listed = 0, false
        for _, t in ipairs(g:tasks()) do
          if not seen[t] then seen[t], distinct = true, distinct + 1 end
          if t == outer then listed = true end
        end
        for _ = 1, 2047 do g:spawn(corral.sleep, 100) end     -- up to page 3
        g:spawn(function() end)
        corral.sleep(1)
        collectgarbage()
        collectgarbage()
        corral.sleep(10)
        result = { outer:wait() }
        g:cancel()
      end)
    end)
    assert.equal(1, nested)
    assert.is_true(listed)
    assert.equal(2049, distinct)                 -- 2047 + outer + nested
    assert.same({ true, "outer" }, result)
  end)
end)
