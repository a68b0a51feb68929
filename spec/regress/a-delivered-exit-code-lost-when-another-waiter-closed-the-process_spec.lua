-- Two tasks wait on one process; the first woken closes it (optionally
-- after cancelling the group). The second, whose exit code had been
-- delivered too, got "process:wait: attempt to use a closed process"
-- instead of it: the code lived in the process object. A wait woken by the
-- exit now carries the code itself ("a wake-up that was delivered wins").
local corral = require "corral"

describe("regression: a delivered exit code and a process closed by another waiter", function()
  it("is still returned to every waiter", function()
    corral.run(function()
      for _, cancel in ipairs({ false, true }) do
        local p = corral.exec("sh", { "-c", "sleep 0.05; exit 7" },
          { stdin = "inherit", stdout = "inherit", stderr = "inherit" })
        local got
        corral.group(function(g)
          g:spawn(function()
            p:wait()
            if cancel then g:cancel("first") end
            p:close()
          end)
          g:spawn(function() got = table.pack(pcall(p.wait, p)) end)
        end)
        assert.same({ n = 3, true, 7, nil }, got)
      end
      local p = corral.exec("sh", { "-c", "kill -TERM $$" },
        { stdin = "inherit", stdout = "inherit", stderr = "inherit" })
      local got
      corral.group(function(g)
        g:spawn(function() p:wait(); p:close() end)
        g:spawn(function() got = table.pack(p:wait()) end)
      end)
      assert.same({ n = 2, 143, "SIGTERM" }, got)
    end)
  end)
end)
