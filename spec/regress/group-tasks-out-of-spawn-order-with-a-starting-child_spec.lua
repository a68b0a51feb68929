-- g:tasks() listed a g:start child last when it was started from a child of
-- the group: the engine lists a group's children through its scope tree, and
-- a starting child hangs below its starter's scope (and joins the group's
-- scope at ready, at the end). The docs say spawn order.
local corral = require "corral"
local support = require "support"

describe("regression: g:tasks() with a g:start child", function()
  it("keeps spawn order while it starts and after its ready", function()
    local function names(list) return table.concat(support.task_names(list), ",") end
    local starting, started
    support.vrun(function()
      corral.group(function(g)
        g:spawn({ function()
          g:start({ function(ready) corral.sleep(1); ready(); corral.sleep(5) end, name = "B" })
          corral.sleep(5)
        end, name = "A" })
        corral.sleep(0.1)                 -- A has spawned B by now
        g:spawn({ function() corral.sleep(5) end, name = "C" })
        corral.sleep(0.4)
        starting = names(g:tasks())
        corral.sleep(1)
        started = names(g:tasks())
      end)
    end)
    assert.equal("A,B,C", starting)
    assert.equal("A,B,C", started)
  end)
end)
