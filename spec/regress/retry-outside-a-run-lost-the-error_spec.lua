-- retry had no run check: outside corral.run it called fn, then its wait
-- raised "corral.now: called outside corral.run" from retry.lua, and fn's
-- own error was lost. Inside a coroutine corral does not run, the policies
-- named corral.group (or corral.sleep) and pointed into their own files.
-- And with no timeout, an infinite wait (delay = math.huge) counted as past
-- a budget there is none of: retry gave up after one attempt.
local corral = require "corral"
local retry = require "corral.retry"
local race = require "corral.race"
local support = require "support"
local SRC = debug.getinfo(1, "S").short_src

describe("regression: retry and the policies' run checks", function()
  it("retry outside a run names itself at the caller's line and runs nothing", function()
    local calls = 0
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() local v = retry(function() calls = calls + 1; error("x", 0) end); return v end)
    assert.is_false(ok)
    assert.equal(("%s:%d: retry: called outside corral.run"):format(SRC, line), err)
    assert.equal(0, calls)
  end)

  it("inside a coroutine corral does not run, a policy names itself", function()
    local err1, err2
    support.vrun(function()
      local co = coroutine.wrap(function()
        err1 = select(2, pcall(function() local v = race({ function() end }); return v end))
        err2 = select(2, pcall(function() local v = retry(function() end); return v end))
      end)
      co()
    end)
    assert.matches("^" .. SRC:gsub("%p", "%%%0") .. ":%d+: race: called from a coroutine that corral does not run", err1)
    assert.matches("^" .. SRC:gsub("%p", "%%%0") .. ":%d+: retry: called from a coroutine that corral does not run", err2)
  end)

  it("with no timeout, an infinite wait is waited, not taken for a spent budget", function()
    local attempts, retried = 0, 0
    support.vrun(function()
      corral.move_on_after(10, function()
        retry(function() attempts = attempts + 1; error("again", 0) end,
              { attempts = 3, delay = math.huge, max_delay = math.huge,
                on_retry = function() retried = retried + 1 end })
      end)
    end)
    assert.equal(1, attempts)      -- then it waits (for ever) until the scope ends
    assert.equal(1, retried)
  end)
end)
