-- spec/regress/a-script-that-replaced-io-stderr-lost-its-error-and-its-exit-status_spec.lua
--
-- Broke: the command printed a script's uncaught error, and "interrupted by
-- SIGINT", through whatever the global io.stderr was when the run ended. A
-- script that set `io.stderr = nil` (a sandbox) got "corral.cli:399: attempt
-- to index a nil value (field 'stderr')" instead of its own error, and on
-- Ctrl-C exit status 1 instead of 130; one that pointed io.stderr at a log
-- file or at stdout had the error written there. lua writes its errors to
-- the process's standard error whatever the script did to io.stderr; the
-- command now keeps the standard error file (and its write) from load time.
local support = require "support"
local converse = require "converse"

describe("regression: a script that replaced io.stderr", function()
  it("still has its uncaught error printed, to standard error", function()
    local code, text = support.command_stderr([[
io.stderr = nil
error("the real failure")
]])
    assert.equal(1, code)
    assert.matches("^corral: [^\n]*: the real failure\nstack traceback:", text)
    assert.is_nil(text:find("corral.cli", 1, true))
  end)

  it("still has an ErrorGroup printed, also with the file's write removed", function()
    local code, text = support.command_stderr([[
local corral = require "corral"
local write = io.stderr.write
getmetatable(io.stderr).__index.write = nil
io.stderr = { write = function() error("not this one") end }
corral.group(function(g) g:spawn({ function() error("disk full", 0) end, name = "writer" }) end)
]])
    assert.equal(1, code)
    assert.matches("[writer] disk full", text, 1, true)
    assert.is_nil(text:find("not this one", 1, true))
  end)

  it("does not write the error where the script pointed io.stderr", function()
    local code, text = support.command_stderr([[
io.stderr = io.stdout
error("on stderr", 0)
]])
    assert.equal(1, code)
    assert.matches("^corral: on stderr\n", text)
  end)

  it("still exits 130 on Ctrl-C, saying so", function()
    local r = converse.run({ converse.BIN, converse.tmpfile([[
      local corral = require "corral"
      io.stdout:setvbuf("no")
      io.stderr = nil
      print("ready")
      corral.sleep(3600)
    ]]) }, { { expect = "ready", send = "SIGINT" } })
    assert.equal(130, r.code, r.stderr)
    assert.equal("corral: interrupted by SIGINT\n", r.stderr)
  end)
end)
