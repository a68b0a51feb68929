-- An outer cancellation that came while a restart's new instance waited out
-- its backoff dropped the failure that restart was for: no ErrorGroup, no
-- on_failure (cut short in on_restart, or while one_for_all stopped the
-- others, it was raised). The instance carries that failure now. And two
-- manual restarts of one child, the second overtaking the first before it
-- began, started it once but counted two restarts.
local corral = require "corral"
local supervisor = require "corral.supervisor"
local support = require "support"

local function crashing(extra)
  local spec = { on_failure = function() end,
    children = { { name = "c", fn = function() corral.sleep(1); error("child crashed", 0) end },
                 { name = "d", fn = function(child) child:wait_stopping() end } } }
  for k, v in pairs(extra) do spec[k] = v end
  return spec
end

describe("regression: a restart cut short in its backoff", function()
  for _, strategy in ipairs({ "one_for_one", "one_for_all" }) do
    it("raises the failure it was for (" .. strategy .. ")", function()
      local eg
      support.vrun(function()
        local ok, e = pcall(corral.move_on_after, 1.5, supervisor.run,
          crashing({ strategy = strategy, backoff = { delay = 10 } }))
        eg = not ok and e or "returned"
      end)
      assert.is_true(corral.is_error_group(eg), tostring(eg))
      assert.same({ "c" }, eg.tasks)
      assert.equal("child crashed", eg.errors[1])
    end)
  end

  it("does not raise it when a stop ends the backoff (documented)", function()
    local r
    support.vrun(function()
      r = table.pack(pcall(supervisor.run, crashing({ backoff = { delay = 10 } }),
        function(sup) corral.sleep(1.5); sup:stop() end))
    end)
    assert.is_true(r[1], tostring(r[2]))
  end)
end)

describe("regression: two manual restarts, the second before the first began", function()
  it("start the child once and count one restart", function()
    local seen, counted = {}, nil
    support.vrun(function()
      supervisor.run({ children = { { name = "a", fn = function() corral.sleep(math.huge) end },
        { name = "b", fn = function(child)
            seen[#seen + 1] = child.restarts
            local _ <close> = setmetatable({}, { __close = function()
              corral.scope(function() corral.sleep(0.1) end, { shield = true })
            end })
            corral.sleep(math.huge)
          end } } },
        function(sup)
          corral.group(function(g)
            g:spawn(sup.restart, sup, "b")
            g:spawn(sup.restart, sup, "b")
          end)
          for _, c in ipairs(sup:children()) do
            if c.name == "b" then counted = c.restarts end
          end
          sup:stop()
        end)
    end)
    assert.same({ 0, 1 }, seen)
    assert.equal(1, counted)
  end)
end)
