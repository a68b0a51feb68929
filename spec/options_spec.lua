-- Every options table of every function rejects a key it does not know, so
-- a typo never silently drops an option: `{timout = 1}` raises
-- "bad argument #2 to 'scope' (unknown option 'timout')". One checker does it
-- all, in C, exposed to Lua modules as corral.check_options.
local corral = require "corral"
local testing = require "corral.testing"
local support = require "support"
local vrun = support.vrun

-- The message f raises, without the "file:line: " in front.
local function message(f, ...)
  local err = support.raises(f, ...)
  assert.is_string(err)
  return (err:gsub("^[^:\n]+:%d+: ", ""))
end

-- The message f raises inside a group body, which raises it in an ErrorGroup
-- when it escapes: caught where it is raised.
local function check(expected, f)
  assert.equal(expected, message(f))
end

describe("unknown options", function()
  it("corral.run", function()
    check("bad argument #2 to 'run' (unknown option 'clok')", function()
      corral.run(print, { clok = "virtual" })
    end)
    -- trace and trace_limit are names of run, whatever they do
    assert.has_no_error(function() pcall(corral.run, print, { trace_limit = 1 }) end)
  end)

  it("corral.group and corral.scope", function()
    vrun(function()
      check("bad argument #2 to 'group' (unknown option 'defer_error')", function()
        corral.group(function() end, { defer_error = true })
      end)
      check("bad argument #2 to 'group' (unknown option 'timout')", function()
        corral.group(function() end, { timout = 1 })
      end)
      check("bad argument #2 to 'scope' (unknown option 'timout')", function()
        corral.scope(function() end, { timout = 1 })
      end)
      check("bad argument #2 to 'scope' (unknown option 'limit')", function()
        corral.scope(function() end, { limit = 1 })  -- a group's, not a scope's
      end)
    end)
  end)

  it("every option docs/api.md lists is accepted", function()
    vrun(function()
      corral.group(function() end, { name = "g", defer_errors = true, on_error = print,
        limit = 2, max_errors = 3, timeout = 1, deadline = 5, shield = false })
      corral.scope(function() end, { timeout = 1, deadline = 5, shield = true, name = "s" })
    end, { seed = 3, autojump_threshold = 0 })
  end)

  it("g:spawn and g:start with a table", function()
    vrun(function()
      corral.group(function(g)
        check("bad argument #1 to 'spawn' (unknown option 'nmae')", function()
          g:spawn({ print, nmae = "x" })
        end)
        check("bad argument #1 to 'start' (unknown option 'nmae')", function()
          g:start({ print, nmae = "x" })
        end)
        check("bad argument #1 to 'spawn' (unknown option '[2]')", function()
          g:spawn({ print, print })
        end)
        local _, v = g:spawn({ function() return "ok" end, name = "fine" }):wait()
        assert.equal("ok", v)
      end)
    end)
  end)

  it("corral.exec", function()
    vrun(function()
      check("bad argument #3 to 'exec' (unknown option 'stdn')", function()
        corral.exec("/bin/true", {}, { stdn = "pipe" })
      end)
    end)
  end)

  it("corral.tcp.connect, listen and serve", function()
    vrun(function()
      check("bad argument #3 to 'connect' (unknown option 'timout')", function()
        corral.tcp.connect("127.0.0.1", 1, { timout = 1 })
      end)
      check("bad argument #3 to 'listen' (unknown option 'backlg')", function()
        corral.tcp.listen("127.0.0.1", 0, { backlg = 1 })
      end)
      check("bad argument #4 to 'serve' (unknown option 'redy')", function()
        corral.tcp.serve("127.0.0.1", 0, print, { redy = print })
      end)
    end)
  end)

  it("the policies", function()
    local race = require "corral.race"
    local gather = require "corral.gather"
    local map = require "corral.map"
    local retry = require "corral.retry"
    local he = require "corral.happy_eyeballs"
    local supervisor = require "corral.supervisor"
    vrun(function()
      check("bad argument #2 to 'race' (unknown option 'nmae')", function() race({ print }, { nmae = "x" }) end)
      check("bad argument #2 to 'gather' (unknown option 'limt')", function() gather({}, { limt = 1 }) end)
      check("bad argument #3 to 'map' (unknown option 'settle')", function() map(print, {}, { settle = true }) end)
      check("bad argument #2 to 'retry' (unknown option 'timout')", function() retry(print, { timout = 1 }) end)
      check("bad argument #3 to 'happy_eyeballs.connect' (unknown option 'dealy')", function()
        he.connect("localhost", 1, { dealy = 1 })
      end)
      check("bad argument #1 to 'supervisor.run' (unknown option 'stratgy')", function()
        supervisor.run({ stratgy = "one_for_one" })
      end)
      check("bad argument #1 to 'supervisor.run' (unknown option 'children[1].restrat')", function()
        supervisor.run({ children = { { name = "a", fn = print, restrat = "temporary" } } })
      end)
      check("bad argument #1 to 'supervisor.run' (unknown option 'backoff.dealy')", function()
        supervisor.run({ backoff = { dealy = 1 } })
      end)
      supervisor.run({}, function(sup)
        check("bad argument #1 to 'add' (unknown option 'child.shutdwn')", function()
          sup:add({ name = "a", fn = print, shutdwn = 1 })
        end)
      end)
    end)
  end)

  it("corral.testing", function()
    check("bad argument #1 to 'stream_pair' (unknown option 'max_chunks')", function()
      testing.stream_pair({ max_chunks = 2 })
    end)
    -- testing.run hands its options to corral.run, which names them
    support.assert_mentions(support.raises(testing.run, print, { sed = 1 }), "unknown option 'sed'")
    support.assert_mentions(support.raises(testing.each_seed, 1, print, { clok = "real" }),
      "unknown option 'clok'")
  end)

  it("keys that are not strings are unknown too, shown in brackets", function()
    vrun(function()
      check("bad argument #2 to 'scope' (unknown option '[1]')", function()
        corral.scope(function() end, { 1 })
      end)
      check("bad argument #2 to 'group' (unknown option '[true]')", function()
        corral.group(function() end, { [true] = 1 })
      end)
      check("bad argument #2 to 'race' (unknown option '[1]')", function()
        require "corral.race"({ print }, { "x" })
      end)
    end)
    check("bad argument #2 to 'run' (unknown option '[2.5]')", function() corral.run(print, { [2.5] = 1 }) end)
  end)

  it("a key whose __tostring fails is still reported as an unknown option", function()
    local raising = setmetatable({}, { __tostring = function() error("bug in __tostring") end })
    local not_text = setmetatable({}, { __tostring = function() return {} end })
    for _, key in ipairs({ raising, not_text }) do
      check("bad argument #2 to 'run' (unknown option '[(a table value whose __tostring failed)]')",
            function() corral.run(print, { [key] = 1 }) end)
      assert.equal("unknown option '[(a table value whose __tostring failed)]'",
                   corral.check_options({ [key] = 1 }, {}))
    end
  end)

  it("a typo is reported before any other problem of the call", function()
    -- outside a run, the typo is still what is reported
    check("bad argument #2 to 'scope' (unknown option 'timout')", function()
      corral.scope(function() end, { timout = 1 })
    end)
  end)
end)

describe("corral.check_options", function()
  it("returns nil or the complaint about the first unknown key", function()
    assert.is_nil(corral.check_options({ a = 1 }, { a = true, b = print }))
    assert.is_nil(corral.check_options({}, {}))
    assert.equal("unknown option 'c'", corral.check_options({ c = 1 }, { a = true }))
    assert.equal("unknown option 'child.c'", corral.check_options({ c = 1 }, { a = true }, "child"))
    assert.equal("unknown option 'child[1]'", corral.check_options({ 1 }, {}, "child"))
    assert.is_nil(corral.check_options({ 1 }, { true }))  -- names is a set: [1] is a key of it
  end)

  it("checks its own arguments", function()
    support.assert_arg_error(1, "check_options", "table expected", function() corral.check_options(nil, {}) end)
    support.assert_arg_error(2, "check_options", "table expected", function() corral.check_options({}, nil) end)
  end)
end)

describe("corral.arg_error", function()
  it("raises luaL_argerror's message for the named function, blaming the caller", function()
    local function f(x)
      if x == nil then corral.arg_error(1, "f", "x expected") end
    end
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() f() end)
    assert.is_false(ok)
    assert.equal(("spec/options_spec.lua:%d: bad argument #1 to 'f' (x expected)"):format(line),
      err:match("spec/options_spec.lua:.*"))
  end)

  it("takes a level as error() does", function()
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() corral.arg_error(2, "g", "bad", 1) end)
    assert.is_false(ok)
    assert.equal(("spec/options_spec.lua:%d: bad argument #2 to 'g' (bad)"):format(line),
      err:match("spec/options_spec.lua:.*"))
    assert.equal("bad argument #3 to 'h' (why)", select(2, pcall(corral.arg_error, 3, "h", "why", 0)))
  end)
end)
