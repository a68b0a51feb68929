-- corral.exec read args over 1..#args: a table with a hole ran the program
-- with the arguments before it (or raised at the hole, by where `#` fell),
-- and stray keys such as table.pack's `n` were dropped without a word.
local corral = require "corral"
local testing = require "corral.testing"

local function exec_error(args)
  local ok, err = pcall(corral.exec, "echo", args)
  assert.is_false(ok)
  return err
end

describe("corral.exec's args", function()
  it("refuse a key past the list's length, naming the hole", testing.async(function()
    local t = { "a" }
    t[3] = "c"                    -- # may be 1 or 3: either way, an error
    assert.matches("bad argument #2 to '[%w.]*exec' %(args must be a list", exec_error(t))
    local u = { [1] = "a", [5] = "e" }
    assert.is_true(#u == 1 or #u == 5)
    if #u == 1 then
      assert.matches("args must be a list without holes, got args[5] but no args[2]",
                     exec_error(u), 1, true)
    end
  end))

  it("refuse keys that are no index", testing.async(function()
    assert.matches("args must be a list, got key 'n'", exec_error(table.pack("a", "b")), 1, true)
    assert.matches("args must be a list, got key [0]", exec_error({ "a", [0] = "z" }), 1, true)
    assert.matches("args must be a list, got key [1.5]", exec_error({ "a", [1.5] = "z" }), 1, true)
    assert.matches("args must be a list, got a key of type table", exec_error({ "a", [{}] = "z" }), 1, true)
  end))

  it("still read a proxy through __len and __index", testing.async(function()
    local proxy = setmetatable({}, { __len = function() return 2 end,
                                     __index = function(_, i) return "p" .. i end })
    local p <close> = corral.exec("echo", proxy)
    assert.equal("p1 p2\n", p.stdout:read())
    assert.same({ 0 }, { p:wait() })
    -- one that keeps its items in a field of its own, its length a float
    local list = setmetatable({ items = { "x", "y" } }, {
      __len = function(t) return #t.items + 0.0 end,
      __index = function(t, i) return rawget(t, "items")[i] end })
    local q <close> = corral.exec("echo", list)
    assert.equal("x y\n", q.stdout:read())
  end))
end)
