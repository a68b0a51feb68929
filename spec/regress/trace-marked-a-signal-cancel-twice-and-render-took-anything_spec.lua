-- From a pass over the debugging tools:
-- * a cancel with no task behind it (a deadlock's, a signal's) put both a
--   "cancel" and a "cancelled" mark on the root's track; the owner of the
--   cancel gets the "cancel" mark only, as for a deadline;
-- * a cancel mark's scope was a number for a scope without a name and a
--   string ("name #3") for one with: "#3" now;
-- * the root's error mark and its exit mark shared one instant;
-- * trace_svg.render took a number or nil for its trace (an internal error),
--   and refused
--   width = 1200.0, which corral's own options take.
local corral = require "corral"
local svg = require "corral.trace_svg"

local function trace_of(fn)
  local path = os.tmpname()
  pcall(corral.run, fn, { clock = "virtual", trace = path })
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  os.remove(path)
  return text
end

-- The instant marks of the trace text: {{name=, tid=, ts=, scope=}...}
local function marks(text)
  local out = {}
  for obj in text:gmatch('[^\n]+') do        -- (one event a line)
    if obj:find('"ph":"i"', 1, true) then
    out[#out + 1] = { name = obj:match('"name":"(.-)"'), tid = tonumber(obj:match('"tid":(%d+)')),
                      ts = tonumber(obj:match('"ts":([%d%.e+-]+)')),
                      scope = obj:match('"scope":("?[^,}]*"?)') }
    end
  end
  return out
end

describe("regression: trace marks", function()
  it("a deadlock's cancel marks the root once, and scopes are named \"#id\" or \"name #id\"", function()
    local text = trace_of(function()
      corral.scope(function() corral.event():wait() end)
    end)
    local on_root = {}
    for _, m in ipairs(marks(text)) do
      if m.tid == 1 and m.name:find("^cancel") then on_root[#on_root + 1] = m.name end
      if m.scope then assert.matches('^"[^"]*#%d+"$', m.scope) end
    end
    assert.same({ "cancel (deadlock)" }, on_root)
  end)

  it("the root's error and exit marks are 1 ns apart", function()
    local text = trace_of(function() corral.sleep(1); error("boom", 0) end)
    local err_ts, exit_ts
    for _, m in ipairs(marks(text)) do
      if m.tid == 1 and m.name == "error" then err_ts = m.ts end
      if m.tid == 1 and m.name:find("^exit") then exit_ts = m.ts end
    end
    assert.is_true(exit_ts > err_ts)
  end)
end)

describe("regression: trace_svg.render's arguments", function()
  it("refuses a trace that is neither text nor a table, and takes integral floats", function()
    assert.error_matches(function() svg.render(42) end,
      "bad argument #1 to 'render' %(trace text expected, got number%)")
    local text = trace_of(function() corral.sleep(1) end)
    assert.matches("^<svg", svg.render(text, { width = 1200.0, max_lanes = 24.0 }))
  end)
end)
