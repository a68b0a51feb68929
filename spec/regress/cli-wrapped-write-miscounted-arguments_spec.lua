-- The command checks print, io.write, io.flush and files' write and flush
-- for a reader that has gone (see stdout-reader-gone...). Its wrapper called
-- the original from C, so a bad argument was numbered as in a plain call
-- ("#3" for io.stdout:write(1, {}), where lua says "#2") or named '?'. Each
-- message is compared with lua5.4's.
local BIN = os.getenv("CORRAL_BIN") or "build/corral"

local function q(s) return "'" .. s:gsub("'", [['\'']]) .. "'" end

local function first_line(prog, code)
  local p = assert(io.popen(("%s -e %s 2>&1"):format(q(prog), q(code))))
  local line = p:read("l")
  p:close()
  return (line:gsub("^[^:]*: ", "", 1))
end

describe("regression: the command's checked writes word argument errors as lua", function()
  for _, code in ipairs({
    "io.stdout:write(1, {})", "io.stdout.write(5)", "io.write({})",
    "io.stdout.write(io.stdout, {})", "io.stdout.flush(7)", "io.stdout:write(nil)",
  }) do
    it(code, function()
      assert.equal(first_line("lua5.4", code), first_line(BIN, code))
    end)
  end
end)
