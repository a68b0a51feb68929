-- A task's group slot (its second user value) replaced with the debug
-- library was trusted when it held any group: a group of an ended run
-- crashed the failure's recording; a closed group of the same run swallowed
-- the failure; another live group took it while the task's own group raised
-- a bare Cancelled; nil or {} dropped the error value and ignored
-- defer_errors. The engine says which group a task belongs to: the slot is
-- used only when it holds that group, and the failure always reaches it.
-- A group's errors list replaced by a table answering through __index
-- crashed too: it is read raw now.
local corral = require "corral"
local support = require "support"

-- A group where one child fails after `tamper(t)`: what its corral.group
-- raised, and whether the body's own sleep ended normally.
local function fail_in_group(tamper, opts)
  local ok, err, body_ok
  support.vrun(function()
    ok, err = pcall(corral.group, function(g)
      local t = g:spawn(function() corral.sleep(1); error("boom", 0) end)
      tamper(t, g)
      body_ok = pcall(corral.sleep, 2)
    end, opts)
  end)
  return ok, err, body_ok
end

describe("regression: a task's group slot replaced", function()
  it("by a group of an ended run: its own group reports the failure", function()
    local old
    corral.run(function() corral.group(function(g) old = g end) end)
    local ok, err = fail_in_group(function(t) debug.setuservalue(t, old, 2) end)
    assert.is_false(ok)
    assert.same({ "boom" }, err.errors)
  end)

  it("by a closed group of the same run: the failure is not swallowed", function()
    local ok, err
    support.vrun(function()
      local closed
      corral.group(function(g) closed = g end)
      ok, err = pcall(corral.group, function(g)
        local t = g:spawn(function() error("boom", 0) end)
        debug.setuservalue(t, closed, 2)
        corral.sleep(1)
      end)
    end)
    assert.is_false(ok)
    assert.same({ "boom" }, err.errors)
  end)

  it("by another live group: the failure stays with the task's own group", function()
    local inner_ok, inner_err
    support.vrun(function()
      corral.group(function(other)
        inner_ok, inner_err = pcall(corral.group, function(g)
          local t = g:spawn(function() error("boom", 0) end)
          debug.setuservalue(t, other, 2)
          corral.sleep(1)
        end)
      end)
    end)
    assert.is_false(inner_ok)
    assert.is_true(corral.is_error_group(inner_err))
    assert.same({ "boom" }, inner_err.errors)
  end)

  for _, v in ipairs({ "nil", "{}" }) do
    it("by " .. v .. ": the error is kept and defer_errors holds", function()
      local ok, err, body_ok = fail_in_group(function(t)
        debug.setuservalue(t, v == "nil" and nil or {}, 2)
      end, { defer_errors = true })
      assert.is_true(body_ok)                  -- not cancelled by the failure
      assert.is_false(ok)
      assert.same({ "boom" }, err.errors)
    end)
  end

  it("keeps t.group the task's own group", function()
    support.vrun(function()
      corral.group(function(other)
        corral.group(function(g)
          local t = g:spawn(corral.sleep, 1)
          debug.setuservalue(t, other, 2)
          assert.equal(g, t.group)
        end)
      end)
    end)
  end)
end)

describe("regression: a group's errors list answering through __index", function()
  it("is noticed and the failure reported", function()
    local calls = 0
    local fake = setmetatable({}, { __index = function()
      calls = calls + 1
      return calls <= 4 and {} or io.stdout
    end })
    local ok, err = pcall(support.vrun, function()
      corral.group(function(g)
        debug.setuservalue(g, fake, 3)
        g:spawn(function() error("boom", 0) end)
      end)
    end)
    assert.is_false(ok)
    assert.same({ "boom" }, err.errors)
    assert.equal(0, calls)
  end)
end)
