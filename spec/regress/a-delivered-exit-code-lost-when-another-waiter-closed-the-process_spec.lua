-- Two tasks wait on one process; the first woken closes it (optionally
-- after cancelling the group). The second, whose exit code had been
-- delivered too, got "process:wait: attempt to use a closed process"
-- instead of it: the code lived in the process object. A wait woken by the
-- exit now carries the code itself ("a wake-up that was delivered wins").
-- (The child ends only once both wait: one that ended before they asked
-- was rightly closed by the first before the second asked, on a loaded
-- machine.)
local corral = require "corral"
local testing = require "corral.testing"

-- `script` runs after a line on its stdin, which comes once both wait.
local function both_wait(script, first)
  local p = corral.exec("sh", { "-c", "read go; " .. script },
    { stdout = "inherit", stderr = "inherit" })
  local got
  corral.group(function(g)
    g:spawn(function() p:wait(); first(g, p) end)
    g:spawn(function() got = table.pack(pcall(p.wait, p)) end)
    testing.wait_all_tasks_blocked()
    p.stdin:write("go\n")
  end)
  p:close()
  return got
end

describe("regression: a delivered exit code and a process closed by another waiter", function()
  it("is still returned to every waiter", function()
    corral.run(function()
      for _, cancel in ipairs({ false, true }) do
        local got = both_wait("exit 7", function(g, p)
          if cancel then g:cancel("first") end
          p:close()
        end)
        assert.same({ n = 3, true, 7, nil }, got)
      end
      local got = both_wait("kill -TERM $$", function(_, p) p:close() end)
      assert.same({ n = 3, true, 143, "SIGTERM" }, got)
    end)
  end)
end)
