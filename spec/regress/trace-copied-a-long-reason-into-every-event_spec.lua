-- A cancel's reason went whole into the event of every task it reached, and
-- names whole into every event of their task: 2,000 tasks cancelled with a
-- 1 MB reason took a gigabyte and never finished writing. Every text in an
-- event is now cut at 4 KB, saying how long it was, as an error's was.
local corral = require "corral"

local function traced(body)
  local path = os.tmpname()
  corral.run(body, { trace = path, clock = "virtual" })
  local f = assert(io.open(path))
  local text = f:read("a")
  f:close()
  os.remove(path)
  return text
end

describe("regression: long texts in a trace", function()
  it("a long cancel reason is cut in every event", function()
    local reason = string.rep("R", 100000)
    local text = traced(function()
      corral.group(function(g)
        for _ = 1, 50 do g:spawn(corral.sleep, 10) end
        corral.sleep(1)
        g:cancel(reason)
      end)
    end)
    assert.is_nil(text:find(string.rep("R", 4097), 1, true))
    local cut = string.rep("R", 4096) .. "... (100000 bytes in all)"
    local _, n = text:gsub(cut:gsub("%p", "%%%0"), "")
    assert.is_true(n >= 50)
    assert.is_true(#text < 51 * 4200 + 200000)
  end)

  it("a long task name is cut too", function()
    local name = string.rep("N", 50000)
    local text = traced(function()
      corral.group(function(g) g:spawn({ corral.sleep, name = name }, 1) end)
    end)
    assert.is_nil(text:find(string.rep("N", 4097), 1, true))
    assert.truthy(text:find(string.rep("N", 4096) .. "... (50000 bytes in all)", 1, true))
  end)
end)
