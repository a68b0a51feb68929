-- corral.exec trusted its tables: an args table with a negative or huge __len
-- overflowed the argv array (heap overflow), and a numeric cwd was converted on
-- the stack and popped before uv_spawn read it (use-after-free).
local corral = require "corral"
local support = require "support"
local vrun = support.vrun

local function with_len(n)
  return setmetatable({}, { __len = function() return n end, __index = function() return "x" end })
end

describe("corral.exec with hostile tables", function()
  it("rejects an args __len that is negative, huge, or not an integer", function()
    vrun(function()
      for _, n in ipairs({ -1, -2 ^ 31, math.mininteger, 2 ^ 31, math.maxinteger, 1e300, 1.5, "3" }) do
        local ok, err = pcall(corral.exec, "/bin/true", with_len(n))
        assert.is_false(ok, tostring(n))
        assert.is_truthy(tostring(err):find("bad argument #2 to '[%w.]*exec'"), err)
      end
    end)
  end)

  it("accepts args whose __len and __index are metamethods", function()
    local out
    vrun(function()
      local p <close> = corral.exec("/bin/echo", with_len(3))
      out = p.stdout:read()
      p:wait()
    end)
    assert.equal("x x x\n", out)
  end)

  it("a numeric cwd is kept alive until the spawn has read it", function()
    -- a directory named 12345 next to a temporary file; the child interpreter
    -- runs there and execs /bin/pwd with cwd = 12345 (a number)
    -- a directory of its own: the plain and the seeded runs of this spec
    -- may run at the same time
    local mk = assert(io.popen("mktemp -d"))
    local parent = mk:read("l")
    mk:close()
    os.execute("mkdir -p '" .. parent .. "/12345'")
    local script = "local corral = require 'corral'\n" ..
      "corral.run(function()\n" ..
      "  local p <close> = corral.exec('/bin/pwd', {}, {cwd = 12345})\n" ..
      "  collectgarbage(); io.write(p.stdout:read()); p:wait()\n" ..
      "end)\n"
    local out, code
    vrun(function()
      local env = { LUA_CPATH = package.cpath, LUA_PATH = package.path }
      for _, name in ipairs({ "PATH", "LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS" }) do
        env[name] = os.getenv(name)
      end
      local p <close> = corral.exec("lua5.4", { "-e", script }, { cwd = parent, env = env })
      out = p.stdout:read()
      code = p:wait()
    end)
    os.execute("rmdir '" .. parent .. "/12345' '" .. parent .. "'")
    assert.equal(0, code)
    assert.equal(parent .. "/12345\n", out)
  end)

  it("metamethods that raise in args or opts raise a plain error and leak nothing", function()
    vrun(function()
      local boom = setmetatable({}, { __index = function() error("boom from __index", 0) end,
                                      __len = function() return 1 end })
      support.assert_mentions(support.raises(corral.exec, "/bin/true", boom), "boom from __index")
      local badlen = setmetatable({}, { __len = function() error("boom from __len", 0) end })
      support.assert_mentions(support.raises(corral.exec, "/bin/true", badlen), "boom from __len")
      local opts = setmetatable({}, { __index = function() error("boom from opts", 0) end })
      support.assert_mentions(support.raises(corral.exec, "/bin/true", {}, opts), "boom from opts")
      local badpairs = setmetatable({}, { __pairs = function() error("never called", 0) end })
      local p <close> = corral.exec("/bin/true", {}, badpairs)  -- options are read raw
      p:wait()
    end)
  end)

  it("rejects NUL bytes in the path, an argument, cwd and env, and '=' in an env name", function()
    vrun(function()
      local cases = {
        { 1, { "/bin/true\0x", {} } },
        { 2, { "/bin/true", { "a\0b" } } },
        { 3, { "/bin/true", {}, { cwd = "/\0tmp" } } },
        { 3, { "/bin/true", {}, { env = { A = "x\0y" } } } },
        { 3, { "/bin/true", {}, { env = { ["A=B"] = "x" } } } },
        { 3, { "/bin/true", {}, { env = { [""] = "x" } } } },
        { 3, { "/bin/true", {}, { cwd = {} } } },
        { 3, { "/bin/true", {}, { timeout = 1 } } },
      }
      for _, c in ipairs(cases) do
        local ok, err = pcall(corral.exec, table.unpack(c[2], 1, 3))
        assert.is_false(ok)
        assert.is_truthy(err:find("bad argument #" .. c[1] .. " to '[%w.]*exec'"), err)
      end
      support.assert_mentions(select(2, pcall(corral.exec, "/bin/true", {}, { timout = 1 })),
        "unknown option 'timout'")
    end)
  end)

  it("an env table with number values passes them as strings", function()
    local out
    vrun(function()
      local p <close> = corral.exec("/bin/sh", { "-c", "echo $N" }, { env = { N = 42 } })
      out = p.stdout:read()
      p:wait()
    end)
    assert.equal("42\n", out)
  end)
end)
