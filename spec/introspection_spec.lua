-- spec/introspection_spec.lua: seeing what the tasks do (docs/debugging.md):
-- corral.tree (text and tables), the deadlock report, the trace file
-- (Chrome trace-event JSON), `corral trace-svg`, and the SIGUSR1 dump of the
-- `corral` command. Everything runs on the virtual clock except the command;
-- nothing measures time.

local corral = require "corral"
local json = require "dkjson"
local converse = require "converse"
local trace_svg = require "corral.trace_svg"

local BIN = os.getenv("CORRAL_BIN") or "build/corral"

local function line_here() return debug.getinfo(2, "l").currentline end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

local function lines(text)
  local out = {}
  for l in text:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

-- The line of `text` that contains `needle` (plain), and its indentation.
local function find_line(text, needle)
  for _, l in ipairs(lines(text)) do
    if l:find(needle, 1, true) then return l, #l:match("^[ |`-]*") end
  end
  error("no line contains " .. needle .. " in:\n" .. text, 2)
end

-- A known program: a group "workers" with a sleeper, a receiver, a lock
-- holder waiting on an event, a task blocked on the lock, a joiner, and a
-- cancelled shielded scope; the root calls corral.tree() at t = 0.75.
local L = {}
local function known_program(format)
  local out
  corral.run(function()
    local ch, lock, ev = corral.channel(), corral.lock(), corral.event()
    corral.group(function(g)
      g:spawn({ function() L.sleep = line_here(); corral.sleep(5) end, name = "sleeper" })
      g:spawn({ function() L.recv = line_here(); ch:recv() end, name = "receiver" })
      local holder = g:spawn({ function()
        lock:acquire()
        L.event = line_here(); ev:wait()
        lock:release()
      end, name = "holder" })
      corral.sleep(0.25)         -- the holder has the lock (in any schedule)
      g:spawn({ function() L.lock = line_here(); lock:acquire(); lock:release() end, name = "locker" })
      g:spawn({ function() L.join = line_here(); holder:wait() end, name = "joiner" })
      corral.scope(function(s)
        s:cancel("not needed")
        corral.scope(function()
          corral.sleep(0.5)
          L.tree = line_here(); out = corral.tree(format)
        end, { shield = true, name = "cleanup" })
      end, { name = "outer", timeout = 10 })
      g:cancel("seen enough")
    end, { name = "workers" })
  end, { clock = "virtual" })
  return out
end

describe("corral.tree", function()
  it("draws every group, scope and task with status, wait and file:line", function()
    local text = known_program()
    local src = "introspection_spec.lua:"
    assert.matches("^corral tree at 0%.750s: 6 tasks\n", text)
    local root, d0 = find_line(text, "task task-1 #1 running")
    assert.truthy(root:find(src .. L.tree, 1, true))
    local group, d1 = find_line(text, "group workers #")
    assert.is_true(d1 > d0)
    local checks = {
      { "task sleeper #", "waiting on sleep (4.250s left)", L.sleep },
      { "task receiver #", "waiting on channel recv", L.recv },
      { "task holder #", "waiting on event", L.event },
      { "task locker #", "waiting on lock held by holder", L.lock },
      { "task joiner #", "waiting on t:wait for holder", L.join },
    }
    for _, c in ipairs(checks) do
      local l, d = find_line(text, c[1])
      assert.truthy(l:find(c[2], 1, true), l)
      assert.truthy(l:find(src .. c[3], 1, true), l)
      assert.is_true(d > d1, "a child is drawn deeper than its group")
    end
    local outer, d2 = find_line(text, "scope outer #")
    assert.truthy(outer:find('(cancelled: explicit "not needed" by task-1; deadline in 9.500s)', 1, true), outer)
    assert.is_true(d2 > d1)
    local cleanup, d3 = find_line(text, "scope cleanup #")
    assert.truthy(cleanup:find("(shield)", 1, true), cleanup)
    assert.is_true(d3 > d2)
    assert.truthy(group)
  end)

  it("gives the same as nested tables with format = \"table\"", function()
    local t = known_program({ format = "table" })
    assert.equal("task", t.kind)
    assert.equal("task-1", t.name)
    assert.equal(1, t.id)
    assert.equal("running", t.status)
    assert.equal(0.75, t.now)
    assert.matches("introspection_spec.lua:" .. L.tree .. "$", t.where)
    local g = t.children[1]
    assert.same({ "group", "workers" }, { g.kind, g.name })
    local by_name = {}
    for _, c in ipairs(g.children) do by_name[c.name] = c end
    assert.same({ kind = "sleep", what = "sleep", left = 4.25, text = "sleep (4.250s left)" },
      by_name.sleeper.wait)
    assert.equal("waiting", by_name.sleeper.status)
    assert.matches(":" .. L.sleep .. "$", by_name.sleeper.where)
    assert.same({ kind = "recv", what = "channel recv", capacity = 0, text = "channel recv" },
      by_name.receiver.wait)
    assert.equal("holder", by_name.locker.wait.held_by)
    assert.equal("lock", by_name.locker.wait.what)
    assert.same({ kind = "join", what = "t:wait for", task = "holder", text = "t:wait for holder" },
      by_name.joiner.wait)
    local outer = by_name.outer
    assert.same({ source = "explicit", reason = "not needed", origin = "task-1" }, outer.cancelled)
    assert.equal(9.5, outer.deadline)
    assert.equal("cleanup", outer.children[1].name)
    assert.is_true(outer.children[1].shield)
  end)

  it("rejects unknown options and formats, and calls outside a run", function()
    corral.run(function()
      assert.error_matches(function() corral.tree({ fromat = "table" }) end,
        "bad argument #1 to 'tree' (unknown option 'fromat')", 1, true)
      assert.error_matches(function() corral.tree({ format = "xml" }) end,
        'format must be "text" or "table"', 1, true)
    end, { clock = "virtual" })
    assert.error_matches(function() corral.tree() end, "outside corral.run", 1, true)
  end)

  it("shows a task that has not started where its function begins, and stopping groups", function()
    local text
    corral.run(function()
      corral.group(function(g)
        g:spawn({ function() g:wait_stopping() end, name = "listener" })
        L.fn = line_here(); g:spawn({ function() end, name = "fresh" })
        g:stop()
        text = corral.tree()
      end, { name = "svc" })
    end, { clock = "virtual" })
    local l = find_line(text, "group svc #")
    assert.truthy(l:find("(stopping)", 1, true), l)
    l = find_line(text, "task fresh #")
    assert.truthy(l:find("scheduled at ", 1, true), l)
    assert.truthy(l:find("introspection_spec.lua:" .. L.fn, 1, true), l)
  end)
end)

describe("the deadlock report", function()
  it("names each stuck task, what it waits on and where, before cleanups ran", function()
    local ok, err = pcall(corral.run, function()
      local ev = corral.event()
      corral.group(function(g)
        g:spawn({ function()
          local _ <close> = setmetatable({}, { __close = function() end })
          L.dl_event = line_here(); ev:wait()
        end, name = "waiter" })
        L.dl_send = line_here(); corral.channel():send(1)
      end, { name = "main" })
    end, { clock = "virtual" })
    assert.is_false(ok)
    assert.matches("^corral.run: deadlock: every task was blocked", err)
    local l, d0 = find_line(err, "task task-1 #1 waiting on channel send")
    assert.truthy(l:find("introspection_spec.lua:" .. L.dl_send, 1, true), l)
    local _, d1 = find_line(err, "group main #")
    l = find_line(err, "task waiter #")
    assert.truthy(l:find("waiting on event at ", 1, true), l)
    assert.truthy(l:find("introspection_spec.lua:" .. L.dl_event, 1, true), l)
    assert.falsy(err:find("unwinding", 1, true))     -- captured before the cancel
    assert.is_true(d1 > d0)
  end)

  it("names a stream's peer: a read waits on it 'from', a write 'to'", function()
    local text
    corral.run(function()
      corral.group(function(g)
        local l = corral.tcp.listen("127.0.0.1", 0)
        local c1 = corral.tcp.connect("127.0.0.1", l.port)
        local s1 = l:accept()
        local c2 = corral.tcp.connect("127.0.0.1", l.port)
        local s2 = l:accept()
        local reader = g:spawn({ function() s1:read() end, name = "reader" })  -- c1 sends nothing
        local writer = g:spawn({ function()      -- nobody reads c2: it fills
          local big = string.rep("x", 1 << 20)
          while true do s2:write(big) end
        end, name = "writer" })
        -- until both wait (a loaded machine may take longer than any fixed sleep)
        repeat corral.sleep(0.05) until reader.status == "waiting" and writer.status == "waiting"
        text = corral.tree()
        g:cancel()
        for _, x in ipairs({ s1, c1, s2, c2, l }) do x:close() end
      end)
    end)
    assert.truthy(find_line(text, "task reader #"):find("waiting on read from 127.0.0.1:", 1, true))
    assert.truthy(find_line(text, "task writer #"):find("waiting on write to 127.0.0.1:", 1, true))
  end)

  it("says a g:start child waits for a slot its starter holds (limit = 1)", function()
    local held
    local ok, err = pcall(corral.run, function()
      corral.group(function(g)
        g:spawn({ function()
          g:spawn(function() end)            -- queued behind the starter too
          g:start({ function(ready) ready() end, name = "inner" })
        end, name = "outer" })
        corral.sleep(1)                          -- once every task is blocked
        held = corral.tree({ format = "table" }).children[1].children
      end, { limit = 1 })
    end, { clock = "virtual" })
    assert.is_false(ok)
    assert.matches("^corral.run: deadlock", err)
    local l = find_line(err, "task inner #")
    assert.truthy(l:find("scheduled, waiting for a slot of its group (limit 1)", 1, true), l)
    l = find_line(err, "task outer #")
    assert.truthy(l:find("waiting on g:start of inner", 1, true), l)
    assert.falsy(find_line(err, "task outer #"):find("slot", 1, true))
    assert.equal(2, #held)                     -- outer, and the plain spawn
    assert.equal("waiting", held[1].status)   -- in g:start
    assert.is_nil(held[1].held)
    assert.equal("scheduled", held[2].status)
    assert.equal(1, held[2].held)
  end)
end)

-- --- the trace ----------------------------------------------------------

local function traced_run(fn, opts)
  local path = os.tmpname()
  opts = opts or {}
  opts.clock, opts.trace = "virtual", path
  local ok, err = pcall(corral.run, fn, opts)
  local text = slurp(path)
  os.remove(path)
  return text, ok, err
end

local function busy_program()
  corral.group(function(g)
    for i = 1, 3 do
      g:spawn({ function() corral.sleep(i); corral.checkpoint() end, name = "napper-" .. i })
    end
    g:spawn({ function() corral.sleep(1.5); error("boom", 0) end, name = "failing" })
    local slow = g:spawn({ function() corral.sleep(100) end, name = "slow" })
    g:spawn({ function() corral.sleep(0.5); slow:cancel("too slow") end, name = "killer" })
  end, { defer_errors = true, name = "crew" })
end

local function decode(text)
  local t, _, err = json.decode(text)
  assert(t, err)
  return t
end

-- Slices of each track, and a check that an instant lies in one of them.
local function slices_by_track(events)
  local by = {}
  for _, e in ipairs(events) do
    if e.ph == "X" then
      local k = e.pid .. "/" .. e.tid
      by[k] = by[k] or {}
      table.insert(by[k], e)
    end
  end
  for _, list in pairs(by) do table.sort(list, function(a, b) return a.ts < b.ts end) end
  return by
end

describe("run{trace = path}", function()
  it("writes valid JSON: a track per task under its group, slices, marks, flows", function()
    local text, ok = traced_run(function() pcall(busy_program) end)
    assert.is_true(ok)
    local t = decode(text)
    assert.equal(0, t.otherData.dropped_events)
    local ev = t.traceEvents
    local threads, processes, spawns, exits, errors, cancels, cancelled = {}, {}, {}, {}, {}, {}, {}
    for _, e in ipairs(ev) do
      if e.ph == "M" and e.name == "thread_name" then threads[e.tid] = { name = e.args.name, pid = e.pid } end
      if e.ph == "M" and e.name == "process_name" then processes[e.pid] = e.args.name end
      if e.cat == "spawn" then spawns[e.tid] = (spawns[e.tid] or 0) + 1 end
      if e.cat == "exit" then exits[e.tid] = (exits[e.tid] or 0) + 1 end
      if e.cat == "error" then errors[#errors + 1] = e end
      if e.cat == "cancel" then cancels[#cancels + 1] = e end
      if e.cat == "cancelled" then cancelled[#cancelled + 1] = e end
    end
    -- every task has a track named after it, in its group's process
    local names = {}
    for tid, th in pairs(threads) do names[th.name:match("^(.-) #")] = th end
    for _, n in ipairs({ "task-1", "napper-1", "napper-2", "napper-3", "failing", "slow", "killer" }) do
      assert.truthy(names[n], n)
    end
    assert.equal("run", processes[names["task-1"].pid])
    assert.matches("^group crew #%d+ in task%-1$", processes[names["napper-1"].pid])
    assert.equal(names["napper-1"].pid, names["slow"].pid)
    -- every spawn has exactly one exit
    for tid in pairs(threads) do
      assert.equal(1, spawns[tid], "spawn of " .. tid)
      assert.equal(1, exits[tid], "exit of " .. tid)
    end
    -- the failure and the cancel, with the error, the source and the reason
    assert.equal(1, #errors)
    assert.equal("boom", errors[1].args.error)
    local c
    for _, e in ipairs(cancels) do if e.args.reason == "too slow" then c = e end end
    assert.truthy(c)
    assert.equal("explicit", c.args.source)
    assert.equal("killer", c.args.origin)
    assert.equal(names.killer.pid .. "/" .. c.tid, names.killer.pid .. "/" .. c.tid)
    local slow_cancelled = false
    for _, e in ipairs(cancelled) do
      if e.args.reason == "too slow" and threads[e.tid].name:find("^slow") then slow_cancelled = true end
    end
    assert.is_true(slow_cancelled)
    -- slices never overlap within a task; waits say what was awaited
    local by = slices_by_track(ev)
    local sleeps = 0
    for _, list in pairs(by) do
      for i = 2, #list do
        assert.is_true(list[i - 1].ts + list[i - 1].dur <= list[i].ts + 1e-9, "overlap")
      end
      for _, s in ipairs(list) do
        if s.cat == "wait" and s.name:find("^sleep") then sleeps = sleeps + 1 end
      end
    end
    assert.is_true(sleeps >= 6)
    -- flows: one start and one finish per id, each inside a slice of its track
    local flows = {}
    for _, e in ipairs(ev) do
      if e.ph == "s" or e.ph == "f" then
        flows[e.id] = flows[e.id] or {}
        assert.is_nil(flows[e.id][e.ph])
        flows[e.id][e.ph] = e
        local inside = false
        for _, s in ipairs(by[e.pid .. "/" .. e.tid] or {}) do
          if s.ts <= e.ts + 1e-9 and e.ts <= s.ts + s.dur + 1e-9 then inside = true end
        end
        assert.is_true(inside, "flow end outside any slice")
      end
    end
    local spawn_flows, cancel_flows = 0, 0
    for _, f in pairs(flows) do
      assert.truthy(f.s and f.f)
      if f.s.name == "spawn" then spawn_flows = spawn_flows + 1 end
      if f.s.name == "cancel" then cancel_flows = cancel_flows + 1 end
    end
    assert.equal(6, spawn_flows)      -- task-1 -> each child
    assert.is_true(cancel_flows >= 1) -- killer -> slow
  end)

  it("marks an error whose __tostring raises with the text the ErrorGroup gives it, not '?'", function()
    local bad = setmetatable({}, { __tostring = function() error("no text") end })
    local text = traced_run(function()
      pcall(corral.group, function(g)
        g:spawn({ function() error(bad) end, name = "bad" })
      end)
    end)
    local marks = {}
    for _, e in ipairs(decode(text).traceEvents) do
      if e.cat == "error" then marks[#marks + 1] = e.args.error end
    end
    assert.same({ "(a table value whose __tostring failed)" }, marks)
  end)

  it("keeps only the newest trace_limit events and writes how many were dropped", function()
    local text = traced_run(function()
      for _ = 1, 50 do corral.checkpoint() end
    end, { trace_limit = 20 })
    local t = decode(text)
    assert.equal(20, t.otherData.trace_limit)
    assert.equal(20, t.otherData.events)
    assert.is_true(t.otherData.dropped_events > 50)
    local exits = 0
    for _, e in ipairs(t.traceEvents) do if e.cat == "exit" then exits = exits + 1 end end
    assert.equal(1, exits)           -- the newest events are kept
  end)

  -- What broke: with the oldest events dropped, a named group that had ended
  -- was written as "group #2" (its name and owner rode only on the dropped
  -- spawn), the task waiting the whole window had an empty track, and the
  -- SVG drew 6 s -> 7 s over an axis from 0 to 1 s.
  it("keeps group names, earlier waits and the run's time when older events are dropped", function()
    local text = traced_run(function()
      corral.group(function(g)
        g:spawn({ function()
          corral.sleep(6)
          for _ = 1, 20 do corral.checkpoint() end
          corral.sleep(1)
        end, name = "worker" })
      end, { name = "pool" })
    end, { trace_limit = 30 })
    local t = decode(text)
    assert.is_true(t.otherData.dropped_events > 0)
    assert.equal(0, t.otherData.start_ts)
    local processes, first = {}, math.huge
    for _, e in ipairs(t.traceEvents) do
      if e.ph == "M" and e.name == "process_name" then processes[e.pid] = e.args.name end
      if e.ph ~= "M" then first = math.min(first, e.ts) end
    end
    assert.is_true(first >= 6e6)
    local pool
    for _, name in pairs(processes) do if name:find("^group pool") then pool = name end end
    assert.matches("^group pool #%d+ in task%-1$", pool)
    local by = slices_by_track(t.traceEvents)
    local root = by["1/1"]
    assert.truthy(root, "the root's track")
    assert.equal("wait (began before the kept events)", root[1].name)
    assert.near(first, root[1].ts, 1e-6)
    local svg = trace_svg.render(text)
    assert.truthy(svg:find("the picture starts 6s into the run", 1, true))
    assert.truthy(svg:find(">6.5s<", 1, true))
    assert.is_nil(svg:find(">500ms<", 1, true))
  end)

  it("names the groups of the kept events after many groups came and went", function()
    local text = traced_run(function()
      for i = 1, 3000 do
        corral.group(function(g) g:spawn(corral.checkpoint) end, { name = "g" .. i })
      end
    end, { trace_limit = 50 })
    local t = decode(text)
    local named = 0
    for _, e in ipairs(t.traceEvents) do
      if e.ph == "M" and e.name == "process_name" and e.args.name ~= "run" then
        assert.matches("^group g%d+ #%d+ in task%-1$", e.args.name)
        named = named + 1
      end
    end
    assert.is_true(named >= 5)
  end)

  -- What broke (found verifying the above): the side table was pruned to the
  -- groups the ring named at that moment, so a long-lived group whose events
  -- were all dropped lost its name for good; a task whose first kept record
  -- was a cancel reaching it still had an empty lane; and a stray UTF-8
  -- continuation byte after a valid character made the file invalid JSON.
  it("keeps open groups' names through prunes, and lanes and JSON whole", function()
    local text = traced_run(function()
      corral.group(function(outer)
        outer:spawn({ function()
          corral.group(function(g)
            g:spawn({ function() corral.sleep(10) end, name = "sleeper" })
          end, { name = "LONG" })
        end, name = "long-owner" })
        outer:spawn({ function()
          for _ = 1, 1500 do corral.group(function(g) g:spawn(function() end) end) end
        end, name = "churner" })
        outer:spawn({ function() corral.sleep(100) end, name = "a\x80b" })
        corral.sleep(20)
        outer:cancel("enough")
      end)
    end, { trace_limit = 100 })
    local t = decode(text)            -- dkjson refuses invalid UTF-8 too
    local processes, threads = {}, {}
    for _, e in ipairs(t.traceEvents) do
      if e.ph == "M" and e.name == "process_name" then processes[#processes + 1] = e.args.name end
      if e.ph == "M" and e.name == "thread_name" then threads[e.args.name:match("^(.-) #")] = e end
    end
    local long = false
    for _, name in ipairs(processes) do
      if name:find("^group LONG #%d+ in long%-owner$") then long = true end
    end
    assert.is_true(long, table.concat(processes, "; "))
    local odd = threads["a\u{FFFD}b"]
    assert.truthy(odd, "the task with the stray byte")
    local slices = slices_by_track(t.traceEvents)[odd.pid .. "/" .. odd.tid]
    assert.truthy(slices, "its lane")
    assert.equal("wait (began before the kept events)", slices[1].name)
  end)

  it("draws an axis that ends and whose labels differ, whatever start_ts says", function()
    local function svg_of(other, events)
      other.dropped_events = 5
      return trace_svg.render(json.encode({ traceEvents = events, otherData = other }))
    end
    local tiny = { { ph = "X", name = "run", cat = "run", ts = 0, dur = 0.000002, pid = 2, tid = 3 } }
    local svg = svg_of({ start_ts = -9e14 }, tiny)           -- ended before: never
    assert.is_nil(svg:find("into the run", 1, true))
    local late = { { ph = "X", name = "run", cat = "run", ts = 7200e6, dur = 10e3, pid = 2, tid = 3 } }
    svg = svg_of({ start_ts = 0 }, late)
    local labels, seen = 0, {}
    for l in svg:gmatch('class="t">([^<]*)<') do
      assert.is_nil(seen[l], "two ticks labelled " .. l)
      seen[l], labels = true, labels + 1
    end
    assert.is_true(labels >= 5)
    assert.truthy(seen["7200.002s"], "ticks 2 ms apart, 2 h into the run")
    assert.truthy(svg:find("the picture starts 7200s into the run", 1, true))
  end)

  -- What broke: the root's cancel on SIGINT was emitted before its reason
  -- was set, so the trace's cancel marks had none.
  it("gives a signal's cancel its reason", function()
    local pid = io.open("/proc/self/stat"):read("l"):match("^(%d+)")
    local path = os.tmpname()
    local ok, err = pcall(corral.run, function()
      corral.exec("/bin/kill", { "-INT", pid }):wait()
      corral.sleep(10)
    end, { signals = true, trace = path })
    local t = decode(slurp(path))
    os.remove(path)
    assert.is_false(ok)
    assert.equal("SIGINT", err.reason)
    local marks = 0
    for _, e in ipairs(t.traceEvents) do
      if e.cat == "cancel" then
        assert.equal("signal", e.args.source)
        assert.equal("SIGINT", e.args.reason)
        marks = marks + 1
      end
    end
    assert.equal(1, marks)
  end)

  it("keeps every event under a huge trace_limit, which is a bound, not an allocation", function()
    local text = traced_run(function()
      corral.group(function(g)
        for _ = 1, 1200 do g:spawn(corral.checkpoint) end
      end)
    end, { trace_limit = 2 ^ 31 - 1 })    -- a whole float, as limit takes it
    local t = decode(text)
    assert.equal(2 ^ 31 - 1, t.otherData.trace_limit)
    assert.equal(0, t.otherData.dropped_events)
    assert.is_true(t.otherData.events > 4096)      -- past the first ring
    local spawns = 0
    for _, e in ipairs(t.traceEvents) do if e.cat == "spawn" then spawns = spawns + 1 end end
    assert.equal(1201, spawns)                   -- and the root
  end)

  it("is written when the run fails, and checks its options", function()
    local text, ok, err = traced_run(function() error("broken", 0) end)
    assert.is_false(ok)
    assert.equal("broken", err)
    assert.truthy(decode(text).traceEvents)
    assert.error_matches(function() corral.run(function() end, { trace = 42 }) end,
      "trace must be a file name", 1, true)
    assert.error_matches(function() corral.run(function() end, { trace = "x", trace_limit = 0 }) end,
      "trace_limit must be an integer >= 1", 1, true)
    assert.error_matches(function()
      corral.run(function() end, { trace = "/nonexistent/dir/t.json" })
    end, "cannot open trace file '/nonexistent/dir/t.json'", 1, true)
  end)
end)

-- --- trace-svg --------------------------------------------------------------

-- Well-formed XML: balanced tags, quoted attributes, only the five entities.
local function check_xml(svg)
  local stack, pos = {}, 1
  while true do
    local s, e, close, name, attrs, selfclose = svg:find("<(/?)([%w:_-]+)([^<>]-)(/?)>", pos)
    if not s then break end
    local between = svg:sub(pos, s - 1)
    assert.is_nil(between:find("<", 1, true), "stray <")
    for ent in between:gmatch("&([^;]*);") do
      assert.truthy(({ lt = 1, gt = 1, amp = 1, quot = 1, ["#39"] = 1 })[ent], ent)
    end
    assert.is_nil(between:gsub("&%a+;", ""):gsub("&#%d+;", ""):find("&", 1, true), "bare &")
    if close == "/" then
      assert.equal(table.remove(stack), name)
    elseif selfclose ~= "/" then
      stack[#stack + 1] = name
    end
    assert.is_nil(attrs:gsub('%s[%w:-]+="[^"]*"', ""):find("%S"), "bad attributes: " .. attrs)
    pos = e + 1
  end
  assert.same({}, stack)
end

describe("corral trace-svg", function()
  it("rejects an unknown option as every options table does", function()
    assert.error_matches(function() trace_svg.render("{}", { widht = 800 }) end,
      "bad argument #2 to 'render' (unknown option 'widht')", 1, true)
  end)

  it("renders a well-formed SVG that names every task", function()
    local text = traced_run(function() pcall(busy_program) end)
    local svg = trace_svg.render(text)
    assert.matches("^<svg xmlns=\"http://www.w3.org/2000/svg\"", svg)
    check_xml(svg)
    for _, n in ipairs({ "task-1", "napper-1", "napper-2", "napper-3", "failing", "slow", "killer" }) do
      assert.truthy(svg:find(">" .. n:gsub("%-", "%%-") .. " #%d+<"), n)
    end
    assert.truthy(svg:find("group crew #", 1, true))
    assert.truthy(svg:find("error: boom", 1, true))
  end)

  -- What broke: a lane's label was right-aligned and never cut, so a long
  -- name lost its start off the edge, and with it nothing told lanes apart
  -- but what was left; a long group header ran past the right edge.
  it("cuts long names to fit, keeping a lane label's start and its #id", function()
    local long = "conn 192.168.100.1:5432 GET /api/v1/users/1000/orders"
    local text = traced_run(function()
      corral.group(function(g)
        for i = 1, 2 do g:spawn({ function() corral.sleep(i) end, name = long .. i }) end
      end, { name = ("G"):rep(300) })
    end)
    local svg = trace_svg.render(text)
    check_xml(svg)
    local labels = {}
    for l in svg:gmatch('class="l">([^<]*)<') do labels[#labels + 1] = l end
    local cut = 0
    for _, l in ipairs(labels) do
      if l:find("…", 1, true) then
        cut = cut + 1
        assert.matches("^conn 192%.168", l)
        assert.matches("orders%d #%d+$", l)
      end
    end
    assert.equal(2, cut)
    -- by the width of what is drawn: wide letters and CJK are cut sooner,
    -- and a character with its combining mark, or a joined emoji, stays whole
    local function label_of(name)
      local t = traced_run(function()
        corral.group(function(g) g:spawn({ function() corral.sleep(1) end, name = name }) end)
      end)
      local svg = trace_svg.render(t)
      check_xml(svg)
      for l in svg:gmatch('class="l">([^<]*)<') do
        if not l:find("^task%-1") then return l end
      end
    end
    local ws = label_of(("W"):rep(30))
    assert.matches("…", ws, 1, true)
    assert.is_true(utf8.len(ws) < 30)
    local cjk = label_of(("データベース接続プール"):rep(2))
    assert.matches("…", cjk, 1, true)
    local accents = label_of(("e\u{301}"):rep(60))
    assert.falsy(accents:find("…\u{301}", 1, true))  -- no mark left without its letter
    local family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}"
    -- whole units only on each side of the cut: a family, a flag, a Hebrew
    -- letter with its point, a Tamil letter with its virama
    -- what is drawn, not what is counted: a mark drawn as "?" (an LRM), a run of
    -- lone skin tones, keycaps
    for _, unit in ipairs({ "\u{200E}", "\u{1F3FD}", "1\u{FE0F}\u{20E3}" }) do
      assert.matches("…", label_of(unit:rep(60)), 1, true)
    end
    for _, unit in ipairs({ family, "\u{1F1FA}\u{1F1F8}", "\u{5E9}\u{5B9}", "\u{BB8}\u{BCD}",
                            "1\u{FE0F}\u{20E3}", "\u{304B}\u{3099}" }) do
      local l = label_of(unit:rep(60))
      local at = assert(l:find("…", 1, true), l)
      for _, piece in ipairs({ l:sub(1, at - 1), l:sub(at + #"…") }) do
        local rest = piece:gsub(" #%d+$", ""):gsub(unit, "")
        assert.equal("", rest)
      end
    end
    local header = svg:match('class="h">(group GGG[^<]*)<')
    assert.matches("…$", header)
    assert.is_true(utf8.len(header) < 300)
  end)

  it("cuts a long title in the middle, keeping the trace file's name", function()
    local text = traced_run(function() corral.sleep(1) end)
    local svg = trace_svg.render(text, { title = "corral trace: " .. ("deep/"):rep(80) .. "service.json" })
    local title = svg:match('<text x="8" y="16" class="h">([^<]*)<')
    assert.matches("…", title, 1, true)
    assert.matches("service%.json$", title)
  end)

  it("collapses a group of many tasks into one lane", function()
    local text = traced_run(function()
      corral.group(function(g)
        for i = 1, 100 do g:spawn(function() corral.sleep(i / 100) end) end
      end, { name = "many" })
    end)
    local svg = trace_svg.render(text)
    check_xml(svg)
    assert.truthy(svg:find("100 tasks (collapsed)", 1, true))
    assert.falsy(svg:find(">task%-50 #"))
  end)

  -- What broke: a write error (a full disk) was lost, and it exited 0.
  it("fails when it cannot write the SVG", function()
    local path = os.tmpname()
    local text = traced_run(function() corral.sleep(1) end)
    local f = assert(io.open(path, "w"))
    f:write(text)
    f:close()
    local p = assert(io.popen(("%s trace-svg %s 2>&1 >/dev/full; echo \"exit=$?\""):format(BIN, path)))
    local out = p:read("a")
    p:close()
    os.remove(path)
    assert.matches("trace%-svg: cannot write the SVG: No space left on device", out)
    assert.matches("exit=1", out)
  end)

  it("is the command `corral trace-svg file`", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write((traced_run(function() corral.sleep(1) end)))
    f:close()
    local r = converse.run({ BIN, "trace-svg", path })
    local piped = converse.run({ BIN, "trace-svg", "-" }, nil, slurp(path))  -- stdin
    os.remove(path)
    assert.equal(0, r.code)
    check_xml(r.stdout)
    assert.truthy(r.stdout:find(">task%-1 #1<"))
    assert.equal(0, piped.code, piped.stderr)
    assert.truthy(piped.stdout:find(">task%-1 #1<"))
    local dir = converse.run({ BIN, "trace-svg", "/" })
    assert.equal(1, dir.code)
    assert.equal("corral: trace-svg: /: Is a directory\n", dir.stderr)
    local help = converse.run({ BIN, "trace-svg", "--help" })
    assert.equal(0, help.code)
    assert.matches("^usage: corral trace%-svg trace%.json", help.stdout)
    assert.equal("", help.stderr)
  end)
end)

-- --- SIGUSR1 ----------------------------------------------------------------

describe("the corral command on SIGUSR1", function()
  it("prints the tree to stderr and goes on undisturbed", function()
    local script = converse.tmpfile([[
local corral = require "corral"
corral.group(function(g)
  g:spawn({function() corral.sleep(math.huge) end, name = "dreamer"})
  local listener = g:spawn({function() corral.signal("SIGUSR1") end, name = "listener"})
  corral.sleep(0)              -- both children are parked now
  print("ready")
  io.stdout:flush()
  listener:wait()              -- the dump happens too: the program goes on
  print("after the signal")
  g:cancel()
end, {name = "crew"})
print("done")
]])
    local r = converse.run({ BIN, script }, { { expect = "ready", send = "SIGUSR1" } })
    os.remove(script)
    assert.equal(0, r.code)
    assert.same({ "ready", "after the signal", "done" }, converse.lines(r.stdout))
    assert.matches("corral tree at [%d.]+s: 3 tasks\n", r.stderr)
    local l = find_line(r.stderr, "task dreamer #")
    assert.truthy(l:find("waiting on sleep (forever) at ", 1, true), l)
    assert.truthy(l:find(":3", 1, true), l)
    find_line(r.stderr, "group crew #")
  end)
end)
