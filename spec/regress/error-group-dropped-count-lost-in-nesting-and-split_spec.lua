-- An ErrorGroup's `dropped` (failures past max_errors) vanished in two
-- places: a nested group's line in the rendering left out its
-- "(+D dropped)", and e:split() gave both parts dropped = 0, so a handler
-- that re-raised the rest (except*, the Lua way) lost them silently.
-- Dropped failures were never seen, so no predicate matched them: they go
-- with the rest.
local corral = require "corral"

local function with_dropped(errors, dropped)
  local tasks = {}
  for i = 1, #errors do tasks[i] = "t" .. i end
  local e = corral.error_group(errors, tasks)
  e.dropped = dropped
  return e
end

describe("regression: an ErrorGroup's dropped failures", function()
  it("show on a nested group's line", function()
    local inner = with_dropped({ "a" }, 3)
    local outer = corral.error_group({ inner }, { "sub" })
    assert.matches("`%- %[sub%] ErrorGroup: 1 failure %(%+3 dropped%)", tostring(outer))
  end)

  it("show for a real group that dropped failures inside another", function()
    local err
    corral.run(function()
      err = select(2, pcall(corral.group, function(outer)
        outer:spawn({ function()
          corral.group(function(g)
            for i = 1, 4 do g:spawn(function() error("e" .. i, 0) end) end
          end, { defer_errors = true, max_errors = 1 })
        end, name = "sub" })
      end))
    end)
    assert.matches("%[sub%] ErrorGroup: 1 failure %(%+3 dropped%)", tostring(err))
  end)

  it("stay with the rest of a split, never with the matched part", function()
    local e = with_dropped({ "a", "b" }, 3)
    local m, r = e:split(function(x) return x == "a" end)
    assert.equal(0, m.dropped)
    assert.equal(3, r.dropped)
    assert.same({ "b" }, r.errors)
  end)

  it("make a rest of their own when every listed failure matched", function()
    local e = with_dropped({ "a" }, 2)
    local m, r = e:split(function() return true end)
    assert.equal(1, #m)
    assert.is_not_nil(r)
    assert.equal(0, #r)
    assert.equal(2, r.dropped)
    assert.matches("%(%+2 dropped%)", tostring(r))
  end)

  it("go with the rest at every level of nesting", function()
    local inner = with_dropped({ "x" }, 5)
    local e = corral.error_group({ inner, "y" }, { "sub", "t" })
    local m, r = e:split(function(v) return v == "x" end)
    assert.same({ "x" }, m:flatten())
    assert.equal(0, m.errors[1].dropped)
    assert.equal(5, r.errors[1].dropped)     -- the nested rest keeps its own
    assert.same({ "y" }, r:flatten())
  end)

  it("leave a split of a group that dropped nothing as before", function()
    local e = corral.error_group({ "a" }, { "t" })
    local m, r = e:split(function() return true end)
    assert.equal(1, #m)
    assert.is_nil(r)
  end)
end)

describe("regression: e:flatten() on extreme groups", function()
  it("flattens groups nested far deeper than Lua's call depth", function()
    local e = corral.error_group({ "leaf" }, { "t" })
    local EG = getmetatable(e)           -- built by hand: error_group copies
    for i = 1, 250000 do
      e = setmetatable({ errors = { e, i }, tasks = { "g", "t" }, tracebacks = {},
                         dropped = 0 }, EG)
    end
    local f = e:flatten()
    assert.equal(250001, #f)
    assert.equal("leaf", f[1])
    assert.equal(250000, f[#f])
  end)

  it("ends on a group that contains itself, listing its leaves once", function()
    local s = corral.error_group({ "a" }, { "t" })
    s.errors[2], s.tasks[2] = s, "self"
    assert.same({ "a" }, s:flatten())
  end)
end)
