-- A g:start child that failed before ready() made start raise its error in
-- the caller, and the caller's group reported it with the caller's
-- traceback (where start was called): where the child actually failed was
-- lost. The report now carries the child's traceback.
local corral = require "corral"
local support = require "support"

describe("regression: a g:start child that fails before ready", function()
  it("is reported with the child's own traceback", function()
    local failure = setmetatable({}, { __tostring = function() return "setup failed" end })
    local eg = support.error_group(support.vrun, function()
      corral.group(function(g)
        local function deep_setup() error(failure) end
        g:start({ function(ready) deep_setup(); ready() end, name = "server" })
      end)
    end)
    assert.equal(1, #eg.errors)
    assert.equal(failure, eg.errors[1])
    assert.matches("in upvalue 'deep_setup'", eg.tracebacks[1])
  end)

  it("does not lend it to an equal string the caller raises later", function()
    -- (hostile round: a caught "timeout" from the child, then the caller's
    -- own error("timeout") got the child's traceback)
    local eg = support.error_group(support.vrun, function()
      corral.group(function(g)
        local function child_setup() error("timeout", 0) end
        pcall(g.start, g, function(ready) child_setup(); ready() end)
        local function callers_own() error("timeout", 0) end
        callers_own()
      end)
    end)
    assert.equal("timeout", eg.errors[1])
    assert.no_match("child_setup", eg.tracebacks[1])
    assert.matches("callers_own", eg.tracebacks[1])
  end)
end)
