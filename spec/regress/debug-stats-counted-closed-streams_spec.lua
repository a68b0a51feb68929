-- corral.debug_stats() counted a stream, listener or process as long as its
-- libuv handle was being closed: right after closing everything (even after a
-- checkpoint) a leak check read 20 streams where none was open. The three
-- counts are of open objects now, and `closing` counts those on their way out.
local corral = require "corral"

describe("regression: debug_stats after closing streams", function()
  it("counts only open ones in streams, listeners and processes", function()
    corral.run(function()
      local l = corral.tcp.listen("127.0.0.1", 0)
      local conns, accepted = {}, {}
      corral.group(function(g)
        g:spawn(function() for i = 1, 3 do accepted[i] = l:accept() end end)
        for i = 1, 3 do conns[i] = corral.tcp.connect("127.0.0.1", l.port) end
      end)
      for i = 1, 3 do conns[3 + i] = accepted[i] end
      local before = corral.debug_stats()
      assert.equal(6, before.streams)
      assert.equal(1, before.listeners)
      local p = corral.exec("true", {})        -- (its pipes are streams too)
      assert.equal(1, corral.debug_stats().processes)
      for _, s in ipairs(conns) do s:close() end
      l:close()
      p:close()
      local after = corral.debug_stats()
      assert.same({ 0, 0, 0 }, { after.streams, after.listeners, after.processes })
      assert.is_true(after.closing >= 1)            -- on their way out
      corral.sleep(0.05)
      assert.equal(0, corral.debug_stats().closing)
    end)
  end)
end)
