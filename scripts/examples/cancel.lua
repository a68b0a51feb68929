-- cancel.lua: leave a group peacefully with g:cancel().
local corral = require "corral"
local function log(fmt, ...) print(("[%.1f] " .. fmt):format(corral.now(), ...)) end

corral.group(function(g)
  g:spawn({function()                  -- a heartbeat that never ends by itself
    local _ <close> = setmetatable({}, {__close = function(_, err)
      log("heartbeat stopped: %s", tostring(err))
    end})
    while true do corral.sleep(0.2); log("tick") end
  end, name = "heartbeat"})
  corral.sleep(0.5)                     -- the real work
  log("work done")
  g:cancel("work done")
end)
log("the group exited without raising")
