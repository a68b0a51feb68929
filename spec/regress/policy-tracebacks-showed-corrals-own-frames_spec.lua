-- Regression: a failure in a policy's branch (race, gather, map, a
-- supervisor's child, retry) carried a traceback ending in the policy's own
-- frames (corral/gather.lua, corral/_util.lua's child function, xpcall, the
-- supervisor's run_fn): half of each entry of a supervisor's give-up was
-- corral. They end at the program's function now, as a task's traceback does.
local corral = require "corral"
local race, gather, map = require "corral.race", require "corral.gather", require "corral.map"
local supervisor = require "corral.supervisor"

local function work() error("crash") end

local function check(tb)
  assert.matches("in upvalue 'work'", tb)
  assert.not_matches("corral[/\\][%w_]+%.lua:%d+:", tb)
  assert.not_matches("xpcall", tb)
  assert.matches("\n\t%[C%]: in %?$", tb)
end

describe("regression: a policy's branch traceback", function()
  it("ends at the program's function, in every policy", function()
    local tbs = {}
    corral.run(function()
      for _, f in ipairs({
        function() race({ function() work() end }) end,
        function() gather({ function() work() end }) end,
        function() gather({ function() work() end }, { settle = false }) end,
        function() map(function() work() end, { 1 }) end,
        function()
          supervisor.run({ intensity = 0, children = { { name = "w", fn = function() work() end } } })
        end,
      }) do
        local ok, e = pcall(f)
        assert(not ok and corral.is_error_group(e), tostring(e))
        tbs[#tbs + 1] = e.tracebacks[1]
      end
    end, { clock = "virtual" })
    assert.equal(5, #tbs)
    for _, tb in ipairs(tbs) do check(tb) end
  end)

  -- (the first fix cut a program's frame in a directory of its own named
  -- corral/, and all but error() of a failure raised by a policy that the
  -- branch tail-called)
  it("keeps a frame of the program's own corral/ directory, and a tail-called policy's", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir .. "/corral"))
    local f = assert(io.open(dir .. "/corral/map.lua", "w"))
    f:write("return function() error('job failed', 0) end\n")
    f:close()
    local job = assert(loadfile(dir .. "/corral/map.lua"))()
    local tb1, tb2
    corral.run(function()
      local _, e = pcall(gather, { function() job() end })
      tb1 = e.tracebacks[1]
      _, e = pcall(gather, { function() return race({ function() work() end }) end })
      tb2 = e.tracebacks[1]
    end, { clock = "virtual" })
    os.execute("rm -rf " .. dir)
    assert.matches("corral/map%.lua:1: in ", tb1)
    assert.matches("corral/race%.lua:%d+: in ", tb2)
  end)

  it("keeps the frames of a policy the program called from its own branch", function()
    local tb
    corral.run(function()
      local _, e = pcall(gather, { function() race({ function() work() end }) end })
      tb = e.tracebacks[1]
    end, { clock = "virtual" })
    -- the inner race's ErrorGroup fails the outer branch: raised from race
    -- in the program's function, which the traceback shows
    assert.matches("corral/race%.lua:%d+: in", tb)
    assert.matches("\n\t%[C%]: in %?$", tb)
  end)
end)
