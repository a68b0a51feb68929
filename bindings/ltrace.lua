-- ltrace.lua: the ring of engine events (ltrace.c) as Chrome trace-event
-- JSON, for Perfetto (ui.perfetto.dev) and `corral trace-svg`.
--
-- Called as chunk(std, data, write) at the end of a traced run. std holds
-- the standard functions as they were when corral was required (ltrace.c):
-- the program may have removed or replaced the globals since. data holds the
-- records as columns (ts in
-- microseconds, kind, tid, pid, arg, arg2, num, status, wait, flags, seq),
-- strs (strings by ring slot), names ({[id] = name} of what is alive now),
-- gone (groups whose spawn records were dropped: [pid] = name or false,
-- [-pid] = the task running the body), start (the run's start, as ts),
-- dropped, limit and clock; write(s) appends to the file.
--
-- When older records were dropped, a task whose first kept record is not
-- its spawn was already alive: its first slice starts at the first kept
-- record, waiting (its first record is a run or a wake) or running.
--
-- Tracks: a process per group (pid = the group's scope id; the root task's
-- own pid is its id, named "run"), a thread per task (tid = its id).
-- Slices ("X"): cat "run" (a resume), "unwinding" (a resume while a cancel
-- reaches it; a task resumed with what its wait was handed before that cancel
-- came runs on to its next cancellation point, a "run" slice), "wait"
-- (parked; named by what it waits on). Instants ("i"):
-- cat "spawn", "cancel" (on the canceller's track, or the scope owner's
-- when no task cancelled), "cancelled" (on each task it reached), "error",
-- "exit". Flows ("s"/"f"): parent -> child
-- at the child's first run, canceller -> each task the cancel reached, at
-- its next run; both ends always lie inside slices of the file.

local std, data, write = ...
local ipairs, math, pairs, pcall, string, table, tostring, type, utf8 =
  std.ipairs, std.math, std.pairs, std.pcall, std.string, std.table,
  std.tostring, std.type, std.utf8

local SPAWN, RUN, SUSPEND, PARK, WAKE, CANCEL, FAIL, DONE, TARGET =
  0, 1, 2, 3, 4, 5, 6, 7, 8
local WAITING = 2
local SOURCES = { [0] = "none", "explicit", "deadline", "failure", "stop",
  "signal", "host", "deadlock" }
local ENDS = { [3] = "done", [4] = "failed", [5] = "cancelled" }

-- (functions, not methods: a string's methods are the program's string
-- table, whatever it did to it)
local fmt, concat, gsub, sub, byte = string.format, table.concat, string.gsub,
  string.sub, string.byte

local ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r",
  ["\t"] = "\\t" }
-- Valid UTF-8 only: any byte that does not start a valid sequence becomes
-- U+FFFD, so the file is JSON whatever names, reasons and errors held.
-- (A character's length comes from its code point: utf8.offset would skip
-- stray continuation bytes after it, and copy them.)
local function utf8_clean(s)
  if utf8.len(s) then return s end
  local parts, i, n = {}, 1, #s
  while i <= n do
    local ok, cp = pcall(utf8.codepoint, s, i)
    if ok then
      local len = cp < 0x80 and 1 or cp < 0x800 and 2 or cp < 0x10000 and 3 or 4
      parts[#parts + 1] = sub(s, i, i + len - 1)
      i = i + len
    else
      parts[#parts + 1] = "\u{FFFD}"
      i = i + 1
    end
  end
  return table.concat(parts)
end

local function str(s)
  s = gsub(utf8_clean(tostring(s)), '[%c"\\]', function(c)
    return ESC[c] or fmt("\\u%04x", byte(c))
  end)
  return '"' .. s .. '"'
end

-- JSON has no inf or NaN: such a time is clamped to the largest finite one.
local function num(x)
  if x ~= x then x = 0 elseif x == math.huge then x = 1.7e308
  elseif x == -math.huge then x = -1.7e308 end
  return fmt("%.3f", x)
end

-- Output, in batches.
local out, nout, first = {}, 0, true
local function emit(s)
  nout = nout + 1
  out[nout] = (first and "\n" or ",\n") .. s
  first = false
  if nout >= 2000 then write(concat(out, "", 1, nout)); nout = 0 end
end

local function args_json(args)
  local parts = {}
  for k, v in pairs(args) do
    parts[#parts + 1] = str(k) .. ":" .. (type(v) == "number" and
      (math.type(v) == "integer" and tostring(v) or num(v)) or str(v))
  end
  table.sort(parts)
  return "{" .. concat(parts, ",") .. "}"
end

local function event(ph, name, cat, ts, pid, tid, extra, args)
  emit(fmt('{"ph":"%s","name":%s,"cat":"%s","ts":%s,"pid":%d,"tid":%d%s%s}',
    ph, str(name), cat, num(ts), pid, tid, extra or "",
    args and (',"args":' .. args_json(args)) or ""))
end

local C = data
local n = #C.ts
local limit, strs = data.limit, data.strs
local function s1(i) return strs[2 * (C.seq[i] % limit) + 1] end
local function s2(i) return strs[2 * (C.seq[i] % limit) + 2] end

local names, gnames = {}, {}     -- tid -> name, pid -> group name
local gowners = {}               -- pid -> the task running the group's body
local pids, parents = {}, {}     -- tid -> pid, tid -> parent tid
local running, waiting = {}, {}  -- tid -> {ts, name, cat} of an open slice
local label = {}                 -- tid -> what it parked on
local incoming = {}              -- tid -> flows waiting for its next run
local cancels = {}               -- seq -> {ts, pid, tid} of a cancel
local spawned, exited = {}, {}
local nflow = 0
local last_ts = n > 0 and C.ts[n] or 0

for id, name in pairs(data.names) do names[id] = name end

-- (dur is the difference of the two times as written, to the ns: each
-- rounded on its own, a slice could end past the start of the next one
-- once a double no longer holds ts to the ns, after a day of virtual time.)
local function close_slice(open, tid, ts, args)
  local o = open[tid]
  if not o then return end
  open[tid] = nil
  event("X", o.name, o.cat, o.ts, pids[tid], tid,
    fmt(',"dur":%s', num(tonumber(num(ts)) - tonumber(num(o.ts)))), args)
end

-- A flow from wherever `src` was to tid's slice starting at ts.
local function flows_in(tid, ts)
  for _, f in ipairs(incoming[tid] or {}) do
    nflow = nflow + 1
    event("s", f.name, "flow", f.ts, f.pid, f.tid, fmt(',"id":%d', nflow))
    event("f", f.name, "flow", ts, pids[tid], tid,
      fmt(',"id":%d,"bp":"e"', nflow))
  end
  incoming[tid] = nil
end

local function pend(tid, f)
  local list = incoming[tid] or {}
  incoming[tid] = list
  list[#list + 1] = f
end

local handlers = {}
local before_window              -- (below: what a task did before the window)

handlers[SPAWN] = function(i, ts, tid, pid)
  names[tid] = s1(i) or names[tid]
  if s2(i) then gnames[pid] = s2(i) end
  if C.num[i] ~= 0 then gowners[pid] = math.tointeger(C.num[i]) end
  spawned[tid] = true
  local parent = C.arg[i]
  parents[tid] = parent
  -- a parent whose first kept record comes later ran since before the
  -- window (a spawn comes from a running task): its arrows are drawn
  if parent ~= 0 and before_window(SUSPEND, parent) then
    pids[parent] = pids[parent] or C.arg2[i]
  end
  event("i", "spawn " .. (names[tid] or ("task-" .. tid)), "spawn", ts, pid,
    tid, ',"s":"t"', parent ~= 0 and { parent = names[parent] or parent } or nil)
  if parent ~= 0 and running[parent] then
    pend(tid, { name = "spawn", ts = ts, pid = C.arg2[i], tid = parent })
  end
end

-- A resume's slice by the record's flags: no cancel reaches the task; one
-- does (it unwinds); one came after its wait was over (the call it resumes in
-- returns what it was handed: it runs on to its next cancellation point).
local RUN_SLICE = { [0] = { "run", "run" }, { "unwinding", "unwinding" },
  { "run, handed its value before a cancel", "run" } }

handlers[RUN] = function(i, ts, tid)
  close_slice(waiting, tid, ts)
  local kind = RUN_SLICE[C.flags[i]]
  running[tid] = { ts = ts, name = kind[1], cat = kind[2] }
  flows_in(tid, ts)
end

handlers[SUSPEND] = function(i, ts, tid)
  close_slice(running, tid, ts)
  if C.status[i] == WAITING then
    waiting[tid] = { ts = ts, name = label[tid] or "wait", cat = "wait" }
  end
  label[tid] = nil
end

handlers[PARK] = function(i, ts, tid)
  label[tid] = s1(i)
end

handlers[WAKE] = function(i, ts, tid)
  close_slice(waiting, tid, ts,
    { woken = C.status[i] == 0 and "delivered" or "cancelled or failed" })
end

handlers[CANCEL] = function(i, ts, tid, pid)
  local args = { source = SOURCES[C.status[i]] or "?", scope = "#" .. C.arg[i] }
  if s1(i) then args.reason = s1(i) end
  if s2(i) then args.scope = s2(i) .. " #" .. C.arg[i] end
  if tid ~= 0 then args.origin = names[tid] end
  local on_tid, on_pid = tid, pid
  if tid == 0 then on_tid, on_pid = C.arg2[i], math.tointeger(C.num[i]) end
  if on_tid ~= 0 then
    pids[on_tid] = pids[on_tid] or on_pid
    event("i", "cancel (" .. args.source .. ")", "cancel", ts, on_pid, on_tid,
      ',"s":"t"', args)
  end
  cancels[C.seq[i]] = { name = "cancel", ts = ts, pid = pid, tid = tid,
    marked = on_tid, args = args, flow = tid ~= 0 and running[tid] ~= nil }
end

-- The cancel reached task tid: a mark on its track, and a flow from the
-- canceller (if a task) to the task's next run.
handlers[TARGET] = function(i, ts, tid, pid)
  local c = cancels[C.arg[i]]
  if not c or c.tid == tid or c.marked == tid then return end  -- (its cancel)
  event("i", "cancelled (" .. c.args.source .. ")", "cancelled", ts, pid, tid,
    ',"s":"t"', c.args)
  if c.flow then pend(tid, c) end
end

local errored = {}                -- tid -> it has its error mark

local function error_mark(ts, pid, tid, text)
  errored[tid] = true
  event("i", "error", "error", ts, pid, tid, ',"s":"t"', { error = text or "?" })
end

handlers[FAIL] = function(i, ts, tid, pid)
  if tid ~= 0 then error_mark(ts, pid, tid, s1(i)) end
end

handlers[DONE] = function(i, ts, tid, pid)
  names[tid] = names[tid] or s1(i)
  close_slice(running, tid, ts)
  close_slice(waiting, tid, ts)
  incoming[tid] = nil
  exited[tid] = true
  local how = ENDS[C.status[i]] or "done"
  -- a failure no group recorded (the root's, a start child's before ready,
  -- one on_error handled) is marked where the task ends
  if how == "failed" and not errored[tid] then
    error_mark(ts, pid, tid, s2(i))
    ts = ts + 0.001                  -- 1 ns later: the order shows
  end
  event("i", "exit (" .. how .. ")", "exit", ts, pid, tid, ',"s":"t"',
    { status = how })
end

-- What task tid was doing before its first kept record (older ones dropped).
local seen, window = {}, n > 0 and C.ts[1] or 0
-- (A cancel reaching it says nothing of that: the next record decides.)
-- True if tid had not been seen.
function before_window(kind, tid)
  if kind == TARGET or seen[tid] then return false end
  seen[tid] = true
  if data.dropped == 0 or kind == SPAWN then return true end
  if kind == RUN or kind == WAKE then
    waiting[tid] = { ts = window, name = "wait (began before the kept events)",
      cat = "wait" }
  else                                   -- it suspends, parks, fails, ends,
    running[tid] = { ts = window, name = "run", cat = "run" }   -- or cancels
  end
  return true
end

write('{"traceEvents":[')
for i = 1, n do
  local tid, pid = C.tid[i], C.pid[i]
  if tid ~= 0 then pids[tid] = pids[tid] or pid end
  if tid ~= 0 and not seen[tid] then before_window(C.kind[i], tid) end
  handlers[C.kind[i]](i, C.ts[i], tid, pids[tid] or pid)
end
for tid in pairs(running) do close_slice(running, tid, last_ts) end
for tid in pairs(waiting) do close_slice(waiting, tid, last_ts) end
for tid in pairs(spawned) do
  if not exited[tid] then
    event("i", "end of trace (still alive)", "exit", last_ts, pids[tid], tid,
      ',"s":"t"', { status = "alive" })
  end
end

-- Track names: a process per group, a thread per task.
local seen_pid = {}
for tid, pid in pairs(pids) do
  local name = names[tid] or ("task-" .. tid)
  emit(fmt('{"ph":"M","name":"thread_name","pid":%d,"tid":%d,"args":{"name":%s}}',
    pid, tid, str(name .. " #" .. tid)))
  emit(fmt('{"ph":"M","name":"thread_sort_index","pid":%d,"tid":%d,"args":{"sort_index":%d}}',
    pid, tid, tid))
  if not seen_pid[pid] then
    seen_pid[pid] = true
    local g = gnames[pid] or data.names[pid] or data.gone[pid]
    if pids[pid] == pid then g = "run"          -- a root task's own track
    elseif g then g = "group " .. g .. " #" .. pid
    else g = "group #" .. pid end
    local owner = gowners[pid] or data.gone[-pid]
    if owner == 0 then owner = nil end
    if owner and pids[pid] ~= pid then
      g = g .. " in " .. (names[owner] or ("task-" .. owner))
    end
    emit(fmt('{"ph":"M","name":"process_name","pid":%d,"args":{"name":%s}}',
      pid, str(g)))
    emit(fmt('{"ph":"M","name":"process_sort_index","pid":%d,"args":{"sort_index":%d}}',
      pid, pid))
  end
end
write(concat(out, "", 1, nout))
write(fmt('\n],\n"displayTimeUnit":"ms",\n"otherData":{"generator":"corral",' ..
  '"clock":%s,"trace_limit":%d,"dropped_events":%d,"events":%d,' ..
  '"start_ts":%s}}\n', str(data.clock), limit, data.dropped, n, num(data.start)))
