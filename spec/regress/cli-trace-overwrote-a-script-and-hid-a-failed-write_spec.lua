-- `corral --trace app.lua other.lua` (the trace's name forgotten) ran
-- other.lua and wrote the trace over app.lua; a trace that could not be
-- written (a full disk) was said on stderr but the command exited 0, so a
-- job that asked for it could not tell; a CORRAL_MALLOC with a typo was
-- taken without a word.
local BIN = os.getenv("CORRAL_BIN") or "build/corral"

-- (stdout and stderr together)
local function sh(cmd) return require("support").sh(cmd .. " 2>&1") end

local write = require("support").write_file

local function read(path)
  local f = assert(io.open(path))
  local text = f:read("a")
  f:close()
  return text
end

describe("regression: the corral command's --trace", function()
  -- (`corral --trace app app`: a script without the suffix, named twice,
  -- was run and then written over by its trace)
  it("refuses the script itself as the trace, whatever its name", function()
    local app = os.tmpname()
    write(app, "print('app')\n")
    local out, code = sh(("%s --trace %s %s"):format(BIN, app, app))
    local kept = read(app)
    os.remove(app)
    assert.equal(2, code)
    assert.matches("looks like a script", out, 1, true)
    assert.equal("print('app')\n", kept)
    -- nor the script read through /dev/stdin from a pipe (another inode)
    write(app, "print('app')\n")
    for _, stdin in ipairs({ "/dev/stdin", "/dev/./stdin" }) do   -- any spelling
      out, code = sh(("cat %s | %s --trace %s %s"):format(app, BIN, app, stdin))
      assert.equal(2, code, out)
      assert.equal("print('app')\n", read(app))
    end
    -- but a script named by its own path is read from there, whatever stdin is
    local notes = os.tmpname()
    write(notes, "some notes\n")
    out, code = sh(("%s --trace %s %s < %s"):format(BIN, notes, app, app))
    local trace = read(notes)
    os.remove(notes)
    os.remove(app)
    assert.equal(0, code, out)
    assert.matches("^{", trace)
  end)

  it("refuses a trace named like a script even when a script follows", function()
    local app, other = os.tmpname() .. ".lua", os.tmpname() .. ".lua"
    write(app, "print('app')\n")
    write(other, "print('other')\n")
    local out, code = sh(("%s --trace %s %s"):format(BIN, app, other))
    local kept = read(app)
    os.remove(app)
    os.remove(other)
    assert.equal(2, code)
    assert.matches("looks like a script", out, 1, true)
    assert.equal("print('app')\n", kept)
  end)

  it("exits 1 when the trace cannot be written", function()
    local out, code = sh(("%s --trace /dev/full -e 'print(42)'"):format(BIN))
    assert.equal(1, code)
    assert.matches("42\n", out, 1, true)
    assert.matches("the trace was not written", out, 1, true)
    -- also after os.exit with a success; another status stays
    for _, exit in ipairs({ "os.exit(0)", "os.exit(true)", "os.exit()" }) do
      out, code = sh(("%s --trace /dev/full -e '%s'"):format(BIN, exit))
      assert.equal(1, code, exit)
    end
    out, code = sh(("%s --trace /dev/full -e 'os.exit(3)'"):format(BIN))
    assert.equal(3, code)
  end)

  it("refuses *.LUA, and a script without the suffix when the script would come from stdin", function()
    local out, code = sh(("%s --trace APP.LUA -e 'print(1)'"):format(BIN))
    assert.equal(2, code)
    assert.matches("looks like a script", out, 1, true)
    local tool = os.tmpname()
    write(tool, "#!/usr/bin/env corral\nprint('tool')\n")
    out, code = sh(("%s --trace %s < /dev/null"):format(BIN, tool))
    local kept = read(tool)
    assert.equal(2, code)
    assert.equal("#!/usr/bin/env corral\nprint('tool')\n", kept)
    -- (the script named as stdin, '-', wrote over it)
    out, code = sh(("%s --trace %s - < /dev/null"):format(BIN, tool))
    kept = read(tool)
    assert.equal(2, code)
    assert.equal("#!/usr/bin/env corral\nprint('tool')\n", kept)
    -- with -e the code is given: the file is the trace the user named
    out, code = sh(("%s --trace %s -e 'print(1)'"):format(BIN, tool))
    kept = read(tool)
    os.remove(tool)
    assert.equal(0, code)
    assert.matches('^{"traceEvents"', kept)
  end)

  -- (the check above opened the file to look into it: on a pipe it blocked)
  it("writes a trace to /dev/stdout on a pipe, the script from stdin", function()
    local out, code = sh(("echo 'print(42)' | timeout 10 %s --trace /dev/stdout | cat"):format(BIN))
    assert.equal(0, code)
    assert.matches("42\n", out, 1, true)
    assert.matches('{"traceEvents":[', out, 1, true)
  end)
end)

describe("regression: CORRAL_MALLOC", function()
  it("says so when its value is none it knows, and runs", function()
    local out, code = sh(("CORRAL_MALLOC=sytem %s -e 'print(42)'"):format(BIN))
    assert.equal(0, code)
    assert.matches("CORRAL_MALLOC=sytem is none of system, arena, huge", out, 1, true)
    assert.matches("42\n", out, 1, true)
    out, code = sh(("CORRAL_MALLOC=system %s -e 'print(42)'"):format(BIN))
    assert.same({ "42\nexit=0\n", 0 }, { out, code })
  end)
end)
