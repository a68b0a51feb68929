-- corral.is_error_group and is_timeout asked getmetatable, which answers a
-- __metatable field: any table could pass for an ErrorGroup, and then split
-- called methods it did not have, and the command lost the user's error in
-- "attempt to call a nil value (method 'render')".
local corral = require "corral"
local BIN = os.getenv("CORRAL_BIN") or "build/corral"

local function fake_of(v)
  return setmetatable({}, { __metatable = getmetatable(v) })
end

local function an_error_group()
  local _, eg = pcall(corral.run, function()
    corral.group(function(g) g:spawn(error, "x") end)
  end)
  return eg
end

describe("regression: error types checked by their real metatable", function()
  it("a table whose __metatable names ErrorGroup or Timeout is neither", function()
    local eg = an_error_group()
    assert.is_true(corral.is_error_group(eg))
    assert.is_false(corral.is_error_group(fake_of(eg)))
    local _, timeout = pcall(corral.run, function()
      corral.fail_after(0, function() corral.sleep(1) end)
    end, { clock = "virtual" })
    assert.is_true(corral.is_timeout(timeout))
    assert.is_false(corral.is_timeout(fake_of(timeout)))
  end)

  it("split treats such a table as a leaf", function()
    local fake = fake_of(an_error_group())
    local matched, rest = corral.error_group({ fake }, { "t" }):split(function() return true end)
    assert.equal(fake, matched.errors[1])
    assert.is_nil(rest)
  end)

  it("the command prints it as any other table", function()
    local p = assert(io.popen(BIN .. [[ -e 'local corral = require "corral"
      local ok, eg = pcall(corral.run, function() corral.group(function(g) g:spawn(error, "x") end) end)
      error(setmetatable({}, {__metatable = getmetatable(eg)}))' 2>&1 >/dev/null]]))
    local out = p:read("a")
    p:close()
    assert.truthy(out:find("^corral: %(error object is a table value%)"), out)
  end)
end)
