-- Cancelling a chain of groups nested thousands deep took time quadratic in
-- the depth (8000 levels: 3.6 s): unwinding each level asked for the
-- outermost cancelled scope and walked the whole chain above it. The engine
-- now derives each answer from the one before (cr_scope_absorber). What a
-- spec can check is that the answers stay right along such a chain: every
-- level unwinds, innermost first, and each catches nothing of its own.
local corral = require "corral"

local function chain(depth, finish)
  local unwound = {}
  local reached = corral.event()
  local function level(n)
    local _ <close> = setmetatable({}, { __close = function(_, err)
      if corral.is_cancelled(err) then unwound[#unwound + 1] = n end
    end })
    if n == 0 then reached:set(); corral.sleep(math.huge); return end
    corral.group(function(g) g:spawn(level, n - 1) end)
  end
  local ok, err = pcall(corral.run, function()
    corral.group(function(g)
      g:spawn(level, depth)
      reached:wait()
      finish(g)
    end)
  end, { clock = "virtual" })
  return ok, err, unwound
end

describe("regression: a chain of groups thousands deep", function()
  it("unwinds every level, innermost first, when its outer group is cancelled", function()
    local ok, _, unwound = chain(3000, function(g) g:cancel() end)
    assert.is_true(ok)
    assert.equal(3001, #unwound)
    for i = 1, #unwound do assert.equal(i - 1, unwound[i]) end
  end)

  it("is reported as one deadlock, and unwinds every level", function()
    local ok, err, unwound = chain(3000, function() corral.event():wait() end)
    assert.is_false(ok)
    assert.matches("deadlock", err)
    assert.equal(3001, #unwound)
  end)

  it("keeps a shielded level's cancel its own", function()
    local caught
    corral.run(function()
      corral.group(function(g)
        corral.scope(function(outer)
          corral.scope(function(s)
            outer:cancel()
            s:cancel()                   -- inside a shield: only s's cancel is seen
            caught = select(2, pcall(corral.checkpoint))
          end, { shield = true })
        end)
        g:cancel()
      end)
    end, { clock = "virtual" })
    assert.is_true(corral.is_cancelled(caught))
  end)
end)
