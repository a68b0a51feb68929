-- require "corral" looks once through everything the state can reach for
-- a copy of coroutine.running (lscan.c). Run while load() was parsing a
-- chunk -- from load's reader, or from a finalizer a collection ran during
-- the parse -- it met the chunk's main function before its upvalue was
-- made and lua_getupvalue followed the empty slot: a segfault. Run in a
-- process of its own, as a crash would take busted down with it.
local function run_lua(src)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(src)
  f:close()
  -- (the module as this process finds it)
  local env = ("LUA_CPATH='%s' LUA_PATH='%s' "):format(package.cpath, package.path)
  local p = assert(io.popen(env .. "lua5.4 " .. path .. " 2>&1; echo \"status=$?\""))
  local out = p:read("a")
  p:close()
  os.remove(path)
  return out
end

describe("regression: require while load() parsed a chunk crashed", function()
  it("from load's reader", function()
    local out = run_lua([[
      local parts, i = { "return ", "1" }, 0
      local f = load(function()
        i = i + 1
        if i == 2 then require "corral" end
        return parts[i]
      end)
      print("loaded", f())
      print("pool", require "corral".debug_stats ~= nil)
    ]])
    assert.equal("loaded\t1\npool\ttrue\nstatus=0\n", out)
  end)

  it("from a finalizer that runs during the parse", function()
    local out = run_lua([[
      local src = { "local t = {}" }
      for i = 1, 20000 do
        src[#src + 1] = ("t[%d] = {%d, '%s%d'}"):format(i, i, ("s"):rep(i % 50), i)
      end
      src = table.concat(src, "\n")
      collectgarbage(); collectgarbage()
      local during
      setmetatable({}, { __gc = function() during = _G.parsing; require "corral" end })
      _G.parsing = true
      local f = assert(load(src))
      _G.parsing = false
      print("during the parse", during)
    ]])
    assert.equal("during the parse\ttrue\nstatus=0\n", out)
  end)
end)
