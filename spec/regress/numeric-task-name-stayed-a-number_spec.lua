-- g:spawn({fn, name = 7}) kept the name a number, where a group's or a
-- scope's numeric name becomes its string: t.name and the ErrorGroup's
-- tasks[1] were the integer 7, and corral.error_group(eg.errors, eg.tasks),
-- which wants strings, refused to rebuild what a group had raised.
local corral = require "corral"
local support = require "support"

describe("regression: a numeric task name", function()
  it("becomes its string, so a group's ErrorGroup can be rebuilt", function()
    local name, eg = nil, nil
    eg = support.error_group(support.vrun, function()
      corral.group(function(g)
        local t = g:spawn({ function() error("boom", 0) end, name = 7 })
        name = t.name
      end)
    end)
    assert.equal("7", name)
    assert.equal("7", eg.tasks[1])
    local again = corral.error_group(eg.errors, eg.tasks)
    assert.same(eg.tasks, again.tasks)
  end)
end)
