-- l:release() refused a lock held by another task inside a run, but outside
-- any run (after the run whose task kept it) anyone could release it.
local corral = require "corral"
local support = require "support"

describe("regression: a lock a task of an ended run kept", function()
  it("cannot be released outside a run by code that never held it", function()
    local l = corral.lock()
    support.vrun(function()
      corral.group(function(g) g:spawn(function() l:acquire() end) end)
    end)
    local ok, err = pcall(l.release, l)
    assert.is_false(ok)
    assert.truthy(err:find("held by another task", 1, true), err)
    assert.is_true(l.locked)
  end)
end)
