-- `corral gen.lua | head`: corral ignores SIGPIPE (so sockets raise EPIPE),
-- and print into a pipe whose reader had gone failed silently, so the
-- command never stopped. It now dies as lua does, of SIGPIPE (141), at
-- print, io.write, io.flush, and a file's write and flush (io.stdout:write
-- kept going after print had learnt it).
local BIN = os.getenv("CORRAL_BIN") or "build/corral"

local function status_of(code)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local p = assert(io.popen(("bash -c '%s %s | head -1 >/dev/null; echo \"${PIPESTATUS[0]}\"'")
    :format(BIN, path)))
  local out = p:read("a")
  p:close()
  os.remove(path)
  return tonumber(out:match("%d+"))
end

describe("regression: the command writing into a closed pipe", function()
  it("ends at print, as lua does (SIGPIPE, 141)", function()
    assert.equal(141, status_of("for i = 1, 1e7 do print(i) end os.exit(3)"))
  end)

  it("ends at io.write too", function()
    assert.equal(141, status_of("for i = 1, 1e7 do io.write(i, '\\n') end os.exit(3)"))
  end)

  it("ends at a file's write and flush, as lua does", function()
    assert.equal(141, status_of("for i = 1, 1e7 do io.stdout:write(i, '\\n') end os.exit(3)"))
    assert.equal(141, status_of("for i = 1, 1e7 do io.output():write(i, '\\n') end os.exit(3)"))
    assert.equal(141, status_of("for i = 1, 1e7 do io.stdout:write(i, '\\n'); io.stdout:flush() end os.exit(3)"))
    assert.equal(141, status_of("for i = 1, 1e7 do io.stdout:write(i, '\\n'); io.flush() end os.exit(3)"))
  end)
end)
