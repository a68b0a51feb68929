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

-- Schedule fuzzing of the whole suite (make test-seeds): with CORRAL_TEST_SEED
-- set, every corral.run that does not choose a seed of its own gets that one.
-- Specs that pin the unseeded FIFO order carry the tag #fifo and are left out
-- of those runs (busted --exclude-tags=fifo).
local SEED = math.tointeger(tonumber(os.getenv("CORRAL_TEST_SEED") or ""))
local function seeded(fn, opts, ...)
  if SEED and (opts == nil or type(opts) == "table" and opts.seed == nil) then
    local o = { seed = SEED }
    for k, v in pairs(opts or {}) do o[k] = v end
    return fn, o, ...
  end
  return fn, opts, ...
end

corral.run = function(...)
  depth = depth + 1
  local _ <close> = after_run
  if SEED then return run(seeded(...)) end
  return run(...)     -- called by name, so argument errors still say 'run'
end
