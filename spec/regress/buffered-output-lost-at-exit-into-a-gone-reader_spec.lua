-- Output still buffered when the command ended (stdout into a pipe is fully
-- buffered) went to a reader that had gone: the final flush failed with
-- EPIPE (the command keeps SIGPIPE caught) and the command exited 0, or
-- with os.exit's code, the output silently lost, where lua dies of SIGPIPE
-- (141). And a command that died of SIGPIPE while tracing left an empty
-- trace file.
local BIN = os.getenv("CORRAL_BIN") or "build/corral"

local function sh(cmd)
  local p = assert(io.popen(("bash -c '%s'"):format(cmd)))
  local out = p:read("a")
  p:close()
  return out
end

local function status_of(code, reader, opts)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local out = sh(("%s %s %s | %s; echo \"${PIPESTATUS[0]}\""):format(BIN, opts or "", path, reader))
  os.remove(path)
  return tonumber(out:match("(%d+)%s*$"))
end

describe("regression: buffered output and a reader gone before the command ends", function()
  it("dies of SIGPIPE at the final flush, as lua does", function()
    -- `true` exits at once; the sleep makes sure it is gone before the flush
    assert.equal(141, status_of("require('corral').sleep(0.2) io.write('x\\n')", "true"))
    assert.equal(141, status_of("require('corral').sleep(0.2) io.write('x') os.exit(3)", "true"))
    assert.equal(0, status_of("io.write('x')", "cat >/dev/null"))
  end)

  it("writes the trace before it dies of SIGPIPE", function()
    local trace = os.tmpname()
    assert.equal(141, status_of("for i = 1, 1e7 do print(i) end", "head -1 >/dev/null",
      "--trace " .. trace))
    local f = assert(io.open(trace))
    local text = f:read("a")
    f:close()
    os.remove(trace)
    assert.truthy(text:find('"traceEvents"', 1, true), "an empty trace")
  end)
end)
