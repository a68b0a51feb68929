-- disconnect.lua: cancel a connection's job when its client goes away.
local corral = require "corral"

local function handle(s)
  local request = s:read_line()
  corral.group(function(g)
    local job = g:spawn(function()
      corral.sleep(10)                       -- the long job for `request`
      s:write("done\n")
    end)
    g:spawn({ function()                     -- the client sends nothing more:
      local ok, data = pcall(s.read, s)      -- a read ends when it goes away
      if not ok and corral.is_cancelled(data) then error(data, 0) end
      if data == nil or not ok then job:cancel("client went away") end
    end, name = "watcher" })
    local ok, err = job:wait()
    print("job for " .. request .. ": " .. (ok and "done" or tostring(err)))
    g:cancel()                               -- the job has ended: stop watching
  end)
end

corral.group(function(g)
  local l = corral.tcp.listen("127.0.0.1", 0)
  g:spawn(function()
    local s <close> = l:accept()
    handle(s)
    l:close()
  end)
  local c = corral.tcp.connect("127.0.0.1", l.port)
  c:write("report 7\n")
  corral.sleep(0.1)
  c:close()                                  -- the client gives up
end)
