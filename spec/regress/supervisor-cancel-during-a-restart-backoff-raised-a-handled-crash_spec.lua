-- A supervisor cancelled from outside (Ctrl-C, g:cancel()) while a child
-- waited out its restart backoff, or while on_restart ran, or while
-- one_for_all stopped the other children for a restart, raised the crash
-- that restart was for: an ErrorGroup instead of a peaceful exit, and the
-- corral command exited 1 with an old traceback instead of 130. The decision
-- to restart dealt with that crash; the cancel cuts the restart short in
-- peace. A failure nothing dealt with (a hook that raised) is still raised.
local corral = require "corral"
local supervisor = require "corral.supervisor"
local support = require "support"

local function crashing(extra)
  local spec = { children = {
    { name = "c", fn = function() corral.sleep(1); error("child crashed", 0) end },
    { name = "d", fn = function(child) child:wait_stopping() end } } }
  for k, v in pairs(extra) do spec[k] = v end
  return spec
end

-- supervisor.run(spec) in a group cancelled at 1.5: what the group returns.
local function cancelled_at(spec)
  local r
  support.vrun(function()
    r = table.pack(pcall(corral.group, function(g)
      g:spawn(supervisor.run, spec)
      corral.sleep(1.5)
      g:cancel("shutting down")
    end))
  end)
  return r
end

describe("regression: a supervisor cancelled while a restart is under way", function()
  for _, strategy in ipairs({ "one_for_one", "one_for_all", "rest_for_one" }) do
    it("leaves in peace during the backoff (" .. strategy .. ")", function()
      local r = cancelled_at(crashing({ strategy = strategy, backoff = { delay = 10 } }))
      assert.is_true(r[1], tostring(r[2]))
    end)
  end

  it("leaves in peace while on_restart runs", function()
    local heard
    local r = cancelled_at(crashing({ on_restart = function(name, err)
      heard = name .. ": " .. tostring(err)
      corral.sleep(10)
    end }))
    assert.is_true(r[1], tostring(r[2]))
    assert.equal("c: child crashed", heard)
  end)

  it("leaves in peace while one_for_all stops the others", function()
    local spec = crashing({ strategy = "one_for_all" })
    spec.children[2].fn = function(child)
      local _ <close> = setmetatable({}, { __close = function()
        corral.scope(function() corral.sleep(10) end, { shield = true })
      end })
      child:wait_stopping()
    end
    spec.children[2].shutdown = 100
    local r = cancelled_at(spec)
    assert.is_true(r[1], tostring(r[2]))
  end)

  it("does not raise a handled crash again when a hook raises for another child", function()
    local eg
    support.vrun(function()
      local ok, e = pcall(supervisor.run, { backoff = { delay = 10 },
        on_restart = function(name) if name == "c2" then error("hook broke on c2", 0) end end,
        children = {
          { name = "c1", fn = function() corral.sleep(0.3); error("c1 crashed", 0) end },
          { name = "c2", fn = function() corral.sleep(0.6); error("c2 crashed", 0) end } } })
      eg = not ok and e
    end)
    assert.is_true(corral.is_error_group(eg), tostring(eg))
    assert.same({ "hook broke on c2", "c2 crashed" }, eg.errors)
  end)

  it("still raises a failure whose hook raised", function()
    local r = cancelled_at(crashing({ on_restart = function() error("hook broke", 0) end }))
    assert.is_false(r[1])
    assert.is_true(corral.is_error_group(r[2]), tostring(r[2]))
    assert.matches("hook broke", tostring(r[2]), 1, true)
  end)
end)
