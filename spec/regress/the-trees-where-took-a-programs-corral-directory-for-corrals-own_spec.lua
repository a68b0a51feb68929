-- The task tree's `where` (the innermost line of the user's code) took any
-- file in a directory called corral/ for one of corral's own modules, so a
-- program kept in such a directory showed corral's line instead of its
-- own; and it looked at every level of a stack whose frames have no line
-- (stripped code), each lua_getstack walking `level` frames: 80,000 levels
-- took 14 s. Beside it, three messages this session's verifier found: a
-- key in "cannot set field" went out raw (a NUL cut it), the policies'
-- number options did not say what they got, and a failure's line cut at
-- 160 bytes could split a UTF-8 character.
local corral = require "corral"
local support = require "support"

describe("regression: the tree's where took a program's corral/ directory for corral's own", function()
  it("a program's file in a directory called corral is the program's", function()
    local wait = assert(load("local ev = ...\nev:wait()\n", "@/srv/app/corral/worker.lua"))
    support.vrun(function()
      corral.group(function(g)
        local ev = corral.event()
        g:spawn({ wait, name = "w" }, ev)
        corral.sleep(1)
        assert.matches("task w #%d+ waiting on event at /srv/app/corral/worker.lua:2", corral.tree())
        ev:set()
      end)
    end)
  end)

  it("a deep stack of stripped code has no where, and the tree comes", function()
    local rec = load(string.dump(function(n, ev)
      local function r(k) if k == 0 then ev:wait() return 0 end return 1 + r(k - 1) end
      return r(n)
    end, true), "=stripped", "b")
    support.vrun(function()
      corral.group(function(g)
        local ev = corral.event()
        g:spawn({ rec, name = "deep" }, 5000, ev)
        corral.sleep(1)
        assert.matches("task deep #%d+ waiting on event\n", corral.tree() .. "\n")
        ev:set()
      end)
    end)
  end)

  it("a key in 'cannot set field' is escaped", function()
    support.vrun(function()
      local ok, err = pcall(function() corral.current_task()["a\0b\n"] = 1 end)
      assert.is_false(ok)
      assert.matches("task: cannot set field 'a\\000b\\n' (a task's fields are read-only)", err, 1, true)
    end)
  end)

  it("a key that is no string, for a group, a scope and a kit stream, says 'cannot set field'", function()
    local testing = require "corral.testing"
    local raiser = setmetatable({}, { __tostring = function() error("boom") end })
    support.vrun(function()
      corral.group(function(g)
        local ok, err = pcall(function() g[raiser] = 1 end)
        assert.is_false(ok)
        assert.matches("cannot set field '(a table value whose __tostring failed)' of a group", err, 1, true)
      end)
      corral.scope(function(sc)
        local ok, err = pcall(function() sc[true] = 1 end)
        assert.is_false(ok)
        assert.matches("cannot set field 'true' of a scope", err, 1, true)
      end)
      local a, b = testing.stream_pair()
      local ok, err = pcall(function() a["x\0y"] = 1 end)
      assert.is_false(ok)
      assert.matches("stream: cannot set field 'x\\000y' (its fields are read-only)", err, 1, true)
      a:close(); b:close()
    end)
  end)

  it("a second corral._util (package.loaded cleared) keeps the modules already known", function()
    local race = require "corral.race"
    local util = package.loaded["corral._util"]
    package.loaded["corral._util"] = nil
    require "corral._util"
    package.loaded["corral._util"] = util
    local wait = assert(load("local race, ev = ...\nrace({ function() ev:wait() end })\n", "@/srv/app/r.lua"))
    support.vrun(function()
      corral.group(function(g)
        local ev = corral.event()
        g:spawn({ wait, name = "r" }, race, ev)
        corral.sleep(1)
        assert.matches("task r #%d+ waiting on the children of group race at /srv/app/r.lua:2", corral.tree())
        ev:set()
      end)
    end)
  end)

  it("a policy's number option says what it got", function()
    local gather = require "corral.gather"
    support.vrun(function()
      local ok, err = pcall(gather, { print }, { limit = "x" })
      assert.is_false(ok)
      assert.matches("limit must be an integer >= 1 or math.huge, got string", err, 1, true)
    end)
  end)

  it("a failure's line is cut between UTF-8 characters", function()
    local line
    support.vrun(function()
      pcall(corral.group, function(g)
        g:spawn(function() error("a" .. ("é"):rep(100), 0) end)
        corral.sleep(1)
        line = corral.tree():match("failures: [^\n]*")
      end, { defer_errors = true })
    end)
    assert.truthy(line:find("aé", 1, true))
    assert.truthy(line:find("é...)", 1, true))          -- whole before the cut
    assert.is_nil(line:find("\195...", 1, true))
  end)
end)
