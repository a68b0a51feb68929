-- Errors that used to vanish: a child failing with error() (a nil value) had
-- its slot overwritten by the next failure, and an error value whose
-- __tostring raises was replaced by the __tostring error.
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

local function bad_tostring(tag)
  return setmetatable({ tag = tag }, { __tostring = function() error("tostring exploded") end })
end

describe("regression: lost errors", function()
  it("a child failing with error() keeps its slot when a sibling fails next", function()
    local eg = support.error_group(vrun, function()
      corral.group(function(g)
        g:spawn({ function() error() end, name = "nil-error" })
        g:spawn({ function() corral.sleep(1); error("second", 0) end, name = "second" })
      end, { defer_errors = true })
    end)
    assert.equal(2, #eg)
    assert.same({ "nil-error", "second" }, eg.tasks)
    assert.is_nil(eg.errors[1])
    assert.equal("second", eg.errors[2])
    assert.matches("nil", tostring(eg))
  end)

  it("a child error whose __tostring raises is kept as the raw value, with a traceback", function()
    local v = bad_tostring("child")
    local eg = support.error_group(vrun, function()
      corral.group(function(g) g:spawn(function() error(v) end) end)
    end)
    assert.equal(v, eg.errors[1])
    assert.matches("__tostring failed", eg.tracebacks[1])
    assert.matches("__tostring failed", tostring(eg))
  end)

  it("a root error whose __tostring raises reaches run unchanged", function()
    local v = bad_tostring("root")
    local ok, err = pcall(vrun, function() error(v) end)
    assert.is_false(ok)
    assert.equal(v, err)
  end)

  it("a Cancelled whose fields raise through a metamethod cannot break a group", function()
    local log = support.log()
    local mt
    -- put __index back however the run ends: the group raises, so a line
    -- after it never ran, and every later spec saw reads of a Cancelled fail
    local _ <close> = setmetatable({}, { __close = function()
      if mt then rawset(mt, "__index", mt) end
    end })
    vrun(function()
      corral.scope(function(s)
        corral.group(function(g)
          g:spawn(function()
            local ok, e = pcall(corral.sleep, math.huge)
            mt = getmetatable(e)
            -- a hostile program breaks reads of every missing field
            rawset(mt, "__index", function() error("field read") end)
            error(e, 0)
          end)
          corral.sleep(1)
          s:cancel("stop")
          corral.sleep(1)
        end)
        log:stamp("unreachable")
      end)
      log:stamp("scope absorbed it")
    end)
    assert.same({ "scope absorbed it@1" }, log.items)
  end)
end)
