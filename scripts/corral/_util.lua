-- corral/_util.lua: internal helpers shared by the policy modules (race, gather,
-- map, retry, happy_eyeballs, supervisor). Not part of the public API.
--
-- One helper per idiom: argument and option checks that raise Lua's own
-- "bad argument #n to 'f' (...)" message, running a function while keeping its
-- error and traceback, and building an ErrorGroup from a list of failures.

-- The standard functions as they are now: a program that removes or
-- replaces a global later (a sandbox's `debug = nil`) does not break corral.
-- The functions themselves, not their libraries (`string.format = nil`
-- empties a field of the one table), and no string methods (s:match goes
-- through the string metatable, which a program may empty too): a failure
-- must be reported, not replaced by an error of corral's own. The policy
-- modules do the same.
local error, ipairs, next, pairs, pcall, rawget, require, select, setmetatable,
  tostring, type, xpcall =
  error, ipairs, next, pairs, pcall, rawget, require, select, setmetatable,
  tostring, type, xpcall
local format, gmatch, match = string.format, string.gmatch, string.match
local concat, move, pack, unpack = table.concat, table.move, table.pack, table.unpack
local HUGE, mathtype, tointeger = math.huge, math.type, math.tointeger
local getinfo = debug.getinfo
local corral = require "corral"

local M = {}

-- Argument errors ------------------------------------------------------------

-- arg_error(n, fname, msg [, level]) raises "bad argument #n to 'fname' (msg)"
-- as luaL_argerror does (corral.arg_error). `level` counts as error() does:
-- 1 = where arg_error is called, 2 (the default) = the caller of that function.
M.arg_error = corral.arg_error

-- no_more_args(fname, n, ...): argument n of fname (the policy that calls
-- this) and what follows must not be there: a second options table would
-- be dropped without a word. Blames the policy's caller.
function M.no_more_args(fname, n, ...)
  if select("#", ...) > 0 then M.arg_error(n, fname, "no argument expected", 3) end
end

-- Validators: each returns nil when v is acceptable, else the complaint about
-- `what` (a name such as "timeout" or "children[2].fn").
local is = {}
M.is = is

local function is_number(v) return type(v) == "number" and v == v end
-- ", got string" after a complaint about a value that is no number at all
-- (as corral.group's own options say what they got).
local function got(v)
  return type(v) == "number" and "" or ", got " .. corral._typename(v)
end
-- A whole number that is also a Lua integer (1e308 and 2^63 are whole floats
-- that corral.group's integer options cannot take).
local function is_whole(v) return is_number(v) and tointeger(v) ~= nil end

function is.number_ge(min)
  return function(v, what)
    if not is_number(v) or v < min then
      return format("%s must be a number >= %g%s", what, min, got(v))
    end
  end
end

function is.number_gt(min)
  return function(v, what)
    if not is_number(v) or v <= min then
      return format("%s must be a number > %g%s", what, min, got(v))
    end
  end
end

function is.fraction(v, what)
  if not is_number(v) or v < 0 or v > 1 then
    return what .. " must be a number between 0 and 1" .. got(v)
  end
end

-- An integer >= min, or math.huge when `huge` is set.
function is.integer_ge(min, huge)
  return function(v, what)
    if huge and v == HUGE then return end
    if not is_whole(v) or v < min then
      return format("%s must be an integer >= %d%s%s", what, min,
        huge and " or math.huge" or "", got(v))
    end
  end
end

-- A name: a string that is not empty, or a number, which M.options turns
-- into its string (as corral.group and g:spawn take `name = 3`, and refuse
-- "": checked here, so that the policy's call is blamed, not its group's).
function is.name(v, what)
  if type(v) ~= "string" and type(v) ~= "number" then
    return format("%s must be a string or a number, got %s", what, corral._typename(v))
  end
  if v == "" then return what .. " is empty; leave it out for the default" end
end

-- A name that must be a string (a supervisor child's: the key remove and
-- restart look it up by), not empty.
function is.string_name(v, what)
  if type(v) ~= "string" then
    return format("%s must be a string, got %s", what, corral._typename(v))
  end
  if v == "" then return what .. " is empty" end
end

function is.type(t)
  return function(v, what)
    if type(v) ~= t then   -- got corral.Event, as the C functions say
      if t == "function" then return corral._function_expected(v, what) end
      return format("%s must be a %s, got %s", what, t, corral._typename(v))
    end
  end
end

function is.one_of(list)
  local set, quoted = {}, {}
  for i, v in ipairs(list) do set[v], quoted[i] = true, format("%q", v) end
  local text = concat(quoted, ", ", 1, #quoted - 1) .. " or " .. quoted[#quoted]
  return function(v, what)
    if not set[v] then return format("%s must be %s", what, text) end
  end
end

-- The complaint about table t checked against `spec` (option name -> validator),
-- or nil: an unknown key first (corral.check_options), then the first bad value.
-- Names in messages are prefixed by `prefix` ("children[2]" say).
function M.check_table(t, spec, prefix)
  local unknown = corral.check_options(t, spec, prefix)
  if unknown then return unknown end
  -- raw, as check_options walks it: a __pairs cannot show other keys
  for k, v in next, t do
    local complaint = spec[k](v, prefix and prefix .. "." .. k or k)
    if complaint then return complaint end
  end
end

-- Check the options table `opts` (argument #argn of fname) against `spec` and
-- return a fresh table holding opts over `defaults`. nil is an empty table; an
-- unknown key raises "unknown option 'k'". Must be called directly by the public
-- function, so that the error points at its caller.
function M.options(fname, argn, opts, spec, defaults)
  local out = {}
  for k, v in pairs(defaults or {}) do out[k] = v end
  if opts == nil then return out end
  if type(opts) ~= "table" then
    M.arg_error(argn, fname, "table expected, got " .. corral._typename(opts), 3)
  end
  local complaint = M.check_table(opts, spec)
  if complaint then M.arg_error(argn, fname, complaint, 3) end
  for k, v in next, opts do
    out[k] = spec[k] == is.name and type(v) == "number" and tostring(v) or v
  end
  return out
end

-- The complaint about a key of `list` outside 1..n (n its number of keys),
-- which a loop over 1..#list would never see, or nil: a typo such as
-- {f, x = g} must not drop g silently. `what` names the list.
function M.list_complaint(list, what)
  local n = 0
  for _ in next, list do n = n + 1 end   -- raw: a __pairs shows nothing else
  for k in next, list do
    if mathtype(k) ~= "integer" or k < 1 then
      local shown = type(k) == "string" and format("'%s'", k) or format("[%s]", tostring(k))
      return format("%s must be a list, got key %s", what, shown)
    elseif k > n then
      local hole = 1                      -- raw: an __index must not hide it
      while rawget(list, hole) ~= nil do hole = hole + 1 end
      return format("%s must be a list without holes, got %s[%d] but no %s[%d]", what, what, k, what, hole)
    end
  end
  -- a proxy whose __len answers for values it does not hold: the policies
  -- that read it raw (supervisor) and those that use # must not disagree
  local len = #list
  if len ~= n then
    local shown = type(len) == "string" and format("%q", len)
      or mathtype(len) and tostring(len) or corral._describe(len)
    return format("%s must be a list of the values it holds, but #%s is %s and it holds %d", 
      what, what, shown, n)
  end
end

-- A copy of `list` (argument #argn of fname, `what` in messages, `expected`
-- what a non-table is not) once it is a list (see list_complaint), read raw:
-- a __len or __index asked again could answer otherwise than when checked.
-- The policies work on the copy: what they checked is what they run, even if
-- the caller's table changes while they run (a branch that empties a slot of
-- it, or puts something else there). Raises at the public function's caller.
local function list_copy(fname, argn, list, what, expected)
  if type(list) ~= "table" then
    M.arg_error(argn, fname, expected .. " expected, got " .. corral._typename(list), 4)
  end
  local complaint = M.list_complaint(list, what)
  if complaint then M.arg_error(argn, fname, complaint, 4) end
  local copy, i = {}, 1
  while rawget(list, i) ~= nil do copy[i] = rawget(list, i); i = i + 1 end
  return copy
end

-- Check that `list` (argument #argn of fname) is a list (`what` names it)
-- and return a copy of it (list_copy). Called directly by the public function.
function M.list(fname, argn, list, what)
  local copy = list_copy(fname, argn, list, what, "list")   -- (no tail call:
  return copy                                                -- levels count it)
end

-- Check that `list` (argument #argn of fname) is a non-empty sequence of
-- functions (`empty_ok` allows {}) and return a copy of it (list_copy).
-- Called directly by the public function.
function M.functions(fname, argn, list, empty_ok)
  local fns = list_copy(fname, argn, list, "fns", "list of functions")
  if #fns == 0 and not empty_ok then
    M.arg_error(argn, fname, "list of functions is empty", 3)
  end
  for i = 1, #fns do
    if type(fns[i]) ~= "function" then
      M.arg_error(argn, fname, format("element %d: %s", i, corral._function_expected(fns[i])), 3)
    end
  end
  return fns
end

-- Raise "fname: called outside corral.run" (or from a coroutine corral
-- does not run, or where a task cannot block) at the caller of the public
-- function, as the core names its own calls, rather than let the error of
-- corral.group or another call inside name that call and point into the
-- policy's file. Called directly by the public function, after its
-- argument checks (the core checks arguments first too).
function M.need_run(fname)
  corral._check_blocking(fname, 3)
end

-- Running a function and keeping its outcome -------------------------------

-- A Cancelled that goes on cancelling: its scope is still entered. One
-- re-raised after its scope exited (a child re-raising what t:wait() said of
-- a cancelled task) is an ordinary error, as the core treats it.
local live_cancel = corral._cancel_live  -- (false for any other value)

-- The sources of corral's policy modules as a traceback names them (each
-- module adds its own: M.own_source), so that a program's file in a
-- directory of its own called corral/ is never taken for one.
local POLICY_SRC = {}
-- The sources the task tree's `where` passes over for the user's line: the
-- policies' and the testing kit's (corral._own_sources gives it to C).
local TREE_SRC = corral._own_sources({})

-- The module `level` frames up (1: the caller) is one of corral's own: the
-- tree passes over its lines, and, unless `tree_only`, a branch's
-- traceback ends at its frames.
function M.own_source(level, tree_only)
  local src = getinfo((level or 1) + 1, "S").short_src
  TREE_SRC[src] = true
  if not tree_only then POLICY_SRC[src] = true end
end
M.own_source()

-- Whether short_src src is a policy module's (or this one's).
function M.is_own_source(src)
  return POLICY_SRC[src] ~= nil
end

-- The C frame that calls a branch's function in outcome: xpcall. (A task's
-- traceback ends at corral._call's frame already: lcr_traceback.)
local function branch_caller(line)
  return match(line, "^%s*%[C%]: in function 'xpcall'$") ~= nil
end

-- A frame of a policy module, or the C calls or tail calls between.
local function policy_frame(line)
  local src = match(line, "^%s*(.-):%d+: in ")
  if src then return POLICY_SRC[src] ~= nil end
  return branch_caller(line) or match(line, "^%s*%[C%]: in function 'pcall'$") ~= nil
    or match(line, "^%s*%(%.%.%.tail calls%.%.%.%)$") ~= nil
end

-- A traceback taken in a policy's branch ends as a task's does, at the
-- program's function (then "[C]: in ?", the task's base): the policy's own
-- frames below it are cut. One raised in the policy itself, as when the
-- program's function tail-called it, stays whole.
function M.trim_traceback(tb)
  if type(tb) ~= "string" then return tb end
  local lines = {}
  for line in gmatch(tb .. "\n", "(.-)\n") do lines[#lines + 1] = line end
  local last = #lines
  if lines[last] and match(lines[last], "^%s*%[C%]: in %?$") then last = last - 1 end
  local cut = last
  while cut > 0 and policy_frame(lines[cut]) do cut = cut - 1 end
  -- (kept whole unless a frame of the program's own is left above the cut:
  -- a Lua one, or the C function the policy called as the branch)
  if cut == last or cut == 0 then return tb end
  if not match(lines[cut], "^%s*.-:%d+: in ") and
     not (match(lines[cut], "^%s*%[C%]: in ") and branch_caller(lines[cut + 1])) then
    return tb
  end
  return concat(lines, "\n", 1, cut) .. "\n\t[C]: in ?"
end

-- Call fn(...) and return its outcome as a table: {ok = true, n = k, results...}
-- or {ok = false, err = e, traceback = "e\nstack traceback: ..."}. A live
-- Cancelled is not an outcome: it is raised again, unchanged, so cancellation
-- goes on; so is the task's own cancel (t:cancel) when fn returned without
-- meeting a cancellation point after it: the task ends cancelled, not with
-- those results.
-- on_owed(results...), when given, is called with fn's results before the
-- owed Cancelled is raised (happy_eyeballs closes a stream so returned).
local function outcome_in(at_end, on_owed, fn, ...)
  local tb
  local function handler(e)
    if not live_cancel(e, at_end) then  -- (out of memory: no traceback, e kept)
      -- cut below fn's call in C when fn is a Lua function, else here
      local ok, t, cut = pcall(corral._traceback, corral._describe(e), 3, fn)
      if ok then tb = cut and t or M.trim_traceback(t) end
    end
    return e
  end
  local r = pack(xpcall(fn, handler, ...))
  if r[1] then
    if on_owed and corral._check_owed(true) then on_owed(unpack(r, 2, r.n)) end
    corral._check_owed()
    return move(r, 2, r.n, 1, { ok = true, n = r.n - 1 })
  end
  if live_cancel(r[2], at_end) then error(r[2], 0) end
  -- a stale Cancelled: the ordinary error the core's groups file it as
  return { ok = false, err = corral._dead_cancel(r[2], at_end), traceback = tb or "" }
end

function M.outcome_with(on_owed, fn, ...) return outcome_in(false, on_owed, fn, ...) end
function M.outcome(fn, ...) return outcome_in(false, nil, fn, ...) end

-- The same for a branch whose function is its task's whole body (race,
-- gather, happy_eyeballs): a live Cancelled that no cancelled scope of the
-- task takes (another task's, handed over) is a failure there, as the core
-- makes it at the end of a task.
function M.branch_outcome_with(on_owed, fn, ...) return outcome_in(true, on_owed, fn, ...) end
function M.branch_outcome(fn, ...) return outcome_in(true, nil, fn, ...) end

-- Fan-out -------------------------------------------------------------------

-- Run call(i) for i = 1..n, each in its own child "<opts.name>[i]" of one group
-- with opts.defer_errors, and return {call(1), ..., call(n)} (the first result
-- of each). A failure is the group's: it raises the group's ErrorGroup.
-- With opts.limit, a child is spawned only once a slot is free, so at most
-- `limit` coroutines exist at once (a group's limit would hold back tasks that
-- already have theirs); a cancelled group spawns no more, and a child spawned
-- just before the cancel stops at its first checkpoint, before its call.
-- With opts.settle, a call that cancelled its own task is {ok = false, err =
-- its Cancelled} like any other end (else its entry is nil), and a failure
-- raised while the group was cancelled from outside is raised with the
-- group's Cancelled rather than lost with the results (group_keeping).
function M.run_all(n, call, opts)
  local results, failed = {}, M.failures()
  local slots = opts.limit and opts.limit ~= HUGE and corral.semaphore(opts.limit)
  local function child(i)
    local _ <close> = setmetatable({}, { __close = function(_, e)
      if slots then slots:release() end
      if opts.settle and e ~= nil and results[i] == nil then
        results[i] = { ok = false, err = e, traceback = "" }
      end
    end })
    if slots then corral.checkpoint() end
    local r = call(i)
    -- a call that cancelled its own task did not return (settle's outcome
    -- has asked already, and keeps a failure that came after the cancel)
    if not opts.settle then corral._check_owed() end
    results[i] = r
    if opts.settle and not r.ok then    -- raised while cancelled: not lost
      M.add_branch_failure(failed, r.err, format("%s[%d]", opts.name, i), r.traceback)
    end
  end
  M.group_keeping(failed, function(g)
    for i = 1, n do
      if slots then slots:acquire() end    -- a cancellation point
      g:spawn({ child, name = format("%s[%d]", opts.name, i) }, i)
    end
  end, { name = opts.name, defer_errors = opts.defer_errors })
  -- The group returned (no call left to carry the outer cancel): a call
  -- that failed while it was cancelled from outside is raised all the same.
  M.raise_kept(failed)
  return results
end

-- ErrorGroups ---------------------------------------------------------------

-- A list of failures in the shape ErrorGroups keep: {errors, tasks, tracebacks}.
function M.failures()
  return { errors = {}, tasks = {}, tracebacks = {} }
end

-- The failures a list keeps, as a group keeps by default (max_errors): a
-- race of a million failing branches holds a thousand, and counts the rest.
local MAX_FAILURES = 1000
M.MAX_FAILURES = MAX_FAILURES

-- Append one failure (err, the name it is filed under, its traceback or nil),
-- or count it in list.dropped once MAX_FAILURES are kept (false then). The
-- list may be an ErrorGroup. Counted by names: an error value may be nil, a
-- name never is.
function M.add_failure(list, err, name, traceback)
  local n = #list.tasks + 1
  if n > MAX_FAILURES then
    list.dropped = (list.dropped or 0) + 1
    return false
  end
  list.errors[n], list.tasks[n], list.tracebacks[n] = err, name, traceback or ""
  return true
end

-- An ErrorGroup of the failures in `list` (see failures()), headed by
-- `message` if given (corral.error_group).
function M.error_group(list, message)
  local eg = corral.error_group(list.errors, list.tasks, list.tracebacks, message)
  eg.dropped = list.dropped or 0
  return eg
end

-- Whether the running task is cancelled now: the check a cancellation point
-- makes, without giving up the CPU (so a cancel that comes later is not
-- taken for one that was there when an error was raised).
function M.cancelled_now()
  return not pcall(corral._check_cancel)
end

-- Raise the caller's Cancelled if it is cancelled now, without giving up the
-- CPU: a policy whose group returned while an outer cancel was under way
-- (its losers swallowed their Cancelled, or failed, and so the group had
-- nothing to raise) ends with that Cancelled, as its docs promise.
M.check_cancel = corral._check_cancel

-- A branch of a policy failed (see add_failure). When its task is cancelled
-- (it turned its Cancelled into that error while it was cancelled from
-- outside, or while its cleanup ran), the failure is one the policy may not
-- drop: it is noted in list.under, and raise_kept raises it (see also
-- group_keeping).
function M.add_branch_failure(list, err, name, traceback)
  local kept = M.add_failure(list, err, name, traceback)
  if M.cancelled_now() then
    list.under = list.under or {}
    if kept then list.under[#list.under + 1] = #list.tasks
    else list.under_dropped = (list.under_dropped or 0) + 1 end
  end
end

-- Whether `list` holds a failure the policy may not drop.
local function has_kept(list)
  return list.under ~= nil and (#list.under > 0 or (list.under_dropped or 0) > 0)
end

-- The policy has its result (a branch won): the failures it may drop go,
-- those noted by add_branch_failure stay.
function M.drop_failures(list)
  local kept = M.failures()
  for _, i in ipairs(list.under or {}) do
    M.add_failure(kept, list.errors[i], list.tasks[i], list.tracebacks[i])
  end
  list.errors, list.tasks, list.tracebacks = kept.errors, kept.tasks, kept.tracebacks
  list.dropped = list.under_dropped
  list.under = has_kept(list) and {} or nil
  for i = 1, #kept.tasks do list.under[i] = i end
end

-- Raise the failures in `list` as an ErrorGroup if one of them may not be
-- dropped (add_branch_failure), even though the policy has its result. Asked
-- in the policy's caller once its group has ended: only a cancel from
-- outside the policy counts (a branch that cancelled its own task and then
-- failed was the policy's to weigh).
function M.raise_kept(list)
  if has_kept(list) and M.cancelled_now() then
    error(M.error_group(list), 0)
  end
end

-- corral.group(body, opts) for a policy that keeps its branches' failures in
-- `list` itself rather than letting them fail the group. When the group
-- raises all the same (an outer cancel, its body's error) and a branch
-- failed while it was cancelled (add_branch_failure), the failures are not
-- lost: the group's ErrorGroup takes them, or they make one, which a plain
-- error joins. An outer Cancelled then goes on at the caller's next
-- cancellation point, as for a group whose child failed while it was
-- cancelled. Failures from before the cancel were the policy's to decide on:
-- the Cancelled is raised as it is.
function M.group_keeping(list, body, opts)
  local r = pack(pcall(corral.group, body, opts))
  if r[1] then return unpack(r, 2, r.n) end
  local err = r[2]
  -- its children are the policy's branches: their tracebacks end at the
  -- program's function (a new ErrorGroup, not yet seen by anyone)
  if corral.is_error_group(err) and type(rawget(err, "tracebacks")) == "table" then
    local tbs = rawget(err, "tracebacks")
    for i = 1, #tbs do tbs[i] = M.trim_traceback(tbs[i]) end
  end
  if not has_kept(list) then error(err, 0) end
  error(M.with_failures(nil, true, err, opts.name, list), 0)
end

-- The ErrorGroup to raise for a group that ended (`failed`: raising err,
-- which may be nil or false) together with the failures in `list` that a
-- policy kept itself: `base` if given, else err if it is an ErrorGroup, else
-- a new one, which err joins (filed under `name`) unless it is a Cancelled
-- (that goes on at the caller's next cancellation point).
function M.with_failures(base, failed, err, name, list)
  local eg = base or (failed and corral.is_error_group(err) and err) or M.error_group(M.failures())
  if failed and eg ~= err and not corral.is_cancelled(err) then
    M.add_failure(eg, err, name, "")
  end
  M.add_all(eg, list)
  return eg
end

-- Append every failure of `from` (a list or an ErrorGroup) to `to`, and
-- count its dropped ones there too.
function M.add_all(to, from)
  for i = 1, #from.tasks do
    M.add_failure(to, from.errors[i], from.tasks[i], from.tracebacks[i])
  end
  to.dropped = (to.dropped or 0) + (from.dropped or 0)
end

return M
