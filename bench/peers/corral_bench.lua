-- bench/peers/corral_bench.lua -- the six workloads on corral (real clock).
--   LUA_CPATH='build/?.so;;' lua5.4 bench/peers/corral_bench.lua W [N] [seconds]
package.path = (arg[0]:match("^(.*/)") or "./") .. "?.lua;" .. package.path
local common = require "common"
local corral = require "corral"
local now = corral.now

local W, N, SECS = common.args(...)
local w = {}

-- W1: N tasks in one group, each yields once and returns.
function w.W1()
  local done = 0
  local function child() corral.checkpoint(); done = done + 1 end
  local t0 = now()
  common.mark()
  corral.group(function(g)
    for _ = 1, N do g:spawn(child) end
  end)
  local t = now() - t0
  common.check(done == N, "W1: %d of %d tasks ran", done, N)
  common.result("W1", "seconds", t, "n", N)
end

-- W2: N tasks blocked forever, each holding a <close> variable; time from
-- g:cancel() until the group has exited.
function w.W2()
  local started, closed = 0, 0
  local guard = setmetatable({}, {__close = function(_, err)
    if corral.is_cancelled(err) then closed = closed + 1 end
  end})
  local function child()
    local _ <close> = guard
    started = started + 1
    corral.sleep(math.huge)
    common.fail("W2: a task woke without being cancelled")
  end
  local t0
  corral.group(function(g)
    for _ = 1, N do g:spawn(child) end
    while started < N do corral.checkpoint() end
    common.settle()
    t0 = now()
    common.mark()
    g:cancel()
  end)
  local t = now() - t0
  common.check(closed == N, "W2: %d of %d tasks unwound", closed, N)
  common.result("W2", "seconds", t, "n", N)
end

-- W3: two tasks hand a token back and forth N times through rendezvous
-- channels (one each way).
function w.W3()
  local ping, pong = corral.channel(0), corral.channel(0)
  local handoffs = 0
  local t0 = now()
  common.mark()
  corral.group(function(g)
    g:spawn(function()
      for i = 1, N // 2 do
        ping:send(i)
        local v = pong:recv()
        if v ~= i then common.fail("W3: got %s, want %d", v, i) end
      end
      ping:close()
    end)
    g:spawn(function()
      for v in ping:iter() do
        handoffs = handoffs + 2
        pong:send(v)
      end
    end)
  end)
  local t = now() - t0
  common.check(handoffs == N // 2 * 2, "W3: %d hand-offs, want %d",
               handoffs, N)
  common.result("W3", "ns_per_handoff", t / handoffs * 1e9, "seconds", t,
                "n", handoffs)
end

-- W4: N tasks each sleep a fixed pseudo-random duration in [0, 0.5).
function w.W4()
  local dur, late = common.durations(N), {}
  local function sleeper(i)
    local d = dur[i]
    local t = now()
    corral.sleep(d)
    late[i] = now() - (t + d)
  end
  local t0 = now()
  corral.group(function(g)
    for i = 1, N do g:spawn(sleeper, i) end
  end)
  common.report_w4("W4", N, now() - t0, late)
end

-- W5: N tasks blocked; (peak RSS - baseline RSS) / N.
function w.W5()
  local started = 0
  local function child()
    started = started + 1
    corral.sleep(math.huge)
  end
  local base = common.mem_baseline()
  local peak
  corral.group(function(g)
    for _ = 1, N do g:spawn(child) end
    while started < N do corral.checkpoint() end
    peak = select(2, common.mem())
    g:cancel()
  end)
  common.check(started == N, "W5: %d of %d tasks blocked", started, N)
  common.result("W5", "bytes_per_task", (peak - base) / N, "base", base,
                "peak", peak, "n", N)
end

-- W6: loopback TCP echo, N clients, 64-byte messages, for SECS seconds.
function w.W6()
  local MSG, lat, reqs = common.MSG, {}, 0
  local served = 0
  local t0, elapsed
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
    t0 = now()
    local t_end = t0 + SECS
    corral.group(function(cg)
      for _ = 1, N do
        cg:spawn(function()
          local s <close> = corral.tcp.connect("127.0.0.1", l.port)
          local mine = 0
          while now() < t_end do
            local t = now()
            s:write(MSG)
            local got = assert(s:read())
            while #got < #MSG do got = got .. assert(s:read()) end
            reqs = reqs + 1
            lat[reqs] = now() - t
            if got ~= MSG then common.fail("W6: bad echo %q", got) end
            mine = mine + 1
          end
          if mine > 0 then served = served + 1 end
        end)
      end
    end)
    elapsed = now() - t0
    g:cancel()
  end)
  common.check(served == N, "W6: %d of %d clients were served", served, N)
  common.report_w6("W6", N, reqs, elapsed, lat)
end

-- W7: churn, N tasks coming and going in batches of CHURN_BATCH: one group
-- per batch, each task yields once.
function w.W7()
  local done, B = 0, common.CHURN_BATCH
  local function child() corral.checkpoint(); done = done + 1 end
  local function batch(g) for _ = 1, B do g:spawn(child) end end
  local t0 = now()
  common.mark()
  for _ = 1, N // B do corral.group(batch) end
  local t = now() - t0
  common.check(done == N // B * B, "W7: %d of %d tasks ran", done, N)
  common.result("W7", "seconds", t, "n", N)
end

-- Under the `corral` command the script already is corral.run's root task.
if pcall(corral.current_task) then w[W]() else corral.run(w[W]) end
