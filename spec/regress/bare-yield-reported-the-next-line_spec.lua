-- A bare coroutine.yield in a task fails it, and the message is meant to
-- point at the yield; it pointed at the instruction after it (the hook that
-- raises runs there): the next line, or a nested function's `end`.
local corral = require "corral"
local support = require "support"

local function yield_line_of(fn)
  local ok, err = pcall(support.vrun, fn)
  assert.is_false(ok)
  assert.truthy(tostring(err):find("attempt to yield from a corral task", 1, true), tostring(err))
  return tonumber(tostring(err):match(":(%d+): attempt to yield"))
end

describe("regression: a bare coroutine.yield", function()
  it("is reported at the line that yielded", function()
    local here = debug.getinfo(1, "l").currentline
    local line = yield_line_of(function()
      local x = 1
      coroutine.yield()            -- here + 3
      x = x + 1
      return x
    end)
    assert.equal(here + 3, line)
  end)

  it("is reported at the line that yielded inside a nested function", function()
    local here = debug.getinfo(1, "l").currentline
    local line = yield_line_of(function()
      local function f()
        coroutine.yield()          -- here + 3
      end
      f()
    end)
    assert.equal(here + 3, line)
  end)

  it("is reported at the line of the pcall around it", function()
    local here = debug.getinfo(1, "l").currentline
    local line = yield_line_of(function()
      local ok, err = pcall(coroutine.yield)    -- here + 2
      assert(not ok)               -- (the pcall catches it: raised again)
      error(err, 0)
    end)
    assert.equal(here + 2, line)
  end)
end)
