-- tools/fuzz-args.lua: a hostile user calls every public entry point of corral's
-- Lua API with hostile arguments, in several contexts. Run by hand (not in ctest):
--
--   lua5.4 tools/fuzz-args.lua [FILTER]        (from the source tree, after `make`)
--   lua5.4 tools/fuzz-args.lua --case ID [FILTER]   replays case ID, in-process
--
-- FILTER (a Lua pattern) keeps the targets whose name matches ("group:spawn",
-- "corral.sleep", "stream:read", ...). The driver runs the cases in child
-- processes (`lua5.4 tools/fuzz-args.lua --child FIRST LAST [FILTER]`), each
-- under a real-time bound (`timeout`); a child that crashes, aborts or hangs
-- names the case it was in, which is then reported and skipped. Inside a child
-- every case runs in-process. Environment:
--   CORRAL_BUILD=dir   load corral.so from dir (for an ASan build, also
--                      LD_PRELOAD the ASan runtime and set
--                      ASAN_OPTIONS=detect_leaks=0)
--   FUZZ_CHUNK=n       cases per child (default 3000)
--   FUZZ_SHOW=n        print at most n distinct findings per target (default 3)
-- Exit status 1 when anything was found.
--
-- The oracle, per case: the process neither crashes nor hangs; testing.run's
-- leak check passes; a raised error is a string that names the function (its
-- short name, "sleep", "spawn"), the error the hostile value itself raised
-- (the text "HOSTILE"), a Cancelled where the context is cancelled, a Timeout
-- from fail_after/fail_at, or an ErrorGroup of such leaves; and no error names
-- a position inside corral's own files (an error blamed on the library).
local here = (arg and arg[0] or ""):match("^(.*)[/\\][^/\\]*$") or "."
local root = os.getenv("FUZZ_ARGS_ROOT") or (here .. "/..")
package.path = root .. "/scripts/?.lua;" .. package.path
package.cpath = (os.getenv("CORRAL_BUILD") or (root .. "/build")) .. "/?.so;" .. package.cpath

local corral = require "corral"
local testing = require "corral.testing"
local race = require "corral.race"
local gather = require "corral.gather"
local map = require "corral.map"
local retry = require "corral.retry"
local he = require "corral.happy_eyeballs"
local supervisor = require "corral.supervisor"

---------------------------------------------------------------------------
-- Hostile values
local function raiser(name) return function() error("HOSTILE-" .. name, 0) end end
local mm_names = { "__index", "__newindex", "__pairs", "__len", "__tostring", "__eq",
  "__lt", "__le", "__call", "__close", "__gc", "__concat", "__name" }
local function hostile_mt_table()
  local mt = {}
  for _, k in ipairs(mm_names) do
    if k == "__name" then mt[k] = "HostileType" else mt[k] = raiser("mm" .. k) end
  end
  return setmetatable({}, mt)
end
local big = string.rep("x", 1 << 20)
local OLD = {}   -- objects of a run that has ended (made below)
local SENTINEL = setmetatable({}, { __tostring = function() return "HOSTILE-sentinel" end })
local hostile = {
  { "nil", function() return nil end },
  { "false", function() return false end },
  { "true", function() return true end },
  { "0", function() return 0 end },
  { "-1", function() return -1 end },
  { "-0.0", function() return -0.0 end },
  { "nan", function() return 0 / 0 end },
  { "huge", function() return math.huge end },
  { "-huge", function() return -math.huge end },
  { "maxint", function() return math.maxinteger end },
  { "minint", function() return math.mininteger end },
  { "2^53", function() return 2 ^ 53 end },
  { "1.5", function() return 1.5 end },
  { "''", function() return "" end },
  { "'1'", function() return "1" end },
  { "'x\\0y'", function() return "x\0y" end },
  { "1MB", function() return big end },
  { "{}", function() return {} end },
  { "mm-raising", hostile_mt_table },
  { "__name", function() return setmetatable({}, { __name = "corral.Group" }) end },
  { "io.stdout", function() return io.stdout end },
  { "coroutine", function() return coroutine.create(function() end) end },
  { "fn-raise", function() return raiser("raise") end },
  { "fn-raise-table", function() return function() error(SENTINEL) end end },
  { "fn-yield", function() return function() coroutine.yield() end end },
  { "fn-block", function() return function() corral.sleep(math.huge) end end },
  { "fn-nothing", function() return function() end end },
  { "callable", function() return setmetatable({}, { __call = function() end }) end },
  { "unknown-opt", function() return { bogus_key = 1 } end },
  -- corral objects of another type, live and from a run that has ended
  { "an-event", function() local ok, e = pcall(corral.event); return ok and e or nil end },
  { "old-group", function() return OLD.group end },
  { "old-task", function() return OLD.task end },
  { "old-stream", function() return OLD.stream end },
  { "old-channel", function() return OLD.channel end },
}

---------------------------------------------------------------------------
-- Targets: module functions (base arguments that are valid) and methods.
local function ok_fn() return 1 end
local targets = {}
local function fn(name, f, base, optpos, optkeys)
  targets[#targets + 1] = { name = name, short = name:match("[%.:]([%w_]+)$") or name,
    f = f, base = base, optpos = optpos, optkeys = optkeys }
end
local V = function() return { clock = "virtual" } end
fn("corral.run", corral.run, function() return { ok_fn, V() } end, 2,
  { "clock", "signals", "trace", "trace_limit", "seed", "autojump_threshold" })
fn("corral.sleep", corral.sleep, function() return { 0 } end)
fn("corral.sleep_until", corral.sleep_until, function() return { 0 } end)
fn("corral.now", corral.now, function() return {} end)
fn("corral.checkpoint", corral.checkpoint, function() return {} end)
fn("corral.current_task", corral.current_task, function() return {} end)
fn("corral.group", corral.group, function() return { ok_fn, {} } end, 2,
  { "name", "defer_errors", "on_error", "limit", "max_errors", "timeout", "deadline", "shield" })
fn("corral.scope", corral.scope, function() return { ok_fn, {} } end, 2,
  { "name", "timeout", "deadline", "shield" })
fn("corral.move_on_after", corral.move_on_after, function() return { 1, ok_fn } end)
fn("corral.fail_after", corral.fail_after, function() return { 1, ok_fn } end)
fn("corral.move_on_at", corral.move_on_at, function() return { 1, ok_fn } end)
fn("corral.fail_at", corral.fail_at, function() return { 1, ok_fn } end)
fn("corral.is_cancelled", corral.is_cancelled, function() return { 1 } end)
fn("corral.is_timeout", corral.is_timeout, function() return { 1 } end)
fn("corral.is_error_group", corral.is_error_group, function() return { 1 } end)
fn("corral.is_io_error", corral.is_io_error, function() return { 1 } end)
fn("corral.error_group", corral.error_group,
  function() return { { "a" }, { "t" }, { "tb" }, "msg" } end)
fn("corral.check_options", corral.check_options,
  function() return { { a = 1 }, { a = true }, "p" } end)
fn("corral.arg_error", corral.arg_error, function() return { 1, "f", "m", 1 } end)
fn("corral.event", corral.event, function() return {} end)
fn("corral.lock", corral.lock, function() return {} end)
fn("corral.semaphore", corral.semaphore, function() return { 1 } end)
fn("corral.channel", corral.channel, function() return { 1 } end)
fn("corral.tree", corral.tree, function() return { { format = "table" } } end)
fn("corral.debug_stats", corral.debug_stats, function() return {} end)
fn("corral.resolve", corral.resolve, function() return { "127.0.0.1" } end)
fn("corral.signal", corral.signal, function() return { "SIGUSR2" } end)
fn("corral.exec", corral.exec, function() return { "/bin/true", {}, {} } end, 3,
  { "env", "cwd", "stdin", "stdout", "stderr" })
fn("tcp.connect", corral.tcp.connect, function() return { "127.0.0.1", 1, {} } end, 3,
  { "timeout" })
fn("tcp.listen", corral.tcp.listen, function() return { "127.0.0.1", 0, {} } end, 3,
  { "backlog" })
fn("tcp.serve", corral.tcp.serve,
  function() return { "127.0.0.1", 0, ok_fn, { ready = function() end } } end, 4,
  { "ready", "on_error", "backlog", "limit" })
fn("testing.run", testing.run, function() return { ok_fn, {} } end, 2, { "seed", "clock" })
fn("testing.async", testing.async, function() return { ok_fn } end)
fn("testing.each_seed", testing.each_seed, function() return { 1, ok_fn } end)
fn("testing.stream_pair", testing.stream_pair, function() return { {} } end, 1, { "max_chunk" })
fn("testing.wait_all_tasks_blocked", testing.wait_all_tasks_blocked, function() return {} end)
fn("race", race, function() return { { ok_fn }, {} } end, 2, { "name" })
fn("gather", gather, function() return { { ok_fn }, {} } end, 2, { "limit", "defer_errors", "settle" })
fn("map", map, function() return { ok_fn, { 1 }, {} } end, 3, { "limit", "defer_errors" })
fn("retry", retry, function() return { ok_fn, {} } end, 2,
  { "attempts", "delay", "factor", "max_delay", "jitter", "timeout", "retry_if", "on_retry", "random" })
fn("happy_eyeballs.connect", he.connect, function() return { "127.0.0.1", 1, {} } end, 3,
  { "delay", "resolve", "connect" })
fn("happy_eyeballs.interleave", he.interleave,
  function() return { { { address = "127.0.0.1", family = "inet" } } } end)
fn("supervisor.run", supervisor.run,
  function() return { { children = {} }, function(s) s:stop(0) end } end, 1,
  { "strategy", "intensity", "period", "backoff", "on_restart", "on_failure", "children" })

-- Objects: make(inner) calls inner(obj) while the object is alive, and
-- cleans up after.
local function shielded(f) corral.scope(function() pcall(f) end, { shield = true }) end
local makers = {}
makers.group = function(inner)
  corral.group(function(g) inner(g); g:cancel() end)
end
makers.task = function(inner)
  corral.group(function(g)
    local t = g:spawn(function() corral.sleep(math.huge) end)
    inner(t); g:cancel()
  end)
end
makers.scope = function(inner) corral.scope(function(s) inner(s) end) end
makers.event = function(inner) inner(corral.event()) end
makers.lock = function(inner) inner(corral.lock()) end
makers.semaphore = function(inner) inner(corral.semaphore(1)) end
makers.channel = function(inner) inner(corral.channel(1)) end
makers.pair = function(inner)
  local a, b = testing.stream_pair()
  local ok, e = pcall(inner, a)
  a:close(); b:close()
  if not ok then error(e, 0) end
end
makers.stream = function(inner)
  local l = corral.tcp.listen("127.0.0.1", 0)
  local c = corral.tcp.connect("127.0.0.1", l.port)
  local s = l:accept()
  local ok, e = pcall(inner, c)
  c:close(); s:close(); l:close()
  if not ok then error(e, 0) end
end
makers.listener = function(inner)
  local l = corral.tcp.listen("127.0.0.1", 0)
  local ok, e = pcall(inner, l)
  l:close()
  if not ok then error(e, 0) end
end
makers.process = function(inner)
  local p = corral.exec("/bin/true", {})
  local ok, e = pcall(inner, p)
  shielded(function() p:kill("SIGKILL") end)
  shielded(function() p:wait() end)
  p:close()
  if not ok then error(e, 0) end
end
makers.error_group = function(inner) inner(corral.error_group({ "a", SENTINEL }, { "t1", "t2" })) end
makers.supervisor = function(inner)
  supervisor.run({ children = { { name = "c", fn = function(c) c:wait_stopping() end } } },
    function(sup) inner(sup); sup:stop(0) end)
end
makers.cancelled = function(inner)
  local e
  corral.scope(function(s) s:cancel("r"); e = select(2, pcall(corral.checkpoint)) end)
  inner(e)
end
makers.timeout = function(inner)
  inner(select(2, pcall(corral.fail_after, 0, corral.sleep, 1)))
end

local methods = {
  group = { cancel = { "r" }, spawn = { ok_fn }, start = { function(r) r(1) end }, stop = { 1 },
    tasks = {}, wait_stopping = {} },
  task = { cancel = { "r" }, traceback = {}, wait = {} },
  scope = { cancel = { "r" } },
  event = { is_set = {}, set = {}, wait = {} },
  lock = { acquire = {}, release = {}, try_acquire = {}, with = { ok_fn } },
  semaphore = { acquire = {}, release = {}, try_acquire = {}, with = { ok_fn } },
  channel = { close = {}, iter = {}, recv = {}, send = { 1 }, try_recv = {}, try_send = { 1 } },
  pair = { close = {}, lines = {}, read = { 10 }, read_exactly = { 1 }, read_line = {},
    shutdown = {}, write = { "x" } },
  stream = { close = {}, lines = {}, read = { 10 }, read_exactly = { 1 }, read_line = {},
    shutdown = {}, write = { "x" } },
  listener = { accept = {}, close = {} },
  process = { close = {}, kill = { "SIGTERM" }, wait = {} },
  error_group = { flatten = {}, render = {}, split = { function() return true end } },
  supervisor = { add = { { name = "d", fn = ok_fn } }, children = {}, remove = { "c" },
    restart = { "c" }, stop = { 0 } },
}
-- Fields as well as methods (reads with hostile keys go through __index).
local kinds = {}
for k in pairs(methods) do kinds[#kinds + 1] = k end
table.sort(kinds)
for _, kind in ipairs(kinds) do
  local names = {}
  for m in pairs(methods[kind]) do names[#names + 1] = m end
  table.sort(names)
  for _, m in ipairs(names) do
    local b = methods[kind][m]
    targets[#targets + 1] = { name = kind .. ":" .. m, short = m, kind = kind, method = m,
      base = function() return { table.unpack(b) } end }
  end
end
-- Index and newindex with hostile keys, on every kind (plus Cancelled/Timeout).
for _, kind in ipairs({ "group", "task", "scope", "event", "lock", "semaphore", "channel",
  "pair", "stream", "listener", "process", "error_group", "supervisor", "cancelled", "timeout" }) do
  local short = kind == "pair" and "stream" or kind
  targets[#targets + 1] = { name = kind .. "[]", short = short, kind = kind, index = true,
    base = function() return { "name" } end }
  targets[#targets + 1] = { name = kind .. "[]=", short = short, kind = kind, newindex = true,
    base = function() return { "name", "v" } end }
  targets[#targets + 1] = { name = kind .. ":tostring", short = short, kind = kind, tostr = true,
    base = function() return {} end }
end

testing.run(function()
  corral.group(function(g)
    OLD.group = g
    OLD.task = g:spawn(function() end)
  end)
  local a, b = testing.stream_pair()
  a:close(); b:close()
  OLD.stream = a
  OLD.channel = corral.channel(1)
end)

---------------------------------------------------------------------------
-- Contexts
local contexts = { "outside", "task", "cancelled", "shielded", "close", "caught", "msgh", "stale" }

local function bounded(f, ...)
  -- Virtual time: a call that blocks for ever is cancelled after 1000 s.
  local args = table.pack(...)
  local res
  corral.move_on_after(1000, function() res = table.pack(f(table.unpack(args, 1, args.n))) end)
  return res
end

local wrap = {}
wrap.task = function(call) call() end
wrap.cancelled = function(call) corral.scope(function(s) s:cancel("ctx"); call() end) end
wrap.shielded = function(call)
  corral.scope(function(s)
    s:cancel("ctx")
    corral.scope(function() call() end, { shield = true })
  end)
end
wrap.close = function(call)
  do local _ <close> = setmetatable({}, { __close = function() call() end }) end
end
wrap.caught = function(call)
  corral.scope(function(s)
    s:cancel("ctx")
    local ok, e = pcall(corral.checkpoint)
    assert(not ok and corral.is_cancelled(e))
    call()
  end)
end
wrap.msgh = function(call)
  corral.scope(function(s)
    s:cancel("ctx")
    xpcall(corral.checkpoint, function(e) call(); return e end)
  end)
end

---------------------------------------------------------------------------
-- Cases
local function positions(t)
  local n = #t.base()
  local ps = {}
  if t.kind and not t.index and not t.newindex and not t.tostr then ps[#ps + 1] = 0 end
  for i = 1, n + 1 do ps[#ps + 1] = i end
  if t.optpos then
    for _, k in ipairs(t.optkeys) do ps[#ps + 1] = "opt:" .. k end
  end
  return ps
end

local cases = {}
local filter
local function enumerate()
  for _, t in ipairs(targets) do
    if not filter or t.name:match(filter) then
      for _, p in ipairs(positions(t)) do
        for hi = 1, #hostile do
          for _, c in ipairs(contexts) do
            -- each_seed(n) runs n seeds, as asked: a huge count is not a hang
            local long = t.name == "testing.each_seed" and p == 1
              and (hostile[hi][1] == "maxint" or hostile[hi][1] == "2^53" or hostile[hi][1] == "huge")
            if not long and not (c == "stale" and not t.kind)
              and not (c == "outside" and t.kind and false) then
              cases[#cases + 1] = { t = t, pos = p, h = hi, ctx = c }
            end
          end
        end
      end
    end
  end
end

local function describe(c)
  return ("%s pos=%s val=%s ctx=%s"):format(c.t.name, tostring(c.pos), hostile[c.h][1], c.ctx)
end

---------------------------------------------------------------------------
-- The oracle
local function inside_lib(s)
  return s:match("scripts/corral/[%w_]+%.lua:%d+:") or s:match("bindings/[%w_]+%.lua:%d+:")
end
local cancelled_ctx = { cancelled = true, caught = true, msgh = true }
-- Documented numeric domains: a call that returns with a value outside them
-- took a bad argument silently. "s": seconds >= 0 (NaN and negatives raise);
-- "n": a count, an integer (1.5, NaN and negatives raise).
local domains = {
  ["corral.sleep"] = { "s" }, ["corral.move_on_after"] = { "s" }, ["corral.fail_after"] = { "s" },
  ["corral.semaphore"] = { "n" }, ["corral.channel"] = { "n" },
  ["group:stop"] = { "s" }, ["supervisor:stop"] = { "s" },
  ["pair:read"] = { "n" }, ["stream:read"] = { "n" },
  ["pair:read_exactly"] = { "n" }, ["stream:read_exactly"] = { "n" },
}
local optdomains = {
  ["corral.group"] = { timeout = "s", limit = "n", max_errors = "n" },
  ["corral.scope"] = { timeout = "s" },
  ["retry"] = { attempts = "n", delay = "s", max_delay = "s", timeout = "s" },
  ["gather"] = { limit = "n" }, ["map"] = { limit = "n" },
  ["testing.stream_pair"] = { max_chunk = "n" },
  ["tcp.listen"] = { backlog = "n" }, ["tcp.connect"] = { timeout = "s" },
  ["supervisor.run"] = { intensity = "n", period = "s" },
}
local function silently_taken(c)
  local dom
  if type(c.pos) == "number" then dom = (domains[c.t.name] or {})[c.pos]
  elseif type(c.pos) == "string" then dom = (optdomains[c.t.name] or {})[c.pos:sub(5)] end
  if not dom then return nil end
  local h = hostile[c.h][1]
  if h == "nan" or h == "-1" or h == "-huge" or h == "minint" or (dom == "n" and h == "1.5") then
    return "returned normally with " .. h .. " where the docs call for "
      .. (dom == "s" and "seconds >= 0" or "a whole count")
  end
end
local function judge(c, ok, err)
  if ok then return silently_taken(c) end
  local t = c.t
  local function leaf(e)
    if e == SENTINEL then return nil end
    if corral.is_cancelled(e) then
      if cancelled_ctx[c.ctx] or hostile[c.h][1] == "fn-block" then return nil end
      return "unexpected Cancelled: " .. tostring(e)
    end
    if corral.is_timeout(e) then return nil end
    if corral.is_io_error(e) then return nil end
    if corral.is_error_group(e) then
      for _, l in ipairs(e:flatten()) do
        local bad = leaf(l)
        if bad then return "in ErrorGroup: " .. bad end
      end
      return nil
    end
    if type(e) ~= "string" then
      return "non-string error: " .. type(e) .. " " .. tostring(e)
    end
    if inside_lib(e) then return "blames the library: " .. e end
    if e:find("HOSTILE", 1, true) then return nil end
    -- what a hostile callback raised itself, passed on unchanged
    local hname = hostile[c.h][1]
    if hname:match("^fn%-") and (e:find("with coroutine.yield", 1, true)
      or e:find("cannot block here", 1, true) or e:find("called outside corral.run", 1, true)
      or e:find("deadlock", 1, true)) then return nil end
    -- a message handler cannot yield: any blocking call inside says so
    if c.ctx == "msgh" and e:find("cannot block here", 1, true) then return nil end
    if t.name == "testing.each_seed" and e:find("^seed = %d+: ") then return nil end
    -- Lua's own word for a yield where no coroutine runs (a callback called
    -- outside any run)
    if hname == "fn-yield" and e == "attempt to yield from outside a coroutine" then return nil end
    if t.name == "corral.arg_error" and e:find("'f'", 1, true) then return nil end
    -- Lua's own rule for plain tables (ErrorGroup, Cancelled, Timeout, a
    -- supervisor handle)
    if t.newindex and e:find("table index is", 1, true) then return nil end
    if e:find(t.short, 1, true) then return nil end
    return "error does not name '" .. t.short .. "': " .. e
  end
  local okl, r = pcall(leaf, err)
  if not okl then return "judging the error raised: " .. tostring(r) end
  return r
end

-- Calls written as a user writes them, so that Lua names the function:
-- corral.sleep(...) is 'sleep', g:spawn(...) is 'spawn'.
local callers
local caller_cache = {}
callers = function(t)
  local c = caller_cache[t]
  if c then return c end
  local m = t.short
  c = {
    fn = load(("return function(f, ...) local M = {%s = f}; local r = table.pack(M.%s(...)); return table.unpack(r, 1, r.n) end"):format(m, m))(),
    colon = load(("return function(o, ...) local r = table.pack(o:%s(...)); return table.unpack(r, 1, r.n) end"):format(m))(),
    dot = load(("return function(m, ...) local r = table.pack(m.%s(...)); return table.unpack(r, 1, r.n) end"):format(m))(),
  }
  caller_cache[t] = c
  return c
end

-- One call of c against obj (nil for module functions).
local function make_call(c, obj, objs)
  local t = c.t
  local args = t.base()
  local n = #args
  local hv = hostile[c.h][2]()
  local self = obj
  if c.pos == 0 then self = hv
  elseif type(c.pos) == "number" then
    args[c.pos] = hv
    if c.pos > n then n = c.pos end
  else
    local key = c.pos:sub(5)
    local o = args[t.optpos]
    if t.name == "supervisor.run" and key == "children" then o.children = hv
    else o[key] = hv end
  end
  return function()
    if t.index then return self[args[1]] end
    if t.newindex then self[args[1]] = args[2]; return end
    if t.tostr then return tostring(self) end
    if t.kind then
      if c.pos ~= 0 then return callers(t).colon(obj, table.unpack(args, 1, n)) end
      local m
      if t.kind == "error_group" or t.kind == "supervisor" then m = obj
      elseif t.kind == "pair" then m = package.loaded["corral.testing.Stream"]
      else m = getmetatable(obj).__methods end
      return callers(t).dot(m, self, table.unpack(args, 1, n))
    end
    return callers(t).fn(t.f, table.unpack(args, 1, n))
  end
end

local real_now = os.time
local function run_case(c)
  local t = c.t
  local verdict
  local function record(ok, err)
    verdict = judge(c, ok, err)
  end
  -- What a successful call opened (a stream, a listener, a process) is
  -- closed again, so that the leak check sees the library's leaks only.
  local function close_results(packed, ok, ...)
    if not ok then return end
    local vals = table.pack(...)
    if packed then vals = vals[1] or { n = 0 } end
    for i = 1, vals.n do
      local v = vals[i]
      local okc, close = pcall(function() return v.close end)
      if okc and type(close) == "function" and not corral.is_error_group(v) then
        if packed then shielded(function() close(v) end) else pcall(close, v) end
      end
    end
  end
  local function call_with(obj)
    local call = make_call(c, obj)
    local function go(packed, ...) record(...); close_results(packed, ...) end
    if c.ctx == "outside" or c.ctx == "msgh" or c.ctx == "stale" and not corral.current_task() then
      go(false, pcall(call))
    else
      go(true, pcall(bounded, call))
    end
  end
  local ok, err
  if c.ctx == "outside" or c.ctx == "stale" then
    if t.kind then
      local obj
      local okm, em = pcall(testing.run, function() makers[t.kind](function(o) obj = o end) end)
      if not okm then return "maker failed: " .. tostring(em) end
      if c.ctx == "outside" then call_with(obj)
      else ok, err = pcall(testing.run, function() call_with(obj) end) end
    else
      call_with(nil)
    end
  else
    ok, err = pcall(testing.run, function()
      if t.kind then
        makers[t.kind](function(o) wrap[c.ctx](function() call_with(o) end) end)
      else
        wrap[c.ctx](function() call_with(nil) end)
      end
    end)
  end
  if ok == false then
    if type(err) == "string" and err:find("leaked", 1, true) then
      return "LEAK: " .. err
    end
    -- the run itself raised: the case's error escaped (e.g. through a __close)
    local bad = judge(c, false, err)
    if bad then return "run raised: " .. bad end
  end
  return verdict
end

---------------------------------------------------------------------------
-- Child mode
if arg[1] == "--case" then
  -- Replay one case: lua5.4 tools/fuzz-args.lua --case ID [FILTER]
  filter = arg[3]
  enumerate()
  local c = cases[tonumber(arg[2])]
  print(describe(c))
  print("verdict:", run_case(c) or "ok")
  os.exit(0)
end
if arg[1] == "--child" then
  local first, last = tonumber(arg[2]), tonumber(arg[3])
  filter = arg[4]
  enumerate()
  io.stdout:setvbuf("line")
  for i = first, math.min(last, #cases) do
    local c = cases[i]
    io.stdout:write("B ", i, "\n")
    local t0 = real_now()
    local okc, v = pcall(run_case, c)
    if not okc then v = "harness: " .. tostring(v) end
    if real_now() - t0 > 5 then v = (v and v .. "; " or "") .. "SLOW: over 5 s of real time" end
    if v then
      v = v:gsub("\n", "\\n")
      if #v > 400 then v = v:sub(1, 400) .. "..." end
      io.stdout:write("F ", i, " ", describe(c), " :: ", v, "\n")
    end
    io.stdout:write("E ", i, "\n")
    -- keep memory flat: the 1 MB strings and closed handles
    if i % 50 == 0 then collectgarbage() end
  end
  io.stdout:write("DONE\n")
  os.exit(0)
end

---------------------------------------------------------------------------
-- Driver
filter = arg[1]
enumerate()
local chunk = tonumber(os.getenv("FUZZ_CHUNK") or "") or 3000
local show = tonumber(os.getenv("FUZZ_SHOW") or "") or 3
local lua = "lua5.4"
local me = arg[0]
local tmp = os.tmpname()
local dir = os.tmpname(); os.remove(dir); os.execute("mkdir -p " .. dir)
local findings, nfind = {}, 0
local ran = 0
local function sh(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local abs = me:sub(1, 1) == "/" and me or (os.getenv("PWD") .. "/" .. me)
-- The children run a copy, so that editing the tool meanwhile cannot
-- renumber their cases; they find the tree through FUZZ_ARGS_ROOT.
local root_abs = root:sub(1, 1) == "/" and root or (os.getenv("PWD") .. "/" .. root)
do
  local src = assert(io.open(abs)):read("a")
  local copy = dir .. "/fuzz-args.lua"
  local f = assert(io.open(copy, "w")); f:write(src); f:close()
  abs = copy
end
io.stderr:write(("fuzz-args: %d targets, %d cases\n"):format(#targets, #cases))
local i = 1
local t_start = os.time()
while i <= #cases do
  local last = math.min(i + chunk - 1, #cases)
  local function child(first, upto, secs)
    local cmd = ("cd %s && FUZZ_ARGS_ROOT=%s timeout -s KILL %d %s %s --child %d %d %s > %s 2>%s.err"):format(
      sh(dir), sh(root_abs), secs, lua, sh(abs), first, upto, filter and sh(filter) or "", tmp, tmp)
    return os.execute(cmd)
  end
  -- (a process case takes some 30 ms of real time: a chunk of them is slow)
  local _, how, code = child(i, last, 30 + (last - i + 1) // 20)
  local lastB, lastE, done = nil, i - 1, false
  for line in io.lines(tmp) do
    local tag, rest = line:match("^(%u+) ?(.*)$")
    if tag == "B" then lastB = tonumber(rest)
    elseif tag == "E" then lastE = tonumber(rest); ran = ran + 1
    elseif tag == "F" then
      local id, text = rest:match("^(%d+) (.*)$")
      local c = cases[tonumber(id)]
      local key = c.t.name .. " :: " .. (text:match(":: (.*)$") or text):gsub("0x%x+", "ADDR"):gsub("%d+", "N")
      if not findings[key] then
        findings[key] = { text = text, n = 0, target = c.t.name }
        nfind = nfind + 1
      end
      findings[key].n = findings[key].n + 1
    elseif tag == "DONE" then done = true end
  end
  local id = (lastB and lastB > lastE) and lastB or lastE + 1
  if not done and code == 137 and id > i then
    -- the watchdog ended a slow chunk: is the case it was in a hang, alone?
    local _, _, code1 = child(id, id, 30)
    local alone_done = false
    for line in io.lines(tmp) do if line == "DONE" then alone_done = true end end
    if alone_done and code1 == 0 then
      io.stderr:write("fuzz-args: a slow chunk, case ", id, " alone is not a hang; going on from it\n")
      i = id
      goto continue
    end
  end
  if not done then
    local errtext = {}
    for line in io.lines(tmp .. ".err") do
      if #errtext < 12 then errtext[#errtext + 1] = line end
    end
    local c = cases[id]
    local what = (how == "signal" or code == 137 or code == 124) and
      (code == 137 and "HANG (killed by the watchdog)" or "CRASH (" .. how .. " " .. tostring(code) .. ")")
      or ("CRASH (exit " .. tostring(code) .. ")")
    local key = "CRASH " .. c.t.name .. " " .. describe(c)
    findings[key] = { text = describe(c) .. " :: " .. what .. "\n    " .. table.concat(errtext, "\n    "),
      n = 1, target = c.t.name }
    nfind = nfind + 1
    ran = ran + 1
    io.stderr:write("fuzz-args: case ", id, " ", what, "\n")
    i = id + 1
  else
    i = last + 1
  end
  ::continue::
  io.stderr:write(("fuzz-args: %d/%d cases (%d s)\n"):format(i - 1, #cases, os.time() - t_start))
end
os.remove(tmp); os.remove(tmp .. ".err")
os.execute("rm -rf " .. sh(dir))

local keys = {}
for k in pairs(findings) do keys[#keys + 1] = k end
table.sort(keys)
local per = {}
for _, k in ipairs(keys) do
  local f = findings[k]
  per[f.target] = (per[f.target] or 0) + 1
  if per[f.target] <= show then
    print(("[%d cases] %s"):format(f.n, f.text))
  end
end
print(("fuzz-args: %d cases ran, %d distinct findings"):format(ran, nfind))
os.exit(nfind == 0 and 0 or 1)
