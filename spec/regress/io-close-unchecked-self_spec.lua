-- close, __close and __gc of streams, listeners and processes took `self`
-- unchecked: l.close(corral.event()) or l.close(io.stdout) read a foreign
-- userdata as an I/O box.
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

-- Every close-like entry of an I/O type: the method and the metamethods.
local function closers(obj)
  local mt = getmetatable(obj)
  return { close = obj.close, __close = mt.__close, __gc = mt.__gc }
end

describe("closing something that is not a stream, listener or process", function()
  it("raises a standard argument error naming the expected type and what it got", function()
    vrun(function()
      local l <close> = corral.tcp.listen("127.0.0.1", 0)
      local p <close> = corral.exec("/bin/true", {})
      local c <close> = corral.tcp.connect("127.0.0.1", l.port)
      local kinds = { stream = c, listener = l, process = p }
      local foreign = {
        { corral.event(), "corral.Event" }, { io.stdout, "FILE*" }, { {}, "table" },
        { 42, "number" }, { nil, "nil" }, { corral.lock(), "corral.Lock" },
      }
      for what, obj in pairs(kinds) do
        for name, fn in pairs(closers(obj)) do
          for _, f in ipairs(foreign) do
            local ok, err = pcall(fn, f[1])
            assert.is_false(ok, what .. "." .. name)
            assert.is_truthy(err:find("bad argument #1 to '[%w_.?]*' %(" .. what
              .. " expected, got " .. f[2]:gsub("%p", "%%%0") .. "%)"), err)
          end
        end
      end
      -- objects of the other I/O kinds are foreign too
      local ok, err = pcall(closers(l).close, c)
      assert.is_false(ok)
      support.assert_mentions(err, "listener expected, got corral.Stream")
      assert.is_false(c.closed or l.closed or p.closed)
      p:wait()
    end)
  end)

  it("io.stdout is still usable afterwards", function()
    vrun(function()
      local p <close> = corral.exec("/bin/true", {})
      pcall(p.close, io.stdout)
      pcall(getmetatable(p).__gc, io.stdout)
      assert.equal("file", io.type(io.stdout))
      p:wait()
    end)
  end)
end)
