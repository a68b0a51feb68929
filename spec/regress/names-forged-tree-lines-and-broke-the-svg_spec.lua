-- A task name with a newline forged lines in corral.tree()'s text (and so in
-- the SIGUSR1 dump and the deadlock report), a NUL cut it, and an escape
-- byte reached the terminal; trace-svg cut a long label in the middle of a
-- UTF-8 character and passed U+FFFE and invalid bytes, so the SVG was not
-- well-formed XML; `corral --trace hi.lua` (the trace file forgotten) read
-- the script from stdin and wrote the trace over hi.lua.
local corral = require "corral"

local BIN = os.getenv("CORRAL_BIN") or "build/corral"

local sh = require("support").sh

describe("regression: hostile names", function()
  it("stay on one line in the tree text, whole and escaped", function()
    local text
    corral.run(function()
      corral.group(function(g)
        g:spawn({ function() corral.sleep(1) end, name = "a\0b" })
        g:spawn({ function() corral.sleep(1) end, name = "x\n`- task FAKE #99\27[2J" })
        corral.sleep(0)
        text = corral.tree()
        g:cancel()
      end)
    end, { clock = "virtual" })
    assert.truthy(text:find("task a\\000b #", 1, true), text)
    assert.truthy(text:find("task x\\n`- task FAKE #99\\027[2J #", 1, true), text)
    assert.is_nil(text:find("\n`- task FAKE", 1, true))
    assert.is_nil(text:find("\27", 1, true))
  end)

  it("give trace-svg well-formed XML", function()
    local trace, svg = os.tmpname(), os.tmpname()
    corral.run(function()
      local lock = corral.lock()
      corral.group(function(g)
        g:spawn({ function() lock:with(corral.sleep, 10) end, name = ("é"):rep(200) })
        g:spawn({ function() corral.sleep(2); lock:with(corral.sleep, 1) end,
                  name = "w\u{FFFE}\xff" })
      end)
    end, { clock = "virtual", trace = trace })
    local _, code = sh(("%s trace-svg %s > %s"):format(BIN, trace, svg))
    assert.equal(0, code)
    local out = sh(("python3 -c 'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1]); print(\"well-formed\")' %s 2>&1")
      :format(svg))
    os.remove(trace)
    os.remove(svg)
    assert.matches("well%-formed", out)
  end)
end)

describe("regression: corral --trace with the trace file forgotten", function()
  it("refuses, and leaves the script alone", function()
    local script = os.tmpname() .. ".lua"
    local f = assert(io.open(script, "w"))
    f:write("print(1)\n")
    f:close()
    local out, code = sh(("echo 'print(2)' | %s --trace %s 2>&1"):format(BIN, script))
    f = assert(io.open(script))
    local kept = f:read("a")
    f:close()
    os.remove(script)
    assert.equal(2, code)
    assert.matches("looks like a script", out)
    assert.equal("print(1)\n", kept)
  end)
end)
