-- spec/policies/happy_eyeballs_spec.lua: corral.happy_eyeballs (docs/policies.md,
-- RFC 8305). Scripted scenarios run under the virtual clock with opts.resolve and
-- opts.connect replaced, so start times are exact; the real-socket cases run on the
-- real clock against loopback listeners, bounded by fail_after, and assert no time.
local corral = require "corral"
local support = require "support"
local he = require "corral.happy_eyeballs"

local vrun = support.vrun

-- A scripted network. `list` holds {address, seconds, "ok" | "error"} in the order
-- the resolver returns them; an address with ":" is inet6. sc.starts[address] is
-- when its connect began, sc.streams[address] the stream it returned, and
-- sc.completed the addresses whose connect returned, in that order.
local function scenario(list)
  local sc = { starts = {}, streams = {}, errors = {}, by = {}, completed = {} }
  local addrs = {}
  for i, e in ipairs(list) do
    sc.by[e[1]] = e
    addrs[i] = { address = e[1], family = e[1]:find(":", 1, true) and "inet6" or "inet" }
  end
  function sc.resolve(host)
    sc.host = host
    return addrs
  end
  function sc.connect(address, port)
    local e = assert(sc.by[address], "unknown address " .. address)
    sc.starts[address], sc.port = corral.now(), port
    corral.sleep(e[2])
    if e[3] == "error" then
      sc.errors[address] = { address = address, "refused" }
      error(sc.errors[address], 0)
    end
    local s = { address = address, closed = false }
    function s.close(self) self.closed = true end
    sc.streams[address] = s
    sc.completed[#sc.completed + 1] = address
    return s
  end
  function sc.opts(extra)
    local o = { resolve = sc.resolve, connect = sc.connect }
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end
  -- Every stream but the winner's was closed.
  function sc.check(winner)
    for address, s in pairs(sc.streams) do
      if s ~= winner then assert(s.closed, "stream to " .. address .. " left open") end
    end
  end
  return sc
end

-- Connect through scenario `list`; returns the stream (or the error), the time it
-- ended, and the scenario.
local function run(list, extra)
  local sc = scenario(list)
  return vrun(function()
    local ok, s = pcall(he.connect, "test.example", 80, sc.opts(extra))
    sc.check(ok and s or nil)
    return ok, s, corral.now(), sc
  end)
end

describe("happy_eyeballs.connect (scripted)", function()
  it("connects to a single address", function()
    local ok, s, t, sc = run({ { "1.2.3.4", 0.125, "ok" } })
    assert.is_true(ok)
    assert.equal("1.2.3.4", s.address)
    assert.equal(0.125, t)
    assert.same({ "test.example", 80 }, { sc.host, sc.port })
  end)

  it("waits as long as the only attempt takes", function()
    local ok, s, t = run({ { "1.2.3.4", 100, "ok" } })
    assert.is_true(ok)
    assert.equal("1.2.3.4", s.address)
    assert.equal(100, t)
  end)

  it("raises an ErrorGroup naming the address when the only attempt fails", function()
    local ok, eg, t, sc = run({ { "1.2.3.4", 0.125, "error" } })
    assert.is_false(ok)
    assert.is_true(corral.is_error_group(eg))
    assert.equal(0.125, t)
    assert.same({ "1.2.3.4" }, eg.tasks)
    assert.equal(sc.errors["1.2.3.4"], eg.errors[1])   -- the raw error value
    assert.truthy(eg.message:find("test.example port 80", 1, true))
  end)

  it("starts the next attempt every 0.25 s while none answers", function()
    local ok, s, t, sc = run({ { "1.1.1.1", 1, "ok" }, { "2.2.2.2", 1, "ok" }, { "3.3.3.3", 0.125, "ok" } })
    assert.is_true(ok)
    assert.equal("3.3.3.3", s.address)
    assert.equal(0.625, t)
    assert.same({ ["1.1.1.1"] = 0, ["2.2.2.2"] = 0.25, ["3.3.3.3"] = 0.5 }, sc.starts)
  end)

  it("starts nothing more once an attempt has connected", function()
    local ok, s, t, sc = run({ { "1.1.1.1", 1, "ok" }, { "2.2.2.2", 0.125, "ok" }, { "3.3.3.3", 0.125, "ok" } })
    assert.is_true(ok)
    assert.equal("2.2.2.2", s.address)
    assert.equal(0.375, t)
    assert.same({ ["1.1.1.1"] = 0, ["2.2.2.2"] = 0.25 }, sc.starts)
  end)

  it("honours a custom delay", function()
    local ok, s, t, sc = run({ { "1.1.1.1", 1, "ok" }, { "2.2.2.2", 1, "ok" }, { "3.3.3.3", 0.25, "ok" } },
      { delay = 0.4375 })
    assert.is_true(ok)
    assert.equal("1.1.1.1", s.address)
    assert.equal(1, t)
    assert.same({ ["1.1.1.1"] = 0, ["2.2.2.2"] = 0.4375, ["3.3.3.3"] = 0.875 }, sc.starts)
  end)

  it("starts all attempts at once with delay 0", function()
    local ok, s, _, sc = run({ { "1.1.1.1", 2, "ok" }, { "2.2.2.2", 1, "ok" } }, { delay = 0 })
    assert.is_true(ok)
    assert.equal("2.2.2.2", s.address)
    assert.same({ ["1.1.1.1"] = 0, ["2.2.2.2"] = 0 }, sc.starts)
  end)

  it("starts the next attempt at once when the latest one fails", function()
    local ok, s, t, sc = run({
      { "1.1.1.1", 0.125, "error" }, { "2.2.2.2", 0.25, "error" },
      { "3.3.3.3", 10, "ok" }, { "4.4.4.4", 0.25, "ok" },
    })
    assert.is_true(ok)
    assert.equal("4.4.4.4", s.address)
    assert.equal(0.875, t)
    assert.same({ ["1.1.1.1"] = 0, ["2.2.2.2"] = 0.125, ["3.3.3.3"] = 0.375, ["4.4.4.4"] = 0.625 },
      sc.starts)
  end)

  it("raises every failure in order of failure, each named by its address", function()
    local ok, eg, t, sc = run({
      { "1.1.1.1", 0.125, "error" }, { "2.2.2.2", 0.25, "error" },
      { "3.3.3.3", 10, "error" }, { "4.4.4.4", 0.25, "error" },
    })
    assert.is_false(ok)
    assert.equal(10.375, t)
    assert.same({ "1.1.1.1", "2.2.2.2", "4.4.4.4", "3.3.3.3" }, eg.tasks)
    for i, address in ipairs(eg.tasks) do assert.equal(sc.errors[address], eg.errors[i]) end
    assert.truthy(eg.message:find("all 4 attempts", 1, true))
  end)

  it("closes connections that complete after the winner", function()
    local ok, s, t, sc = run({
      { "1.1.1.1", 0.5, "error" }, { "2.2.2.2", 10, "ok" }, { "3.3.3.3", 9, "ok" },
      { "4.4.4.4", 8, "ok" }, { "5.5.5.5", 0.5, "error" },
    }, { delay = 1 })
    assert.is_true(ok)
    -- three connects complete at 10.5, in an order that follows the schedule: the
    -- first wins, and run() checked that the other two were closed
    assert.same({ "2.2.2.2", "3.3.3.3", "4.4.4.4" }, support.sorted(sc.completed))
    assert.equal(sc.completed[1], s.address)
    assert.is_false(s.closed)
    assert.equal(10.5, t)
    assert.same({ ["1.1.1.1"] = 0, ["2.2.2.2"] = 0.5, ["3.3.3.3"] = 1.5, ["4.4.4.4"] = 2.5,
      ["5.5.5.5"] = 3.5 }, sc.starts)
  end)

  it("interleaves the families, starting with the first one returned", function()
    local ok, s, t, sc = run({ { "1.1.1.1", 10, "error" }, { "2.2.2.2", 1, "ok" }, { "::3", 0.5, "ok" } },
      { delay = 1 })
    assert.is_true(ok)
    assert.equal("::3", s.address)
    assert.equal(1.5, t)
    assert.same({ ["1.1.1.1"] = 0, ["::3"] = 1 }, sc.starts)
  end)

  it("cancels the losers and waits for their cleanup before returning", function()
    local log = support.log()
    local sc = scenario({ { "::1", 0.5, "ok" } })
    local function slow_loser(address)
      if address == "::1" then return sc.connect(address, 80) end
      local _ <close> = support.closer(function(err)
        corral.scope(function() corral.sleep(1) end, { shield = true })
        log:stamp(address .. (corral.is_cancelled(err) and " cancelled" or " ?"))
      end)
      corral.sleep(math.huge)
    end
    local resolve = function()
      return { { address = "10.0.0.1", family = "inet" }, { address = "::1", family = "inet6" } }
    end
    vrun(function()
      local s = he.connect("h", 1, { resolve = resolve, connect = slow_loser })
      log:stamp("connected to " .. s.address)
    end)
    assert.same({ "10.0.0.1 cancelled@1.75", "connected to ::1@1.75" }, log.items)
  end)

  it("lets an outer cancellation through, leaving no connection open", function()
    local sc = scenario({ { "1.1.1.1", 10, "ok" }, { "2.2.2.2", 10, "ok" }, { "3.3.3.3", 10, "ok" } })
    local r, t = vrun(function()
      local r = corral.move_on_after(5, he.connect, "test.example", 80, sc.opts())
      return r, corral.now()
    end)
    assert.is_false(r)
    assert.equal(5, t)
    assert.same({}, sc.streams)
    assert.same({ ["1.1.1.1"] = 0, ["2.2.2.2"] = 0.25, ["3.3.3.3"] = 0.5 }, sc.starts)
  end)

  it("closes a connection that completes while an outer cancellation unwinds it", function()
    local won
    local function connect(address)
      if address == "b" then corral.sleep(math.huge) end
      pcall(corral.sleep, 10)                  -- a connect that completes regardless
      won = { closed = false, close = function(self) self.closed = true end }
      return won
    end
    local resolve = function() return { { address = "a", family = "inet" }, { address = "b", family = "inet" } } end
    local r, t = vrun(function()
      return corral.move_on_after(1, he.connect, "h", 1, { resolve = resolve, connect = connect }), corral.now()
    end)
    assert.is_false(r)
    assert.equal(1, t)
    assert.is_true(won.closed)
  end)

  it("raises when the name resolves to no address", function()
    local err = vrun(function()
      return support.raises(he.connect, "nowhere", 80, { resolve = function() return {} end })
    end)
    support.assert_mentions(err, "no address found for nowhere")
  end)

  it("raises the resolver's error unchanged", function()
    local oops = {}
    local err = vrun(function()
      return support.raises(he.connect, "h", 80, { resolve = function() error(oops, 0) end })
    end)
    assert.equal(oops, err)
  end)

  it("rejects bad arguments and unknown options", function()
    vrun(function()
      local fn = "happy_eyeballs.connect"
      support.assert_arg_error(1, fn, "string expected", function() he.connect(1, 80) end)
      support.assert_arg_error(2, fn, "port must be an integer", function() he.connect("h", -1) end)
      support.assert_arg_error(2, fn, "port must be an integer", function() he.connect("h", "80.5") end)
      support.assert_arg_error(3, fn, "unknown option 'dealy'", function() he.connect("h", 1, { dealy = 1 }) end)
      support.assert_arg_error(3, fn, "delay must be a number >= 0", function() he.connect("h", 1, { delay = -1 }) end)
    end)
  end)
end)

describe("happy_eyeballs.interleave", function()
  it("alternates families in first-seen order and keeps each family's order", function()
    local function a(address, family) return { address = address, family = family } end
    local order = he.interleave({ a("6a", "inet6"), a("6b", "inet6"), a("4a", "inet"), a("6c", "inet6"),
      a("4b", "inet") })
    local got = {}
    for i, x in ipairs(order) do got[i] = x.address end
    assert.same({ "6a", "4a", "6b", "4b", "6c" }, got)
  end)
end)

-- Real sockets --------------------------------------------------------------

-- Run fn on the real clock, failing after 5 s instead of hanging.
local function real(fn)
  return corral.run(function() return corral.fail_after(5, fn) end)
end

-- A port that refuses connections: one a listener had, closed again.
local function refused_port(host)
  local l = corral.tcp.listen(host, 0)
  local port = l.port
  l:close()
  return port
end

-- Connect through happy_eyeballs to a listener on host and check that bytes go
-- through; returns the address the server saw the connection arrive on.
local function echo_through(listen_host, connect_host, opts)
  local l <close> = corral.tcp.listen(listen_host, 0)
  local c <close> = he.connect(connect_host, l.port, opts)
  local s <close> = l:accept()
  c:write("ping")
  assert.equal("ping", s:read())
end

local function ipv6_available()
  return corral.run(function()
    local ok, l = pcall(corral.tcp.listen, "::1", 0)
    if ok then l:close() end
    return ok
  end)
end

describe("happy_eyeballs.connect (loopback)", function()
  it("connects to 127.0.0.1", function()
    real(function() echo_through("127.0.0.1", "127.0.0.1") end)
  end)

  it("connects to ::1", function()
    if not ipv6_available() then return pending("no IPv6 loopback here") end
    real(function() echo_through("::1", "::1") end)
  end)

  it("connects to localhost through the system resolver", function()
    real(function() echo_through("127.0.0.1", "localhost") end)
  end)

  it("falls back to 127.0.0.1 at once when ::1 refuses", function()
    local resolve = function()
      return { { address = "::1", family = "inet6" }, { address = "127.0.0.1", family = "inet" } }
    end
    real(function()
      local t0 = corral.now()
      echo_through("127.0.0.1", "dual", { resolve = resolve, delay = 30 })
      assert(corral.now() - t0 < 30, "the refused attempt did not start the next one")
    end)
  end)

  it("raises an ErrorGroup of both refusals, leaving no fd open", function()
    local resolve = function()
      return { { address = "127.0.0.1", family = "inet" }, { address = "::1", family = "inet6" } }
    end
    real(function()
      local port = refused_port("127.0.0.1")
      local before = support.open_fds()
      local eg = support.error_group(he.connect, "dual", port, { resolve = resolve })
      assert.same(before, support.open_fds())
      assert.same(support.sorted({ "127.0.0.1", "::1" }), support.sorted(eg.tasks))
      support.assert_mentions(eg.errors[1], "connect")
      support.assert_mentions(eg.errors[2], "connect")
    end)
  end)
end)

describe("happy_eyeballs, given junk by its hooks", function()
  -- What broke: a loser's connect that caught its cancel and returned a
  -- number was "closed" by indexing it, which failed the whole call and
  -- closed the winner; a NaN family was used as a table key.
  it("drops a late connection that is no stream, keeping the winner", function()
    local closed, winner, got = false, { close = function() closed = true end }, nil
    vrun(function()
      got = he.connect("h", 1, { delay = 0.1,
        resolve = function() return { { address = "a" }, { address = "b" } } end,
        connect = function(a)
          if a == "a" then pcall(corral.sleep, 1); return 42 end   -- late junk
          corral.sleep(0.1)
          return winner
        end })
    end)
    assert.equal(winner, got)
    assert.is_false(closed)
  end)

  it("says a family that is NaN is one, in interleave and from a resolver", function()
    support.assert_arg_error(1, "happy_eyeballs.interleave", "address #1 has a family that is NaN",
      function() he.interleave({ { address = "a", family = 0 / 0 } }) end)
    vrun(function()
      local ok, err = pcall(he.connect, "h", 1, {
        resolve = function() return { { address = "a", family = 0 / 0 } } end,
        connect = function() return { close = function() end } end })
      assert.is_false(ok)
      support.assert_mentions(err, "happy_eyeballs.connect", "family that is NaN")
    end)
  end)
end)
