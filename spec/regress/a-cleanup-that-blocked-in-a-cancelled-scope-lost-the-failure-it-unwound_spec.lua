-- In Lua an error raised in a __close handler replaces the error being
-- unwound. A cleanup that blocked (a goodbye on a socket) in a cancelled
-- scope got that scope's Cancelled, which took the place of the failure it
-- was unwinding: a Cancelled is no failure, so a scope absorbed it, or the
-- task ended "cancelled", and the failure -- the task's own, or a sibling's
-- in an ErrorGroup -- was lost without a word. A live Cancelled that took
-- the place of a failure during cleanup now gives way to that failure at
-- the end of the scope, group body, task or with() it unwound to.
local corral = require "corral"
local support = require "support"

-- A to-be-closed value whose cleanup blocks for 0.1 s, unshielded.
local function blocking_cleanup(log)
  return setmetatable({}, { __close = function()
    if log then log[#log + 1] = "cleanup began" end
    corral.sleep(0.1)
    if log then log[#log + 1] = "cleanup ended" end
  end })
end

local function messages(eg)
  local out = {}
  for _, e in ipairs(eg.errors) do out[#out + 1] = tostring(e) end
  table.sort(out)
  return out
end

describe("regression: a cleanup blocking in a cancelled scope", function()
  it("does not let a scope absorb another task's failure it unwound", function()
    local ok, e, caught
    support.vrun(function()
      ok, e = pcall(corral.scope, function(s)
        local res <close> = blocking_cleanup()
        corral.group(function(g)
          g:spawn(function()
            corral.sleep(1)
            s:cancel()
            error("child failure", 0)
          end)
          corral.sleep(10)
        end)
      end)
    end)
    assert.is_false(ok)
    assert.is_true(corral.is_error_group(e))
    assert.same({ "child failure" }, messages(e))
  end)

  it("keeps a task's failure when a sibling's cancels its cleanup", function()
    local ok, e
    local log = {}
    support.vrun(function()
      ok, e = pcall(corral.group, function(g)
        g:spawn(function()
          local conn <close> = blocking_cleanup(log)
          corral.sleep(1)
          error("B: real failure", 0)
        end)
        g:spawn(function() corral.sleep(1); error("A: failure", 0) end)
      end)
    end)
    assert.is_false(ok)
    assert.same({ "A: failure", "B: real failure" }, messages(e))
    assert.same({ "cleanup began" }, log)   -- its sleep was cancelled
  end)

  it("fails a task that raised while cancelled and whose cleanup blocked", function()
    local ok, e, t
    support.vrun(function()
      ok, e = pcall(corral.group, function(g)
        t = g:spawn(function()
          local conn <close> = blocking_cleanup()
          pcall(corral.sleep, 10)            -- swallows the cancel
          error("cleanup failure while cancelled", 0)
        end)
        corral.sleep(1)
        g:cancel()
      end)
    end)
    assert.is_false(ok)
    assert.same({ "cleanup failure while cancelled" }, messages(e))
    assert.equal("failed", t.status)
  end)

  it("raises the failure, not a Timeout, out of fail_after", function()
    local ok, e
    local value = setmetatable({}, { __tostring = function() return "mine" end })
    support.vrun(function()
      ok, e = pcall(corral.fail_after, 1, function()
        local res <close> = setmetatable({}, { __close = function()
          corral.sleep(5)                    -- passes the deadline
        end })
        corral.sleep(0.5)
        error(value)
      end)
    end)
    assert.is_false(ok)
    assert.equal(value, e)                   -- the same value, unchanged
  end)

  it("keeps a nil error as the failure", function()
    local ok, e, n
    support.vrun(function()
      ok, e = pcall(corral.scope, function(s)
        local res <close> = blocking_cleanup()
        s:cancel()
        error(nil)
      end)
      n = select("#", e)
    end)
    assert.is_false(ok)
    assert.is_nil(e)
    assert.equal(1, n)
  end)

  it("keeps the failure of a lock:with body", function()
    local ok, e
    support.vrun(function()
      local lock = corral.lock()
      ok, e = pcall(corral.scope, function(s)
        lock:with(function()
          local res <close> = blocking_cleanup()
          s:cancel()
          error("inside with", 0)
        end)
      end)
    end)
    assert.is_false(ok)
    assert.equal("inside with", e)
  end)

  it("brings back the error that a later cleanup's error replaced, as Lua does", function()
    local ok, e
    support.vrun(function()
      ok, e = pcall(corral.scope, function(s)
        local outer <close> = blocking_cleanup()           -- closed last
        local inner <close> = setmetatable({}, { __close = function()
          error("E2", 0)                                   -- replaces E1
        end })
        s:cancel()
        error("E1", 0)
      end)
    end)
    assert.is_false(ok)
    assert.equal("E2", e)
  end)

  -- Scopes nest deeper than Lua's C-call limit when each level yields (a
  -- continuation keeps no C frame): the count of them must not wrap.
  it("keeps the failure of a scope nested 512 deep in a task", function()
    local ok, e, after
    support.vrun(function()
      local function nest(n)
        if n == 0 then
          ok, e = pcall(corral.scope, function(s)
            local res <close> = blocking_cleanup()
            s:cancel()
            error("deep failure", 0)
          end)
          corral.scope(function(s)                         -- absorbs its own
            s:cancel()
            corral.sleep(1)
          end)
          after = true
          return
        end
        corral.scope(function() corral.sleep(0); nest(n - 1) end)
      end
      nest(510)                                          -- 512 pcalls
    end)
    assert.is_false(ok)
    assert.equal("deep failure", e)
    assert.is_true(after)
  end)

  -- What must not change: a cancel stays a cancel, and an error caught
  -- earlier does not come back.
  it("still ends a plainly cancelled task cancelled", function()
    local ok, t
    local log = {}
    support.vrun(function()
      ok = pcall(corral.group, function(g)
        t = g:spawn(function()
          local conn <close> = blocking_cleanup(log)
          corral.sleep(10)
        end)
        corral.sleep(1)
        g:cancel()
      end)
    end)
    assert.is_true(ok)
    assert.equal("cancelled", t.status)
    assert.same({ "cleanup began" }, log)
  end)

  it("does not bring back an error the program caught", function()
    local r, caught
    support.vrun(function()
      r = table.pack(corral.scope(function(s)
        caught = select(2, pcall(corral.scope, function() error("old", 0) end))
        local res <close> = blocking_cleanup()
        s:cancel()
        corral.sleep(1)
        return "not reached"
      end))
      assert.is_true(true)
    end)
    assert.equal("old", caught)
    assert.equal(0, r.n)
  end)

  it("does not bring back an error a group's on_error handled", function()
    local ok
    support.vrun(function()
      ok = pcall(corral.scope, function(s)
        corral.group(function(g)
          g:spawn(function()
            local res <close> = blocking_cleanup()
            s:cancel()
            error("handled", 0)
          end)
        end, { on_error = function() return true end })
      end)
    end)
    -- the child's failure (kept past its cleanup's Cancelled) was handled:
    -- nothing reaches the scope, which ends as cancelled scopes do
    assert.is_true(ok)
  end)
end)
