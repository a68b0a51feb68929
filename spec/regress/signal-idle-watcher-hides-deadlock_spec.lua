-- spec/regress/signal-idle-watcher-hides-deadlock_spec.lua
--
-- Broke: once a task had waited in corral.signal, the signal's libuv watcher
-- stayed referenced after nobody waited on it any more, so it kept the loop
-- alive and a run whose tasks were all blocked hung instead of raising the
-- deadlock error, on both clocks. A watcher now keeps the loop alive only while
-- a task waits on it.

local corral = require "corral"
local support = require "support"

local function send_self(name)
  -- io.popen, not os.execute: system() blocks signals while it waits.
  io.popen("kill -" .. name .. " " .. support.pid()):close()
end

local function deadlock_message(err)
  return tostring(err):find("deadlock", 1, true) ~= nil
end

for _, clock in ipairs({ "real", "virtual" }) do
  describe(("an idle signal watcher (%s clock)"):format(clock), function()
    it("after a delivered signal, does not hide a deadlock", function()
      local got
      local ok, err = pcall(corral.run, function()
        corral.group(function(g)
          g:spawn(function() send_self("USR1") end)
          got = corral.signal("SIGUSR1")
          corral.event():wait()          -- nothing can ever set it
        end)
      end, { clock = clock })
      assert.equal("SIGUSR1", got)
      assert.is_false(ok)
      assert.is_true(deadlock_message(err), tostring(err))
    end)

    it("after a wait cancelled by a deadline, does not hide a deadlock", function()
      local ok, err = pcall(corral.run, function()
        assert.is_false(corral.move_on_after(0.01, corral.signal, "SIGUSR2"))
        corral.event():wait()
      end, { clock = clock })
      assert.is_false(ok)
      assert.is_true(deadlock_message(err), tostring(err))
    end)

    it("while a task waits on it, keeps the run alive until the signal comes", function()
      local got = corral.run(function()
        return corral.group(function(g)
          local t = g:spawn(corral.signal, "SIGUSR1")
          g:spawn(function()
            corral.sleep(0.01)
            send_self("USR1")
          end)
          return select(2, t:wait())
        end)
      end, { clock = clock })
      assert.equal("SIGUSR1", got)
    end)
  end)
end
