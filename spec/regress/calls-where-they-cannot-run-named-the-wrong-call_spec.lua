-- A sweep of bad arguments over the public API found calls that named the
-- wrong call, pointed into corral's own files, or acted before refusing:
-- supervisor requests from a coroutine.wrap generator raised "event:wait:
-- called from a coroutine ..." at supervisor.lua's line after the request
-- was made (the child was removed, added, the supervisor stopped); outside a
-- run they blamed corral.current_task; happy_eyeballs.connect("") failed in
-- the resolver, named 'resolve', and refused a port "8080" that tcp.connect
-- takes; a TCP stream's read_line, lines and read_exactly in a generator
-- pointed at corral.io; a table given a testing stream's metatable failed
-- inside testing.lua; run's debug_signal = 32 said "invalid argument"; and
-- corral.arg_error wrapped argument numbers beyond an int round.
local corral = require "corral"
local support = require "support"
local supervisor = require "corral.supervisor"
local happy_eyeballs = require "corral.happy_eyeballs"
local testing = require "corral.testing"
local vrun = support.vrun

-- (busted may shorten the path: "...alls-where-...")
local HERE = "[^\n]*named%-the%-wrong%-call_spec%.lua:%d+: "

describe("regression: calls where they cannot run, or with bad arguments", function()
  it("supervisor requests from a generator raise at the caller, naming themselves, and do nothing", function()
    local errs, after = {}, nil
    vrun(function()
      supervisor.run({ children = { { name = "w", fn = function(c) c:wait_stopping() end } } }, function(sup)
        local function try(f) local _, e = pcall(coroutine.wrap(f)); errs[#errs + 1] = e end
        try(function() sup:remove("w") end)
        try(function() sup:add({ name = "x", fn = function(c) c:wait_stopping() end }) end)
        try(function() sup:restart("w") end)
        try(function() sup:stop() end)
        corral.sleep(0.1)
        after = sup:children()
        sup:stop()
      end)
    end)
    for i, call in ipairs({ "remove", "add", "restart", "stop" }) do
      assert.matches("^" .. HERE .. "supervisor:" .. call .. ": called from a coroutine that corral does not run", errs[i])
    end
    assert.equal(1, #after)
    assert.same({ "w", "running", 0 }, { after[1].name, after[1].status, after[1].restarts })
  end)

  it("supervisor handles outside a run name the call, at the caller's line", function()
    local sup, child
    vrun(function()
      supervisor.run({ children = { { name = "w", fn = function(c) child = c; c:wait_stopping() end } } },
        function(s) sup = s; corral.sleep(0.1); s:stop() end)
    end)
    for _, call in ipairs({ "add", "remove", "restart" }) do
      local arg = call == "add" and { name = "x", fn = function() end } or "w"
      local ok, e = pcall(function() local r = sup[call](sup, arg); return r end)
      assert.is_false(ok)
      assert.matches("^" .. HERE .. "supervisor:" .. call .. ": called outside corral.run$", e)
    end
    local ok, e = pcall(function() local r = child:wait_stopping(); return r end)
    assert.matches("^" .. HERE .. "child:wait_stopping: called outside corral.run$", e)
  end)

  it("happy_eyeballs.connect checks its host as tcp.connect does, and takes the same ports", function()
    local port
    vrun(function()
      assert.matches("bad argument #1 to 'happy_eyeballs.connect' %(host is empty",
        select(2, pcall(happy_eyeballs.connect, "", 80)))
      assert.matches("bad argument #1 to 'happy_eyeballs.connect' %(host contains a NUL byte%)",
        select(2, pcall(happy_eyeballs.connect, "a\0b", 80)))
      local asked
      local s = happy_eyeballs.connect("example", "8080", {
        resolve = function() return { { address = "192.0.2.1" } } end,
        connect = function(_, p) asked = p; return "a stream" end,
      })
      assert.equal("a stream", s)
      port = asked
    end)
    assert.equal(8080, port)
  end)

  it("a TCP stream's line and exact readers in a generator point at the caller", function()
    local errs = {}
    support.with_tcp_pair(function(a)
      for _, f in ipairs({
        function() local r = a:read_line(); return r end,       -- (no tail calls:
        function() local r = a:read_exactly(3); return r end,  -- the caller's line)
        function() for _ in a:lines() do end end,
      }) do
        local _, e = pcall(coroutine.wrap(f))
        errs[#errs + 1] = e
      end
    end)
    for i, call in ipairs({ "read_line", "read_exactly", "lines" }) do
      assert.matches("^" .. HERE .. "stream:" .. call .. ": called from a coroutine that corral does not run", errs[i])
    end
  end)

  it("a table given a testing stream's metatable is refused by name, and prints", function()
    vrun(function()
      local a, b = testing.stream_pair()
      local fake = setmetatable({}, getmetatable(a))
      local ok, e = pcall(function() return fake.closed end)
      assert.is_false(ok)
      assert.matches("^" .. HERE .. "stream%.closed: not a stream: a table given a testing stream's metatable$", e)
      assert.matches("^testing%.Stream%(not a stream", tostring(fake))
      a:close(); b:close()
    end)
  end)

  it("run's debug_signal refuses a signal the platform keeps for itself, as a bad argument", function()
    for _, n in ipairs({ 32, 33 }) do
      local ok, e = pcall(support.unwrapped_run(), function() end, { debug_signal = n })
      assert.is_false(ok)
      assert.matches("^bad argument #2 to '[^']*' %(debug_signal must be", e)
    end
  end)

  it("corral.arg_error refuses an argument number beyond an int", function()
    for _, n in ipairs({ math.maxinteger, -1, 2 ^ 32 + 2, math.mininteger }) do
      local ok, e = pcall(corral.arg_error, n, "f", "msg")
      assert.is_false(ok)
      assert.matches("bad argument #1 to '[^']*arg_error' %(argument number must be an integer in 0%.%.2147483647%)", e)
    end
  end)
end)
