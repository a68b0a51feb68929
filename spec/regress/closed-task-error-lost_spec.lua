-- A task closed from outside (a copy of coroutine.close taken before require
-- "corral") failed with a message that was only reported for group children:
-- a g:start caller got nil, corral.run raised the root's Task object, and a
-- task closed while its group's on_error blocked lost its original error.
local corral = require "corral"
local support = require "support"
local raw_close = support.raw_coroutine.close

local coroutine_of = support.task_coroutine

describe("regression: a task closed from outside", function()
  it("makes g:start raise the close message, not nil", function()
    local ok, err
    pcall(support.vrun, function()
      corral.group(function(g)
        local child
        g:spawn(function() corral.sleep(1); raw_close(coroutine_of(child)) end)
        ok, err = pcall(g.start, g, function(ready)
          child = corral.current_task()
          corral.sleep(10)
          ready()
        end)
      end)
    end)
    assert.is_false(ok)
    assert.matches("closed from outside", err)
  end)

  it("as the root makes corral.run raise the close message, not the task", function()
    local ok, err = pcall(support.vrun, function()
      local root = corral.current_task()
      corral.group(function(g)
        g:spawn(function() corral.sleep(1); raw_close(coroutine_of(root)) end)
        corral.sleep(10)
      end)
    end)
    assert.is_false(ok)
    assert.equal("string", type(err))
    assert.matches("closed from outside", err)
  end)

  it("while its group's on_error blocks, fails with its original error", function()
    local eg = support.error_group(support.vrun, function()
      corral.group(function(g)
        local a = g:spawn(function() error("orig", 0) end)
        corral.sleep(1)                    -- a now waits in on_error
        raw_close(coroutine_of(a))
        corral.sleep(1)
      end, { on_error = function() corral.sleep(10); return true end })
    end)
    assert.same({ "orig" }, eg.errors)
  end)
end)
