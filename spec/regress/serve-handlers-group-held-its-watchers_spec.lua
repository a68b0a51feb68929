-- api.md: each connection of corral.tcp.serve runs its handler in a task of
-- the server's own group. That group also held the server's two watcher
-- tasks, so a handler counting its siblings (Trio's handler nursery holds
-- nothing else) saw two more than there were connections.
local corral = require "corral"
local testing = require "corral.testing"

describe("corral.tcp.serve's group of handlers", function()
  it("holds the handlers and nothing else", testing.async(function()
    local seen = {}
    local clients = {}
    corral.group(function(g)
      local port = g:start(function(ready)
        corral.tcp.serve("127.0.0.1", 0, function(s)
          local names = {}
          for _, t in ipairs(corral.current_task().group:tasks()) do
            names[#names + 1] = t.name
          end
          seen[#seen + 1] = names
          s:read()
        end, { ready = ready })
      end)
      for i = 1, 3 do
        clients[i] = corral.tcp.connect("127.0.0.1", port)
        testing.wait_all_tasks_blocked()
      end
      assert.equal(3, #seen)
      for i = 1, 3 do
        assert.equal(i, #seen[i])
        for _, name in ipairs(seen[i]) do assert.matches("^serve 127%.0%.0%.1:%d+$", name) end
      end
      for _, c in ipairs(clients) do c:close() end
      g:cancel()
    end)
  end, { autojump_threshold = 0.05 }))

  -- (the watchers' group made an error of opts.ready one group deeper;
  -- then it came out as the handlers' group's ErrorGroup, where a listen
  -- error comes out bare: now both do)
  it("raises an error of opts.ready as it was", function()
    local ok, e = pcall(testing.run, function()
      corral.tcp.serve("127.0.0.1", 0, function() end,
                       { ready = function() error("ready failed", 0) end })
    end)
    assert.is_false(ok)
    assert.equal("ready failed", e)
  end)

  -- (a Cancelled whose scope had exited, raised by ready, still came in the
  -- handlers' group's ErrorGroup: it is an ordinary error, raised as one)
  it("raises a stale Cancelled of opts.ready as the ordinary error it is", function()
    local ok, e = pcall(testing.run, function()
      local stale
      corral.group(function(g)
        local t = g:spawn(function() corral.sleep(10) end)
        corral.checkpoint()
        t:cancel("gone")
        stale = select(2, t:wait())
      end)
      corral.tcp.serve("127.0.0.1", 0, function() end,
                       { ready = function() error(stale, 0) end })
    end)
    assert.is_false(ok)
    assert.equal("string", type(e))
    assert.matches("a Cancelled was raised outside the scope it cancelled", e, 1, true)
  end)
end)
