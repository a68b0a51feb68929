-- An open listener nobody accepted on, an unread connection or a running
-- process nobody waited for kept libuv's loop alive, so a run whose tasks
-- all waited on something else hung for ever instead of reporting the
-- deadlock (signal watchers already did not). corral's I/O handles now keep
-- the loop alive only while a task waits on them.
local corral = require "corral"

local function deadlocks(clock, open)
  local ok, err = pcall(corral.run, function()
    local keep = open()
    corral.event():wait()
    return keep
  end, { clock = clock })
  assert.is_false(ok)
  assert.matches("deadlock", err)
end

describe("regression: an idle I/O handle and a deadlock", function()
  for _, clock in ipairs{ "virtual", "real" } do
    it("a listener nobody accepts on does not hide it (" .. clock .. " clock)", function()
      deadlocks(clock, function() return corral.tcp.listen("127.0.0.1", 0) end)
    end)
  end

  it("an unread connection does not hide it", function()
    deadlocks("real", function()
      local l = corral.tcp.listen("127.0.0.1", 0)
      local c = corral.tcp.connect("127.0.0.1", l.port)
      local s = l:accept()
      c:write("unread")
      return { l, c, s }
    end)
  end)

  it("a running process nobody waits for does not hide it", function()
    deadlocks("real", function() return corral.exec("/bin/cat", {}) end)
  end)

  it("a task waiting on I/O still keeps the run alive", function()
    local got
    corral.run(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      corral.group(function(g)
        g:spawn(function()
          local s <close> = l:accept()
          got = s:read_line()
        end)
        corral.sleep(0.05)
        local c <close> = corral.tcp.connect("127.0.0.1", l.port)
        c:write("late\n")
      end)
    end)
    assert.equal("late", got)
  end)
end)
