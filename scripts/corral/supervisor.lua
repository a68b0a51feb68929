-- corral/supervisor.lua: Erlang/OTP-style supervision of long-running children.
--
--   local supervisor = require "corral.supervisor"
--   supervisor.run({strategy = "one_for_one", children = {
--     {name = "worker", fn = function(child) ... end},
--   }})
--
-- supervisor.run(spec [, body]) blocks like corral.group: it starts the children in
-- order, restarts them as `strategy` says when they end, and returns once the body
-- (if any) has returned and no child is left to run, or after sup:stop(). More than
-- `intensity` restarts within `period` seconds make it give up: it cancels the body
-- at once, stops the other children and raises an ErrorGroup of the failures inside
-- the window, with
-- eg.message = "supervisor: restart intensity exceeded (N restarts in P s)"
-- ("1 restart" when intensity is 0; "since it started" when period is math.huge).
-- See docs/policies.md for every option and the choices made.
--
-- How it works: each child instance is a task of the supervisor's group that runs
-- fn(child) as the body of a group of its own, so that it can be stopped with its
-- shutdown grace (g:stop) and wait for that (child:wait_stopping()). One manager
-- task owns every decision: instances report their end to it through an unbounded
-- inbox, and sup:add/remove/restart/stop send it requests and wait for the reply.
-- An instance never blocks after its function ended, so the manager can always
-- wait for one it stops.
--
-- Children start one at a time, in start order, as OTP's do: every start (the
-- initial children, those a restart takes along, sup:add, sup:restart) puts its
-- instances at the end of one chain, and each calls its fn only once the one
-- before it has begun (called its fn); one stopped before it began leaves the
-- chain. The body runs once every initial child has begun, and sup:add and
-- sup:restart return once the child has begun, counting begins per child: the
-- instance first started may be stopped before it begins and replaced.

-- The standard functions as they are now: a program that removes or
-- replaces a global later (a sandbox's `debug = nil`) does not break corral.
-- (The functions themselves, and no string methods: see corral/_util.lua.)
local error, getmetatable, io, ipairs, pcall, rawget, rawlen, require,
  setmetatable, tonumber, tostring, type =
  error, getmetatable, io, ipairs, pcall, rawget, rawlen, require,
  setmetatable, tonumber, tostring, type
local getinfo = debug.getinfo
local format, gsub = string.format, string.gsub
local pack, unpack = table.pack, table.unpack
local HUGE, max, min, tointeger = math.huge, math.max, math.min, math.tointeger
local corral = require "corral"
local util = require "corral._util"
util.own_source()                 -- (its frames end a branch's traceback)

local is = util.is
local M = {}

-- Options --------------------------------------------------------------------

local CHILD = {
  name = is.string_name,
  fn = is.type("function"),
  restart = is.one_of({ "permanent", "transient", "temporary" }),
  shutdown = is.number_ge(0),
}

local BACKOFF = {
  delay = is.number_ge(0),
  factor = is.number_ge(0),
  max_delay = is.number_ge(0),
}

-- The complaint about one child spec, or nil.
local function child_complaint(c, what)
  if type(c) ~= "table" then return format("%s must be a table, got %s", what, corral._typename(c)) end
  local bad = util.check_table(c, CHILD, what)
  if bad then return bad end
  if rawget(c, "name") == nil then return what .. ".name must be a string, got nil" end
  if rawget(c, "fn") == nil then return what .. ".fn must be a function, got nil" end
end

local function children_complaint(list, what)
  if type(list) ~= "table" then return format("%s must be a list, got %s", what, corral._typename(list)) end
  local bad = util.list_complaint(list, what)
  if bad then return bad end
  local seen = {}
  for i = 1, rawlen(list) do               -- raw, as its keys were checked
    local c = rawget(list, i)
    local bad = child_complaint(c, format("%s[%d]", what, i))
    if bad then return bad end
    local name = rawget(c, "name")
    if seen[name] then
      return format("%s[%d].name '%s' is used twice", what, i, name)
    end
    seen[name] = true
  end
end

local function backoff_complaint(b, what)
  if type(b) ~= "table" then return format("%s must be a table, got %s", what, corral._typename(b)) end
  return util.check_table(b, BACKOFF, what)
end

local SPEC = {
  strategy = is.one_of({ "one_for_one", "one_for_all", "rest_for_one" }),
  intensity = is.integer_ge(0, true),
  period = is.number_gt(0),
  backoff = backoff_complaint,
  on_restart = is.type("function"),
  on_failure = is.type("function"),
  children = children_complaint,
  name = is.name,
}

local DEFAULTS = { strategy = "one_for_one", intensity = 3, period = 5, name = "supervisor" }

-- Handles (sup, child) -------------------------------------------------------

-- Raise, at the caller of the method `fname`, when self is not a handle of
-- kind `mt` that this module made (a key of `made`), as the core's methods
-- do; a call with a dot (sup.stop()) is told so, since the mistake is the dot,
-- not the argument. A table given the metatable by hand is not one.
local function check_self(self, fname, mt, made)
  if made[self] ~= nil then return end
  local kind = getmetatable(self)
  local msg
  if kind == mt then
    msg = format("%s expected, got a table supervisor.run did not make (it only has its "
      .. "metatable)", mt.__name)
  else
    local got = type(kind) == "table" and type(kind.__name) == "string" and kind.__name or type(self)
    msg = format("%s expected, got %s", mt.__name, got)
    local how = getinfo(2, "n")
    if not (how and how.namewhat == "method") then
      msg = format("%s; call a method with a colon: obj:%s(...)", msg, fname)
    end
  end
  util.arg_error(1, fname, msg, 3)
end

-- The inbox: an unbounded queue the manager waits on -------------------------

local function post(sup, msg)
  sup.tail = sup.tail + 1
  sup.inbox[sup.tail] = msg
  sup.wake:set()
end

-- Until every instance started (initial, restarted, added) has begun or
-- left the chain (unlink sets sup.drained then).
-- A stop starts nothing more, and a request behind the exit (a remove of a
-- child still in its backoff, an add) is handled without waiting for the
-- backoff: the exit goes first, then the request, in order.
local function chain_begun(sup)
  while sup.pending and not sup.stop_cap and (sup.requests or 0) == 0 do
    sup.drained = sup.drained or corral.event()
    sup.drained:wait()
  end
end

-- End a chain_begun wait: the chain drained, or a stop was asked.
local function drained(sup)
  local ev = sup.drained
  if ev then
    sup.drained = nil
    ev:set()
  end
end

local function next_message(sup)
  while sup.head > sup.tail do
    sup.wake:wait()
    sup.wake = corral.event()
  end
  -- As OTP takes an exit only once init, or the restart before it, has
  -- started its children: a child that ended at once is restarted after
  -- the starts before its exit have begun, so that a one_for_all restart
  -- cannot stop a later child (an initial one, one sup:add is waiting
  -- for) before it ever runs, for ever. (The end of an instance the manager
  -- stopped itself needs no turn.) The exit stays in the inbox
  -- meanwhile: a manager cancelled while it waits leaves it to
  -- close_inbox, which keeps its failure.
  local head = sup.inbox[sup.head]
  if head.kind == "exit" and not head.inst.stopping then chain_begun(sup) end
  local msg = sup.inbox[sup.head]
  sup.inbox[sup.head], sup.head = nil, sup.head + 1
  if msg.reply then sup.requests = sup.requests - 1 end
  return msg
end

-- Records (one per child spec) ---------------------------------------------
--
-- The records are kept in start order in a doubly linked list (sup.first ..
-- sup.last, rec.prev_rec / rec.next_rec) with a name -> record map beside it,
-- so that add and remove cost O(1) however many children there are.

local function new_record(c)                 -- raw, as its keys were checked
  return {
    name = rawget(c, "name"), fn = rawget(c, "fn"),
    restart = rawget(c, "restart") or "permanent",
    shutdown = rawget(c, "shutdown") or 5, restarts = 0, status = "running", begins = 0,
  }
end

local function append(sup, rec)
  rec.prev_rec = sup.last
  if sup.last then sup.last.next_rec = rec else sup.first = rec end
  sup.last, sup.by_name[rec.name], sup.count = rec, rec, sup.count + 1
end

-- Wake whoever waits in wait_started for rec.
local function notify(rec)
  local ev = rec.changed
  if ev then rec.changed = nil; ev:set() end
end

-- Wait until more than `since` instances of rec have begun (called their fn),
-- or rec has ended for good. A waiter counts begins rather than waiting on one
-- instance, because the instance it would wait on may be stopped before it
-- begins (by a restart that takes it along) and replaced by another.
local function wait_started(rec, since)
  while rec.begins <= since and not rec.gone do
    rec.changed = rec.changed or corral.event()
    rec.changed:wait()
  end
end

-- rec has ended for good: it leaves the list, and its waiters are told.
local function forget(sup, rec)
  local p, n = rec.prev_rec, rec.next_rec
  if p then p.next_rec = n else sup.first = n end
  if n then n.prev_rec = p else sup.last = p end
  sup.by_name[rec.name], sup.count, rec.gone = nil, sup.count - 1, true
  notify(rec)
end

-- The records from `from` (default: the first) to the last, in start order.
local function records_from(sup, from)
  local list, r = {}, from or sup.first
  while r do list[#list + 1], r = r, r.next_rec end
  return list
end

local function forget_all(sup)
  for _, r in ipairs(records_from(sup)) do forget(sup, r) end
end

-- The chain of instances (one per start) --------------------------------------
--
-- Children start one at a time, in start order: the instances started and not
-- yet begun form one chain (inst.prev / inst.next, sup.pending its tail), in
-- the order their fns must be called. Only the head may begin (its `go` is
-- set); when it begins or leaves (it was stopped first), the next one may go.
-- Every start joins it, sup:add and sup:restart too, so that none overtakes a
-- one_for_all or rest_for_one restart that is waiting out its backoff. A
-- one_for_one restart joins it once its backoff is over: it restarts one child,
-- which no later start depends on, and a child crashing in a loop with a long
-- backoff must not hold up sup:add.

local function new_instance(rec, wait)
  return { rec = rec, wait = wait or 0, go = corral.event() }
end

local function link(sup, inst)
  inst.prev, inst.linked = sup.pending, true
  if inst.prev then inst.prev.next = inst else inst.go:set() end
  sup.pending = inst
end

-- inst takes old's place in the chain (a manual restart of a child that has
-- not begun keeps its turn); old leaves it.
local function replace(sup, old, inst)
  inst.prev, inst.next, inst.linked = old.prev, old.next, true
  if inst.prev then inst.prev.next = inst else inst.go:set() end
  if inst.next then inst.next.prev = inst else sup.pending = inst end
  old.prev, old.next, old.linked = nil, nil, false
end

local function unlink(sup, inst)
  if not inst.linked then return end
  local prev, nxt = inst.prev, inst.next
  if prev then prev.next = nxt elseif nxt then nxt.go:set() end
  if nxt then nxt.prev = prev else sup.pending = prev end
  inst.prev, inst.next, inst.linked = nil, nil, false
  if sup.pending == nil then drained(sup) end
end

-- What a child's fn receives.
local Child = { __name = "corral.SupervisorChild" }
Child.__index = Child
local instance_of = setmetatable({}, { __mode = "k" })   -- child -> its instance

function Child:wait_stopping(...)
  check_self(self, "wait_stopping", Child, instance_of)
  corral._no_more_args(2, true, ...)
  util.need_run("child:wait_stopping")
  return instance_of[self].group:wait_stopping()
end

-- inst is about to call its fn: the next instance in the chain may begin.
-- Setting events does not yield, so inst's fn runs up to its first yield
-- before the next instance's fn (or a waiter of wait_started) runs.
local function begin(sup, inst)
  unlink(sup, inst)
  inst.began = true
  inst.rec.begins = inst.rec.begins + 1
  notify(inst.rec)
end

-- A failure no policy dealt with is kept for supervisor.run to raise, as a
-- group raises its children's: one of an instance that ended once the manager
-- had ended (an outer cancellation, a hook that raised), or whose end the
-- manager had not taken (inst.taken) when it ended. The failure a restart
-- was for (inst.cause) was dealt with when the restart was decided (and
-- on_restart, if any, heard of it): a stop, an outer cancellation or a
-- hook raising for another child that cuts the restart short (in its
-- backoff, say) does not raise it again.
local function lose(sup, inst)
  local out = inst.outcome
  if out and not out.ok and not inst.taken then
    util.add_failure(sup.lost, out.err, inst.rec.name, out.traceback)
  end
end

-- inst ended by itself: until the manager takes its end (it may be busy
-- stopping another child), rec shows what comes next, as handle.exit decides
-- it: "restarting", or ended for good (rec.ended: sup:children() skips it).
local function show_ended(inst)
  local rec = inst.rec
  if inst.stopping or rec.inst ~= inst then return end
  local failed = inst.outcome ~= nil and not inst.outcome.ok
  if rec.restart == "permanent" or (rec.restart == "transient" and failed) then
    rec.status = "restarting"
  else
    rec.ended = true
  end
end

-- fn(child) in a task of the instance's group, so that what asks for the
-- group of its task (corral.tcp.serve, a handler's wait_stopping) finds the
-- group the supervisor stops. The Cancelled that ends it when fn cancelled
-- its own task is noted: that group absorbs it.
local function run_fn(sup, inst)
  local rec = inst.rec
  local _ <close> = setmetatable({}, { __close = function(_, err)
    inst.cancelled = err ~= nil and corral.is_cancelled(err) and err   -- (which one)
  end })
  if inst.group.stopping or sup.stop_cap then return end   -- (see run_instance)
  if not inst.stopping then rec.status = "running" end
  local child = setmetatable({ name = rec.name, restarts = rec.restarts }, Child)
  instance_of[child] = inst
  begin(sup, inst)
  -- (fn is all its instance's task runs, bar the group it opened for it:
  -- another task's live Cancelled is a failure there, as a race's branch's)
  inst.outcome = util.branch_outcome(rec.fn, child)
  -- failed: the tasks it spawned in the group end with it, as a failing
  -- group body's children do (returned, the child lasts until they end)
  if not inst.outcome.ok then inst.group:cancel() end
end

-- The child's outcome once its group raised `out` (the failures of tasks fn
-- spawned there): that failure, or, when fn failed too, one ErrorGroup of
-- both, fn's first (filed under the child's name).
local function both(inst, out)
  local own, eg = inst.outcome, out.err
  if own == nil or own.ok then return out end
  local list = util.failures()
  util.add_failure(list, own.err, inst.rec.name, own.traceback)
  if corral.is_error_group(eg) then
    util.add_all(list, eg)
  else
    util.add_failure(list, eg, inst.rec.name, out.traceback)
  end
  return { ok = false, err = util.error_group(list), traceback = own.traceback }
end

-- Once the manager has ended and every instance too, nothing is left to run:
-- no child is listed any more, and the stops waiting for that (wait_children)
-- return.
local function closed_and_ended(sup)
  if not sup.closed or sup.alive > 0 then return end
  forget_all(sup)
  if sup.all_ended then sup.all_ended:set() end
end

-- The task of one instance: wait out the backoff and its turn in the chain,
-- run fn(child) in a group of its own, then report the outcome (nil when it
-- was stopped before fn ran, or was cancelled when its shutdown grace ran out, or
-- when fn cancelled its own task). A failure of another task in that group
-- (one fn spawned there) is the child's failure too (both). The report is a
-- <close>: a Cancelled that ends
-- the instance's task (corral.current_task():cancel() in fn) still reaches the
-- manager, which would otherwise count the child as running for ever.
local function run_instance(sup, inst)
  local rec = inst.rec
  local _ <close> = setmetatable({}, { __close = function(_, err)
    sup.alive = sup.alive - 1
    inst.cancelled = inst.cancelled or (err ~= nil and corral.is_cancelled(err) and err)
    unlink(sup, inst)                         -- stopped before it began
    if sup.closed then
      lose(sup, inst)
      return closed_and_ended(sup)
    end
    show_ended(inst)
    post(sup, { kind = "exit", inst = inst })
  end })
  local out = util.outcome(corral.group, function(cg)
    inst.group, sup.child_groups[cg] = cg, true
    if inst.stop_grace then cg:stop(inst.stop_grace) end
    if inst.wait > 0 and not cg.stopping then
      corral.move_on_after(inst.wait, cg.wait_stopping, cg)
    end
    if inst.late and not inst.linked and not cg.stopping then link(sup, inst) end
    if not cg.stopping then inst.go:wait() end   -- stop() sets go too
    -- a stop asked meanwhile, not yet handled, starts nothing either
    if cg.stopping or sup.stop_cap then return end
    inst.fn_task = cg:spawn({ run_fn, name = rec.name }, sup, inst)
  end, { name = rec.name })
  if not out.ok then inst.outcome, inst.cancelled = both(inst, out), false end
end

-- Spawn the task of inst, which is in the chain already.
local function launch(sup, inst)
  local rec = inst.rec
  rec.inst, rec.status, rec.ended = inst, inst.wait > 0 and "restarting" or "running", nil
  inst.task = sup.group:spawn({ function() run_instance(sup, inst) end, name = rec.name })
  sup.alive = sup.alive + 1
end

-- Start rec's new instance after `wait` seconds, at the end of the chain
-- (a one_for_one restart: at its end once the wait is over).
local function start(sup, rec, wait)
  local inst = new_instance(rec, wait)
  inst.late = wait > 0 and sup.spec.strategy == "one_for_one"
  if not inst.late then link(sup, inst) end
  launch(sup, inst)
end

-- A <close> value for the block that deals with child `name`'s end (a failure
-- `err` when `failed`): unless the block sets guard.done, because a hook
-- raised, the failure is kept for supervisor.run to raise (see lose). The
-- manager's Cancelled (an outer cancellation) cuts the dealing short in
-- peace once the failure was handed to the hook that hears of it
-- (guard.heard), or when there is no such hook (`hook`: nothing would have
-- heard of it).
local function unless_done(sup, failed, name, err, traceback, hook)
  return setmetatable({}, { __close = function(g, e)
    -- (a Cancelled whose scope has exited, raised by a hook, is no cancel)
    local peace = e ~= nil and corral._cancel_live(e) and (g.heard or not hook)
    if failed and not g.done and not peace then
      util.add_failure(sup.lost, err, name, traceback)
    end
  end })
end

-- Failures that restart nothing: on_failure(name, err), or a line on stderr.
local function report(sup, name, err, traceback)
  local hook = sup.spec.on_failure
  if hook then
    local guard <close> = unless_done(sup, true, name, err, traceback, hook)
    guard.heard = true
    hook(name, err)
    guard.done = true
    return
  end
  -- names escaped: a newline in one cannot forge a line of the log;
  -- io.stderr as the program has it now, or the process's (corral._say)
  corral._say(function()
    return format("%s: child '%s' failed: %s\n", corral._one_line(sup.name),
      corral._one_line(name), corral._describe(err))
  end)
end

-- Stop rec's instance as by g:stop(grace) (grace = its shutdown, capped by `cap`)
-- and wait until it has ended. A failure of the instance (while it wound down, or
-- just before) restarts nothing: it is reported. Its exit message is then ignored.
-- A sup:stop(grace) requested meanwhile caps the grace too (cut_grace). Once it
-- has ended, rec shows what comes next (sup:children()): "restarting" when
-- `again` (a sibling's restart takes it along), else ended for good.
local function stop(sup, rec, cap, again)
  local inst = rec.inst
  if not inst then
    if not again then rec.ended = true end
    return
  end
  inst.stopping, rec.status = true, "stopping"
  local grace = min(rec.shutdown, cap or HUGE, sup.stop_cap or HUGE)
  -- A child's own fn that asked for this (its restart, its removal, a stop)
  -- waits for the answer: it ends at once rather than after its grace.
  if sup.asker and (sup.asker == inst.task or sup.asker == inst.fn_task) then
    grace = 0
  end
  inst.stop_grace = grace
  if inst.group then inst.group:stop(grace) end
  inst.go:set()                             -- it need not wait for its turn to end
  sup.winding = inst
  inst.task:wait()
  sup.winding = nil
  rec.inst, inst.taken = nil, true
  if again then rec.status = "restarting" else rec.ended = true end
  local out = inst.outcome
  if out and not out.ok then report(sup, rec.name, out.err, out.traceback) end
end

-- Stop these records' instances in reverse order, one at a time; `again`:
-- those a restart takes along (all but temporary ones and those that had
-- ended for good) are to start again.
local function stop_reversed(sup, recs, cap, again)
  for i = #recs, 1, -1 do
    local r = recs[i]
    stop(sup, r, cap, again and r.restart ~= "temporary" and not r.ended)
  end
end

-- Stop every child, in reverse order, and forget them all: the supervisor is done.
local function stop_all(sup, cap)
  stop_reversed(sup, records_from(sup), cap)
  forget_all(sup)
  sup.done = true
end

-- Restarts -------------------------------------------------------------------

-- The intensity window is a deque (w.first .. w.last), so pruning it costs
-- O(1) per restart dropped rather than a shift of the whole window.
local function window_size(w) return w.last - w.first + 1 end

-- The failures of the window that a give-up reports: the newest (the older
-- are counted as dropped), as many as a list of failures keeps.
local KEPT_FAILURES = util.MAX_FAILURES

-- Record a restart at now and drop those more than `period` ago (one exactly
-- `period` ago still counts). True when the intensity is exceeded. Its time
-- goes in w.t; its failure in w.info while it is among the newest
-- KEPT_FAILURES, so that a window as wide as a large intensity holds
-- numbers, not every error and traceback. With a period of math.huge no
-- restart ever leaves the window, so it keeps no times at all: a supervisor
-- of unbounded intensity restarting for ever holds a count, not a list.
local function count_restart(sup, name, err, traceback)
  local now, w = corral.now(), sup.window
  w.last = w.last + 1
  w.info[w.last] = { name = name, err = err, traceback = traceback }
  w.info[w.last - KEPT_FAILURES] = nil
  if sup.spec.period == HUGE then return window_size(w) > sup.spec.intensity end
  w.t[w.last] = now
  while now - w.t[w.first] > sup.spec.period + 1e-9 do
    w.t[w.first], w.info[w.first], w.first = nil, nil, w.first + 1
  end
  return window_size(w) > sup.spec.intensity
end

local function backoff_wait(sup)
  local b = sup.spec.backoff
  if not b then return 0 end
  local delay, factor, max = b.delay or 0.1, b.factor or 2, b.max_delay or 10
  return min(delay * factor ^ (window_size(sup.window) - 1), max)
end

-- The period in the give-up message: "in 5 s", "in 1000000 s", "in 0.333 s",
-- "in 2.5 s", and "since it started" for math.huge (every restart counts).
local function period_text(p)
  if p == HUGE then return "since it started" end
  local i = tointeger(p)
  if i and i < 1e15 then return format("in %d s", i) end
  local text = format("%.3g", p)                 -- 0.333, 1e+20
  if p >= 1 and p < 1e15 then text = gsub(format("%.2f", p), "%.?0+$", "") end  -- 2.5
  return format("in %s s", text)
end

local function give_up(sup)
  local failures, w = util.failures(), sup.window
  local from = max(w.first, w.last - KEPT_FAILURES + 1)
  for i = from, w.last do
    local f = w.info[i]
    util.add_failure(failures, f.err, f.name, f.traceback)
  end
  failures.dropped = from - w.first       -- the older ones, counted
  local n = window_size(w)
  sup.gave_up = util.error_group(failures,
    format("supervisor: restart intensity exceeded (%d %s %s)",
      n, n == 1 and "restart" or "restarts", period_text(sup.spec.period)))
  -- the body first: it is told at once, as a failing group's body is, and
  -- asks nothing of a supervisor that is winding down
  if sup.body_scope then sup.body_scope:cancel("supervisor: restart intensity exceeded") end
  stop_all(sup)
  sup.group:cancel("supervisor: restart intensity exceeded")
end

-- The records a restart of rec takes along, in start order.
local function affected(sup, rec)
  local strategy = sup.spec.strategy
  if strategy == "one_for_one" then return { rec } end
  return records_from(sup, strategy == "rest_for_one" and rec or nil)
end

-- A restart that a stop overtook starts nothing. True if so. The failure it
-- was for is reported (as one while the child wound down would be), so that
-- no crash goes unheard, unless on_restart has heard of it (`heard`): then
-- the restart dealt with it, and a stop that cuts it short leaves in peace,
-- as OTP does not report at shutdown the crashes it handled.
local function overtaken(sup, rec, failed, err, traceback, heard)
  if not sup.stop_cap then return false end
  if failed and not heard then report(sup, rec.name, err, traceback) end
  return true
end

-- Restart rec after its instance ended: failed (with err, which may be nil or
-- false), or not (it returned, or cancelled its own task: how says which).
local function restart(sup, rec, failed, err, traceback, how)
  if overtaken(sup, rec, failed, err, traceback) then return end
  local why = err
  if not failed then
    why = format("supervisor: child '%s' %s (a permanent child is restarted whenever "
      .. "it ends; restart = \"transient\" restarts it only after a failure)", rec.name, how)
  end
  if count_restart(sup, rec.name, why, traceback) then return give_up(sup) end
  local wait, recs = backoff_wait(sup), affected(sup, rec)
  local others = {}
  for _, r in ipairs(recs) do if r ~= rec then others[#others + 1] = r end end
  local guard <close> = unless_done(sup, failed, rec.name, err, traceback,
                                    sup.spec.on_restart)
  stop_reversed(sup, others, nil, true)
  if sup.spec.on_restart and not sup.stop_cap then
    guard.heard = true
    sup.spec.on_restart(rec.name, err, rec.restarts + 1)
  end
  guard.done = true                        -- (a raising hook leaves it undone)
  -- a stop came meanwhile (while the others wound down, in on_restart, or
  -- from it): report keeps the failure itself if on_failure raises
  if overtaken(sup, rec, failed, err, traceback, guard.heard) then return end
  for _, r in ipairs(recs) do
    -- (ended: for good, its end not taken yet: a transient that returned)
    if r ~= rec and (r.restart == "temporary" or r.ended) then
      forget(sup, r)
    else
      r.restarts = r.restarts + 1
      start(sup, r, wait)
    end
  end
end

-- The manager's messages ----------------------------------------------------

local handle = {}

function handle.exit(sup, msg)
  local inst = msg.inst
  local rec, out = inst.rec, inst.outcome
  local failed = out and not out.ok
  if inst.stopping then return end         -- stop() has dealt with it
  rec.inst, inst.taken = nil, true
  if rec.restart == "temporary" or (rec.restart == "transient" and not failed) then
    forget(sup, rec)
    if failed then report(sup, rec.name, out.err, out.traceback) end
    return
  end
  if failed then
    restart(sup, rec, true, out.err, out.traceback)
  else
    -- (the Cancelled says who cancelled it, and why)
    restart(sup, rec, false, nil, nil, inst.cancelled
      and format("was cancelled (%s)", tostring(inst.cancelled)) or "returned")
  end
end

function handle.body_done(sup)
  sup.body_done = true
end

-- What add and restart say once a stop has been asked for (see restart).
local function is_stopping(kind)
  return format("supervisor:%s: the supervisor is stopping", kind)
end

function handle.add(sup, msg)
  if sup.stop_cap then
    msg.err = is_stopping("add")
    return
  end
  if sup.by_name[msg.child.name] then
    msg.err = format("supervisor:add: a child named '%s' already exists", msg.child.name)
    return
  end
  local rec = new_record(msg.child)
  append(sup, rec)
  start(sup, rec, 0)
  msg.rec, msg.since = rec, 0
end

local function named(sup, msg)
  local rec = sup.by_name[msg.name]
  if rec and rec.ended then rec = nil end   -- ended for good (children() agrees)
  if not rec then msg.err = format("supervisor:%s: no child named '%s'", msg.kind, msg.name) end
  return rec
end

-- (rec.removed: an add or a restart of it waiting for its start raises)
function handle.remove(sup, msg)
  local rec = named(sup, msg)
  if not rec then return end
  rec.removed = true
  stop(sup, rec)
  forget(sup, rec)
end

-- The new instance is in the chain before the old one is stopped, so that it
-- takes the old one's turn if that had not begun (it waits out no backoff).
function handle.restart(sup, msg)
  local rec = named(sup, msg)
  if not rec then return end
  if sup.stop_cap then
    msg.err = is_stopping("restart")
    return
  end
  local old, inst = rec.inst, new_instance(rec, 0)
  if old and old.linked then replace(sup, old, inst) else link(sup, inst) end
  stop(sup, rec, nil, true)
  if sup.stop_cap then                     -- asked while the old one wound down
    unlink(sup, inst)
    msg.err = is_stopping("restart")
    return
  end
  -- One that had not begun (a restart still waiting) is replaced: the new
  -- instance takes its place and its count.
  if not (old and not old.began) then rec.restarts = rec.restarts + 1 end
  msg.rec, msg.since = rec, rec.begins
  launch(sup, inst)
end

function handle.stop(sup, msg)
  stop_all(sup, msg.grace)
end

-- What a request to a supervisor that has stopped raises.
local function has_stopped(kind)
  return format("supervisor:%s: the supervisor has stopped", kind)
end

-- Raise that the supervisor has stopped, at `level` above the caller of
-- this; but a caller that is cancelled (its cancel may be what stopped the
-- supervisor) raises its Cancelled, as any call that cannot go on does.
local function raise_stopped(kind, level)
  if corral.current_task() then corral._check_cancel() end
  error(has_stopped(kind), level + 1)
end

-- Once the manager has ended, nothing waits for an answer in vain, and the
-- failures it did not take are kept (see lose).
local function close_inbox(sup)
  sup.closed = true
  for i = sup.head, sup.tail do
    local msg = sup.inbox[i]
    if msg.kind == "exit" then lose(sup, msg.inst) end
    if msg.reply then
      -- a stop of a supervisor that has stopped does nothing
      if msg.kind ~= "stop" then msg.err = has_stopped(msg.kind) end
      msg.reply:set()
    end
  end
end

-- The manager ended by an error or a Cancelled (a hook that raised or that
-- cancelled the manager's own task, an outer cancel): nothing would restart
-- or stop the children any more, so the supervisor's group is cancelled
-- (a no-op for an outer cancel, which reaches it anyway).
local function manage(sup)
  local _ <close> = setmetatable({}, { __close = function(_, err)
    close_inbox(sup)
    closed_and_ended(sup)
    if err ~= nil then
      sup.failed = true
      sup.group:cancel("the supervisor's own task ended")
    end
  end })
  while not sup.done and not (sup.body_done and sup.count == 0) do
    local msg = next_message(sup)
    sup.asker = msg.from
    handle[msg.kind](sup, msg)
    sup.asker = nil
    if msg.reply then msg.reply:set() end
    if sup.stop_asked and not sup.done then stop_all(sup) end   -- by a hook
  end
end

-- The supervisor object given to the body -----------------------------------

local Sup = { __name = "corral.Supervisor" }
Sup.__index = Sup
local sups = setmetatable({}, { __mode = "k" })   -- those supervisor.run made

-- Whether the running task is sup's manager (a hook it runs is calling).
local function in_manager(sup)
  return corral.current_task() == sup.manager
end

-- Send a request to the manager and wait for its answer; `level` 3 points
-- errors at the caller of the method.
local function request(sup, msg)
  -- (outside a run, or in a coroutine corral does not run: said before
  -- anything is asked, at the caller's line)
  corral._check_blocking("supervisor:" .. msg.kind, 3)
  if sup.closed then raise_stopped(msg.kind, 3) end
  if in_manager(sup) then
    error(format("supervisor:%s: called from on_restart or on_failure, which the "
      .. "supervisor's own task runs: it would wait for itself", msg.kind), 3)
  end
  -- A cancelled caller's request is not made: the call raises its
  -- Cancelled, as a blocking call does, and nothing happened.
  corral._check_cancel()
  msg.reply, msg.from = corral.event(), corral.current_task()
  sup.requests = (sup.requests or 0) + 1
  post(sup, msg)
  drained(sup)                               -- a manager waiting for starts
  msg.reply:wait()
  if msg.err then
    -- (a caller whose cancel ended the supervisor meanwhile: its Cancelled)
    if sup.closed and corral.current_task() then corral._check_cancel() end
    error(msg.err, 3)
  end
  return msg
end

-- What an add or a restart whose child a remove overtook raises: for a
-- restart, what one asked after the remove would raise, and why.
local function removed_first(kind, name)
  if kind == "add" then
    return format("supervisor:add: child '%s' was removed before it started", name)
  end
  return format("supervisor:restart: no child named '%s' (it was removed before it "
    .. "restarted)", name)
end

-- Wait until the child of an add or a restart has begun. One that ended for
-- good without beginning was stopped by a restart (a temporary child: the
-- call returns), or by a remove, a stop or a give-up that overtook the
-- request, which raises. (The answer comes before the child begins, so a
-- remove asked meanwhile may be handled first; the call must not return as
-- if the child ran: OTP, which handles one call at a time, answers a
-- restart_child after a delete_child with {error, not_found}.)
local function await_begin(sup, msg)
  local rec = msg.rec
  wait_started(rec, msg.since)
  if rec.begins > msg.since then return end
  if rec.removed then error(removed_first(msg.kind, rec.name), 3) end
  if sup.stop_cap then error(is_stopping(msg.kind), 3) end
  if sup.done or sup.closed then raise_stopped(msg.kind, 3) end
end

function Sup:add(child, ...)
  check_self(self, "add", Sup, sups)
  corral._no_more_args(3, true, ...)
  local bad = child_complaint(child, "child")
  if bad then util.arg_error(1, "add", bad, 2) end
  await_begin(self, request(self, { kind = "add", child = child }))
end

function Sup:remove(name, ...)
  check_self(self, "remove", Sup, sups)
  corral._no_more_args(3, true, ...)
  if type(name) ~= "string" then util.arg_error(1, "remove", "string expected, got " .. corral._typename(name), 2) end
  request(self, { kind = "remove", name = name })
end

function Sup:restart(name, ...)
  check_self(self, "restart", Sup, sups)
  corral._no_more_args(3, true, ...)
  if type(name) ~= "string" then util.arg_error(1, "restart", "string expected, got " .. corral._typename(name), 2) end
  await_begin(self, request(self, { kind = "restart", name = name }))
end

-- A stop is the last request that matters: whatever the manager is doing
-- when it is asked (winding a child down for a restart, say) takes at most
-- `grace` more, and no restart starts a child after it (see restart).
local function cut_grace(sup, grace)
  sup.stop_cap = min(sup.stop_cap or HUGE, grace)
  drained(sup)                               -- a manager waiting for starts
  local inst = sup.winding
  if inst and inst.group and sup.stop_cap < inst.stop_grace then
    inst.stop_grace = sup.stop_cap           -- (a stop that shortens nothing
    inst.group:stop(sup.stop_cap)            -- would take the origin over)
  end
end

-- Once the supervisor's own task has failed or was cancelled (a hook raised,
-- an outer cancel), nothing stops the children in order any more: they are
-- being cancelled. A stop then returns once the instances' tasks have all
-- ended (sup.alive counts them; see closed_and_ended), as it does when it
-- stops them itself; but not in a task of the supervisor's group or of a
-- child's, which would wait for itself.
local function wait_children(sup)
  if not sup.failed then return end
  local g = corral.current_task().group
  if g == sup.group or sup.child_groups[g] then return end
  while sup.alive > 0 do
    sup.all_ended = sup.all_ended or corral.event()
    sup.all_ended:wait()
  end
end

function Sup:stop(grace, ...)
  check_self(self, "stop", Sup, sups)
  corral._no_more_args(3, nil, ...)
  -- an argument converts, as g:stop's does ("3")
  if type(grace) == "string" then grace = tonumber(grace) or grace end
  if grace ~= nil and is.number_ge(0)(grace, "grace") then
    util.arg_error(1, "stop", "grace must be a number >= 0", 2)
  end
  if self.closed then                         -- stopped already: nothing to ask,
    -- but a cancelled caller raises its Cancelled first, as add does
    -- (outside any run, nothing: as g:stop() on a group that has exited)
    local ok, task = pcall(corral.current_task)
    if ok and task then
      corral._check_cancel()
      wait_children(self)
    end
    return
  end
  util.need_run("supervisor:stop")            -- (before the grace is cut)
  if not in_manager(self) then corral._check_cancel() end   -- as request
  cut_grace(self, grace or HUGE)
  if in_manager(self) then
    self.stop_asked = true                    -- from a hook: once it returns
    return
  end
  request(self, { kind = "stop", grace = grace })
  wait_children(self)                         -- (a hook that raised meanwhile)
end

function Sup:children(...)
  check_self(self, "children", Sup, sups)
  corral._no_more_args(2, nil, ...)
  local list, r = {}, self.first
  -- cancelled from outside: its children are being cancelled, not run or
  -- restarted, even before the manager has turned to see it
  if self.manager and corral._cancelled(self.manager) then return list end
  while r do
    if not r.ended then
      list[#list + 1] = { name = r.name, status = r.status, restarts = r.restarts }
    end
    r = r.next_rec
  end
  return list
end

-- supervisor.run -------------------------------------------------------------

local function new_supervisor(spec)
  local sup = setmetatable({
    spec = spec, name = spec.name, by_name = {}, count = 0,
    window = { first = 1, last = 0, t = {}, info = {} },
    inbox = {}, head = 1, tail = 0, wake = corral.event(), lost = util.failures(),
    alive = 0, child_groups = setmetatable({}, { __mode = "k" }),
  }, Sup)
  sups[sup] = true
  local children = spec.children or {}
  for i = 1, rawlen(children) do append(sup, new_record(rawget(children, i))) end
  return sup
end

-- The body, run in the calling task: on an error the children are stopped
-- gracefully before the error is raised as a group raises a body's error.
-- The body's error is what is raised even when the stop cannot finish: a
-- give-up or an outer cancel that interrupts it surfaces as a group's would
-- (the give-up's ErrorGroup takes the body's failure too; an outer
-- Cancelled raises at the caller's next cancellation point).
local function run_body(sup, body)
  if not body then return post(sup, { kind = "body_done" }) end
  local r = { ok = true, n = 0 }        -- (what a give-up's cancel leaves)
  corral.scope(function(s)
    sup.body_scope = s                  -- a give-up cancels it (give_up)
    r = util.outcome(body, sup)
  end)
  sup.body_scope = nil
  post(sup, { kind = "body_done" })
  if not r.ok then
    pcall(sup.stop, sup)
    error(r.err, 0)
  end
  return unpack(r, 1, r.n)
end

-- What supervisor.run raises or returns, given its group's pcall `r`: the
-- give-up's ErrorGroup, or the group's; failures no policy dealt with (see
-- lose) are added to it, or make an ErrorGroup of their own when the group
-- was cancelled from outside (the Cancelled goes on at the caller's next
-- cancellation point, as for a group whose child failed while cancelled).
local function conclude(sup, r)
  if sup.gave_up or #sup.lost.tasks > 0 then
    error(util.with_failures(sup.gave_up, not r[1], r[2], sup.name, sup.lost), 0)
  end
  if not r[1] then error(r[2], 0) end
  return unpack(r, 2, r.n)
end

function M.run(spec, body, ...)
  util.no_more_args("supervisor.run", 3, ...)
  if spec == nil then         -- options() would take nil for "no options"
    util.arg_error(1, "supervisor.run", "table expected, got nil", 2)
  end
  spec = util.options("supervisor.run", 1, spec, SPEC, DEFAULTS)
  if body ~= nil and type(body) ~= "function" then
    util.arg_error(2, "supervisor.run", corral._function_expected(body), 2)
  end
  util.need_run("supervisor.run")
  local sup = new_supervisor(spec)
  local r = pack(pcall(corral.group, function(g)
    sup.group = g
    local initial = records_from(sup)
    for _, r in ipairs(initial) do start(sup, r, 0) end
    sup.manager = g:spawn({ function() manage(sup) end, name = sup.name })
    -- every child has begun (or ended for good without beginning)
    for _, r in ipairs(initial) do wait_started(r, 0) end
    return run_body(sup, body)
  end, { name = sup.name }))
  -- every child has ended, and the manager too: those it left (cancelled, or
  -- failed) are forgotten, and whoever waits for one to start is woken
  forget_all(sup)
  return conclude(sup, r)
end

return M
