-- A debug hook that raised inside corral's recording of a task's failure
-- (the same path memory running out takes) left the failure counted but
-- its group without an errors list: the group then raised "attempt to index
-- a nil value (local 'list')" and the task's own error was lost. The
-- recording now allocates before the engine counts, is tried twice, and an
-- ErrorGroup counts what it could not list as not kept.
local corral = require "corral"
local support = require "support"

-- Run a group whose child (or body, when in_body) sets a hook that raises
-- at the n-th event of `mask`, then fails; returns the group's error.
-- The hook's own error may be the first (it fires before `error` runs):
-- either is the task's failure; what must never show is corral's own.
local function fail_with_hook(n, mask, in_body)
  local live = true
  local function arm()
    local count = 0
    debug.sethook(function()
      if not live then return end
      count = count + 1
      if count == n then live = false; error("hook error", 0) end
    end, mask)
  end
  local ok, err = support.vrun(function()
    local ok, err = pcall(corral.group, function(g)
      if in_body then
        g:spawn(corral.sleep, 1)
        arm()
        error("body failed", 0)
      end
      g:spawn(function() arm(); error("child failed", 0) end)
    end)
    live = false
    debug.sethook()
    return ok, err
  end)
  assert.is_false(ok)
  return err
end

describe("regression: a failure whose recording raised", function()
  for _, mask in ipairs{"c", "r"} do
    it("is still the group's error (child, hook on '" .. mask .. "')", function()
      for n = 1, 30 do
        local err = fail_with_hook(n, mask)
        assert.is_true(corral.is_error_group(err), tostring(err))
        local text = tostring(err)
        assert.is_nil(text:find("attempt to", 1, true), text)
        assert.truthy(text:find("child failed", 1, true) or
                      text:find("hook error", 1, true), text)
      end
    end)
  end

  it("is still the group's error (body)", function()
    for n = 1, 30 do
      local err = fail_with_hook(n, "c", true)
      local text = tostring(err)
      assert.is_nil(text:find("attempt to", 1, true), text)
      assert.truthy(text:find("body failed", 1, true) or
                    text:find("hook error", 1, true), text)
    end
  end)
end)
