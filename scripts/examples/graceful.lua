-- graceful.lua: drain on the first Ctrl-C; the second cancels everything.
local corral = require "corral"

corral.group(function(g)
  for i = 1, 3 do
    g:spawn(function()
      while not g.stopping do corral.sleep(0.5) end  -- finish the job in hand
      print("worker " .. i .. " drained")
    end)
  end
  print("working; press Ctrl-C to stop")
  corral.signal("SIGINT")            -- the first Ctrl-C wakes this and cancels nothing
  print("stopping (Ctrl-C again to cancel everything)")
  g:stop(10)                         -- 10 s of grace, then the stragglers are cancelled
end)
print("stopped cleanly")
