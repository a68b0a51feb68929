-- spec/model/model.lua: a reference model of corral's semantics (docs/model.md and
-- docs/api.md), in plain Lua, for model-based random testing (spec/model_spec.lua,
-- tools/fuzz.lua).
--
-- The model is a second, deliberately naive implementation of the part of the
-- corral API that the random programs use (run, now, sleep, checkpoint, group,
-- scope, spawn, cancel, stop, wait_stopping, wait, is_cancelled, ...). The same
-- interpreter (spec/model/interp.lua) runs a program once on the real module and
-- once on this one, and the two event logs must be identical.
--
-- What the documentation (docs/) says is written here as directly as possible:
--   * cancellation is level-triggered: a task is cancelled while any scope it can
--     see (up to and including the nearest shield) is cancelled; every
--     cancellation point then raises; nothing is remembered per task;
--   * the Cancelled names the outermost cancelled scope the task can see, and
--     carries that scope's source / reason / origin;
--   * which scope absorbs it is decided when it reaches each scope's exit
--     (Trio's rule, docs/model.md): a scope catches it iff, at that moment,
--     it is cancelled and no cancelled scope outside it is visible; otherwise
--     it goes on as the Cancelled of the scope that would catch it now (an
--     outer cancel that arrived while it unwound moves the catch outward);
--     a Cancelled whose scope has exited is an ordinary error;
--   * a group waits for its children; the first failure cancels the group unless
--     defer_errors (a body error always cancels); failures make an ErrorGroup;
--     Cancelled is never a failure; a Cancelled that reached the group (from the
--     body, or a child whose own scope did not catch it) is judged at the group's
--     exit, after the children finished;
--   * entering a group or scope is not a cancellation point; a delivered wake-up
--     wins over a later cancel (a t:cancel that comes after it, before the task
--     runs, is not owed: a return then ends the task done, unless it meets a
--     cancellation point a shield hides it from, which owes it again); cancel
--     after exit does nothing.
--
-- The scheduling discipline (needed to compare logs in total order) is the one
-- the engine documents: a FIFO run queue; a task runs until it blocks; spawned
-- tasks are queued at spawn time; sleep(0)/checkpoint requeue at the back; timers
-- (sleeps, deadlines, stop graces) fire in (time, order set) order once nothing
-- can run, the virtual clock jumping to the earliest; a cancel wakes the parked
-- tasks it reaches in a pre-order walk of the cancelled scope's subtree (a
-- scope's owner first, then its child scopes in the order they were entered,
-- not descending into shielded scopes).
local M = {}

local INF = math.huge
local pack, unpack = table.pack, table.unpack

local E -- the running model engine (nil outside M.run)

-- --- error values ----------------------------------------------------------

local Cancelled = { __name = "model.Cancelled" }
Cancelled.__index = Cancelled
function Cancelled.__tostring(e)
  local s = "Cancelled"
  if e.reason ~= nil then s = s .. ": " .. tostring(e.reason) end
  return s .. " (source=" .. tostring(e.source) .. (e.origin and (", origin=" .. e.origin) or "") .. ")"
end

local Timeout = { __name = "model.Timeout" }
Timeout.__index = Timeout
function Timeout.__tostring(e) return ("Timeout: deadline passed after %.14gs"):format(e.seconds) end

local EG = { __name = "model.ErrorGroup" }
EG.__index = EG
function EG.__len(e) return #e.errors end
function EG.__tostring(e)
  local parts = {}
  for i, err in ipairs(e.errors) do parts[i] = tostring(e.tasks[i]) .. ": " .. tostring(err) end
  return "ErrorGroup{" .. table.concat(parts, ", ") .. "}"
end

function M.is_cancelled(e) return getmetatable(e) == Cancelled end
function M.is_timeout(e) return getmetatable(e) == Timeout end
function M.is_error_group(e) return getmetatable(e) == EG end

-- --- timers ------------------------------------------------------------------

local function new_timer(cb)
  return { cb = cb, when = INF, seq = 0, armed = false }
end

local function timer_stop(tm)
  if tm and tm.armed then
    tm.armed = false
    E.timers[tm] = nil
  end
end

-- Arm tm for `when`; math.huge never fires and is not armed.
local function timer_start(tm, when)
  timer_stop(tm)
  tm.when = when
  if when == INF then return end
  E.next_seq = E.next_seq + 1
  tm.seq = E.next_seq
  tm.armed = true
  E.timers[tm] = true
end

local function timer_top()
  local best
  for tm in pairs(E.timers) do
    if not best or tm.when < best.when or (tm.when == best.when and tm.seq < best.seq) then best = tm end
  end
  return best
end

-- Fire every timer due at `now`, earliest (time, seq) first. Timers armed by a
-- callback wait for the next round.
local function timers_fire(now)
  local limit = E.next_seq
  while true do
    local tm = timer_top()
    if not tm or tm.when > now or tm.seq > limit then return end
    timer_stop(tm)
    tm.cb()
  end
end

-- --- lists -------------------------------------------------------------------

local function remove_value(list, v)
  for i = 1, #list do
    if list[i] == v then
      table.remove(list, i)
      return true
    end
  end
  return false
end

-- --- tasks: run queue, parking, waking ----------------------------------------

local function schedule(t)
  if t.queued then return end
  t.queued = true
  t.status = "scheduled"
  E.runq[#E.runq + 1] = t
end

local function unlink_wait(t)
  if t.wait_list then
    remove_value(t.wait_list, t)
    t.wait_list = nil
  end
end

-- Hand the task its wake-up (status 0: the thing it waited for happened;
-- "cancelled": a cancellation aborted the wait).
local function wake(t, status)
  if t.status ~= "waiting" then return end
  unlink_wait(t)
  t.abort = nil
  t.wake_status = status
  -- a t:cancel from now until it runs comes after its wait was over
  t.delivered = status == 0 and not t.scope.owed
  schedule(t)
end

-- Block the running task until woken. `abort` says what a cancellation does
-- to this wait: "done" (the wait is undone and the task woken) or "late"
-- (not a cancellation point: keep waiting).
local function park(t, abort)
  t.status = "waiting"
  t.abort = abort
  t.wake_status = 0
  coroutine.yield()
end

local function park_in(t, list, abort)
  list[#list + 1] = t
  t.wait_list = list
  park(t, abort)
end

-- Requeue the running task at the back of the run queue.
local function yield_now(t)
  if t.delivered then t.scope.owed = true end   -- still excused (run_task)
  t.abort = nil
  t.wake_status = 0
  schedule(t)
  coroutine.yield()
end

local function abort_unlink(t)
  unlink_wait(t)
  return "done"
end

local function abort_refuse() return "late" end

local function sleep_abort(t)
  timer_stop(t.timer)
  return "done"
end

-- --- scopes ------------------------------------------------------------------

-- Scopes (and groups, which are scopes) keep shield and deadline in shield_ /
-- deadline_ so that `s.shield = x` and `s.deadline = x` go through the setters
-- as they do on the engine's objects.
local Scope = {}
local set_shield, set_deadline
local ScopeMT = {
  __index = function(s, k)
    if k == "shield" then return s.shield_ end
    if k == "deadline" then return s.deadline_ end
    return Scope[k]
  end,
  __newindex = function(s, k, v)
    if k == "shield" then
      assert(type(v) == "boolean", "shield must be a boolean")
      set_shield(s, v)
    elseif k == "deadline" then
      assert(type(v) == "number" and v == v, "deadline must be a number")
      set_deadline(s, v)
    else
      rawset(s, k, v)
    end
  end,
}

local function new_scope(owner, kind)
  E.next_id = E.next_id + 1
  local s = setmetatable({
    id = E.next_id, kind = kind, owner = owner, parent = nil, children = {},
    cancel_called = false, cancel_caught = false, shield_ = false, deadline_ = INF,
    entered = false, exited = false, source = nil, rec = nil,
  }, ScopeMT)
  s.timer = new_timer(function() M._cancel(s, "deadline", nil) end)
  return s
end

local function link(s, parent)
  s.parent = parent
  if parent then parent.children[#parent.children + 1] = s end
  s.entered = true
end

local function unlink(s)
  timer_stop(s.timer)
  if s.parent then remove_value(s.parent.children, s) end
  for _, c in ipairs(s.children) do c.parent = nil end
  s.children = {}
  s.entered = false
  s.exited = true
end

-- The scope that absorbs a Cancelled raised at `s`: the outermost cancelled
-- scope visible from s, looking no further out than the nearest shield.
local function absorber(s)
  local found
  while s do
    if s.cancel_called then found = s end
    if s.shield_ then break end
    s = s.parent
  end
  return found
end

local function make_cancelled(s)
  return setmetatable({
    source = s.source, scope = s, run = E,
    reason = s.rec and s.rec.reason, origin = s.rec and s.rec.origin,
  }, Cancelled)
end

-- M.coverage, when a table, counts what the random programs reach (for
-- tools/fuzz.lua FUZZ_COVERAGE=1).
local function cov(k)
  local c = M.coverage
  if c then c[k] = (c[k] or 0) + 1 end
end

-- The scope that catches a Cancelled going on outward from p when it is one
-- corral delivered: the outermost cancelled scope visible from the first scope
-- on the way that sees one. A shield set since the cancel hides it from later
-- checkpoints, not from this Cancelled, so the walk goes on past shields.
local function catcher(p)
  while p do
    local found = absorber(p)
    if found then return found end
    while p and not p.shield_ do p = p.parent end
    if p then p = p.parent end
  end
  return nil
end

-- Where a Cancelled that reaches s's exit now ends: "absorbed" (s is
-- cancelled and no cancelled scope outside it is visible; cancel_caught is
-- set), or "passed" and the scope that would absorb it now, nil when no
-- cancelled scope is visible at all. Past s, the walk looks as far as the
-- nearest shield, or past shields (catcher) when the Cancelled is one corral
-- delivered: s's owner was found cancelled (saw_cancel), or a child passed it
-- out to the group s (child_passed). A task never found cancelled that raises
-- a Cancelled it was handed has it caught only where it can see a cancel.
-- `where` and `e` (the Cancelled, when known) only feed the coverage counts.
-- A Cancelled that scope `to` absorbs reaches task t's own level unless `to`
-- is one of t's scopes from `from` up (an inner catch): a t:cancel is then
-- no longer owed (see task_main).
local function reached(t, from, to)
  if not t.scope.owed and not t.delivered then return end
  local x = from
  while x and x ~= t.scope do
    if x == to then return end
    x = x.parent
  end
  t.scope.owed, t.delivered = false, false
end

local function judge(s, where, e)
  local owner = s.owner
  local outer = (not s.shield_) and absorber(s.parent) or nil
  if s.cancel_called and not outer then
    s.cancel_caught = true
    if owner then owner.saw_cancel = false end   -- caught: none on its way out
    if e and e.scope ~= s then cov(where .. ": absorbed a Cancelled raised for another scope") end
    return "absorbed"
  end
  local to = outer
  if not to then
    if (owner and owner.saw_cancel) or s.child_passed then
      to = catcher(s.parent)
      if to and to ~= absorber(s.parent) then cov(where .. ": a delivered Cancelled passed a shield set since") end
    else
      to = absorber(s.parent)
    end
  end
  if to and owner then
    owner.saw_cancel = true   -- on its way out
    reached(owner, s.parent, to)
  end
  if s.cancel_called then cov(where .. ": cancelled, passed outward (outer cancel visible)") end
  if e and e.scope == s then cov(where .. ": its own Cancelled moved outward") end
  if not to then cov(where .. ": passed with no cancelled scope visible") end
  return "passed", to
end

-- "live": the Cancelled of a scope still entered in this run; "dead": a
-- Cancelled whose scope has exited (an ordinary error from then on);
-- "plain": not a Cancelled.
local function unwinding(e)
  if getmetatable(e) ~= Cancelled then return "plain" end
  if e.scope and e.scope.entered and e.run == E then return "live" end
  return "dead"
end

local DEAD = "a Cancelled was raised outside the scope it cancelled (that scope has exited, "
  .. "or belongs to another run): it is an ordinary error here"
local STRAY = "a Cancelled reached the end of a task that no cancelled scope encloses"

-- A Cancelled that no scope may absorb, as the plain error saying why.
local function reword(why, e)
  return ("%s (%s)"):format(why, tostring(e))
end

-- Raise Cancelled if task t is inside a cancelled scope.
local function check_cancel(t)
  local s = absorber(t.cur)
  if s then
    t.saw_cancel = true   -- a Cancelled it now unwinds is one corral delivered
    reached(t, t.cur, s)
    error(make_cancelled(s))
  elseif t.delivered then
    -- a point a shield hides it from: a t:cancel excused for the wait before
    -- (run_task) is owed for this one
    cov("task: an excused t:cancel owed again at a point a shield hides it from")
    t.scope.owed, t.delivered = true, false
  end
end

-- Wake every parked task that the cancellation of `root` reaches: pre-order,
-- owner first, then child scopes in entry order, skipping shielded subtrees.
-- A child held back by its group's limit keeps waiting for its slot: once it
-- has one it runs up to its first cancellation point (limit never exceeded).
local function deliver(root)
  local function visit(s)
    local t = s.owner
    if t and t.cur == s and t.status == "waiting" and t.abort then
      if t.abort(t) == "done" then wake(t, "cancelled") end
    end
    for _, c in ipairs(s.children) do
      if not c.shield_ then visit(c) end
    end
  end
  visit(root)
end

local cancel_as_group   -- below

-- Cancel scope s (no-op once cancelled or exited). Returns true if it did.
-- rec = {reason =, origin =}: why, for the Cancelled values it makes.
function M._cancel(s, source, rec)
  if s.cancel_called or s.exited then
    -- a task's own scope cancelled again: the first record stays, the
    -- cancel is owed again
    if s.kind == "task" and not s.exited then s.owed = true end
    return false
  end
  s.cancel_called = true
  s.owed = s.kind == "task"   -- a t:cancel: a return does not drop it
  s.source = source
  s.rec = rec
  timer_stop(s.timer)
  if s.entered then deliver(s) end
  if s.kind == "group" then
    -- A stop's grace has nothing left to end (its timer would hold the run
    -- open, hiding a deadlock).
    if s.stop_timer then timer_stop(s.stop_timer) end
    -- A child still starting (g:start, before ready) lives under its
    -- caller's scope, but it is a child of the group all the same: the
    -- group's cancel reaches it, as a cancel of that child alone sharing the
    -- group's record (so, unless the caller is cancelled too, its own scope
    -- absorbs it and g:start reports it as an error).
    for _, c in ipairs(s.tasks_list) do
      if c.starting then cancel_as_group(c, source, rec) end
    end
  end
  return true
end
local cancel = M._cancel

-- Cancel task c's own scope as its group's cancel (a g:start child away
-- from the group): not a t:cancel, so a return still ends it done.
function cancel_as_group(c, source, rec)
  local owed = c.scope.owed
  if cancel(c.scope, source, rec) then c.scope.as_group = true end
  c.scope.owed = owed   -- a group's cancel owes nothing
end

-- A deadline at or before now cancels at once; math.huge removes it. On a
-- cancelled or exited scope (or a closed group) it is only remembered.
function set_deadline(s, d)
  s.deadline_ = d
  if s.cancel_called or s.exited or s.closed then return end
  if d <= E.now then
    timer_stop(s.timer)
    cancel(s, "deadline", nil)
    return
  end
  timer_start(s.timer, d)
end

-- Dropping a shield exposes the cancellations outside it: the parked tasks it
-- hid are woken as a cancel would wake them.
function set_shield(s, v)
  if s.shield_ == v then return end
  s.shield_ = v
  if s.closed then return end
  if not v and s.entered and s.parent and absorber(s.parent) then deliver(s) end
end

local function scope_enter(t, s, deadline, shield)
  s.shield_ = shield and true or false
  link(s, t.cur)
  t.cur = s
  set_deadline(s, deadline)
end

local function scope_exit(s)
  if not s.entered then return end
  if s.owner and s.owner.cur == s then s.owner.cur = s.parent end
  unlink(s)
end

local function deadline_of(opts)
  local d = INF
  if opts and opts.timeout ~= nil then d = E.now + opts.timeout end
  if opts and opts.deadline ~= nil and opts.deadline < d then d = opts.deadline end
  return d
end

local function current_name()
  return E.current and E.current.name or nil
end

-- s:cancel([reason]) for scopes; groups have their own (a closed group ignores it).
function Scope:cancel(reason)
  if self.kind == "group" and self.closed then return end
  cancel(self, "explicit", { reason = reason, origin = current_name() })
end

-- --- task objects --------------------------------------------------------------

local Task = {}
Task.__index = Task

local function new_task(fn, name, args)
  E.next_id = E.next_id + 1
  local t = setmetatable({
    id = E.next_id, fn = fn, args = args or { n = 0 }, status = "scheduled",
    queued = false, abort = nil, wake_status = 0, wait_list = nil, waiters = {},
    finished = false, outcome = nil, results = nil, group = nil, pending = false,
  }, Task)
  t.name = name or ("task-" .. t.id)
  t.scope = new_scope(t, "task")
  t.timer = new_timer(function() wake(t, 0) end)
  E.ntasks = E.ntasks + 1
  E.tasks[#E.tasks + 1] = t
  return t
end

local function outcome_of(t)
  if t.outcome == "done" then return true, unpack(t.results, 1, t.results.n) end
  return false, t.error
end

function Task:wait()
  local w = E.current
  if w == self then error("task:wait: a task cannot wait for itself") end
  check_cancel(w)
  if self.finished then return outcome_of(self) end
  while true do
    park_in(w, self.waiters, abort_unlink)
    if w.wake_status == 0 and self.finished then return outcome_of(self) end
    check_cancel(w)
    if self.finished then return outcome_of(self) end
  end
end

function Task:cancel(reason)
  if self.finished then return end
  cancel(self.scope, "explicit", { reason = reason, origin = current_name() })
end

-- --- groups --------------------------------------------------------------------

-- Record a failure of group g (error err, raised in the task named `who`).
-- fatal: the body's own error, which always cancels.
-- Failures are numbered when they happen (before an on_error handler runs,
-- which may block) and listed in that order, whenever they are recorded.
local function fail_seq(g)
  g.fail_seq = (g.fail_seq or 0) + 1
  return g.fail_seq
end

-- Past max_errors, one that failed before the last kept takes its place
-- (which is dropped instead): the first max_errors failures are kept.
local function group_fail(g, err, who, fatal, seq)
  seq = seq or fail_seq(g)
  g.errseqs = g.errseqs or {}
  local n = #g.errtasks
  local pos = n + 1
  while pos > 1 and g.errseqs[pos - 1] > seq do pos = pos - 1 end
  local full = g.nerrors >= g.max_errors
  if full then g.dropped = g.dropped + 1 else g.nerrors = g.nerrors + 1 end
  if not full or pos <= n then
    for k = (full and n or n + 1) - 1, pos, -1 do
      g.errs[k + 1], g.errtasks[k + 1], g.errseqs[k + 1] =
        g.errs[k], g.errtasks[k], g.errseqs[k]
    end
    g.errs[pos], g.errtasks[pos], g.errseqs[pos] = err, who, seq
  end
  if fatal or not g.defer then cancel(g, "failure", { origin = who }) end
end

local function wake_all(list)
  while #list > 0 do
    local w = table.remove(list, 1)
    w.wait_list = nil
    wake(w, 0)
  end
end

-- A held child takes a slot and is queued: cancelled or not, it runs its
-- function up to its first cancellation point at least.
local function start_held(t)
  local g = t.group
  remove_value(g.pending, t)
  t.pending = false
  g.nrunning = g.nrunning + 1
  schedule(t)
end

-- Held children start, oldest first, while the limit leaves them room (a
-- cancel lets none go ahead: the limit holds at every instant).
local function start_waiting(g)
  while #g.pending > 0 and (g.limit == 0 or g.nrunning < g.limit) do
    start_held(g.pending[1])
  end
end

local function child_done(g, t)
  remove_value(g.tasks_list, t)
  g.nchildren = g.nchildren - 1
  if t.pending then
    remove_value(g.pending, t)
    t.pending = false
  else
    g.nrunning = g.nrunning - 1
  end
  start_waiting(g)
  if g.nchildren == 0 and g.body_done and g.parent_task.abort == abort_refuse then
    wake(g.parent_task, 0)
  end
end

local function group_close(g)
  if g.closed and not g.entered then return "normal" end
  g.closed = true
  timer_stop(g.stop_timer)
  wake_all(g.stop_waiters)
  local how, to = "normal", nil
  if g.unwound then how, to = judge(g, "group", g.last_cancel) end
  scope_exit(g)
  return how, to
end

function Scope:spawn(spec, ...)
  local g = self
  if g.kind ~= "group" then error("spawn on a non-group") end
  if g.closed then error("group is closed", 0) end
  if g.stopping then error("group is stopping", 0) end
  local fn, name = spec, nil
  if type(spec) == "table" then fn, name = spec[1], spec.name end
  local t = new_task(fn, name, pack(...))
  t.group = g
  link(t.scope, g)
  t.cur = t.scope
  g.tasks_list[#g.tasks_list + 1] = t
  g.nchildren = g.nchildren + 1
  if g.limit > 0 and g.nrunning >= g.limit then
    t.pending = true
    t.status = "scheduled"
    g.pending[#g.pending + 1] = t   -- (cancelled or not: it waits its turn)
  else
    g.nrunning = g.nrunning + 1
    schedule(t)
  end
  return t
end

-- Move task c's scope under `parent` (g:start's child lives under its caller's
-- scope until ready). Away from its group, it still feels a cancel the group
-- already had; and if its new ancestors are cancelled, the cancel reaches it
-- as a cancel of parent would (its wait aborted; held by a limit, it waits on).
local function reparent(c, parent)
  local s = c.scope
  if not s.entered or s.parent == parent then return end
  remove_value(s.parent.children, s)
  s.parent = parent
  parent.children[#parent.children + 1] = s
  local g = c.group
  if g and parent ~= g and g.cancel_called then cancel_as_group(c, g.source, g.rec) end
  if not s.shield_ and absorber(parent) then deliver(s) end
end

-- The caller of g:start stops waiting for child c, still only queued for a
-- slot, and raises its Cancelled: c is cancelled (its own scope, the caller
-- the origin) and becomes the group's child, no longer starting (its ready
-- does nothing), keeping its place in the queue (engine: cr__start_forsaken).
local function start_forsake(c, w)
  cancel(c.scope, "explicit", { origin = w.name })
  if c.group then reparent(c, c.group) end
  c.starting = false
  c.starter = nil
end

-- The caller w's wait for child c. Not a cancellation point once c runs (c's
-- ready or end wakes w; a cancel of w reaches c). While c still waits for a
-- slot of the limit it is one (the slot could never come: w may hold the
-- last one): woken by a cancel, w forsakes c if, read when w runs, w is still
-- cancelled and c still queued; else it waits again (engine:
-- cr_group_start_woken).
local function start_wait(w, c)
  local function abort() return c.pending and "done" or "late" end
  if c.pending and absorber(w.cur) then
    -- parked inside a cancelled scope: the wait is aborted at once
    cov("start: a queued child, the caller cancelled at once")
    w.saw_cancel = true
    w.wake_status = "cancelled"
    schedule(w)
    coroutine.yield()
  else
    park_in(w, c.waiters, abort)
  end
  while w.wake_status == "cancelled" and not c.finished
      and not (c.ready_called and not c.ready_dropped) do
    if c.pending and c.starting and absorber(w.cur) then
      cov("start: the caller gave up on a queued child")
      start_forsake(c, w)
      check_cancel(w)
    end
    cov("start: the caller waits again for its child")
    park_in(w, c.waiters, abort)
  end
end

-- g:start(fn, ...): the child runs under the caller's scope until it calls
-- ready(v), so cancelling the caller cancels it. It is always spawned, even
-- from a cancelled scope or into a cancelled group (it then runs to its
-- first cancellation point). start returns v (but a ready(v) while the
-- caller is cancelled is dropped: the child stays under the caller's
-- cancelled scope); or raises the caller's Cancelled, or else "finished
-- without calling ready", when the child returned; or, when the child's own scope absorbed its Cancelled
-- (t:cancel, its group's cancel), the caller's own Cancelled if the caller
-- is cancelled, else "cancelled before it called ready"; or the child's
-- failure (not a failure of the group) or the Cancelled that passed the
-- child's scope (the caller's).
function Scope:start(spec, ...)
  local w = E.current
  local fn, name = spec, nil
  if type(spec) == "table" then fn, name = spec[1], spec.name end
  local c
  local function ready(v)
    if c.ready_called then error("ready: called twice (the value of g:start can be given only once)", 0) end
    -- too late (the child finished): start reports how it ended instead
    if not c.starting then return end
    c.ready_called = true
    c.ready_value = v
    -- The caller is cancelled: nothing moves, the value is dropped, and
    -- the child's next cancellation point raises the caller's Cancelled.
    if absorber(c.scope.parent) then
      cov("start: ready while the caller is cancelled")
      c.ready_dropped = true
      return
    end
    c.starting = false
    local starter = c.starter
    c.starter = nil
    if not c.finished and c.group then reparent(c, c.group) end
    if starter then wake(starter, 0) end
  end
  if absorber(w.cur) then cov("start: from a cancelled scope") end
  if self.cancel_called then cov("start: into a cancelled group") end
  c = self:spawn({ fn, name = name }, ready, ...)
  c.starting = true
  c.starter = w
  reparent(c, w.cur)
  start_wait(w, c)
  if c.ready_called and not c.ready_dropped then
    cov("start: ready")
    return c.ready_value
  end
  if c.outcome == "done" then
    if absorber(w.cur) then cov("start: finished, the caller's Cancelled") end
    check_cancel(w)
    if c.ready_dropped then        -- a shield hid the caller's cancel since
      cov("start: finished after a dropped ready")
      return c.ready_value
    end
    cov("start: finished without ready")
    error("group:start: the task finished without calling ready", 0)
  end
  if c.outcome == "cancelled" and c.scope.cancel_caught then
    if absorber(w.cur) then cov("start: child absorbed, caller's Cancelled") end
    check_cancel(w)
    if c.ready_dropped then return c.ready_value end   -- it called ready
    cov("start: child absorbed, cancelled before ready")
    error("group:start: the task was cancelled before it called ready", 0)
  end
  if c.outcome == "cancelled" then
    if c.passed.scope ~= c.error.scope then cov("start: the child's Cancelled passed as an outer one") end
    cov("start: the Cancelled that passed the child")
    -- delivered to the caller (if it still waited for c: engine's
    -- mark_starters): it passes a shield set since
    if w.wake_status == 0 then w.saw_cancel = true end
    error(c.passed, 0)
  end
  cov("start: the child's failure")
  error(c.error, 0)
end

function Scope:stop(grace)
  local g = self
  if g.closed then return end
  if grace ~= nil and not (grace >= 0) then error("bad argument #1 to 'stop' (seconds must be >= 0 and not NaN)") end
  if not g.stopping then
    g.stopping = true
    wake_all(g.stop_waiters)
  end
  if g.cancel_called then return end
  -- A second stop can only bring the end closer, and only the stop that
  -- sets the end is the origin of the cancel it ends in.
  if grace ~= 0 and g.stop_timer.armed and
     (grace == nil or grace == INF or E.now + grace >= g.stop_timer.when) then
    return
  end
  g.stopper = current_name()
  if grace == 0 then
    cancel(g, "stop", { origin = g.stopper })
    return
  end
  if grace and grace > 0 and grace ~= INF then timer_start(g.stop_timer, E.now + grace) end
end

function Scope:wait_stopping()
  local g = self
  local t = E.current
  check_cancel(t)
  if g.closed or g.stopping then return end
  while true do
    park_in(t, g.stop_waiters, abort_unlink)
    if t.wake_status == 0 then return end
    check_cancel(t)
    if g.closed or g.stopping then return end
  end
end

function Scope:tasks()
  local out = {}
  if self.closed then return out end
  for i, t in ipairs(self.tasks_list) do out[i] = t end
  return out
end

function M.group(body, opts)
  opts = opts or {}
  local t = E.current
  local g = new_scope(t, "group")
  g.parent_task = t
  g.name = opts.name
  g.defer = opts.defer_errors and true or false
  g.limit = opts.limit or 0
  g.max_errors = opts.max_errors or 1000
  g.on_error = opts.on_error
  g.nerrors, g.dropped, g.errs, g.errtasks = 0, 0, {}, {}
  g.tasks_list, g.pending, g.nchildren, g.nrunning = {}, {}, 0, 0
  g.stopping, g.closed, g.body_done = false, false, false
  g.stop_waiters, g.unwound, g.child_passed = {}, false, false
  E.groups[#E.groups + 1] = g
  g.stop_timer = new_timer(function() cancel(g, "stop", { origin = g.stopper }) end)
  scope_enter(t, g, deadline_of(opts), opts.shield)

  local r = pack(pcall(body, g))
  local interrupted
  if r[1] then
    -- the body returned: its results
  else
    local kind = unwinding(r[2])
    if kind == "live" then
      interrupted = r[2]
      g.unwound = true
      g.last_cancel = r[2]
    else
      if kind == "dead" then cov("group: dead Cancelled from the body is a failure") end
      group_fail(g, kind == "dead" and reword(DEAD, r[2]) or r[2], t.name, true)
    end
  end
  g.body_done = true
  -- Leaving is a schedule point, not a cancellation point: with no child left
  -- to wait for, the task still gives the others one turn (and then waits for
  -- any child spawned meanwhile).
  local turned = false
  while g.nchildren > 0 or not turned do
    if g.nchildren > 0 then park(t, abort_refuse) else yield_now(t) end
    turned = true
  end

  -- Decided now that every child has finished: a Cancelled that reached the
  -- group (from the body, or a child whose own scope did not catch it) is
  -- absorbed here only if no cancelled scope outside is visible now.
  local how, to = group_close(g)
  if g.nerrors > 0 or g.dropped > 0 then
    local errs, tasks = {}, {}
    for i = 1, #g.errs do errs[i], tasks[i] = g.errs[i], g.errtasks[i] end
    error(setmetatable({ errors = errs, tasks = tasks, dropped = g.dropped }, EG))
  end
  if how == "passed" then
    if to then error(make_cancelled(to)) end
    if interrupted then error(interrupted) end   -- nobody can catch it: as it was
    return unpack(r, 2, r.n)
  end
  if interrupted then return end
  return unpack(r, 2, r.n)
end

-- --- scopes from Lua --------------------------------------------------------------

-- Leave scope s, which its body left with error e: "absorbed", or "raise"
-- and the error to raise in its place (the Cancelled of the scope that
-- catches it now; a dead Cancelled reworded as the plain error it is).
local function scope_leave(s, e)
  local kind = unwinding(e)
  local how, to = "normal", nil
  if kind == "live" then how, to = judge(s, "scope", e) end
  scope_exit(s)
  if how == "absorbed" then return "absorbed" end
  if how == "passed" then return "raise", to and make_cancelled(to) or e end
  if kind == "dead" then
    cov("scope: dead Cancelled reworded")
    return "raise", reword(DEAD, e)
  end
  return "raise", e
end

function M.scope(body, opts)
  local t = E.current
  local s = new_scope(t, "scope")
  s.name = opts and opts.name
  scope_enter(t, s, deadline_of(opts), opts and opts.shield)
  local r = pack(pcall(body, s))
  if r[1] then
    scope_exit(s)
    return unpack(r, 2, r.n)
  end
  local how, to = scope_leave(s, r[2])
  if how == "absorbed" then return end
  error(to, 0)
end

local function timeout_scope(seconds, kind, fn, ...)
  local t = E.current
  local s = new_scope(t, "scope")
  scope_enter(t, s, E.now + seconds, false)
  local r = pack(pcall(fn, ...))
  if r[1] then
    scope_exit(s)
    if kind == "move_on" then return true, unpack(r, 2, r.n) end
    return unpack(r, 2, r.n)
  end
  local how, e = scope_leave(s, r[2])
  if how == "absorbed" then
    if kind == "move_on" then return false end
    if s.source == "deadline" then error(setmetatable({ seconds = seconds }, Timeout)) end
    return
  end
  error(e, 0)
end

function M.move_on_after(seconds, fn, ...) return timeout_scope(seconds, "move_on", fn, ...) end
function M.fail_after(seconds, fn, ...) return timeout_scope(seconds, "fail", fn, ...) end

-- --- time ------------------------------------------------------------------------

function M.now() return E.now end
function M.current_task() return E.current end

local sleep_until

function M.sleep(s)
  if type(s) ~= "number" or not (s >= 0) then error("bad argument #1 to 'sleep' (seconds must be >= 0 and not NaN)") end
  return sleep_until(E.now + s)
end

function M.sleep_until(when)
  if type(when) ~= "number" or when ~= when then error("bad argument #1 to 'sleep_until' (time must not be NaN)") end
  return sleep_until(when)
end

-- A time at or before now is a checkpoint; else park until the timer fires.
function sleep_until(when)
  local t = E.current
  if when <= E.now then return M.checkpoint() end
  check_cancel(t)
  while true do
    timer_start(t.timer, when)
    park(t, sleep_abort)
    if t.wake_status == 0 then return end
    check_cancel(t)
    if when <= E.now then return end
  end
end

-- A schedule point first, then the cancellation check (as Trio's).
function M.checkpoint()
  local t = E.current
  yield_now(t)
  check_cancel(t)
end

-- --- events and locks (docs/api.md, as far as cancellation relies on them) -------
--
-- Every wait is a cancellation point, even when it would not block; a wake-up
-- handed over (an event set, a lock passed on) wins over a later cancel; a
-- cancelled waiter leaves the queue, and a released lock goes to the longest
-- waiter.

local Event = {}
Event.__index = Event

function M.event() return setmetatable({ is_set_ = false, waiters = {} }, Event) end

function Event:is_set() return self.is_set_ end

function Event:set()
  if self.is_set_ then return end
  self.is_set_ = true
  wake_all(self.waiters)
end

function Event:wait()
  local t = E.current
  check_cancel(t)
  if self.is_set_ then return end
  while true do
    park_in(t, self.waiters, abort_unlink)
    if t.wake_status == 0 then return end
    check_cancel(t)
    if self.is_set_ then return end
  end
end

local Lock = {}
Lock.__index = Lock

function M.lock() return setmetatable({ value = 1, waiters = {} }, Lock) end

function Lock:acquire()
  local t = E.current
  check_cancel(t)
  while true do
    if self.value > 0 then
      self.value = self.value - 1
      return
    end
    park_in(t, self.waiters, abort_unlink)
    if t.wake_status == 0 then return end -- handed over by release
    check_cancel(t)
  end
end

function Lock:release()
  if #self.waiters > 0 then
    local w = table.remove(self.waiters, 1)
    w.wait_list = nil
    wake(w, 0)
    return
  end
  if self.value >= 1 then error("lock:release: the lock is not held") end
  self.value = self.value + 1
end

-- with(fn, ...): fn's results; released on error and on cancellation.
function Lock:with(fn, ...)
  self:acquire()
  local r = pack(pcall(fn, ...))
  self:release()
  if not r[1] then error(r[2], 0) end
  return unpack(r, 2, r.n)
end

-- --- running -----------------------------------------------------------------------

-- The body of every task's coroutine: run fn, then classify the outcome the way
-- docs/api.md says (a Cancelled is "cancelled", not a failure).
local function task_main(t)
  local fn = t.fn
  local r = pack(pcall(fn, unpack(t.args, 1, t.args.n)))
  if r[1] and t.scope.owed then
    -- cancelled by t:cancel, and no Cancelled reached its level since (no
    -- cancellation point met it): it ends cancelled all the same
    cov("task: returned with its t:cancel owed")
    t.scope.owed = false
    t.scope.cancel_caught = true
    t.outcome = "cancelled"
    t.error = make_cancelled(t.scope)
    return
  elseif r[1] then
    t.outcome = "done"
    t.results = pack(unpack(r, 2, r.n))
    return
  end
  local e = r[2]
  local g = t.group
  local kind = unwinding(e)
  if kind == "live" then
    -- Decided at the task's own scope: it absorbs the Cancelled (t:cancel,
    -- cancel_caught set), or passes it to the group (which judges it at its
    -- exit; not while starting: then it is the starter's to raise), or, when
    -- no cancelled scope can see it, it is a failure of the task.
    local how, to = judge(t.scope, "task", e)
    if how == "absorbed" or to then
      if how == "passed" and g and not t.starting then
        g.unwound, g.child_passed = true, true
        g.last_cancel = e
      end
      t.outcome = "cancelled"
      t.error = e   -- what t:wait() returns; past its own scope it is the
      -- Cancelled of the scope that catches it now (what t:wait() returns
      -- then, and what g:start raises in the caller)
      if how == "passed" then
        t.passed = make_cancelled(to)
        t.error = t.passed
      end
      return
    end
    cov("task: stray Cancelled (a failure)")
    e = reword(STRAY, e)
  elseif kind == "dead" then
    cov("task: dead Cancelled at the end")
    e = reword(DEAD, e)
  end
  t.error = e
  t.outcome = "failed"
  -- A child that g:start still waits for fails to its caller, not to the group.
  if not g or t.starting then return end
  if g.on_error then
    -- on_error(err, task) runs in this task; true = handled (not collected,
    -- cancels nothing); an error in it is a failure of the group instead; a
    -- Cancelled in it leaves the original failure.
    local seq = fail_seq(g)
    local h = pack(pcall(g.on_error, e, t))
    if h[1] then
      if h[2] then return end
      group_fail(g, e, t.name, false, seq)
    elseif M.is_cancelled(h[2]) then
      group_fail(g, e, t.name, false, seq)
    else
      group_fail(g, h[2], t.name, false, seq)
    end
    return
  end
  group_fail(g, e, t.name, false)
end

local function task_finish(t)
  t.finished = true
  t.status = t.outcome
  t.abort = nil
  t.starting = false
  t.starter = nil
  if t.queued then
    remove_value(E.runq, t)
    t.queued = false
  end
  unlink_wait(t)
  timer_stop(t.timer)
  while t.cur and t.cur ~= t.scope do scope_exit(t.cur) end
  if t.scope.entered then unlink(t.scope) end
  t.cur = nil
  wake_all(t.waiters)
  E.ntasks = E.ntasks - 1
  if t.group then child_done(t.group, t) end
end

local function run_task(t)
  if t.delivered and t.scope.owed then
    cov("task: a t:cancel that came after its delivered wake-up is not owed")
  end
  -- (delivered kept while it runs: its next wait owes the cancel again, reowe)
  if t.delivered and t.scope.owed then t.scope.owed = false else t.delivered = false end
  if not t.co then t.co = coroutine.create(task_main) end
  local ok, err = coroutine.resume(t.co, t)
  if not ok then error("model bug in task " .. t.name .. ": " .. tostring(err), 0) end
  if coroutine.status(t.co) == "dead" then task_finish(t) end
end

local DEADLOCK = "deadlock: every task is blocked and nothing can wake them"

local function loop(root)
  while not root.finished do
    while #E.runq > 0 do
      local t = table.remove(E.runq, 1)
      t.queued = false
      t.status = "running"
      E.current = t
      run_task(t)
      E.current = nil
    end
    if root.finished then break end
    local top = timer_top()
    if top then
      if top.when > E.now then E.now = top.when end
      timers_fire(E.now)
    else
      if E.deadlocked then break end
      E.deadlocked = true
      cancel(root.scope, "deadlock", { reason = DEADLOCK })
    end
  end
end

--- Run fn as the root task on the model's virtual clock; like corral.run.
function M.run(fn, opts)
  if E then error("corral.run: cannot be called inside a running task") end
  assert(opts == nil or opts.clock == nil or opts.clock == "virtual", "the model has only a virtual clock")
  E = { now = 0, runq = {}, timers = {}, next_seq = 0, next_id = 0, ntasks = 0, groups = {}, tasks = {} }
  local root = new_task(fn, nil)
  link(root.scope, nil)
  root.cur = root.scope
  schedule(root)
  local ok, err = pcall(loop, root)
  local deadlocked = E.deadlocked
  local root_finished = root.finished
  -- Once the run is over no group can take a spawn: even one that a second
  -- deadlock abandoned reads as closed.
  for _, g in ipairs(E.groups) do g.closed = true end
  -- After a second deadlock the tasks still alive are abandoned: they end
  -- "cancelled" (and will never run again).
  for _, t in ipairs(E.tasks) do
    if not t.finished then
      cov("run: a task abandoned after a second deadlock")
      t.finished = true
      t.status = "cancelled"
    end
  end
  E = nil
  if not ok then error(err, 0) end
  if not root_finished then
    error("corral.run: deadlock: every task is blocked and nothing can wake them (even after cancelling)", 0)
  end
  if deadlocked and root.outcome == "failed" then   -- (as it unwound: the report
    -- heads an ErrorGroup of the root's failure)
    error(setmetatable({ errors = { root.error }, tasks = { root.name }, dropped = 0 }, EG))
  end
  if deadlocked then
    error("corral.run: deadlock: every task was blocked and nothing could wake them (they were cancelled)", 0)
  end
  if root.outcome == "done" then return unpack(root.results, 1, root.results.n) end
  error(root.error, 0)
end

return M
