-- A Cancelled knows its scope by identity. It used to carry an integer id that
-- restarts every run, so a Cancelled kept from an earlier run, or re-raised
-- after its scope had exited, could be absorbed by an unrelated scope.
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

describe("regression: Cancelled identity", function()
  it("a Cancelled re-raised after its scope exited is an ordinary failure, not absorbed", function()
    local eg = support.error_group(vrun, function()
      local kept
      corral.scope(function(s)
        s:cancel("first")
        local ok, e = pcall(corral.checkpoint)
        kept = e
      end)
      corral.group(function(g)
        g:spawn(function()
          corral.scope(function(s2)
            s2:cancel("unrelated")
            error(kept, 0)          -- not s2's: s2 must not absorb it
          end)
        end)
      end)
    end)
    assert.equal(1, #eg)
    assert.is_string(eg.errors[1])
    assert.matches("raised outside the scope it cancelled", eg.errors[1])
    assert.matches("first", eg.errors[1])
  end)

  it("one raised last, kept past its scope, stays dead when the next cancel reuses its record's slot", function()
    -- corral remembers the Cancelled it pushed last (a cancel of many tasks
    -- raises one value many times); the memory must die with its scope.
    local eg = support.error_group(vrun, function()
      local kept, again
      for i = 1, 3 do
        corral.scope(function(s)
          s:cancel("round " .. i)
          local ok, e = pcall(corral.checkpoint)
          if i == 1 then kept = e else again = e end
          if i == 3 then
            assert.is_true(corral._cancel_live(again))
            assert.is_false(corral._cancel_live(kept))
            corral.group(function(g)
              g:spawn(function() error(kept, 0) end)
            end)
          end
        end)
      end
    end)
    assert.equal(1, #eg)
    assert.matches("raised outside the scope it cancelled", eg.errors[1])
    assert.matches("round 1", eg.errors[1])
  end)

  it("a Cancelled kept from an earlier run is an ordinary error in the next one", function()
    local kept
    vrun(function()
      corral.scope(function(s)
        s:cancel("old run")
        local ok, e = pcall(corral.checkpoint)
        kept = e
      end)
    end)
    local err = support.raises(vrun, function()
      corral.scope(function(s)
        s:cancel("new run")
        error(kept, 0)
      end)
    end)
    assert.is_string(err)
    assert.matches("old run", err)
  end)

  it("a forged Cancelled (the metatable on a new table) is never absorbed", function()
    local err = support.raises(vrun, function()
      corral.scope(function(s)
        s:cancel()
        local ok, e = pcall(corral.checkpoint)
        error(setmetatable({ reason = "forged" }, getmetatable(e)), 0)
      end)
    end)
    assert.is_string(err)
    assert.matches("forged", err)
  end)

  it("a live Cancelled raised in a task that nothing cancelled fails that task", function()
    local eg = support.error_group(vrun, function()
      corral.scope(function(s)
        corral.group(function(g)
          s:cancel("s")
          local ok, e = pcall(corral.checkpoint)
          corral.group(function(other)      -- shielded: not cancelled
            other:spawn(function() error(e, 0) end)
          end, { shield = true })
        end)
      end)
    end)
    assert.matches("no cancelled scope encloses", tostring(eg))
  end)
end)
