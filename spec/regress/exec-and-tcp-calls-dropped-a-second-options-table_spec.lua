-- spec/regress/exec-and-tcp-calls-dropped-a-second-options-table_spec.lua
--
-- Broke: corral.exec, tcp.connect, tcp.listen and tcp.serve ignored
-- arguments past their options table, so `corral.exec("make", {}, {stdout =
-- "inherit"}, {cwd = "build"})` ran make in the wrong directory without a
-- word. Like every call with a fixed list of arguments, they now refuse one
-- more (even nil), before doing anything.
local corral = require "corral"
local support = require "support"

describe("regression: exec and the tcp calls with an argument past their options", function()
  it("refuse it, naming the call and the argument", function()
    support.vrun(function()
      local l = corral.tcp.listen("127.0.0.1", 0)
      local cases = {
        { "exec", function() return corral.exec("true", {}, {}, { cwd = "/" }) end, 4 },
        { "listen", function() return corral.tcp.listen("127.0.0.1", 0, {}, { backlog = 5 }) end, 4 },
        { "connect", function() return corral.tcp.connect("127.0.0.1", l.port, nil, nil) end, 4 },
        { "serve", function() return corral.tcp.serve("127.0.0.1", 0, print, {}, "x") end, 5 },
      }
      for _, case in ipairs(cases) do
        local ok, err = pcall(case[2])
        assert.is_false(ok, case[1])
        assert.matches(("bad argument #%d to '[%%w.]*%s' %%(no argument expected%%)")
          :format(case[3], case[1]), err)
      end
      l:close()
      -- their own arguments are as before
      local p = corral.exec("true", nil, {})
      assert.equal(0, p:wait())
      p:close()
    end)
  end)
end)
