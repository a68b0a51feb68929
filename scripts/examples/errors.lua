-- errors.lua: defer_errors lets every job finish, then raises an ErrorGroup.
local corral = require "corral"

local ok, eg = pcall(corral.group, function(g)
  for i, name in ipairs({"a", "b", "c", "d"}) do
    g:spawn({function()
      corral.sleep(0.1 * i)
      if name == "b" then error("b: database timed out", 0) end
      if name == "d" then error("d: disk full", 0) end
      print(name .. " finished")
    end, name = "job-" .. name})
  end
end, {defer_errors = true})

print(ok, corral.is_error_group(eg), #eg, eg.dropped)
print(eg)                               -- the tree, without tracebacks
local disk, rest = eg:split(function(e) return e:find("disk", 1, true) end)
print(disk.tasks[1], rest.tasks[1], #eg:flatten())
