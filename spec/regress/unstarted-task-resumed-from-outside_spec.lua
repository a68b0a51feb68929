-- A copy of coroutine.resume (taken before require "corral") applied to the
-- coroutine of a task that had not started yet ran the task's body right
-- there, outside the scheduler, with the resumer's arguments (or called the
-- task's last argument as a function). The coroutine can be reached through
-- the debug library (the registry), or as a reused coroutine that an earlier
-- task handed out. Now the resume raises and the task fails saying so.
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

local raw_resume = support.raw_coroutine.resume

local coroutine_of = support.task_coroutine

describe("regression: resuming a task that has not started, from outside", function()
  for _, nargs in ipairs({ 0, 1, 3 }) do
    it(("runs nothing of it (%d arguments), and the task fails"):format(nargs), function()
      local ran, res
      local eg = support.error_group(vrun, function()
        corral.group(function(g)
          local t = g:spawn({ function() ran = true end, name = "victim" }, 42)
          local co = assert(coroutine_of(t))
          local args = {}
          for i = 1, nargs do args[i] = "junk" .. i end
          res = { raw_resume(co, table.unpack(args, 1, nargs)) }
        end)
      end)
      assert.is_nil(ran)
      assert.is_false(res[1])
      assert.matches("started from outside corral", res[2])
      assert.same({ "victim" }, eg.tasks)
      assert.matches("started from outside corral", eg.errors[1])
    end)
  end
end)
