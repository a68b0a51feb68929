-- tools/fuzz.lua: model-based random testing of corral at scale.
--
--   lua5.4 tools/fuzz.lua SEEDS [START]     (from the source tree, after `make`)
--
-- Runs seeds START .. START+SEEDS-1 (START defaults to 1): each seed is a random
-- program (spec/model/gen.lua) run on the engine (build/corral.so, virtual clock)
-- and on the reference model (spec/model/model.lua); the event logs must be
-- identical. On the first mismatch it prints the seed, the minimised program and
-- both logs, and exits 1. `lua5.4 tools/fuzz.lua 1 SEED` replays one seed.
-- Environment:
--   CORRAL_BUILD=dir    load corral.so from dir instead of build/ (for an ASan
--                       build, also LD_PRELOAD the ASan and UBSan runtimes)
--   FUZZ_LARGE=1        bigger programs (deeper, more tasks and statements)
--   FUZZ_KEEP_GOING=1   report every failing seed instead of stopping at the
--                       first (the exit status is still 1 if any failed)
--   FUZZ_COVERAGE=1     at the end, count how many seeds reached each of the
--                       model's interesting cases (exit-time absorption,
--                       g:start outcomes, stray and dead Cancelled values)
local here = (arg and arg[0] or ""):match("^(.*)[/\\][^/\\]*$") or "."
local root = here .. "/.."
package.path = root .. "/spec/?.lua;" .. package.path
package.cpath = (os.getenv("CORRAL_BUILD") or (root .. "/build")) .. "/?.so;" .. package.cpath

local seeds = math.tointeger(tonumber(arg[1] or ""))
local start = math.tointeger(tonumber(arg[2] or "1"))
if not seeds or seeds < 1 or not start then
  io.stderr:write("usage: lua5.4 tools/fuzz.lua SEEDS [START]\n")
  os.exit(2)
end

local corral = require "corral"
local model = require "model.model"
local gen = require "model.gen"

local keep_going = os.getenv("FUZZ_KEEP_GOING") == "1"
if os.getenv("FUZZ_LARGE") == "1" then
  gen.limits.depth, gen.limits.tasks, gen.limits.stmts = 6, 24, 120
end
local coverage = os.getenv("FUZZ_COVERAGE") == "1" and {} or nil
local failed = 0
local t0 = os.clock()
local last = start + seeds - 1
for seed = start, last do
  local ok, prog = pcall(gen.program, seed)
  if not ok then
    io.stderr:write(("seed %d: the generator failed: %s\n"):format(seed, tostring(prog)))
    os.exit(2)
  end
  if coverage then model.coverage = {} end
  local same = gen.check(prog, corral, model)
  if coverage then
    for k in pairs(model.coverage) do coverage[k] = (coverage[k] or 0) + 1 end
    model.coverage = nil
  end
  if not same then
    failed = failed + 1
    print((gen.report(seed, corral, model)))
    print(("replay: lua5.4 tools/fuzz.lua 1 %d"):format(seed))
    if not keep_going then os.exit(1) end
    print()
  end
  if (seed - start + 1) % 10000 == 0 then
    io.stderr:write(("%d seeds (%d..%d), %d failed, %.1fs\n"):format(seed - start + 1, start, seed, failed, os.clock() - t0))
  end
end
if coverage then
  local keys = {}
  for k in pairs(coverage) do keys[#keys + 1] = k end
  table.sort(keys)
  print("seeds reaching each case (model):")
  for _, k in ipairs(keys) do print(("  %7d  %s"):format(coverage[k], k)) end
end
print(("%d seeds (%d..%d): %d failed, %.1fs"):format(seeds, start, last, failed, os.clock() - t0))
os.exit(failed == 0 and 0 or 1)
