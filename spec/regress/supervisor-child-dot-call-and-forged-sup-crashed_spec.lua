-- A child handle's method called with a dot, child.wait_stopping(), crashed
-- inside the library ("attempt to index a nil value (local 'self')") where
-- the supervisor's methods give the "call a method with a colon" hint. And a
-- table given a supervisor's metatable by hand,
-- setmetatable({}, getmetatable(sup)):stop(), passed the check and crashed on
-- arithmetic. Both are now bad arguments that say what is wrong, at the
-- caller's line.
local support = require "support"
local supervisor = require "corral.supervisor"

-- (the start of so long a path is cut to "...")
local HERE = "^[^\n]*forged%-sup%-crashed_spec%.lua:%d+: "

local function raised_here(text, f)
  local err = support.raises(f)
  assert.is_string(err)
  assert.matches(HERE, err)
  support.assert_mentions(err, text)
end

describe("regression: a child handle's method called with a dot", function()
  it("says so, naming the method", function()
    local child
    support.vrun(function()
      supervisor.run({ children = { { name = "a", restart = "temporary", fn = function(c)
        child = c
      end } } })
    end)
    raised_here("bad argument #1 to 'wait_stopping' (corral.SupervisorChild expected, got nil; "
      .. "call a method with a colon: obj:wait_stopping(...))", function() child.wait_stopping() end)
    local forged = setmetatable({}, getmetatable(child))
    raised_here("corral.SupervisorChild expected, got a table supervisor.run did not make",
      function() forged:wait_stopping() end)
  end)
end)

describe("regression: a forged supervisor", function()
  it("is rejected by every method", function()
    support.vrun(function()
      supervisor.run({}, function(sup)
        local forged = setmetatable({}, getmetatable(sup))
        local want = "corral.Supervisor expected, got a table supervisor.run did not make"
        raised_here("bad argument #1 to 'stop' (" .. want, function() forged:stop() end)
        raised_here("bad argument #1 to 'add' (" .. want, function() forged:add({ name = "b", fn = print }) end)
        raised_here("bad argument #1 to 'remove' (" .. want, function() forged:remove("a") end)
        raised_here("bad argument #1 to 'restart' (" .. want, function() forged:restart("a") end)
        raised_here("bad argument #1 to 'children' (" .. want, function() forged:children() end)
      end)
    end)
  end)
end)
