-- lerror.lua: the Lua half of corral's error values (Cancelled, Timeout,
-- ErrorGroup), compiled into corral.so (see cmake/Embed.cmake) and run once
-- per require "corral" by bindings/lerror.c, with:
--   core  arg_error (corral.arg_error, before the module table exists),
--         rawmt (the metatable of a value, ignoring __metatable) and
--         one_line (a value as one line of text, escaped as the task tree
--         shows names)
-- It returns the table the C side keeps: the metatables, timeout(seconds),
-- from_list(list, dropped) (the failures a group collected), new (the public
-- corral.error_group), is_error_group and is_timeout.
--
-- The values are plain tables with metatables, so fields read naturally
-- (e.reason, e.errors). The mechanism that builds them on hot paths is C; the
-- ergonomics (split, flatten, the rendered tree) are here.

-- The standard functions as they are now: a program that removes or
-- replaces a global later (a sandbox's `debug = nil`) does not break corral;
-- `type` is Lua's own, whatever the global says. The functions themselves,
-- not their libraries (`string.format = nil` after require empties a field
-- of the one table), and never a string's methods (s:gsub goes through the
-- string metatable, which a program may empty too): rendering an error must
-- not raise one of its own and hide the failure it reports.
local next, pairs, pcall, rawget, rawlen, setmetatable, tostring =
  next, pairs, pcall, rawget, rawlen, setmetatable, tostring
local getinfo = debug and debug.getinfo
local format, gsub, strsub = string.format, string.gsub, string.sub
local concat = table.concat
local mathtype, min = math.type, math.min
local core = ...
local type = core.type
local arg_error = core.arg_error
-- An error of the argument after self of method fname, called from that
-- method: numbered as its caller called it (e:split(3): #1; e.split(e, 3):
-- #2), as a C method's would be.
local method_error = core.method_error
local function second_arg_error(fname, msg)
  method_error(2, msg, 2, false, fname)
end
-- The metatable a value really has: getmetatable answers a __metatable
-- field instead, which any table can set to pass for an ErrorGroup.
local rawmt = core.rawmt
-- A task name in a rendered group: escaped, so that a newline in it cannot
-- forge a line of the tree, nor an escape sequence reach a terminal.
local one_line = core.one_line

local M = {}

-- "function expected, got X" ("describe must be a function, got X" with
-- `what`), as corral's C functions word it: a callable table is told to
-- be wrapped. corral's one helper for it, which lcorral.c sets as
-- M.function_expected once this file has run.
local function function_expected(v, what) return M.function_expected(v, what) end

-- tostring(v) that never raises (also lio.lua's, through its core).
-- (Out of memory is not a failed __tostring: the text says so, and a C
-- host's message made then is not kept for good.)
local MEMERR = 'not enough memory'    -- Lua's own message for it
local NOMEM_TEXT, nomem_seen = core.nomem_text, core.nomem_seen

local function safe(v)
  local ok, s = pcall(tostring, v)
  if ok and type(s) == 'string' then return s end
  if s == MEMERR then
    nomem_seen()
    return NOMEM_TEXT
  end
  return '(a ' .. type(v) .. ' value whose __tostring failed)'
end
M.describe = safe

-- Cancelled -------------------------------------------------------------------

local Cancelled = {__name = 'corral.Cancelled'}
Cancelled.__index = Cancelled
-- Protected: a Cancelled stays one (corral checks the values it raised by
-- identity while their cancel lives), and getmetatable still answers it.
Cancelled.__metatable = Cancelled
function Cancelled.__tostring(e)
  local s = 'Cancelled'
  if e.reason ~= nil then s = s .. ': ' .. safe(e.reason) end
  local why = {}
  if e.source then why[#why + 1] = 'source=' .. safe(e.source) end
  if e.origin then why[#why + 1] = 'origin=' .. safe(e.origin) end
  if #why > 0 then s = s .. ' (' .. concat(why, ', ') .. ')' end
  return s
end
M.Cancelled = Cancelled

-- Timeout ---------------------------------------------------------------------

local Timeout = {__name = 'corral.Timeout'}
Timeout.__index = Timeout
function Timeout.__tostring(e)
  return format('Timeout: deadline passed after %.14gs', e.seconds)
end
function M.timeout(seconds)
  return setmetatable({seconds = seconds}, Timeout)
end
M.Timeout = Timeout

-- ErrorGroup ------------------------------------------------------------------

local EG = {__name = 'corral.ErrorGroup'}
EG.__index = EG
local function is_eg(e) return type(e) == 'table' and rawmt(e) == EG end
-- Count by task names: an error value may be nil, a name never is. Its
-- fields are plain and may have been edited: what is not a table is empty,
-- and a __len given to it is not asked (raw length).
local function count(e)
  local tasks = rawget(e, 'tasks')
  return type(tasks) == 'table' and rawlen(tasks) or 0
end
local function field(e, k, i)         -- (raw: an edited list's __index
  local t = rawget(e, k)                 -- cannot make rendering raise)
  if type(t) == 'table' then return rawget(t, i) end
end

-- The ErrorGroup of a group's failure list {errors, tasks, tracebacks}, as
-- it is (no copy: the group is done with it).
function M.from_list(list, dropped)
  return setmetatable({errors = list.errors, tasks = list.tasks,
    tracebacks = list.tracebacks, dropped = dropped or 0}, EG)
end

-- The complaint about table t, argument of error_group named `what`: a key
-- outside 1..n (n = #tasks), or a value that is not a string when `strings`
-- is set; nil if there is none.
local function bad_entries(t, what, n, strings)
  for k, v in next, t do                 -- (raw: no __pairs is called)
    if mathtype(k) ~= 'integer' or k < 1 or k > n then
      return format('%s[%s] has no task name (#tasks is %d)', what, safe(k), n)
    elseif strings and type(v) ~= 'string' then
      return format('%s[%d] must be a string, got %s', what, k, type(v))
    end
  end
end

-- Argument n of error_group: a table (or nil when optional).
local function checktable(v, n, optional)
  if optional and v == nil then return {} end
  if type(v) ~= 'table' then
    arg_error(n, 'error_group', 'table expected, got ' .. type(v), 3)
  end
  return v
end

-- corral.error_group(errors, tasks [, tracebacks [, message]]): a new
-- ErrorGroup of #tasks failures: errors[i] the raw error value (nil allowed)
-- of the task named tasks[i], tracebacks[i] its traceback ('' if none). The
-- tables are copied. With a message, it heads tostring(eg).
function M.new(errors, tasks, tracebacks, message)
  errors = checktable(errors, 1)
  tasks = checktable(tasks, 2)
  tracebacks = checktable(tracebacks, 3, true)
  if message ~= nil and type(message) ~= 'string' then
    arg_error(4, 'error_group', 'string expected, got ' .. type(message))
  end
  local n = rawlen(tasks)                -- (no __len is asked)
  local bad = bad_entries(tasks, 'tasks', n, true)
  for i = 1, bad == nil and n or 0 do    -- a hole inside the border
    if rawget(tasks, i) == nil then
      bad = format('tasks[%d] must be a string, got nil', i)
      break
    end
  end
  if bad then arg_error(2, 'error_group', bad) end
  bad = bad_entries(errors, 'errors', n, false)
  if bad then arg_error(1, 'error_group', bad) end
  bad = bad_entries(tracebacks, 'tracebacks', n, true)
  if bad then arg_error(3, 'error_group', bad) end
  local e = {errors = {}, tasks = {}, tracebacks = {}, dropped = 0, message = message}
  for i = 1, n do
    e.errors[i], e.tasks[i], e.tracebacks[i] = errors[i], tasks[i], tracebacks[i] or ''
  end
  return setmetatable(e, EG)
end

function EG.__len(e) return count(e) end

-- The failures a group dropped (past max_errors), 0 if the field was edited.
local function dropped_of(e)
  local d = rawget(e, 'dropped')
  return mathtype(d) == 'integer' and d > 0 and d or 0
end

-- The part of e that `keep` selects, carrying `dropped` failures; nil when
-- it would hold nothing at all.
local function sub(e, keep, dropped)
  local r, n = {errors = {}, tasks = {}, tracebacks = {}}, 0
  for i = 1, count(e) do
    if keep[i] then
      n = n + 1
      if keep[i] == true then r.errors[n] = field(e, 'errors', i) else r.errors[n] = keep[i] end
      r.tasks[n], r.tracebacks[n] = field(e, 'tasks', i), field(e, 'tracebacks', i)
    end
  end
  if n == 0 and dropped == 0 then return nil end
  return setmetatable({errors = r.errors, tasks = r.tasks,
    tracebacks = r.tracebacks, dropped = dropped, message = e.message}, EG)
end

-- Raise, at the caller of the method fname, when self is no ErrorGroup; a
-- call with a dot (e.split(pred)) is told that the dot is the mistake.
local function check_eg(self, fname)
  if is_eg(self) then return end
  local mt = rawmt(self)
  local got = type(mt) == 'table' and type(rawget(mt, '__name')) == 'string'
    and rawget(mt, '__name') or type(self)
  local msg = 'corral.ErrorGroup expected, got ' .. got
  local how = getinfo and getinfo(2, 'n')     -- how the method was called
  if not (how and how.namewhat == 'method') then
    msg = msg .. '; call a method with a colon: e:' .. fname .. '(...)'
  end
  arg_error(1, fname, msg, 3)
end

-- split of top: a stack of its own (as flatten), so that any depth splits.
-- A group found inside itself (on the path from the top) is not entered
-- again, as flatten does. A group found again elsewhere (two tasks raised
-- the same one) is split once, and its two parts used again: a group that
-- holds another twice at each of 20 levels is 21 groups to split, not 2^20.
-- Each frame holds a group, where it is and the parts of it taken so far.
local function split_in(top, pred)
  local open, done = { [top] = true }, {}
  local stack = { { e = top, n = count(top), i = 0, yes = {}, no = {} } }
  while true do
    local f = stack[#stack]
    if f.i >= f.n then
      open[f.e] = nil
      -- Dropped failures were never seen, so no predicate matched them:
      -- they stay with the rest, which a handler re-raises.
      local a, b = sub(f.e, f.yes, 0), sub(f.e, f.no, dropped_of(f.e))
      done[f.e] = { a or false, b or false }
      stack[#stack] = nil
      local p = stack[#stack]
      if p == nil then return a, b end
      p.yes[p.i], p.no[p.i] = a or nil, b or nil
    else
      f.i = f.i + 1
      local err = field(f.e, 'errors', f.i)
      if is_eg(err) and done[err] then
        f.yes[f.i], f.no[f.i] = done[err][1] or nil, done[err][2] or nil
      elseif is_eg(err) then
        if not open[err] then
          open[err] = true
          stack[#stack + 1] = { e = err, n = count(err), i = 0, yes = {}, no = {} }
        end
      elseif pred(err) then
        f.yes[f.i] = true
      else
        f.no[f.i] = true
      end
    end
  end
end

function EG:split(pred)
  check_eg(self, 'split')
  if type(pred) ~= 'function' then
    second_arg_error('split', function_expected(pred))
  end
  return split_in(self, pred)
end

-- The failures of top, nested groups flattened, depth first with a stack of
-- its own, so that any depth flattens: the first k of them (all without k),
-- and how many there are. A group found inside itself is not entered again;
-- with `once`, neither is a group found again anywhere (each distinct group
-- walked once, as render shows it once). A failure whose error value was
-- nil leaves a hole, as in e.errors (a plain list has no room for n).
local function leaves_of(top, once, k)
  local out, n, open = {}, 0, { [top] = true }
  local groups, next_i, depth = { top }, { 1 }, 1
  while depth > 0 do
    local g, i = groups[depth], next_i[depth]
    if i > count(g) then
      if not once then open[g] = nil end
      groups[depth], depth = nil, depth - 1
    else
      next_i[depth] = i + 1
      local err = field(g, 'errors', i)
      if not is_eg(err) then
        n = n + 1
        if not k or n <= k then out[n] = err end
      elseif not open[err] then
        open[err], depth = true, depth + 1
        groups[depth], next_i[depth] = err, 1
      end
    end
  end
  return out, n
end

function EG:flatten()
  check_eg(self, 'flatten')
  return (leaves_of(self, false))
end

-- The line that heads an ErrorGroup, at the top or nested: its message if
-- it has one, else "ErrorGroup: n failures"; then the count of the dropped.
local function heading(e)
  local n, dropped = count(e), dropped_of(e)
  local msg = rawget(e, 'message')
  local head = msg ~= nil and safe(msg)
    or format('ErrorGroup: %d failure%s', n, n == 1 and '' or 's')
  if dropped > 0 then
    head = head .. format(' (+%d dropped)', dropped)
  end
  return head
end

-- Nesting deeper than this is summed up in one line (flatten() has it all).
local MAX_DEPTH = 100

-- A traceback starts with its error's message, which the line above it
-- shows already: the part after it.
local function trace_part(tb, msg)
  if type(tb) ~= 'string' or tb == '' then return nil end
  if strsub(tb, 1, #msg + 1) == msg .. '\n' then return strsub(tb, #msg + 2) end
  return (gsub(tb, '^[^\n]*\n', ''))
end

-- How many of the failures of a group nested too deep to show are shown.
local DEEP_SHOWN = 3

-- The failures of err, a group nested too deep to show, flattened: the
-- first DEEP_SHOWN of them under its line, so that what went wrong at the
-- bottom (a "C stack overflow" of groups nested in one task) is not hidden.
local function too_deep(err, lines, indent)
  local leaves, n = leaves_of(err, true, DEEP_SHOWN)
  for i = 1, min(n, DEEP_SHOWN) do
    local last = i == n
    local text = one_line(safe(leaves[i]))
    lines[#lines + 1] = indent .. (last and '`- ' or '|- ') .. text
  end
  if n > DEEP_SHOWN then
    lines[#lines + 1] = indent .. format('`- (and %d more)', n - DEEP_SHOWN)
  end
end

-- The lines of e below its heading. `open` holds the groups being rendered
-- (one inside itself would never end) as true, and those rendered already
-- as false: a group found again (two tasks raised the same one) is named,
-- not rendered again, or a group holding another twice at each of 20
-- levels would take 2^20 renderings.
-- o: the options, tracebacks (a boolean) and describe (nil or a function of
-- a leaf error to its text; one that fails or gives no string: as safe).
local function leaf_text(err, describe)
  if describe then
    local ok, s = pcall(describe, err)
    if ok and type(s) == 'string' then return s end
  end
  return safe(err)
end

local function render(e, lines, indent, o, open, depth)
  local n = count(e)
  open[e] = true
  for i = 1, n do
    local err, last = field(e, 'errors', i), i == n
    local branch, cont = last and '`- ' or '|- ', last and '   ' or '|  '
    local head = indent .. branch .. '[' .. one_line(safe(field(e, 'tasks', i) or '?')) .. '] '
    if is_eg(err) and open[err] then
      lines[#lines + 1] = head .. '(this ErrorGroup again: it contains itself)'
    elseif is_eg(err) and open[err] == false then
      lines[#lines + 1] = head .. heading(err) .. ' (the same ErrorGroup as above)'
    elseif is_eg(err) and depth >= MAX_DEPTH then
      lines[#lines + 1] = head .. heading(err) ..
        ' (nested too deep to show; its failures, flattened:)'
      too_deep(err, lines, indent .. cont)
    elseif is_eg(err) then
      lines[#lines + 1] = head .. heading(err)
      render(err, lines, indent .. cont, o, open, depth + 1)
    else
      local text = leaf_text(err, o.describe)
      lines[#lines + 1] = head .. gsub(text, '\n', '\n' .. indent .. cont)
      local tb = o.tracebacks and trace_part(field(e, 'tracebacks', i), safe(err))
      if tb and tb ~= '' then
        lines[#lines + 1] = indent .. cont .. '  ' ..
          gsub(tb, '\n', '\n' .. indent .. cont .. '  ')
      end
    end
  end
  open[e] = false
  return lines
end

function EG:render(opts)
  check_eg(self, 'render')
  if opts ~= nil and type(opts) ~= 'table' then
    second_arg_error('render', 'table expected, got ' .. type(opts))
  end
  for k in pairs(opts or {}) do
    if k ~= 'tracebacks' and k ~= 'describe' then
      second_arg_error('render', "unknown option '" .. one_line(safe(k)) .. "'")
    end
  end
  local o = { tracebacks = opts ~= nil and opts.tracebacks or nil,
              describe = opts ~= nil and opts.describe or nil }
  if o.tracebacks ~= nil and type(o.tracebacks) ~= 'boolean' then   -- as every boolean option
    second_arg_error('render', 'tracebacks must be a boolean, got ' .. type(o.tracebacks))
  end
  if o.describe ~= nil and type(o.describe) ~= 'function' then
    second_arg_error('render', function_expected(o.describe, 'describe'))
  end
  return concat(render(self, { heading(self) }, '', o, {}, 1), '\n')
end

function EG.__tostring(e) return e:render() end

M.ErrorGroup = EG
M.is_error_group = is_eg
function M.is_timeout(e) return type(e) == 'table' and rawmt(e) == Timeout end

return M
