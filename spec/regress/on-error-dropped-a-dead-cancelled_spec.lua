-- A group's on_error that raised a dead or forged Cancelled lost it: the
-- check took any Cancelled for "the handler was cancelled while it blocked",
-- which keeps the child's original error. Only a live one means that; a
-- dead one is an ordinary error and replaces the original (docs/api.md).
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

local function with_handler_raising(make)
  return support.error_group(vrun, function()
    local dead
    corral.scope(function(s)
      s:cancel("D")
      local _, e = pcall(corral.sleep, 1)
      dead = e
    end)
    corral.group(function(g)
      g:spawn({ function() error("orig", 0) end, name = "child" })
    end, { on_error = function() error(make(dead), 0) end })
  end)
end

describe("regression: on_error raising a Cancelled that is not live", function()
  it("a dead Cancelled replaces the original, as an ordinary error", function()
    local eg = with_handler_raising(function(dead) return dead end)
    assert.equal(1, #eg)
    assert.equal("child", eg.tasks[1])
    assert.is_string(eg.errors[1])
    assert.matches("raised outside the scope it cancelled", eg.errors[1])
    assert.matches("D", eg.errors[1])
  end)

  it("a forged Cancelled replaces the original too", function()
    local eg = with_handler_raising(function(dead)
      return setmetatable({ reason = "forged" }, getmetatable(dead))
    end)
    assert.equal(1, #eg)
    assert.matches("forged", eg.errors[1])
  end)

  it("a handler cancelled while it blocks still keeps the original", function()
    local eg = support.error_group(vrun, function()
      corral.scope(function()
        corral.group(function(g)
          g:spawn({ function() error("orig", 0) end, name = "child" })
        end, { on_error = function() corral.sleep(math.huge) end })
      end, { timeout = 1 })
    end)
    assert.equal("orig", eg.errors[1])
  end)
end)
