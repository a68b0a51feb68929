-- A sup:stop() that came while on_restart ran (asked by the body, or by the
-- hook itself) reported the crash that restart was for a second time, to
-- on_failure, once the hook returned: the check that a stop had overtaken
-- the restart reported the failure whether or not on_restart had heard of
-- it. A stop during the restart's backoff, or an outer cancel while the hook
-- ran, did not. The decision to restart dealt with the crash; once on_restart
-- has heard of it, a stop cuts the restart short in peace, as OTP does not
-- report at shutdown the crashes it handled. A crash whose on_restart had
-- not run yet (one_for_all still winding the others down) is still reported.
local corral = require "corral"
local supervisor = require "corral.supervisor"
local support = require "support"

-- Child x crashes at 1 and is restarted, with y beside it (which takes 1 s
-- to wind down); the supervisor is stopped at 1.5 by the body, or by
-- on_restart when `from_hook`. Returns the hooks called, with their times.
local function hooks_heard(opts)
  local log, sup_of_hook = {}, nil
  local function note(what, err)
    log[#log + 1] = ("%s(%s)@%g"):format(what, tostring(err), corral.now())
  end
  support.vrun(function()
    supervisor.run({
      strategy = opts.strategy, backoff = opts.backoff,
      on_restart = function(_, err)
        note("on_restart", err)
        if opts.from_hook then sup_of_hook:stop() end
        if not opts.backoff then corral.sleep(1) end
      end,
      on_failure = function(_, err) note("on_failure", err) end,
      children = {
        { name = "x", fn = function(c)
          if c.restarts == 0 then corral.sleep(1); error("crash", 0) end
          c:wait_stopping()
        end },
        { name = "y", fn = function(c) c:wait_stopping(); corral.sleep(1) end },
      },
    }, function(sup)
      sup_of_hook = sup
      corral.sleep(1.5)
      if not opts.from_hook then sup:stop() end
    end)
  end)
  return table.concat(log, " ")
end

describe("regression: a stop while on_restart ran", function()
  it("does not report the crash on_restart heard of again", function()
    assert.equal("on_restart(crash)@1", hooks_heard({}))
  end)

  it("nor when the hook itself asked for the stop", function()
    assert.equal("on_restart(crash)@1", hooks_heard({ from_hook = true }))
  end)

  it("as a stop during the restart's backoff does not", function()
    assert.equal("on_restart(crash)@1", hooks_heard({ backoff = { delay = 2 } }))
  end)

  it("reports a crash on_restart has not heard of, when one_for_all is still winding the others down", function()
    assert.equal("on_failure(crash)@2", hooks_heard({ strategy = "one_for_all" }))
  end)
end)
