-- 0.24.0 made tostring and split of an ErrorGroup that holds one group twice
-- at every level (two tasks re-raising the group they caught) walk each
-- distinct group once. Two places still walked every path: the testing kit,
-- which lists a failed group's failures in its message (a failing spec took
-- seconds and gigabytes at 21 levels), and the rendering of a group nested
-- more than 100 deep, whose line shows the first failures at its bottom
-- through e:flatten() (2^n leaves). And the kit still looked up os.clock and
-- debug.getinfo when used, so a program that removed them after require had
-- every testing.run fail in the kit; a supervisor's line about a failed
-- child raised without io.stderr, losing the child's error.
local corral = require "corral"
local testing = require "corral.testing"

local function shared(levels, below, leaf)
  local eg = corral.error_group({ leaf or "leaf" }, { "t" })
  for _ = 1, levels do eg = corral.error_group({ eg, eg }, { "a", "b" }) end
  for i = 1, below or 0 do eg = corral.error_group({ eg }, { "n" .. i }) end
  return eg
end

describe("regression: a shared ErrorGroup", function()
  it("is listed once in a testing.run failure", function()
    local _, failure = pcall(assert.equal, 1, 2)   -- the kit lists every leaf
    local ok, err = pcall(testing.run, function() error(shared(16, 0, failure), 0) end)
    assert.is_false(ok)
    local text = tostring(err)
    assert.truthy(#text < 4000, #text)
  end)

  it("is counted once under a group nested too deep to show", function()
    local text = tostring(shared(18, 101))
    assert.truthy(text:find("nested too deep to show", 1, true))
    assert.is_nil(text:find("more)", 1, true))      -- one distinct leaf
    assert.truthy(#text < 40000, #text)
  end)
end)

describe("regression: standard functions removed after require", function()
  it("leave testing.run working", function()
    local saved = { os.clock, debug.getinfo }
    os.clock, debug.getinfo = nil, nil
    local ok, err = pcall(testing.run, function() return 1 end)
    local ok2, err2 = pcall(testing.run, function() error("the real error", 0) end)
    os.clock, debug.getinfo = saved[1], saved[2]
    assert.is_true(ok, tostring(err))
    assert.is_false(ok2)
    assert.matches("the real error", tostring(err2), 1, true)
  end)

  it("leave a supervisor's failed child reported without io.stderr", function()
    local sup = require "corral.supervisor"
    local saved = io.stderr
    local ok, err = pcall(testing.run, function()
      io.stderr = nil
      local ok2, e2 = pcall(sup.run, { children = { { name = "t", restart = "temporary",
        fn = function() error("the real error", 0) end } } })
      io.stderr = saved
      assert.is_true(ok2, tostring(e2))
    end)
    io.stderr = saved
    assert.is_true(ok, tostring(err))
  end)
end)
