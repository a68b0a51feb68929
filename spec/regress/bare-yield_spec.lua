-- A bare coroutine.yield inside a task is an error naming the mistake. The
-- detection used to miss a yield with no Lua instruction after it, so
-- g:spawn(coroutine.yield) ended "done".
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

describe("regression: bare coroutine.yield", function()
  it("g:spawn(coroutine.yield) fails with a message naming the mistake", function()
    local eg = support.error_group(vrun, function()
      corral.group(function(g) g:spawn(coroutine.yield) end)
    end)
    assert.matches("attempt to yield from a corral task with coroutine.yield", eg.errors[1])
  end)

  it("corral.group(coroutine.yield) and corral.scope(coroutine.yield) fail the same way", function()
    for _, open in ipairs({ corral.group, corral.scope }) do
      local err = support.raises(vrun, function() open(coroutine.yield) end)
      assert.matches("attempt to yield from a corral task with coroutine.yield", tostring(err))
    end
  end)

  it("a yield in Lua code points at the line that yielded, and a later pcall'd body is unaffected", function()
    local eg = support.error_group(vrun, function()
      corral.group(function(g)
        g:spawn(function()
          local ok, err = pcall(function() coroutine.yield() end)
          assert.is_false(ok)
          assert.matches("bare%-yield_spec.lua:%d+: attempt to yield", err)
          corral.group(function(inner) inner:spawn(function() end) end)  -- not blamed
          error("after", 0)
        end)
      end)
    end)
    assert.same({ "after" }, eg.errors)
  end)
end)
