-- start.lua: g:start waits for a child to be ready; t:wait gets an outcome.
local corral = require "corral"

corral.group(function(g)
  local port = g:start(function(ready)
    corral.sleep(0.1)                   -- bind, listen, ...
    ready(8080)                         -- start returns 8080 now
    corral.sleep(0.3)                   -- ... then serve, as a child of g
    print("server: done serving")
  end)
  print("server ready on port", port)

  local t = g:spawn(function(x) corral.sleep(0.1); return x * 2 end, 21)
  print("wait:", t:wait())              --> true 42

  local slow = g:spawn(corral.sleep, 10)
  slow:cancel("not needed")
  print("wait:", slow:wait())           --> false Cancelled: ...
  print("status:", slow.status)         -- "cancelled" is not a failure of g
end)
