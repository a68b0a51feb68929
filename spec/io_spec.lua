-- spec/io_spec.lua: real I/O (docs/api.md): TCP over loopback, name resolution,
-- child processes and signals. Tests check that no fd is left open and no child is
-- left a zombie, and that each blocking call is a cancellation point that hands
-- control back at once: under the virtual clock a move_on_after deadline is the only
-- thing that happens, so corral.now() afterwards equals the timeout.
local corral = require "corral"
local support = require "support"
local testing = require "corral.testing"

local vrun, now = support.vrun, corral.now
local open_fds, proc_state = support.open_fds, support.proc_state

local CLIENTS = 20
local EIGHT_MB = string.rep("x", 8 * 1024 * 1024)

-- Call fn(...) and assert that exactly the fds open before are open afterwards.
local function no_new_fds(fn, ...)
  local before = open_fds()
  local r = table.pack(fn(...))
  assert.same(before, open_fds(), "the fds open before and after")
  return table.unpack(r, 1, r.n)
end

-- Spawn and reap /bin/true. A loop opens one more fd of its own on its first spawn
-- and keeps it until the loop closes; libuv's process-wide signal pipe is opened
-- by the first loop ever. Neither is a leak, so fds are compared only after this.
local function warm_up()
  local p <close> = corral.exec("/bin/true", {})
  p:wait()
end

-- Run fn as the root task (virtual clock unless clock = "real") and assert that it
-- leaves no fd open: checked inside the run when fn returns, before the run's own
-- cleanup could hide a leak, and again after the run.
local function run_checked(fn, clock)
  return no_new_fds(corral.run, function()
    warm_up()
    return no_new_fds(fn)
  end, { clock = clock or "virtual" })
end

-- Call fn(client, server, listener) with a connected loopback pair; all three are
-- closed when fn returns or raises.
local function with_pair(fn, host)
  host = host or "127.0.0.1"
  local l <close> = corral.tcp.listen(host, 0)
  local c <close> = corral.tcp.connect(host, l.port)
  local s <close> = l:accept()
  return fn(c, s, l)
end

local read_all = support.read_all

-- Read s to EOF; return how many bytes came and how it ended ("eof" or the error).
local function drain(s)
  local total = 0
  while true do
    local ok, chunk = pcall(s.read, s)
    if not ok then return total, chunk end
    if not chunk then return total, "eof" end
    total = total + #chunk
  end
end

-- Checkpoint until every given task is parked in a blocking call.
local function until_waiting(...)
  for _ = 1, 100 do
    local all = true
    for i = 1, select("#", ...) do
      all = all and select(i, ...).status == "waiting"
    end
    if all then return end
    corral.checkpoint()
  end
  error("the tasks never blocked", 2)
end

-- Call fn(...) inside a scope cancelled on entry and return the Cancelled it raises.
local function cancelled_in_scope(fn, ...)
  local args = table.pack(...)
  local err
  corral.scope(function(s)
    s:cancel("cancelled first")
    err = support.cancelled(fn, table.unpack(args, 1, args.n))
  end)
  return err
end

-- Accept connections on l forever; each gets a task in g that writes back every
-- chunk it reads, until EOF.
local function echo_server(g, l)
  while true do
    local accepted = l:accept()
    g:spawn(function()
      local s <close> = accepted
      while true do
        local chunk = s:read()
        if not chunk then return end
        s:write(chunk)
      end
    end)
  end
end

-- Send this process a signal ("USR1"). Not os.execute: system() blocks signals.
local function send_signal(name)
  io.popen("kill -" .. name .. " " .. support.pid()):close()
end

-- The environment a child Lua interpreter needs to load this build's corral.
local function lua_child_env()
  local env = { LUA_CPATH = package.cpath, LUA_PATH = package.path }
  for _, name in ipairs({ "PATH", "LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS" }) do
    env[name] = os.getenv(name)
  end
  return env
end

-- Run a Lua chunk in a child lua5.4 and return its exit code, signal and stdout.
local function run_lua_child(chunk)
  local code, sig, out
  corral.run(function()
    corral.fail_after(10, function()
      local p <close> = corral.exec("lua5.4", { "-e", chunk }, { env = lua_child_env() })
      out = read_all(p.stdout)
      code, sig = p:wait()
    end)
  end)
  return code, sig, out
end

-- Libuv's process-wide signal pipe: opened once, before any fd is counted.
corral.run(warm_up)

describe("TCP over loopback", function()
  it(("an echo server and %d clients in one group exchange their data and all finish"):format(CLIENTS), function()
    local sent, echoed = {}, {}
    run_checked(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      corral.group(function(g)
        g:spawn(echo_server, g, l)
        corral.group(function(clients)
          for i = 1, CLIENTS do
            clients:spawn(function()
              local c <close> = corral.tcp.connect("127.0.0.1", l.port)
              sent[i] = ("client %d\0"):format(i):rep(100 * i)
              c:write(sent[i])
              c:shutdown()
              echoed[i] = read_all(c)
            end)
          end
        end)
        g:cancel()
      end)
    end)
    assert.equal(CLIENTS, #echoed)
    for i = 1, CLIENTS do
      assert.equal(#sent[i], #echoed[i])
      assert.equal(sent[i], echoed[i])
    end
  end)

  it("cancelling the group halfway, with every client and handler blocked in read, closes every stream", function()
    local halfway, finished = 0, 0
    run_checked(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      local all_halfway = corral.event()
      corral.group(function(g)
        g:spawn(echo_server, g, l)
        for _ = 1, CLIENTS do
          g:spawn(function()
            local c <close> = corral.tcp.connect("127.0.0.1", l.port)
            c:write("ping")
            assert.equal("ping", c:read())
            halfway = halfway + 1
            if halfway == CLIENTS then all_halfway:set() end
            c:read() -- the server never sends a second reply
            finished = finished + 1
          end)
        end
        all_halfway:wait()
        g:cancel()
      end)
    end)
    assert.equal(CLIENTS, halfway)
    assert.equal(0, finished)
  end)

  it("a client that fails cancels the group, which raises its error and leaves no fd open", function()
    local eg
    run_checked(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      eg = support.error_group(corral.group, function(g)
        g:spawn(echo_server, g, l)
        for i = 1, CLIENTS do
          g:spawn(function()
            local c <close> = corral.tcp.connect("127.0.0.1", l.port)
            c:write("ping")
            assert.equal("ping", c:read())
            if i == 7 then error("client 7 gave up", 0) end
            c:read() -- blocks until the failure cancels the group
          end)
        end
      end)
    end)
    assert.same({ "client 7 gave up" }, eg.errors)
  end)

  it("serves over IPv6 loopback ::1", function()
    local available, why = corral.run(function()
      local ok, l = pcall(corral.tcp.listen, "::1", 0)
      if not ok then return false, l end
      l:close()
      return true
    end)
    if not available then
      pending("IPv6 loopback ::1 is not available here: " .. tostring(why))
      return
    end
    local got
    run_checked(function()
      with_pair(function(c, s)
        c:write("over v6")
        c:shutdown()
        got = read_all(s)
      end, "::1")
    end)
    assert.equal("over v6", got)
  end)

  it("listen and connect accept the host name 'localhost'", function()
    local port, got
    run_checked(function()
      with_pair(function(c, s, l)
        port = l.port
        s:write("by name")
        got = c:read()
      end, "localhost")
    end)
    assert.is_true(math.type(port) == "integer" and port > 0 and port <= 65535)
    assert.equal("by name", got)
  end)
end)

describe("a TCP stream", function()
  it("read(max) returns at most max bytes and keeps the rest for the next read", function()
    local r
    run_checked(function()
      with_pair(function(c, s)
        s:write("hello world")
        r = { c:read(5), c:read(1), c:read() }
      end)
    end)
    assert.same({ "hello", " ", "world" }, r)
  end)

  it("read returns nil at EOF, and nil again on every later read", function()
    local r
    run_checked(function()
      with_pair(function(c, s)
        s:write("last words")
        s:close()
        r = table.pack(c:read(), c:read(), c:read())
      end)
    end)
    assert.same({ n = 3, "last words", nil, nil }, r)
  end)

  it("carries every byte value, NUL included, unchanged", function()
    local bytes = {}
    for b = 0, 255 do bytes[#bytes + 1] = string.char(b) end
    local data = table.concat(bytes):rep(3)
    local got
    run_checked(function()
      with_pair(function(c, s)
        c:write(data)
        c:shutdown()
        got = read_all(s)
      end)
    end)
    assert.equal(data, got)
  end)

  it("write returns nothing, and writing an empty string sends nothing", function()
    local r, got
    run_checked(function()
      with_pair(function(c, s)
        r = { table.pack(c:write("")), table.pack(c:write("x")) }
        c:shutdown()
        got = read_all(s)
      end)
    end)
    assert.same({ { n = 0 }, { n = 0 } }, r)
    assert.equal("x", got)
  end)

  it("shutdown half-closes: the peer reads EOF and can still send its reply", function()
    local request, reply
    run_checked(function()
      with_pair(function(c, s)
        c:write("question")
        c:shutdown()
        request = read_all(s)
        s:write("answer")
        s:close()
        reply = read_all(c)
      end)
    end)
    assert.equal("question", request)
    assert.equal("answer", reply)
  end)

  it("shutdown sends the pending writes first: the peer gets all of a blocked 8 MB write, then EOF", function()
    local total, ending, writer_done
    run_checked(function()
      with_pair(function(c, s)
        corral.group(function(g)
          local writer = g:spawn(function()
            c:write(EIGHT_MB)
            writer_done = true
          end)
          until_waiting(writer)
          c:shutdown()
          total, ending = drain(s)
        end)
      end)
    end)
    assert.equal(#EIGHT_MB, total)
    assert.equal("eof", ending)
    assert.is_true(writer_done)
  end)

  it("close() sets closed; closing twice is harmless; every later use raises 'attempt to use a closed stream'", function()
    local closed_before, closed_after, errs = nil, nil, {}
    run_checked(function()
      with_pair(function(c)
        closed_before = c.closed
        c:close()
        c:close()
        closed_after = c.closed
        errs[1] = support.raises(function() c:read() end)
        errs[2] = support.raises(function() c:write("x") end)
        errs[3] = support.raises(function() c:shutdown() end)
      end)
    end)
    assert.is_false(closed_before)
    assert.is_true(closed_after)
    for _, e in ipairs(errs) do support.assert_mentions(e, "attempt to use a closed stream") end
  end)

  it("a <close> variable closes the stream and the listener when the block ends", function()
    local stream, listener
    run_checked(function()
      do
        local l <close> = corral.tcp.listen("127.0.0.1", 0)
        local c <close> = corral.tcp.connect("127.0.0.1", l.port)
        stream, listener = c, l
      end
      assert.is_true(stream.closed)
      assert.is_true(listener.closed)
    end)
  end)

  it("a stream dropped without close is closed by the garbage collector", function()
    local opened
    run_checked(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      local before = #open_fds()
      local function connect_and_drop()
        corral.tcp.connect("127.0.0.1", l.port)
        l:accept()
      end
      connect_and_drop()
      opened = #open_fds() - before
      collectgarbage()
      collectgarbage()
    end)
    assert.equal(2, opened)
  end)

  it("a read cancelled by a deadline loses no data: the next read gets what arrives later", function()
    local r, t, got
    run_checked(function()
      with_pair(function(c, s)
        r = table.pack(corral.move_on_after(1, c.read, c))
        t = now()
        s:write("late")
        got = c:read()
      end)
    end)
    assert.same({ n = 1, false }, r)
    assert.equal(1, t)
    assert.equal("late", got)
  end)

  it("read(max) rejects max < 1 and write rejects a non-string, as standard argument errors", function()
    run_checked(function()
      with_pair(function(c)
        support.assert_arg_error(1, "read", "max must be an integer >= 1", function() c:read(0) end)
        -- worded as read_line's for every bad max (it said "number expected")
        support.assert_arg_error(1, "read", "max must be an integer >= 1", function() c:read("x") end)
        support.assert_arg_error(1, "read", "max must be an integer >= 1", function() c:read(1.5) end)
        support.assert_arg_error(1, "read_line", "max must be an integer >= 1", function() c:read_line(1.5) end)
        support.assert_arg_error(1, "write", "string expected", function() c:write({}) end)
        support.assert_arg_error(1, "write", "string expected", function() c:write() end)
      end)
    end)
  end)
end)

describe("a TCP listener", function()
  it("listen on port 0 picks a free port; close() sets closed, twice is harmless, accept then raises", function()
    local port, closed, err
    run_checked(function()
      local l = corral.tcp.listen("127.0.0.1", 0)
      port = l.port
      l:close()
      l:close()
      closed = l.closed
      err = support.raises(function() l:accept() end)
    end)
    assert.is_true(math.type(port) == "integer" and port > 0 and port <= 65535)
    assert.is_true(closed)
    support.assert_mentions(err, "attempt to use a closed listener")
  end)

  it("accept returns a connection that was made before accept was called", function()
    local got
    run_checked(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      local c <close> = corral.tcp.connect("127.0.0.1", l.port)
      c:write("early")
      local s <close> = l:accept()
      got = s:read()
    end)
    assert.equal("early", got)
  end)

  it("listen on a port already in use raises 'listen: address already in use (EADDRINUSE)' and leaks nothing", function()
    local err
    run_checked(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      err = support.raises(corral.tcp.listen, "127.0.0.1", l.port)
    end)
    support.assert_mentions(err, "listen 127.0.0.1:", ": address already in use (EADDRINUSE)")
  end)

  it("rejects a backlog below 1 as bad argument #3 to 'listen'", function()
    local err
    vrun(function()
      err = support.raises(function() corral.tcp.listen("127.0.0.1", 0, { backlog = 0 }) end)
    end)
    support.assert_mentions(err, "bad argument #3 to 'listen'", "backlog")
  end)
end)

-- libuv frees a closed handle only when its loop turns, which a pass of
-- the scheduler did every 4096 resumes: a loop closing listeners (or
-- failing to exec, 4 handles each) with checkpoints held thousands.
describe("handles closed in a loop that checkpoints", function()
  it("are freed as it goes, not once per pass of thousands of tasks", function()
    local most = { listen = 0, exec = 0 }
    run_checked(function()
      for _ = 1, 1000 do
        corral.tcp.listen("127.0.0.1", 0):close()
        corral.checkpoint()
        most.listen = math.max(most.listen, corral.debug_stats().closing)
      end
      for _ = 1, 500 do
        pcall(corral.exec, "/no/such/program/corral-spec", {})
        corral.checkpoint()
        most.exec = math.max(most.exec, corral.debug_stats().closing)
      end
    end)
    assert.is_true(most.listen <= 64, "listeners closing at once: " .. most.listen)
    assert.is_true(most.exec <= 64 + 4, "exec handles closing at once: " .. most.exec)
  end)
end)

describe("closing an I/O object under a blocked task", function()
  it("wakes a reader of the stream with an error mentioning 'closed', not a hang", function()
    local err
    run_checked(function()
      with_pair(function(c)
        corral.group(function(g)
          local reader = g:spawn(function() err = support.raises(c.read, c) end)
          until_waiting(reader)
          c:close()
        end)
      end)
    end)
    assert.is_false(corral.is_cancelled(err))
    support.assert_mentions(err, "closed")
  end)

  it("wakes a writer blocked under backpressure with an error mentioning 'closed'", function()
    local err
    run_checked(function()
      with_pair(function(c)
        corral.group(function(g)
          local writer = g:spawn(function() err = support.raises(c.write, c, EIGHT_MB) end)
          until_waiting(writer)
          c:close()
        end)
      end)
    end)
    assert.is_false(corral.is_cancelled(err))
    support.assert_mentions(err, "closed")
  end)

  it("wakes an acceptor of the listener with an error mentioning 'closed'", function()
    local err
    run_checked(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      corral.group(function(g)
        local acceptor = g:spawn(function() err = support.raises(l.accept, l) end)
        until_waiting(acceptor)
        l:close()
      end)
    end)
    assert.is_false(corral.is_cancelled(err))
    support.assert_mentions(err, "closed")
  end)
end)

describe("a cancelled blocking call returns control at once and leaks nothing", function()
  it("connect in an already-cancelled scope raises Cancelled", function()
    run_checked(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      cancelled_in_scope(corral.tcp.connect, "127.0.0.1", l.port)
    end)
  end)

  it("connect inside move_on_after(0) gives up without moving the clock", function()
    local r, t
    run_checked(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      r = table.pack(corral.move_on_after(0, corral.tcp.connect, "127.0.0.1", l.port))
      t = now()
    end)
    assert.same({ n = 1, false }, r)
    assert.equal(0, t)
  end)

  it("a connect cancelled while in flight closes its socket", function()
    local status, r
    run_checked(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      corral.group(function(g)
        local connector = g:spawn(corral.tcp.connect, "127.0.0.1", l.port)
        until_waiting(connector)
        connector:cancel()
        r = table.pack(connector:wait())
        status = connector.status
      end)
    end)
    assert.equal("cancelled", status)
    assert.is_false(r[1])
    assert.is_true(corral.is_cancelled(r[2]))
  end)

  it("connect with {timeout = 0} raises a Timeout", function()
    local err
    run_checked(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      err = support.raises(corral.tcp.connect, "127.0.0.1", l.port, { timeout = 0 })
    end)
    assert.is_true(corral.is_timeout(err), tostring(err))
  end)

  it("a read that never gets data ends at the deadline", function()
    local r, t
    run_checked(function()
      with_pair(function(c)
        r = table.pack(corral.move_on_after(1, c.read, c))
        t = now()
      end)
    end)
    assert.same({ n = 1, false }, r)
    assert.equal(1, t)
  end)

  it("an accept with no client ends at the deadline", function()
    local r, t
    run_checked(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      r = table.pack(corral.move_on_after(1, l.accept, l))
      t = now()
    end)
    assert.same({ n = 1, false }, r)
    assert.equal(1, t)
  end)

  it("a send on a full channel ends at the deadline", function()
    local r, t
    run_checked(function()
      local ch = corral.channel(1)
      ch:send("fills it")
      r = table.pack(corral.move_on_after(1, ch.send, ch, "no room"))
      t = now()
    end)
    assert.same({ n = 1, false }, r)
    assert.equal(1, t)
  end)

  it("a recv on an empty channel ends at the deadline", function()
    local r, t
    run_checked(function()
      local ch = corral.channel(1)
      r = table.pack(corral.move_on_after(1, ch.recv, ch))
      t = now()
    end)
    assert.same({ n = 1, false }, r)
    assert.equal(1, t)
  end)

  it("a write of 8 MB to a peer that does not read blocks, ends at the deadline and resets the stream", function()
    local r, t, closed, err, total, ending
    run_checked(function()
      with_pair(function(c, s)
        r = table.pack(corral.move_on_after(1, c.write, c, EIGHT_MB))
        t = now()
        closed = c.closed
        err = support.raises(function() c:write("more") end)
        total, ending = drain(s)
      end)
    end)
    assert.same({ n = 1, false }, r)
    assert.equal(1, t)
    assert.is_true(closed)
    support.assert_mentions(err, "attempt to use a closed stream")
    assert.is_true(total < #EIGHT_MB, "the peer got only part of the data")
    assert.is_true(corral.is_io_error(ending), "the peer must not see a clean end")
    assert.equal("ECONNRESET", ending.code)
  end)

  it("every blocking I/O call raises Cancelled in a cancelled scope, even one that would not block", function()
    local left, code
    run_checked(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      local c <close> = corral.tcp.connect("127.0.0.1", l.port)
      local s <close> = l:accept()
      local p <close> = corral.exec("/bin/true", {})
      p:wait()
      s:write("ab")
      assert.equal("a", c:read(1)) -- "b" is now buffered: read would not block
      cancelled_in_scope(c.read, c)
      cancelled_in_scope(c.write, c, "not sent")
      cancelled_in_scope(p.wait, p) -- the child has exited: wait would not block
      cancelled_in_scope(l.accept, l)
      cancelled_in_scope(corral.tcp.connect, "127.0.0.1", l.port)
      cancelled_in_scope(corral.resolve, "127.0.0.1")
      cancelled_in_scope(corral.signal, "SIGUSR2")
      left = c:read()
      code = p:wait()
      c:write("sent")
      c:shutdown()
      assert.equal("sent", read_all(s))
    end)
    assert.equal("b", left)
    assert.equal(0, code)
  end)
end)

describe("TCP errors", function()
  it("connecting to a port just closed raises 'connect 127.0.0.1:<port>: connection refused (ECONNREFUSED)'", function()
    local err
    run_checked(function()
      local l = corral.tcp.listen("127.0.0.1", 0)
      local port = l.port
      l:close()
      err = support.raises(corral.tcp.connect, "127.0.0.1", port)
    end)
    support.assert_mentions(err, "connect 127.0.0.1:", ": connection refused (ECONNREFUSED)")
  end)

  it("connecting to an unknown host raises the resolver's error, as connect's", function()
    local err
    run_checked(function()
      err = support.raises(corral.tcp.connect, "no-such-host.invalid", 80)
    end)
    support.assert_mentions(err, "connect no-such-host.invalid: unknown node or service (EAI_NONAME)")
    assert.equal("connect", err.call)
    assert.equal("resolve", err.op)
  end)

  it("listen and serve on an unknown host name the call too", function()
    local errs = {}
    run_checked(function()
      errs.listen = support.raises(corral.tcp.listen, "no-such-host.invalid", 0)
      errs.serve = support.raises(corral.tcp.serve, "no-such-host.invalid", 0, print)
    end)
    for call, err in pairs(errs) do
      assert.equal(call, err.call)
      assert.equal("resolve", err.op)
      assert.equal("EAI_NONAME", err.code)
    end
  end)

  it("a listen or serve that cannot bind names the call", function()
    local errs = {}
    run_checked(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      errs.listen = support.raises(corral.tcp.listen, "127.0.0.1", l.port)
      errs.serve = support.raises(corral.tcp.serve, "127.0.0.1", l.port, print)
    end)
    for call, err in pairs(errs) do
      assert.equal(call, err.call)
      assert.equal("EADDRINUSE", err.code)
    end
  end)

  it("rejects ports that are not integers in 0..65535 (-1, 70000, 1.5) in connect and listen", function()
    vrun(function()
      for _, port in ipairs({ -1, 70000, 1.5 }) do
        support.assert_arg_error(2, "connect", "port must be an integer in 0..65535", function()
          corral.tcp.connect("127.0.0.1", port)
        end)
        support.assert_arg_error(2, "listen", "port must be an integer in 0..65535", function()
          corral.tcp.listen("127.0.0.1", port)
        end)
      end
    end)
  end)

  it("rejects a host that is not a string and a negative timeout", function()
    vrun(function()
      support.assert_arg_error(1, "connect", "string expected", function() corral.tcp.connect(42, 80) end)
      support.assert_arg_error(1, "listen", "string expected", function() corral.tcp.listen(nil, 0) end)
      support.assert_arg_error(3, "connect", "timeout", function()
        corral.tcp.connect("127.0.0.1", 80, { timeout = -1 })
      end)
    end)
  end)

  it("an argument error from connect or listen blames the caller's line, as a standard one does", function()
    local where, errs = {}, {}
    vrun(function()
      errs[1] = support.raises(function()
        where[1] = debug.getinfo(1, "Sl"); corral.tcp.connect("127.0.0.1", 70000)
      end)
      errs[2] = support.raises(function()
        where[2] = debug.getinfo(1, "Sl"); corral.tcp.listen("127.0.0.1", -1)
      end)
    end)
    for i = 1, 2 do
      local expected = where[i].short_src .. ":" .. where[i].currentline .. ": bad argument #2"
      assert.equal(expected, errs[i]:sub(1, #expected))
    end
  end)

  it("a read after the peer reset the connection raises 'stream:read <peer>: connection reset by peer (ECONNRESET)'", function()
    local err
    run_checked(function()
      with_pair(function(c, s)
        c:write("never read")
        s:close() -- closing with unread data sends a reset
        err = support.raises(c.read, c)
      end)
    end)
    assert.matches("^stream:read 127%.0%.0%.1:%d+: connection reset by peer %(ECONNRESET%)$",
                   tostring(err))
    assert.equal("ECONNRESET", err.code)
  end)

  it("a read after a write saw the reset still says reset, not a clean end (the write consumed the socket's error)", function()
    local werr, rerr
    run_checked(function()
      with_pair(function(c, s)
        c:write("unread request")
        corral.sleep(0.05)
        s:close()                         -- with unread data: a reset
        corral.sleep(0.05)
        werr = support.raises(function()
          for _ = 1, 100 do c:write(string.rep("x", 1000)); corral.sleep(0.001) end
        end)
        rerr = support.raises(c.read, c)
      end)
    end, "real")
    assert.equal("ECONNRESET", werr.code)
    assert.equal("ECONNRESET", rerr.code)
    assert.matches("^stream:read 127%.0%.0%.1:%d+: connection reset by peer", tostring(rerr))
  end)

  it("a write after our own shutdown is a mistake, and leaves the peer's clean end a clean end", function()
    local got
    run_checked(function()
      with_pair(function(c, s)
        c:shutdown()
        assert.equal("stream:write: this stream was shut down for writing (s:shutdown() was called)",
                     support.raises(c.write, c, "late"))
        s:write("reply")
        s:shutdown()
        got = { c:read(), c:read() }
      end)
    end, "real")
    assert.same({ "reply" }, got)          -- then nil: no ECONNRESET
  end)

  it("writing to a connection the peer closed raises an error instead of killing the process with SIGPIPE", function()
    local code, sig, out = run_lua_child([[
      local corral = require "corral"
      corral.run(function()
        local l <close> = corral.tcp.listen("127.0.0.1", 0)
        local c <close> = corral.tcp.connect("127.0.0.1", l.port)
        l:accept():close()
        for _ = 1, 100 do -- the first write may still go out: the peer resets it
          local ok, err = pcall(c.write, c, "data")
          if not ok then io.write(tostring(err)) return end
          corral.sleep(0.001)
        end
        io.write("every write succeeded")
      end)
    ]])
    assert.same({ 0, nil }, { code, sig })
    assert.is_truthy(out:match("^stream:write 127%.0%.0%.1:%d+: .*%((E[A-Z]+)%)$"), out)
  end)
end)

describe("corral.resolve", function()
  it("resolves 'localhost' to a list that includes 127.0.0.1 as inet", function()
    local list
    run_checked(function() list = corral.resolve("localhost") end)
    local found = false
    for _, a in ipairs(list) do
      assert.is_true(a.family == "inet" or a.family == "inet6")
      found = found or (a.address == "127.0.0.1" and a.family == "inet")
    end
    assert.is_true(found, "127.0.0.1 among the addresses")
  end)

  it("returns an IP literal as itself with its family", function()
    local v4, v6
    run_checked(function()
      v4 = corral.resolve("127.0.0.1")
      v6 = corral.resolve("::1")
    end)
    assert.same({ { address = "127.0.0.1", family = "inet" } }, v4)
    assert.same({ { address = "::1", family = "inet6" } }, v6)
  end)

  it("raises 'resolve: unknown node or service (EAI_NONAME)' for an unknown host", function()
    local err
    run_checked(function() err = support.raises(corral.resolve, "no-such-host.invalid") end)
    support.assert_mentions(err, "resolve no-such-host.invalid: unknown node or service (EAI_NONAME)")
  end)

  it("rejects a host that is not a string", function()
    vrun(function()
      support.assert_arg_error(1, "resolve", "string expected", function() corral.resolve() end)
    end)
  end)
end)

describe("corral.exec", function()
  local LINES = "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.001; done"

  it("a child writing into a stdout the parent closed dies of SIGPIPE, as under a shell (not ECONNRESET)", function()
    local code, sig, err
    run_checked(function()
      local p <close> = corral.exec("/usr/bin/yes", {}, { stderr = "pipe" })
      assert.truthy(p.stdout:read())         -- it is writing, and more is waiting
      p.stdout:close()
      code, sig = p:wait()
      err = p.stderr:read()
    end, "real")
    assert.same({ 141, "SIGPIPE" }, { code, sig })
    assert.is_nil(err)                       -- nothing like "Connection reset by peer"
  end)

  it("keeps a process whose only reference is its stdout being read (the collector killed the child)", function()
    local n = 0
    run_checked(function()
      local out = corral.exec("/usr/bin/seq", { "1", "20000" }).stdout
      for _ in out:lines() do
        n = n + 1
        if n % 1000 == 0 then collectgarbage() end
      end
      out = nil
      collectgarbage()                     -- unreachable now: closed, fds freed
      collectgarbage()
    end, "real")
    assert.equal(20000, n)
  end)

  it("a child's output read line by line until another task cancels the group: child reaped, no fd left", function()
    local pid, lines = nil, {}
    run_checked(function()
      local three = corral.event()
      corral.group(function(g)
        g:spawn(function()
          local p <close> = corral.exec("/bin/sh", { "-c", LINES })
          pid = p.pid
          local buf = ""
          while true do
            local chunk = p.stdout:read()
            if not chunk then break end
            buf = buf .. chunk
            for line in buf:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
            buf = buf:match("[^\n]*$")
            if #lines >= 3 then three:set() end
          end
        end)
        g:spawn(function()
          three:wait()                      -- however long the child takes to start
          g:cancel()
        end)
      end)
    end, "real")
    assert.is_true(#lines >= 3, "three lines were read")
    for i, line in ipairs(lines) do assert.equal("line " .. (i - 1), line) end
    assert.is_nil(proc_state(pid), "the child is gone, not a zombie")
  end)

  it("a Process still open when the run ends is killed and reaped", function()
    local pid, kept
    no_new_fds(corral.run, function()
      kept = corral.exec("/bin/sleep", { "10" })
      pid = kept.pid
    end)
    assert.is_nil(proc_state(pid), "the child is gone, not a zombie")
  end)

  it("wait returns the exit code and nil", function()
    local r
    run_checked(function()
      local ok <close> = corral.exec("/bin/true", {})
      local three <close> = corral.exec("/bin/sh", { "-c", "exit 3" })
      r = { table.pack(ok:wait()), table.pack(three:wait()) }
    end)
    assert.same({ { n = 2, 0, nil }, { n = 2, 3, nil } }, r)
  end)

  it("kill then wait returns 128 + the signal and its name (SIGTERM by default, by number, by short name)", function()
    local r = {}
    run_checked(function()
      for i, sig in ipairs({ false, 9, "USR1", "SIGINT" }) do
        local p <close> = corral.exec("/bin/sleep", { "10" })
        if sig then p:kill(sig) else p:kill() end
        r[i] = table.pack(p:wait())
      end
    end)
    assert.same({
      { n = 2, 143, "SIGTERM" }, { n = 2, 137, "SIGKILL" }, { n = 2, 138, "SIGUSR1" }, { n = 2, 130, "SIGINT" },
    }, r)
  end)

  it("several tasks waiting on one process all get its result, and a later wait returns it at once", function()
    local r = {}
    run_checked(function()
      local p <close> = corral.exec("/bin/sleep", { "10" })
      corral.group(function(g)
        local waiters = {}
        for i = 1, 3 do
          waiters[i] = g:spawn(function() r[i] = table.pack(p:wait()) end)
        end
        until_waiting(table.unpack(waiters))
        p:kill("TERM")
      end)
      r[4] = table.pack(p:wait())
    end)
    for i = 1, 4 do assert.same({ n = 2, 143, "SIGTERM" }, r[i]) end
  end)

  it("killing a process that has exited does nothing", function()
    local r
    run_checked(function()
      local p <close> = corral.exec("/bin/true", {})
      p:wait()
      r = { table.pack(p:kill()), table.pack(p:kill("KILL")), table.pack(p:wait()) }
    end)
    assert.same({ { n = 0 }, { n = 0 }, { n = 2, 0, nil } }, r)
  end)

  it("env replaces the whole environment", function()
    local out
    run_checked(function()
      local p <close> = corral.exec("/usr/bin/env", {}, { env = { CORRAL_SPEC = "yes" } })
      out = read_all(p.stdout)
      p:wait()
    end)
    assert.equal("CORRAL_SPEC=yes\n", out)
  end)

  it("cwd sets the child's working directory", function()
    local out
    run_checked(function()
      local p <close> = corral.exec("/bin/pwd", {}, { cwd = "/" })
      out = read_all(p.stdout)
      p:wait()
    end)
    assert.equal("/\n", out)
  end)

  it("passes each argument as one argv entry, spaces included", function()
    local out
    run_checked(function()
      local p <close> = corral.exec("/bin/sh", { "-c", 'printf "[%s]" "$@"', "sh", "a b", "", "c" })
      out = read_all(p.stdout)
      p:wait()
    end)
    assert.equal("[a b][][c]", out)
  end)

  it("feeds 1 MB through /bin/cat's stdin pipe while reading it back; shutdown ends its input", function()
    local data = ("0123456789abcdef"):rep(65536)
    local out, code
    run_checked(function()
      local p <close> = corral.exec("/bin/cat", {})
      corral.group(function(g)
        g:spawn(function()
          p.stdin:write(data)
          p.stdin:shutdown()
        end)
        out = read_all(p.stdout)
      end)
      code = p:wait()
    end)
    assert.equal(#data, #out)
    assert.equal(data, out)
    assert.equal(0, code)
  end)

  it("stdout and stderr are separate pipes, and output is still readable after wait", function()
    local code, out, err
    run_checked(function()
      local p <close> = corral.exec("/bin/sh", { "-c", "echo out; echo err >&2" })
      code = p:wait()
      out, err = read_all(p.stdout), read_all(p.stderr)
    end)
    assert.equal(0, code)
    assert.equal("out\n", out)
    assert.equal("err\n", err)
  end)

  it("an inherited stdin, stdout or stderr has no stream", function()
    local streams, code
    run_checked(function()
      local p <close> = corral.exec("/bin/true", {}, { stdin = "inherit", stdout = "inherit", stderr = "inherit" })
      streams = { p.stdin, p.stdout, p.stderr }
      code = p:wait()
    end)
    assert.same({}, streams)
    assert.equal(0, code)
  end)

  it("p.pid is the child's pid", function()
    local pid, cmdline
    run_checked(function()
      local p <close> = corral.exec("/bin/sleep", { "10" })
      pid = p.pid
      -- the forked child shows an empty cmdline until its execve has completed
      for _ = 1, 500 do
        local f = assert(io.open("/proc/" .. pid .. "/cmdline"))
        cmdline = f:read("a")
        f:close()
        if cmdline ~= "" then break end
        corral.sleep(0.01)
      end
    end, "real")
    assert.is_true(math.type(pid) == "integer" and pid > 1)
    assert.equal("/bin/sleep\0" .. "10\0", cmdline)
  end)

  it("exec of a missing file raises 'exec /no/such/program: no such file or directory (ENOENT)' and leaks no fd", function()
    local err
    run_checked(function() err = support.raises(corral.exec, "/no/such/program", {}) end)
    support.assert_mentions(err, "exec /no/such/program: no such file or directory (ENOENT)")
  end)

  it("exec into a missing cwd raises ENOENT and leaks no fd", function()
    local err
    run_checked(function() err = support.raises(corral.exec, "/bin/true", {}, { cwd = "/no/such/dir" }) end)
    support.assert_mentions(err, "exec /bin/true: ", "(ENOENT)")
  end)

  it("cancelling a task in p:wait() leaves the child running; closing the Process kills and reaps it", function()
    local r, state_after_cancel, pid, closed
    run_checked(function()
      local p = corral.exec("/bin/sleep", { "10" })
      pid = p.pid
      r = table.pack(corral.move_on_after(0.005, p.wait, p))
      state_after_cancel = proc_state(pid)
      p:close()
      closed = { p.stdin.closed, p.stdout.closed, p.stderr.closed }
      corral.fail_after(2, function()
        while proc_state(pid) do corral.sleep(0.001) end
      end)
    end, "real")
    assert.same({ n = 1, false }, r)
    assert.is_truthy(state_after_cancel and state_after_cancel ~= "Z", "alive after the cancel")
    assert.same({ true, true, true }, closed)
    assert.is_nil(proc_state(pid))
  end)

  it("closing a running Process wakes its waiter and its reader with errors mentioning 'closed'", function()
    local wait_err, read_err, pid
    run_checked(function()
      local p = corral.exec("/bin/sleep", { "10" })
      pid = p.pid
      corral.group(function(g)
        local waiter = g:spawn(function() wait_err = support.raises(p.wait, p) end)
        local reader = g:spawn(function() read_err = support.raises(p.stdout.read, p.stdout) end)
        until_waiting(waiter, reader)
        p:close()
        p:close()
      end)
    end)
    assert.is_false(corral.is_cancelled(wait_err))
    support.assert_mentions(wait_err, "closed")
    support.assert_mentions(read_err, "closed")
    assert.is_nil(proc_state(pid))
  end)

  it("rejects bad arguments with standard argument errors", function()
    vrun(function()
      support.assert_arg_error(1, "exec", "string expected", function() corral.exec(nil, {}) end)
      support.assert_arg_error(2, "exec", "table expected", function() corral.exec("/bin/true", "x") end)
      support.assert_arg_error(2, "exec", "must be a string", function() corral.exec("/bin/true", { {} }) end)
      support.assert_arg_error(3, "exec", "inherit", function() corral.exec("/bin/true", {}, { stdout = "file" }) end)
      support.assert_arg_error(3, "exec", "env", function() corral.exec("/bin/true", {}, { env = { 1 } }) end)
      local p <close> = corral.exec("/bin/true", {})
      support.assert_arg_error(1, "kill", "unknown signal name", function() p:kill("NOPE") end)
      p:wait()
    end)
  end)

  it("writing to the stdin of a child that exited raises an error instead of killing the process with SIGPIPE", function()
    local code, sig, out = run_lua_child([[
      local corral = require "corral"
      corral.run(function()
        local p <close> = corral.exec("/bin/true", {})
        p:wait()
        local ok, err = pcall(p.stdin.write, p.stdin, "data")
        io.write(ok and "the write succeeded" or tostring(err))
      end)
    ]])
    assert.same({ 0, nil }, { code, sig })
    assert.is_truthy(out:match("^stream:write: .*%(EPIPE%)$"), out)
  end)
end)

describe("corral.signal", function()
  it("wakes every task waiting for the signal when it arrives, and returns its name", function()
    local got = {}
    no_new_fds(corral.run, function()
      corral.fail_after(5, function() -- a lost signal fails the spec instead of hanging it
        corral.group(function(g)
          local a = g:spawn(function() got[1] = corral.signal("SIGUSR1") end)
          local b = g:spawn(function() got[2] = corral.signal("USR1") end)
          until_waiting(a, b)
          send_signal("USR1")
        end)
      end)
    end)
    assert.same({ "SIGUSR1", "SIGUSR1" }, got)
  end)

  it("a signal wait cancelled by a deadline ends at the deadline", function()
    local r, t
    no_new_fds(vrun, function()
      r = table.pack(corral.move_on_after(1, corral.signal, "SIGUSR2"))
      t = now()
    end)
    assert.same({ n = 1, false }, r)
    assert.equal(1, t)
  end)

  it("rejects unknown names and signals that cannot be caught", function()
    vrun(function()
      support.assert_arg_error(1, "signal", "unknown signal name", function() corral.signal("NOPE") end)
      support.assert_arg_error(1, "signal", "cannot be caught", function() corral.signal("SIGKILL") end)
      support.assert_arg_error(1, "signal", "cannot be caught", function() corral.signal("STOP") end)
    end)
  end)
end)

describe("I/O errors", function()
  it("are values with code, op, message and address, and a readable tostring", function()
    local err
    run_checked(function()
      local l = corral.tcp.listen("127.0.0.1", 0)
      local port = l.port
      l:close()
      err = support.raises(corral.tcp.connect, "127.0.0.1", port)
      assert.equal("127.0.0.1:" .. port, err.address)
    end)
    assert.is_true(corral.is_io_error(err))
    assert.equal("ECONNREFUSED", err.code)
    assert.equal("connect", err.op)
    assert.equal("connection refused", err.message)
    assert.equal("connect " .. err.address .. ": connection refused (ECONNREFUSED)", tostring(err))
    assert.equal("x: " .. tostring(err), "x: " .. err)
  end)

  it("pcall + e.code tells a refused connection from other failures", function()
    local verdict
    vrun(function()
      local l = corral.tcp.listen("127.0.0.1", 0)
      local port = l.port
      l:close()
      local ok, e = pcall(corral.tcp.connect, "127.0.0.1", port)
      verdict = (not ok and corral.is_io_error(e) and e.code == "ECONNREFUSED") and "down" or "?"
    end)
    assert.equal("down", verdict)
  end)

  it("IPv6 addresses are bracketed; exec errors carry the path; resolve errors the host", function()
    local e6, ex, er
    vrun(function()
      local l = corral.tcp.listen("::1", 0)
      local port = l.port
      l:close()
      e6 = support.raises(corral.tcp.connect, "::1", port)
      ex = support.raises(corral.exec, "/no/such/program", {})
      er = support.raises(corral.resolve, "no-such-host.invalid")
    end)
    assert.equal("[::1]:" .. e6.address:match("%d+$"), e6.address)
    assert.same({ "ENOENT", "spawn", "/no/such/program" }, { ex.code, ex.op, ex.path })
    assert.same({ "resolve", "no-such-host.invalid" }, { er.op, er.address })
  end)

  it("is_io_error is false for strings, Cancelled, nil and look-alike tables", function()
    assert.is_false(corral.is_io_error("connect: refused"))
    assert.is_false(corral.is_io_error(nil))
    assert.is_false(corral.is_io_error({ code = "ECONNREFUSED", op = "connect" }))
  end)

  it("no message shows a C enum name", function()
    local msgs = {}
    vrun(function()
      with_pair(function(c, s)
        corral.group(function(g)
          g:spawn(function() msgs[#msgs + 1] = tostring(support.raises(c.read, c)) end)
          testing.wait_all_tasks_blocked()  -- the read is waiting, under any schedule
          c:close()
        end)
        msgs[#msgs + 1] = tostring(support.raises(c.write, c, "x"))
        s:close()
      end)
    end)
    for _, m in ipairs(msgs) do assert.is_nil(m:find("CR_", 1, true), m) end
    assert.equal("stream:read: closed while in use (ECLOSED)", msgs[1])
    assert.equal("stream:write: attempt to use a closed stream", msgs[2])
  end)
end)

describe("stream helpers", function()
  -- fn(client, server) with the client's bytes written and shut down first
  local function with_input(data, fn)
    vrun(function()
      with_pair(function(c, s)
        c:write(data)
        c:shutdown()
        fn(s, c)
      end)
    end)
  end

  it("read_line strips \\n and \\r\\n, returns a final unterminated line, then nil", function()
    local lines = {}
    with_input("one\ntwo\r\n\nlast", function(s)
      for _ = 1, 5 do lines[#lines + 1] = s:read_line() or "<nil>" end
    end)
    assert.same({ "one", "two", "", "last", "<nil>" }, lines)
  end)

  it("a lone \\r inside or at the end of a line is kept", function()
    local lines = {}
    with_input("a\rb\nend\r", function(s)
      for l in s:lines() do lines[#lines + 1] = l end
    end)
    assert.same({ "a\rb", "end\r" }, lines)
  end)

  it("lines() iterates until EOF; read() and read_line() share the buffer", function()
    local got = {}
    with_input("head\nxyz\nrest of it\nz", function(s)
      got[1] = s:read_line()
      got[2] = s:read(2)
      got[3] = s:read_line()
      got[4] = s:read_exactly(4)
      for l in s:lines() do got[#got + 1] = l end
    end)
    assert.same({ "head", "xy", "z", "rest", " of it", "z" }, got)
  end)

  it("read_line(max) raises an I/O error (EMSGSIZE) past max, keeping what it read", function()
    local e, after
    with_input("12345\n123456\nok\n", function(s)
      assert.equal("12345", s:read_line(5))
      e = support.raises(s.read_line, s, 5)
      after = s:read_line(5)
    end)
    assert.is_true(corral.is_io_error(e))
    assert.equal("EMSGSIZE", e.code)
    assert.matches("^127%.0%.0%.1:%d+$", e.address)  -- the peer, as for read's own errors
    assert.equal("stream:read_line " .. e.address .. ": line longer than 5 bytes (EMSGSIZE)", tostring(e))
    assert.equal("123456\n", e.partial)
    assert.equal("ok", after)
  end)

  it("after EMSGSIZE the next read_line skips the rest of the over-long line, not reading its tail as a line", function()
    local got, e = {}, nil
    with_input("NOTE xxxxxxxxxx FLUSHALL\nGET k\nabcdefghij\r\nlast\n", function(s)
      e = support.raises(s.read_line, s, 8)
      got[1] = s:read_line(8)
      local e2 = support.raises(s.read_line, s, 8)      -- cut at "\r": "\n" left
      got[2] = e2.partial
      got[3] = s:read_line(8)
      got[4] = s:read_line(8) or "<nil>"
    end)
    assert.equal("EMSGSIZE", e.code)
    assert.equal("NOTE xxxxx", e.partial)                 -- max + 2 bytes consumed
    assert.same({ "GET k", "abcdefghij", "last", "<nil>" }, got)
  end)

  it("after EMSGSIZE a read or read_exactly takes the rest of the line as bytes, and ends the skip", function()
    local got = {}
    with_input("0123456789tail\nnext\n0123456789rest\nnext2\n", function(s)
      support.raises(s.read_line, s, 8)
      got[1] = s:read_exactly(4)
      got[2] = s:read_line(8)                              -- "\n": an empty line
      got[3] = s:read_line(8)
      support.raises(s.read_line, s, 8)
      got[4] = s:read(100)
      got[5] = s:read_line(8) or "<nil>"
    end)
    assert.same({ "tail", "", "next", "rest\nnext2\n", "<nil>" }, got)
  end)

  it("a read or read_exactly cancelled before it took a byte leaves the skip after EMSGSIZE", function()
    local got = {}
    vrun(function()
      with_pair(function(c, s)
        c:write("abcdefgh")
        support.raises(s.read_line, s, 3)                 -- took "abcde"
        got[1] = corral.move_on_after(0, s.read, s, 1)    -- cancelled at once
        got[2] = corral.move_on_after(0.05, s.read_exactly, s, 5)  -- "fgh": waits
        c:write("ij\nnext\n")
        got[3] = s:read_line()
      end)
    end)
    assert.same({ false, false, "next" }, got)
  end)

  it("the skip after EMSGSIZE waits for the line's end across reads, and ends at EOF", function()
    local got = {}
    vrun(function()
      with_pair(function(c, s)
        corral.group(function(g)
          g:spawn(function()
            c:write("0123456789"); corral.sleep(1)
            c:write("still the same line"); corral.sleep(1)
            c:write(" end\nnext\n0123456789 unterminated")
            c:shutdown()
          end)
          support.raises(s.read_line, s, 8)
          got[1] = s:read_line(8)
          got[2] = corral.now()
          support.raises(s.read_line, s, 8)
          got[3] = s:read_line(8) or "<nil>"
        end)
      end)
    end)
    assert.same({ "next", 2, "<nil>" }, got)
  end)

  it("a read_line cancelled after consuming part of a line longer than the buffer skips the rest of it next time", function()
    local got
    local long = string.rep("x", 100000)
    vrun(function()
      with_pair(function(c, s)
        corral.group(function(g)
          g:spawn(function()
            c:write(long); corral.sleep(2)
            c:write("yyyy\nafter\n")
          end)
          assert.is_false(corral.move_on_after(1, s.read_line, s, 200000))
          got = s:read_line()
        end)
      end)
    end)
    assert.equal("after", got)
  end)

  it("a line of exactly max bytes ending in \\r\\n is accepted; lines longer than the buffer work", function()
    local got
    local long = string.rep("x", 200000)
    with_input("abc\r\n" .. long .. "\n", function(s)
      got = { s:read_line(3), s:read_line(300000) }
    end)
    assert.same({ "abc", long }, got)
    local e
    with_input(long, function(s) e = support.raises(s.read_line, s) end)
    assert.equal("EMSGSIZE", e.code)
  end)

  it("read_exactly returns n bytes across reads, raises EOF with the partial data", function()
    local got, e
    with_input("0123456789", function(s)
      got = { s:read_exactly(0), s:read_exactly(3), s:read_exactly(5) }
      e = support.raises(s.read_exactly, s, 5)
    end)
    assert.same({ "", "012", "34567" }, got)
    assert.same({ "EOF", "read", "89" }, { e.code, e.op, e.partial })
    assert.matches("^127%.0%.0%.1:%d+$", e.address)
    assert.equal("stream:read_exactly " .. e.address .. ": end of file after 2 of 5 bytes (EOF)", tostring(e))
  end)

  it("a read_line cancelled while half a line is buffered loses nothing", function()
    local got
    vrun(function()
      with_pair(function(c, s)
        c:write("hel")
        local ok = corral.move_on_after(1, s.read_line, s)
        assert.is_false(ok)
        c:write("lo\n")
        got = s:read_line()
      end)
    end)
    assert.equal("hello", got)
  end)

  it("helpers reject bad arguments", function()
    vrun(function()
      with_pair(function(c)
        support.assert_arg_error(1, "read_line", "max must be an integer", function() c:read_line(0) end)
        support.assert_arg_error(1, "lines", "max must be an integer", function() c:lines("x") end)
        support.assert_arg_error(1, "read_exactly", "n must be an integer", function() c:read_exactly(-1) end)
        support.assert_arg_error(1, "read_exactly", "n must be an integer", function() c:read_exactly(1.5) end)
      end)
    end)
  end)

  it("a second reader gets a message saying another task is reading", function()
    local err
    vrun(function()
      with_pair(function(c, s)
        corral.group(function(g)
          local first = g:spawn(function() return s:read_line() end)
          until_waiting(first)
          err = support.raises(s.read, s)
          c:write("done\n")
        end)
      end)
    end)
    assert.equal("stream:read: another task is already reading this stream (one reader at a time)", err:gsub("^.-: stream", "stream"))
  end)

  it("peer and local_address are {address, port}, mirrored on both ends; nil once closed and for pipes", function()
    vrun(function()
      with_pair(function(c, s, l)
        assert.same({ address = "127.0.0.1", port = l.port }, c.peer)
        assert.same(c.peer, s.local_address)
        assert.same(s.peer, c.local_address)
        c:close()
        assert.is_nil(c.peer)
        assert.is_nil(c.local_address)
      end)
      local p <close> = corral.exec("/bin/true", {})
      assert.is_nil(p.stdout.peer)
      p:wait()
    end)
  end)
end)

describe("corral.tcp.serve", function()
  -- Start serve in a child of g; returns its port.
  local function start_server(g, handler, opts)
    opts = opts or {}
    return g:start(function(ready)
      opts.ready = ready
      corral.tcp.serve("127.0.0.1", 0, handler, opts)
    end)
  end

  local function echo_lines(s)
    for line in s:lines() do s:write(line .. "\n") end
  end

  local function ask(port, text)
    local c <close> = corral.tcp.connect("127.0.0.1", port)
    c:write(text .. "\n")
    return c:read_line()
  end

  it("hands ready the port, serves each connection in its own task and closes each stream", function()
    local answers, streams = {}, {}
    run_checked(function()
      corral.group(function(g)
        local port = start_server(g, function(s) streams[#streams + 1] = s; echo_lines(s) end)
        corral.group(function(clients)
          for i = 1, 10 do
            clients:spawn(function() answers[i] = ask(port, "hi " .. i) end)
          end
        end)
        g:cancel()
      end)
    end, "real")
    for i = 1, 10 do assert.equal("hi " .. i, answers[i]) end
    for _, s in ipairs(streams) do assert.is_true(s.closed) end
  end)

  it("a failing handler goes to on_error with the peer; the server and other connections go on", function()
    local reported, answers = {}, {}
    run_checked(function()
      corral.group(function(g)
        local port = start_server(g, function(s)
          local line = s:read_line()
          if line == "boom" then error("handler bug", 0) end
          s:write(line .. "\n")
        end, { on_error = function(err, peer) reported[#reported + 1] = { err, peer } end })
        local c <close> = corral.tcp.connect("127.0.0.1", port)
        answers[1] = pcall(ask, port, "boom") and "?" or "?"
        answers[2] = ask(port, "still there")
        -- a peer that resets: read raises ECONNRESET in the handler
        c:write("unterminated")
        g:cancel()
      end)
    end, "real")
    assert.equal("still there", answers[2])
    assert.equal("handler bug", reported[1][1])
    local peer = reported[1][2]
    assert.is_truthy(tostring(peer):match("^127%.0%.0%.1:%d+$"), tostring(peer))
    -- the peer as s.peer gives it, which still reads as the text it was
    assert.equal("127.0.0.1", peer.address)
    assert.equal("integer", math.type(peer.port))
    assert.equal("127.0.0.1:" .. peer.port, tostring(peer))
    assert.equal("from 127.0.0.1:" .. peer.port, "from " .. peer)
    assert.has_error(function() return peer .. {} end, "attempt to concatenate a table value")
  end)

  it("s.peer and s.local_address read as their text", function()
    local peer, loc, port
    run_checked(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      port = l.port
      corral.group(function(g)
        g:spawn(function() local s <close> = l:accept(); s:read() end)
        local c <close> = corral.tcp.connect("127.0.0.1", port)
        peer, loc = tostring(c.peer), "at " .. c.local_address
        g:cancel()
      end)
    end, "real")
    assert.equal("127.0.0.1:" .. port, peer)
    assert.matches("^at 127%.0%.0%.1:%d+$", loc)
  end)

  it("stop(grace): stops accepting, closes the listener, lets running handlers finish", function()
    local log, port = support.log(), nil
    run_checked(function()
      corral.group(function(g)
        port = start_server(g, function(s)
          local line = s:read_line()
          log:add("handler got " .. line)
          s:write("bye " .. line .. "\n")
        end)
        local c <close> = corral.tcp.connect("127.0.0.1", port)
        c:write("x")                          -- a handler is now running
        corral.sleep(0.05)
        g:stop(5)
        corral.sleep(0.05)
        local ok, e = pcall(corral.tcp.connect, "127.0.0.1", port)
        log:add(ok and "connected" or "refused: " .. e.code)
        c:write("y\n")
        log:add(c:read_line())
      end)
    end, "real")
    assert.same({ "refused: ECONNREFUSED", "handler got xy", "bye xy" }, log.items)
  end)

  it("stop(grace) cancels handlers still running when the grace runs out", function()
    local err, t_stop, t_end
    vrun(function()
      local started, c = corral.event(), nil
      corral.group(function(g)
        local port = start_server(g, function(s)
          started:set()
          local ok, e = pcall(s.read, s)
          err = e
          if not ok then error(e, 0) end
        end)
        c = corral.tcp.connect("127.0.0.1", port)   -- open until the group ended
        started:wait()
        t_stop = corral.now()
        g:stop(1)
      end)
      t_end = corral.now()
      c:close()
    end)
    assert.is_true(corral.is_cancelled(err))
    assert.equal("stop", err.source)
    assert.equal(t_stop + 1, t_end)
  end)

  it("by default a handler failure is one line on stderr naming the peer", function()
    local code, _, out = run_lua_child([[
      local corral = require "corral"
      io.stderr = io.stdout                   -- the default reporter's line, captured
      corral.run(function()
        corral.group(function(g)
          local port = g:start(function(ready)
            corral.tcp.serve("127.0.0.1", 0, function() error("bad request", 0) end, { ready = ready })
          end)
          local c <close> = corral.tcp.connect("127.0.0.1", port)
          c:read()
          g:cancel()
        end)
      end)
    ]])
    assert.equal(0, code)
    assert.is_truthy(out:match("^corral%.tcp%.serve: handler for 127%.0%.0%.1:%d+ failed: bad request\n$"), out)
  end)

  it("rejects bad arguments and unknown options", function()
    vrun(function()
      support.assert_arg_error(3, "serve", "function expected", function() corral.tcp.serve("127.0.0.1", 0, nil) end)
      -- a handler is a function, as everywhere: one with a __call Lua cannot
      -- follow was taken, and failed at every connection (a verifier)
      local hint = "function expected, got a callable table; wrap it in a function"
      local callable = setmetatable({}, { __call = function() end })
      support.assert_arg_error(3, "serve", hint, function() corral.tcp.serve("127.0.0.1", 0, callable) end)
      support.assert_arg_error(3, "serve", "function expected, got table",
        function() corral.tcp.serve("127.0.0.1", 0, setmetatable({}, { __call = 5 })) end)
      support.assert_arg_error(4, "serve", "ready must be a function, got a callable table", function()
        corral.tcp.serve("127.0.0.1", 0, print, { ready = callable })
      end)
      support.assert_arg_error(4, "serve", "unknown option 'redy'", function()
        corral.tcp.serve("127.0.0.1", 0, print, { redy = print })
      end)
      support.assert_arg_error(4, "serve", "on_error must be a function", function()
        corral.tcp.serve("127.0.0.1", 0, print, { on_error = 1 })
      end)
      support.assert_arg_error(2, "serve", "port must be an integer", function() corral.tcp.serve("127.0.0.1", -1, print) end)
    end)
  end)

  it("keeps accepting through EMFILE (ulimit -n 32) and serves again once fds are free", function()
    -- The server runs in a child with few fds; this process opens more
    -- connections than the child can accept, then closes them and checks that
    -- the server still answers.
    local server = [[
      local corral = require "corral"
      corral.run(function()
        corral.tcp.serve("127.0.0.1", 0, function(s)
          for line in s:lines() do s:write(line .. "\n") end
        end, { ready = function(port) io.write(port, "\n"); io.flush() end })
      end)
    ]]
    local answer, code
    corral.run(function()
      corral.fail_after(20, function()
        local p <close> = corral.exec("/bin/sh", { "-c", 'ulimit -n 32; exec lua5.4 -e "$0"', server },
          { env = lua_child_env() })
        local port = tonumber(p.stdout:read_line())
        local held = {}
        for i = 1, 60 do
          local ok, c = pcall(corral.tcp.connect, "127.0.0.1", port)
          if ok then held[i] = c end
        end
        corral.sleep(0.3)                -- the server hits EMFILE and backs off
        for _, c in pairs(held) do c:close() end
        for _ = 1, 50 do                 -- until a handler slot is free again
          local ok, got = pcall(function()
            local c <close> = corral.tcp.connect("127.0.0.1", port)
            c:write("after\n")
            return c:read_line()
          end)
          if ok and got then answer = got break end
          corral.sleep(0.1)
        end
        p:kill()
        code = p:wait()
      end)
    end)
    assert.equal("after", answer)
    assert.is_number(code)
  end)
end)
