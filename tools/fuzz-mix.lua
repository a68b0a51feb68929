-- tools/fuzz-mix.lua: random programs that mix corral's features, at scale.
--
--   lua5.4 tools/fuzz-mix.lua SEEDS [START [v|vv]]   (from the source tree)
--   ./build/corral tools/fuzz-mix.lua SEEDS [START]  (the command: real clock)
--
-- Runs seeds START .. START+SEEDS-1 of spec/mix/fuzz.lua (what each program
-- does and the invariants checked are described there), prints every seed
-- with a problem (its program and what went wrong) and a summary, and exits
-- 1 if any seed had one. `v` prints every seed's outcome, `vv` its program too.
-- Environment: CORRAL_BUILD=dir loads corral.so from dir instead of build/;
-- FUZZ_ONLY=group,scope,... limits the kinds of compound statements;
-- FUZZ_SHOW=1 prints each program before it runs; FUZZ_W_IO=2 FUZZ_W_SIG=1
-- add real TCP, child processes and signals (see spec/mix/fuzz.lua).
local here = (arg and arg[0] or ""):match("^(.*)[/\\][^/\\]*$") or "."
local root = here .. "/.."
package.path = root .. "/spec/?.lua;" .. root .. "/scripts/?.lua;" .. package.path
package.cpath = (os.getenv("CORRAL_BUILD") or (root .. "/build")) .. "/?.so;" .. package.cpath

local seeds = math.tointeger(tonumber(arg[1] or ""))
local start = math.tointeger(tonumber(arg[2] or "1"))
if not seeds or seeds < 1 or not start then
  io.stderr:write("usage: lua5.4 tools/fuzz-mix.lua SEEDS [START [v|vv]]\n")
  os.exit(2)
end

local bad, _, lines = require("mix.fuzz").run(start, start + seeds - 1, arg[3])
print(table.concat(lines, "\n"))
os.exit(bad == 0 and 0 or 1)
