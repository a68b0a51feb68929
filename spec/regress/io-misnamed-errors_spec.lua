-- Found by the hostile pass over the I/O surface: errors that named the wrong
-- function or pointed into corral's own code. The Lua-written stream helpers
-- blamed an internal 'rawread' at corral.io:<line> for a bad self or a closed
-- stream, lines() accepted a bad self, and tcp.connect/listen/serve outside a
-- run said 'corral.connect', 'corral.listen' or 'corral.resolve'.
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

describe("I/O errors name the call the user made", function()
  it("stream helpers given a bad self say so in Lua's words, as the C methods do", function()
    vrun(function()
      local ev = corral.event()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      local c <close> = corral.tcp.connect("127.0.0.1", l.port)
      for _, name in ipairs({ "read_line", "lines", "read_exactly" }) do
        local ok, err = pcall(c[name], ev, 1)       -- no call name: pcall's
        assert.is_false(ok)
        assert.equal(("bad argument #1 to 'corral.Stream.%s' (stream expected, got corral.Event)"):format(name),
          err:gsub("^[^:]*:%d+: ", ""))
        assert.equal(select(2, pcall(c.read, ev, 1)):gsub("%.read'", "." .. name .. "'"), err)
      end
      local fake = { read_line = c.read_line }       -- a method call, bad self
      local ok, err = pcall(function() local r = fake:read_line(1); return r end)
      assert.is_false(ok)
      assert.equal("calling 'read_line' on bad self (stream expected, got table)",
        err:gsub("^[^:]*:%d+: ", ""))
    end)
  end)

  it("helpers on a closed stream blame the caller's line, not corral's code", function()
    vrun(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      local c = corral.tcp.connect("127.0.0.1", l.port)
      local it = c:lines()
      c:close()
      local _, e1 = pcall(function() local r = c:read_line(); return r end)
      local _, e2 = pcall(function() local r = c:read_exactly(1); return r end)
      local _, e3 = pcall(function() for _ in it do end end)
      for _, e in ipairs({ e1, e2, e3 }) do
        assert.is_nil(e:find("corral.io", 1, true), e)
        assert.is_truthy(e:find("io%-misnamed%-errors_spec%.lua:%d+: stream:[%w_]+: attempt to use a closed stream$"), e)
      end
    end)
  end)

  it("tcp.connect, tcp.listen and tcp.serve outside a run name themselves", function()
    for _, f in ipairs({ "connect", "listen", "serve" }) do
      local ok, err = pcall(corral.tcp[f], "localhost", 0, print)
      assert.is_false(ok)
      support.assert_mentions(err, "corral.tcp." .. f .. ": called outside corral.run")
    end
  end)
end)
