-- spec/cli_hostile_spec.lua: the `corral` command and introspection as a hostile
-- user meets them (API.md §1's command paragraph and §8): odd error values, odd
-- scripts, signals the script swallows or handles, the task tree for every kind
-- of wait, traces and their SVG. CORRAL_BIN names the executable under test;
-- children run through spec/converse.lua (a deadline kills a hung one).

local corral = require "corral"
local converse = require "converse"
local support = require "support"

local BIN = converse.BIN

local function tmpfile(text) return converse.tmpfile(text) end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

--- `corral <script-text> args…` → {code, stdout, stderr}.
local function run_script(script, ...)
  return converse.corral(script, {}, ...)
end

--- `corral argv…` (a plain command line), with optional stdin text.
local function run_argv(argv, stdin)
  local words = { BIN }
  for _, a in ipairs(argv) do words[#words + 1] = a end
  return converse.run(words, {}, stdin)
end

local function has_python()
  local p = io.popen("command -v python3")
  local out = p:read("a")
  p:close()
  return out ~= ""
end

--- A Python check over a file: prints what the expression gives, or fails.
local function python(path, code)
  local r = converse.run({ "python3", "-c", code, path }, {})
  assert(r.code == 0, r.stderr)
  return r.stdout
end

describe("the corral command's error report, with hostile error values", function()
  it("prints an ErrorGroup as a tree of every task's name, error and traceback, exit 1", function()
    local r = run_script([[
      local corral = require "corral"
      corral.group(function(g)
        g:spawn({function() error("boom") end, name = "plain"})
        g:spawn({function() error({code = 5}) end, name = "bare-table"})
        g:spawn({function() error(setmetatable({}, {__tostring = function() return "TS!" end})) end, name = "tostring"})
        g:spawn({function() error(setmetatable({}, {__tostring = function() error("ts raised") end})) end, name = "ts-raises"})
        g:spawn({function() error(setmetatable({}, {__tostring = function() return {} end})) end, name = "ts-table"})
      end)
    ]])
    assert.equal(1, r.code)
    assert.equal("", r.stdout)
    assert.matches("^corral: ErrorGroup: 5 failures\n", r.stderr)
    for _, name in ipairs({ "plain", "bare-table", "tostring", "ts-raises", "ts-table" }) do
      assert.truthy(r.stderr:find("[" .. name .. "]", 1, true), name)
    end
    assert.matches("%[plain%] [^\n]*:3: boom\n", r.stderr)
    assert.matches("%[tostring%] TS!\n", r.stderr)
    -- every failure carries its traceback, down to the line that raised
    local _, tracebacks = r.stderr:gsub("stack traceback:", "")
    assert.equal(5, tracebacks)
    for line = 3, 7 do assert.truthy(r.stderr:find(":" .. line .. ": in function", 1, true), line) end
  end)

  it("prints a root error whose __tostring gives text as that text alone, as lua", function()
    local r = run_script([[error(setmetatable({}, {__tostring = function() return "custom" end}))]])
    assert.equal(1, r.code)
    assert.equal("corral: custom\n", r.stderr)
  end)

  it("still reports an error whose __tostring raises or returns no string, with its traceback", function()
    for _, body in ipairs({ [[error("inner")]], [[return 42]], [[return nil]] }) do
      local r = run_script(("error(setmetatable({}, {__tostring = function() %s end}))"):format(body))
      assert.equal(1, r.code)
      assert.matches("^corral: %(", r.stderr)
      assert.truthy(r.stderr:find("stack traceback:", 1, true), body)
    end
  end)

  it("reports nil, a bare table and a boolean raised as lua names them", function()
    for value, word in pairs({ ["nil"] = "nil", ["{}"] = "table", ["true"] = "boolean" }) do
      local r = run_script(("error(%s)"):format(value))
      assert.equal(1, r.code)
      assert.matches(("^corral: %%(error object is a %s value%%)\n"):format(word), r.stderr)
    end
  end)

  it("cuts a message at its NUL byte as lua does, and prints a huge one whole", function()
    local r = run_script([[error("before\0after", 0)]])
    assert.equal(1, r.code)
    assert.matches("^corral: before\n", r.stderr)
    r = run_script([[error(string.rep("x", 1 << 20), 0)]])
    assert.equal(1, r.code)
    assert.truthy(r.stderr:find("corral: " .. ("x"):rep(1 << 20) .. "\n", 1, true))
  end)
end)

describe("the corral command with odd scripts and command lines", function()
  it("exits 0 and prints nothing when the script returns values", function()
    local r = run_script([[return 1, "two", nil, false]])
    assert.same({ 0, "", "" }, { r.code, r.stdout, r.stderr })
  end)

  it("os.exit in a task exits with that status; os.exit(false) with 1", function()
    local r = run_script([[
      local corral = require "corral"
      corral.group(function(g)
        g:spawn(function() corral.sleep(0); os.exit(7) end)
        corral.sleep(math.huge)
      end)]])
    assert.equal(7, r.code)
    assert.equal(1, run_script("os.exit(false)").code)
  end)

  it("a missing script or a syntax error exits 1 with the message and runs nothing", function()
    local r = run_argv({ "/nonexistent/nope.lua" })
    assert.equal(1, r.code)
    assert.equal("corral: cannot open /nonexistent/nope.lua: No such file or directory\n", r.stderr)
    r = run_script("print('ran')\nx = = 1")
    assert.equal(1, r.code)
    assert.equal("", r.stdout)
    assert.matches(":2: unexpected symbol near '='\n$", r.stderr)
  end)

  it("passes the script's arguments as ... and arg, empty ones included", function()
    local r = run_script([[print(select("#", ...), table.concat({...}, "|"), #arg, arg[2] == "", arg[-1] ~= nil)]], "a", "", "c d")
    assert.equal(0, r.code)
    assert.equal("3\ta||c d\t3\ttrue\ttrue\n", r.stdout)
  end)

  it("- reads the script from stdin with its arguments; -e and -l run first", function()
    local r = run_argv({ "-l", "s=string", "-e", "x = s.upper('e')", "-", "p", "q" },
      "print(x, ...)")
    assert.equal(0, r.code, r.stderr)
    assert.equal("E\tp\tq\n", r.stdout)
  end)

  it("--help and --version print on stdout and exit 0; a bad option exits 2", function()
    local r = run_argv({ "--help" })
    assert.equal(0, r.code)
    assert.matches("^usage: corral", r.stdout)
    r = run_argv({ "--version" })
    assert.equal(0, r.code)
    assert.matches("^corral %d+%.%d+%.%d+", r.stdout)
    r = run_argv({ "--bogus" })
    assert.equal(2, r.code)
    assert.matches("unrecognized option '%-%-bogus'", r.stderr)
  end)
end)

describe("signals under the corral command, as a hostile script takes them", function()
  local SWALLOW = [[
    local corral = require "corral"
    io.stdout:setvbuf("no")
    corral.group(function(g)
      g:spawn({function()
        local _ <close> = setmetatable({}, {__close = function() print("cleanup worker") end})
        local ok, e = pcall(corral.sleep, math.huge)
        print("worker swallowed", e.source, e.reason)
      end, name = "worker"})
      print("ready")
      pcall(corral.sleep, math.huge)
      print("root swallowed")
    end)
    print("after the group")
  ]]
  for _, case in ipairs({ { sig = "SIGINT", code = 130 }, { sig = "SIGTERM", code = 143 } }) do
    it(("%s: every cleanup runs and the exit is %d though every task swallowed it"):format(
         case.sig, case.code), function()
      local r = converse.corral(SWALLOW, { { expect = "ready", send = case.sig } })
      assert.equal(case.code, r.code, r.stderr)
      local out = converse.lines(r.stdout)
      table.sort(out)
      assert.same({ "after the group", "cleanup worker", "ready", "root swallowed",
                    "worker swallowed\tsignal\t" .. case.sig }, out)
      assert.equal("corral: interrupted by " .. case.sig .. "\n", r.stderr)
    end)
  end

  it("a task in corral.signal gets SIGINT and nothing is cancelled; a second SIGINT cancels the root", function()
    local r = converse.corral([[
      local corral = require "corral"
      io.stdout:setvbuf("no")
      corral.group(function(g)
        g:spawn({function()
          local ok, e = pcall(corral.sleep, math.huge)
          print("worker: " .. tostring(e))
        end, name = "worker"})
        g:spawn(function()     -- "ready" once the root waits for the signal
          while not corral.tree():find("waiting on signal SIGINT", 1, true) do corral.checkpoint() end
          print("ready")
        end)
        corral.signal("SIGINT")
        print("worker cancelled: " .. tostring(corral.tree():find("unwinding") ~= nil))
        print("handling")
        corral.sleep(math.huge)
      end)
    ]], { { expect = "ready", send = "SIGINT" }, { expect = "handling", send = "SIGINT" } })
    assert.equal(130, r.code, r.stderr)
    local out = converse.lines(r.stdout)
    assert.same({ "ready", "worker cancelled: false", "handling",
                  "worker: Cancelled: SIGINT (source=signal)" }, out)
  end)

  it("SIGUSR1 prints the tree on stderr and the program goes on to exit 0", function()
    local r = converse.corral([[
      local corral = require "corral"
      io.stdout:setvbuf("no")
      corral.group(function(g)
        g:spawn({function() corral.channel():recv() end, name = "stuck-on-a-channel"})
        g:spawn({function() corral.signal("SIGUSR1"); g:cancel() end, name = "usr1-waiter"})
        -- "ready" once it waits: an arrival before its watcher started is
        -- not its to hear (libuv hands an arrival to the watchers there then)
        while not corral.tree():find("waiting on signal SIGUSR1", 1, true) do corral.checkpoint() end
        print("ready")
      end, {name = "app"})
      print("finished")
    ]], { { expect = "ready", send = "SIGUSR1" } })
    assert.equal(0, r.code, r.stderr)
    assert.same({ "ready", "finished" }, converse.lines(r.stdout))
    assert.matches("corral tree at [%d.]+s: 3 tasks\n", r.stderr)
    -- (woken by that same arrival, it may show as scheduled already)
    assert.matches("task usr1%-waiter #%d+ [^\n]*at [^\n]*:5\n", r.stderr)
    assert.matches("group app #%d+\n", r.stderr)
    assert.matches("task stuck%-on%-a%-channel #%d+ waiting on channel recv at [^\n]*:4\n", r.stderr)
  end)
end)

describe("corral.tree() for every kind of wait", function()
  local function scene(probe)
    return support.vrun(function()
      local ch, lk = corral.channel(), corral.lock()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      local result
      corral.group(function(g)
        g:spawn({function() ch:recv() end, name = "receiver"})
        g:spawn({function()
          lk:with(function()        -- (the locker comes once it holds it, whatever the schedule)
            g:spawn({function() lk:with(corral.sleep, 1) end, name = "locker"})
            corral.sleep(5)
          end)
        end, name = "holder"})
        local target = g:spawn({function() corral.sleep(100) end, name = "target"})
        g:spawn({function() target:wait() end, name = "joiner"})
        g:spawn({function()
          g:start({function(ready) corral.sleep(50); ready() end, name = "starting"})
        end, name = "starter"})
        g:spawn({function() local c <close> = l:accept(); corral.sleep(math.huge) end, name = "acceptor"})
        g:spawn({function()
          local s <close> = corral.tcp.connect("127.0.0.1", l.port)
          s:read(1)
        end, name = "reader"})
        g:spawn({function()
          corral.scope(function() corral.sleep(500) end, {shield = true, name = "shelter"})
        end, name = "shielded"})
        g:spawn({function()
          corral.scope(function() corral.sleep(1000) end, {deadline = corral.now() + 3, name = "dl"})
        end, name = "deadlined"})
        g:spawn({function()
          corral.scope(function(s)
            s:cancel("because")
            corral.scope(function() corral.sleep(10) end, {shield = true})
          end, {name = "doomed"})
        end, name = "cancelled"})
        corral.sleep(0.25)   -- (virtual: every task above is parked by now)
        g:stop(2)
        result = probe()
        g:cancel()
        -- (the shielded sleeps end by themselves, on the virtual clock)
      end, {name = "app"})
      return result
    end)
  end

  it("names each wait, the time left, deadlines, shields, cancels and stopping in the text", function()
    local text = scene(corral.tree)
    for _, want in ipairs({
      "group app #%d+ %(stopping, grace ends in 2%.000s%)",
      "task receiver #%d+ waiting on channel recv at",
      "task holder #%d+ waiting on sleep %(4%.750s left%) at",
      "task locker #%d+ waiting on lock held by holder at",
      "task joiner #%d+ waiting on t:wait for target at",
      "task starter #%d+ waiting on g:start of starting at",
      "task starting #%d+ waiting on sleep %(49%.750s left%)",
      "task reader #%d+ waiting on read from 127%.0%.0%.1:%d+ at",
      "scope shelter #%d+ %(shield%)",
      "scope dl #%d+ %(deadline in 2%.750s%)",
      "scope doomed #%d+ %(cancelled: explicit \"because\" by cancelled%)",
    }) do
      assert.matches(want, text)
    end
  end)

  it("gives the same as nested tables with {format = \"table\"}", function()
    local t = scene(function() return corral.tree({ format = "table" }) end)
    local by = {}
    local function walk(n)
      if n.name then by[n.name] = n end
      for _, c in ipairs(n.children or {}) do walk(c) end
    end
    walk(t)
    assert.equal("group", by.app.kind)
    assert.is_true(by.app.stopping)
    assert.equal(2, by.app.grace)
    assert.same({ "recv", "channel recv" }, { by.receiver.wait.kind, by.receiver.wait.what })
    assert.equal("sleep", by.holder.wait.kind)
    assert.equal(4.75, by.holder.wait.left)
    assert.equal("lock", by.locker.wait.kind)
    assert.equal("holder", by.locker.wait.held_by)
    assert.equal("join", by.joiner.wait.kind)
    assert.equal("start", by.starter.wait.kind)
    assert.equal("read", by.reader.wait.kind)
    assert.is_true(by.shelter.shield)
    assert.equal(2.75, by.dl.deadline)
    assert.same({ "explicit", "because", "cancelled" },
      { by.doomed.cancelled.source, by.doomed.cancelled.reason, by.doomed.cancelled.origin })
  end)

  it("a deadlock under corral.run raises an error whose message holds the tree", function()
    local ok, e = pcall(corral.run, function()
      corral.group(function(g)
        g:spawn({function() corral.channel():recv() end, name = "forgotten"})
        corral.event():wait()
      end)
    end)
    assert.is_false(ok)
    assert.matches("task forgotten #%d+ waiting on channel recv", tostring(e))
  end)
end)

describe("--trace and trace-svg on real and hostile input", function()
  local SCRIPT = [[
    local corral = require "corral"
    corral.group(function(g)
      for i = 1, 4 do
        g:spawn({function() corral.sleep(0.001 * i); if i == 2 then error("two") end end, name = "w" .. i})
      end
      corral.group(function(g2) g2:spawn({function() corral.sleep(60) end, name = "inner"}) end, {name = "sub"})
    end, {name = "top"})
  ]]

  it("writes valid Chrome trace JSON: a track per task under its group, spawn and cancel flows", function()
    if not has_python() then pending("python3 is not installed") return end
    local json = os.tmpname()
    local script = tmpfile(SCRIPT)
    local r = converse.run({ BIN, "--trace", json, script }, {})
    os.remove(script)
    assert.equal(1, r.code)                      -- w2's error
    local out = python(json, [[
import json, sys
d = json.load(open(sys.argv[1]))
ev = d["traceEvents"]
names = {e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
groups = {e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "process_name"}
flows = sorted({e["name"] for e in ev if e["ph"] in "sf"})
print(sorted(n.split(" ")[0] for n in names))
print(sorted(g.split(" ")[1] for g in groups if g.startswith("group")))
print(flows, d["otherData"]["dropped_events"])
]])
    os.remove(json)
    assert.same({ "['inner', 'task-1', 'w1', 'w2', 'w3', 'w4']", "['sub', 'top']",
                  "['cancel', 'spawn'] 0" }, converse.lines(out))
  end)

  it("trace_limit bounds the events and the file says how many were dropped", function()
    if not has_python() then pending("python3 is not installed") return end
    local json = os.tmpname()
    corral.run(function()
      corral.group(function(g) for _ = 1, 100 do g:spawn(corral.checkpoint) end end)
    end, { trace = json, trace_limit = 20 })
    local out = python(json, [[
import json, sys
d = json.load(open(sys.argv[1]))
o = d["otherData"]
print(o["trace_limit"], o["events"], o["dropped_events"] > 0)
]])
    os.remove(json)
    assert.equal("20\t20\tTrue\n", (out:gsub(" ", "\t")))
  end)

  it("an unwritable trace path is a clear error and exit 1, after the script ran", function()
    local script = tmpfile([[print("ran")]])
    local r = converse.run({ BIN, "--trace", "/nonexistent/dir/t.json", script }, {})
    os.remove(script)
    assert.equal(1, r.code)
    assert.matches("cannot open trace file '/nonexistent/dir/t%.json'", r.stderr)
  end)

  it("trace-svg draws a real trace as well-formed SVG with a lane per task", function()
    local json, svg = os.tmpname(), os.tmpname()
    local script = tmpfile(SCRIPT)
    converse.run({ BIN, "--trace", json, script }, {})
    local r = converse.run({ "/bin/sh", "-c", 'exec "$0" trace-svg "$1" > "$2"', BIN, json, svg }, {})
    assert.equal(0, r.code, r.stderr)
    local text = slurp(svg)
    assert.matches("^<svg ", text)
    assert.matches("</svg>\n?$", text)
    for _, lane in ipairs({ "w1 #", "w4 #", "inner #", "group top #", "group sub #" }) do
      assert.truthy(text:find(lane, 1, true), lane)
    end
    if has_python() then
      assert.equal("ok\n", python(svg, "import sys, xml.dom.minidom as m; m.parse(sys.argv[1]); print('ok')"))
    end
    os.remove(script); os.remove(json); os.remove(svg)
  end)

  it("trace-svg on empty, cut-off, non-trace, too deep or missing input: exit 1, one clear line, no SVG", function()
    local cases = {
      { "", "bad JSON at byte 1: unexpected end of input" },
      { '{"traceEvents": [{"ph": "X", "ts": 1', "bad JSON" },
      { '"just a string"', "not a trace" },
      { ("["):rep(100000) .. ("]"):rep(100000), "nested more than 200 deep" },
    }
    for _, case in ipairs(cases) do
      local path = tmpfile(case[1])
      local r = run_argv({ "trace-svg", path })
      os.remove(path)
      assert.equal(1, r.code)
      assert.equal("", r.stdout)
      assert.truthy(r.stderr:find("corral: trace-svg: ", 1, true), r.stderr)
      assert.truthy(r.stderr:find(case[2], 1, true), r.stderr)
    end
    local r = run_argv({ "trace-svg", "/nonexistent/t.json" })
    assert.equal(1, r.code)
    assert.equal("corral: trace-svg: /nonexistent/t.json: No such file or directory\n", r.stderr)
  end)
end)

describe("corral trace-svg's usage errors", function()
  it("say what was wrong before the usage, and exit 2", function()
    for _, case in ipairs({
      { {}, "no trace file given" },
      { { "--width", "5" }, "unrecognized option '--width'" },
      { { "a.json", "b.json" }, "one trace file at a time ('b.json' is one too many)" },
    }) do
      local argv = { "trace-svg", table.unpack(case[1]) }
      local r = run_argv(argv)
      assert.equal(2, r.code)
      assert.equal("", r.stdout)
      assert.matches("^corral: trace%-svg: " .. case[2]:gsub("%p", "%%%0") .. "\nusage: corral trace%-svg", r.stderr)
    end
  end)
end)

describe("the corral command's --trace=file", function()
  it("is --trace file; an empty one, or =value on an option that takes none, is a usage error", function()
    local json = os.tmpname()
    local script = tmpfile("print(...)")
    local r = run_argv({ "--trace=" .. json, script, "--trace=x" })
    assert.equal(0, r.code, r.stderr)
    assert.equal("--trace=x\n", r.stdout)           -- the script's, after it
    assert.matches('"traceEvents"', slurp(json))
    r = run_argv({ "--trace=", script })
    assert.equal(2, r.code)
    assert.matches("^corral: '%-%-trace' needs an argument\n", r.stderr)
    r = run_argv({ "--help=yes" })
    assert.equal(2, r.code)
    assert.matches("^corral: unrecognized option '%-%-help=yes'\n", r.stderr)
    os.remove(json); os.remove(script)
  end)
end)
