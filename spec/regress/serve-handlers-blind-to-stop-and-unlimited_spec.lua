-- tcp.serve ran its handlers in a group of its own that a stop of the
-- caller's group never marked: a handler could not see the drain (its
-- group's `stopping` stayed false, wait_stopping never returned), so an idle
-- keep-alive connection held the whole grace. And there was no way to bound
-- the connections: the docs said "a limit on their group", a group serve
-- keeps to itself. The handlers' group is now stopped with the caller's, and
-- serve takes `limit`: it accepts only while fewer are being handled. Then
-- (hostile round): a handler stopping that group made the next accept fail
-- inside serve; a handler re-raising a Cancelled whose scope had exited
-- stopped the whole server.
local corral = require "corral"
local support = require "support"

describe("regression: tcp.serve's handlers", function()
  it("see the drain: their group is stopping, wait_stopping returns", function()
    local seen, drained_at
    corral.run(function()
      local port
      corral.group(function(g)
        port = g:start(function(ready)
          corral.tcp.serve("127.0.0.1", 0, function(conn)
            local own = corral.current_task().group
            own:wait_stopping()               -- an idle connection, told to go
            seen = own.stopping
            conn:write("bye\n")
          end, { ready = ready })
        end)
        local c <close> = corral.tcp.connect("127.0.0.1", port)
        corral.sleep(0.01)                    -- the handler waits
        g:stop(30)
        assert.equal("bye", c:read_line())
        drained_at = corral.now()
      end)
    end)
    assert.is_true(seen)
    assert.is_true(drained_at < 5, drained_at)  -- not the 30 s grace
  end)

  it("are bounded by limit: a full server does not accept", function()
    local active, most, served = 0, 0, 0
    corral.run(function()
      corral.group(function(g)
        local port = g:start(function(ready)
          corral.tcp.serve("127.0.0.1", 0, function(conn)
            active = active + 1
            most = math.max(most, active)
            corral.sleep(0.02)
            conn:write("ok\n")
            active = active - 1
            served = served + 1
          end, { ready = ready, limit = 2 })
        end)
        corral.group(function(clients)
          for _ = 1, 6 do
            clients:spawn(function()
              local c <close> = corral.tcp.connect("127.0.0.1", port)
              assert.equal("ok", c:read_line())
            end)
          end
        end)
        g:stop()
      end)
    end)
    assert.equal(6, served)
    assert.equal(2, most)
  end)

  it("refuses a bad limit", function()
    support.vrun(function()
      local ok, err = pcall(corral.tcp.serve, "127.0.0.1", 0, print, { limit = 0 })
      assert.is_false(ok)
      assert.matches("limit must be an integer >= 1", err)
    end)
  end)

  it("stopping their own group stops the server gracefully", function()
    local returned, refused
    corral.run(function()
      corral.group(function(g)
        local port = g:start(function(ready)
          corral.tcp.serve("127.0.0.1", 0, function()
            corral.current_task().group:stop()     -- a "shutdown" command
          end, { ready = ready })
          returned = true
        end)
        corral.tcp.connect("127.0.0.1", port):close()
        corral.sleep(0.05)
        local ok, e = pcall(corral.tcp.connect, "127.0.0.1", port)
        refused = not ok and e.code
      end)
    end)
    assert.is_true(returned)
    assert.equal("ECONNREFUSED", refused)
  end)

  it("a handler re-raising a dead Cancelled is one failure, not the server's end", function()
    local reported, served = {}, 0
    corral.run(function()
      corral.group(function(g)
        local port = g:start(function(ready)
          corral.tcp.serve("127.0.0.1", 0, function(s)
            served = served + 1
            if served == 1 then
              local t
              corral.group(function(h)
                t = h:spawn(corral.sleep, 10)
                corral.checkpoint()
                t:cancel("inner")
              end)
              local _, e = t:wait()
              error(e, 0)                        -- its scope has exited
            end
            s:write("ok\n")
          end, { ready = ready, on_error = function(e) reported[#reported + 1] = e end })
        end)
        for _ = 1, 2 do
          local c <close> = corral.tcp.connect("127.0.0.1", port)
          c:read_line()
        end
        g:stop()
      end)
    end)
    assert.equal(2, served)
    assert.equal(1, #reported)
    assert.is_true(corral.is_cancelled(reported[1]))
  end)
end)
