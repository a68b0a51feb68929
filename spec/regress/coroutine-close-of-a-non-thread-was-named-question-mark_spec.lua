-- require "corral" wraps coroutine.resume and coroutine.close; the wrapper
-- handed a bad argument on to the original, which Lua then named '?' and
-- placed nowhere: "bad argument #1 to '?' (thread expected, got number)",
-- where plain Lua says "f.lua:2: bad argument #1 to 'close' (...)".
require "corral"

describe("regression: coroutine.close of a non-thread was named '?'", function()
  local function message(f)
    local ok, err = pcall(f)
    assert.is_false(ok)
    return err
  end

  it("close and resume name themselves and the caller's line", function()
    local line = debug.getinfo(1, "l").currentline
    local e1 = message(function() coroutine.close(5) end)
    local e2 = message(function() coroutine.resume({}) end)
    local e3 = message(function() coroutine.resume() end)
    local where = ("_spec.lua:%d: "):format(line + 1)
    assert.truthy(e1:find(where, 1, true), e1)
    assert.truthy(e1:find("bad argument #1 to 'close' (thread expected, got number)", 1, true), e1)
    assert.truthy(e2:find("bad argument #1 to 'resume' (thread expected, got table)", 1, true), e2)
    assert.truthy(e3:find("bad argument #1 to 'resume' (thread expected, got no value)", 1, true), e3)
  end)

  it("so do close's own refusals (a running, a normal coroutine)", function()
    local line = debug.getinfo(1, "l").currentline
    local e1 = message(function() coroutine.close(coroutine.running()) end)
    local outer
    outer = coroutine.create(function()
      local inner = coroutine.create(function() return coroutine.close(outer) end)
      return select(2, coroutine.resume(inner))
    end)
    local _, e2 = coroutine.resume(outer)
    assert.truthy(e1:find(("_spec.lua:%d: cannot close a running coroutine"):format(line + 1), 1, true), e1)
    assert.truthy(e2:find(("_spec.lua:%d: cannot close a normal coroutine"):format(line + 4), 1, true), e2)
  end)
end)
