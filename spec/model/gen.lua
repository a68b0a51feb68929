-- spec/model/gen.lua: random programs for the model-based tests, a greedy
-- minimiser, a printer, and the one-seed check that spec/model_spec.lua and
-- tools/fuzz.lua share.
--
--   gen.program(seed)            -> program (plain data; see spec/model/interp.lua)
--   gen.check(prog, engine, model) -> ok, engine_log, model_log
--   gen.shrink(prog, still_bad)  -> a smaller program for which still_bad(p) holds
--   gen.show(prog)               -> readable text; gen.serialize(prog) -> Lua source
--   gen.report(seed, engine, model) -> nil if the seed passes, else a text with
--                                   the seed, the minimised program and both
--                                   logs (then the program and the two logs)
--
-- Programs are deterministic in the seed: the generator has its own 64-bit LCG
-- and never touches math.random.
local interp = require "model.interp"

local gen = {}

-- --- random numbers ----------------------------------------------------------

local Rng = {}
Rng.__index = Rng

function gen.rng(seed)
  local r = setmetatable({ s = 0 }, Rng)
  r.s = (math.tointeger(seed) or 0) * 2654435761 + 0x9E3779B97F4A7C15
  for _ = 1, 4 do r:next() end
  return r
end

function Rng:next()
  -- Knuth's MMIX LCG (wraps around in 64-bit integers); use the high bits.
  self.s = self.s * 6364136223846793005 + 1442695040888963407
  return (self.s >> 33) & 0x7fffffff
end

function Rng:int(n) return self:next() % n + 1 end
function Rng:chance(p) return self:next() < p * 0x80000000 end
function Rng:pick(list) return list[self:int(#list)] end

-- Pick a key from {key = weight, ...} (iterated in a fixed order).
function Rng:weighted(choices)
  local total = 0
  for _, c in ipairs(choices) do total = total + c[2] end
  if total <= 0 then return nil end
  local x = self:next() % total
  for _, c in ipairs(choices) do
    if x < c[2] then return c[1] end
    x = x - c[2]
  end
end

-- --- the generator -------------------------------------------------------------

local SLEEPS = { 0, 0.5, 1, 1, 1, 2, 2, 3 }
local TIMEOUTS = { 0, 0.5, 1, 1, 2, 2, 3, 4 }
local GRACES = { false, 0, 0.5, 1, 1, 2 }

-- Size limits (tools/fuzz.lua can raise them: FUZZ_LARGE=1).
gen.limits = {
  depth = 4,    -- nesting of bodies below the root body
  tasks = 12,   -- spawns and starts per program
  stmts = 45,   -- statements per program
}

-- vis: what a statement may name, lexically: groups, tasks, scopes (ids of
-- earlier statements of enclosing bodies, and the group/scope whose body it is
-- in), and live: the groups that are certainly still open while the statement
-- runs (the ones whose body encloses it within the same task, and the group of
-- the task, with its own live groups), and open: the scopes and groups that
-- certainly enclose the statement while it runs, outermost first (those whose
-- body encloses it in the same task, and for a child, those enclosing its
-- group). Lists are copied on extend.
local function extend(vis, kind, id)
  local v = {}
  for k, x in pairs(vis) do v[k] = x end
  local list = {}
  for i, x in ipairs(vis[kind]) do list[i] = x end
  list[#list + 1] = id
  v[kind] = list
  return v
end

-- The live groups of a task spawned into group g: g and those outside it.
local function live_upto(live, g)
  local out = {}
  for _, x in ipairs(live) do
    out[#out + 1] = x
    if x == g then return out end
  end
  return out
end

-- The scopes and groups that enclose a task spawned into g: g and those
-- outside it (none known if g is not open here: it may have exited).
local function open_upto(open, g)
  local out = {}
  for _, x in ipairs(open) do
    out[#out + 1] = x
    if x == g then return out end
  end
  return {}
end

local ON_ERROR = { "handle", "handle", "pass", "raise", "sleep", "cancel" }

local gen_body

-- A cancel of something the statement can name (often enclosing it: the
-- cancels that arrive while a Cancelled unwinds), or of its own task.
local function gen_cancel(st, vis)
  local r = st.rng
  if #vis.open > 0 and r:chance(0.6) then
    -- mostly not the innermost: a cancel from outside the scope that the
    -- unwinding Cancelled was raised for
    local n = #vis.open
    local id = vis.open[(n > 1 and r:chance(0.7)) and r:int(n - 1) or r:int(n)]
    local s = { op = id:sub(1, 1) == "g" and "cancel_group" or "cancel_scope", id = id }
    if r:chance(0.4) then s.reason = "r" .. r:int(9) end
    return s
  end
  local kinds = {}
  if #vis.scopes > 0 then kinds[#kinds + 1] = { "cancel_scope", 4 } end
  if #vis.groups > 0 then kinds[#kinds + 1] = { "cancel_group", 4 } end
  if #vis.tasks > 0 then kinds[#kinds + 1] = { "cancel_task", 2 } end
  kinds[#kinds + 1] = { "cancel_self", 1 }
  local op = r:weighted(kinds)
  local s = { op = op }
  if op == "cancel_scope" then s.id = r:pick(vis.scopes)
  elseif op == "cancel_group" then s.id = r:pick(vis.groups)
  elseif op == "cancel_task" then s.id = r:pick(vis.tasks) end
  if r:chance(0.4) then s.reason = "r" .. r:int(9) end
  return s
end

-- A shielded cleanup scope: it blocks for a while, and often cancels
-- something outside when it is done (or before).
local function gen_cleanup(st, depth, vis, ctx)
  local r = st.rng
  st.nscopes = st.nscopes + 1
  local id = "s" .. st.nscopes
  local inner = extend(extend(vis, "scopes", id), "open", id)
  local body = {}
  if r:chance(0.25) then body[#body + 1] = gen_cancel(st, vis) end
  body[#body + 1] = { op = "sleep", t = r:pick(SLEEPS) }
  if r:chance(0.6) then body[#body + 1] = gen_cancel(st, vis) end
  if r:chance(0.3) and depth < gen.limits.depth then
    for _, x in ipairs(gen_body(st, depth + 1, inner, ctx)) do body[#body + 1] = x end
  end
  st.nstmts = st.nstmts + #body
  return { op = "scope", id = id, opts = { shield = true }, body = body }
end

-- What a try statement runs while the error unwinds.
local function gen_handler(st, depth, vis, ctx)
  local r = st.rng
  local x = r:next() % 100
  if x < 45 then
    local h = { gen_cleanup(st, depth, vis, ctx) }
    if r:chance(0.3) then h[#h + 1] = gen_cancel(st, vis) end
    return h
  elseif x < 75 then
    st.nstmts = st.nstmts + 1
    return { gen_cancel(st, vis) }
  end
  return gen_body(st, depth + 1, vis, ctx)
end

-- A child that sleeps until cancelled, then cleans up in a shielded scope.
local function gen_worker(st, depth, vis, ctx)
  st.nstmts = st.nstmts + 1
  return {
    op = "try",
    body = { { op = "sleep", t = st.rng:chance(0.5) and math.huge or st.rng:pick({ 2, 3, 5 }) } },
    handler = gen_handler(st, depth, vis, ctx),
  }
end

function gen_body(st, depth, vis, ctx)
  local r = st.rng
  local body = {}
  local n = r:int(depth <= 1 and 6 or 4)
  for _ = 1, n do
    if st.nstmts >= gen.limits.stmts then break end
    st.nstmts = st.nstmts + 1
    local nested = depth < gen.limits.depth
    local ng, nt, ns, nl = #vis.groups, #vis.tasks, #vis.scopes, #vis.live
    local can_spawn = nested and nl > 0 and st.ntasks < gen.limits.tasks
    local op = r:weighted({
      { "sleep", 22 },
      { "checkpoint", 5 },
      { "fail", ctx.root and 2 or 7 },
      { "return", 2 },
      { "group", nested and 12 or 0 },
      { "scope", nested and 6 or 0 },
      { "spawn", can_spawn and 22 or 0 },
      { "start", can_spawn and 5 or 0 },
      { "ready", ctx.ready and 3 or 0 },
      { "cancel_group", ng > 0 and 5 or 0 },
      { "cancel_task", nt > 0 and 5 or 0 },
      { "cancel_scope", ns > 0 and 4 or 0 },
      { "cancel_self", 1 },
      { "stop", ng > 0 and 5 or 0 },
      { "wait_stopping", ng > 0 and 2 or 0 },
      { "wait_task", nt > 0 and 6 or 0 },
      { "pcall", nested and 6 or 0 },
      { "set_shield", (ng + ns) > 0 and 2 or 0 },
      { "set_deadline", (ng + ns) > 0 and 2 or 0 },
      { "status", nt > 0 and 2 or 0 },
      { "tasks", ng > 0 and 1 or 0 },
      { "event_set", 3 },
      { "event_wait", 3 },
      { "with_lock", (nested and not (ctx.locks and ctx.locks.l1 and ctx.locks.l2)) and 4 or 0 },
      { "try", nested and 7 or 0 },
      { "keep", nested and 3 or 0 },
      { "raise_kept", st.nkeep > 0 and 5 or 0 },
    })
    local s
    if op == "sleep" then
      if r:chance(0.08) then
        s = { op = "sleep_until", t = r:pick(TIMEOUTS) }
      else
        s = { op = "sleep", t = r:chance(0.03) and math.huge or r:pick(SLEEPS) }
      end
    elseif op == "checkpoint" then
      s = { op = "checkpoint" }
    elseif op == "fail" then
      st.nerr = st.nerr + 1
      s = { op = "fail", msg = "e" .. st.nerr }
    elseif op == "return" then
      s = { op = "return", v = r:int(9) }
    elseif op == "group" then
      st.ngroups = st.ngroups + 1
      local id = "g" .. st.ngroups
      local opts = {}
      if r:chance(0.3) then opts.defer_errors = true end
      if r:chance(0.2) then opts.limit = r:int(2) end
      if r:chance(0.2) then opts.timeout = r:pick(TIMEOUTS) end
      if r:chance(0.06) then opts.deadline = r:pick(TIMEOUTS) end
      if r:chance(0.12) then opts.shield = true end
      if r:chance(0.08) then opts.max_errors = r:int(2) end
      if r:chance(0.15) then opts.on_error = r:pick(ON_ERROR) end
      s = { op = "group", id = id, opts = next(opts) and opts or nil }
      st.group_nodes[id] = s
      local inner = extend(extend(extend(vis, "groups", id), "live", id), "open", id)
      s.body = gen_body(st, depth + 1, inner, ctx)
      vis = extend(vis, "groups", id)
    elseif op == "scope" then
      st.nscopes = st.nscopes + 1
      local id = "s" .. st.nscopes
      local opts = {}
      if r:chance(0.5) then opts.timeout = r:pick(TIMEOUTS) end
      if r:chance(0.08) then opts.deadline = r:pick(TIMEOUTS) end
      if r:chance(0.2) then opts.shield = true end
      if opts.timeout and not opts.shield and r:chance(0.3) then
        opts.kind = r:chance(0.5) and "move_on" or "fail"
      end
      s = { op = "scope", id = id, opts = next(opts) and opts or nil }
      local inner = vis
      if not opts.kind then inner = extend(extend(vis, "scopes", id), "open", id) end
      s.body = gen_body(st, depth + 1, inner, ctx)
      -- its own Cancelled, and an outer cancel while that unwinds
      if not opts.kind and r:chance(0.15) then
        table.insert(s.body, 1, { op = "cancel_scope", id = id })
        table.insert(s.body, 2, {
          op = "try", body = { { op = r:chance(0.5) and "checkpoint" or "sleep", t = 1 } },
          handler = gen_handler(st, depth + 1, inner, ctx),
        })
      end
      if not opts.kind then vis = extend(vis, "scopes", id) end
    elseif op == "spawn" or op == "start" then
      st.ntasks = st.ntasks + 1
      local id = "t" .. st.ntasks
      -- mostly the innermost live group; sometimes any live one; rarely any
      -- visible one (which may have exited: "group is closed")
      local g
      if r:chance(0.05) then
        g = r:pick(vis.groups)
      elseif r:chance(0.65) then
        g = vis.live[#vis.live]
      else
        g = r:pick(vis.live)
      end
      s = { op = op, id = id, group = g }
      local inner = {}
      for k, x in pairs(vis) do inner[k] = x end
      inner.live = live_upto(vis.live, g)
      inner.open = open_upto(vis.open, g)
      local cctx = { ready = op == "start" }
      s.body = gen_body(st, depth + 1, inner, cctx)
      if op == "start" and r:chance(0.85) then
        table.insert(s.body, r:int(#s.body + 1), { op = "ready", v = r:int(9) })
      end
      -- a child that cleans up (shielded) when cancelled
      if r:chance(0.2) then
        table.insert(s.body, op == "start" and #s.body + 1 or 1, gen_worker(st, depth + 1, inner, cctx))
      end
      -- start from a cancelled scope, or into a cancelled group
      if op == "start" and r:chance(0.3) then
        if r:chance(0.5) then
          st.nscopes = st.nscopes + 1
          local sid = "s" .. st.nscopes
          s = { op = "scope", id = sid, body = { { op = "cancel_scope", id = sid }, s } }
        else
          s = { op = "pcall", body = { { op = "cancel_group", id = g }, s } }
        end
      end
      vis = extend(vis, "tasks", id)
    elseif op == "ready" then
      s = { op = "ready", v = r:int(9) }
    elseif op == "cancel_group" then
      s = { op = "cancel_group", id = r:pick(vis.groups) }
    elseif op == "cancel_task" then
      s = { op = "cancel_task", id = r:pick(vis.tasks) }
    elseif op == "cancel_scope" then
      s = { op = "cancel_scope", id = r:pick(vis.scopes) }
    elseif op == "cancel_self" then
      s = { op = "cancel_self" }
    elseif op == "stop" then
      local grace = r:pick(GRACES)
      s = { op = "stop", id = r:pick(vis.groups), grace = grace or nil }
    elseif op == "wait_stopping" then
      s = { op = "wait_stopping", id = r:pick(vis.groups) }
      -- usually someone stops that group in the end (else: a deadlock)
      if r:chance(0.8) then st.wants_stop[s.id] = true end
    elseif op == "wait_task" then
      s = { op = "wait_task", id = r:pick(vis.tasks) }
    elseif op == "pcall" then
      s = { op = "pcall" }
      s.body = gen_body(st, depth + 1, vis, ctx)
    elseif op == "try" then
      s = { op = "try" }
      s.body = gen_body(st, depth + 1, vis, ctx)
      s.handler = gen_handler(st, depth, vis, ctx)
    elseif op == "keep" then
      st.nkeep = st.nkeep + 1
      s = { op = "keep" }
      s.body = gen_body(st, depth + 1, vis, ctx)
      if r:chance(0.4) then
        -- keep the Cancelled of a scope that then exits, and often raise
        -- it again right after (an ordinary error by then)
        st.nscopes = st.nscopes + 1
        local sid = "s" .. st.nscopes
        table.insert(s.body, 1, { op = "cancel_scope", id = sid })
        table.insert(s.body, 2, { op = "checkpoint" })
        s = { op = "scope", id = sid, body = { s } }
        if r:chance(0.5) then
          body[#body + 1] = s
          s = { op = "raise_kept" }
        end
      end
    elseif op == "raise_kept" then
      s = { op = "raise_kept" }
    elseif op == "set_shield" or op == "set_deadline" then
      local pool = {}
      for _, x in ipairs(vis.groups) do pool[#pool + 1] = x end
      for _, x in ipairs(vis.scopes) do pool[#pool + 1] = x end
      local id = r:pick(pool)
      if op == "set_shield" then
        s = { op = op, id = id, v = r:chance(0.5) }
      else
        s = { op = op, id = id, dt = r:chance(0.1) and math.huge or r:pick(TIMEOUTS) }
      end
    elseif op == "status" then
      s = { op = "status", id = r:pick(vis.tasks) }
    elseif op == "tasks" then
      s = { op = "tasks", id = r:pick(vis.groups) }
    elseif op == "event_set" or op == "event_wait" then
      s = { op = op, id = r:chance(0.7) and "e1" or "e2" }
    elseif op == "with_lock" then
      -- never the same lock twice in one task (locks are not reentrant)
      local id = r:chance(0.6) and "l1" or "l2"
      if ctx.locks and ctx.locks[id] then id = id == "l1" and "l2" or "l1" end
      local locks = {}
      for k in pairs(ctx.locks or {}) do locks[k] = true end
      locks[id] = true
      local cctx = {}
      for k, x in pairs(ctx) do cctx[k] = x end
      cctx.locks = locks
      s = { op = op, id = id }
      s.body = gen_body(st, depth + 1, vis, cctx)
    end
    if (s.op == "cancel_group" or s.op == "cancel_task" or s.op == "cancel_scope" or s.op == "cancel_self")
        and r:chance(0.4) then
      s.reason = "r" .. r:int(9)
    end
    body[#body + 1] = s
    -- what follows a fail or return would be dead code: usually stop here
    if (s.op == "fail" or s.op == "return") and r:chance(0.8) then break end
  end
  return body
end

--- The program of a seed.
function gen.program(seed)
  local st = {
    rng = gen.rng(seed), ntasks = 0, ngroups = 0, nscopes = 0, nerr = 0, nstmts = 0, nkeep = 0,
    group_nodes = {}, wants_stop = {},
  }
  local vis = { groups = {}, tasks = {}, scopes = {}, live = {}, open = {} }
  if st.rng:chance(0.2) then vis.tasks = { "root" } end
  local rootctx = { root = true }
  -- Most programs start with a group, so there is something to spawn into.
  local body
  if st.rng:chance(0.85) then
    st.ngroups = 1
    local opts = {}
    if st.rng:chance(0.3) then opts.defer_errors = true end
    if st.rng:chance(0.15) then opts.limit = st.rng:int(2) end
    if st.rng:chance(0.1) then opts.on_error = st.rng:pick(ON_ERROR) end
    local g = { op = "group", id = "g1", opts = next(opts) and opts or nil }
    st.group_nodes.g1 = g
    g.body = gen_body(st, 1, extend(extend(extend(vis, "groups", "g1"), "live", "g1"), "open", "g1"), rootctx)
    body = { g }
    -- sometimes more root statements after it
    if st.rng:chance(0.3) then
      for _, x in ipairs(gen_body(st, 1, extend(vis, "groups", "g1"), rootctx)) do body[#body + 1] = x end
    end
  else
    body = gen_body(st, 0, vis, rootctx)
  end
  -- the stops that the wait_stopping statements wait for: a helper child
  -- spawned first thing in the group's body, in id order
  local ids = {}
  for id in pairs(st.wants_stop) do ids[#ids + 1] = id end
  table.sort(ids)
  for _, id in ipairs(ids) do
    st.ntasks = st.ntasks + 1
    table.insert(st.group_nodes[id].body, 1, {
      op = "spawn", id = "t" .. st.ntasks, group = id,
      body = {
        { op = "sleep", t = st.rng:pick(SLEEPS) },
        { op = "stop", id = id, grace = st.rng:pick(GRACES) or nil },
      },
    })
  end
  return { seed = seed, body = body }
end

-- --- printing --------------------------------------------------------------------

local function num(x)
  if x == math.huge then return "math.huge" end
  return string.format("%.17g", x)
end

local function opts_text(o)
  if not o then return "" end
  local keys = {}
  for k in pairs(o) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = o[k]
    if v == true then parts[#parts + 1] = k
    elseif type(v) == "number" then parts[#parts + 1] = k .. "=" .. num(v)
    else parts[#parts + 1] = k .. "=" .. tostring(v) end
  end
  return " {" .. table.concat(parts, ", ") .. "}"
end

--- A readable listing of a program.
function gen.show(prog)
  local out = {}
  local function body(b, ind)
    for _, s in ipairs(b) do
      local op, line = s.op, nil
      if op == "sleep" then line = "sleep " .. num(s.t)
      elseif op == "sleep_until" then line = "sleep_until " .. num(s.t)
      elseif op == "checkpoint" then line = "checkpoint"
      elseif op == "fail" then line = "fail " .. s.msg
      elseif op == "return" then line = "return " .. s.v
      elseif op == "group" then line = "group " .. s.id .. opts_text(s.opts)
      elseif op == "scope" then line = "scope " .. s.id .. opts_text(s.opts)
      elseif op == "spawn" then line = "spawn " .. s.id .. " into " .. s.group
      elseif op == "stop" then line = "stop " .. s.id .. (s.grace and (" grace=" .. num(s.grace)) or "")
      elseif op == "pcall" then line = "pcall"
      elseif op == "start" then line = "start " .. s.id .. " into " .. s.group
      elseif op == "ready" then line = "ready " .. s.v
      elseif op == "cancel_self" then line = "cancel_self" .. (s.reason and (" reason=" .. s.reason) or "")
      elseif op == "set_shield" then line = "set " .. s.id .. ".shield = " .. tostring(s.v)
      elseif op == "set_deadline" then line = "set " .. s.id .. ".deadline = now + " .. num(s.dt)
      elseif op == "with_lock" then line = "with " .. s.id
      else line = op .. " " .. tostring(s.id) .. (s.reason and (" reason=" .. s.reason) or "") end
      out[#out + 1] = ind .. line
      if s.body then body(s.body, ind .. "  ") end
      if s.handler then
        out[#out + 1] = ind .. "handler"
        body(s.handler, ind .. "  ")
      end
    end
  end
  body(prog.body, "  ")
  return table.concat(out, "\n")
end

--- The program as Lua source (`return {...}`), to paste into a regression spec.
function gen.serialize(prog)
  local function ser(v, ind)
    if type(v) == "table" then
      local keys, parts = {}, {}
      for k in pairs(v) do if type(k) == "string" then keys[#keys + 1] = k end end
      local rank = { op = 0, body = 2, handler = 3 }
      table.sort(keys, function(a, b)
        local ra, rb = rank[a] or 1, rank[b] or 1
        if ra ~= rb then return ra < rb end
        return a < b
      end)
      for _, k in ipairs(keys) do parts[#parts + 1] = k .. " = " .. ser(v[k], ind .. "  ") end
      for _, x in ipairs(v) do parts[#parts + 1] = ser(x, ind .. "  ") end
      local flat = "{ " .. table.concat(parts, ", ") .. " }"
      if #flat < 90 then return flat end
      return "{\n" .. ind .. "  " .. table.concat(parts, ",\n" .. ind .. "  ") .. "\n" .. ind .. "}"
    elseif type(v) == "number" then
      return num(v)
    elseif type(v) == "string" then
      return string.format("%q", v)
    end
    return tostring(v)
  end
  return "return " .. ser({ body = prog.body }, "")
end

-- --- checking ----------------------------------------------------------------------

local function copy(v)
  if type(v) ~= "table" then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = copy(x) end
  return c
end
gen.copy = copy

local LEAK_KEYS = { "tasks", "scopes", "timers", "handles", "refs", "records" }

-- Run prog on implementation C; a crash (an error escaping the interpreter)
-- becomes the last line. An implementation with debug_stats (the engine) must
-- leave nothing alive after the run, except after a second deadlock, where the
-- engine abandons the tasks it cannot wake by design.
local function run_on(prog, C)
  local ok, log = pcall(interp.run, prog, C)
  if not ok then return { "CRASH " .. tostring(log) } end
  if C.debug_stats then
    local st, parts = C.debug_stats(), {}
    for _, k in ipairs(LEAK_KEYS) do
      if (st[k] or 0) ~= 0 then parts[#parts + 1] = k .. "=" .. tostring(st[k]) end
    end
    local abandoned = false
    for _, l in ipairs(log) do
      if l == "run raise DEADLOCK2" then abandoned = true end
    end
    if #parts > 0 and not abandoned then log[#log + 1] = "LEAK " .. table.concat(parts, " ") end
  end
  return log
end

--- Run prog on both; ok is true when the logs are identical.
function gen.check(prog, engine, model)
  local a, b = run_on(prog, engine), run_on(prog, model)
  local same = #a == #b
  if same then
    for i = 1, #a do
      if a[i] ~= b[i] then same = false; break end
    end
  end
  return same, a, b
end

-- --- the minimiser ---------------------------------------------------------------------

-- Every body in the program, with the statements that own them: {body, ...}.
local function bodies(prog)
  local out = {}
  local function walk(b)
    out[#out + 1] = b
    for _, s in ipairs(b) do
      if s.body then walk(s.body) end
      if s.handler then walk(s.handler) end
    end
  end
  walk(prog.body)
  return out
end

-- Candidate simplifications of prog, each a fresh program, roughly biggest first.
local function candidates(prog)
  local list = {}
  local nb = #bodies(prog)
  local function variant(f)
    list[#list + 1] = function()
      local p = copy(prog)
      local bs = bodies(p)
      if f(p, bs) == false then return nil end
      return p
    end
  end
  for bi = 1, nb do
    variant(function(_, bs) -- drop a whole body's second half
      local b = bs[bi]
      if #b < 4 then return false end
      for i = #b, math.floor(#b / 2) + 1, -1 do table.remove(b, i) end
    end)
  end
  for bi = 1, nb do
    local n = #bodies(prog)[bi]
    for i = 1, n do
      variant(function(_, bs) table.remove(bs[bi], i) end) -- drop one statement
    end
  end
  for bi = 1, nb do
    local b0 = bodies(prog)[bi]
    for i = 1, #b0 do
      local s0 = b0[i]
      if s0.body then
        variant(function(_, bs) -- splice a compound statement's body in its place
          local b = bs[bi]
          local s = table.remove(b, i)
          for j = #s.body, 1, -1 do table.insert(b, i, s.body[j]) end
        end)
        if #s0.body > 0 then
          variant(function(_, bs) bs[bi][i].body = {} end)
        end
      end
      if s0.handler then
        variant(function(_, bs) -- a try becomes its handler
          local b = bs[bi]
          local s = table.remove(b, i)
          for j = #s.handler, 1, -1 do table.insert(b, i, s.handler[j]) end
        end)
        if #s0.handler > 0 then
          variant(function(_, bs) bs[bi][i].handler = {} end)
        end
        variant(function(_, bs) bs[bi][i].op = "pcall"; bs[bi][i].handler = nil end)
      end
      if s0.opts then
        variant(function(_, bs) bs[bi][i].opts = nil end)
        local keys = {}
        for k in pairs(s0.opts) do keys[#keys + 1] = k end
        table.sort(keys) -- pairs order varies between runs; shrinking must not
        for _, k in ipairs(keys) do
          variant(function(_, bs)
            local o = bs[bi][i].opts
            o[k] = nil
            if k == "timeout" then o.kind = nil end
            if not next(o) then bs[bi][i].opts = nil end
          end)
        end
      end
      if s0.reason then variant(function(_, bs) bs[bi][i].reason = nil end) end
      if s0.grace then variant(function(_, bs) bs[bi][i].grace = nil end) end
      if s0.op == "sleep" and s0.t > 0 then
        variant(function(_, bs) bs[bi][i].t = 0 end)
        if s0.t > 1 and s0.t ~= math.huge then
          variant(function(_, bs) bs[bi][i].t = s0.t - 1 end)
        end
        if s0.t == math.huge then variant(function(_, bs) bs[bi][i].t = 5 end) end
      end
      if s0.op == "sleep_until" and s0.t > 0 then
        variant(function(_, bs) bs[bi][i].t = 0 end)
      end
      for _, k in ipairs({ "timeout", "grace" }) do
        local v = k == "grace" and s0.grace or (s0.opts and s0.opts[k])
        if v and v > 0 then
          variant(function(_, bs)
            local s = bs[bi][i]
            if k == "grace" then s.grace = v >= 1 and v - 1 or 0 else s.opts[k] = v >= 1 and v - 1 or 0 end
          end)
        end
      end
    end
  end
  return list
end

--- Greedy delta debugging: apply any simplification that keeps still_bad(p)
--- true, until none does (or `budget` runs are spent).
function gen.shrink(prog, still_bad, budget)
  budget = budget or 3000
  local cur = copy(prog)
  local progress = true
  while progress and budget > 0 do
    progress = false
    for _, make in ipairs(candidates(cur)) do
      local p = make()
      if p then
        budget = budget - 1
        if still_bad(p) then
          cur = p
          progress = true
          break
        end
        if budget <= 0 then break end
      end
    end
  end
  return cur
end

local function side_by_side(a, b)
  local out = {}
  local w = 0
  for _, l in ipairs(a) do if #l > w then w = #l end end
  w = math.min(w, 70)
  for i = 1, math.max(#a, #b) do
    local x, y = a[i] or "", b[i] or ""
    out[#out + 1] = (x == y and "   " or "!! ") .. x .. string.rep(" ", math.max(1, w - #x + 2)) .. "| " .. y
  end
  return table.concat(out, "\n")
end
gen.side_by_side = side_by_side

--- Check one seed. nil when engine and model agree; otherwise a report with the
--- seed, the minimised program and both logs (engine left, model right).
function gen.report(seed, engine, model)
  local prog = gen.program(seed)
  local ok = gen.check(prog, engine, model)
  if ok then return nil end
  local small = gen.shrink(prog, function(p) return not gen.check(p, engine, model) end)
  local _, a, b = gen.check(small, engine, model)
  return table.concat({
    ("seed %d: engine and model disagree"):format(seed),
    "minimised program:",
    gen.show(small),
    "as data:",
    gen.serialize(small),
    "logs (engine | model):",
    side_by_side(a, b),
  }, "\n"), small, a, b
end

return gen
