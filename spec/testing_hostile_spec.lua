-- spec/testing_hostile_spec.lua: corral.testing (API §10, docs/testing.md) as a
-- hostile user tries it: every kind of leak and what must not read as one,
-- assertions failing where busted cannot see them, seeds, wait_all_tasks_blocked
-- beside real I/O and computing tasks, autojump_threshold with real I/O, and
-- stream_pair against a TCP stream, call by call, as the drop-in it claims to be.
local corral = require "corral"
local testing = require "corral.testing"
local support = require "support"

local SRC = debug.getinfo(1, "S").short_src

local function is_failure(e)
  local mt = type(e) == "table" and getmetatable(e)
  return type(mt) == "table" and mt.__type == "failure"
end

local function is_pending(e)
  local mt = type(e) == "table" and getmetatable(e)
  return type(mt) == "table" and mt.__type == "pending"
end

-- The line after the one that calls it: where the spec's next statement is.
local function next_line() return debug.getinfo(2, "l").currentline + 1 end

-- What testing.run(fn) says leaked ("1 listener ..."), or nil if it passed.
local function leak_of(fn, opts)
  local ok, err = pcall(testing.run, fn, opts)
  if ok then return nil end
  assert.is_string(err)
  local what = err:match("testing%.run: leaked (.*)$")
  assert(what, "expected a leak, got: " .. err)
  return what
end

-- The error a spec body raises under testing.async (nil if it passed).
local function async_error(fn)
  local ok, err = pcall(testing.async(fn))
  if ok then return nil end
  return err
end

describe("testing.run's leak check", function()
  it("names each kind of handle left open, at the line of fn", function()
    local keep = {}
    local function at(fn) return SRC .. ":" .. debug.getinfo(fn, "S").linedefined .. ": " end
    local listen = function() keep[1] = corral.tcp.listen("127.0.0.1", 0) end
    local err = support.raises(testing.run, listen)
    assert.equal(at(listen) .. "testing.run: leaked 1 handle (1 listener left open)", err)
    keep[1]:close()
    assert.equal("2 handles (2 TCP or pipe streams left open)", leak_of(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      keep[1] = corral.tcp.connect("127.0.0.1", l.port)
      keep[2] = l:accept()
    end))
    keep[1]:close(); keep[2]:close()
    -- a process that was waited for still has its handle and its three pipes
    assert.equal("4 handles (1 process, 3 TCP or pipe streams left open)", leak_of(function()
      keep[1] = corral.exec("/bin/true", {})
      keep[1]:wait()
    end))
    keep[1]:close()
    assert.equal("1 stream (from testing.stream_pair, not closed)", leak_of(function()
      local a, b = testing.stream_pair()
      a:close()
      keep[1] = b
    end))
    keep[1]:close()
    -- several kinds at once: every one named
    assert.equal("1 handle (1 listener left open), 2 streams (from testing.stream_pair, not closed)",
      leak_of(function()
        keep[1] = corral.tcp.listen("127.0.0.1", 0)
        keep[2], keep[3] = testing.stream_pair()
      end))
    for _, o in ipairs(keep) do o:close() end
  end)

  it("does not take what fn closed, in any way, for a leak", testing.async(function()
    -- closed at once after a kill: the process is closing until it is reaped
    local p = corral.exec("/bin/sleep", { "10" })
    p:kill("SIGKILL")
    p:close()
    -- a process closed while another task waits for it
    local q = corral.exec("/bin/sleep", { "10" })
    corral.group(function(g)
      g:spawn(function() assert.is_false((pcall(q.wait, q))) end)
      testing.wait_all_tasks_blocked()
      q:close()
    end)
    -- closed and dropped: garbage, collected or not
    corral.tcp.listen("127.0.0.1", 0):close()
    local a, b = testing.stream_pair()
    a:close(); b:close()
    collectgarbage()
    corral.tcp.listen("127.0.0.1", 0):close()
    -- <close>, twice over
    do
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      local c <close> = corral.tcp.connect("127.0.0.1", l.port)
      local s <close> = l:accept()
      c:close()
    end
    -- cancelled waits: accept, connect to a port nobody answers, a signal, a channel
    local l <close> = corral.tcp.listen("127.0.0.1", 0)
    assert.is_false(corral.move_on_after(1, l.accept, l))
    corral.scope(function(sc) sc:cancel(); pcall(corral.tcp.connect, "127.0.0.1", l.port) end)
    assert.is_false(corral.move_on_after(1, corral.signal, "SIGUSR2"))
    local ch = corral.channel()
    assert.is_false(corral.move_on_after(1, ch.recv, ch))
    -- a server stopped by a cancel closes its listener and its connections
    corral.group(function(g)
      local port = g:start(function(ready)
        corral.tcp.serve("127.0.0.1", 0, function(s) s:read() end, { ready = ready })
      end)
      local c <close> = corral.tcp.connect("127.0.0.1", port)
      c:write("x")
      testing.wait_all_tasks_blocked()
      g:cancel()
    end)
    -- scopes whose deadline fired and scopes left before it
    corral.move_on_after(1, corral.sleep, 2)
    corral.move_on_after(2, corral.sleep, 1)
  end))

  it("raises fn's own error, not a leak, when fn fails with something open", function()
    local keep
    local err = support.raises(testing.run, function()
      keep = corral.tcp.listen("127.0.0.1", 0)
      error("the test's own failure", 0)
    end)
    assert.equal("the test's own failure", err)
    assert.is_true(keep.closed)            -- the run closed it as it ended
  end)

  it("reports a leak under each_seed after the seed, at the line of fn", function()
    local keep = {}
    local line = next_line()
    local function fn(k) if k == 2 then local a, b = testing.stream_pair(); a:close(); keep[1] = b end end
    local err = support.raises(testing.each_seed, 3, fn)
    assert.equal("seed = 2: " .. SRC .. ":" .. line
      .. ": testing.run: leaked 1 stream (from testing.stream_pair, not closed)", tostring(err))
    for _, s in ipairs(keep) do s:close() end
  end)
end)

describe("an assertion that fails where busted cannot see it", function()
  it("in a group's on_error: that failure, at its line, naming the child", function()
    local line
    local err = async_error(function()
      corral.group(function(g)
        g:spawn({ function() error("boom", 0) end, name = "failing" })
      end, { on_error = function(e)
        line = next_line()
        assert.equal("something else", e)
      end })
    end)
    assert.is_true(is_failure(err))
    assert.equal(SRC .. ":" .. line .. ": Expected objects to be equal.", err.message:match("^[^\n]*"))
    support.assert_mentions(err.message, "(string) 'boom'", "(failed in task failing)")
  end)

  it("in a <close> handler of a task being cancelled: that failure, at its line", function()
    local line
    local err = async_error(function()
      corral.group(function(g)
        g:spawn(function()
          local _ <close> = setmetatable({}, { __close = function()
            line = next_line()
            assert.is_nil("not nil", "cleanup checked")
          end })
          corral.sleep(10)
        end)
        corral.sleep(1)
        g:cancel()
      end)
    end)
    assert.is_true(is_failure(err))
    assert.equal(SRC .. ":" .. line .. ": cleanup checked", err.message:match("^[^\n]*"))
  end)

  it("in nested deferring groups: the first failure, the others listed", function()
    local line
    local err = async_error(function()
      corral.group(function(g)
        g:spawn(function()
          corral.group(function(g2)
            g2:spawn({ function() corral.sleep(1); error("disk full", 0) end, name = "writer" })
            g2:spawn({ function()
              line = next_line()
              assert.same({ 1 }, { 2 })
            end, name = "checker" })
          end, { defer_errors = true })
        end)
      end, { defer_errors = true })
    end)
    assert.is_true(is_failure(err))
    assert.equal(SRC .. ":" .. line .. ": Expected objects to be the same.", err.message:match("^[^\n]*"))
    support.assert_mentions(err.message, "(failed in task checker)",
      "The group failed 2 times; the others:", "[writer] disk full")
  end)

  it("in a task its group cancels afterwards: its failure still reaches busted", function()
    local line
    local err = async_error(function()
      corral.group(function(g)
        g:spawn(function()
          line = next_line()
          assert.equal(1, 2)
        end)
        g:spawn(function()
          -- cancelled by the failure, its own assertion in the cleanup is not
          -- reached: only the one that failed is reported
          corral.sleep(5)
          assert.is_true(false)
        end)
      end)
    end)
    assert.is_true(is_failure(err))
    assert.equal(SRC .. ":" .. line .. ": Expected objects to be equal.", err.message:match("^[^\n]*"))
    assert.not_matches("The group failed", err.message, 1, true)
  end)

  it("error({table}) from a child: text for busted, with the spec's line and the table", function()
    local err = async_error(function()
      corral.group(function(g) g:spawn(function() error({ code = 7 }) end) end)
    end)
    assert.is_string(err)
    assert.matches("^" .. SRC:gsub("%p", "%%%0") .. ":%d+: ErrorGroup: 1 failure", err)
    support.assert_mentions(err, "code = 7")
    assert.not_matches("table: 0x", err, 1, true)
  end)

  it("a pending in a child stays a pending; a spy checked after the group sees the child's calls", function()
    local err = async_error(function()
      corral.group(function(g) g:spawn(function() pending("later") end) end)
    end)
    assert.is_true(is_pending(err))
    local s = spy.new(function() end)
    assert.is_nil(async_error(function()
      corral.group(function(g) g:spawn(function() corral.sleep(1); s(42) end) end)
      assert.spy(s).was.called_with(42)
    end))
    local ferr = async_error(function()
      corral.group(function(g) g:spawn(function() s(1) end) end)
      assert.spy(s).was.called(5)
    end)
    assert.is_true(is_failure(ferr))
  end)

  it("an assertion failure a child catches itself fails nothing", testing.async(function()
    corral.group(function(g)
      g:spawn(function() assert.is_false(pcall(assert.equal, 1, 2)) end)
    end)
  end))
end)

describe("testing.each_seed", function()
  it("takes a count, a list, 0; refuses a negative or fractional count", function()
    local seen = {}
    testing.each_seed(3, function(k) seen[#seen + 1] = k end)
    testing.each_seed({ -7, 0, math.maxinteger }, function(k) seen[#seen + 1] = k end)
    testing.each_seed(0, function(k) seen[#seen + 1] = k end)
    testing.each_seed({}, function(k) seen[#seen + 1] = k end)
    assert.same({ 1, 2, 3, -7, 0, math.maxinteger }, seen)
    support.assert_arg_error(1, "each_seed", "count must be >= 0", function() testing.each_seed(-1, print) end)
    support.assert_arg_error(1, "each_seed", "count must be an integer", function() testing.each_seed(1.5, print) end)
    support.assert_arg_error(1, "each_seed", "count must be an integer", function() testing.each_seed(0 / 0, print) end)
    support.assert_arg_error(1, "each_seed", "seeds must be integers", function() testing.each_seed({ 1, 2.5 }, print) end)
    assert.same({ 1, 2, 3, -7, 0, math.maxinteger }, seen)   -- none of those ran a seed
  end)

  -- tasks spawned together and sleepers due at the same instant: their order
  local function ties()
    local log = {}
    corral.group(function(g)
      for i = 1, 5 do g:spawn(function() log[#log + 1] = "s" .. i end) end
      for i = 1, 5 do g:spawn(function() corral.sleep(1); log[#log + 1] = "d" .. i end) end
    end)
    return table.concat(log, " ")
  end

  it("gives each seed its own tie orders, the same ones run after run", function()
    local orders, distinct = {}, {}
    for k = 1, 12 do
      orders[k] = testing.run(ties, { seed = k })
      assert.equal(orders[k], testing.run(ties, { seed = k }))
      distinct[orders[k]] = true
    end
    local n = 0
    for _ in pairs(distinct) do n = n + 1 end
    assert.is_true(n >= 6, "only " .. n .. " orders in 12 seeds")
  end)

  it("leaves them FIFO without a seed #fifo", function()
    assert.equal("s1 s2 s3 s4 s5 d1 d2 d3 d4 d5", testing.run(ties))
  end)

  it("names the failing seed, whose replay fails exactly the same way", function()
    local function check()
      local order = ties()
      assert(order:sub(1, 2) ~= "s3", "s3 ran first: " .. order)
    end
    local err = support.raises(testing.each_seed, 40, check)
    local k, rest = tostring(err):match("^seed = (%d+): (.*)$")
    assert.is_truthy(k)
    local again = support.raises(testing.run, check, { seed = tonumber(k) })
    assert.equal(rest, tostring(again))
    -- every seed before k passes
    testing.each_seed(tonumber(k) - 1, check)
  end)
end)

describe("testing.wait_all_tasks_blocked", function()
  it("wakes several callers, once every other task is blocked", testing.async(function()
    local log = {}
    corral.group(function(g)
      for i = 1, 3 do
        g:spawn(function() testing.wait_all_tasks_blocked(); log[#log + 1] = "w" .. i end)
      end
      g:spawn(function()
        for _ = 1, 10 do corral.checkpoint() end
        log[#log + 1] = "busy done"
      end)
    end)
    assert.equal("busy done", log[1])
    assert.same({ "w1", "w2", "w3" }, support.sorted({ log[2], log[3], log[4] }))
  end))

  it("waits for a task that computes, and counts a task waiting on real I/O as blocked",
    testing.async(function()
      local sum, line
      local p <close> = corral.exec("/bin/sh", { "-c", "read x; echo got $x" })
      corral.group(function(g)
        g:spawn(function() local s = 0; for i = 1, 1e6 do s = s + i end; sum = s end)
        g:spawn(function() line = p.stdout:read_line() end)
        testing.wait_all_tasks_blocked()
        assert.equal(500000500000, sum)     -- the computing task has finished
        assert.is_nil(line)                 -- the reader waits on the pipe
        p.stdin:write("hi\n")
      end)
      assert.equal("got hi", line)
      assert.equal(0, corral.now())
    end))

  it("returns before the virtual clock moves, with or without an autojump threshold", function()
    for _, opts in ipairs({ {}, { autojump_threshold = 0.01 } }) do
      testing.run(function()
        corral.group(function(g)
          g:spawn(corral.sleep, 5)
          testing.wait_all_tasks_blocked()
          assert.equal(0, corral.now())
        end)
        assert.equal(5, corral.now())
      end, opts)
    end
  end)
end)

describe("autojump_threshold with real I/O", function()
  it("times out a read of a stream_pair nobody writes, at the virtual deadline", testing.async(function()
    local a, b = testing.stream_pair()
    local _ <close> = a
    local _ <close> = b
    assert.is_false(corral.move_on_after(5, b.read, b))
    assert.equal(5, corral.now())
  end, { autojump_threshold = 0.01 }))

  it("lets a loopback peer that sleeps virtually answer before a longer timeout", testing.async(function()
    local l <close> = corral.tcp.listen("127.0.0.1", 0)
    corral.group(function(g)
      g:spawn(function()
        local s <close> = l:accept()
        corral.sleep(2)
        s:write("late\n")
        s:read()
      end)
      local c <close> = corral.tcp.connect("127.0.0.1", l.port)
      assert.equal("late", corral.fail_after(5, c.read_line, c))
      assert.equal(2, corral.now())
    end)
  end, { autojump_threshold = 0.05 }))

  it("holds the clock while a subprocess keeps writing, then jumps", testing.async(function()
    local p <close> = corral.exec("/bin/sh", { "-c", "for i in 1 2 3 4 5; do echo $i; sleep 0.01; done" })
    local lines, at_wake = 0, nil
    corral.group(function(g)
      g:spawn(function() while p.stdout:read_line() do lines = lines + 1 end end)
      g:spawn(function() corral.sleep(100); at_wake = lines end)
    end)
    assert.equal(5, at_wake)                -- no jump while lines kept coming
    assert.equal(100, corral.now())
    p:wait()
  end, { autojump_threshold = 1 }))

  it("is refused when negative, NaN, infinite, not a number, or on the real clock", function()
    for _, v in ipairs({ -1, 0 / 0, math.huge, "1", true }) do
      support.assert_arg_error(2, "run", "autojump_threshold must be a finite number >= 0",
        function() testing.run(print, { autojump_threshold = v }) end)
    end
    support.assert_arg_error(2, "run", 'autojump_threshold needs clock = "virtual"',
      function() testing.run(print, { autojump_threshold = 1, clock = "real" }) end)
  end)
end)

describe("testing.stream_pair as a drop-in for a TCP stream", function()
  -- Each scenario runs on a loopback TCP pair and on a stream_pair; what it
  -- returns must be the same, once the type's name and the peer's address
  -- (which a stream_pair has not) are taken out of the messages.
  local function show(v)
    if type(v) == "string" then return string.format("%q", v) end
    if corral.is_io_error(v) then
      return "IoError(" .. tostring(v):gsub(" 127%.0%.0%.1:%d+", "") .. ", partial="
        .. tostring(v.partial) .. ")"
    end
    return tostring(v)
  end
  local function try(f, ...)
    local r = table.pack(pcall(f, ...))
    local out = { r[1] and "ok" or "error" }
    for i = 2, r.n do
      local v = r[i]
      if not r[1] and type(v) == "string" then
        v = v:gsub("^[^\n]-:%d+: ", ""):gsub("corral%.testing%.Stream", "corral.Stream")
      end
      out[#out + 1] = show(v)
    end
    return table.concat(out, " ")
  end

  local scenarios = {
    ["read(max) takes at most max"] = function(a, b) b:write("xyz"); return try(a.read, a, 2) end,
    ["read refuses a max of 0, -1, 1.5 or huge"] = function(a)
      return try(a.read, a, 0) .. try(a.read, a, -1) .. try(a.read, a, 1.5) .. try(a.read, a, math.huge)
    end,
    ["read takes no timeout"] = function(a) return try(a.read, a, 1, 2) end,
    ["write takes numbers, refuses other values"] = function(a, b)
      a:write(12); a:write(1.5)
      return try(b.read, b) .. try(a.write, a, true) .. try(a.write, a, {})
    end,
    ["write('') sends nothing"] = function(a, b)
      a:write(""); a:write("x"); return try(b.read, b)
    end,
    ["shutdown twice, then write, then close twice"] = function(a)
      a:shutdown()
      return try(a.shutdown, a) .. try(a.write, a, "x") .. try(a.close, a) .. try(a.close, a)
    end,
    ["every call on a closed stream but close"] = function(a)
      a:close()
      return try(a.read, a) .. try(a.write, a, "x") .. try(a.shutdown, a) .. try(a.read_line, a)
        .. try(a.read_exactly, a, 1) .. tostring(a.closed)
    end,
    ["reads after the peer's shutdown: the data, then nil for ever"] = function(a, b)
      b:write("k"); b:shutdown()
      return try(a.read, a) .. try(a.read, a) .. try(a.read, a) .. try(a.write, a, "back")
        .. try(b.read, b)
    end,
    ["reads after the peer's close: what it sent, then nil"] = function(a, b)
      b:write("zz"); b:close()
      return try(a.read, a) .. try(a.read, a)
    end,
    ["read_exactly at an early end: EOF with the partial bytes"] = function(a, b)
      b:write("ab"); b:shutdown()
      return try(a.read_exactly, a, 5) .. try(a.read_exactly, a, 0)
    end,
    ["read_line: CRLF, empty lines, too long, exactly max, the last line"] = function(a, b)
      b:write("ab\r\n\r\n\nabcdef\nxyz\nabc\r\nend"); b:shutdown()
      return try(a.read_line, a) .. try(a.read_line, a) .. try(a.read_line, a)
        .. try(a.read_line, a, 3) .. try(a.read_line, a, 3) .. try(a.read_line, a, 3)
        .. try(a.read_line, a) .. try(a.read_line, a)
    end,
    ["lines() to the end, and a bad max"] = function(a, b)
      b:write("1\n2\n3"); b:shutdown()
      local t = {}
      for l in a:lines() do t[#t + 1] = l end
      return table.concat(t, ",") .. try(a.lines, a, 0)
    end,
    ["a second reader is refused while the first waits"] = function(a, b)
      return corral.group(function(g)
        g:spawn(function() a:read() end)
        testing.wait_all_tasks_blocked()
        local r = try(a.read, a) .. try(a.read_line, a)
        b:write("x")
        return r
      end)
    end,
    ["a reader waiting when its own end is closed, or the peer's"] = function(a, b)
      local r = {}
      corral.group(function(g)
        g:spawn(function() r[1] = try(a.read_line, a) end)
        g:spawn(function() r[2] = try(b.read_exactly, b, 10) end)
        a:write("12345")
        testing.wait_all_tasks_blocked()
        a:close()
      end)
      return r[1] .. " / " .. r[2]
    end,
    ["cancelled calls consume and send nothing; both are cancellation points"] = function(a, b)
      local r = { tostring(corral.move_on_after(1, a.read, a)) }
      b:write("x")
      corral.scope(function(s) s:cancel(); r[2] = try(a.read, a); r[3] = try(a.write, a, "lost") end)
      r[4] = try(a.read, a)
      a:write("y")
      r[5] = try(b.read, b)
      b:write("abc")
      r[6] = tostring(corral.move_on_after(1, a.read_exactly, a, 5))
      b:write("de")
      r[7] = try(a.read_exactly, a, 5)
      return table.concat(r, " ")
    end,
    ["a write cancelled while it waits closes its stream, and the peer reads a reset"] = function(a, b)
      local big = string.rep("x", 8 * 1024 * 1024)
      local r = corral.move_on_after(1, function() a:write(big); a:write(big) end)
      local ok, e = pcall(function() while b:read() do end end)
      return tostring(r) .. " " .. tostring(a.closed) .. " " .. try(a.write, a, "x") .. " "
        .. tostring(ok) .. " " .. tostring(e.code) .. " " .. try(b.write, b, "back")
    end,
    ["a close while the stream's own write waits: ECLOSED, and a reset for the peer"] = function(a, b)
      local big = string.rep("x", 8 * 1024 * 1024)
      local r
      corral.group(function(g)
        g:spawn(function() r = try(function() a:write(big); a:write(big) end) end)
        testing.wait_all_tasks_blocked()
        a:close()
      end)
      local ok, e = pcall(function() while b:read() do end end)
      return r .. " " .. tostring(ok) .. " " .. tostring(e.code)
    end,
    ["close and shutdown in a cancelled scope still act"] = function(a, b)
      corral.scope(function(s) s:cancel(); a:shutdown(); b:close() end)
      return try(b.read, b) .. tostring(b.closed) .. try(a.read, a)
    end,
    ["<close> closes"] = function(a, b)
      do local _ <close> = a end
      return tostring(a.closed) .. try(b.read, b)
    end,
    ["fields are read-only, unknown ones nil"] = function(a)
      return try(function() a.closed = true end) .. tostring(a.foo)
    end,
  }

  local function tcp_pair()
    local l <close> = corral.tcp.listen("127.0.0.1", 0)
    local a = corral.tcp.connect("127.0.0.1", l.port)
    return a, l:accept()
  end

  local names = {}
  for name in pairs(scenarios) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    it(name, function()
      local got = {}
      for i, pair in ipairs({ tcp_pair, testing.stream_pair }) do
        got[i] = testing.run(function()
          local a, b = pair()
          local _ <close> = a
          local _ <close> = b
          return scenarios[name](a, b)
        end)
      end
      assert.equal(got[1], got[2])
    end)
  end
end)

describe("testing.stream_pair on its own", function()
  it("refuses a max_chunk or buffer of 0, -1, 1.5, huge or NaN, and takes 2.0", function()
    for _, v in ipairs({ 0, -1, 1.5, math.huge, 0 / 0, "2" }) do
      support.assert_arg_error(1, "stream_pair", "max_chunk must be an integer >= 1",
        function() testing.stream_pair({ max_chunk = v }) end)
      support.assert_arg_error(1, "stream_pair", "buffer must be an integer >= 1",
        function() testing.stream_pair({ buffer = v }) end)
    end
    testing.run(function()
      local a, b = testing.stream_pair({ max_chunk = 2.0, buffer = math.maxinteger })
      local _ <close> = a
      local _ <close> = b
      a:write("abcde")
      assert.equal("ab", b:read())
      assert.equal("c", b:read(1))
      assert.equal("de", b:read(100))
    end)
  end)

  it("carries large writes both ways at once through a small buffer, in pieces, under seeds", function()
    local up, down = {}, {}
    for i = 1, 20000 do up[i] = string.char(i % 251) end
    up = table.concat(up)
    down = up:reverse()
    testing.each_seed(5, function()
      local a, b = testing.stream_pair({ buffer = 100, max_chunk = 7 })
      local _ <close> = a
      local _ <close> = b
      local got_a, got_b = {}, {}
      corral.group(function(g)
        g:spawn(function() for i = 1, #up, 333 do a:write(up:sub(i, i + 332)) end; a:shutdown() end)
        g:spawn(function() for i = 1, #down, 97 do b:write(down:sub(i, i + 96)) end; b:shutdown() end)
        g:spawn(function()
          for s in function() return a:read(50) end do
            assert.is_true(#s <= 7)
            got_a[#got_a + 1] = s
          end
        end)
        g:spawn(function() for s in function() return b:read(1) end do got_b[#got_b + 1] = s end end)
      end)
      assert.is_true(table.concat(got_a) == down and table.concat(got_b) == up)
    end)
  end)

  it("keeps writers waiting for room in call order, the shutdown behind them", testing.async(function()
    local a, b = testing.stream_pair({ buffer = 4 })
    local _ <close> = a
    local _ <close> = b
    local got = {}
    corral.group(function(g)
      a:write("AAAA")
      g:spawn(function() a:write("BB") end)
      testing.wait_all_tasks_blocked()
      g:spawn(function() a:write("CC") end)
      testing.wait_all_tasks_blocked()
      g:spawn(function() a:shutdown() end)   -- queued behind the writes
      testing.wait_all_tasks_blocked()
      for s in function() return b:read(1) end do got[#got + 1] = s end
    end)
    assert.equal("AAAABBCC", table.concat(got))
  end))

  it("fails a writer waiting for room when either end is closed", testing.async(function()
    for _, which in ipairs({ "own", "peer" }) do
      local a, b = testing.stream_pair({ buffer = 4 })
      local err
      corral.group(function(g)
        a:write("AAAA")
        g:spawn(function() err = support.raises(a.write, a, "BB") end)
        testing.wait_all_tasks_blocked()
        if which == "own" then a:close() else b:close() end
      end)
      a:close(); b:close()
      assert.is_true(corral.is_io_error(err))
      assert.equal(which == "own" and "ECLOSED" or "EPIPE", err.code)
    end
  end))
end)
