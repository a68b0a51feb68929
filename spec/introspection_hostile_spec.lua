-- spec/introspection_hostile_spec.lua: a hostile look at what docs/debugging.md
-- promises about seeing inside a run. corral.tree (text and table) called from
-- odd places and about odd names; the trace file (bad paths and limits, runs
-- that fail, deadlock or are cancelled, names that need escaping); `corral
-- trace-svg` on files that are cut, empty, not traces, or huge; SIGUSR1 under
-- the command; t:traceback() for every status and tracebacks in an ErrorGroup.
-- Everything in-process runs on the virtual clock; nothing measures time.

local corral = require "corral"
local json = require "dkjson"
local converse = require "converse"
local trace_svg = require "corral.trace_svg"

local BIN = os.getenv("CORRAL_BIN") or "build/corral"

local function line_here() return debug.getinfo(2, "l").currentline end
local SRC = debug.getinfo(1, "S").short_src

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

local function spit(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- The line of `text` containing `needle` (plain).
local function find_line(text, needle)
  for l in text:gmatch("[^\n]+") do
    if l:find(needle, 1, true) then return l end
  end
  error("no line contains " .. needle .. " in:\n" .. text, 2)
end

-- Depth-first list of every node of a table tree.
local function nodes(t, out)
  out = out or {}
  out[#out + 1] = t
  for _, c in ipairs(t.children or {}) do nodes(c, out) end
  return out
end

local function node_named(t, name)
  for _, n in ipairs(nodes(t)) do if n.name == name then return n end end
  error("no node named " .. tostring(name), 2)
end

-- Strict JSON as a file must be: valid UTF-8, no raw control bytes inside it
-- (JSON strings may not hold them; newlines between tokens are allowed), no
-- NaN/Infinity, and it decodes to a trace.
local function check_trace_json(text)
  assert.truthy(utf8.len(text), "the trace is not valid UTF-8")
  assert.is_nil(text:find("[%z\1-\9\11-\31]"), "a raw control byte in the trace")
  assert.is_nil(text:find("%f[%w]NaN%f[%W]"), "NaN in the trace")
  assert.is_nil(text:find("%f[%w]Infinity%f[%W]"), "Infinity in the trace")
  local doc, _, err = json.decode(text)
  assert.is_nil(err)
  assert.equal("table", type(doc.traceEvents))
  assert.equal("number", type(doc.otherData.dropped_events))
  return doc
end

local function traced(fn, opts)
  local path = os.tmpname()
  opts = opts or {}
  opts.clock = opts.clock or "virtual"
  opts.trace = path
  local ok, err = pcall(corral.run, fn, opts)
  local text = slurp(path)
  os.remove(path)
  return text, ok, err
end

-- Well-formed XML: balanced tags, quoted attributes, only the five entities
-- and numeric ones.
local function check_xml(svg)
  local stack, pos = {}, 1
  while true do
    local s, e, close, name, attrs, selfclose = svg:find("<(/?)([%w:_-]+)([^<>]-)(/?)>", pos)
    if not s then break end
    local between = svg:sub(pos, s - 1)
    assert.is_nil(between:find("<", 1, true), "stray <")
    assert.is_nil(between:gsub("&%a+;", ""):gsub("&#x?%x+;", ""):find("&", 1, true), "bare &")
    if close == "/" then
      assert.equal(table.remove(stack), name)
    elseif selfclose ~= "/" then
      stack[#stack + 1] = name
    end
    assert.is_nil(attrs:gsub('%s[%w:-]+="[^"]*"', ""):find("%S"), "bad attributes: " .. attrs)
    pos = e + 1
  end
  assert.same({}, stack)
  assert.truthy(utf8.len(svg), "the SVG is not valid UTF-8")
  assert.is_nil(svg:find("[%z\1-\8\11\12\14-\31]"), "a control byte XML forbids")
end

-- --- corral.tree: where it may be called ------------------------------------

describe("corral.tree, called from anywhere", function()
  it("refuses a call outside any run, before and after one", function()
    assert.error_matches(function() corral.tree() end, "outside corral.run", 1, true)
    corral.run(function() end, { clock = "virtual" })
    assert.error_matches(function() corral.tree { format = "table" } end,
      "outside corral.run", 1, true)
  end)

  it("refuses unknown options, bad formats and a non-table argument", function()
    corral.run(function()
      assert.error_matches(function() corral.tree { formt = "table" } end,
        "unknown option 'formt'", 1, true)
      assert.error_matches(function() corral.tree { format = "xml" } end,
        'format must be "text" or "table"', 1, true)
      assert.error_matches(function() corral.tree "table" end, "table expected", 1, true)
      assert.equal(corral.tree(), corral.tree {})
      assert.equal(corral.tree(), corral.tree { format = "text" })
    end, { clock = "virtual" })
  end)

  it("answers inside a handler unwinding a Cancelled, in __close, in __gc and in on_error", function()
    local seen = {}
    corral.run(function()
      corral.group(function(g)
        g:spawn({ function()
          local ok, e = pcall(corral.sleep, 10)
          assert.is_false(ok)
          assert.is_true(corral.is_cancelled(e))
          seen.handler = corral.tree()
          seen.handler_t = corral.tree { format = "table" }
          do
            local _ <close> = setmetatable({}, { __close = function() seen.close = corral.tree() end })
          end
        end, name = "victim" })
        g:spawn({ function()
          setmetatable({}, { __gc = function() seen.gc = corral.tree() end })
          collectgarbage()
          collectgarbage()
        end, name = "collector" })
        corral.sleep(1)
        g:cancel("enough")
        seen.body = corral.tree()
      end, { name = "crew" })
      corral.group(function(g)
        g:spawn({ function() error("boom", 0) end, name = "faller" })
      end, { name = "judged", on_error = function()
        seen.on_error = corral.tree()
        return true
      end })
    end, { clock = "virtual" })
    -- In the handler the task still runs inside its cancelled group.
    assert.truthy(find_line(seen.handler, "task victim #"):find("running, unwinding a Cancelled", 1, true))
    assert.truthy(find_line(seen.handler, "group crew #"):find('(cancelled: explicit "enough" by task-1)', 1, true))
    assert.is_true(node_named(seen.handler_t, "victim").unwinding)
    assert.same({ source = "explicit", reason = "enough", origin = "task-1" },
      node_named(seen.handler_t, "crew").cancelled)
    assert.truthy(find_line(seen.close, "task victim #"):find("running", 1, true))
    assert.truthy(find_line(seen.gc, "task collector #"):find("running at " .. SRC, 1, true))
    assert.truthy(find_line(seen.body, "task task-1 #1"):find("running, unwinding a Cancelled", 1, true))
    assert.truthy(find_line(seen.on_error, "task faller #"):find("running", 1, true))
    find_line(seen.on_error, "group judged #")
  end)

  it("draws a g:start child under its starter, a limit-held child, a stop's grace and a deadline", function()
    local text, tbl, L = nil, nil, {}
    corral.run(function()
      corral.group(function(g)
        g:spawn({ function()
          g:start(function(ready) L.starting = line_here(); corral.sleep(5); ready() end)
        end, name = "starter" })
        g:spawn({ function()
          corral.group(function(g2)
            g2:spawn({ function() corral.sleep(3) end, name = "first" })
            L.held = line_here(); g2:spawn({ function() corral.sleep(3) end, name = "second" })
          end, { limit = 1, name = "narrow" })
        end, name = "limiter" })
        g:spawn({ function()
          corral.group(function(g3)
            g3:spawn({ function()
              corral.scope(function() corral.sleep(100) end, { shield = true })
            end, name = "stubborn" })
            g3:stop(30)
          end, { name = "stopping" })
        end, name = "stopper" })
        g:spawn({ function()
          corral.scope(function() corral.sleep(50) end, { timeout = 7, name = "timed" })
        end, name = "timed-task" })
        corral.sleep(0.5)
        text, tbl = corral.tree(), corral.tree { format = "table" }
        g:cancel()
      end, { name = "all" })
    end, { clock = "virtual" })
    local starter = node_named(tbl, "starter")
    assert.equal("start", starter.wait.kind)
    assert.equal(1, #starter.children)
    assert.equal("task", starter.children[1].kind)
    assert.equal(SRC .. ":" .. L.starting, starter.children[1].where)
    assert.equal(4.5, starter.children[1].wait.left)
    local second = node_named(tbl, "second")
    assert.equal(1, second.held)
    assert.equal("scheduled", second.status)
    assert.truthy(find_line(text, "task second #"):find("waiting for a slot of its group (limit 1)", 1, true))
    local stopping = node_named(tbl, "stopping")
    assert.is_true(stopping.stopping)
    assert.equal(29.5, stopping.grace)
    assert.truthy(find_line(text, "group stopping #"):find("(stopping, grace ends in 29.500s)", 1, true))
    assert.equal(6.5, node_named(tbl, "timed").deadline)
    assert.truthy(find_line(text, "scope timed #"):find("(deadline in 6.500s)", 1, true))
    assert.equal(0.5, tbl.now)
    assert.truthy(text:find("^corral tree at 0.500s: 9 tasks\n"))
  end)

  it("shows a deadline that fired behind a shield as the cancel it is", function()
    local text, tbl
    corral.run(function()
      corral.scope(function()
        corral.scope(function() corral.sleep(2) end, { shield = true })
        text, tbl = corral.tree(), corral.tree { format = "table" }
      end, { timeout = 1, name = "late" })
    end, { clock = "virtual" })
    assert.truthy(find_line(text, "scope late #"):find("(cancelled: deadline", 1, true), text)
    assert.equal("deadline", node_named(tbl, "late").cancelled.source)
    assert.truthy(find_line(text, "task task-1 #1"):find("running, unwinding a Cancelled", 1, true), text)
  end)
end)

-- --- corral.tree: names and reasons -----------------------------------------

describe("corral.tree, odd names and reasons", function()
  it("refuses an empty name for a task, a group and a scope", function()
    corral.run(function()
      corral.group(function(g)
        assert.error_matches(function() g:spawn({ function() end, name = "" }) end, "name is empty", 1, true)
      end)
      assert.error_matches(function() corral.group(function() end, { name = "" }) end, "name is empty", 1, true)
      assert.error_matches(function() corral.scope(function() end, { name = "" }) end, "name is empty", 1, true)
    end, { clock = "virtual" })
  end)

  it("keeps every name on its line, escaped, and whole in the table", function()
    local names = {
      long = string.rep("x", 5000),
      ctl = "a\nb\r\tc\0d\27[31mred",
      pct = "100% %s %d %1 café",
      bidi = "evil\u{202E}txt\u{200F}\u{2028}\u{85}",
      bad = "bad\255\192utf",
    }
    local text, tbl
    corral.run(function()
      corral.group(function(g)
        for _, n in pairs(names) do g:spawn({ function() corral.sleep(1) end, name = n }) end
        corral.scope(function(s)
          s:cancel("re\nason %s \27[2J")
          text, tbl = corral.tree(), corral.tree { format = "table" }
        end, { name = "sc\n%" })
        g:cancel()
      end)
    end, { clock = "virtual" })
    -- one line per node: a header, the root, a group, 5 tasks and a scope
    local count = select(2, text:gsub("\n", ""))
    assert.equal(9, count, text)
    assert.is_nil(text:find("[%z\1-\9\11-\31\127]"), "a raw control byte in the tree")
    assert.truthy(text:find("task " .. names.long .. " #", 1, true))
    assert.truthy(text:find("task a\\nb\\013\\tc\\000d\\027[31mred #", 1, true))
    assert.truthy(text:find("task 100% %s %d %1 café #", 1, true))
    assert.truthy(text:find("task evil\\226\\128\\174txt\\226\\128\\143\\226\\128\\168\\194\\133 #", 1, true))
    assert.truthy(text:find("task bad\\255\\192utf #", 1, true))
    assert.truthy(find_line(text, "scope sc\\n% #"):find('(cancelled: explicit "re\\nason %s \\027[2J" by task-1)', 1, true), text)
    for _, n in pairs(names) do assert.equal(n, node_named(tbl, n).name) end
    assert.equal("re\nason %s \27[2J", node_named(tbl, "sc\n%").cancelled.reason)
  end)

  it("takes only a string (or number) reason, so no __tostring of a reason ever runs", function()
    corral.run(function()
      corral.scope(function(s)
        local reason = setmetatable({}, { __tostring = function() error("ran __tostring") end })
        assert.error_matches(function() s:cancel(reason) end, "string expected", 1, true)
        s:cancel(42)
        assert.equal("42", corral.tree { format = "table" }.children[1].cancelled.reason)
      end)
    end, { clock = "virtual" })
  end)

  it("shows a failure whose __tostring raises by its type, without calling it", function()
    local text, tbl
    local raised = setmetatable({}, { __tostring = function() error("ran __tostring") end })
    corral.run(function()
      pcall(corral.group, function(g)
        g:spawn({ function() error(raised) end, name = "bad-obj" })
        g:spawn({ function()
          corral.sleep(0.1)             -- fails second, in every schedule
          error("line one\nline two " .. string.rep("y", 300), 0)
        end, name = "long" })
        g:spawn({ function() corral.sleep(1) end, name = "still" })
        corral.sleep(0.5)
        text, tbl = corral.tree(), corral.tree { format = "table" }
      end, { name = "failing", defer_errors = true })
    end, { clock = "virtual" })
    local l = find_line(text, "group failing #")
    assert.truthy(l:find("[bad-obj] (a table error value)", 1, true), l)
    assert.truthy(l:find("[long] line one", 1, true), l)
    assert.is_nil(l:find("line two", 1, true), l)
    local f = node_named(tbl, "failing").failures
    assert.equal(2, #f)
    assert.equal(raised, f[1].error)
    assert.equal("bad-obj", f[1].task)
  end)
end)

-- --- corral.tree: many tasks, every wait ------------------------------------

describe("corral.tree, at scale and for every wait", function()
  it("draws 100,000 tasks, one line each, and as many table children", function()
    local text, tbl
    corral.run(function()
      corral.group(function(g)
        for _ = 1, 100000 do g:spawn(corral.sleep, 10) end
        corral.sleep(0)
        text, tbl = corral.tree(), corral.tree { format = "table" }
        g:cancel()
      end)
    end, { clock = "virtual" })
    assert.truthy(text:find("^corral tree at 0.000s: 100001 tasks\n"))
    assert.equal(100003, select(2, text:gsub("\n", "")))
    assert.equal(100000, #tbl.children[1].children)
  end)

  it("names every wait kind with the right file:line, and the table mirrors the text", function()
    local L, text, tbl = {}, nil, nil
    corral.run(function()
      local full, rendezvous = corral.channel(1), corral.channel(0)
      local lock, sem, ev = corral.lock(), corral.semaphore(1), corral.event()
      full:send(1)
      corral.group(function(g)
        g:spawn({ function() lock:acquire(); sem:acquire(); L.sleep = line_here(); corral.sleep(100) end, name = "holder" })
        corral.sleep(0.25)              -- the holder has both, in every schedule
        g:spawn({ function() L.send = line_here(); full:send(2) end, name = "sender" })
        g:spawn({ function() L.recv = line_here(); rendezvous:recv() end, name = "receiver" })
        g:spawn({ function() L.lock = line_here(); lock:acquire() end, name = "locker" })
        g:spawn({ function() L.sem = line_here(); sem:acquire() end, name = "permit" })
        g:spawn({ function() L.event = line_here(); ev:wait() end, name = "eventer" })
        local forever = g:spawn({ function() L.forever = line_here(); corral.sleep(math.huge) end, name = "forever" })
        g:spawn({ function() L.join = line_here(); forever:wait() end, name = "joiner" })
        g:spawn({ function()
          L.start = line_here(); g:start(function(ready) corral.sleep(5); ready() end)
        end, name = "starter" })
        g:spawn({ function() L.signal = line_here(); corral.signal("SIGUSR2") end, name = "sig" })
        g:spawn({ function()
          local p <close> = corral.exec("/bin/sleep", { "100" })
          g:spawn({ function() L.read = line_here(); p.stdout:read() end, name = "reader" })
          L.process = line_here(); p:wait()
        end, name = "proc" })
        corral.sleep(0.25)
        text, tbl = corral.tree(), corral.tree { format = "table" }
        g:cancel()
      end, { name = "all" })
    end, { clock = "virtual" })
    local expect = {
      holder = { "sleep", "sleep (99.500s left)", L.sleep },   -- slept at 0, tree at 0.5
      sender = { "send", "channel send", L.send },
      receiver = { "recv", "channel recv", L.recv },
      locker = { "lock", "lock held by holder", L.lock },
      permit = { "semaphore", "semaphore", L.sem },
      eventer = { "event", "event", L.event },
      forever = { "sleep", "sleep (forever)", L.forever },
      joiner = { "join", "t:wait for forever", L.join },
      sig = { "signal", "signal SIGUSR2", L.signal },
      reader = { "read", "read", L.read },
    }
    for name, e in pairs(expect) do
      local n = node_named(tbl, name)
      assert.equal(e[1], n.wait.kind, name)
      assert.equal(e[2], n.wait.text, name)
      assert.equal(SRC .. ":" .. e[3], n.where, name)
      local l = find_line(text, "task " .. name .. " #" .. n.id .. " ")
      assert.truthy(l:find("waiting on " .. e[2] .. " at " .. n.where, 1, true), l)
    end
    local starter = node_named(tbl, "starter")
    assert.equal("start", starter.wait.kind)
    assert.equal(SRC .. ":" .. L.start, starter.where)
    assert.truthy(starter.wait.text:find("^g:start of task%-%d+$"), starter.wait.text)
    local proc = node_named(tbl, "proc")
    assert.equal("process", proc.wait.kind)
    assert.equal("process of pid " .. proc.wait.pid, proc.wait.text)
    assert.equal(SRC .. ":" .. L.process, proc.where)
    assert.equal(99.5, node_named(tbl, "holder").wait.left)
    assert.equal(math.huge, node_named(tbl, "forever").wait.left)
    assert.equal("holder", node_named(tbl, "locker").wait.held_by)
    assert.equal("forever", node_named(tbl, "joiner").wait.task)
    assert.equal(1, node_named(tbl, "sender").wait.capacity)
    assert.equal(0, node_named(tbl, "receiver").wait.capacity)
    assert.equal("SIGUSR2", node_named(tbl, "sig").wait.signal)
    -- every node of the table has its line in the text, with its id and status
    for _, n in ipairs(nodes(tbl)) do
      if n.kind == "task" then
        find_line(text, "task " .. n.name .. " #" .. n.id .. " " .. n.status)
      else
        find_line(text, n.kind .. " " .. (n.name and n.name .. " " or "") .. "#" .. n.id)
      end
    end
  end)
end)

-- --- the trace file ---------------------------------------------------------

describe("run{trace = path}, hostile", function()
  it("refuses paths it cannot open and limits that are not integers >= 1", function()
    for _, bad in ipairs({ "/tmp", "/nonexistent/dir/t.json", "" }) do
      assert.error_matches(function() corral.run(function() end, { trace = bad }) end,
        "cannot open trace file '" .. bad .. "'", 1, true)
    end
    for _, bad in ipairs({ 0, -1, 1.5, 0 / 0, -math.huge, "10", 1e300, true }) do
      assert.error_matches(function()
        corral.run(function() end, { trace = "/nonexistent/t.json", trace_limit = bad })
      end, "trace_limit must be an integer >= 1", 1, true)
    end
  end)

  it("with trace_limit = 1 keeps one event, counts the rest, and is still a trace", function()
    local text = traced(function()
      corral.group(function(g) for i = 1, 50 do g:spawn(corral.sleep, i) end end)
    end, { trace_limit = 1 })
    local doc = check_trace_json(text)
    assert.equal(1, doc.otherData.events)
    assert.equal(1, doc.otherData.trace_limit)
    assert.is_true(doc.otherData.dropped_events > 100)
    check_xml(trace_svg.render(text))
  end)

  it("is a valid file when the run fails, deadlocks or cancels itself", function()
    local text, ok, err = traced(function()
      corral.group(function(g)
        g:spawn({ function() error(setmetatable({}, { __tostring = function() error("no") end })) end, name = "obj" })
      end)
    end)
    assert.is_false(ok)
    assert.is_true(corral.is_error_group(err))
    check_trace_json(text)
    text, ok, err = traced(function() corral.event():wait() end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("deadlock", 1, true))
    local doc = check_trace_json(text)
    local cancels = 0
    for _, e in ipairs(doc.traceEvents) do
      if e.ph == "i" and e.cat == "cancel" and e.args.source == "deadlock" then cancels = cancels + 1 end
    end
    assert.equal(1, cancels)
    text, ok, err = traced(function() corral.current_task():cancel('q"\\'); corral.sleep(1) end)
    assert.is_false(ok)
    assert.is_true(corral.is_cancelled(err))
    check_trace_json(text)
  end)

  it("escapes quotes, backslashes, control bytes and bad UTF-8 in names, reasons and errors", function()
    local name = "\"'<>&\\\n\t\0\1\31\127 café \u{202E}"
    local text = traced(function()
      corral.group(function(g)
        g:spawn({ function()
          corral.sleep(0.1)
          error("bad\255\"\\\0\n", 0)
        end, name = name })
        g:spawn({ function() corral.sleep(5) end, name = "victim\\\"" })
        corral.sleep(0.2)
        g:cancel("why\n\"\\\1")
      end, { name = "</g>\"&\\", defer_errors = true })
    end)
    local doc = check_trace_json(text)
    local threads, processes, reasons, errors = {}, {}, {}, {}
    for _, e in ipairs(doc.traceEvents) do
      if e.ph == "M" and e.name == "thread_name" then threads[e.args.name] = true end
      if e.ph == "M" and e.name == "process_name" then processes[e.args.name] = true end
      if e.cat == "cancel" then reasons[#reasons + 1] = e.args.reason end
      if e.cat == "error" then errors[#errors + 1] = e.args.error end
    end
    assert.is_true(threads[name .. " #3"])
    assert.is_true(threads["victim\\\" #4"])
    assert.is_true(processes["group </g>\"&\\ #2 in task-1"])
    assert.same({ "why\n\"\\\1" }, reasons)
    -- the invalid byte became U+FFFD, the rest is kept
    assert.equal("bad\u{FFFD}\"\\\0\n", errors[1])
  end)

  it("stays valid with very many events and drops the oldest", function()
    local text = traced(function()
      corral.group(function(g)
        for i = 1, 5000 do g:spawn(function() corral.sleep(0); corral.sleep(i % 7) end) end
      end)
    end, { trace_limit = 10000 })
    local doc = check_trace_json(text)
    assert.equal(10000, doc.otherData.events)
    assert.is_true(doc.otherData.dropped_events > 10000)
    local svg = trace_svg.render(text)
    check_xml(svg)
    assert.truthy(svg:find("(collapsed)", 1, true))
  end)
end)

describe("the corral command's --trace, hostile", function()
  local script = [[
local corral = require "corral"
corral.group(function(g)
  for i = 1, 3 do g:spawn({function() corral.sleep(0.001 * i) end, name = "w" .. i}) end
end, {name = "crew"})
]]

  it("takes --trace file and --trace=file and writes the same kind of trace", function()
    for _, form in ipairs({ "space", "equals" }) do
      local out = os.tmpname()
      local path = converse.tmpfile(script)
      local argv = form == "space" and { BIN, "--trace", out, path } or { BIN, "--trace=" .. out, path }
      local r = converse.run(argv)
      os.remove(path)
      assert.equal(0, r.code, r.stderr)
      local doc = check_trace_json(slurp(out))
      os.remove(out)
      local names = {}
      for _, e in ipairs(doc.traceEvents) do
        if e.ph == "M" and e.name == "thread_name" then names[e.args.name:match("^(%S+)")] = true end
      end
      assert.is_true(names.w1 and names.w2 and names.w3, form)
    end
  end)

  it("writes a valid trace of a script that deadlocks, and of one Ctrl-C cancels", function()
    local out = os.tmpname()
    local path = converse.tmpfile('local corral = require "corral"\ncorral.event():wait()\n')
    local r = converse.run({ BIN, "--trace", out, path })
    assert.equal(1, r.code)
    assert.truthy(r.stderr:find("deadlock", 1, true))
    assert.truthy(r.stderr:find("task task-1 #1 waiting on event at ", 1, true), r.stderr)
    check_trace_json(slurp(out))
    spit(path, 'local corral = require "corral"\nprint("ready") io.stdout:flush()\ncorral.sleep(math.huge)\n')
    r = converse.run({ BIN, "--trace", out, path }, { { expect = "ready", send = "SIGINT" } })
    os.remove(path)
    assert.equal(130, r.code)
    local doc = check_trace_json(slurp(out))
    os.remove(out)
    local found
    for _, e in ipairs(doc.traceEvents) do
      if e.cat == "cancel" and e.args.source == "signal" then found = e.args.reason end
    end
    assert.equal("SIGINT", found)
  end)

  it("refuses a --trace into a directory with status 1", function()
    local path = converse.tmpfile(script)
    local r = converse.run({ BIN, "--trace", "/tmp", path })
    os.remove(path)
    assert.equal(1, r.code)
    assert.truthy(r.stderr:find("cannot open trace file '/tmp'", 1, true), r.stderr)
  end)
end)

-- --- corral trace-svg -------------------------------------------------------

describe("corral trace-svg, hostile", function()
  local function svg_of(text)
    local path = os.tmpname()
    spit(path, text)
    local r = converse.run({ BIN, "trace-svg", path })
    os.remove(path)
    return r
  end

  it("refuses a cut file, an empty file and JSON that is not a trace, with status 1", function()
    local text = traced(function()
      corral.group(function(g) for i = 1, 20 do g:spawn(corral.sleep, i) end end)
    end)
    local r = svg_of(text:sub(1, #text // 2))
    assert.equal(1, r.code)
    assert.truthy(r.stderr:find("bad JSON at byte", 1, true), r.stderr)
    assert.equal("", r.stdout)
    r = svg_of("")
    assert.equal(1, r.code)
    assert.truthy(r.stderr:find("empty or cut-off file", 1, true), r.stderr)
    r = svg_of('{"a": 1}')
    assert.equal(1, r.code)
    assert.truthy(r.stderr:find("not a trace", 1, true), r.stderr)
    r = svg_of("null")
    assert.equal(1, r.code)
  end)

  it("draws junk events as an empty picture that is still valid XML", function()
    local r = svg_of('{"traceEvents":[{"ph":"X","name":"<&>","ts":"x"},' ..
      '{"ph":"B","pid":1,"tid":1,"ts":1e308,"name":null},' ..
      '{"ph":"M","name":"thread_name","pid":1,"tid":1,"args":{"name":"\\u202e<b>&amp;"}}, 7, null, []]}')
    assert.equal(0, r.code, r.stderr)
    check_xml(r.stdout)
  end)

  it("escapes names in a picture of thousands of tasks, and collapses their group", function()
    local text = traced(function()
      corral.group(function(top)
        top:spawn(function()
          corral.group(function(g)
            for i = 1, 3000 do g:spawn(function() corral.sleep((i % 50) / 10) end) end
          end, { name = "swarm" })
        end)
        top:spawn(function()
          corral.group(function(g)
            g:spawn({ function() corral.sleep(1); error("boom <&> \"q\"", 0) end, name = "fails <b>&amp;</b>" })
            g:spawn({ function() corral.sleep(10) end, name = "rtl \u{202E}txt" })
          end, { name = "mixed & <odd>", defer_errors = true })
        end)
      end)
    end)
    local r = svg_of(text)
    assert.equal(0, r.code, r.stderr)
    local svg = r.stdout
    check_xml(svg)
    assert.truthy(svg:find("3000 tasks (collapsed)", 1, true))
    assert.truthy(svg:find("fails &lt;b&gt;&amp;amp;&lt;/b&gt; #", 1, true))
    assert.truthy(svg:find("group mixed &amp; &lt;odd&gt; #", 1, true))
    assert.is_nil(svg:find("\u{202E}", 1, true))
    assert.truthy(svg:find("rtl ?txt #", 1, true))
  end)
end)

-- --- SIGUSR1 and the deadlock report under the command ----------------------

describe("SIGUSR1 under the corral command, hostile", function()
  it("prints the tree from a task computing without yielding, which goes on unaware", function()
    local r = converse.corral([[
local corral = require "corral"
corral.group(function(g)
  g:spawn({function() corral.sleep(math.huge) end, name = "dreamer"})
  g:spawn({function()
    local x = 0
    os.execute("kill -USR1 $PPID")
    for i = 1, 3e6 do x = x + i end
    print("sum", x)
    g:cancel()
  end, name = "cruncher"})
end, {name = "crew"})
print("done")
]])
    assert.equal(0, r.code, r.stderr)
    assert.same({ "sum\t4500001500000", "done" }, converse.lines(r.stdout))
    assert.truthy(r.stderr:find("corral tree at [%d.]+s: 3 tasks\n"), r.stderr)
    local l = find_line(r.stderr, "task cruncher #")
    assert.truthy(l:find("running at .*:7$"), l)
    l = find_line(r.stderr, "task dreamer #")
    assert.truthy(l:find("waiting on sleep (forever) at ", 1, true), l)
  end)

  it("does not disturb blocking C calls the script makes (no EINTR)", function()
    local r = converse.corral([[
os.execute("kill -USR1 $PPID")
local ok, how, code = os.execute("kill -USR1 $PPID; exit 3")
print(ok, how, code)
local p = io.popen("kill -USR1 $PPID; echo piped")
print(p:read("a"))
]])
    assert.equal(0, r.code, r.stderr)
    assert.same({ "nil\texit\t3", "piped" }, converse.lines(r.stdout))
  end)

  it("reports a deadlock at once with the tree, exit 1", function()
    local r = converse.corral([[
local corral = require "corral"
local lock = corral.lock()
corral.group(function(g)
  g:spawn({function() lock:acquire(); corral.event():wait() end, name = "holder"})
  g:spawn({function() lock:acquire() end, name = "blocked"})
end, {name = "pool"})
]])
    assert.equal(1, r.code)
    assert.truthy(r.stderr:find("deadlock", 1, true))
    assert.truthy(find_line(r.stderr, "task holder #"):find("waiting on event at .*:4"))
    assert.truthy(find_line(r.stderr, "task blocked #"):find("waiting on lock held by holder at .*:5"))
    find_line(r.stderr, "group pool #")
  end)
end)

-- --- tracebacks -------------------------------------------------------------

describe("t:traceback() for every status, and in an ErrorGroup", function()
  it("is where it waits or failed, and nothing when done, cancelled or not started", function()
    local got, L = {}, {}
    local function tb(t) return table.pack(t:traceback()) end
    corral.run(function()
      got.running = tb(corral.current_task())
      pcall(corral.group, function(g)
        local sleeper = g:spawn(function() L.wait = line_here(); corral.sleep(1) end)
        got.scheduled = tb(sleeper)
        corral.sleep(0.01)              -- it has parked, in every schedule
        got.waiting = tb(sleeper)
        local failed = g:spawn(function() L.fail = line_here(); error("boom") end)
        local done = g:spawn(function() return 1 end)
        local cancelled = g:spawn(function() corral.sleep(5) end)
        corral.sleep(0.1)
        cancelled:cancel()
        got.woken = tb(cancelled)
        corral.sleep(0.1)
        got.failed, got.done, got.cancelled = tb(failed), tb(done), tb(cancelled)
        got.statuses = { failed.status, done.status, cancelled.status }
        sleeper:cancel()
      end, { defer_errors = true })
    end, { clock = "virtual" })
    assert.equal(1, got.running.n)
    assert.truthy(got.running[1]:find("^stack traceback:\n"))
    assert.equal(0, got.scheduled.n)
    assert.truthy(got.waiting[1]:find(SRC .. ":" .. L.wait .. ":", 1, true), got.waiting[1])
    assert.equal(1, got.woken.n)            -- scheduled by the cancel, still parked where it was
    assert.truthy(got.failed[1]:find(SRC .. ":" .. L.fail .. ": boom\nstack traceback:", 1, true), got.failed[1])
    assert.equal(0, got.done.n)
    assert.equal(0, got.cancelled.n)
    assert.same({ "failed", "done", "cancelled" }, got.statuses)
  end)

  it("puts each task's traceback under its failure in render{tracebacks = true}, never in tostring", function()
    local L = {}
    local ok, e = pcall(corral.run, function()
      corral.group(function(g)
        g:spawn({ function() L.a = line_here(); error("one\ntwo") end, name = "a\nb" })
        g:spawn({ function()
          corral.group(function(g2)
            g2:spawn({ function() L.deep = line_here(); corral.sleep(0); error("deep", 0) end, name = "inner" })
          end)
        end, name = "nest" })
        g:spawn({ function()
          corral.sleep(0)
          error(setmetatable({}, { __tostring = function() error("no") end }))
        end, name = "obj" })
      end, { defer_errors = true })
    end, { clock = "virtual" })
    assert.is_false(ok)
    local full = e:render { tracebacks = true }
    assert.truthy(full:find("[a\\nb] " .. SRC .. ":" .. L.a .. ": one\n|  two\n|    stack traceback:", 1, true), full)
    assert.truthy(full:find("[inner] deep\n        stack traceback:", 1, true), full)
    assert.truthy(full:find(SRC .. ":" .. L.deep .. ":", 1, true), full)
    assert.truthy(full:find("(a table value whose __tostring failed)", 1, true), full)
    assert.is_nil(tostring(e):find("stack traceback", 1, true))
    assert.equal(3, #e.tracebacks)
    for i = 1, #e.tracebacks do assert.equal("string", type(e.tracebacks[i])) end
  end)
end)
