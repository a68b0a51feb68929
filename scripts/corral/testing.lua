-- corral.testing: running busted specs (or any tests) of code that uses corral.
--
--   local testing = require "corral.testing"
--   it("...", testing.async(function() ... end))
--
-- run        corral.run on the virtual clock, then a leak check
-- async      wraps a spec body for busted's `it`
-- each_seed  the same test under many schedules (corral.run's `seed`)
-- wait_all_tasks_blocked, stream_pair
--
-- Under busted, an assertion that fails inside a child task reaches busted as
-- that assertion's failure (message, file and line), not as an ErrorGroup.

-- The standard functions as they are now: a program that removes or
-- replaces a global later (a sandbox's `debug = nil`) does not break corral.
-- (The functions themselves, and no string methods: see corral/_util.lua.)
local debug, error, getmetatable, ipairs, next, os, package, pairs, pcall,
  rawget, rawlen, require, select, setmetatable, string, tostring, type =
  debug, error, getmetatable, ipairs, next, os, package, pairs, pcall, rawget,
  rawlen, require, select, setmetatable, string, tostring, type
local char, find, format, gmatch, gsub, match, sub = string.char, string.find,
  string.format, string.gmatch, string.gsub, string.match, string.sub
local concat, pack, remove, unpack = table.concat, table.pack, table.remove, table.unpack
local HUGE, mathtype, min, tointeger = math.huge, math.type, math.min, math.tointeger
local clock, getinfo = os.clock, debug.getinfo
local corral = require "corral"
local util = require "corral._util"
util.own_source(1, true)          -- (the tree shows a spec's line, not the kit's)
local hooks = corral._testing

local testing = {}

-- Streams from stream_pair not closed yet: stream -> the run that made it,
-- a table whose `open` holds them (strongly: a stream dropped without a
-- close is a leak however soon the collector comes).
local live_streams = setmetatable({}, { __mode = "k" })
local current_run       -- that table for the testing.run in progress

-- "bad argument #n to 'fname' (msg)", blaming the caller's caller (level 2)
local argerror = corral.arg_error
local method_error = corral._method_error   -- (see bindings/lio.lua)
local no_more_args = corral._no_more_args    -- (the same)

local function copy(t)
  local c = {}
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

--------------------------------------------------------------------------------
-- Leaks

-- What each counter of corral.debug_stats() means, for the message.
local KINDS = {
  { "tasks", "task", "tasks" },
  { "scopes", "cancel scope", "cancel scopes" },
  { "timers", "timer", "timers" },
  { "handles", "handle", "handles" },
  { "refs", "task reference", "task references" },
  { "records", "cancel record", "cancel records" },
}

-- The handles debug_stats() counts by kind; the rest are signal watchers.
local HANDLE_KINDS = {
  { "processes", "process", "processes" },
  { "listeners", "listener", "listeners" },
  { "streams", "TCP or pipe stream", "TCP or pipe streams" },
}

local function plural(n, one, many) return format("%d %s", n, n == 1 and one or many) end

-- What n leaked handles are: " (1 process, 3 TCP or pipe streams left open)".
local function handle_kinds(n, now, base)
  local parts, named = {}, 0
  for _, k in ipairs(HANDLE_KINDS) do
    local m = (now[k[1]] or 0) - (base and base[k[1]] or 0)
    if m > 0 then
      parts[#parts + 1] = plural(m, k[2], k[3])
      named = named + m
    end
  end
  if n > named then
    parts[#parts + 1] = plural(n - named, "signal watcher or other handle",
                               "signal watchers or other handles")
  end
  return " (" .. concat(parts, ", ") .. " left open)"
end

-- What the collector closed that the program had left open, since base:
-- "1 listener (dropped without a close: the garbage collector closed it)".
local function collected(now, base)
  local parts, total = {}, 0
  for _, k in ipairs(HANDLE_KINDS) do
    local f = "collected_" .. k[1]
    local m = (now[f] or 0) - (base and base[f] or 0)
    if m > 0 then
      parts[#parts + 1] = plural(m, k[2], k[3])
      total = total + m
    end
  end
  if total == 0 then return nil end
  return concat(parts, ", ") .. " (dropped without a close: the garbage collector closed "
    .. (total == 1 and "it)" or "them)")
end

-- "1 handle (...), 2 streams" for every counter of `now` above `base`.
local function describe_leaks(now, base, streams)
  local parts = {}
  for _, k in ipairs(KINDS) do
    local n = now[k[1]] - (base and base[k[1]] or 0)
    if n > 0 then
      parts[#parts + 1] = plural(n, k[2], k[3])
        .. (k[1] == "handles" and handle_kinds(n, now, base) or "")
    end
  end
  parts[#parts + 1] = collected(now, base)
  if streams and streams > 0 then
    parts[#parts + 1] = format("%d %s (from testing.stream_pair, not closed)", 
      streams, streams == 1 and "stream" or "streams")
  end
  return #parts > 0 and concat(parts, ", ") or nil
end

local function streams_of(run)
  local n = 0
  for _ in pairs(run.open) do n = n + 1 end
  return n
end

-- "spec/x_spec.lua:12: " for the function fn, so that busted points there.
local function where(fn)
  local info = getinfo(fn, "S")
  return info.what ~= "C" and info.short_src .. ":" .. info.linedefined .. ": " or ""
end

-- Let handles that fn closed finish closing: a process closed while it runs
-- keeps its handle until it is reaped. Let name lookups that a cancel
-- abandoned end too: libuv's thread pool runs one on once it started, and
-- corral counts it as a handle until then. Each wait polls I/O once; gives
-- up after a quarter of a second of CPU time, and at once when nothing is
-- closing nor abandoned (what is left open then is a leak).
-- debug_stats() as fn is answerable for: a signal waited for stays handled
-- (a handle) until the run ends, the root's own scope may be cancelled, and
-- a lookup still running is corral's (no task of fn's waits for it after
-- fn returned, and nothing the program does could end it sooner).
local function stats(base)
  local st = corral.debug_stats()
  st.handles = st.handles - hooks.signal_watchers() - hooks.abandoned_lookups()
  st.collected_streams, st.collected_listeners, st.collected_processes =
    hooks.collected_open()
  if base then st.records = base.records end
  return st
end

local function settle(base)
  local deadline = clock() + 0.25
  repeat
    if not pcall(hooks.wait_all_tasks_blocked) then return end
  until (stats().handles <= base.handles or hooks.closing_handles() == 0)
      and hooks.abandoned_lookups() == 0
    or clock() > deadline
end

-- Runs in the root task once fn has returned: let close callbacks run, then
-- compare with what the root had when it started.
local function check_inside(fn, base, run)
  corral.scope(function() settle(base) end, { shield = true })
  local now = stats(base)
  local what = describe_leaks(now, base, streams_of(run))
  if what then error(where(fn) .. "testing.run: leaked " .. what, 0) end
end

--------------------------------------------------------------------------------
-- Assertion failures

-- busted marks its assertion failures with a metatable whose __type is
-- "failure" (luassert's `error` is busted.fail under busted).
local function busted_type(e)
  local mt = type(e) == "table" and getmetatable(e)
  return type(mt) == "table" and mt.__type or nil
end

local function is_failure(e) return busted_type(e) == "failure" end

-- busted's pending("...") raises a value whose metatable's __type is
-- "pending": busted reports the test as pending only if it gets that value.
local function is_pending(e) return busted_type(e) == "pending" end

-- Whether text starts with a position ("file:line: "), as busted reads one.
local function has_position(text)
  return find(text, "^[^\n]-:%d+: ") ~= nil
end

-- (corral._describe: tostring that never raises, so a failure whose
-- __tostring fails still reaches the user with its seed)
local function failure_with(err, prefix, text)
  if is_failure(err) or is_pending(err) then
    local f = copy(err)
    f.message = prefix .. (text or corral._describe)(err.message)
    return setmetatable(f, getmetatable(err))
  end
  return prefix .. corral._describe(err)
end

-- Every leaf of an ErrorGroup, depth first, with the task it failed in.
-- Every failure inside ErrorGroup eg, nested groups flattened, in order. A
-- group's list may hold nil (a task that raised nil): it is walked up to
-- #eg, its count. A group found again (inside itself, or raised again by
-- two tasks) is not entered again: its failures are listed once, as its
-- rendering shows it once (two tasks re-raising one group at each of 20
-- levels would list 2^20 failures).
-- (A list field edited to something else counts as empty, as for render.)
local function list_field(eg, name)
  local v = eg[name]
  return type(v) == "table" and v or {}
end

-- (Each leaf keeps the message of the innermost group around it that has
-- one: why that group ended, as a supervisor that gave up says.)
local function leaves(eg, out, open, why)
  local errors, tasks, tracebacks = list_field(eg, "errors"), list_field(eg, "tasks"),
    list_field(eg, "tracebacks")
  open = open or {}
  open[eg] = true
  if type(rawget(eg, "message")) == "string" then why = eg.message end
  for i = 1, #eg do
    local e = errors[i]
    if not corral.is_error_group(e) then
      out[#out + 1] = { err = e, task = tasks[i], traceback = tracebacks[i], why = why }
    elseif not open[e] then
      leaves(e, out, open, why)
    end
  end
  return out
end

local function indent(s) return (gsub(tostring(s), "\n", "\n    ")) end

-- A failure's message that is not text (assert(false, {code = 7})) as busted
-- shows one (penlight's pretty.write, which busted uses), so that it can
-- carry a position: busted puts the kit's line before any text without one.
local function message_text(m)
  if type(m) == "string" then return m end
  local mt = type(m) == "table" and getmetatable(m)
  if type(m) ~= "table" or (type(mt) == "table" and rawget(mt, "__tostring")) then
    return corral._describe(m)           -- as busted: its text, if it has one
  end
  local ok, pretty = pcall(require, "pl.pretty")
  local text = ok and type(pretty) == "table" and select(2, pcall(pretty.write, m))
  return type(text) == "string" and text or corral._describe(m)
end

-- A failure of a child as text, a pending labelled as one: in a failure's
-- list (leaf_text) and in the tree of a group that failed without an
-- assertion (with_position) alike, so that it never reads as an error.
local function child_text(e)
  if is_pending(e) then return "pending: " .. corral._describe(e.message) end
  return message_text(e)
end

-- One of the others in a failure's list: a pending says so, a busted
-- failure is its message, and anything else that does not start with a
-- position (a table, a Timeout) is followed by its task's traceback (which
-- starts with the error as tostring shows it when corral made it: that
-- line is the text's). A traceback that is not a string is left out.
local function leaf_text(leaf)
  local e, tb = leaf.err, leaf.traceback
  if is_pending(e) then return child_text(e) end
  if is_failure(e) then return corral._describe(e.message) end
  local text, raw = message_text(e), corral._describe(e)
  if type(tb) ~= "string" or tb == "" or has_position(text) then return text end
  if sub(tb, 1, #raw) == raw then return text .. sub(tb, #raw + 1) end
  return text .. "\n" .. tb
end

-- The first leaf that is a busted pending, if every leaf is one (a pending
-- beside a real error must not hide that error).
local function only_pending(all, dropped)
  if dropped > 0 then return nil end
  for _, leaf in ipairs(all) do
    if not is_pending(leaf.err) then return nil end
  end
  return all[1] and all[1].err
end

-- A busted failure's message starts with where the assertion was called,
-- unless luassert found no Lua caller (pcall(assert.equal, 1, 2), the
-- failure raised again with error(e, 0)): plain busted then names the line
-- that raised it, and so does the kit, from the task's traceback (its first
-- Lua frame that is not a policy's: retry raises the last failure again),
-- rather than its own line that raised it again.
-- busted tells a failure whose message is text by its metatable (it shows
-- that text); one whose message was not has another: the text one is taken
-- from a failure of busted's own `fail`, once (none outside busted).
local text_failure_mt
local function with_text_mt(f)
  if text_failure_mt == nil then
    local b = package.loaded.busted
    local ok, fail = pcall(function() return b.fail end)
    local e = ok and type(fail) == "function" and select(2, pcall(fail, ""))
    text_failure_mt = is_failure(e) and getmetatable(e) or false
  end
  if text_failure_mt then setmetatable(f, text_failure_mt) end
  return f
end

-- Busted's frames (and luassert's) are not where a failure happened.
-- (known by the directories their modules load from, not by a name a
-- spec's own directory may have: my-busted/x_spec.lua is the spec's)
local kit_dirs
local function in_dir(src, dir)
  local cut = sub(src, 1, 3) == "..."        -- a long path, its start cut off
  local tail = cut and sub(src, 4) or src
  local file = match(tail, "[/\\]([^/\\]+)$")
  if not (dir and file) then return false end  -- (no directory left to tell)
  local full = dir .. file
  if cut then return sub(full, -#tail) == tail end
  return full == src
end
local function test_kit_source(src)
  if util.is_own_source(src) then return true end
  if not kit_dirs then
    kit_dirs = {}
    for _, m in ipairs({ "busted.core", "luassert.assert" }) do
      local path = package.searchpath(m, package.path)
      kit_dirs[#kit_dirs + 1] = path and match(path, "^(.*[/\\])") or false
    end
  end
  for _, dir in ipairs(kit_dirs) do
    if dir and in_dir(src, dir) then return true end
  end
  return false
end

-- "file:line: " of the first frame of traceback tb that is the user's, not
-- the kit's, busted's or corral's: where an error was raised; or nil.
local function raised_at(tb)
  if type(tb) ~= "string" then return nil end
  for s, l in gmatch(tb, "\n\t([^\n]-):(%d+): in ") do
    if not test_kit_source(s) then return s .. ":" .. l .. ": " end
  end
  return nil
end

local function positioned(err, tb)
  if not is_failure(err) or
     (type(err.message) == "string" and has_position(err.message)) then
    return err
  end
  local at = raised_at(tb)
  if not at then return err end
  local f = failure_with(err, at, message_text)
  return type(err.message) == "string" and f or with_text_mt(f)
end

-- An ErrorGroup holding a busted failure becomes that failure (the first),
-- whose message names its task and lists every other failure of the group.
-- One holding nothing but busted pendings becomes the first of them.
local function unwrap(err)
  if not corral.is_error_group(err) then return err end
  local all = leaves(err, {})
  local first
  for i, leaf in ipairs(all) do
    if is_failure(leaf.err) then first = i; break end
  end
  local dropped = mathtype(err.dropped) == "integer" and err.dropped or 0
  if not first then return only_pending(all, dropped) or err end
  all[first].err = positioned(all[first].err, all[first].traceback)
  local msg = { corral._describe(all[first].err.message), "(failed in task " .. corral._describe(all[first].task) .. ")" }
  -- the group's own message says why it ended (a supervisor that gave up)
  if all[first].why then msg[#msg + 1] = all[first].why end
  if #all > 1 or dropped > 0 then
    msg[#msg + 1] = format("\nThe group failed %d times; the others:", #all + dropped)
    for i, leaf in ipairs(all) do
      if i ~= first then
        -- (another assertion: at its own line too, whatever its message)
        if is_failure(leaf.err) then leaf.err = positioned(leaf.err, leaf.traceback) end
        msg[#msg + 1] = format("  [%s] %s", corral._describe(leaf.task), indent(leaf_text(leaf)))
      end
    end
    if dropped > 0 then msg[#msg + 1] = format("  (%d more dropped)", dropped) end
  end
  local f = copy(all[first].err)
  f.message = concat(msg, "\n")
  return setmetatable(f, getmetatable(all[first].err))
end

--------------------------------------------------------------------------------
-- run, async, each_seed

-- err as text for busted, which puts the line that raised it (here, in
-- testing.lua) before any message that does not start with a position. A
-- value that is not a string starts at the line of fn's run that raised it
-- (the root's traceback tb: where a Timeout's wait was, where a group
-- failed), text without a position and a value tb cannot place at fn's
-- own line. An ErrorGroup shows its tasks' tracebacks (busted's own trace
-- would be the kit's), a table its contents, as busted shows one.
local function with_position(err, fn, tb)
  if type(err) == "string" and has_position(err) then return err end
  local ok, text
  if corral.is_error_group(err) then
    ok, text = pcall(err.render, err, { tracebacks = true, describe = child_text })
  else
    ok, text = pcall(message_text, err)
  end
  if not ok or type(text) ~= "string" then text = "(a " .. type(err) .. " value)" end
  return (type(err) ~= "string" and raised_at(tb) or where(fn)) .. text
end

-- The end of a run of fn: its results, or its error raised (a value that
-- is not a string as text for busted when `text`, unless busted's own
-- failure or pending).
local function finish(root, fn, text, ok, ...)
  if not ok then
    local tb                             -- (the root's: where it failed)
    if root then
      local got, t = pcall(root.traceback, root)
      if got then tb = t end
    end
    local err = unwrap(positioned((...), tb))
    if text and type(err) ~= "string" and not is_failure(err) and not is_pending(err) then
      err = with_position(err, fn, tb)
    end
    error(err, 0)
  end
  return ...
end

--- corral.run(fn, opts) on the virtual clock (unless opts.clock says
--- otherwise), then raise "testing.run: leaked ..." if fn left anything
--- alive. opts: as for corral.run (seed, autojump_threshold, ...).
local options_refused              -- the token of the run_at that refused opts

-- What a kit function called inside a task raises.
local function nested_call(fname)
  return format("testing.%s: cannot be called inside a running task (spawn a task or "
          .. "open a group instead)", fname)
end

-- corral.run returned without calling fn: it is not corral's (busted's
-- stub(corral, "run") or mock(corral, true)), and a spec whose body never ran
-- must not pass. (corral.run is looked up at each call rather than held
-- from require time: a mocked module stubs every other corral function the
-- kit calls too, and a stub installed before the kit was required would be
-- held all the same; this check catches both.)
local function never_ran(fname)
  return format("testing.%s: %s never ran (corral.run returned without calling it: is it "
          .. "stubbed or mocked?)", fname, fname == "async" and "the spec's function" or "fn")
end

local function run_at(fn, opts, at, argn, fname, level, token, text)
  local o = copy(opts)
  if o.clock == nil then o.clock = "virtual" end
  local run, started, root = { open = {} }, false, nil
  local outer = current_run
  current_run = run
  local res = pack(pcall(corral.run, function()
    started = true
    root = corral.current_task()
    local base = stats()
    local r = pack(fn())
    check_inside(at, base, run)
    return unpack(r, 1, r.n)
  end, o))
  current_run = outer
  -- corral.run's own check of a value in opts (it raised before the run
  -- began): named after the kit's function, the one the program called, at
  -- its caller (`level` up)
  local bad = not res[1] and not started and type(res[2]) == "string"
    and match(res[2], "bad argument #2 to '[^']*' %((.*)%)$")
  if bad then
    options_refused = token                -- (each_seed: not seed k's failure)
    argerror(argn, fname, bad, level)
  end
  if not res[1] and not started and type(res[2]) == "string"
      and find(res[2], "corral.run: cannot be called inside a running task", 1, true) then
    error(nested_call(fname), level)       -- (async's body, called in a run)
  end
  if res[1] and not started then error(never_ran(fname), level) end
  if res[1] then
    local what = describe_leaks(corral.debug_stats())
    if what then error(where(at) .. "testing.run: leaked " .. what .. " when the engine closed", 0) end
  end
  return finish(root, at, text, unpack(res, 1, res.n))
end

-- opts (argument n of fname) must be nil or a table of corral.run's options:
-- checked at the call, as corral.run would, but naming the kit's function.
local function check_run_opts(opts, n, fname)
  if opts == nil then return end
  if type(opts) ~= "table" then argerror(n, fname, "table expected, got " .. corral._typename(opts), 3) end
  local unknown = corral.check_options(opts, corral._run_options)
  if unknown then argerror(n, fname, unknown, 3) end
end

-- (A leak is reported at the position of `at`: the user's function, also
-- when each_seed wraps it.)
-- A run cannot start inside a task: say so at the caller of fname (corral.run
-- raised through the kit's pcall would have no position).
local function outside_tasks(fname)
  local ok, task = pcall(corral.current_task)
  if ok and task ~= nil then error(nested_call(fname), 3) end
end

function testing.run(fn, opts, ...)
  if select("#", ...) > 0 then argerror(3, "run", "no argument expected") end
  if type(fn) ~= "function" then argerror(1, "run", corral._function_expected(fn)) end
  check_run_opts(opts, 2, "run")
  outside_tasks("run")
  -- (not a tail call: the caller's line is where a bad option is reported)
  local r = pack(run_at(fn, opts, fn, 2, "run", 3))
  return unpack(r, 1, r.n)
end

--- A spec body for busted's `it`: it("...", testing.async(function() ... end)).
--- An error that is neither a busted failure nor a pending reaches busted
--- as text (with_position).
function testing.async(fn, opts, ...)
  if select("#", ...) > 0 then argerror(3, "async", "no argument expected") end
  if type(fn) ~= "function" then argerror(1, "async", corral._function_expected(fn)) end
  check_run_opts(opts, 2, "async")
  return function()
    local res = pack(pcall(run_at, fn, opts, fn, 2, "async", 2, nil, true))
    if res[1] then return unpack(res, 2, res.n) end
    local err = res[2]
    if is_failure(err) then error(err, 0) end
    if is_pending(err) then error(failure_with(err, where(fn)), 0) end
    error(with_position(err, fn), 0)
  end
end


-- The seeds each_seed runs: 1..seeds for a count, else the list, every one
-- checked before any runs. (Errors blame each_seed's caller: level 3.)
-- The seeds to run: an iterator over 1..count (a count can be as large as
-- one likes: nothing is built before the first seed runs), or over a list.
local function seed_iter(seeds)
  if type(seeds) == "number" or type(seeds) == "string" then
    -- an argument converts, as Lua's own do: 2.0 and "2" are 2
    local count = tointeger(seeds)
    if not count then
      argerror(1, "each_seed", "count must be an integer, got " .. tostring(seeds), 3)
    end
    seeds = count
    if seeds < 0 then argerror(1, "each_seed", "count must be >= 0", 3) end
    local k = 0
    return function()
      if k < seeds then k = k + 1; return k end
    end
  elseif type(seeds) ~= "table" then
    argerror(1, "each_seed", "a count or a list of seeds expected, got " .. corral._typename(seeds), 3)
  end
  -- a list as the policies take one: keys 1..n, counted raw, no hole
  local bad = util.list_complaint(seeds, "seeds")
  if bad then argerror(1, "each_seed", bad, 3) end
  local n = rawlen(seeds)
  local list = {}
  for i = 1, n do                      -- 1.0 is 1, as for a count
    local v = rawget(seeds, i)
    list[i] = type(v) == "number" and tointeger(v)
    if not list[i] then
      argerror(1, "each_seed", "seeds must be integers, got " .. tostring(v), 3)
    end
  end
  local i = 0
  return function()
    if i < n then i = i + 1; return list[i] end
  end
end

--- testing.run(function() return fn(k) end, opts + {seed = k}) for k = 1..seeds
--- (a count) or each k of a list; the first failure raises
--- "seed = k: " .. tostring(err), so that it can be replayed with that seed.
function testing.each_seed(seeds, fn, opts, ...)
  if select("#", ...) > 0 then argerror(4, "each_seed", "no argument expected") end
  local next_seed = seed_iter(seeds)
  if type(fn) ~= "function" then argerror(2, "each_seed", corral._function_expected(fn)) end
  check_run_opts(opts, 3, "each_seed")
  if type(opts) == "table" and opts.seed ~= nil then
    argerror(3, "each_seed", "seed is each_seed's own (run k has seed k): give the seeds "
      .. "as its first argument")
  end
  outside_tasks("each_seed")               -- not a failure of seed 1
  for k in next_seed do
    local o = copy(opts)
    o.seed = k
    local token = {}                       -- (a kit call inside a seed has its own)
    local ok, err = pcall(run_at, function() return fn(k) end, o, fn, 3, "each_seed", 4, token, true)
    if not ok and options_refused == token then
      error(err, 0)                        -- its options: not a failure of seed k
    end
    if not ok then error(failure_with(err, format("seed = %d: ", k)), 0) end
  end
end

--- Block until every other task is blocked (other callers of this count as
--- blocked), before the virtual clock moves. A cancellation point.
function testing.wait_all_tasks_blocked(...)
  no_more_args(1, "there is no cushion; it returns once every other task is blocked", ...)
  local ok, err = pcall(hooks.wait_all_tasks_blocked)
  if not ok and not corral.is_cancelled(err) then error(err, 2) end  -- at the caller
  if not ok then error(err, 0) end
end

--------------------------------------------------------------------------------
-- stream_pair: two connected in-memory streams

-- One direction: bytes written by one stream, read by the other. The bytes
-- are a queue of the written strings, chunks[head..tail], the first `off`
-- bytes of chunks[head] already read, `size` bytes in all: a write appends
-- its string and a read copies only what it takes, so that moving N bytes
-- costs O(N) however many are buffered (one string grown by `..` and cut by
-- sub() copied the whole buffer on every call).
-- The delimiter search resumes where it stopped: the `scan` bytes from the
-- read position up to chunks[si], byte so + 1, hold no `sd` (see find_byte).
local function new_pipe(cap)
  return { chunks = {}, head = 1, tail = 0, off = 0, size = 0,
           sd = nil, si = 1, so = 0, scan = 0,
           cap = cap, eof = false, broken = false }
end

local function reset_scan(p) p.si, p.so, p.scan = p.head, p.off, 0 end

-- Empty the queue (when pop emptied it, every chunk is gone already), and
-- index from 1 again, so that head and tail stay small.
local function clear(p)
  if p.size > 0 then p.chunks = {} end
  p.head, p.tail, p.off, p.size = 1, 0, 0, 0
  reset_scan(p)
end

local function push(p, data)
  if #data == 0 then return end      -- an empty chunk would stop pop
  p.tail = p.tail + 1
  p.chunks[p.tail] = data
  p.size = p.size + #data
end

-- Up to n bytes from the first chunk, removed from the queue.
local function pop_first(p, n)
  local c, off = p.chunks[p.head], p.off
  local k = min(#c - off, n)
  local piece = (off == 0 and k == #c) and c or sub(c, off + 1, off + k)
  if off + k == #c then
    p.chunks[p.head] = nil
    p.head, p.off = p.head + 1, 0
  else
    p.off = off + k
  end
  p.size = p.size - k
  return piece
end

-- The first n bytes (1 <= n <= p.size), removed from the queue.
local function pop(p, n)
  local data = pop_first(p, n)
  if #data < n then
    local parts = { data }
    local got = #data
    while got < n do
      parts[#parts + 1] = pop_first(p, n - got)
      got = got + #parts[#parts]
    end
    data = concat(parts)
  end
  -- Bytes searched and not taken stay searched: the search never rescans.
  if n <= p.scan then p.scan = p.scan - n else reset_scan(p) end
  if p.size == 0 then clear(p) end
  return data
end

-- Position (from the read position, 1-based) of the first byte d, or nil.
-- Only bytes no earlier call searched are searched, so waking up for each
-- small write while a long line arrives costs O(that write), not O(line).
local function find_byte(p, d)
  if p.sd ~= d then p.sd = d; reset_scan(p) end
  while p.si <= p.tail do
    local c = p.chunks[p.si]
    -- (string.find looked up at each call, the one exception here: a spec
    -- meters the bytes this search looks at by replacing it; no failure is
    -- reported through this path)
    local i = string.find(c, d, p.so + 1, true)
    if i then                          -- stop before it: found again at once
      p.scan, p.so = p.scan + (i - 1 - p.so), i - 1
      return p.scan + 1
    end
    p.scan = p.scan + #c - p.so
    p.si, p.so = p.si + 1, 0
  end
  return nil
end

-- Wait until notify(p, field); a cancellation point (raises Cancelled).
local function wait_on(p, field)
  local ev = p[field]
  if not ev then
    -- Making the event may run a finalizer that closes the stream (or
    -- writes, or reads): a notify then finds no event to set, and this
    -- wait would last for ever. It counts, so the caller looks again.
    local seen = p.notes
    ev = corral.event()
    if p.notes ~= seen then return end
    p[field] = ev
  end
  ev:wait()
end

local function notify(p, field)
  p.notes = (p.notes or 0) + 1
  local ev = p[field]
  if ev then
    p[field] = nil
    ev:set()
  end
end

-- A stream is an empty table: its state lives in `state`, so that, as on a
-- TCP stream, its fields (s.closed) can be read and not set.
local Stream, methods = { __name = "corral.testing.Stream" }, {}
local state = setmetatable({}, { __mode = "k" })   -- stream -> its state
-- Named as Lua names a method called where the caller gives it no name
-- (through pcall): 'corral.testing.Stream.read', as the C types' methods are.
if package.loaded["corral.testing.Stream"] == nil then
  package.loaded["corral.testing.Stream"] = methods
end

-- (A table given a stream's metatable has no state: said, not an error
-- inside this file.)
local NOT_A_STREAM = "not a stream: a table given a testing stream's metatable"

function Stream.__index(s, k)
  if k == "closed" then
    local st = state[s]
    if st == nil then error("stream.closed: " .. NOT_A_STREAM, 2) end
    return st.closed
  end
  return methods[k]
end

function Stream.__newindex(_, k)
  error(format("stream: cannot set field '%s' (its fields are read-only)", corral._key(k)), 2)
end

-- The state of self, a stream; level as error() counts it: 3 (the
-- default) blames the method's caller.
local function state_of(self, op, level)
  local st = getmetatable(self) == Stream and state[self]
  if not st then
    method_error(1, "stream expected, got " .. corral._typename(self), (level or 3) - 1, true)
  end
  return st
end

-- The state of self, a stream not closed.
-- (A task cancelled by then raises its Cancelled instead, as on TCP: the
-- stream may have been closed by that very cancel, a write's.)
local check_cancel = corral._check_cancel
local function check_open(self, op, level)
  level = level or 3
  local st = state_of(self, op, level + 1)
  if st.closed then
    check_cancel()
    error(format("stream:%s: attempt to use a closed stream", op), level)
  end
  return st
end

-- Whether the running task is inside a cancelled scope (asks, raises nothing).
local function cancelled_now()
  local ok, err = pcall(check_cancel)
  return not ok and corral.is_cancelled(err)
end

-- This file's chunk name: its frames are never the user's.
local SELF = getinfo(1, "S").source

-- Raise msg at the first frame that is neither this file's nor corral's own
-- embedded Lua (whose chunk names start "=corral."): the line of the user's
-- stream call, however many of our frames (and corral's readers) are between.
local function raise_at_user(msg)
  local level = 2
  while true do
    local info = getinfo(level, "S")
    if not info or (info.source ~= SELF and sub(info.source, 1, 8) ~= "=corral.") then break end
    level = level + 1
  end
  error(msg, level)
end

-- corral's cancellation point for a stream call. Outside corral.run it
-- raises "stream:<op>: called outside corral.run" at the user's line, as a
-- TCP stream's calls do; a Cancelled goes on unchanged.
local function cancel_point(op)
  local ok, err = pcall(hooks.cancel_point, "stream:" .. op)
  if ok then return end
  if type(err) == "string" then raise_at_user(err) end
  error(err, 0)
end

-- The errors of TCP streams (IoErrors), so that code handling them behaves
-- in its specs as in production.
local io_error = corral._io_error
local function closed_in_use(op, kind)
  return io_error("stream:" .. op, kind, "ECLOSED", "closed while in use")
end

-- What a TCP stream reads ahead into its own buffer once it has read.
local READ_AHEAD = 65536

-- The end of what the peer sent: nil, or the reset of a peer that closed
-- with bytes unread.
local function at_end(p, op)
  if p.reset then
    error(io_error("stream:" .. op, "read", "ECONNRESET", "connection reset by peer"), 0)
  end
  return nil
end

-- A task that holds a stream (its read, or a place in its write line) and
-- ended without letting go. Its cleanups let go (READ_HOLD, WRITE_HOLD), but
-- a task abandoned at a deadlock nothing could unwind never runs them: it is
-- "cancelled" for good, and must not keep the stream from the other tasks of
-- its run, or from those of a later run (a stream outlives its run).
local ENDED = { done = true, failed = true, cancelled = true }
local function gone(task) return ENDED[task.status] == true end

-- The end of file the peer reads after what was written.
local function send_eof(st)
  st._out.eof = true
  notify(st._out, "rwait")
end

-- Take out of st's write line the task `task` (its write ended; nil: none)
-- and every gone task; if any left, the next in line looks again, and once
-- the line is empty, a shutdown that waited for it sends the end of file.
local function leave_line(st, task)
  local wq, left = st._wq, false
  for i = #wq, 1, -1 do
    if wq[i] == task or gone(wq[i]) then
      remove(wq, i)
      left = true
    end
  end
  if not left then return end
  notify(st._out, "wwait")
  if #wq == 0 and st._eof_due then
    st._eof_due = false
    send_eof(st)
  end
end

-- A call holds the stream until it ends, however it ends: to-be-closed,
-- because a coroutine closed from outside (a copy of coroutine.close taken
-- before require "corral") unwinds past every pcall but closes these. The
-- read hold lets go of its own read only: a later reader may have taken over
-- from a gone one.
local READ_HOLD = {
  __close = function(h)
    if h.p.reader == h.task then h.p.reader = nil end
  end,
}
local WRITE_HOLD = { __close = function(h) leave_line(h.st, h.task) end }

-- Wait until `ready(p)` or end of file; the stream's reader (p.reader, a
-- Task) meanwhile. Returns the pipe, or raises (Cancelled, closed while in
-- use).
local function wait_readable(st, op, ready)
  local p = st._in
  cancel_point(op)
  local reader, me = p.reader, corral.current_task()
  if reader and not gone(reader) then
    error(format("stream:%s: another task is already reading this stream (one reader at a "
          .. "time)", op), 0)
  end
  -- a shutdown behind a write abandoned at a deadlock: the end of file now
  if p.from then leave_line(p.from) end
  p.reader, p.read_started = me, true
  local _ <close> = setmetatable({ p = p, task = me }, READ_HOLD)
  while not ready(p) and not p.eof and not st.closed do
    wait_on(p, "rwait")
  end
  if st.closed then
    check_cancel()                       -- a task cancelled by then: its Cancelled
    error(closed_in_use(op, "read"), 0)
  end
  return p
end

local function take(p, n)
  local data = pop(p, n)
  notify(p, "wwait")
  return data
end

local function has_data(p) return p.size > 0 end

--- read([max]) -> 1..max bytes (at most max_chunk), or nil at end of file.
function methods:read(max, ...)
  if max == nil then max = 65536 end
  local st = check_open(self, "read")      -- (self first, as TCP's read)
  no_more_args(3, true, ...)
  local m = tointeger(max)
  if not m or m < 1 then method_error(2, "max must be an integer >= 1", 1) end
  local p = wait_readable(st, "read", has_data)
  if p.size == 0 then return at_end(p, "read") end
  st._skip_line = nil                    -- bytes taken as they come
  return take(p, min(m, st._max_chunk, p.size))
end

-- The primitive under read_line, lines and read_exactly (corral's own, as
-- on TCP streams): 1..max bytes, ending at the byte delim (-1: none) if it
-- comes first, or nil at end of file. It waits until it can take that
-- whole, so a cancelled call consumes nothing, up to what the buffer holds:
-- past that (max beyond `buffer`), it takes the full buffer, as a TCP
-- stream takes its 64 kB, or the writer could never go on.
local CALLS = { "read_line", "read_exactly", "lines" }

-- The rest of a line too long for read_line's max (see skip_line), dropped
-- through its "\n" by the next read_line or lines; false at end of file.
local function skip_rest_of_line(st, which)
  if which == 2 then return true end     -- read_exactly: bytes as they come
  while st._skip_line do
    local p = wait_readable(st, CALLS[which], has_data)
    if p.size == 0 then st._skip_line = nil; return false end
    local i = find_byte(p, "\n")
    if i then st._skip_line = nil end
    take(p, i or p.size)
  end
  return true
end

local function rawread(self, max, delim, which)
  local st = state[self]
  if not skip_rest_of_line(st, which) then return at_end(st._in, CALLS[which]) end
  local d = delim >= 0 and char(delim) or nil
  local function upto(q)
    local i = d and find_byte(q, d)
    return i and i <= max and i or nil
  end
  local p = wait_readable(st, CALLS[which], function(q)
    return upto(q) or q.size >= min(max, q.cap)
  end)
  if p.size == 0 then return at_end(p, CALLS[which]) end
  st._skip_line = nil                    -- bytes taken: the skip is over
  return take(p, upto(p) or min(max, p.size))
end

-- (one frame more than a method's own call: corral's reader calls it)
local function check(self, op)
  check_open(self, op, 4)
  return nil
end

-- read_line left the rest of an over-long line unread.
local function skip_line(self) state[self]._skip_line = true end

do
  local R = corral._stream_readers(rawread, check, skip_line)
  methods.read_line, methods.lines, methods.read_exactly = R.read_line, R.lines, R.read_exactly
end

--- write(data): all of data, or nothing if it raises. Blocks while the peer
--- has `buffer` bytes or more unread (backpressure); cancelled while it
--- waits, it closes the stream, as on TCP.
function methods:write(data, ...)
  local st = check_open(self, "write")       -- self first, as the C methods
  no_more_args(3, true, ...)
  if type(data) == "number" then data = tostring(data) end
  if type(data) ~= "string" then method_error(2, "string expected, got " .. corral._typename(data), 1) end
  local p = st._out
  if st._shut then                   -- the program's mistake, as on TCP
    error("stream:write: this stream was shut down for writing (s:shutdown() was called)", 2)
  end
  cancel_point("write")
  -- in line until it returns or raises: writes go out in the order they
  -- were called, as on TCP, however their waits for room end
  local wq, me = st._wq, corral.current_task()
  wq[#wq + 1] = me
  local _ <close> = setmetatable({ st = st, task = me }, WRITE_HOLD)
  while true do
    if st.closed then
      check_cancel()                     -- (as a read: see wait_readable)
      error(closed_in_use("write", "write"), 0)
    end
    if p.broken then
      error(io_error("stream:write", "write", "EPIPE", "broken pipe"), 0)
    end
    leave_line(st)                   -- (one abandoned at a deadlock ahead)
    if p.size < p.cap and wq[1] == me then break end
    local ok, err = pcall(wait_on, p, "wwait")
    if not ok then
      -- as on TCP, whose kernel may have taken part of the data already: a
      -- write cancelled while it waits closes its stream, with a reset
      -- (close sees this write under way)
      methods.close(self)
      error(err, 0)
    end
  end
  push(p, data)
  notify(p, "rwait")
end

-- One end's state: what it reads from (inp) and writes to (out); _wq holds
-- the tasks whose writes are under way, in call order (each write's
-- WRITE_HOLD takes its task out). out.from is this state, for its reader.
local function new_state(inp, out, chunk, name)
  local st = { _in = inp, _out = out, _max_chunk = chunk, _name = name, closed = false,
               _shut = false, _wq = {}, _eof_due = false }
  out.from = st
  return st
end

--- shutdown(): end of file for the peer once it has read what was written,
--- by the writes that wait for room too (as on TCP, whose shutdown is
--- queued behind them).
function methods:shutdown(...)
  -- closed by the cancel of the task that shuts it down (its cleanup, say):
  -- nothing left to shut down, and nothing raised, as on TCP
  local st = state_of(self, "shutdown")
  if st.closed and cancelled_now() then return end
  st = check_open(self, "shutdown")
  no_more_args(2, nil, ...)
  if st._shut then return end
  st._shut = true
  leave_line(st)                     -- (a write abandoned at a deadlock)
  if #st._wq > 0 then st._eof_due = true else send_eof(st) end
end

-- Whether a task's write on st is under way (waiting for room or in line).
local function writing(st)
  for _, t in ipairs(st._wq) do
    if not gone(t) then return true end
  end
  return false
end

--- close(): idempotent. The peer reads what was written, then end of file;
--- its writes raise EPIPE. Tasks blocked on this stream wake with an error.
function methods:close()
  local st = state_of(self, "close")
  if st.closed then return end
  st.closed = true
  local run = live_streams[self]
  if run then run.open[self] = nil end
  live_streams[self] = nil
  local out, inp = st._out, st._in
  out.eof = true
  -- closed with bytes unread that a TCP stream would still have left in the
  -- kernel (it never read, so corral never read ahead; or more than its 64 kB
  -- read-ahead holds): the kernel resets the connection, and the peer reads
  -- what it has, then ECONNRESET instead of the end. So does a close that
  -- cuts a write short (TCP's close of a stream with a write under way).
  if (inp.size > 0 and (not inp.read_started or inp.size > READ_AHEAD)) or writing(st) then
    out.reset = true
  end
  inp.broken = true
  clear(inp)
  for _, p in ipairs({ out, inp }) do
    notify(p, "rwait")
    notify(p, "wwait")
  end
end

Stream.__close = methods.close

function Stream:__tostring()
  local st = state[self]
  if st == nil then return format("testing.Stream(%s)", NOT_A_STREAM) end
  return format("testing.Stream(%s%s)", st._name, st.closed and ", closed" or "")
end

--- stream_pair([opts]) -> a, b: what a writes, b reads, and the other way
--- round. opts.max_chunk: reads return at most that many bytes;
--- opts.buffer: unread bytes a side holds before write blocks (65536).
function testing.stream_pair(opts, ...)
  no_more_args(2, nil, ...)
  if opts ~= nil and type(opts) ~= "table" then
    argerror(1, "stream_pair", "table expected, got " .. corral._typename(opts))
  end
  opts = opts or {}
  local unknown = corral.check_options(opts, { max_chunk = true, buffer = true })
  if unknown then argerror(1, "stream_pair", unknown) end
  local n = {}
  for k, v in next, opts do            -- raw, as check_options; 4.0 is 4
    n[k] = type(v) == "number" and tointeger(v)
    if not n[k] or n[k] < 1 then
      argerror(1, "stream_pair", k .. " must be an integer >= 1")
    end
  end
  local cap = n.buffer or 65536
  local ab, ba = new_pipe(cap), new_pipe(cap)
  local chunk = n.max_chunk or HUGE
  local a, b = setmetatable({}, Stream), setmetatable({}, Stream)
  state[a] = new_state(ba, ab, chunk, "a")
  state[b] = new_state(ab, ba, chunk, "b")
  if current_run then
    live_streams[a], live_streams[b] = current_run, current_run
    current_run.open[a], current_run.open[b] = true, true
  end
  return a, b
end

return testing
