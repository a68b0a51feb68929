-- Options were checked by type except shield (any value: 0, "no" and
-- "false" all shielded the scope, the opposite of what checking is for)
-- and name (a number was kept as a number); fail_at with a deadline already
-- past made a Timeout whose "time allowed" was negative (-5s, -infs).
local corral = require "corral"
local support = require "support"

describe("regression: scope options and Timeout.seconds", function()
  for _, v in ipairs({ 0, 1, "no", "false", {} }) do
    it("refuses shield = " .. tostring(v), function()
      support.vrun(function()
        for _, f in ipairs({ corral.scope, corral.group }) do
          local ok, err = pcall(f, function() end, { shield = v })
          assert.is_false(ok)
          assert.matches("shield must be a boolean", err)
        end
      end)
    end)
  end

  it("turns a number name into a string", function()
    support.vrun(function()
      corral.group(function(g) assert.equal("5", g.name) end, { name = 5 })
      corral.scope(function(s) assert.equal("7", s.name) end, { name = 7 })
    end)
  end)

  it("gives a past fail_at a Timeout of 0 seconds", function()
    support.vrun(function()
      corral.sleep(10)
      for _, d in ipairs({ 5, -math.huge, 10 }) do
        local ok, e = pcall(corral.fail_at, d, corral.sleep, 1)
        assert.is_false(ok)
        assert.equal(0, e.seconds)
        assert.equal("Timeout: deadline passed after 0s", tostring(e))
      end
    end)
  end)
end)
