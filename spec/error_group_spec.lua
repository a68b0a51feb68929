-- corral.error_group(errors, tasks [, tracebacks [, message]]): an ErrorGroup
-- built by hand (a policy's failures, a library's own), the same kind of value
-- a group raises, and eg.message, which heads tostring(eg) when set.
local corral = require "corral"
local support = require "support"

local function message(f)
  local err = support.raises(f)
  return (err:gsub("^[^:\n]+:%d+: ", ""))
end

describe("corral.error_group", function()
  it("builds an ErrorGroup like the ones groups raise, outside a run too", function()
    local boom = { code = 42 }
    local eg = corral.error_group({ "a failed", boom }, { "a", "b" }, { "tb a" })
    assert.is_true(corral.is_error_group(eg))
    assert.equal(2, #eg)
    assert.same({ "a", "b" }, eg.tasks)
    assert.equal("a failed", eg.errors[1])
    assert.is_true(rawequal(boom, eg.errors[2]))
    assert.same({ "tb a", "" }, eg.tracebacks)
    assert.equal(0, eg.dropped)
    assert.is_nil(eg.message)
    assert.equal(getmetatable(support.error_group(corral.run, function()
      corral.group(function() error("x") end)
    end)), getmetatable(eg))
  end)

  it("counts failures by task names: an error value may be nil", function()
    local eg = corral.error_group({ [2] = "b" }, { "a", "b", "c" })
    assert.equal(3, #eg)
    assert.is_nil(eg.errors[1])
    assert.equal("ErrorGroup: 3 failures\n|- [a] nil\n|- [b] b\n`- [c] nil", tostring(eg))
  end)

  it("copies its tables", function()
    local errors, tasks = { "x" }, { "t" }
    local eg = corral.error_group(errors, tasks)
    errors[1], tasks[2] = "changed", "added"
    assert.equal("x", eg.errors[1])
    assert.equal(1, #eg)
  end)

  it("renders its message as the heading of tostring and render", function()
    local eg = corral.error_group({ "refused", "timed out" }, { "10.0.0.1", "10.0.0.2" },
      { "refused\nstack traceback:\n\tx.lua:1: in f" }, "connect: all 2 attempts failed")
    assert.equal("connect: all 2 attempts failed", eg.message)
    assert.equal("connect: all 2 attempts failed\n|- [10.0.0.1] refused\n`- [10.0.0.2] timed out",
      tostring(eg))
    assert.equal("connect: all 2 attempts failed\n|- [10.0.0.1] refused\n|    stack traceback:\n"
      .. "|    \tx.lua:1: in f\n`- [10.0.0.2] timed out", eg:render({ tracebacks = true }))
    local outer = corral.error_group({ eg, "disk full" }, { "connector", "writer" })
    assert.equal("ErrorGroup: 2 failures\n|- [connector] connect: all 2 attempts failed\n"
      .. "|  |- [10.0.0.1] refused\n|  `- [10.0.0.2] timed out\n`- [writer] disk full", tostring(outer))
  end)

  it("splits and flattens as any ErrorGroup; the parts keep the message", function()
    local eg = corral.error_group({ "a: bad", "b: worse" }, { "a", "b" }, nil, "two failed")
    local a, rest = eg:split(function(e) return e:find("^a") end)
    assert.same({ "a" }, a.tasks)
    assert.same({ "b" }, rest.tasks)
    assert.equal("two failed", a.message)
    assert.same({ "a: bad", "b: worse" }, eg:flatten())
  end)

  it("rejects bad arguments, naming each", function()
    local E = corral.error_group
    assert.equal("bad argument #1 to 'error_group' (table expected, got nil)", message(function() E() end))
    assert.equal("bad argument #2 to 'error_group' (table expected, got string)",
      message(function() E({}, "a") end))
    assert.equal("bad argument #3 to 'error_group' (table expected, got string)",
      message(function() E({}, {}, "tb") end))
    assert.equal("bad argument #4 to 'error_group' (string expected, got number)",
      message(function() E({}, {}, nil, 4) end))
    assert.equal("bad argument #2 to 'error_group' (tasks[1] must be a string, got number)",
      message(function() E({}, { 1 }) end))
    assert.equal("bad argument #2 to 'error_group' (tasks[x] has no task name (#tasks is 0))",
      message(function() E({}, { x = "a" }) end))
    assert.equal("bad argument #1 to 'error_group' (errors[2] has no task name (#tasks is 1))",
      message(function() E({ "a", "b" }, { "a" }) end))
    assert.equal("bad argument #3 to 'error_group' (tracebacks[1] must be a string, got boolean)",
      message(function() E({ "a" }, { "a" }, { true }) end))
    assert.equal("bad argument #1 to 'split' (function expected, got nil)",
      message(function() E({}, {}):split() end))
  end)

  it("renders its leaves with describe, falling back where describe fails", function()
    local code = { code = 7 }
    local eg = corral.error_group({ code, "plain", corral.error_group({ code }, { "deep" }) },
      { "a", "b", "c" }, { tostring(code) .. "\nstack traceback:\n\tx.lua:1: in f" })
    local function describe(e)
      if type(e) == "table" then return "code " .. e.code end
      if e == "plain" then error("describe failed") end
    end
    assert.equal("ErrorGroup: 3 failures\n|- [a] code 7\n|    stack traceback:\n|    \tx.lua:1: in f\n"
      .. "|- [b] plain\n`- [c] ErrorGroup: 1 failure\n   `- [deep] code 7",
      eg:render({ tracebacks = true, describe = describe }))
    assert.equal("ErrorGroup: 1 failure\n`- [t] x",     -- no string: as tostring
      corral.error_group({ "x" }, { "t" }):render({ describe = function() return 1 end }))
    assert.equal("bad argument #1 to 'render' (describe must be a function, got number)",
      message(function() eg:render({ describe = 1 }) end))
  end)

  it("checks self in split, flatten and render (a dot instead of a colon is named)", function()
    local e = corral.error_group({ "a" }, { "t" })
    assert.equal("bad argument #1 to 'split' (corral.ErrorGroup expected, got table; "
      .. "call a method with a colon: e:split(...))", message(function() e.split({}, print) end))
    assert.equal("bad argument #1 to 'flatten' (corral.ErrorGroup expected, got string; "
      .. "call a method with a colon: e:flatten(...))", message(function() e.flatten("x") end))
    assert.equal("bad argument #1 to 'render' (corral.ErrorGroup expected, got corral.Timeout; "
      .. "call a method with a colon: e:render(...))",
      message(function() e.render(select(2, pcall(corral.run, function()
        corral.fail_after(0, corral.checkpoint) end, { clock = "virtual" }))) end))
    local t = setmetatable({}, getmetatable(e))   -- the metatable alone is enough
    assert.equal("ErrorGroup: 0 failures", t:render())
    assert.same({ "a" }, e:flatten(print))        -- no hidden second parameter
  end)

  it("is what the policies raise: race's failures", function()
    local race = require "corral.race"
    local eg = support.error_group(support.vrun, function()
      race({ function() error("one", 0) end, function() error("two", 0) end })
    end)
    assert.same({ "race[1]", "race[2]" }, support.sorted(eg.tasks))    -- in order of failure
    assert.same({ "one", "two" }, support.sorted(eg.errors))
  end)
end)
