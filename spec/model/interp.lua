-- spec/model/interp.lua: run a random program (plain data, see spec/model/gen.lua)
-- on an implementation of the corral API and record what happened.
--
--   local log = interp.run(program, require "corral")        -- the engine
--   local log = interp.run(program, require "model.model")   -- the model
--
-- Both calls execute the very same interpreter code, so any difference between
-- the two logs is a difference between the engine and the model. The log is a
-- list of strings "<virtual time> <task> <event>", then "run ok|raise <err>",
-- then one "final ..." line per task, group and scope (status and flags).
--
-- Statements (a body is a list of them):
--   {op="sleep", t=s}             corral.sleep(s)                 logs "slept"
--   {op="sleep_until", t=abs}    corral.sleep_until(abs)         logs "slept"
--   {op="checkpoint"}             corral.checkpoint()             logs "cp"
--   {op="fail", msg="e1"}         error("e1", 0)
--   {op="return", v=n}            ends the enclosing body with n
--   {op="group", id=, opts=, body=}  corral.group           logs "enter g1", "exit g1 ..."
--   {op="scope", id=, opts=, body=}  corral.scope (opts.kind "move_on"/"fail":
--                                    move_on_after/fail_after(opts.timeout))
--   {op="spawn", id=, group=, body=} g:spawn({fn, name = id}); the child logs
--                                    "start" and "end ..."
--   {op="cancel_group"|"cancel_task"|"cancel_scope", id=, reason=}
--   {op="stop", id=, grace=}      g:stop(grace)
--   {op="wait_stopping", id=}     g:wait_stopping()               logs "stopping-seen g1"
--   {op="wait_task", id=}         t:wait()                        logs "waited t1 ..."
--   {op="pcall", body=}           pcall over the body; logs "pcall ok" or "caught <err>"
--                                 (a return inside ends the pcall body only)
--   {op="try", body=, handler=}   pcall over the body; on an error logs "handling <err>",
--                                 runs the handler (cleanup while the error unwinds:
--                                 an error there replaces it; a return ends the
--                                 handler), logs "rethrow <err>" and re-raises the
--                                 very same value; else logs "try ok" (a return
--                                 inside ends the try body only)
--   {op="keep", body=}            pcall over the body; a Cancelled it raises is kept
--                                 (one slot per run, any task) and logged "kept <err>";
--                                 other errors "caught <err>"; else "keep ok"
--   {op="raise_kept"}             raises the kept Cancelled again (logs "raise kept"),
--                                 or logs "nokept": after its scope exited it is an
--                                 ordinary error (docs/api.md)
--   {op="start", id=, group=, body=} g:start({fn, name = id}); logs "started t1 <v>"
--   {op="ready", v=n}             ready(n) in a g:start child's own body   logs "ready"
--   {op="cancel_self", reason=}   corral.current_task():cancel(reason)
--   {op="set_shield", id=, v=b}   s.shield = b (scope or group)
--   {op="set_deadline", id=, dt=} s.deadline = corral.now() + dt (scope or group)
--   {op="status", id=}            logs "status t1 <t.status>"
--   {op="tasks", id=}             logs "tasks g1 <names of g:tasks(), sorted>"
--   {op="event_set", id="e1"}    e1:set()                          logs "set e1"
--   {op="event_wait", id="e1"}   e1:wait()                         logs "ev-waited e1"
--   {op="with_lock", id="l1", body=}  l1:with(body); logs "locked l1", "unlocked l1 ..."
--                                 (a return inside ends the with body only)
-- Events e1, e2 and locks l1, l2 exist from the start of the run; "root" names
-- the root task.
-- Group opts may hold on_error = "handle" | "pass" | "raise" | "sleep" | "cancel":
-- a handler that logs "on_error <task> <err>" and then returns true, returns
-- nothing, raises "h-<task>", sleeps 1 and returns true, or cancels the group
-- and returns true.
-- An op naming an object that does not exist (yet) logs "noref <id>" and does
-- nothing, so every program (and every shrunk program) is well defined.
local interp = {}

local function fmt_time(t)
  if t == math.huge then return "inf" end
  return string.format("%.17g", t)
end
interp.fmt_time = fmt_time

-- Render an error value the same way whichever implementation made it.
local function render(C, e, root_name)
  local function name(n)
    if n == nil then return "-" end
    if n == root_name then return "root" end
    return tostring(n)
  end
  if C.is_cancelled(e) then
    return ("Cancelled(%s,%s,%s)"):format(tostring(e.source), e.reason == nil and "-" or tostring(e.reason), name(e.origin))
  elseif C.is_timeout(e) then
    return ("Timeout(%s)"):format(fmt_time(e.seconds))
  elseif C.is_error_group(e) then
    local parts = {}
    for i = 1, #e.errors do
      parts[i] = name(e.tasks[i]) .. ":" .. render(C, e.errors[i], root_name)
    end
    local s = "EG[" .. table.concat(parts, ",") .. "]"
    if e.dropped and e.dropped > 0 then s = s .. "+" .. e.dropped end
    return s
  elseif type(e) == "string" then
    -- a deadlock report first: its task tree quotes the groups' failures,
    -- which may be any of the errors below
    if e:find("even after cancelling", 1, true) then return "DEADLOCK2" end
    if e:find("^corral%.run: deadlock") then return "DEADLOCK" end
    if e:find("group is closed", 1, true) then return "closed" end
    if e:find("group is stopping", 1, true) then return "stopping" end
    if e:find("called twice", 1, true) then return "ready-twice" end
    if e:find("without calling ready", 1, true) then return "no-ready" end
    if e:find("cancelled before it called ready", 1, true) then return "cancelled-before-ready" end
    -- a Cancelled turned into an ordinary error: which kind, and the
    -- Cancelled it was (origin names the root task as "root")
    local function inner(s)
      return (s:gsub("origin=" .. tostring(root_name):gsub("%p", "%%%0") .. "%)", "origin=root)"))
    end
    local tail = e:match("^a Cancelled reached the end of a task that no cancelled scope encloses %((.*)%)$")
    if tail then return "stray<" .. inner(tail) .. ">" end
    tail = e:match("^a Cancelled was raised outside the scope it cancelled %(that scope has exited, or belongs to another run%): it is an ordinary error here %((.*)%)$")
    if tail then return "dead<" .. inner(tail) .. ">" end
    if e:find("deadlock", 1, true) then return "DEADLOCK" end
    return (e:gsub("^[^:\n]*:%d+: ", ""))
  end
  return tostring(e)
end
interp.render = render

local function values(r, from)
  local out = {}
  for i = from, r.n do out[#out + 1] = tostring(r[i]) end
  return "(" .. table.concat(out, ",") .. ")"
end

local function bool(b) return b and "1" or "0" end

-- Options as the API takes them (the program's opts minus the interpreter's
-- own keys; on_error is made into a handler by the caller).
local function api_opts(opts)
  if not opts then return nil end
  local o = {}
  for k, v in pairs(opts) do
    if k ~= "kind" and k ~= "on_error" then o[k] = v end
  end
  return o
end

--- Run `prog` ({body = {...}}) on implementation C. Returns the list of log lines.
function interp.run(prog, C)
  local log = {}
  local objs, order = {}, {}
  local kept
  local root_name
  local exec_body

  local function who()
    local t = C.current_task()
    local n = t and t.name
    if n == root_name then return "root" end
    return tostring(n)
  end
  local function emit(what)
    log[#log + 1] = fmt_time(C.now()) .. " " .. who() .. " " .. what
  end
  local function R(e) return render(C, e, root_name) end
  local function register(id, kind, obj)
    if objs[id] == nil then order[#order + 1] = id end
    objs[id] = { kind = kind, obj = obj }
  end
  local function get(id, kind)
    local o = objs[id]
    if o and o.kind == kind then return o.obj end
    emit("noref " .. tostring(id))
    return nil
  end

  -- ctx.ready: the ready function when running a g:start child's own body.
  local function exec_stmt(st, ctx)
    local op = st.op
    if op == "sleep" then
      C.sleep(st.t)
      emit("slept")
    elseif op == "sleep_until" then
      C.sleep_until(st.t)
      emit("slept")
    elseif op == "checkpoint" then
      C.checkpoint()
      emit("cp")
    elseif op == "fail" then
      error(st.msg, 0)
    elseif op == "return" then
      return { st.v }
    elseif op == "group" then
      emit("enter " .. st.id)
      local grp
      local opts = api_opts(st.opts)
      local h = st.opts and st.opts.on_error
      if h then
        opts.on_error = function(err, task)
          local tn = task.name == root_name and "root" or tostring(task.name)
          emit("on_error " .. tn .. " " .. R(err))
          if h == "raise" then error("h-" .. tn, 0) end
          if h == "sleep" then
            C.sleep(1)
            emit("on_error done")
          end
          if h == "cancel" then grp:cancel("oe") end
          return h ~= "pass"
        end
      end
      local r = table.pack(pcall(C.group, function(g)
        grp = g
        register(st.id, "group", g)
        local rv = exec_body(st.body, ctx)
        if rv then return rv[1] end
      end, opts))
      emit(("exit %s %s called=%s caught=%s"):format(st.id,
        r[1] and ("ok" .. values(r, 2)) or ("raise " .. R(r[2])),
        bool(grp and grp.cancel_called), bool(grp and grp.cancel_caught)))
      if not r[1] then error(r[2], 0) end
    elseif op == "scope" then
      emit("enter " .. st.id)
      local sc
      local kind = st.opts and st.opts.kind
      local function body(s)
        sc = s
        if s ~= nil then register(st.id, "scope", s) end
        local rv = exec_body(st.body, ctx)
        if rv then return rv[1] end
      end
      local r
      if kind == "move_on" then
        r = table.pack(pcall(C.move_on_after, st.opts.timeout, function()
          return body(nil)
        end))
      elseif kind == "fail" then
        r = table.pack(pcall(C.fail_after, st.opts.timeout, function()
          return body(nil)
        end))
      else
        r = table.pack(pcall(C.scope, body, api_opts(st.opts)))
      end
      emit(("exit %s %s%s"):format(st.id,
        r[1] and ("ok" .. values(r, 2)) or ("raise " .. R(r[2])),
        sc and (" called=" .. bool(sc.cancel_called) .. " caught=" .. bool(sc.cancel_caught)) or ""))
      if not r[1] then error(r[2], 0) end
    elseif op == "spawn" then
      local g = get(st.group, "group")
      if not g then return end
      local t = g:spawn({ function()
        emit("start")
        local r = table.pack(pcall(exec_body, st.body, {}))
        if r[1] then
          emit("end ok" .. (r[2] and values(table.pack(r[2][1]), 1) or "()"))
          if r[2] then return r[2][1] end
          return
        end
        emit("end raise " .. R(r[2]))
        error(r[2], 0)
      end, name = st.id })
      register(st.id, "task", t)
    elseif op == "start" then
      local g = get(st.group, "group")
      if not g then return end
      local r = table.pack(g:start({ function(ready)
        register(st.id, "task", C.current_task())
        emit("start")
        local r = table.pack(pcall(exec_body, st.body, { ready = ready }))
        if r[1] then
          emit("end ok" .. (r[2] and values(table.pack(r[2][1]), 1) or "()"))
          if r[2] then return r[2][1] end
          return
        end
        emit("end raise " .. R(r[2]))
        error(r[2], 0)
      end, name = st.id }))
      emit("started " .. st.id .. " " .. values(r, 1))
    elseif op == "ready" then
      if not ctx.ready then
        emit("noready")
        return
      end
      emit("ready")
      ctx.ready(st.v)
    elseif op == "cancel_self" then
      emit("cancel self")
      C.current_task():cancel(st.reason)
    elseif op == "set_shield" or op == "set_deadline" then
      local o = objs[st.id]
      if not o or (o.kind ~= "group" and o.kind ~= "scope") then
        emit("noref " .. tostring(st.id))
        return
      end
      if op == "set_shield" then
        emit("shield " .. st.id .. " " .. bool(st.v))
        o.obj.shield = st.v
      else
        local d = st.dt == math.huge and math.huge or C.now() + st.dt
        emit("deadline " .. st.id .. " " .. fmt_time(d))
        o.obj.deadline = d
      end
    elseif op == "status" then
      local t = get(st.id, "task")
      if not t then return end
      emit("status " .. st.id .. " " .. tostring(t.status))
    elseif op == "tasks" then
      local g = get(st.id, "group")
      if not g then return end
      local names = {}
      for _, t in ipairs(g:tasks()) do names[#names + 1] = tostring(t.name) end
      table.sort(names)
      emit("tasks " .. st.id .. " [" .. table.concat(names, ",") .. "]")
    elseif op == "event_set" then
      local e = get(st.id, "event")
      if not e then return end
      emit("set " .. st.id)
      e:set()
    elseif op == "event_wait" then
      local e = get(st.id, "event")
      if not e then return end
      e:wait()
      emit("ev-waited " .. st.id)
    elseif op == "with_lock" then
      local l = get(st.id, "lock")
      if not l then return end
      local r = table.pack(pcall(l.with, l, function()
        emit("locked " .. st.id)
        return exec_body(st.body, ctx)
      end))
      emit("unlocked " .. st.id .. " " .. (r[1] and "ok" or ("raise " .. R(r[2]))))
      if not r[1] then error(r[2], 0) end
    elseif op == "cancel_group" or op == "cancel_task" or op == "cancel_scope" then
      local kind = op:sub(8)
      local o = get(st.id, kind)
      if not o then return end
      emit("cancel " .. st.id)
      o:cancel(st.reason)
    elseif op == "stop" then
      local g = get(st.id, "group")
      if not g then return end
      emit("stop " .. st.id .. " " .. (st.grace and fmt_time(st.grace) or "-"))
      g:stop(st.grace)
    elseif op == "wait_stopping" then
      local g = get(st.id, "group")
      if not g then return end
      g:wait_stopping()
      emit("stopping-seen " .. st.id)
    elseif op == "wait_task" then
      local t = get(st.id, "task")
      if not t then return end
      local r = table.pack(t:wait())
      emit("waited " .. st.id .. " " .. (r[1] and ("ok" .. values(r, 2)) or ("err " .. R(r[2]))))
    elseif op == "pcall" then
      local r = table.pack(pcall(exec_body, st.body, ctx))
      if r[1] then
        emit("pcall ok" .. (r[2] and values(table.pack(r[2][1]), 1) or ""))
      else
        emit("caught " .. R(r[2]))
      end
    elseif op == "try" then
      local r = table.pack(pcall(exec_body, st.body, ctx))
      if r[1] then
        emit("try ok")
        return
      end
      emit("handling " .. R(r[2]))
      exec_body(st.handler or {}, ctx)
      emit("rethrow " .. R(r[2]))
      error(r[2], 0)
    elseif op == "keep" then
      local r = table.pack(pcall(exec_body, st.body, ctx))
      if r[1] then
        emit("keep ok")
      elseif C.is_cancelled(r[2]) then
        kept = r[2]
        emit("kept " .. R(r[2]))
      else
        emit("caught " .. R(r[2]))
      end
    elseif op == "raise_kept" then
      if kept == nil then
        emit("nokept")
        return
      end
      emit("raise kept")
      error(kept, 0)
    else
      error("interp: unknown op " .. tostring(op))
    end
  end

  exec_body = function(body, ctx)
    for _, st in ipairs(body) do
      local rv = exec_stmt(st, ctx)
      if rv then return rv end
    end
  end

  local r = table.pack(pcall(C.run, function()
    root_name = C.current_task().name
    register("root", "task", C.current_task())
    for _, id in ipairs({ "e1", "e2" }) do objs[id] = { kind = "event", obj = C.event() } end
    for _, id in ipairs({ "l1", "l2" }) do objs[id] = { kind = "lock", obj = C.lock() } end
    emit("start")
    local rv = exec_body(prog.body, {})
    emit("end")
    if rv then return rv[1] end
  end, { clock = "virtual" }))
  log[#log + 1] = r[1] and ("run ok" .. values(r, 2)) or ("run raise " .. R(r[2]))
  for _, id in ipairs(order) do
    local o = objs[id]
    local x = o.obj
    if o.kind == "task" then
      log[#log + 1] = ("final %s %s"):format(id, tostring(x.status))
    elseif o.kind == "group" then
      log[#log + 1] = ("final %s called=%s caught=%s closed=%s"):format(id,
        bool(x.cancel_called), bool(x.cancel_caught), bool(x.closed))
    else
      log[#log + 1] = ("final %s called=%s caught=%s"):format(id, bool(x.cancel_called), bool(x.cancel_caught))
    end
  end
  return log
end

return interp
