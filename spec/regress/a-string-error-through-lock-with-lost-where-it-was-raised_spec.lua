-- Regression: a string error raised inside lock:with or semaphore:with,
-- which re-raise it unchanged, got a new traceback where `with` re-raised
-- it: the task's traceback began at "in function 'corral.Lock.with'" and
-- lost the line that called error(). Scopes already passed a string on
-- with its first traceback; `with` was missing from that list. Each level
-- of nested `with` also took a whole new traceback of the stack, so one
-- error through d nested levels walked about d^2 frames
-- (corral.debug_stats().traceback_steps).
local corral = require "corral"

local function check() error("bad value", 0) end
local function caller_b() check() end

local function failure_traceback(wrap)
  local tb
  corral.run(function()
    local _, e = pcall(corral.group, function(g)
      g:spawn(function() wrap(caller_b) end)
    end)
    tb = e.tracebacks[1]
  end, { clock = "virtual" })
  return tb
end

describe("regression: a string error passed on by with()", function()
  for name, wrap in pairs({
    ["lock:with"] = function(f) corral.lock():with(f) end,
    ["semaphore:with"] = function(f) corral.semaphore(2):with(f) end,
    ["nested lock:with and scope"] = function(f)
      corral.lock():with(corral.scope, function() corral.semaphore(1):with(f) end)
    end,
  }) do
    it("keeps where it was raised through " .. name, function()
      assert.matches("^bad value\nstack traceback:\n\t%[C%]: in function 'error'\n[^\n]*in upvalue 'check'",
        failure_traceback(wrap))
    end)
  end

  it("takes no new traceback at each level of nested with()", function()
    local function steps(depth, wrap)
      local n
      corral.run(function()
        local function nest(d)
          if d == 0 then return check() end
          return wrap(nest, d - 1)
        end
        local before = corral.debug_stats().traceback_steps
        pcall(corral.group, function(g) g:spawn(nest, depth) end)
        n = corral.debug_stats().traceback_steps - before
      end, { clock = "virtual" })
      return n
    end
    local lock = function(f, ...) return corral.lock():with(f, ...) end
    local scope = function(f, d) return corral.scope(function() return f(d) end) end
    -- as cheap as through as many scopes (which pass a string on as it is)
    assert.is_true(steps(60, lock) <= steps(60, scope))
  end)

  it("still takes a traceback for a new error raised after with() returned", function()
    local tb = failure_traceback(function(f)
      pcall(corral.lock().with, corral.lock(), check)    -- caught, dropped
      f()
    end)
    assert.matches("in upvalue 'check'\n[^\n]*in local 'f'", tb)   -- f: caller_b
  end)
end)
