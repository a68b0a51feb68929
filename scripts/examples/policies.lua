-- policies.lua: race, gather, map and retry.
local corral = require "corral"
local race = require "corral.race"
local gather = require "corral.gather"
local map = require "corral.map"
local retry = require "corral.retry"

local function fetch(name, delay, fails)
  return function()
    corral.sleep(delay)
    if fails then error(name .. ": unreachable", 0) end
    return name .. " page"
  end
end

-- race: the first to *return* wins; a failure does not, and losers are cancelled.
print(race({ fetch("mirror-a", 0.3), fetch("mirror-b", 0.1, true), fetch("mirror-c", 0.2) }))

-- gather: every result, in input order; settle turns failures into entries.
local r = gather({ fetch("a", 0.2), fetch("b", 0.1, true) }, { settle = true })
print(r[1].ok, r[1][1], r[2].ok, r[2].err)

-- map with a limit: at most two at once.
print(table.concat(map(function(n) corral.sleep(0.05); return n * n end, { 1, 2, 3, 4 }, { limit = 2 }), " "))

-- retry: exponential backoff, with a log line before each wait.
local calls = 0
print(retry(function()
  calls = calls + 1
  if calls < 3 then error("flaky #" .. calls, 0) end
  return "succeeded on attempt " .. calls
end, { delay = 0.1, on_retry = function(err, attempt, wait)
  print(("  attempt %d failed (%s); waiting %.1fs"):format(attempt, err, wait))
end }))
