-- g:start's ready, kept by another task and called after the child had
-- already ended (failed, cancelled or returned) but before start's caller
-- resumed, set the value anyway: start returned it, and the child's error
-- was lost (a child that fails before ready is not a failure of the group),
-- or a cancelled caller got a value. A late ready now does nothing; start
-- reports how the child ended. Also: an error escaping a task whose failure
-- was already counted was counted again.
local corral = require "corral"
local support = require "support"

local function start_with_late_ready(body)
  local ok, v
  support.vrun(function()
    corral.group(function(g)
      corral.scope(function(s)
        ok, v = pcall(g.start, g, function(ready)
          g:spawn(function() ready("late") end)  -- runs once the child has ended
          body(s)
        end)
      end)
    end)
  end)
  return ok, v
end

describe("regression: a ready called after the start child ended", function()
  it("does not hide the child's failure", function()
    local ok, err = start_with_late_ready(function() error("child failed", 0) end)
    assert.is_false(ok)
    assert.equal("child failed", err)
  end)

  it("does not hand a value to a cancelled caller", function()
    local ok, err = start_with_late_ready(function(s) s:cancel(); corral.sleep(1) end)
    assert.is_false(ok)
    assert.is_true(corral.is_cancelled(err))
  end)

  it("does not turn a return without ready into a value", function()
    local ok, err = start_with_late_ready(function() end)
    assert.is_false(ok)
    assert.matches("finished without calling ready", err)
  end)
end)

describe("regression: an error escaping a task whose failure was counted", function()
  it("is not a second failure of the group", function()
    local eg
    support.vrun(function()
      local _, e = pcall(corral.group, function(g)
        g:spawn(function()
          local n = 0
          debug.sethook(function()
            n = n + 1
            if n <= 4 then error("hook " .. n, 0) end
          end, "c")
          error("real boom")
        end)
        corral.sleep(1)
      end)
      eg = e
    end)
    assert.is_true(corral.is_error_group(eg))
    assert.equal(1, #eg.tasks + eg.dropped)
  end)
end)
