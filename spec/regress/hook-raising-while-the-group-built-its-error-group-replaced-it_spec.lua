-- A group that failed builds its ErrorGroup partly in Lua (corral.errors'
-- from_list), called from C unprotected: a debug hook of the task that
-- raised there replaced the ErrorGroup with the hook's bare error, and the
-- failures recorded (the body's own error) were lost. The ErrorGroup is
-- now built protected, and again with the task's hook put aside when a
-- hook raised: the hook's error is not a failure of the group.
local corral = require "corral"
local support = require "support"

-- Set a count hook that raises once, at its first event in corral's Lua
-- code building the error (`from`: the chunk's source), then is gone.
local function raise_in(from)
  debug.sethook(function()
    local info = debug.getinfo(2, "S")
    if info and info.source == from then
      debug.sethook()
      error("the hook's error", 0)
    end
  end, "", 1)
end

describe("regression: a debug hook raising while the group builds its ErrorGroup", function()
  it("keeps the body's error in the ErrorGroup", function()
    local ok, e = support.vrun(function()
      local ok, e = pcall(corral.group, function()
        raise_in("=corral.errors")
        error("the body's error", 0)
      end)
      debug.sethook()
      return ok, e
    end)
    assert.is_false(ok)
    assert.is_true(corral.is_error_group(e), tostring(e))
    assert.same({ "the body's error" }, e.errors)
    assert.equal(0, e.dropped)
  end)

  it("keeps every child's error, and the hook is back afterwards", function()
    local ok, e, kept = support.vrun(function()
      local hook = function() end
      local ok, e = pcall(corral.group, function(g)
        g:spawn(function() error("child 1", 0) end)
        g:spawn(function() error("child 2", 0) end)
        -- a hook that raises every time it is in corral.errors
        debug.sethook(function()
          local info = debug.getinfo(2, "S")
          if info and info.source == "=corral.errors" then error("the hook's error", 0) end
        end, "", 1)
        hook = debug.gethook()
      end, { defer_errors = true })
      local kept = debug.gethook() == hook
      debug.sethook()
      return ok, e, kept
    end)
    assert.is_false(ok)
    assert.is_true(corral.is_error_group(e), tostring(e))
    local errors = { e.errors[1], e.errors[2] }
    table.sort(errors)                    -- (in the order the schedule ran them)
    assert.same({ "child 1", "child 2" }, errors)
    assert.equal(2, #e)
    assert.is_true(kept)
  end)

  it("keeps it whichever of corral's instructions the hook raises at", function()
    for n = 1, 12 do
      local ok, e = support.vrun(function()
        local ok, e = pcall(corral.group, function(g)
          g:spawn(corral.sleep, 1)
          local count = 0
          debug.sethook(function()
            local info = debug.getinfo(2, "S")
            if info and info.source == "=corral.errors" then
              count = count + 1
              if count == n then error("the hook's error", 0) end
            end
          end, "", 1)
          error("the body's error", 0)
        end)
        debug.sethook()
        return ok, e
      end)
      assert.is_false(ok)
      assert.is_true(corral.is_error_group(e), n .. ": " .. tostring(e))
      assert.same({ "the body's error" }, e.errors)
    end
  end)
end)
