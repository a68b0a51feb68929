-- Every error crossing a task, group, scope or lock:with boundary got a
-- traceback from luaL_traceback, which searched every loaded module for
-- every frame's name: 50 us an error, 150 us with cqueues loaded, and 280 us
-- a failed attempt of corral.retry. corral now writes the same traceback,
-- naming only C functions by that search, once per function (a cache that
-- starts afresh when a module is loaded). These check that what it writes
-- did not change.
local corral = require "corral"

local function run(fn) return corral.run(fn, { clock = "virtual" }) end

local function failed_traceback(fn)
  local tb
  run(function()
    corral.group(function(g)
      local t = g:spawn(fn)
      t:wait()
      tb = t:traceback()
    end, { on_error = function() return true end })
  end)
  return tb
end

describe("regression: error tracebacks", function()
  it("name C functions by their module and Lua functions as called", function()
    local function inner() error("boom") end
    local function outer() inner() end
    local tb = failed_traceback(function() outer() end)
    assert.matches("^boom\nstack traceback:\n", tb:gsub("^[^\n]*boom", "boom"))
    assert.matches("%[C%]: in function 'error'", tb)
    assert.matches("in upvalue 'inner'", tb)
    assert.matches("in upvalue 'outer'", tb)
  end)

  it("cut a deep stack in the middle as lua's own traceback does", function()
    local function down(n) if n == 0 then error("deep") end down(n - 1) end
    local tb = failed_traceback(function() down(50) end)
    assert.matches("\n\t%.%.%.\t%(skipping %d+ levels%)\n", tb)
    local frames = select(2, tb:gsub("\n\t[^\n]*: in ", ""))
    assert.equal(21, frames)
  end)

  it("name a C function from a module loaded after an earlier traceback", function()
    local go = coroutine.wrap(function() error("inside") end)
    local before = failed_traceback(function() go() end)
    assert.is_nil(before:find("mod_loaded_later", 1, true))
    package.loaded.mod_loaded_later = { go = go }  -- (dead now: it raises)
    local after = failed_traceback(function() go() end)
    package.loaded.mod_loaded_later = nil
    assert.matches("in function 'mod_loaded_later%.go'", after)
  end)

  it("follow a module replaced by another under a new name", function()
    local sort, saved = table.sort, package.loaded.table
    local function sort_frame()
      local tb
      xpcall(function() sort({ 2, 1 }, function() error("boom") end) end,
             function(m) tb = corral._traceback(m, 2) end)
      return tb:match("%[C%]: in (function '[%w%._]*sort')")
    end
    assert.equal("function 'table.sort'", sort_frame())
    package.loaded.table = nil                 -- as many modules as before
    package.loaded.spec_table = { sort = sort }
    local renamed = sort_frame()
    package.loaded.spec_table, package.loaded.table = nil, saved
    assert.equal("function 'spec_table.sort'", renamed)
  end)

  it("reach the policies: a settled failure carries its traceback", function()
    local gather = require "corral.gather"
    local r
    run(function()
      r = gather({ function() error("again") end }, { settle = true })
    end)
    assert.is_false(r[1].ok)
    assert.matches("again\nstack traceback:\n", r[1].traceback)
    assert.matches("%[C%]: in function 'error'", r[1].traceback)
  end)
end)
