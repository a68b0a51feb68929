-- A supervisor child that ran corral.tcp.serve, as the tutorial suggests,
-- never stopped gracefully: fn ran in the body of the child's group, so the
-- group of its task (which serve watches for a stop) was the supervisor's
-- own, which sup:stop() does not stop. Serve kept accepting until the
-- child's grace ran out and cancelled everything: the client got a bare end
-- instead of the handler's goodbye, and the code after serve never ran.
-- fn now runs in a task of the child's group.
local corral = require "corral"
local supervisor = require "corral.supervisor"

describe("regression: a supervised server", function()
  it("drains on sup:stop(), as a server in a stopped group does", function()
    local got, serve_returned, group_seen
    corral.run(function()
      local ready, port = corral.event(), nil
      supervisor.run({ children = {
        { name = "server", shutdown = 5, fn = function(child)
          group_seen = corral.current_task().group
          corral.tcp.serve("127.0.0.1", 0, function(conn)
            local hg = corral.current_task().group
            corral.group(function(x)
              x:spawn(function() hg:wait_stopping(); conn:write("bye\n"); x:cancel() end)
              x:spawn(function() for l in conn:lines() do conn:write(l .. "\n") end end)
            end)
          end, { ready = function(p) port = p; ready:set() end })
          serve_returned = true
        end },
      } }, function(sup)
        ready:wait()
        local c <close> = corral.tcp.connect("127.0.0.1", port)
        c:write("hi\n")
        assert.equal("hi", c:read_line())
        corral.group(function(g)
          g:spawn(function() got = select(2, pcall(c.read_line, c)) end)
          sup:stop()
        end)
      end)
    end)
    assert.equal("bye", got)
    assert.is_true(serve_returned)
    assert.equal("server", group_seen.name)
  end)
end)
