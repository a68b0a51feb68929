-- spec/support.lua: helpers shared by the corral specs (`require "support"`).
--
-- Every spec starts its own engine with support.vrun, which is corral.testing's run
-- (virtual clock: time starts at 0 and only moves when no task can run, and a leak
-- check), so nothing here sleeps for real.

local corral = require "corral"
local testing = require "corral.testing"
local assert = require "luassert"

local support = {}

--- Run fn as the root task of a fresh engine on the virtual clock: testing.run from
--- corral.testing, so it also fails when fn leaves anything open (a stream, a
--- listener, a process), and an assertion failing in a child task is reported as
--- that assertion's failure.
---@param fn function
---@param opts table|nil extra corral.run options (clock is forced to "virtual")
---@return any ... fn's results
function support.vrun(fn, opts)
  local o = { clock = "virtual" }
  for k, v in pairs(opts or {}) do o[k] = v end
  return testing.run(fn, o)
end

--- A corral.now() value written exactly ("%.17g": 1.0 -> "1", 0.5 -> "0.5").
function support.time(t)
  return string.format("%.17g", t or corral.now())
end

local Log = {}
Log.__index = Log

--- Append one event.
function Log:add(item)
  self.items[#self.items + 1] = item
end

--- Append "what@<corral.now()>", so specs can assert order and time at once.
function Log:stamp(what)
  self:add(what .. "@" .. support.time())
end

--- A sorted copy of the events, for events whose relative order is not specified.
function Log:sorted()
  return support.sorted(self.items)
end

--- An event log: `local log = support.log(); log:add("x"); assert.same({"x"}, log.items)`.
function support.log()
  return setmetatable({ items = {} }, Log)
end

--- The events of a stamped log ("what@time") in time order, those stamped at the
--- same instant sorted by name: for specs where the order of tasks that are ready
--- at the same time is not specified (it follows corral.run's `seed`, and
--- `make test-seeds` runs every spec under many).
function support.by_time(list)
  local copy = table.move(list, 1, #list, 1, {})
  local function t(s) return tonumber(tostring(s):match("@([^@]*)$")) or -math.huge end
  table.sort(copy, function(a, b)
    if t(a) ~= t(b) then return t(a) < t(b) end
    return tostring(a) < tostring(b)
  end)
  return copy
end

--- Expected lines "<name(asked[k])>@<when(k)>" for k = 1..#asked, in time order.
function support.served(asked, name, when)
  local out = {}
  for k, i in ipairs(asked) do out[k] = name(i) .. "@" .. support.time(when(k)) end
  return support.by_time(out)
end

--- A sorted copy of a list of strings.
function support.sorted(list)
  local copy = table.move(list, 1, #list, 1, {})
  table.sort(copy)
  return copy
end

--- The names of a list of tasks (g:tasks()), in its order.
function support.task_names(tasks)
  local out = {}
  for i, t in ipairs(tasks) do out[i] = t.name end
  return out
end

--- A value for a `<close>` variable: its __close calls fn(err), err being the error
--- the block is exiting with (nil on a normal exit).
function support.closer(fn)
  return setmetatable({}, { __close = function(_, err) fn(err) end })
end

--- A task body that sleeps until cancelled, stamps `label` into log when its
--- Cancelled arrives (`label@<now>`), and lets the Cancelled go on.
function support.sleeper(log, label)
  return function()
    local ok, e = pcall(corral.sleep, math.huge)
    log:stamp(corral.is_cancelled(e) and label or label .. " (woke without Cancelled)")
    if not ok then error(e, 0) end
  end
end

--- Call fn(...) and return the error it raises; fail the spec if it returns.
function support.raises(fn, ...)
  local res = table.pack(pcall(fn, ...))
  assert(not res[1], "expected an error, but the call returned")
  return res[2]
end

--- Call fn(...) and return the ErrorGroup it raises.
function support.error_group(fn, ...)
  local err = support.raises(fn, ...)
  assert(corral.is_error_group(err), "expected an ErrorGroup, got: " .. tostring(err))
  return err
end

--- Call fn(...) and return the Cancelled it raises.
function support.cancelled(fn, ...)
  local err = support.raises(fn, ...)
  assert(corral.is_cancelled(err), "expected a Cancelled error, got: " .. tostring(err))
  return err
end

--- Assert that tostring(err) contains every needle (plain text, not patterns).
function support.assert_mentions(err, ...)
  local text = tostring(err)
  for i = 1, select("#", ...) do
    local needle = select(i, ...)
    assert(text:find(needle, 1, true), ("expected the error to mention %q, got: %s"):format(needle, text))
  end
  return text
end

--- Assert that f() raises Lua's standard argument error naming argument n of fname:
--- "bad argument #n to 'fname' (... keyword ...)". f must call the function directly
--- and not as a tail call (no `return`), so Lua can name it: a method call
--- `g:spawn(42)` is reported as argument #1 of 'spawn'.
function support.assert_arg_error(n, fname, keyword, f)
  local ok, err = pcall(f)
  assert(not ok, ("expected %s to reject argument #%d"):format(fname, n))
  assert.is_string(err)
  local pattern = "bad argument #" .. n .. " to '[%w_.:]*" .. fname:gsub("%p", "%%%0") .. "'"
  assert(err:find(pattern), ("expected %q in: %s"):format(pattern, err))
  if keyword then
    assert(err:find(keyword, 1, true), ("expected %q in: %s"):format(keyword, err))
  end
  return err
end

--- corral.run without the leak check spec/helpers.lua wraps it in (which
--- raises), for specs that check the counters themselves and accept a run
--- that abandoned tasks by design (a deadlock no cancel could end).
function support.unwrapped_run()
  local f = corral.run
  for i = 1, 50 do
    local name, v = debug.getupvalue(f, i)
    if not name then break end
    if name == "run" and type(v) == "function" then return v end
  end
  return f
end

--- A connected pair of TCP streams on the loopback, from listener l: the
--- accepted (server) end first, then the client's.
function support.tcp_pair(l)
  local c = corral.tcp.connect("127.0.0.1", l.port)
  return l:accept(), c
end

--- corral.run(fn(server, client)) over a fresh loopback connection, whose
--- ends and listener are closed when fn returns (fn may close them first).
function support.with_tcp_pair(fn)
  return corral.run(function()
    local l <close> = corral.tcp.listen("127.0.0.1", 0)
    local srv, c = support.tcp_pair(l)
    local _s <close> = srv
    local _c <close> = c
    return fn(srv, c)
  end)
end

--- Return once task t, blocked, has been woken (by data just written, say)
--- and before it runs: in FIFO order (specs tagged #fifo) the waker sees it.
function support.until_woken(t)
  for _ = 1, 10000 do
    if t.status ~= "waiting" then return end
    corral.checkpoint()
  end
  error("the task was never woken")
end

--- The file descriptors this process has open, as a sorted list of numbers, for
--- leak checks: compare the lists before and after. It probes /proc/self/fdinfo/<n>
--- instead of running `ls`, so it starts no process and opens no pipe of its own.
--- It scans up from 0 and stops after 64 free numbers in a row: the kernel always
--- hands out the lowest free fd, so everything this process opens shows up before
--- such a gap (an fd a parent placed high on purpose may be missed). Linux only.
---@return integer[]
function support.open_fds()
  local fds, misses, fd = {}, 0, 0
  while misses < 64 do
    local f = io.open("/proc/self/fdinfo/" .. fd)
    if f then
      f:close()
      fds[#fds + 1] = fd
      misses = 0
    else
      misses = misses + 1
    end
    fd = fd + 1
  end
  return fds
end

--- This process's pid (the first field of /proc/self/stat).
---@return integer
function support.pid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("l"):match("^%d+")
  f:close()
  return tonumber(pid)
end

--- The state letter of process pid ("R", "S", "Z", ...), or nil once it is gone
--- (reaped). A child that exited but was not reaped is a zombie: "Z".
---@param pid integer
---@return string|nil
function support.proc_state(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return nil end
  local stat = f:read("a")
  f:close()
  return stat:match("%) (%a)")
end

--- The coroutine library's own functions, as a script that kept copies of
--- them before require "corral" would have them: corral wraps resume and
--- close, and keeps each original as the wrapper's second upvalue.
support.raw_coroutine = setmetatable({}, { __index = function(_, k)
  local f = coroutine[k]
  local ok, _, orig = pcall(debug.getupvalue, f, 2)
  return (ok and type(orig) == "function") and orig or f
end })

--- The coroutine of task t, as a hostile script reaches it through the
--- debug library: corral anchors each live task, with its coroutine in the
--- next slot, in pages of a table of the registry.
local function pair_in(tbl, t)
  for i, v in pairs(tbl) do
    if v == t and math.type(i) == "integer" and type(tbl[i + 1]) == "thread" then
      return tbl[i + 1]
    end
  end
end

function support.task_coroutine(t)
  for _, tbl in pairs(debug.getregistry()) do
    if type(tbl) == "table" then
      local co = pair_in(tbl, t)
      if co then return co end
      for _, page in pairs(tbl) do           -- the anchors come in pages
        co = type(page) == "table" and pair_in(page, t)
        if co then return co end
      end
    end
  end
end

--- What the Lua program src writes (stdout and stderr) when a fresh lua5.4
--- runs it: for what depends on the state corral is loaded into (busted's
--- helper loads it before any spec). preload: a library loaded into it
--- (LD_PRELOAD), after any already preloaded (a sanitizer's runtime first).
function support.lua_output(src, preload)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(src)
  f:close()
  local env = preload and ("LD_PRELOAD=\"${LD_PRELOAD:+$LD_PRELOAD:}%s\" "):format(preload) or ""
  local p = assert(io.popen(env .. "lua5.4 " .. path .. " 2>&1"))
  local out = p:read("a")
  p:close()
  os.remove(path)
  return out
end

--- Run the Lua program src as a script of the corral command (CORRAL_BIN):
--- its exit status and what it wrote to stderr.
function support.command_stderr(src)
  local script, err = os.tmpname(), os.tmpname()
  local function q(s) return "'" .. s:gsub("'", [['\'']]) .. "'" end
  support.write_file(script, src)
  local bin = os.getenv("CORRAL_BIN") or "build/corral"
  local p = assert(io.popen(("%s %s 2>%s; echo $?"):format(q(bin), q(script), q(err))))
  local code = tonumber(p:read("a"))
  p:close()
  local h = assert(io.open(err, "rb"))
  local text = h:read("a")
  h:close()
  os.remove(script)
  os.remove(err)
  return code, text
end

--- The resolver that takes 200 ms (spec/fixtures/slow_getaddrinfo.c) for
--- lua_output's preload: a name lookup still runs in libuv's thread pool
--- for that long, whatever the machine's DNS.
function support.slow_resolver()
  local path = os.getenv("CORRAL_SLOW_RESOLVER")
  if not path then                   -- busted run by hand: this build's
    local so = assert(package.searchpath("corral", package.cpath))
    path = so:match("^(.*[/\\])") .. "spec/slow_getaddrinfo.so"
  end
  return path
end

--- Everything stream s reads until its end, as one string.
function support.read_all(s)
  local parts = {}
  while true do
    local chunk = s:read()
    if not chunk then return table.concat(parts) end
    parts[#parts + 1] = chunk
  end
end

--- Run a shell command: what it writes to stdout, and its exit status.
function support.sh(cmd)
  local p = assert(io.popen(cmd .. "; echo \"exit=$?\""))
  local out = p:read("a")
  p:close()
  return out, tonumber(out:match("exit=(%d+)%s*$"))
end

-- Whether pid is gone (a zombie waiting for its new parent counts as gone).
-- Write text to the file at path (made or emptied).
function support.write_file(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- The number a file holds (a pid a script wrote), the file removed.
function support.take_number(path)
  local f = assert(io.open(path))
  local n = assert(tonumber(f:read("a")), path)
  f:close()
  os.remove(path)
  return n
end

local function process_gone(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return true end
  local stat = f:read("a")
  f:close()
  return stat:match("^%d+ %b() (%a)") == "Z"
end

-- Wait (bounded) until every pid is gone; returns how many are left, killing
-- them (so that a failing check leaves no child behind).
function support.left_alive(pids)
  local alive = 0
  for _, pid in ipairs(pids) do
    for _ = 1, 200 do                   -- SIGKILL was sent before the exit
      if process_gone(pid) then break end
      os.execute("sleep 0.01")
    end
    if not process_gone(pid) then
      alive = alive + 1
      os.execute("kill -9 " .. pid)
    end
  end
  return alive
end

--- Spawn into group g a task that notes progress() each time it runs, until
--- task has ended; then the count of notes strictly between 0 and total
--- (how often it ran while task was midway), and the notes as text. Call
--- the returned function once the group has exited.
function support.watch_progress(g, task, progress, total)
  local seen = {}
  g:spawn(function()
    while task.status ~= "done" do
      seen[#seen + 1] = progress()
      corral.checkpoint()
    end
  end)
  return function()
    local midway = 0
    for _, k in ipairs(seen) do
      if k > 0 and k < total then midway = midway + 1 end
    end
    return midway, table.concat(seen, ", ")
  end
end

return support
