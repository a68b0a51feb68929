-- map and gather with a limit spawned every call's task at once, into a group
-- whose limit held them back: each already had its coroutine, so map over
-- 200,000 items with limit = 4 peaked at 312 MB. A call's task is now spawned
-- only when a slot is free: at most `limit` of them exist at once.
local corral = require "corral"
local support = require "support"
local map, gather = require "corral.map", require "corral.gather"

describe("regression: map and gather with a limit", function()
  it("keep at most limit call tasks alive", function()
    local most = 0
    support.vrun(function()
      local items = {}
      for i = 1, 200 do items[i] = i end
      local r = map(function(x)
        most = math.max(most, corral.debug_stats().tasks)
        corral.sleep(x % 3)
        return -x
      end, items, { limit = 4 })
      assert.equal(200, #r)
      assert.equal(-200, r[200])
    end)
    assert.is_true(most <= 1 + 4, "tasks alive at once: " .. most)   -- the root, and 4
  end)

  it("start no call once the group is cancelled by a failure", function()
    local started = {}
    support.vrun(function()
      local fns = {}
      for i = 1, 10 do
        fns[i] = function()
          started[#started + 1] = i
          corral.sleep(1)
          if i == 2 then error("boom", 0) end
          corral.sleep(10)
        end
      end
      local ok, eg = pcall(gather, fns, { limit = 3 })
      assert.is_false(ok)
      assert.same({ "boom" }, eg.errors)
    end)
    table.sort(started)                    -- (any order under a schedule seed)
    assert.same({ 1, 2, 3 }, started)
  end)
end)
