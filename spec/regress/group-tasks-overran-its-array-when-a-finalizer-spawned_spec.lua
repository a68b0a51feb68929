-- g:tasks() sized its scratch array from the group's count of children,
-- then allocated it: that allocation may run a step of the collector whose
-- __gc finalizers spawn into the group, and the fill loop, bounded by the
-- new count, wrote past the array (a heap overflow: a crash without ASan,
-- a report under `make sanitize`). The array is sized again until the count
-- holds still.
local corral = require "corral"
local support = require "support"

describe("regression: g:tasks() while finalizers spawn into the group", function()
  it("lists every child once, in spawn order, and stays inside its array", function()
    local inside, spawned_inside, list, children = false, 0, nil, nil
    support.vrun(function()
      corral.group(function(g)
        for _ = 1, 200 do g:spawn(corral.sleep, 1) end   -- a 1.6 kB array
        local fin = { __gc = function()
          if pcall(g.spawn, g, corral.sleep, 1) and inside then
            spawned_inside = spawned_inside + 1
          end
        end }
        -- Generational mode with a minor collection (which runs every
        -- pending finalizer) each time the heap grows by 1 %: after one,
        -- the debt is -1 % of the heap, to the byte. Garbage with
        -- finalizers, then padding until the debt is a few hundred bytes
        -- short of the next collection: g:tasks()'s first allocation (a
        -- table, 56 bytes) fits, its array (1.6 kB) runs the collection.
        local mode = collectgarbage("generational", 1, 100)
        collectgarbage("step")
        local heap = collectgarbage("count") * 1024
        for _ = 1, 20 do setmetatable({}, fin) end
        local pad = nil
        while heap / 100 - (collectgarbage("count") * 1024 - heap) > 400 do
          pad = { pad }
        end
        inside = true
        list = g:tasks()
        inside = false
        children = #g:tasks()
        collectgarbage(mode)
        g:cancel()
      end)
    end)
    assert.equal(20, spawned_inside)
    assert.equal(children, #list)
    for i = 2, #list do assert.is_true(list[i - 1].id < list[i].id) end
  end)
end)
