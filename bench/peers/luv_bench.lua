-- bench/peers/luv_bench.lua -- the six workloads on a hand-written
-- scheduler over luv (libuv for Lua): what a Lua user writes by hand. Tasks
-- are coroutines on an array run queue; groups join their children and can
-- be cancelled (a blocked task is woken with a cancel and raises, so its
-- <close> variables run); sleep is a uv timer per call; TCP wraps uv
-- streams. The loop: run every ready task, then poll libuv (NOWAIT while
-- tasks are ready, ONCE when none is).
--   lua5.4 bench/peers/luv_bench.lua W [N] [seconds]
package.path = (arg[0]:match("^(.*/)") or "./") .. "?.lua;" .. package.path
local common = require "common"
local uv = require "luv"
local create, resume, yield, close, status =
  coroutine.create, coroutine.resume, coroutine.yield, coroutine.close,
  coroutine.status

local function now() return uv.hrtime() * 1e-9 end

local W, N, SECS = common.args(...)

-- ------------------------------------------------------------ scheduler
local CANCEL = setmetatable({}, {__tostring = function() return "cancel" end})
local CANCELLED = setmetatable({}, {__tostring = function()
  return "Cancelled" end})

local qt, qv, head, tail = {}, {}, 1, 0  -- run queue: task, resume value
local current                            -- the running task

local function push(t, v)
  tail = tail + 1
  qt[tail], qv[tail] = t, v
end

-- A task waits in park(abort): abort undoes the wait (stops a timer, leaves
-- a queue) when the task is cancelled; true means there is nothing to undo.
local function wake(t, v)
  t.abort = nil
  push(t, v)
end

local function park(abort)
  local t = current
  if t.scope.cancelled then error(CANCELLED, 0) end
  t.abort = abort
  local v = yield()
  if v == CANCEL then error(CANCELLED, 0) end
  return v
end

-- Waits that cannot be undone (a uv write or connect in flight): the
-- callback always wakes the task, and a cancel waits for it.
local function wait_callback()
  current.abort = nil
  return yield()
end

local function cancel_task(t)
  local a = t.abort
  if a then
    t.abort = nil
    if a ~= true then a() end
    push(t, CANCEL)
  end
end

local function finish(t, err)
  local g = t.group
  g.tasks[t] = nil
  g.n = g.n - 1
  if err ~= nil and err ~= CANCELLED and g.err == nil then
    g.err = err
    g.cancel(g)
  end
  if g.n == 0 and g.joiner then
    local j = g.joiner
    g.joiner = nil
    push(j)
  end
end

local function run_ready()
  local stop = tail                   -- tasks woken now wait for the next pass
  while head <= stop do
    local t, v = qt[head], qv[head]
    qt[head], qv[head] = nil, nil
    head = head + 1
    current = t
    local ok, err = resume(t.co, v)
    current = nil
    if not ok then
      close(t.co)
      finish(t, err)
    elseif status(t.co) == "dead" then
      finish(t)
    end
  end
end

local Group = {}
Group.__index = Group

local function cancel_group(g)
  if g.cancelled then return end
  g.cancelled = true
  for t in pairs(g.tasks) do cancel_task(t) end
  if g.body_task then cancel_task(g.body_task) end
  for c in pairs(g.children) do cancel_group(c) end
end
Group.cancel = cancel_group

local function task_main(t)              -- the first resume passes the task
  t.scope = t.group
  local a = t.args
  if a then return t.fn(table.unpack(a, 1, a.n)) end
  return t.fn()
end

function Group:spawn(fn, ...)
  local t = {group = self, fn = fn, co = create(task_main)}
  if select("#", ...) > 0 then t.args = table.pack(...) end
  self.tasks[t] = true
  self.n = self.n + 1
  push(t, t)
  return t
end

-- group(body): runs body(g) in this task, then waits for every child. A
-- cancel of g is absorbed here; any other error is raised once all are done.
local function group(body)
  local t = current
  local parent = t.scope
  local g = setmetatable({tasks = {}, n = 0, children = {}, parent = parent,
                          cancelled = parent.cancelled, body_task = t}, Group)
  parent.children[g] = true
  t.scope = g
  local ok, err = pcall(body, g)
  if not ok and g.err == nil and err ~= CANCELLED then
    g.err = err
    cancel_group(g)
  end
  g.body_task = nil
  while g.n > 0 do                       -- the join is not cancellable
    g.joiner = t
    yield()
  end
  t.scope = parent
  parent.children[g] = nil
  if g.err ~= nil then error(g.err, 0) end
  if not ok and not (err == CANCELLED and g.cancelled
                     and not parent.cancelled) then
    error(err, 0)
  end
end

local function checkpoint()
  local t = current
  if t.scope.cancelled then error(CANCELLED, 0) end
  push(t)
  wait_callback()
  if t.scope.cancelled then error(CANCELLED, 0) end
end

local function sleep(s)
  local t = current
  if t.scope.cancelled then error(CANCELLED, 0) end
  if s == math.huge then return park(true) end
  local timer = uv.new_timer()
  uv.update_time()
  timer:start(math.ceil(s * 1000), 0, function()
    timer:close()
    wake(t)
  end)
  park(function() timer:stop(); timer:close() end)
end

-- run(fn): fn is the root task; returns when every task has finished.
local function run(fn)
  local root_scope = {children = {}, tasks = {}, n = 0, cancelled = false}
  local root = {group = root_scope, scope = root_scope}
  local err
  root.co = create(function() local ok, e = pcall(fn); if not ok then err = e end end)
  root_scope.tasks[root] = true
  root_scope.n = 1
  push(root)
  while root_scope.n > 0 do
    run_ready()
    if head <= tail then
      uv.run("nowait")
    elseif root_scope.n > 0 and not uv.run("once") and head > tail then
      error("deadlock: tasks blocked and nothing to wait for")
    end
  end
  if err ~= nil then error(err, 0) end
end

-- ------------------------------------------------------------ channels
-- A rendezvous channel: send waits for a receiver and vice versa.
local function channel()
  return {sq = {}, sv = {}, sh = 1, st = 0, rq = {}, rh = 1, rt = 0}
end

local function send(ch, v)
  while ch.rh <= ch.rt do                -- a receiver waits: hand it over
    local r = ch.rq[ch.rh]
    ch.rq[ch.rh] = nil
    ch.rh = ch.rh + 1
    if r then wake(r, v); return end     -- (nil: it was cancelled)
  end
  local i = ch.st + 1
  ch.st = i
  ch.sq[i], ch.sv[i] = current, v
  park(function() ch.sq[i], ch.sv[i] = false, nil end)
end

local function recv(ch)
  while ch.sh <= ch.st do                -- a sender waits: take its value
    local i = ch.sh
    local s, v = ch.sq[i], ch.sv[i]
    ch.sq[i], ch.sv[i] = nil, nil
    ch.sh = i + 1
    if s then wake(s); return v end
  end
  local i = ch.rt + 1
  ch.rt = i
  ch.rq[i] = current
  return park(function() ch.rq[i] = false end)
end

-- ------------------------------------------------------------ TCP
local Stream = {}
Stream.__index = Stream

local function stream(h)
  return setmetatable({h = h, buf = {}, bh = 1, bt = 0, eof = false}, Stream)
end

function Stream:read()
  if self.bh <= self.bt then
    local d = self.buf[self.bh]
    self.buf[self.bh] = nil
    self.bh = self.bh + 1
    return d
  end
  if self.eof then return nil end
  if not self.reading then
    self.reading = true
    self.h:read_start(function(err, data)
      if err or not data then self.eof = true end
      local r = self.reader
      if r then
        self.reader = nil
        wake(r, data)
      elseif data then
        self.bt = self.bt + 1
        self.buf[self.bt] = data
      end
    end)
  end
  self.reader = current
  return park(function() self.reader = nil end)
end

function Stream:write(data)
  local n = self.h:try_write(data)
  if n == #data then return end
  if n then data = data:sub(n + 1) end
  local t = current
  self.h:write(data, function(err) wake(t, err or true) end)
  local r = wait_callback()
  if r ~= true then error(r, 0) end
end

function Stream:close()
  if not self.h:is_closing() then self.h:close() end
end
Stream.__close = Stream.close

local function listen(host, port)
  local h = uv.new_tcp()
  assert(h:bind(host, port))
  local l = {h = h, pending = 0, port = h:getsockname().port}
  assert(h:listen(128, function(err)
    assert(not err, err)
    local a = l.acceptor
    if a then l.acceptor = nil; wake(a) else l.pending = l.pending + 1 end
  end))
  function l.accept()
    if l.pending > 0 then
      l.pending = l.pending - 1
    else
      l.acceptor = current
      park(function() l.acceptor = nil end)
    end
    local c = uv.new_tcp()
    assert(h:accept(c))
    return stream(c)
  end
  return setmetatable(l, {__close = function() h:close() end})
end

local function connect(host, port)
  local h = uv.new_tcp()
  local t = current
  h:connect(host, port, function(err) wake(t, err or true) end)
  local r = wait_callback()
  if r ~= true then h:close(); error(r, 0) end
  return stream(h)
end

-- ------------------------------------------------------------ workloads
local w = {}

function w.W1()
  local done = 0
  local function child() checkpoint(); done = done + 1 end
  local t0 = now()
  common.mark()
  group(function(g)
    for _ = 1, N do g:spawn(child) end
  end)
  local t = now() - t0
  common.check(done == N, "W1: %d of %d tasks ran", done, N)
  common.result("W1", "seconds", t, "n", N)
end

function w.W2()
  local started, closed = 0, 0
  local guard = setmetatable({}, {__close = function(_, err)
    if err == CANCELLED then closed = closed + 1 end
  end})
  local function child()
    local _ <close> = guard
    started = started + 1
    sleep(math.huge)
    common.fail("W2: a task woke without being cancelled")
  end
  local t0
  group(function(g)
    for _ = 1, N do g:spawn(child) end
    while started < N do checkpoint() end
    common.settle()
    t0 = now()
    common.mark()
    g:cancel()
  end)
  local t = now() - t0
  common.check(closed == N, "W2: %d of %d tasks unwound", closed, N)
  common.result("W2", "seconds", t, "n", N)
end

function w.W3()
  local ping, pong = channel(), channel()
  local handoffs = 0
  local t0 = now()
  common.mark()
  group(function(g)
    g:spawn(function()
      for i = 1, N // 2 do
        send(ping, i)
        local v = recv(pong)
        if v ~= i then common.fail("W3: got %s, want %d", v, i) end
      end
      send(ping, false)
    end)
    g:spawn(function()
      while true do
        local v = recv(ping)
        if not v then return end
        handoffs = handoffs + 2
        send(pong, v)
      end
    end)
  end)
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
    sleep(d)
    late[i] = now() - (t + d)
  end
  local t0 = now()
  group(function(g)
    for i = 1, N do g:spawn(sleeper, i) end
  end)
  common.report_w4("W4", N, now() - t0, late)
end

function w.W5()
  local started = 0
  local function child() started = started + 1; sleep(math.huge) end
  local base = common.mem_baseline()
  local peak
  group(function(g)
    for _ = 1, N do g:spawn(child) end
    while started < N do checkpoint() end
    peak = select(2, common.mem())
    g:cancel()
  end)
  common.check(started == N, "W5: %d of %d tasks blocked", started, N)
  common.result("W5", "bytes_per_task", (peak - base) / N, "base", base,
                "peak", peak, "n", N)
end

function w.W6()
  local MSG, lat, reqs, served = common.MSG, {}, 0, 0
  local t0, elapsed
  group(function(g)
    local l = listen("127.0.0.1", 0)
    g:spawn(function()
      local _ <close> = l
      group(function(sg)
        while true do
          local s = l.accept()
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
    group(function(cg)
      for _ = 1, N do
        cg:spawn(function()
          local s <close> = connect("127.0.0.1", l.port)
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

run(w[W])
