-- Found by the hostile pass after the cancellation redesign.
--
-- docs/api.md: "an unknown key in any options table ({timout = 1})
-- raises `unknown option 'timout'`, so a typo never silently drops a
-- timeout." corral.exec and corral.tcp.listen do; corral.run, corral.scope
-- and corral.group accept any key silently, so {timout = 1} runs without a
-- timeout and {defer_error = true} without deferring.
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

local function refuses(key, f)
  local ok, err = pcall(f)
  assert.is_false(ok, "an unknown option '" .. key .. "' was accepted")
  assert.matches("unknown option '" .. key .. "'", tostring(err), 1, true)
end

describe("regression: unknown keys in options tables", function()
  it("corral.run refuses an unknown option", function()
    refuses("clck", function() corral.run(function() end, { clck = "virtual" }) end)
  end)

  it("corral.scope refuses an unknown option", function()
    vrun(function()
      refuses("timout", function() corral.scope(function() end, { timout = 1 }) end)
    end)
  end)

  it("corral.group refuses an unknown option", function()
    vrun(function()
      refuses("timout", function() corral.group(function() end, { timout = 1 }) end)
      refuses("defer_error", function() corral.group(function() end, { defer_error = true }) end)
      refuses("max_error", function() corral.group(function() end, { max_error = 3 }) end)
    end)
  end)

  it("the spawn table refuses an unknown key", function()
    vrun(function()
      corral.group(function(g)
        refuses("nmae", function() g:spawn({ function() end, nmae = "worker" }) end)
      end)
    end)
  end)
end)
