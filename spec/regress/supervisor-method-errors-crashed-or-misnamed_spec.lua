-- The supervisor's methods broke the error conventions of docs/api.md. Called
-- with a dot, sup.stop() and sup.children() crashed inside the library
-- ("attempt to index a nil value (local 'self')"), and sup.add(child)
-- complained about its argument rather than the dot. Errors named the methods
-- "add", "remove", "restart" rather than "supervisor:add" and so on. A method
-- called with a dot now says so, as the core's do, at the caller's line.
local support = require "support"
local supervisor = require "corral.supervisor"

local HERE = "supervisor%-method%-errors%-crashed%-or%-misnamed_spec%.lua:%d+: "

-- The error f raises, which must point at this file and contain `text`.
local function raised_here(text, f)
  local err = support.raises(f)
  assert.is_string(err)
  assert.matches("^.*" .. HERE, err)
  support.assert_mentions(err, text)
end

local function dot_call(name, got)
  return ("bad argument #1 to '%s' (corral.Supervisor expected, got %s; "
    .. "call a method with a colon: obj:%s(...))"):format(name, got, name)
end

local function with_sup(body)
  support.vrun(function()
    supervisor.run({ children = { { name = "a", fn = function(c) c:wait_stopping() end } } }, body)
  end)
end

describe("regression: a supervisor method called with a dot", function()
  it("says so, naming the method, at the caller", function()
    with_sup(function(sup)
      raised_here(dot_call("stop", "nil"), function() sup.stop() end)
      raised_here(dot_call("children", "nil"), function() sup.children() end)
      raised_here(dot_call("add", "table"), function() sup.add({ name = "b", fn = print }) end)
      raised_here(dot_call("remove", "string"), function() sup.remove("a") end)
      raised_here(dot_call("restart", "string"), function() sup.restart("a") end)
      assert.same({ { name = "a", status = "running", restarts = 0 } }, sup:children())
      sup:stop()
    end)
  end)
end)

describe("regression: a supervisor method's error", function()
  it("names the method with its receiver's kind and a colon", function()
    with_sup(function(sup)
      raised_here("supervisor:add: a child named 'a' already exists",
        function() sup:add({ name = "a", fn = print }) end)
      raised_here("supervisor:remove: no child named 'zz'", function() sup:remove("zz") end)
      raised_here("supervisor:restart: no child named 'zz'", function() sup:restart("zz") end)
      sup:stop()
      raised_here("supervisor:add: the supervisor has stopped",
        function() sup:add({ name = "b", fn = print }) end)
    end)
  end)
end)
