-- demo.lua -- a tour of corral with real timers (about a second).
--
--   make demo        (or: build/corral scripts/examples/demo.lua)
--
-- 1. a group fans out work and joins it;
-- 2. defer_errors collects two failures while the other workers finish;
-- 3. a first-wins race ended by g:cancel();
-- 4. stop(grace): workers drain on their own, the straggler is cancelled;
-- 5. a TCP echo server on loopback and clients under a deadline that
--    cancels the slow ones.
local corral = require "corral"

local t0 = corral.now()
local function say(fmt, ...)
  io.write(string.format("[%5.2fs] " .. fmt .. "\n", corral.now() - t0, ...))
end

say("1. fan-out: three fetches in one group")
local results = {}
corral.group(function(g)
  for i, delay in ipairs({0.15, 0.05, 0.10}) do
    g:spawn({function()
      corral.sleep(delay)
      results[i] = string.format("page %d (%.2fs)", i, delay)
      say("   fetched page %d", i)
    end, name = "fetch-" .. i})
  end
end, {name = "fan-out"})
say("   joined: %s", table.concat(results, ", "))

say("2. defer_errors: two workers fail, the others still finish")
local ok, eg = pcall(corral.group, function(g)
  for i = 1, 4 do
    g:spawn({function()
      corral.sleep(0.05 * i)
      if i % 2 == 0 then error("worker " .. i .. " lost its database", 0) end
      say("   worker %d finished", i)
    end, name = "worker-" .. i})
  end
end, {defer_errors = true, name = "workers"})
assert(not ok and corral.is_error_group(eg))
say("   the group raised %d failures together:", #eg)
for line in tostring(eg):gmatch("[^\n]+") do say("     %s", line) end

say("3. race: first answer wins, the group cancels the losers")
local winner
corral.group(function(g)
  for _, mirror in ipairs({{"slow-mirror", 0.30}, {"fast-mirror", 0.08}, {"mid-mirror", 0.20}}) do
    g:spawn({function()
      local _ <close> = setmetatable({}, {__close = function(_, err)
        if corral.is_cancelled(err) then say("   %s cancelled (%s)", mirror[1], err.reason) end
      end})
      corral.sleep(mirror[2])
      winner = mirror[1]
      g:cancel(mirror[1] .. " won")
    end, name = mirror[1]})
  end
end, {name = "race"})
say("   winner: %s (the group exited without raising)", winner)

say("4. stop(0.3): two workers drain, the straggler is cancelled at the grace")
corral.group(function(g)
  for i, work in ipairs({0.05, 0.10, 10}) do
    g:spawn({function()
      local ok, err = pcall(function()
        g:wait_stopping()
        say("   worker %d saw stop, finishing its current job (%.2fs)", i, work)
        corral.sleep(work)
      end)
      if ok then say("   worker %d drained", i)
      else say("   worker %d: %s", i, tostring(err)) end
    end, name = "drain-" .. i})
  end
  corral.sleep(0.05)
  say("   stop requested")
  g:stop(0.3)
end, {name = "drain"})
say("5. echo server on loopback; clients get 0.25s, the slow ones are cancelled")
corral.group(function(g)
  local listener = corral.tcp.listen("127.0.0.1", 0)
  g:spawn({function()
    local _ <close> = listener
    corral.group(function(conns)
      while true do
        local conn = listener:accept()
        conns:spawn(function()
          local _ <close> = conn
          for line in function() return conn:read() end do conn:write(line:upper()) end
        end)
      end
    end, {name = "connections"})
  end, name = "echo-server"})
  say("   listening on 127.0.0.1:%d", listener.port)
  corral.group(function(clients)
    for i, pause in ipairs({0.05, 0.10, 0.60, 0.15, 0.90}) do
      clients:spawn({function()
        local ok = corral.move_on_after(0.25, function()
          local conn <close> = corral.tcp.connect("127.0.0.1", listener.port)
          corral.sleep(pause)              -- a client that thinks slowly
          conn:write("hello from client " .. i)
          say("   client %d got %q", i, conn:read())
        end)
        if not ok then say("   client %d cancelled at the deadline (it needed %.2fs)", i, pause) end
      end, name = "client-" .. i})
    end
  end, {name = "clients"})
  g:cancel("clients are done")
end, {name = "echo"})
say("done")
