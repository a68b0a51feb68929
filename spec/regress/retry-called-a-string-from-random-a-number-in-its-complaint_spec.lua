-- retry's complaint about an `opts.random` that returned something other
-- than a number in [0, 1) printed the value with tostring: a string "0.5"
-- read `got 0.5`, as if the number 0.5 had been refused; a table with a
-- __tostring that raises replaced the complaint with that error; a long
-- string was copied whole into the message. A value that is not a number
-- is now named by its type, as every other complaint of the API does.
local corral = require "corral"
local retry = require "corral.retry"
local support = require "support"

local function complaint(r)
  local err
  support.vrun(function()
    local n = 0
    local ok
    ok, err = pcall(retry, function()
      n = n + 1
      if n < 2 then error("again") end
      return n
    end, { jitter = 1, random = function() return r end })
    assert.is_false(ok)
  end)
  return err
end

describe("regression: retry's complaint about opts.random", function()
  it("names a string by its type", function()
    local err = complaint("0.5")
    assert.equal("string", type(err))
    assert.matches("random must return a number in %[0, 1%), got string", err)
  end)

  it("is not replaced by a raising __tostring, nor holds a long string", function()
    local err = complaint(setmetatable({}, { __tostring = function() error("boom") end }))
    assert.matches("random must return a number in %[0, 1%), got table", err)
    err = complaint(string.rep("x", 100000))
    assert.is_true(#err < 200)
  end)

  it("still shows a number that is out of range", function()
    assert.matches("got 2$", complaint(2))
    assert.matches("got %-1$", complaint(-1))
  end)
end)
