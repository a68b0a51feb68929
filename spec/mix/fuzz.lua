-- spec/mix/fuzz.lua: random programs that mix corral's features, and the
-- invariants every one of them must keep (require "mix.fuzz").
--
-- Each seed generates a program tree 1-4 deep (groups with defer_errors,
-- limit, max_errors, on_error, stop; scopes with deadlines moved, shields and
-- cancels from other tasks; g:start, t:cancel, t:wait; channels of every
-- capacity; locks, semaphores, events; testing.stream_pair; race, gather,
-- map, retry and supervisor; errors of every kind, pcall-swallowed cancels,
-- <close> handlers that block or raise) and runs it under testing.run with
-- that seed (virtual clock, seeded schedule, leak check). Then: no Cancelled
-- escapes the run, no error is lost (caught, in the final ErrorGroup tree,
-- or seen by a hook; only the documented drops are exempt), string errors
-- keep the user's position, every <close> handler ran once, every task
-- ended, channels conserve their values, locks and semaphores are back.
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
}
local allowed
if ONLY then
  allowed = {}
  for k in ONLY:gmatch("[^,]+") do allowed[k] = true end
end

local gen_block
local function weighted(r, depth)
  local total, list = 0, {}
  for _, k in ipairs(KINDS) do
    local w = k[2]
    local compound = not (k[1] == "sleep" or k[1] == "checkpoint" or k[1] == "raise")
    if depth >= 4 and compound then w = 0 end
    if allowed and compound and not allowed[k[1]] then w = 0 end
    if w > 0 then total = total + w; list[#list + 1] = { k[1], w } end
  end
  local x = r:next() % total
  for _, c in ipairs(list) do
    if x < c[2] then return c[1] end
    x = x - c[2]
  end
end

local budget
local function gen_stmt(r, depth)
  budget = budget - 1
  local k = budget > 0 and weighted(r, depth) or r:pick({ "sleep", "checkpoint", "raise" })
  local s = { k = k }
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
  return gen_block(r, 1, 4)
end

-- ---------------------------------------------------------------- state
local R -- per-program record
local function reset()
  R = {
    raised = {}, observed = {}, lossy = {}, nextid = 0,
    closes = {}, tasks = {}, sends = {}, recvs = {}, buffered = {}, sendfail = {},
    problems = {}, locks = {}, sems = {}, streams = {},
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

function exec_block(b, ctx)
  for _, s in ipairs(b) do X[s.k](s, ctx) end
end

-- ---------------------------------------------------------------- checks
local function check(seed, prog)
  reset()
  chan_id = 0
  local ok, err
  if CLI then
    ok, err = pcall(corral.group, function() exec_block(prog, { g = nil, lossy = false }) end)
    -- the extra group wraps the root's own error in an ErrorGroup
  else
    ok, err = pcall(testing.run, function()
      exec_block(prog, { g = nil, lossy = false })
    end, { seed = seed })
  end
  local deadlock = not ok and type(err) == "string" and err:find("deadlock")
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
    if not R.observed[id] and not R.lossy[id] and not deadlock then
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
    if n ~= 1 and not deadlock then problem("close handler %d ran %d times", id, n) end
  end
  for _, t in ipairs(R.tasks) do
    local st = t.status
    if st ~= "done" and st ~= "failed" and st ~= "cancelled" then problem("task %s left %s", tostring(t), st) end
  end
  if not deadlock then
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
    local prog = gen_program(seed)
    if os.getenv("FUZZ_SHOW") then print(table.concat(show(prog, "    "), "\n")); io.stdout:flush() end
    local ok, err, dl = check(seed, prog)
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
  return bad, stats, lines
end

return M
