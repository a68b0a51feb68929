-- Regression: option tables disagreed about numerals and names. A scope's
-- or group's timeout and deadline took "5" (and g.deadline = "5"), where
-- limit, max_errors, tcp.connect's timeout, run's seed and trace_limit and
-- every policy refused it; tcp.listen's and tcp.serve's backlog and limit
-- took it too. race, gather, map and supervisor.run refused a number as
-- `name`, which corral.group and g:spawn take; and the policies said "got
-- userdata" for a corral object, where the C functions name its type.
local corral = require "corral"
local race, map = require "corral.race", require "corral.map"
local gather, supervisor = require "corral.gather", require "corral.supervisor"

local function message(f)
  local ok, e = pcall(f)
  assert.is_false(ok)
  return tostring(e)
end

describe("regression: values in options tables are taken as they are", function()
  it("refuses a numeral where a number is expected, in every table and field", function()
    corral.run(function()
      assert.matches("bad argument #2 to 'scope' %(timeout must be a number",
        message(function() corral.scope(function() end, { timeout = "5" }) end))
      assert.matches("bad argument #2 to 'group' %(deadline must be a number",
        message(function() corral.group(function() end, { deadline = "5" }) end))
      assert.matches("bad argument #2 to 'group' %(limit must be an integer",
        message(function() corral.group(function() end, { limit = "5" }) end))
      assert.matches("group.deadline must be a number", message(function()
        corral.group(function(g) g.deadline = "5" end)
      end))
      assert.matches("bad argument #3 to 'listen' %(backlog must be an integer",
        message(function() corral.tcp.listen("127.0.0.1", 0, { backlog = "5" }) end))
      assert.matches("bad argument #4 to 'serve' %(limit must be an integer",
        message(function() corral.tcp.serve("127.0.0.1", 0, function() end, { limit = "5" }) end))
    end)
  end)

  it("still converts positional arguments as Lua's own functions do", function()
    corral.run(function()
      corral.sleep("0")
      local ch = corral.channel("1")
      ch:send(1)                          -- a buffer of one: no wait
      local l = corral.tcp.listen("127.0.0.1", "0", { backlog = 5.0 })
      l:close()
    end)
  end)

  it("takes a number as a policy's name, as a group's, and shows it as a string", function()
    corral.run(function()
      assert.equal(1, race({ function() return 1 end }, { name = 7 }))
      assert.equal(2, gather({ function() return 2 end }, { name = 7 })[1][1])
      assert.equal(3, map(function(x) return x end, { 3 }, { name = 7 })[1])
      local e = select(2, pcall(race, { function() error("boom", 0) end }, { name = 7 }))
      assert.matches("%[7%[1%]%]", tostring(e))
      supervisor.run({ name = 7, children = {} }, function() end)
    end)
  end)

  it("names a corral object's type in a policy's complaint", function()
    corral.run(function()
      assert.matches("name must be a string or a number, got corral.Event",
        message(function() race({ function() end }, { name = corral.event() }) end))
      assert.matches("on_retry must be a function, got corral.Event", message(function()
        require("corral.retry")(function() end, { on_retry = corral.event() })
      end))
      assert.matches("function expected, got corral.Event",
        message(function() map(corral.event(), { 1 }) end))
      assert.matches("children%[1%] must be a table, got corral.Event", message(function()
        supervisor.run({ children = { corral.event() } }, function() end)
      end))
      assert.matches("table expected, got corral.Event",
        message(function() require("corral.testing").stream_pair(corral.event()) end))
    end)
  end)
end)
