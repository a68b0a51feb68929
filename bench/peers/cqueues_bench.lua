-- bench/peers/cqueues_bench.lua -- the workloads on cqueues (Lua 5.4):
-- a controller runs the coroutines (cq:wrap), cq:loop() returns when all
-- have finished. cqueues has no cancellation that unwinds a coroutine, so
-- no W2; a rendezvous channel is built from condition variables.
--   lua5.4 bench/peers/cqueues_bench.lua W [N] [seconds]
package.path = (arg[0]:match("^(.*/)") or "./") .. "?.lua;" .. package.path
local common = require "common"
local cqueues = require "cqueues"
local condition = require "cqueues.condition"
local socket = require "cqueues.socket"
local now = cqueues.monotime

local W, N, SECS = common.args(...)
local w = {}

local function loop(cq)
  local ok, err = cq:loop()
  if not ok then common.fail("cqueues: %s", tostring(err)) end
end

-- W1: N coroutines, each yields once (poll with nothing = next step).
function w.W1()
  local done = 0
  local function child() cqueues.poll(); done = done + 1 end
  local t0 = now()
  common.mark()
  local cq = cqueues.new()
  for _ = 1, N do cq:wrap(child) end
  loop(cq)
  local t = now() - t0
  common.check(done == N, "W1: %d of %d tasks ran", done, N)
  common.result("W1", "seconds", t, "n", N)
end

-- A rendezvous channel on condition variables: send waits until a
-- receiver has taken its value.
local function channel()
  return {full = false, v = nil, sent = 0, taken = 0,
          on_put = condition.new(), on_take = condition.new()}
end

local function send(ch, v)
  while ch.full do ch.on_take:wait() end  -- another sender's value is there
  ch.full, ch.v = true, v
  ch.sent = ch.sent + 1
  local mine = ch.sent
  ch.on_put:signal()
  while ch.taken < mine do ch.on_take:wait() end
end

local function recv(ch)
  while not ch.full do ch.on_put:wait() end
  local v = ch.v
  ch.full, ch.v = false, nil
  ch.taken = ch.taken + 1
  ch.on_take:signal()
  return v
end

function w.W3()
  local ping, pong = channel(), channel()
  local handoffs = 0
  local t0 = now()
  common.mark()
  local cq = cqueues.new()
  cq:wrap(function()
    for i = 1, N // 2 do
      send(ping, i)
      local v = recv(pong)
      if v ~= i then common.fail("W3: got %s, want %d", v, i) end
    end
    send(ping, false)
  end)
  cq:wrap(function()
    while true do
      local v = recv(ping)
      if not v then return end
      handoffs = handoffs + 2
      send(pong, v)
    end
  end)
  loop(cq)
  local t = now() - t0
  common.check(handoffs == N // 2 * 2, "W3: %d hand-offs, want %d",
               handoffs, N)
  common.result("W3", "ns_per_handoff", t / handoffs * 1e9, "seconds", t,
                "n", handoffs)
end

function w.W4()
  local dur, late = common.durations(N), {}
  local function sleeper(i)
    local d = dur[i]
    local t = now()
    cqueues.sleep(d)
    late[i] = now() - (t + d)
  end
  local t0 = now()
  local cq = cqueues.new()
  for i = 1, N do cq:wrap(sleeper, i) end
  loop(cq)
  common.report_w4("W4", N, now() - t0, late)
end

-- W5: N coroutines blocked on one condition variable.
function w.W5()
  local started, woke = 0, 0
  local cv = condition.new()
  local function child()
    started = started + 1
    cv:wait()
    woke = woke + 1
  end
  local base = common.mem_baseline()
  local cq = cqueues.new()
  local peak
  for _ = 1, N do cq:wrap(child) end
  cq:wrap(function()
    while started < N do cqueues.poll() end
    peak = select(2, common.mem())
    cv:signal()                          -- all of them
  end)
  loop(cq)
  common.check(started == N and woke == N, "W5: %d of %d tasks blocked",
               started, N)
  common.result("W5", "bytes_per_task", (peak - base) / N, "base", base,
                "peak", peak, "n", N)
end

-- W6: loopback echo; the acceptor polls a done flag between accepts.
function w.W6()
  local MSG, lat, reqs, served = common.MSG, {}, 0, 0
  local t0, elapsed
  local done = false
  local cq = cqueues.new()
  local srv = socket.listen("127.0.0.1", 0)
  assert(srv:listen())
  local _, _, port = srv:localname()
  cq:wrap(function()
    while not done do
      local con = srv:accept(0.05)
      if con then
        cq:wrap(function()
          con:setmode("b", "bn")
          while true do
            local d = con:read(-4096)
            if not d then break end
            assert(con:write(d))
          end
          con:close()
        end)
      end
    end
    srv:close()
  end)
  cq:wrap(function()
    t0 = now()
    local t_end = t0 + SECS
    local clients = cqueues.new()
    for _ = 1, N do
      clients:wrap(function()
        local s = socket.connect("127.0.0.1", port)
        s:setmode("b", "bn")
        local mine = 0
        while now() < t_end do
          local t = now()
          assert(s:write(MSG))
          local got = assert(s:read(#MSG))
          reqs = reqs + 1
          lat[reqs] = now() - t
          if got ~= MSG then common.fail("W6: bad echo %q", got) end
          mine = mine + 1
        end
        if mine > 0 then served = served + 1 end
        s:close()
      end)
    end
    loop(clients)
    elapsed = now() - t0
    done = true
  end)
  loop(cq)
  common.check(served == N, "W6: %d of %d clients were served", served, N)
  common.report_w6("W6", N, reqs, elapsed, lat)
end

-- W7: churn, batches of CHURN_BATCH coroutines on one controller.
function w.W7()
  local done, B = 0, common.CHURN_BATCH
  local function child() cqueues.poll(); done = done + 1 end
  local t0 = now()
  common.mark()
  local cq = cqueues.new()
  for _ = 1, N // B do
    for _ = 1, B do cq:wrap(child) end
    loop(cq)
  end
  local t = now() - t0
  common.check(done == N // B * B, "W7: %d of %d tasks ran", done, N)
  common.result("W7", "seconds", t, "n", N)
end

if not w[W] then
  common.result(W, "skip", "no_unwinding_cancel")
  os.exit(0)
end
w[W]()
