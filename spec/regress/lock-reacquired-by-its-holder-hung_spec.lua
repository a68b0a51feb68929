-- A task that called acquire (or with) on a lock it already held waited for
-- itself for ever (only a timeout got it out). Trio and AnyIO raise; corral
-- now says so at the call.
local corral = require "corral"

local function run(fn) return corral.run(fn, { clock = "virtual" }) end

describe("regression: a lock re-acquired by its holder", function()
  it("raises at acquire instead of waiting for ever", function()
    local err, still_held
    run(function()
      local l = corral.lock()
      l:acquire()
      local ok, e = pcall(l.acquire, l)
      assert.is_false(ok)
      err, still_held = e, l.locked
      l:release()
    end)
    assert.matches("lock:acquire: the task already holds this lock", err)
    assert.is_true(still_held)
  end)

  it("raises at with() inside with()", function()
    local err
    run(function()
      local l = corral.lock()
      l:with(function()
        local ok, e = pcall(l.with, l, function() end)
        assert.is_false(ok)
        err = e
      end)
      assert.is_false(l.locked)
    end)
    assert.matches("lock:with: the task already holds this lock", err)
  end)

  it("still lets another task wait for it", function()
    local order = {}
    run(function()
      local l = corral.lock()
      corral.group(function(g)
        l:acquire()
        g:spawn(function() l:acquire(); order[#order + 1] = "other"; l:release() end)
        corral.sleep(1)
        order[#order + 1] = "holder"
        l:release()
      end)
    end)
    assert.same({ "holder", "other" }, order)
  end)

  it("still raises Cancelled first when the holder is cancelled", function()
    local errs = {}
    run(function()
      local l = corral.lock()
      l:acquire()
      corral.scope(function(s)
        s:cancel("stop")
        errs[1] = select(2, pcall(l.acquire, l))
        errs[2] = select(2, pcall(l.with, l, function() end))
      end)
      l:release()
    end)
    for i = 1, 2 do
      assert.is_true(corral.is_cancelled(errs[i]))
      assert.equal("stop", errs[i].reason)
    end
  end)

  it("is no error for a semaphore, which has no holder", function()
    run(function()
      local s = corral.semaphore(2)
      s:acquire()
      s:acquire()
      assert.equal(0, s.value)
    end)
  end)
end)
