-- A task parked on a channel whose coroutine a copy of coroutine.close (taken
-- before require "corral") took away stayed in the channel's wait queue: the
-- next send pushed its value onto the emptied coroutine, the scheduler then
-- called that value as the task's body, and the close error was lost; a
-- receiver meeting a closed sender got a nil nobody sent. The close now takes
-- the task out of its wait at once, and the task fails saying so.
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

local raw_close = support.raw_coroutine.close

-- (A task closed from outside fails as if its error had escaped: its group
-- is cancelled even with defer_errors, so each check below happens before
-- the closer next yields.)
describe("regression: a task closed from outside while parked on a channel", function()
  it("is no receiver any more: the value goes to the next one, and the task fails", function()
    local ran, got
    local eg = support.error_group(vrun, function()
      local ch = corral.channel(0)
      corral.group(function(g)
        local co
        g:spawn({ function() co = coroutine.running(); return ch:recv() end, name = "victim" })
        g:spawn(function() got = ch:recv() end)
        corral.sleep(1)
        assert.is_true(raw_close(co))
        ch:send(function() ran = true end)   -- hands off without waiting
      end)
    end)
    assert.is_nil(ran)
    assert.equal("function", type(got))
    assert.same({ "victim" }, eg.tasks)
    assert.matches("closed from outside", eg.errors[1])
  end)

  it("is no sender any more: a receiver never gets a value nobody sent", function()
    local got
    local eg = support.error_group(vrun, function()
      local ch = corral.channel(0)
      corral.group(function(g)
        local co
        g:spawn({ function() co = coroutine.running(); ch:send("payload") end, name = "victim" })
        g:spawn(function() ch:send("real") end)
        corral.sleep(1)                      -- both senders wait, victim first
        assert.is_true(raw_close(co))
        got = ch:recv()                      -- takes without waiting
      end)
    end)
    assert.equal("real", got)
    assert.same({ "victim" }, eg.tasks)
    assert.matches("closed from outside", eg.errors[1])
  end)
end)
