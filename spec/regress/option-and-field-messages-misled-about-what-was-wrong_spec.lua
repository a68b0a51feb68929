-- Some complaints about a bad option or field said the wrong thing:
-- corral.group's on_error, ErrorGroup:render's describe and split's
-- predicate given a callable table did not say to wrap it in a function
-- (as every other function option does); writing any task field hinted at
-- giving a name at spawn; a bad name said "must be a string" though a
-- number is taken too; a deadline or timeout that was no number was told
-- it must not be NaN; and an unknown option key that is not a string was
-- shown raw (its __tostring's NUL cut the text, a newline or an escape
-- went through), where a string key is escaped.
local corral = require "corral"
local support = require "support"

local function message(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok)
  return (tostring(err):gsub("^[^\n]-:%d+: ", ""))
end

local callable = setmetatable({}, { __call = function() end })
local WRAP = "got a callable table; wrap it in a function"

describe("regression: option and field messages misled about what was wrong", function()
  it("a callable table for a function option is told to be wrapped", function()
    support.vrun(function()
      assert.equal("bad argument #2 to 'corral.group' (on_error must be a function, " .. WRAP .. ")",
        message(corral.group, function() end, { on_error = callable }))
    end)
    local e = corral.error_group({ "x" }, { "t" })
    assert.equal("bad argument #1 to 'render' (describe must be a function, " .. WRAP .. ")",
      message(function() e:render({ describe = callable }) end))
    assert.equal("bad argument #1 to 'split' (function expected, " .. WRAP .. ")",
      message(function() e:split(callable) end))
  end)

  it("only writing a task's name hints at naming it at spawn", function()
    support.vrun(function()
      local t = corral.current_task()
      for _, k in ipairs({ "status", "id", "group", "foo" }) do
        assert.equal("task: cannot set field '" .. k .. "' (a task's fields are read-only)",
          message(function() t[k] = "x" end))
      end
      assert.equal("task: cannot set field 'name' (a task's fields are read-only; give the name " ..
        "at spawn: g:spawn{fn, name = ...})", message(function() t.name = "x" end))
    end)
  end)

  it("a bad name is told a number would do too", function()
    support.vrun(function()
      local want = "name must be a string or a number, got boolean"
      corral.group(function(g)
        support.assert_arg_error(1, "spawn", want, function() g:spawn({ function() end, name = true }) end)
      end)
      support.assert_arg_error(2, "group", want, function() corral.group(print, { name = true }) end)
      support.assert_arg_error(2, "scope", want, function() corral.scope(print, { name = true }) end)
      support.assert_arg_error(2, "race", want, function()
        require("corral.race")({ print }, { name = true })
      end)
    end)
  end)

  it("a deadline or timeout that is no number is told so, NaN as before", function()
    support.vrun(function()
      support.assert_arg_error(2, "scope", "(deadline must be a number, got string)",
        function() corral.scope(print, { deadline = "0.001" }) end)
      support.assert_arg_error(2, "scope", "(deadline must be a number and not NaN)",
        function() corral.scope(print, { deadline = 0 / 0 }) end)
      support.assert_arg_error(2, "scope", "(timeout must be a number of seconds, got string)",
        function() corral.scope(print, { timeout = "1" }) end)
      support.assert_arg_error(2, "group", "(limit must be an integer >= 1 or math.huge, got string)",
        function() corral.group(print, { limit = "3" }) end)
      support.assert_arg_error(3, "connect", "(timeout must be a number of seconds, got string)",
        function() corral.tcp.connect("127.0.0.1", 1, { timeout = "1" }) end)
      corral.scope(function(s)
        assert.equal("scope.deadline must be a number, got string",
          message(function() s.deadline = "0.001" end))
        assert.equal("scope.deadline must be a number and not NaN",
          message(function() s.deadline = 0 / 0 end))
      end)
    end)
  end)

  it("an unknown option key that is not a string is escaped", function()
    local key = setmetatable({}, { __tostring = function() return "a\0b\n\27c" end })
    support.vrun(function()
      assert.equal("bad argument #2 to 'corral.scope' (unknown option '[a\\000b\\n\\027c]')",
        message(corral.scope, print, { [key] = 1 }))
    end)
  end)
end)
