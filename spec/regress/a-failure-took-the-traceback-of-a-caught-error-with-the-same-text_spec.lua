-- Regression: a task that caught an error (through corral.scope) and later
-- failed with another error of the same text got the first one's
-- traceback: the message handler took "equal" for "the same error raised
-- again", and strings are equal by value. Only an object (a table, a
-- userdata, a function, a coroutine) is known by identity now, as g:start
-- already treated a child's error.
local corral = require "corral"

local function check() error("bad value", 0) end
local function caller_a() check() end
local function caller_b() check() end

describe("regression: the traceback of a failure with a caught error's text", function()
  it("is where the failure was raised, not where the caught one was", function()
    local eg
    corral.run(function()
      local _, e = pcall(corral.group, function(g)
        g:spawn(function()
          pcall(corral.scope, caller_a)         -- caught, and dropped
          caller_b()                            -- the task's failure
        end)
      end)
      eg = e
    end)
    assert.matches("in upvalue 'caller_b'", eg.tracebacks[1])
    assert.not_matches("caller_a", eg.tracebacks[1])
  end)

  -- (the first fix took a new traceback at every scope a string passed
  -- through uncaught: a verifier found where it was raised lost)
  it("keeps where a string was raised when scopes pass it on uncaught", function()
    local tbs = {}
    corral.run(function()
      for _, wrap in ipairs({
        function(f) corral.scope(f) end,
        function(f) corral.fail_after(10, f) end,
        function(f) corral.move_on_after(10, f) end,
        function(f) corral.scope(function() corral.scope(f, { shield = true }) end) end,
      }) do
        local _, e = pcall(corral.group, function(g)
          g:spawn(function() wrap(caller_b) end)
        end)
        tbs[#tbs + 1] = e.tracebacks[1]
      end
    end, { clock = "virtual" })
    assert.equal(4, #tbs)
    for _, tb in ipairs(tbs) do                 -- from where error() was called
      assert.matches("^bad value\nstack traceback:\n\t%[C%]: in function 'error'\n[^\n]*in upvalue 'check'", tb)
    end
  end)

  it("still keeps an object's first traceback when it is raised again unchanged", function()
    local eg
    corral.run(function()
      local err = { "bad" }
      local _, e = pcall(corral.group, function(g)
        g:spawn(function()
          local _, e1 = pcall(corral.scope, function() error(err) end)
          error(e1)                             -- the same object, again
        end)
      end)
      eg = e
    end)
    assert.matches("in function 'corral.scope'", eg.tracebacks[1])
  end)

  it("cuts a long message in its traceback without splitting a UTF-8 character", function()
    local eg
    corral.run(function()
      _, eg = pcall(corral.group, function(g)
        g:spawn(function() error(("é"):rep(3000), 0) end)
      end)
    end)
    local head = eg.tracebacks[1]:match("^[^\n]*")
    assert.is_truthy(utf8.len(eg.tracebacks[1]))
    local kept = head:match("^(.*)%.%.%. %(6000 bytes%)$")
    assert.equal(("é"):rep(#kept // 2), kept)        -- whole characters only
    assert.equal(("é"):rep(3000), eg.errors[1])          -- the error keeps it all
  end)

  it("does not keep a caught string error alive, nor its whole text", function()
    local grown
    corral.run(function()
      collectgarbage()
      local before = collectgarbage("count")
      pcall(corral.scope, function() error(string.rep("x", 4 * 1024 * 1024), 0) end)
      collectgarbage()
      collectgarbage()
      grown = collectgarbage("count") - before  -- the task still runs
    end)
    assert.is_true(grown < 512, ("%.0f KB kept"):format(grown))
  end)
end)
