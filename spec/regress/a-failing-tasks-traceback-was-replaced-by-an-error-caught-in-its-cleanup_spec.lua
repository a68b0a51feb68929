-- Regression: an error caught through a corral scope while a task's failure
-- unwound (in a <close> handler) or inside its group's on_error replaced the
-- failure's traceback, in the ErrorGroup, in t:traceback() and in a trace's
-- failure text: the message handler keeps one traceback per task, the
-- newest (a verifier found it). The handler of the task's own pcall (around
-- its body and its on_error) now keeps the failure's traceback apart, and
-- nothing caught later replaces it. (A first fix kept the newest two and
-- chose by the error: two errors caught in a cleanup, a cleanup retrying
-- with the same text, an on_error raising and error(0/0) went wrong there,
-- a second verifier found.)
local corral = require "corral"
local support = require "support"
local raw_close = support.raw_coroutine.close

local function real_bug() error("the real bug", 0) end
local function hiccup() error("cleanup hiccup", 0) end

-- The ErrorGroup of a group (opts) whose one child runs fn.
local function failure_of(fn, opts)
  local eg
  corral.run(function()
    _, eg = pcall(corral.group, function(g) g:spawn(fn) end, opts)
  end, { clock = "virtual" })
  return eg
end

-- A child that fails with real_bug while a <close> handler runs cleanup().
local function failing_with_cleanup(cleanup)
  return function()
    local _ <close> = setmetatable({}, { __close = cleanup })
    real_bug()
  end
end

describe("regression: a failing task's traceback", function()
  it("is not replaced by an error a <close> handler caught", function()
    local eg = failure_of(failing_with_cleanup(function() pcall(corral.scope, hiccup) end))
    assert.equal("the real bug", eg.errors[1])
    assert.matches("in upvalue 'real_bug'", eg.tracebacks[1])
    assert.not_matches("hiccup", eg.tracebacks[1])
  end)

  it("is not replaced by errors on_error caught, nor is t:traceback() there", function()
    local seen
    local eg = failure_of(real_bug, { on_error = function(_, t)
      pcall(corral.scope, hiccup)
      pcall(corral.scope, hiccup)
      seen = t:traceback()
      return false
    end })
    assert.matches("^the real bug\n", seen)
    assert.matches("^the real bug\n", eg.tracebacks[1])
  end)

  it("survives two errors caught while it unwinds, one with its own text", function()
    local eg = failure_of(failing_with_cleanup(function()
      pcall(corral.scope, hiccup)             -- two caught while it unwinds
      pcall(corral.fail_after, 1, function() error("the real bug", 0) end)
    end))
    assert.equal("the real bug", eg.errors[1])
    assert.matches("in upvalue 'real_bug'", eg.tracebacks[1])
    assert.not_matches("fail_after", eg.tracebacks[1])
  end)

  it("is on_error's own when on_error raises, and NaN's own", function()
    local eg1 = failure_of(real_bug, { on_error = function() hiccup() end })
    local eg2 = failure_of(function() error(0 / 0, 0) end)
    assert.equal("cleanup hiccup", eg1.errors[1])
    assert.matches("in upvalue 'hiccup'", eg1.tracebacks[1])
    assert.not_matches("real_bug", eg1.tracebacks[1])
    assert.matches("in function 'error'", eg2.tracebacks[1])
  end)

  -- (a third verifier: the failure of a coroutine closed from outside took
  -- a stale traceback, a trace's failure text was an error caught in the
  -- cleanup, and on_error raising the failure again after catching another
  -- error gave it a new traceback)
  it("is none for a coroutine closed from outside, and the failure's in on_error", function()
    local eg1, eg2
    corral.run(function()
      _, eg1 = pcall(corral.group, function(g)
        local co
        g:spawn(function()
          co = coroutine.running()
          pcall(corral.scope, hiccup)       -- caught, then it blocks
          corral.sleep(10)
        end)
        g:spawn(function() corral.sleep(1); raw_close(co) end)
      end)
      local co2
      _, eg2 = pcall(corral.group, function(g)
        g:spawn(function() co2 = coroutine.running(); real_bug() end)
        g:spawn(function() corral.sleep(1); raw_close(co2) end)
      end, { on_error = function()
        pcall(corral.scope, hiccup)
        corral.sleep(10)                    -- closed from outside meanwhile
      end, defer_errors = true })
    end, { clock = "virtual" })
    assert.matches("closed from outside", eg1.errors[1])
    assert.equal("", eg1.tracebacks[1])
    assert.equal("the real bug", eg2.errors[1])
    assert.matches("in upvalue 'real_bug'", eg2.tracebacks[1])
  end)

  it("keeps the failure's when on_error raises it again after catching another", function()
    local err = { "the object" }
    local function raise_it() error(err) end
    local eg = failure_of(function() raise_it() end, { on_error = function(e)
      pcall(corral.scope, hiccup)
      error(e)
    end })
    assert.not_matches("hiccup", eg.tracebacks[1])
    assert.not_matches("on_error", eg.tracebacks[1])
    assert.matches("in function 'error'\n[^\n]*in upvalue 'raise_it'", eg.tracebacks[1])
  end)
end)
