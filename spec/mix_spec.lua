-- spec/mix_spec.lua: random programs that mix corral's features (groups,
-- scopes, stop, start, channels, sync, in-memory streams, the policies,
-- errors of every kind, deadlocks), each under its own seeded schedule, checked for
-- lost errors, leaks, stuck tasks, unbalanced locks and lost channel values
-- (spec/mix/fuzz.lua). MIX_SEEDS=n and MIX_SEED_START=s (environment) change
-- the range; tools/fuzz-mix.lua runs many more seeds outside busted.
local corral = require "corral"
local mix = require "mix.fuzz"
local support = require "support"

local SEEDS = tonumber(os.getenv("MIX_SEEDS") or "") or 5000
local START = tonumber(os.getenv("MIX_SEED_START") or "") or 1

describe("mixed random programs", function()
  it(("keep every invariant for seeds %d..%d"):format(START, START + SEEDS - 1), function()
    -- spec/helpers.lua's leak check raises after a deadlock whose tasks stay
    -- blocked even when cancelled, which the engine abandons by design; the
    -- fuzzer checks the counters itself, except then
    local wrapped = corral.run
    corral.run = support.unwrapped_run()
    local ok, bad, stats, lines = pcall(mix.run, START, START + SEEDS - 1)
    corral.run = wrapped
    assert(ok, bad)
    assert(bad == 0, table.concat(lines, "\n") ..
      "\nreplay: lua5.4 tools/fuzz-mix.lua 1 <seed> vv")
    -- the programs did end both ways, or the generator lost its variety
    assert.is_true(stats.ok > SEEDS / 10 and stats.err > SEEDS / 10)
  end)
end)
