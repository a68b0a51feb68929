-- An ErrorGroup's split and render, written in Lua, numbered their argument
-- errors as if always called with a colon: e.split(e, 3) said "bad argument
-- #1 to 'split'" where its predicate is argument #2, as Lua's own methods
-- (and corral's C ones) count it. They now count as the call was made.
local corral = require "corral"

local function message(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok)
  return (tostring(err):gsub("^[^\n]-:%d+: ", ""))
end

describe("regression: ErrorGroup methods numbered a dot call's argument as a colon call's", function()
  local e = corral.error_group({ "a" }, { "t" })

  it("split and render count self in a call with a dot", function()
    assert.equal("bad argument #2 to 'split' (function expected, got number)",
      message(function() e.split(e, 3) end))
    assert.equal("bad argument #2 to 'render' (unknown option 'x')",
      message(function() e.render(e, { x = 1 }) end))
    assert.equal("bad argument #2 to 'render' (table expected, got number)",
      message(e.render, e, 3))                     -- named under pcall too
  end)

  it("and not in a method call", function()
    assert.equal("bad argument #1 to 'split' (function expected, got number)",
      message(function() e:split(3) end))
    assert.equal("bad argument #1 to 'render' (describe must be a function, got string)",
      message(function() e:render({ describe = "x" }) end))
  end)

  it("at the caller's line", function()
    local ok, err = pcall(function() e:split(3) end)
    assert.is_false(ok)
    assert.matches("^[^\n]-numbered%-a%-dot[^\n]-:%d+: bad argument", err)
  end)
end)
