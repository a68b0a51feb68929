-- A task's first user value held its coroutine, and the engine resumed the
-- coroutine through a pointer: debug.setuservalue(t, v, 1), then a
-- collection, freed the coroutine under a parked task, and the next resume
-- crashed the process. The coroutine is now anchored by corral itself, out
-- of the debug library's reach through the task; whatever replaces the
-- task's user values, the task runs on and its results and failure are kept.
local corral = require "corral"
local support = require "support"

local function tamper(t, v)
  for i = 1, 4 do debug.setuservalue(t, v, i) end
  collectgarbage()
  collectgarbage()
end

describe("regression: a task's user values replaced with the debug library", function()
  for _, v in ipairs{ 5, false, "x", {}, coroutine.create(print) } do
    it("a parked task still runs and returns its results (" .. type(v) .. ")", function()
      local a, b
      support.vrun(function()
        corral.group(function(g)
          local t = g:spawn(function() corral.sleep(1); return 1, 2 end)
          corral.checkpoint()
          tamper(t, v)
          a, b = select(2, t:wait())
        end)
      end)
      assert.equal(1, a)
      assert.equal(2, b)
    end)
  end

  it("a task not started yet still starts", function()
    local ran
    support.vrun(function()
      corral.group(function(g)
        local t = g:spawn(function() ran = true end)
        tamper(t, 7)
      end)
    end)
    assert.is_true(ran)
  end)

  it("a failing task is still its group's failure", function()
    local eg = support.error_group(support.vrun, function()
      corral.group(function(g)
        local t = g:spawn(function() corral.sleep(1); error("boom", 0) end)
        corral.checkpoint()
        tamper(t, 7)
      end)
    end)
    assert.same({ "boom" }, eg.errors)
  end)

  it("the results of a finished task survive a collection", function()
    local t
    support.vrun(function()
      corral.group(function(g) t = g:spawn(function() return "r", 2 end) end)
      collectgarbage()
      collectgarbage()
      assert.same({ true, "r", 2 }, { t:wait() })
    end)
  end)

  it("an abandoned task can still be asked after its run, through collections", function()
    local t
    local ok = pcall(corral.run, function()
      corral.group(function(g)
        t = g:spawn(function()
          corral.scope(function() corral.event():wait() end, { shield = true })
        end)
      end)
    end, { clock = "virtual" })
    assert.is_false(ok)                      -- a deadlock nothing could unwind
    collectgarbage()
    collectgarbage()
    assert.equal("cancelled", t.status)      -- abandoned
    assert.is_nil(t:traceback())
    assert.matches("outside corral.run", select(2, pcall(t.wait, t)))
  end)
end)
