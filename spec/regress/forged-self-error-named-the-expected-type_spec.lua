-- Regression: a value given a corral type's metatable with debug.setmetatable
-- (a file handle with a lock's) was refused as self with "corral.Lock or
-- corral.Semaphore expected, got corral.Lock", a message that contradicts
-- itself. The message now says what the value is. A semaphore given a lock's
-- metatable (the two have one size) was even taken for a lock.
local corral = require "corral"

describe("regression: a forged self", function()
  it("is named as a value with that type's metatable", function()
    local mt = getmetatable(io.stdout)
    debug.setmetatable(io.stdout, getmetatable(corral.lock()))
    local ok, err = pcall(function() return io.stdout:acquire() end)
    debug.setmetatable(io.stdout, mt)
    assert.is_false(ok)
    assert.matches("corral.Lock expected, got a userdata with the "
                   .. "metatable of corral.Lock", err, 1, true)
  end)

  it("is refused between a lock and a semaphore, which have one size", function()
    local lock_mt = getmetatable(corral.lock())
    local s = corral.semaphore(3)
    debug.setmetatable(s, lock_mt)
    local ok, err = pcall(function() return s.value end)
    assert.is_false(ok)
    assert.matches("with the metatable of corral.Lock", err, 1, true)
    local l = corral.lock()
    debug.setmetatable(l, getmetatable(corral.semaphore(1)))
    ok, err = pcall(function() return l.locked end)
    assert.is_false(ok)
    assert.matches("with the metatable of corral.Semaphore", err, 1, true)
  end)

  it("is named so for streams, listeners and processes, whose messages say 'stream'", function()
    corral.run(function()
      local p <close> = corral.exec("true", {})
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      for what, obj in pairs({ stream = p.stdout, listener = l, process = p }) do
        local fake = setmetatable({}, getmetatable(obj))
        local ok, err = pcall(fake.close, fake)
        assert.is_false(ok)
        assert.matches(what .. " expected, got a table with the metatable of corral.", err, 1, true)
      end
      p:wait()
    end)
  end)

  it("leaves the message of a plain wrong type as it was", function()
    local ok, err = pcall(corral.channel().send, corral.lock(), 1)
    assert.is_false(ok)
    assert.matches("corral.Channel expected, got corral.Lock)", err, 1, true)
  end)
end)
