-- spec/mix/fuzz.lua: random programs that mix corral's features, and the
-- invariants every one of them must keep (require "mix.fuzz").
--
-- Each seed generates a program tree 1-4 deep (groups with defer_errors,
-- limit, max_errors, on_error, stop; scopes with deadlines moved, shields and
-- cancels from other tasks; g:start, t:cancel, t:wait; channels of every
-- capacity; locks, semaphores, events; testing.stream_pair; race, gather,
-- map, retry and supervisor; errors of every kind, pcall-swallowed cancels,
-- <close> handlers that block or raise; waits that nothing can end, so that
-- the run reports a deadlock) and runs it under testing.run with that seed
-- (virtual clock, seeded schedule, leak check). Then: no Cancelled escapes
-- the run, a deadlock is reported (never a hang) and only where a wait could
-- not end, no error is lost (caught, in the final ErrorGroup tree, or seen
-- by a hook; only the documented drops are exempt), string errors keep the
-- user's position, every <close> handler ran once, every task ended,
-- channels conserve their values, locks and semaphores are back, and
-- corral.debug_stats() is all zero after the run.
--
-- Real I/O is off unless asked for (it spawns processes and signals this
-- process): FUZZ_W_IO=2 adds loopback TCP and child processes, FUZZ_W_SIG=1
-- SIGUSR1 waits, and with them the process's fds and children are checked
-- after each run (every FUZZ_OSCHECK-th). FUZZ_W_DL weighs the deadlocks
-- (3); FUZZ_PROGRESS=file keeps the current seed there, to find a hang.
--
-- M.run(first, last [, verbose]) -> number of seeds with problems, stats,
-- report lines. tools/fuzz-mix.lua runs it from the command line (and under
-- the corral command, on the real clock with every time scaled down);
-- spec/mix_spec.lua runs a few thousand seeds in make test.
local corral = require "corral"
local testing = require "corral.testing"
local race = require "corral.race"
local gather = require "corral.gather"
local map = require "corral.map"
local retry = require "corral.retry"
local supervisor = require "corral.supervisor"

local M = {}
local PROGRESS = os.getenv("FUZZ_PROGRESS") and io.open(os.getenv("FUZZ_PROGRESS"), "w")
local W_IO = tonumber(os.getenv("FUZZ_W_IO") or "") or 0
local W_SIG = tonumber(os.getenv("FUZZ_W_SIG") or "") or 0
local REAL_IO = W_IO > 0 or W_SIG > 0     -- real sockets, processes, signals
local ONLY = os.getenv("FUZZ_ONLY")      -- comma list of node kinds to allow
-- under the corral command the script is already the root task (real clock):
-- run each program in the root, with every time scaled down
local CLI = pcall(corral.now)
local SCALE = CLI and 0.0005 or 1
local function T(x) return x * SCALE end
local function SLEEP(x) return corral.sleep(x * SCALE) end

-- ---------------------------------------------------------------- rng
local rng = require("model.gen").rng    -- the model fuzzer's seeded generator

-- ---------------------------------------------------------------- generator
local SLEEPS = { 0, 0, 0.5, 1, 1, 2, 3 }
local TIMES = { 0, 0.5, 1, 1.5, 2, 3 }
local ERRKINDS = { "str", "str", "str0", "tbl", "tbl", "nil", "false", "badts" }

local KINDS = {
  { "sleep", 6 }, { "checkpoint", 3 }, { "raise", 3 }, { "group", 6 }, { "scope", 5 },
  { "swallow", 3 }, { "close", 3 }, { "chan", 3 }, { "sync", 2 }, { "stream", 2 },
  { "race", 2 }, { "gather", 2 }, { "map", 1 }, { "retry", 2 }, { "super", 1 },
  { "taskcancel", 2 }, { "start", 2 }, { "pcall", 2 },
  -- extensions (repro/fuzz.lua): deadlocks and real I/O
  { "deadlock", tonumber(os.getenv("FUZZ_W_DL") or "") or (CLI and 0 or 3) }, { "tcp", W_IO },
  { "proc", W_IO }, { "sig", W_SIG },
}
local IOKIND = { tcp = true, proc = true, sig = true }
local allowed
if ONLY then
  allowed = {}
  for k in ONLY:gmatch("[^,]+") do allowed[k] = true end
end

local gen_block
local GEN_NOBLOCK = 0   -- > 0 inside real I/O's own code (see weighted)
local function weighted(r, depth)
  local list = {}
  for _, k in ipairs(KINDS) do
    local w = k[2]
    local compound = not (k[1] == "sleep" or k[1] == "checkpoint" or k[1] == "raise")
    if depth >= 4 and compound then w = 0 end
    if allowed and compound and not allowed[k[1]] then w = 0 end
    -- a deadlock inside real I/O's own code can hang for ever (a task in
    -- accept or p:wait keeps the run alive): documented, so not generated
    if k[1] == "deadlock" and GEN_NOBLOCK > 0 then w = 0 end
    if w > 0 then list[#list + 1] = { k[1], w } end
  end
  return r:weighted(list)
end

local budget
local gen_has = {}
local function gen_stmt(r, depth)
  budget = budget - 1
  local k = budget > 0 and weighted(r, depth) or r:pick({ "sleep", "checkpoint", "raise" })
  local s = { k = k }
  gen_has[k] = true
  if k == "sleep" then s.t = r:pick(SLEEPS)
  elseif k == "raise" then s.ek = r:pick(ERRKINDS); s.p = r:int(3) == 1 -- p: only sometimes
  elseif k == "group" then
    s.opts = {}
    local m = r:int(5)
    if m == 2 then s.opts.defer_errors = true
    elseif m == 3 then s.opts.limit = r:int(2)
    elseif m == 4 then s.opts.max_errors = r:int(2) end
    if r:chance(0.2) then s.on_error = r:int(2) end
    s.children = {}
    for i = 1, r:int(3) do s.children[i] = gen_block(r, depth + 1, 2) end
    s.body = gen_block(r, depth + 1, 2)
    local a = r:int(6)
    if a == 1 then s.stop = r:pick({ false, 0, 0.5, 1, 2 }) ; s.stop_after = r:pick(SLEEPS)
    elseif a == 2 then s.cancel_after = r:pick(SLEEPS) end
    if r:chance(0.2) then s.waitfirst = true end
  elseif k == "scope" then
    s.how = r:pick({ "move_on_after", "fail_after", "shield", "plain", "plain", "move_deadline" })
    s.t = r:pick(TIMES)
    s.body = gen_block(r, depth + 1, 3)
    if r:chance(0.3) then s.cancel_from = r:pick(SLEEPS) end
  elseif k == "swallow" then
    s.body = gen_block(r, depth + 1, 2)
    s.after = r:pick({ "sleep", "raise", "none", "reraise" })
    s.ek = r:pick(ERRKINDS)
  elseif k == "pcall" then
    s.body = gen_block(r, depth + 1, 2)
  elseif k == "close" then
    s.how = r:pick({ "plain", "plain", "block", "raise", "block_raise" })
    s.ek = r:pick(ERRKINDS)
    s.body = gen_block(r, depth + 1, 2)
  elseif k == "chan" then
    s.cap = r:pick({ 0, 1, 3, math.huge })
    s.producers = r:int(2); s.consumers = r:int(2); s.n = r:int(4)
    s.cancel_after = r:chance(0.4) and r:pick(SLEEPS) or nil
    s.fail = r:chance(0.2) and r:pick(ERRKINDS) or nil
    s.noclose = r:chance(0.15)
  elseif k == "sync" then
    s.what = r:pick({ "lock", "sem", "event", "cond" })
    s.n = r:int(3)
    s.body = gen_block(r, depth + 1, 1)
    s.cancel_after = r:chance(0.4) and r:pick(SLEEPS) or nil
  elseif k == "stream" then
    s.n = r:int(4); s.mode = r:pick({ "read", "read_line", "read_exactly", "lines" })
    s.chunk = r:pick({ 1, 3, 100 }); s.buffer = r:pick({ 4, 16, 65536 })
    s.cancel_after = r:chance(0.4) and r:pick(SLEEPS) or nil
    s.end_how = r:pick({ "shutdown", "close", "close_reader" })
  elseif k == "race" or k == "gather" or k == "map" then
    s.branches = {}
    for i = 1, r:int(3) do s.branches[i] = gen_block(r, depth + 1, 2) end
    s.settle = r:chance(0.4); s.defer = r:chance(0.3)
    s.limit = r:chance(0.3) and r:int(2) or nil
  elseif k == "retry" then
    s.body = gen_block(r, depth + 1, 2)
    s.attempts = r:int(3); s.delay = r:pick({ 0.1, 0.5, 1 })
    s.timeout = r:chance(0.5) and r:pick({ 0.5, 1, 3 }) or nil
    s.retry_if = r:chance(0.3)
  elseif k == "super" then
    s.strategy = r:pick({ "one_for_one", "one_for_all", "rest_for_one" })
    s.children = {}
    for i = 1, r:int(3) do
      s.children[i] = { body = gen_block(r, depth + 1, 2),
        restart = r:pick({ "permanent", "transient", "temporary" }),
        shutdown = r:pick({ 0, 0.5, 1 }) }
    end
    s.intensity = r:int(3) - 1; s.period = r:pick({ 1, 5 })
    s.body = gen_block(r, depth + 1, 2)
    s.stop_grace = r:pick({ 0, 0.5, 2, false })
  elseif k == "taskcancel" then
    s.body = gen_block(r, depth + 1, 2)
    s.after = r:pick(SLEEPS); s.wait = r:chance(0.6)
  elseif k == "start" then
    s.pre = gen_block(r, depth + 1, 1)
    s.post = gen_block(r, depth + 1, 1)
    s.noready = r:chance(0.15)
    s.cancel_after = r:chance(0.3) and r:pick(SLEEPS) or nil
  elseif k == "deadlock" then
    s.how = r:pick({ "recv", "recv", "send", "event", "sem", "lock_cycle", "lock_cycle",
      "wait_cycle", "wait_parent", "iter", "shielded" })
    if s.how == "shielded" and not r:chance(0.3) then s.how = "event" end
    s.cap = r:pick({ 0, 1, math.huge })
    s.in_child = r:chance(0.5)
    s.lockclose = r:chance(0.5)
    s.idle = r:pick({ "none", "none", "listener", "stream", "process", "signal", "pipe" })
    if not REAL_IO then s.idle = "none" end   -- (the draw keeps the seeds' other choices)
    s.pre_raise = r:chance(0.3) and r:pick(ERRKINDS) or nil
    s.close_how = r:pick({ "plain", "plain", "block", "raise", "block_raise" })
    s.ek = r:pick(ERRKINDS)
    s.body = gen_block(r, depth + 1, 1)
  elseif k == "tcp" then
    GEN_NOBLOCK = GEN_NOBLOCK + 1
    s.server = r:pick({ "echo", "echo", "echo", "close_early", "silent", "write_close" })
    s.n = r:int(4); s.size = r:pick({ 0, 10, 70000 })
    s.end_how = r:pick({ "shutdown", "close", "none" })
    s.timeout = r:chance(0.3) and r:pick(TIMES) or nil
    s.cancel_after = r:chance(0.3) and r:pick(SLEEPS) or nil
    s.body = gen_block(r, depth + 1, 1)
    GEN_NOBLOCK = GEN_NOBLOCK - 1
  elseif k == "proc" then
    GEN_NOBLOCK = GEN_NOBLOCK + 1
    s.mode = r:pick({ "cat", "cat", "exit3", "sleep_deadline", "kill", "lines_deadline", "close_wait" })
    s.n = r:int(4)
    s.t = r:pick({ 0, 0.5, 1, 2 })
    s.kill = r:pick({ false, "SIGTERM", "SIGKILL", "SIGINT" })
    s.cancel_after = r:chance(0.3) and r:pick(SLEEPS) or nil
    s.explicit_close = r:chance(0.3)
    s.body = gen_block(r, depth + 1, 1)
    GEN_NOBLOCK = GEN_NOBLOCK - 1
  elseif k == "sig" then
    GEN_NOBLOCK = GEN_NOBLOCK + 1
    s.via = r:pick({ "os", "child" })
    s.waiters = r:int(2)
    s.cancel_after = r:chance(0.3) and r:pick(SLEEPS) or nil
    s.body = gen_block(r, depth + 1, 1)
    GEN_NOBLOCK = GEN_NOBLOCK - 1
  end
  return s
end

function gen_block(r, depth, maxn)
  local b = {}
  for i = 1, r:int(maxn or 3) do b[i] = gen_stmt(r, depth) end
  return b
end

local function gen_program(seed)
  local r = rng(seed)
  budget = 8 + r:int(22)
  gen_has = {}
  GEN_NOBLOCK = 0
  local prog = gen_block(r, 1, 4)
  local io = gen_has.tcp or gen_has.proc or gen_has.sig or (REAL_IO and gen_has.deadlock)
  -- real I/O under the virtual clock: let I/O that completes quickly be seen
  -- before the clock jumps (testing.md, "Real I/O with autojump_threshold")
  local thr = io and r:pick({ 0, 0, 0.0005, 0.002 }) or nil
  return prog, { io = io, thr = thr, has = gen_has }
end

-- ---------------------------------------------------------------- state
local R -- per-program record
local function reset()
  R = {
    raised = {}, observed = {}, lossy = {}, nextid = 0,
    closes = {}, tasks = {}, sends = {}, recvs = {}, buffered = {}, sendfail = {},
    problems = {}, locks = {}, sems = {}, streams = {},
    dl_seen = false, dl_blocked = 0, abandon = false, io = {}, ioerrs = {},
  }
end
local function problem(fmt, ...) R.problems[#R.problems + 1] = string.format(fmt, ...) end

local BadTs = { __tostring = function() error("tostring exploded") end }

local function observe(v, seen)
  seen = seen or {}
  local t = type(v)
  if t == "string" then
    for id in v:gmatch("E#(%d+)") do R.observed[tonumber(id)] = true end
  elseif t == "table" then
    if seen[v] then return end
    seen[v] = true
    local tag = rawget(v, "tag")
    if tag then R.observed[tag] = true end
    if corral.is_error_group(v) then
      for i = 1, #v.tasks do observe(v.errors[i], seen) end
    end
    if corral.is_timeout(v) then observe(rawget(v, "last_error") or v.last_error, seen) end
  end
end

local function raise(ek, ctx)
  R.nextid = R.nextid + 1
  local id = R.nextid
  if ek == "nil" then error(nil) elseif ek == "false" then error(false) end
  R.raised[id] = ek
  if ctx.lossy then R.lossy[id] = ctx.lossy end
  if ek == "str" then error("E#" .. id)
  elseif ek == "str0" then error("E#" .. id, 0)
  elseif ek == "tbl" then error({ tag = id })
  else error(setmetatable({ tag = id }, BadTs)) end
end

local function track(t) R.tasks[#R.tasks + 1] = t; return t end

local exec_block

local function sub(ctx, extra)
  local c = {}
  for k, v in pairs(ctx) do c[k] = v end
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

-- ---------------------------------------------------------------- interpreter
local X = {}

function X.sleep(s) SLEEP(s.t) end
function X.checkpoint() corral.checkpoint() end
function X.raise(s, ctx) raise(s.ek, ctx) end

function X.group(s, ctx)
  local opts = {}
  for k, v in pairs(s.opts) do opts[k] = v end
  local lossy = ctx.lossy
  if opts.max_errors then lossy = lossy or "max_errors" end
  if s.on_error then
    opts.on_error = function(err, task)
      observe(err)
      if s.on_error == 1 then SLEEP(0.5) end
      return s.on_error == 2
    end
  end
  return corral.group(function(g)
    local c = sub(ctx, { g = g, lossy = lossy })
    local ts = {}
    for i, ch in ipairs(s.children) do
      local ok, t = pcall(g.spawn, g, function() exec_block(ch, c) end)
      if ok then ts[i] = track(t) else
        if not tostring(t):find("stopping") then error(t, 0) end
      end
    end
    if s.stop ~= nil then
      local ok, t = pcall(g.spawn, g, function()
        SLEEP(s.stop_after)
        if s.stop == false then g:stop() else g:stop(T(s.stop)) end
      end)
      if ok then track(t) end
    elseif s.cancel_after then
      track(g:spawn(function() SLEEP(s.cancel_after); g:cancel("c") end))
    end
    if s.waitfirst and ts[1] then ts[1]:wait() end
    exec_block(s.body, c)
  end, opts)
end

function X.scope(s, ctx)
  local body = function(sc)
    if s.cancel_from and sc then
      -- cancel the scope from another task: needs a group around it
      ctx.g_aux = ctx.g_aux
    end
    exec_block(s.body, ctx)
  end
  local function with_canceller(fn)
    if not s.cancel_from then return fn() end
    return corral.group(function(g)
      local sc
      track(g:spawn(function() SLEEP(s.cancel_from); if sc then sc:cancel("from-task") end end))
      corral.scope(function(x) sc = x; fn(x) end)
      g:cancel()
    end)
  end
  if s.how == "move_on_after" then
    with_canceller(function() corral.move_on_after(T(s.t), body) end)
  elseif s.how == "fail_after" then
    with_canceller(function() corral.fail_after(T(s.t), body) end)
  elseif s.how == "shield" then
    with_canceller(function() corral.scope(body, { shield = true, timeout = T(s.t + 1) }) end)
  elseif s.how == "move_deadline" then
    with_canceller(function()
      corral.scope(function(sc)
        corral.group(function(g)
          track(g:spawn(function()
            SLEEP(s.t / 2)
            sc.deadline = corral.now() + T(s.t > 1 and -1 or 0.5)
          end))
          exec_block(s.body, ctx)
        end)
      end, { timeout = T(s.t) })
    end)
  else
    with_canceller(function() corral.scope(body) end)
  end
end

function X.swallow(s, ctx)
  local ok, e = pcall(exec_block, s.body, ctx)
  if ok then return end
  if not corral.is_cancelled(e) then error(e, 0) end
  if s.after == "sleep" then SLEEP(1)
  elseif s.after == "raise" then raise(s.ek, ctx)
  elseif s.after == "reraise" then error(e, 0) end
end

function X.pcall(s, ctx)
  local ok, e = pcall(exec_block, s.body, ctx)
  if not ok then
    observe(e)
    if corral.is_cancelled(e) then error(e, 0) end
  end
end

function X.close(s, ctx)
  local id = #R.closes + 1
  R.closes[id] = 0
  local h <close> = setmetatable({}, { __close = function(_, err)
    R.closes[id] = R.closes[id] + 1
    if err ~= nil then observe(err) end
    if s.how == "block" or s.how == "block_raise" then
      corral.scope(function() SLEEP(0.5) end, { shield = true })
    end
    if s.how == "raise" or s.how == "block_raise" then raise(s.ek, ctx) end
  end })
  exec_block(s.body, ctx)
end

local chan_id = 0
function X.chan(s, ctx)
  chan_id = chan_id + 1
  local cid = chan_id
  local ch = corral.channel(s.cap)
  local key = 0
  local ok, err = pcall(corral.group, function(g)
    local prods = {}
    for p = 1, s.producers do
      prods[p] = track(g:spawn(function()
        for i = 1, s.n do
          key = key + 1
          local v = cid .. ":" .. key
          local ok2, e = pcall(ch.send, ch, v)
          if ok2 then R.sends[v] = (R.sends[v] or 0) + 1 else R.sendfail[v] = true; error(e, 0) end
          if s.fail and i == 2 and p == 1 then raise(s.fail, ctx) end
        end
      end))
    end
    for c = 1, s.consumers do
      track(g:spawn(function()
        while true do
          local v = ch:recv()
          if v == nil then break end
          R.recvs[v] = (R.recvs[v] or 0) + 1
          if R.sendfail[v] then problem("chan: received %s whose send raised", v) end
          if c == 2 then SLEEP(0.5) end
        end
      end))
    end
    if s.cancel_after then
      track(g:spawn(function() SLEEP(s.cancel_after); g:cancel("chan") end))
    end
    for _, t in ipairs(prods) do t:wait() end
    if not s.noclose then ch:close() else SLEEP(1); g:cancel() end
  end)
  -- drain what is left
  corral.scope(function()
    for _ = 1, #ch do
      local v = ch:recv()
      R.buffered[v] = (R.buffered[v] or 0) + 1
    end
  end, { shield = true })
  if not ok then error(err, 0) end
end

function X.sync(s, ctx)
  local ok, err = pcall(corral.group, function(g)
    local obj
    if s.what == "lock" then obj = corral.lock(); R.locks[#R.locks + 1] = obj
    elseif s.what == "sem" then obj = corral.semaphore(s.n); R.sems[#R.sems + 1] = { obj, s.n }
    elseif s.what == "event" or s.what == "cond" then obj = corral.event() end
    for i = 1, 3 do
      track(g:spawn(function()
        if s.what == "lock" or s.what == "sem" then
          obj:with(function() SLEEP(0.5); if i == 1 then exec_block(s.body, ctx) end end)
        else
          if i == 1 then SLEEP(1); exec_block(s.body, ctx); obj:set()
          else obj:wait(); if not obj:is_set() then problem("event woke unset") end end
        end
      end))
    end
    if s.cancel_after then SLEEP(s.cancel_after); g:cancel("sync") end
  end)
  if not ok then error(err, 0) end
end

function X.stream(s, ctx)
  local a, b = testing.stream_pair({ max_chunk = s.chunk, buffer = s.buffer })
  local _ <close> = a
  local _ <close> = b
  local written, got = {}, {}
  local ok, err = pcall(corral.group, function(g)
    local w = track(g:spawn(function()
      for i = 1, s.n do
        local line = string.rep(string.char(96 + i), i) .. "\n"
        a:write(line)
        written[#written + 1] = line
        if i == 2 then SLEEP(0.5) end
      end
      if s.end_how == "shutdown" then a:shutdown() elseif s.end_how == "close" then a:close() end
    end))
    track(g:spawn(function()
      local rok, re = pcall(function()
        if s.mode == "read" then
          while true do local d = b:read(); if not d then break end; got[#got + 1] = d end
        elseif s.mode == "read_line" then
          while true do local l = b:read_line(); if not l then break end; got[#got + 1] = l .. "\n" end
        elseif s.mode == "lines" then
          for l in b:lines() do got[#got + 1] = l .. "\n" end
        else
          while true do got[#got + 1] = b:read_exactly(2) end
        end
      end)
      if not rok then
        if corral.is_io_error(re) and (re.code == "EOF" or re.code == "ECLOSED" or re.code == "ECONNRESET") then
          if re.partial then got[#got + 1] = re.partial end
        else error(re, 0) end
      end
    end))
    if s.end_how == "close_reader" then SLEEP(1); b:close() end
    if s.cancel_after then SLEEP(s.cancel_after); g:cancel("stream") end
  end)
  local W, G = table.concat(written), table.concat(got)
  if W:sub(1, #G) ~= G then problem("stream: got %q, not a prefix of written %q (mode %s)", G, W, s.mode) end
  if not ok then
    if corral.is_error_group(err) then
      -- only EPIPE/ECLOSED write errors are expected (peer closed)
      for i = 1, #err.tasks do
        local e = err.errors[i]
        if not (corral.is_io_error(e) and (e.code == "EPIPE" or e.code == "ECLOSED" or e.code == "ECONNRESET")) then
          error(err, 0)
        end
      end
    else error(err, 0) end
  end
end

local function fns_of(s, ctx)
  local fns = {}
  for i, br in ipairs(s.branches) do fns[i] = function() exec_block(br, ctx); return i end end
  return fns
end

function X.race(s, ctx)
  local c = sub(ctx, { lossy = ctx.lossy or "race" })
  local ok, r = pcall(race, fns_of(s, c))
  if not ok then
    if type(r) == "string" and r:find("no branch returned") then return end
    error(r, 0)
  end
end

function X.gather(s, ctx)
  -- settle: entries are dropped under an outer cancel (documented)
  local res = gather(fns_of(s, s.settle and sub(ctx, { lossy = ctx.lossy or "settle" }) or ctx), { settle = s.settle or nil, defer_errors = s.defer or nil, limit = s.limit })
  for i, e in ipairs(res) do
    if s.settle and e.ok == false then observe(e.err) end
  end
end

function X.map(s, ctx)
  map(function(br) exec_block(br, ctx); return 1 end, s.branches, { defer_errors = s.defer or nil, limit = s.limit })
end

function X.retry(s, ctx)
  retry(function(attempt) exec_block(s.body, ctx); return attempt end, {
    attempts = s.attempts, delay = T(s.delay), timeout = s.timeout and T(s.timeout),
    retry_if = s.retry_if and function(err) observe(err); return false end or nil,
    on_retry = function(err) observe(err) end,
  })
end

function X.super(s, ctx)
  local children = {}
  for i, c in ipairs(s.children) do
    children[i] = { name = "c" .. i, restart = c.restart, shutdown = T(c.shutdown),
      fn = function(child) exec_block(c.body, ctx); SLEEP(1) end }
  end
  -- a restart loop paced by a shutdown grace can run for ever: bound it
  corral.move_on_after(T(30), supervisor.run, {
    strategy = s.strategy, intensity = s.intensity, period = T(s.period), children = children,
    on_restart = function(name, err) observe(err) end,
    on_failure = function(name, err) observe(err) end,
  }, function(sup)
    exec_block(s.body, ctx)
    if s.stop_grace == false then sup:stop() else sup:stop(T(s.stop_grace)) end
  end)
end

function X.taskcancel(s, ctx)
  corral.group(function(g)
    local t = track(g:spawn(function() exec_block(s.body, ctx) end))
    SLEEP(s.after)
    t:cancel("tc")
    if s.wait then
      local ok, e = t:wait()
      if t.status == "cancelled" and not corral.is_cancelled(e) then problem("wait on cancelled task gave %s", tostring(e)) end
    end
  end)
end

function X.start(s, ctx)
  corral.group(function(g)
    if s.cancel_after then
      track(g:spawn(function() SLEEP(s.cancel_after); g:cancel("st") end))
    end
    local ok, v = pcall(g.start, g, function(ready)
      exec_block(s.pre, ctx)
      if not s.noready then ready(42) end
      exec_block(s.post, ctx)
    end)
    if ok and v ~= 42 then problem("start returned %s", tostring(v)) end
    if not ok then
      if type(v) == "string" and v:find("without calling ready") then
        if not s.noready then problem("start: %s but ready was to be called", v) end
        return
      end
      if type(v) == "string" and v:find("cancelled before it called ready") then return end
      error(v, 0)
    end
    g:cancel()
  end)
end

-- ---------------------------------------------------------------- extensions
-- real I/O: IoErrors that the peer's behaviour makes legitimate
local IOTOL = { ECONNRESET = true, EPIPE = true, ECLOSED = true, EOF = true, ECANCELED = true }
local function iotol(fn, ...)
  local ok, e = pcall(fn, ...)
  if ok then return true end
  if corral.is_io_error(e) and IOTOL[e.code] then
    R.ioerrs[#R.ioerrs + 1] = e.code
    return false, e
  end
  error(e, 0)
end
local function io_track(o, what) R.io[#R.io + 1] = { o, what }; return o end

local function allowed_group_err(err)
  -- a group around I/O may fail with tolerated IoErrors only
  if corral.is_error_group(err) then
    for i = 1, #err.tasks do
      local e = err.errors[i]
      if not (corral.is_io_error(e) and IOTOL[e.code]) then return false end
    end
    return true
  end
  return false
end

-- deadlocks: every way a program can block for ever; the run must report it
function X.deadlock(s, ctx)
  local id = #R.closes + 1
  R.closes[id] = 0
  local h <close> = setmetatable({}, { __close = function(_, err)
    R.closes[id] = R.closes[id] + 1
    if err ~= nil then observe(err) end
    -- cleanups that block or raise while the deadlock unwinds
    if s.close_how == "block" or s.close_how == "block_raise" then
      corral.scope(function() SLEEP(0.5) end, { shield = true })
    end
    if s.close_how == "raise" or s.close_how == "block_raise" then raise(s.ek, ctx) end
  end })
  local function block(fn)
    R.dl_blocked = R.dl_blocked + 1
    local ok, e = pcall(fn)
    if not ok then
      if corral.is_cancelled(e) and e.source == "deadlock" then R.dl_seen = true end
      error(e, 0)
    end
    problem("deadlock %s: the blocking call returned %s", s.how, tostring(e))
  end
  local function blocker()
    -- an idle listener, stream, process or signal watcher never hides a deadlock
    local idle = {}
    local _ <close> = setmetatable({}, { __close = function() for _, o in ipairs(idle) do o:close() end end })
    if s.idle == "listener" then
      idle[1] = io_track(corral.tcp.listen("127.0.0.1", 0), "idle listener")
    elseif s.idle == "stream" then
      local l = io_track(corral.tcp.listen("127.0.0.1", 0), "idle listener"); idle[1] = l
      idle[2] = io_track(corral.tcp.connect("127.0.0.1", l.port), "idle client")
      idle[3] = io_track(l:accept(), "idle accepted")
    elseif s.idle == "process" then
      idle[1] = io_track(corral.exec("/bin/cat"), "idle process")
    elseif s.idle == "pipe" then
      local p = io_track(corral.exec("/bin/sh", { "-c", "exec sleep 5" }), "idle process"); idle[1] = p
      -- a read that timed out leaves the pipe idle
      corral.move_on_after(T(0.5), p.stdout.read, p.stdout)
    elseif s.idle == "signal" then
      corral.move_on_after(T(0.5), corral.signal, "SIGUSR2")
    end
    exec_block(s.body, ctx)
    if s.how == "recv" then
      local ch = corral.channel(s.cap); block(function() return ch:recv() end)
    elseif s.how == "iter" then
      local ch = corral.channel(s.cap); block(function() for v in ch:iter() do return v end return "end" end)
    elseif s.how == "send" then
      local ch = corral.channel(0); block(function() ch:send("dl"); return "sent" end)
    elseif s.how == "event" then
      local e = corral.event(); block(function() e:wait(); return "set" end)
    elseif s.how == "sem" then
      local sm = corral.semaphore(0); R.sems[#R.sems + 1] = { sm, 0 }
      block(function() sm:acquire(); return "acquired" end)
    elseif s.how == "shielded" then
      R.abandon = true
      local e = corral.event()
      corral.scope(function() block(function() e:wait(); return "set" end) end, { shield = true })
    elseif s.how == "lock_cycle" then
      -- a holds the lock and waits for b; b waits for the lock
      local l = corral.lock()
      R.locks[#R.locks + 1] = l
      local held = corral.event()
      corral.group(function(g)
        local tb
        track(g:spawn(function()
          if s.lockclose then
            l:acquire()
            local _ <close> = l
            held:set()
            corral.checkpoint()
            block(function() return tb:wait() end)
          else
            l:with(function()
              held:set()
              corral.checkpoint()
              block(function() return tb:wait() end)
            end)
          end
        end))
        tb = track(g:spawn(function()
          held:wait()
          block(function() l:with(function() end); return "locked" end)
        end))
      end)
    elseif s.how == "wait_cycle" then
      corral.group(function(g)
        local ta, tb
        ta = track(g:spawn(function() corral.checkpoint(); block(function() return tb:wait() end) end))
        tb = track(g:spawn(function() corral.checkpoint(); block(function() return ta:wait() end) end))
      end)
    elseif s.how == "wait_parent" then
      corral.group(function(g)
        local me = corral.current_task()
        local t = track(g:spawn(function() block(function() return me:wait() end) end))
        block(function() return t:wait() end)
      end)
    end
  end
  if s.pre_raise then
    -- an error raised before the deadlock, held by a group that defers it
    corral.group(function(g)
      track(g:spawn(function() SLEEP(0.5); raise(s.pre_raise, ctx) end))
      track(g:spawn(blocker))
    end, { defer_errors = true })
  elseif s.in_child then
    corral.group(function(g)
      track(g:spawn(blocker))
      SLEEP(0.5)
    end)
  else
    blocker()
  end
end

function X.tcp(s, ctx)
  local l <close> = io_track(corral.tcp.listen("127.0.0.1", 0), "listener")
  local ok, err = pcall(corral.group, function(g)
    local server = track(g:spawn(function()
      iotol(function()
        local c <close> = io_track(l:accept(), "accepted")
        if s.server == "echo" then
          for line in c:lines(1 << 20) do c:write(line .. "\n") end
        elseif s.server == "close_early" then
          c:read_line(1 << 20); c:close()
        elseif s.server == "silent" then
          while c:read() do end
        elseif s.server == "write_close" then
          c:write("hello\n"); c:shutdown()
          while c:read() do end
        end
      end)
    end))
    if s.cancel_after then
      track(g:spawn(function() SLEEP(s.cancel_after); g:cancel("tcp") end))
    end
    local function client()
      local c <close> = io_track(corral.tcp.connect("127.0.0.1", l.port), "client")
      for i = 1, s.n do
        local line = ("L%d-"):format(i) .. string.rep("x", s.size)
        c:write(line .. "\n")
        if s.server == "echo" then
          local got = c:read_line(1 << 20)
          if got == nil then problem("tcp: echo server ended early") break end
          if got ~= line then problem("tcp: echo gave %q for %q", got:sub(1, 40), line:sub(1, 40)) end
        end
        if i == 1 then exec_block(s.body, ctx) end
      end
      if s.server == "write_close" then
        local got = c:read_line()
        if got ~= nil and got ~= "hello" then problem("tcp: got %q, not hello", got) end
      end
      if s.end_how == "shutdown" then
        c:shutdown()
        while c:read() do end
      elseif s.end_how == "close" then
        c:close()
      end
    end
    if s.timeout then corral.move_on_after(T(s.timeout), iotol, client) else iotol(client) end
    corral.move_on_after(T(1), server.wait, server)
    g:cancel()
  end)
  if not ok and not allowed_group_err(err) then error(err, 0) end
end

local PID
do
  local f = io.open("/proc/self/stat"); PID = f:read("*l"):match("^(%d+)"); f:close()
end
M.PID = PID
local SIGNUM = { SIGTERM = 15, SIGKILL = 9, SIGINT = 2 }

function X.proc(s, ctx)
  local ok, err = pcall(corral.group, function(g)
    if s.cancel_after then
      track(g:spawn(function() SLEEP(s.cancel_after); g:cancel("proc") end))
    end
    if s.mode == "cat" then
      local p <close> = io_track(corral.exec("/bin/cat"), "process")
      local lines = {}
      for i = 1, s.n do lines[i] = ("line %d"):format(i) end
      track(g:spawn(function()
        iotol(function()
          for i = 1, s.n do p.stdin:write(lines[i] .. "\n"); if i == 1 then exec_block(s.body, ctx) end end
          p.stdin:shutdown()
        end)
      end))
      local got = {}
      iotol(function() for line in p.stdout:lines() do got[#got + 1] = line end end)
      for i, v in ipairs(got) do
        if v ~= lines[i] then problem("cat: line %d is %q", i, v) end
      end
      local code, sig = p:wait()
      if #got == s.n and code ~= 0 then problem("cat: exit %s %s", tostring(code), tostring(sig)) end
      if s.explicit_close then p:close() end
    elseif s.mode == "exit3" then
      local p <close> = io_track(corral.exec("/bin/sh", { "-c", "exit 3" }), "process")
      exec_block(s.body, ctx)
      local code, sig = p:wait()
      if code ~= 3 or sig ~= nil then problem("exit3: wait gave %s %s", tostring(code), tostring(sig)) end
    elseif s.mode == "sleep_deadline" or s.mode == "kill" then
      local p <close> = io_track(corral.exec("/bin/sleep", { "5" }), "process")
      local t0 = os.time()
      if s.mode == "sleep_deadline" then
        local done = corral.move_on_after(T(s.t), function() exec_block(s.body, ctx); p:wait() end)
        if done and os.time() - t0 < 4 then problem("sleep 5: wait returned after %ds", os.time() - t0) end
      else
        exec_block(s.body, ctx)
      end
      if s.kill then
        p:kill(s.kill)
        local code, sig = p:wait()
        if code ~= 128 + SIGNUM[s.kill] or sig ~= s.kill then
          problem("kill %s: wait gave %s %s", s.kill, tostring(code), tostring(sig))
        end
      end
      if s.explicit_close then p:close() end
    elseif s.mode == "lines_deadline" then
      local p <close> = io_track(corral.exec("/bin/sh", { "-c", "echo a; echo b; exec sleep 5" }), "process")
      local got = {}
      corral.move_on_after(T(s.t), function()
        iotol(function() for line in p.stdout:lines() do got[#got + 1] = line; exec_block(s.body, ctx) end end)
      end)
      if got[1] and got[1] ~= "a" or got[2] and got[2] ~= "b" or got[3] then problem("lines: got %s", table.concat(got, ",")) end
    elseif s.mode == "close_wait" then
      local p <close> = io_track(corral.exec("/bin/sleep", { "5" }), "process")
      local w = track(g:spawn(function()
        local wok, e = pcall(p.wait, p)
        if wok then problem("close_wait: wait returned %s", tostring(e))
        elseif not (corral.is_io_error(e) and e.code == "ECLOSED") and not corral.is_cancelled(e) then
          error(e, 0)
        end
      end))
      exec_block(s.body, ctx)
      corral.checkpoint()
      p:close()
      w:wait()
    end
    g:cancel()
  end)
  if not ok and not allowed_group_err(err) then error(err, 0) end
end

function X.sig(s, ctx)
  local ok, err = pcall(corral.group, function(g)
    local waiters = {}
    for i = 1, s.waiters do
      waiters[i] = track(g:spawn(function()
        local name = corral.signal("SIGUSR1")
        if name ~= "SIGUSR1" then problem("signal returned %s", tostring(name)) end
        R.sig_got = (R.sig_got or 0) + 1
      end))
    end
    if s.cancel_after then
      track(g:spawn(function() SLEEP(s.cancel_after); g:cancel("sig") end))
    end
    exec_block(s.body, ctx)
    -- send only while a waiter is in corral.signal: before the first wait of
    -- the run SIGUSR1 still has its default action (it would kill us)
    for _ = 1, 50 do
      local waiting = false
      for _, w in ipairs(waiters) do if w.status == "waiting" then waiting = true end end
      if waiting then
        R.sig_sent = (R.sig_sent or 0) + 1
        if s.via == "os" then
          os.execute("kill -USR1 " .. PID)
        else
          local p <close> = io_track(corral.exec("/bin/kill", { "-USR1", PID }), "process")
          local code = p:wait()
          if code ~= 0 then problem("kill child exit %s", tostring(code)) end
        end
        break
      end
      local all_done = true
      for _, w in ipairs(waiters) do if w.status == "scheduled" or w.status == "running" or w.status == "waiting" then all_done = false end end
      if all_done then break end
      corral.checkpoint()
    end
    for _, w in ipairs(waiters) do
      corral.move_on_after(T(1), w.wait, w)
    end
    g:cancel()
  end)
  if not ok then error(err, 0) end
end

function exec_block(b, ctx)
  for _, s in ipairs(b) do X[s.k](s, ctx) end
end

-- ---------------------------------------------------------------- checks
-- fds and children of this process, seen from outside (a shell)
local function os_state()
  local f = io.popen("echo $$; readlink /proc/$$/fd/1; ls -l /proc/" .. M.PID .. "/fd | awk 'NR>1{print $9,$11}'; echo ==; ps --ppid " .. M.PID .. " -o pid=,stat=,comm=")
  local out = f:read("a"); f:close()
  local sh, me, fds, rest = out:match("^(%d+)\n([^\n]*)\n(.-)==\n(.*)$")
  local set, n = {}, 0
  for line in fds:gmatch("[^\n]+") do
    local fd, target = line:match("^(%d+) (.*)$")
    if fd and target ~= me then set[fd] = target; n = n + 1 end
  end
  local kids = {}
  for line in rest:gmatch("[^\n]+") do
    local pid, st, comm = line:match("^%s*(%d+)%s+(%S+)%s+(.*)$")
    if pid and pid ~= sh then kids[#kids + 1] = pid .. " " .. st .. " " .. comm end
  end
  return set, kids, n
end
M.os_state = os_state
local base_fd
local io_seen = 0
local function fds_same(fds)
  for fd, t in pairs(fds) do if base_fd[fd] ~= t then return false end end
  for fd, t in pairs(base_fd) do if fds[fd] ~= t then return false end end
  return true
end
local OSCHECK = tonumber(os.getenv("FUZZ_OSCHECK") or 1)
-- libuv creates its process-wide signal lock pipe at the first signal watch,
-- and a loop's reserve descriptor (/dev/null, for EMFILE) at its first
-- listen: do both before the first baseline
local function prime()
  local function watch()
    corral.move_on_after(0.001, corral.signal, "SIGUSR2")
    corral.tcp.listen("127.0.0.1", 0):close()
  end
  if CLI then watch() else corral.run(watch) end   -- (the command's script is a task)
end

local function check(seed, prog, meta)
  reset()
  chan_id = 0
  meta = meta or {}
  if meta.io and not base_fd then prime(); base_fd = os_state() end
  local ok, err
  if CLI then
    ok, err = pcall(corral.group, function() exec_block(prog, { g = nil, lossy = false }) end)
    -- the extra group wraps the root's own error in an ErrorGroup
  else
    ok, err = pcall(testing.run, function()
      exec_block(prog, { g = nil, lossy = false })
    end, { seed = seed, autojump_threshold = meta.thr })
  end
  local deadlock = not ok and type(err) == "string" and err:find("deadlock")
  local abandoned = deadlock and err:find("even after cancelling")
  if abandoned and not R.abandon then problem("tasks abandoned (still blocked after the deadlock cancel) without a shielded wait") end
  if R.dl_seen and ok then problem("a task saw the deadlock's Cancelled but the run returned normally") end
  if deadlock and R.dl_blocked == 0 then problem("deadlock reported but no deadlock node blocked") end
  -- after the run (also a failed one) nothing of the engine may stay alive
  local st = CLI and {} or corral.debug_stats()   -- (the command's run goes on)
  for _, k in ipairs({ "tasks", "timers", "handles", "processes", "streams", "listeners", "scopes", "refs" }) do
    if (st[k] or 0) ~= 0 and not abandoned then problem("after the run: debug_stats().%s = %d", k, st[k]) end
  end
  for _, o in ipairs(R.io) do
    if not o[1].closed then problem("%s left open after the run", o[2]) end
  end
  io_seen = io_seen + (meta.io and 1 or 0)
  if meta.io and io_seen % OSCHECK == 0 then
    -- every OSCHECK seeds with I/O (a leak accumulates, so it is seen late but seen)
    local fds, kids = os_state()
    -- the command's run goes on: handles closed and children killed at the
    -- end of the program finish closing and are reaped on later turns
    for _ = 1, CLI and 40 or 0 do
      if #kids == 0 and fds_same(fds) then break end
      corral.sleep(0.025)
      fds, kids = os_state()
    end
    local diff = {}
    for fd, t in pairs(fds) do if base_fd[fd] ~= t then diff[#diff + 1] = "+" .. fd .. "=" .. t end end
    for fd, t in pairs(base_fd) do if fds[fd] ~= t then diff[#diff + 1] = "-" .. fd .. "=" .. t end end
    if #diff > 0 then problem("fds changed: %s", table.concat(diff, " ")); base_fd = fds end
    if #kids > 0 then problem("children left: %s", table.concat(kids, "; ")) end
  end
  local leak = not ok and type(err) == "string" and err:find("leaked")
  if leak then problem("leak: %s", err) end
  if not ok then observe(err) end
  if not ok and corral.is_cancelled(err) then problem("run raised a Cancelled: %s", tostring(err)) end
  if not ok and not deadlock and not leak then
    if type(err) == "string" and not err:find("E#%d+") then
      problem("run raised an untracked string: %s", err)
    end
  end
  -- errors not lost
  for id, ek in pairs(R.raised) do
    if not R.observed[id] and not R.lossy[id] and not abandoned then
      problem("error E#%d (%s) lost", id, ek)
    end
  end
  -- string errors keep the user's position
  local function scan(v, seen)
    seen = seen or {}
    if type(v) == "string" then
      for pre, id in v:gmatch("([^\n]-)E#(%d+)") do
        if R.raised[tonumber(id)] == "str" and not pre:find("fuzz%.lua:%d+: $") then
          problem("E#%s has position %q", id, pre)
        end
      end
    elseif type(v) == "table" and not seen[v] and corral.is_error_group(v) then
      seen[v] = true
      for i = 1, #v.tasks do scan(v.errors[i], seen) end
    end
  end
  if not ok then scan(err) end
  for id, n in ipairs(R.closes) do
    if n ~= 1 and not abandoned then problem("close handler %d ran %d times%s", id, n, deadlock and " (deadlock)" or "") end
  end
  for _, t in ipairs(R.tasks) do
    local st = t.status
    if st ~= "done" and st ~= "failed" and st ~= "cancelled" then problem("task %s left %s", tostring(t), st) end
  end
  if not abandoned then
    for v, n in pairs(R.sends) do
      local got = (R.recvs[v] or 0) + (R.buffered[v] or 0)
      if got ~= n then problem("chan value %s sent %d, received %d (+buffered %d)", v, n, R.recvs[v] or 0, R.buffered[v] or 0) end
    end
    for v, n in pairs(R.recvs) do
      if not R.sends[v] then problem("chan value %s received but its send did not return", v) end
    end
    for _, l in ipairs(R.locks) do if l.locked then problem("lock left locked") end end
    for _, p in ipairs(R.sems) do if p[1].value ~= p[2] then problem("semaphore value %d, started %d", p[1].value, p[2]) end end
  end
  return ok, err, deadlock
end

-- ---------------------------------------------------------------- printer
local function show(b, ind, out)
  ind = ind or ""
  out = out or {}
  for _, s in ipairs(b) do
    local parts = {}
    for k, v in pairs(s) do
      if type(v) ~= "table" then parts[#parts + 1] = k .. "=" .. tostring(v) end
    end
    table.sort(parts)
    if s.opts then for k, v in pairs(s.opts) do parts[#parts + 1] = k .. "=" .. tostring(v) end end
    out[#out + 1] = ind .. table.concat(parts, " ")
    for _, key in ipairs({ "pre", "body", "post" }) do
      if s[key] then out[#out + 1] = ind .. "  " .. key .. ":"; show(s[key], ind .. "    ", out) end
    end
    for _, key in ipairs({ "children", "branches" }) do
      if s[key] then
        for i, c in ipairs(s[key]) do
          out[#out + 1] = ind .. "  " .. key .. "[" .. i .. "]" .. (c.restart and (" " .. c.restart .. " shutdown=" .. c.shutdown) or "") .. ":"
          show(c.body or c, ind .. "    ", out)
        end
      end
    end
  end
  return out
end

-- ---------------------------------------------------------------- main
function M.run(first, last, verbose)
  local bad, stats, lines = 0, { ok = 0, err = 0, deadlock = 0 }, {}
  local function say(s) lines[#lines + 1] = s end
  for seed = first, last do
    local prog, meta = gen_program(seed)
    if PROGRESS then PROGRESS:seek("set"); PROGRESS:write(("%d      \n"):format(seed)); PROGRESS:flush() end
    if os.getenv("FUZZ_SHOW") then print(table.concat(show(prog, "    "), "\n")); io.stdout:flush() end
    local ok, err, dl = check(seed, prog, meta)
    stats.io = (stats.io or 0) + (meta.io and 1 or 0)
    for k in pairs(meta.has) do stats["has_" .. k] = (stats["has_" .. k] or 0) + 1 end
    if ok then stats.ok = stats.ok + 1 elseif dl then stats.deadlock = stats.deadlock + 1 else stats.err = stats.err + 1 end
    if #R.problems > 0 or verbose then
      if #R.problems > 0 then bad = bad + 1 end
      say(("=== seed %d: %s"):format(seed, #R.problems > 0 and "PROBLEMS" or "ok"))
      for _, p in ipairs(R.problems) do say("  ! " .. p) end
      say("  result: " .. tostring(ok) .. " " .. (ok and "" or (pcall(tostring, err) and tostring(err):sub(1, 600) or "?")))
      if verbose == "v" or #R.problems > 0 then say(table.concat(show(prog, "    "), "\n")) end
    end
  end
  say(("seeds %d..%d: %d with problems; returned %d, raised %d, deadlock %d"):format(first, last, bad,
    stats.ok, stats.err, stats.deadlock))
  say(("  with io %d; deadlock nodes %d, tcp %d, proc %d, sig %d"):format(stats.io or 0, stats.has_deadlock or 0,
    stats.has_tcp or 0, stats.has_proc or 0, stats.has_sig or 0))
  return bad, stats, lines
end

return M
