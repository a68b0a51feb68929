-- bench/peers/bare_bench.lua -- the floor: bare Lua 5.4 coroutines
-- (coroutine.create/resume/yield) on an array run queue, no I/O and no
-- clock, so only W1, W2, W3 and W5. Timed with os.clock() (CPU time: the
-- work is CPU-bound and there is no wall clock in stock Lua).
--   lua5.4 bench/peers/bare_bench.lua W [N]
package.path = (arg[0]:match("^(.*/)") or "./") .. "?.lua;" .. package.path
local common = require "common"
local create, resume, yield, close =
  coroutine.create, coroutine.resume, coroutine.yield, coroutine.close
local now = os.clock

local W, N = common.args(...)

-- The scheduler: a run queue of (coroutine, value to resume it with) in two
-- parallel arrays. A task yields nothing to park itself; whoever wakes it
-- pushes it back. A task that dies by error is closed (runs its <close>
-- variables); a "cancelled" error is the normal end of a cancelled task.
local qco, qval, head, tail = {}, {}, 1, 0
local CANCEL = setmetatable({}, {__tostring = function() return "cancel" end})

local function push(co, v)
  tail = tail + 1
  qco[tail], qval[tail] = co, v
end

-- The group: every task it spawned (so blocked ones stay reachable and can
-- be cancelled) and how many still live.
local tasks, live = {}, 0
local function spawn(fn)
  local co = create(fn)
  tasks[#tasks + 1] = co
  live = live + 1
  push(co)
end

local function run()
  while head <= tail do
    local co, v = qco[head], qval[head]
    qco[head], qval[head] = nil, nil
    head = head + 1
    local ok, err = resume(co, v)
    if not ok then
      close(co)
      if err ~= CANCEL then error(err, 0) end
    end
    if not ok or coroutine.status(co) == "dead" then live = live - 1 end
  end
end

local function checkpoint() push(coroutine.running()); yield() end
local function block()                  -- park until woken; raise if cancelled
  local v = yield()
  if v == CANCEL then error(CANCEL, 0) end
  return v
end

local w = {}

function w.W1()
  local done = 0
  local function child() checkpoint(); done = done + 1 end
  local t0 = now()
  common.mark()
  for _ = 1, N do spawn(child) end
  run()
  local t = now() - t0
  common.check(done == N and live == 0, "W1: %d of %d tasks ran", done, N)
  common.result("W1", "seconds", t, "n", N)
end

function w.W2()
  local started, closed = 0, 0
  local guard = setmetatable({}, {__close = function(_, err)
    if err == CANCEL then closed = closed + 1 end
  end})
  local function child()
    local _ <close> = guard
    started = started + 1
    block()
    common.fail("W2: a task woke without being cancelled")
  end
  for _ = 1, N do spawn(child) end
  run()
  common.check(started == N, "W2: %d of %d tasks blocked", started, N)
  common.settle()
  local t0 = now()
  common.mark()
  for i = 1, #tasks do                                -- the cancel
    local co = tasks[i]
    if coroutine.status(co) == "suspended" then push(co, CANCEL) end
  end
  run()
  local t = now() - t0
  common.check(closed == N and live == 0, "W2: %d of %d tasks unwound",
               closed, N)
  common.result("W2", "seconds", t, "n", N)
end

-- A rendezvous channel: send waits for a receiver and vice versa. Waiting
-- senders sit in two parallel arrays (coroutine, value), receivers in one.
local function channel()
  return {sco = {}, sval = {}, sh = 1, st = 0, rco = {}, rh = 1, rt = 0}
end
local function send(ch, v)
  local rh = ch.rh
  if rh <= ch.rt then                     -- a receiver waits: hand it over
    local r = ch.rco[rh]
    ch.rco[rh] = nil
    ch.rh = rh + 1
    push(r, v)
    return
  end
  local st = ch.st + 1
  ch.st = st
  ch.sco[st], ch.sval[st] = coroutine.running(), v
  block()
end
local function recv(ch)
  local sh = ch.sh
  if sh <= ch.st then                     -- a sender waits: take its value
    local s, v = ch.sco[sh], ch.sval[sh]
    ch.sco[sh], ch.sval[sh] = nil, nil
    ch.sh = sh + 1
    push(s)
    return v
  end
  local rt = ch.rt + 1
  ch.rt = rt
  ch.rco[rt] = coroutine.running()
  return block()
end

function w.W3()
  local ping, pong = channel(), channel()
  local handoffs = 0
  local t0 = now()
  common.mark()
  spawn(function()
    for i = 1, N // 2 do
      send(ping, i)
      local v = recv(pong)
      if v ~= i then common.fail("W3: got %s, want %d", v, i) end
    end
    send(ping, false)
  end)
  spawn(function()
    while true do
      local v = recv(ping)
      if not v then return end
      handoffs = handoffs + 2
      send(pong, v)
    end
  end)
  run()
  local t = now() - t0
  common.check(handoffs == N // 2 * 2 and live == 0,
               "W3: %d hand-offs, want %d", handoffs, N)
  common.result("W3", "ns_per_handoff", t / handoffs * 1e9, "seconds", t,
                "n", handoffs)
end

function w.W5()
  local started = 0
  local function child() started = started + 1; block() end
  local base = common.mem_baseline()
  for _ = 1, N do spawn(child) end
  run()
  local peak = select(2, common.mem())
  common.check(started == N and live == N, "W5: %d of %d tasks blocked",
               started, N)
  common.result("W5", "bytes_per_task", (peak - base) / N, "base", base,
                "peak", peak, "n", N)
end

-- W7: churn; the group's list of tasks is per batch.
function w.W7()
  local done, B = 0, common.CHURN_BATCH
  local function child() checkpoint(); done = done + 1 end
  local t0 = now()
  common.mark()
  for _ = 1, N // B do
    tasks = {}
    for _ = 1, B do spawn(child) end
    run()
  end
  local t = now() - t0
  common.check(done == N // B * B and live == 0, "W7: %d of %d tasks ran",
               done, N)
  common.result("W7", "seconds", t, "n", N)
end

if not w[W] then
  common.result(W, "skip", "no_" .. (W == "W4" and "timers" or "io"))
  os.exit(0)
end
w[W]()
