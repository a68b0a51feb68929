-- sup:stop() asked while the supervisor was winding a child down for a
-- one_for_all restart waited out that child's whole shutdown grace (stop(0)
-- did not cut it), then started a new instance of every child (its setup ran)
-- only to stop it again, with a second full grace when stop() had none.
local corral = require "corral"
local supervisor = require "corral.supervisor"
local support = require "support"

local function scenario(grace)
  local log, starts = {}, 0
  local function note(s) log[#log + 1] = ("%s@%g"):format(s, corral.now()) end
  local failures = {}
  support.vrun(function()
    supervisor.run({
      strategy = "one_for_all",
      on_failure = function(name, err) failures[#failures + 1] = name end,
      children = {
        { name = "a", fn = function()
            starts = starts + 1
            local _ <close> = setmetatable({}, { __close = function() note("a-end") end })
            corral.sleep(math.huge)
          end },
        { name = "b", fn = function() corral.sleep(1); error("b fails") end },
      },
    }, function(sup)
      corral.sleep(5)
      note("stop")
      sup:stop(grace)
      note("stopped")
    end)
  end)
  return table.concat(log, " "), starts, failures
end

describe("regression: sup:stop() during a restart", function()
  it("cuts the grace of the child being wound down and starts nothing new", function()
    local log, starts, failures = scenario(0)
    assert.equal("stop@5 a-end@5 stopped@5", log)
    assert.equal(1, starts)
    assert.same({ "b" }, failures)       -- not restarted: reported
  end)

  it("without a grace, lets that child's own grace run out and starts nothing new", function()
    local log, starts = scenario(nil)
    assert.equal("stop@5 a-end@6 stopped@6", log)
    assert.equal(1, starts)
  end)

  it("a second stop with a shorter grace brings the end closer", function()
    local ended, returned = {}, {}
    support.vrun(function()
      supervisor.run({
        children = {
          { name = "a", shutdown = 10, fn = function()
              local _ <close> = setmetatable({}, { __close = function() ended[1] = corral.now() end })
              corral.sleep(math.huge)
            end },
        },
      }, function(sup)
        corral.group(function(g)
          g:spawn(function() sup:stop(); returned[1] = corral.now() end)
          g:spawn(function() corral.sleep(2); sup:stop(1); returned[2] = corral.now() end)
        end)
      end)
    end)
    assert.same({ 3 }, ended)
    assert.same({ 3, 3 }, returned)
  end)
end)
