-- An outer timeout that fires while a group cancels itself.
--
-- The group cancels itself at 0.1 s; its worker then cleans up for a second
-- in a shielded scope. At 0.5 s, while the group still waits for that
-- cleanup, the outer fail_after's deadline passes. When the cleanup ends
-- (1.1 s) the worker's Cancelled reaches the group's exit, and the group sees
-- a cancelled scope outside it: it does not absorb the Cancelled but passes
-- it on, as the outer scope's, and fail_after turns it into a Timeout.
local corral = require "corral"

corral.run(function()
  local ok, err = pcall(corral.fail_after, 0.5, function()
    corral.group(function(g)
      g:spawn(function()
        local _, cancelled = pcall(corral.sleep, math.huge)
        corral.scope(function() corral.sleep(1) end, { shield = true })
        error(cancelled, 0)                  -- re-raise after cleaning up
      end)
      corral.sleep(0.1)
      g:cancel("done with it")
    end)
    print("not reached: the group must not swallow the timeout")
  end)
  print(string.format("at %.1f s: %s", corral.now(), tostring(err)))
end, { clock = "virtual" })
