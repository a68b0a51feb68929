-- Regressions found by the libFuzzer harness of the engine (make fuzz-c).
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

describe("fuzz-c regressions", function()
  it("ready() under a cancelled scope wakes the tasks parked in groups the child opened", function()
    local log = support.log()
    vrun(function()
      corral.scope(function(s0)
        corral.group(function(g0)
          corral.scope(function()
            s0:cancel("outer")
            pcall(g0.start, g0, function(ready)
              corral.group(function(g1)
                g1:spawn(function()
                  local ok, e = pcall(g1.wait_stopping, g1)
                  log:stamp(ok and "woke: stopping" or "woke: " .. tostring(e.reason))
                  if not ok then error(e, 0) end
                end)
                corral.checkpoint()   -- still under the shielded caller
                ready()               -- now under g0, inside the cancelled s0
              end)
            end)
          end, { shield = true })
        end)
      end)
    end)
    assert.same({ "woke: outer@0" }, log.items)
  end)

  it("g:start from the task holding a full group's only slot can still be cancelled", function()
    local r
    vrun(function()
      r = table.pack(corral.move_on_after(1, function()
        corral.group(function(g)
          g:spawn(function()
            g:start(function(ready) corral.sleep(5) ready() end)
          end)
        end, { limit = 1 })
      end))
    end)
    assert.same({ n = 1, false }, r)
  end)
end)
