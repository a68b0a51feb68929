-- A g:start child that failed before ready() made start raise its error in
-- the caller, and the caller's group reported it with the caller's
-- traceback (where start was called): where the child actually failed was
-- lost. The report now carries the child's traceback.
local corral = require "corral"
local support = require "support"

describe("regression: a g:start child that fails before ready", function()
  it("is reported with the child's own traceback", function()
    local eg = support.error_group(support.vrun, function()
      corral.group(function(g)
        local function deep_setup() error("setup failed") end
        g:start({ function(ready) deep_setup(); ready() end, name = "server" })
      end)
    end)
    assert.equal(1, #eg.errors)
    assert.matches("setup failed", eg.errors[1])
    assert.matches("in upvalue 'deep_setup'", eg.tracebacks[1])
  end)
end)
