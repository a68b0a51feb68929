-- bench/echo.lua -- loopback TCP echo: C concurrent clients, 64-byte
-- messages, for a fixed duration; prints requests/s and p99 latency.
--   build/corral bench/echo.lua [clients=100] [seconds=2]
local corral = require "corral"
local C = tonumber(arg[1]) or 100
local D = tonumber(arg[2]) or 2
local msg = string.rep("x", 64)

local lat, n = {}, 0
corral.group(function(g)
  local l = corral.tcp.listen("127.0.0.1", 0)
  g:spawn(function()
    local _ <close> = l
    corral.group(function(sg)
      while true do
        local s = l:accept()
        sg:spawn(function()
          local _ <close> = s
          while true do
            local d = s:read()
            if not d then return end
            s:write(d)
          end
        end)
      end
    end)
  end)
  local t_end = corral.now() + D
  corral.group(function(cg)
    for _ = 1, C do
      cg:spawn(function()
        local s <close> = corral.tcp.connect("127.0.0.1", l.port)
        while corral.now() < t_end do
          local t0 = corral.now()
          s:write(msg)
          local got = 0
          while got < #msg do got = got + #assert(s:read()) end
          n = n + 1
          if n % 16 == 0 then lat[#lat + 1] = corral.now() - t0 end
        end
      end)
    end
  end)
  g:cancel()
end)
table.sort(lat)
print(string.format("echo: %d clients, %.0f req/s, p99 %.3f ms", C, n / D,
  (lat[math.max(1, math.floor(#lat * 0.99))] or 0) * 1000))
