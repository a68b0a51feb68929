-- A deadlock that not even the cancel broke (one task blocked in a shielded
-- scope) was reported with the tree of what was still blocked after the
-- cancel only: the tasks that made the deadlock (a lock's holder, its
-- waiter) had unwound by then and were named nowhere. The report now goes
-- on with the tree as it was when the deadlock was found (under the
-- command too, which finds it at once: its stop-signal watchers hide none).
local corral = require "corral"
local support = require "support"
local converse = require "converse"

local PROGRAM = [[
  local corral = require "corral"
  local db, done = corral.lock(), corral.event()
  corral.group(function(g)
    g:spawn({ function() db:acquire(); done:wait() end, name = "holder" })
    g:spawn({ function() db:with(print, "never") end, name = "reader" })
    g:spawn({ function()
      corral.scope(function() corral.event():wait() end, { shield = true })
    end, name = "shielded" })
    %s
    done:wait()
  end, { name = "pool" })
]]

local function assert_both_trees(err)
  local still, found = err:match("still blocked:\n(.-)The tasks when the deadlock was found, before its cancel:\n(.*)$")
  assert.truthy(still, err)
  assert.matches("task shielded", still, 1, true)
  assert.is_nil(still:find("holder", 1, true))
  assert.matches("task holder #%d+ waiting on event", found)
  assert.matches("task reader #%d+ waiting on lock held by holder", found)
end

describe("regression: a deadlock the cancel could not break reported only what it left", function()
  it("corral.run's error shows the tasks when it was found", function()
    local ok, err = pcall(support.unwrapped_run(), load(PROGRAM:format("")), { clock = "virtual" })
    assert.is_false(ok)
    assert.matches("(even after cancelling); still blocked:", err, 1, true)
    assert_both_trees(err)
  end)

  it("the command's, at once (its stop-signal watchers hide no deadlock)", function()
    local r = converse.run({ converse.BIN, converse.tmpfile(PROGRAM:format(
      'io.stdout:setvbuf("no"); corral.sleep(0.01); print("ready")')) }, {})
    assert.equal(1, r.code, r.stderr)
    assert_both_trees(r.stderr)
  end)
end)
