-- corral.error_group read the tasks table's length with #, which asks its
-- __len: a __len of 2^40 made it loop for ever building a group, and one of
-- 1.5 or -5 was taken. Rendering a group whose tasks table was given such a
-- __len did the same. The length is the raw one now, and no __pairs is asked.
local corral = require "corral"

describe("regression: an ErrorGroup and a hostile __len", function()
  it("error_group takes the raw length of tasks", function()
    local huge = setmetatable({}, { __len = function() return 1 << 40 end })
    local eg = corral.error_group({}, huge)
    assert.equal(0, #eg)
    local odd = setmetatable({ "a" }, { __len = function() return 1.5 end,
                                        __pairs = function() error("pairs asked") end })
    eg = corral.error_group({ "x" }, odd)
    assert.equal("ErrorGroup: 1 failure\n`- [a] x", tostring(eg))
  end)

  it("rendering a group whose tasks table was edited ends", function()
    local eg = corral.error_group({ "x" }, { "a" })
    eg.tasks = setmetatable({ "a" }, { __len = function() return 1 << 40 end })
    assert.equal(1, #eg)
    assert.equal("ErrorGroup: 1 failure\n`- [a] x", tostring(eg))
  end)
end)
