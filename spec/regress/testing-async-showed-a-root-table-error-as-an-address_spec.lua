-- A testing.async spec whose root raised a table, error({code = 42}),
-- failed with "<the spec's line>: table: 0x55..." where plain busted shows
-- the table's contents at the line that raised it; a child's table error in
-- the group's tree showed only its address too; and a Timeout raised in the
-- root was placed at the line where the spec's function starts, not at the
-- wait that timed out. The kit now places a non-string error at the line of
-- the spec that raised it (the root's traceback) and writes a table as
-- busted does.
local corral = require "corral"
local testing = require "corral.testing"

local SRC = debug.getinfo(1, "S").short_src

-- What busted receives from the body async(fn) makes.
local function reported(fn)
  local ok, err = pcall(testing.async(fn))
  assert.is_false(ok)
  assert.is_string(err)
  return err
end

local function line_of(fn, offset)
  return SRC .. ":" .. debug.getinfo(fn, "S").linedefined + offset .. ": "
end

local function starts_with(prefix, s)
  assert.equal(prefix, s:sub(1, #prefix))
end

describe("regression: testing.async showed a root's table error as an address", function()
  it("shows the table's contents at the line that raised it", function()
    local function fn()
      corral.sleep(1)
      error({ code = 42 })
    end
    local err = reported(fn)
    starts_with(line_of(fn, 2) .. "{\n  code = 42\n}", err)
  end)

  it("places a Timeout of the root at the wait that timed out", function()
    local function fn()
      corral.fail_after(10, corral.sleep, 1)
      corral.fail_after(10, corral.sleep, 100)
    end
    starts_with(line_of(fn, 2) .. "Timeout: deadline passed after 10s", reported(fn))
  end)

  it("writes a child's table error out in the group's tree", function()
    local err = reported(function()
      corral.group(function(g)
        g:spawn({ function() error({ code = 7 }) end, name = "w" })
      end)
    end)
    assert.matches("`- [w] {\n     code = 7\n   }\n", err, 1, true)
    assert.not_matches("table: 0x", err, 1, true)
  end)

  it("under each_seed too, after the seed", function()
    local function fn()
      error({ code = 9 })
    end
    local ok, err = pcall(testing.each_seed, 2, fn)
    assert.is_false(ok)
    starts_with("seed = 1: " .. line_of(fn, 1) .. "{\n  code = 9\n}", err)
  end)

  it("keeps the error itself for testing.run", function()
    local e = { code = 1 }
    local ok, err = pcall(testing.run, function() error(e) end)
    assert.is_false(ok)
    assert.equal(e, err)
  end)
end)
