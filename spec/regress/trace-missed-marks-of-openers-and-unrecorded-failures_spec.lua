-- The trace drew no "cancelled" mark (and no flow from the canceller) on
-- the task that opened a scope another task cancelled, or on a group's
-- body; and no "error" mark for a failure that no group records (the
-- root's, a g:start child's before ready, one on_error handled).
local corral = require "corral"
local json = require "dkjson"

local function marks(fn)
  local path = os.tmpname()
  pcall(corral.run, fn, { clock = "virtual", trace = path })
  local f = assert(io.open(path))
  local t = assert(json.decode(f:read("a")))
  f:close()
  os.remove(path)
  local names, out = {}, {}
  for _, e in ipairs(t.traceEvents) do
    if e.ph == "M" and e.name == "thread_name" then names[e.tid] = e.args.name:match("^(.-) #") end
  end
  for _, e in ipairs(t.traceEvents) do
    if e.ph == "i" and (e.cat == "cancelled" or e.cat == "error") then
      out[#out + 1] = names[e.tid] .. ": " .. e.cat .. (e.args.error and " " .. e.args.error or "")
    end
    if e.ph == "f" and e.name == "cancel" then out[#out + 1] = names[e.tid] .. ": flow in" end
  end
  table.sort(out)
  return out
end

describe("regression: trace marks", function()
  it("marks the opener of a scope another task cancelled", function()
    assert.same({ "owner: cancelled", "owner: flow in" }, marks(function()
      corral.group(function(g)
        local S
        g:spawn({ function() corral.scope(function(s) S = s; corral.sleep(5) end) end, name = "owner" })
        g:spawn({ function() corral.sleep(0.1); S:cancel("from B") end, name = "B" })
      end)
    end))
  end)

  it("marks the failures no group records", function()
    assert.same({ "handled: error handled", "starter: error before ready", "task-1: error root failed" },
      marks(function()
        corral.group(function(g)
          pcall(g.start, g, { function() error("before ready", 0) end, name = "starter" })
          g:spawn({ function() error("handled", 0) end, name = "handled" })
          corral.sleep(0.01)
        end, { on_error = function() return true end })
        error("root failed", 0)
      end))
  end)
end)
