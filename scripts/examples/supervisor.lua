-- supervisor.lua: a supervisor restarting a crashing worker with backoff.
local corral = require "corral"
local supervisor = require "corral.supervisor"
local function log(fmt, ...) print(("[%.1f] " .. fmt):format(corral.now(), ...)) end

supervisor.run({
  strategy = "one_for_one", intensity = 3, period = 5,
  backoff = { delay = 0.1, factor = 2 },
  on_restart = function(name, err, count) log("restarting %s (#%d) after: %s", name, count, err) end,
  children = {
    { name = "worker", fn = function(child)
      log("worker: started (restarts so far: %d)", child.restarts)
      corral.sleep(0.2)
      if child.restarts < 2 then error("lost the connection", 0) end
      child:wait_stopping()                    -- healthy now: serve until told to stop
      log("worker: stopping cleanly")
    end },
    { name = "cache", shutdown = 0.3, fn = function()
      local ok, err = pcall(corral.sleep, math.huge)   -- ignores the stop request
      log("cache: %s", tostring(err))
      error(err, 0)
    end },
  },
}, function(sup)
  corral.sleep(1)
  for _, c in ipairs(sup:children()) do log("%s is %s, restarted %d times", c.name, c.status, c.restarts) end
  sup:stop()                                   -- cache first (reverse start order), then worker
  log("supervisor stopped")
end)
