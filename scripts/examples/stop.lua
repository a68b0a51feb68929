-- stop.lua: graceful shutdown with g:stop(grace) and g:wait_stopping().
local corral = require "corral"
local function log(fmt, ...) print(("[%.1f] " .. fmt):format(corral.now(), ...)) end

corral.group(function(g)
  g:spawn(function()                    -- finishes the job in hand, then leaves
    while not g.stopping do corral.sleep(0.2); log("worker: job done") end
  end)
  g:spawn(function()                    -- idle until stop is called
    g:wait_stopping()
    log("listener: closing")
  end)
  g:spawn(function()                    -- still busy when the grace runs out
    local ok, err = pcall(corral.sleep, 10)
    log("straggler: %s", tostring(err))
    error(err, 0)
  end)
  corral.sleep(0.3)
  log("stop with 0.5 s of grace")
  g:stop(0.5)
end)
log("the group exited without raising")
