-- spec/helpers.lua: preloaded by busted (--helper). Keep it small: shared test
-- code lives in spec/support.lua, which specs load with `require "support"`.

-- Let `require "support"` work even when busted was not given --lpath=spec/?.lua.
local dir = debug.getinfo(1, "S").source:match("^@(.*)[/\\][^/\\]*$") or "spec"
package.path = dir .. "/?.lua;" .. package.path

-- Leak accounting: every corral.run in every spec must leave nothing alive
-- when it closes: no task, scope, timer or libuv handle of the engine, and
-- no Lua reference the binding kept for it (see corral.debug_stats()).
local corral = require "corral"
local run = corral.run
local function check_leaks(...)
  local st = corral.debug_stats()
  for _, k in ipairs({ "tasks", "scopes", "timers", "handles", "refs", "records" }) do
    if st[k] ~= 0 then
      error(string.format("corral.run leaked: %d %s left when the engine closed", st[k], k), 0)
    end
  end
  return ...
end
local depth = 0
local after_run = setmetatable({}, { __close = function()
  depth = depth - 1
  if depth == 0 then check_leaks() end
end })
corral.run = function(...)
  depth = depth + 1
  local _ <close> = after_run
  return run(...)     -- called by name, so argument errors still say 'run'
end
