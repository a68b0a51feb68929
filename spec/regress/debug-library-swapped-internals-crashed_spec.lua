-- The debug library reached corral's internals and crashed the process:
-- a task's or group's user values replaced (debug.setuservalue) were read as
-- the C structures they no longer were, a userdata given another corral
-- type's metatable (debug.setmetatable) passed that type's check, and a
-- module function whose state upvalue was replaced (debug.setupvalue) read
-- through it, and the task and message handler in the outermost frame of a
-- task's coroutine (debug.setlocal on that C frame) were read as they were
-- left. Each is now checked where it is used: a clear error, or the
-- failure reported as if nothing had happened.
local corral = require "corral"
local support = require "support"

local function failing_group(tamper)
  local ok, err = support.vrun(function()
    return pcall(corral.group, function(g)
      local t = g:spawn(function() corral.sleep(1); error("boom", 0) end)
      tamper(g, t)
    end)
  end)
  assert.is_false(ok)
  return err
end

describe("regression: corral internals swapped with the debug library", function()
  it("a task's group slot replaced: its failure is still its group's", function()
    for _, v in ipairs{ corral.channel(), io.stdout, { group = corral.channel() }, 5, false } do
      local err = failing_group(function(_, t)
        assert.equal(t, debug.setuservalue(t, v, 2))   -- the group's slot
      end)
      assert.is_true(corral.is_error_group(err))
      assert.equal("boom", err.errors[1])
    end
  end)

  it("a group's errors list replaced: the failure is still raised", function()
    for _, v in ipairs{ corral.channel(), "x", {}, 7, { errors = {}, tasks = 5 } } do
      local err = failing_group(function(g) debug.setuservalue(g, v, 3) end)
      assert.is_true(corral.is_error_group(err))
      assert.equal("boom", err.errors[1])
    end
  end)

  it("a channel's buffer replaced: send raises, naming the channel", function()
    local ok, err = pcall(support.vrun, function()
      local ch = corral.channel(1)
      debug.setuservalue(ch, 7, 1)
      ch:send(1)
    end)
    assert.is_false(ok)
    assert.matches("channel:send: the channel's buffer was replaced", err)
  end)

  it("a corral object given another corral type's metatable is refused", function()
    -- A task handle given another metatable is no longer closable, so its
    -- own start fails (a clean error, collected by the group).
    local ok, err = support.vrun(function()
      return pcall(corral.group, function(g)
        local make = {
          channel = corral.channel, event = corral.event, lock = corral.lock,
          semaphore = function() return corral.semaphore(1) end,
          task = function() return g:spawn(corral.sleep, 1) end,
          file = function() return io.tmpfile() end,
        }
        for va, mk in pairs(make) do
          for vb, mk2 in pairs(make) do
            if va ~= vb and vb ~= "file" then
              local victim, model = mk(), mk2()
              debug.setmetatable(victim, getmetatable(model))
              for _, m in ipairs{ "wait", "send", "recv", "acquire", "release", "cancel" } do
                local okf, f = pcall(function() return victim[m] end)
                if okf and type(f) == "function" then pcall(f, victim) end
              end
              pcall(tostring, victim)
            end
          end
        end
        g:cancel()
      end)
    end)
    if not ok then
      assert.is_true(corral.is_error_group(err), tostring(err))
      for _, e in ipairs(err.errors) do assert.is_string(e) end
    end
  end)

  it("a module function whose state upvalue was replaced raises", function()
    local _, state = debug.getupvalue(corral.now, 1)
    for _, v in ipairs{ false, 1, "s", corral.channel() } do
      debug.setupvalue(corral.now, 1, v)
      local ok, err = pcall(corral.now)
      debug.setupvalue(corral.now, 1, state)
      assert.is_false(ok)
      assert.matches("lost its state", err)
    end
    assert.is_number(support.vrun(function() return corral.now() end))
  end)

  -- The outermost frame of a task's coroutine, written with debug.setlocal
  -- while the task waits: slot 1 (the task) and slot 2 (its message handler).
  local function clobbered(slot, value, body)
    return support.vrun(function()
      return pcall(corral.group, function(g)
        local co
        local t = g:spawn(function()
          co = coroutine.running()
          corral.sleep(1)
          return body()
        end)
        while not co do corral.checkpoint() end
        local level = 0
        while debug.getinfo(co, level + 1, "l") do level = level + 1 end
        assert.equal("(C temporary)", debug.setlocal(co, level, slot, value))
        collectgarbage()
        return t
      end)
    end)
  end

  it("a task whose outermost frame was written to ends as it would have", function()
    for _, v in ipairs{ false, 7, corral.channel(), {} } do
      local ok, t = clobbered(1, v, function() return "fine" end)
      assert.is_true(ok)
      assert.same({ true, "fine" }, { support.vrun(function() return t:wait() end) })
      local ok2, err = clobbered(1, v, function() error("boom", 0) end)
      assert.is_false(ok2)
      assert.is_true(corral.is_error_group(err))
      assert.equal("boom", err.errors[1])
      -- Without its message handler Lua itself says "error in error
      -- handling"; the task still fails, and its group says so.
      local ok3, err3 = clobbered(2, v, function() error("bang", 0) end)
      assert.is_false(ok3)
      assert.is_true(corral.is_error_group(err3))
      assert.is_string(err3.errors[1])
    end
  end)
end)
