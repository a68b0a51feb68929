-- `limit = math.huge` was refused by corral.group, gather, map and
-- corral.tcp.serve ("limit must be an integer >= 1"), although math.huge
-- means "no bound" everywhere else in the API (a sleep, a channel's
-- capacity, retry's attempts, a supervisor's intensity), so
-- `limit = opts.limit or math.huge` failed. It is now no limit, as leaving
-- the option out; max_errors = math.huge keeps every failure.
local corral = require "corral"
local gather = require "corral.gather"
local map = require "corral.map"
local support = require "support"

describe("regression: a limit of math.huge was refused", function()
  it("runs every child of a group at once", function()
    local running, most = 0, 0
    support.vrun(function()
      corral.group(function(g)
        for _ = 1, 20 do
          g:spawn(function()
            running = running + 1
            most = math.max(most, running)
            corral.sleep(1)
            running = running - 1
          end)
        end
      end, { limit = math.huge })
    end)
    assert.equal(20, most)
  end)

  it("is no limit for gather and map", function()
    local got, doubled
    support.vrun(function()
      got = gather({ function() corral.sleep(1); return 1 end,
                     function() corral.sleep(1); return 2 end }, { limit = math.huge })
      assert.equal(1, corral.now())      -- both at once
      doubled = map(function(x) return x * 2 end, { 1, 2, 3 }, { limit = math.huge })
    end)
    assert.same({ { n = 1, 1 }, { n = 1, 2 } }, got)
    assert.same({ 2, 4, 6 }, doubled)
  end)

  it("keeps every failure with max_errors = math.huge", function()
    local eg = support.error_group(support.vrun, function()
      corral.group(function(g)
        for i = 1, 1200 do g:spawn(error, i, 0) end
      end, { defer_errors = true, max_errors = math.huge })
    end)
    assert.equal(1200, #eg.errors)
    assert.equal(0, eg.dropped)
  end)

  it("is accepted by corral.tcp.serve", function()
    local port
    corral.run(function()
      corral.group(function(g)
        port = g:start(function(ready)
          corral.tcp.serve("127.0.0.1", 0, function() end, { ready = ready, limit = math.huge })
        end)
        g:stop()
      end)
    end)
    assert.is_true(math.type(port) == "integer" and port > 0)
  end)

  it("still refuses -math.huge, NaN and 0", function()
    support.vrun(function()
      for _, bad in ipairs({ -math.huge, 0 / 0, 0 }) do
        support.assert_arg_error(2, "group", "limit must be an integer >= 1 or math.huge",
          function() corral.group(function() end, { limit = bad }) end)
      end
    end)
  end)

  it("serve's refusal says math.huge is allowed, as the group's does", function()
    support.vrun(function()
      for _, bad in ipairs({ -math.huge, 0 / 0, 0, 1.5 }) do
        support.assert_arg_error(4, "serve", "limit must be an integer >= 1 or math.huge",
          function() corral.tcp.serve("127.0.0.1", 0, function() end, { limit = bad }) end)
      end
      support.assert_arg_error(4, "serve", "limit must be an integer >= 1 or math.huge, got string",
        function() corral.tcp.serve("127.0.0.1", 0, function() end, { limit = "2" }) end)
    end)
  end)
end)
