-- spec/regress/a-second-ctrl-c-was-taken-for-the-first-while-its-waiter-computed_spec.lua
--
-- Broke (between two commits of one session): a burst of stop signals lasted
-- until every waiter the first one woke had run. Two tasks wait for SIGINT: A,
-- which computes when woken, and the root, which stops the group when woken.
-- A second Ctrl-C while A computed (the root still queued behind it) was taken
-- for part of the first and dropped, where rule 2 says the second Ctrl-C while
-- the first is being handled cancels the root. The burst now ends once the
-- first waiter it woke has run: the program has begun to answer it.

local converse = require "converse"

local SCRIPT = [[
local corral = require "corral"
io.stdout:setvbuf("no")
corral.group(function(g)
  g:spawn(function()
    corral.signal("SIGINT")
    print("computing")
    while true do end
  end)
  corral.checkpoint()                  -- A waits first
  print("ready")
  corral.signal("SIGINT")
  print("stopping gracefully")
  g:stop(3600)
end)
print("stopped: the second Ctrl-C was lost")
]]

describe("a second Ctrl-C while the first one's waiter computes", function()
  it("cancels the root (the command exits 130), not part of the first", function()
    local r = converse.corral(SCRIPT, {
      { expect = "ready", send = "SIGINT" },
      { expect = "computing", send = "SIGINT" },
    })
    assert.equal(2, r.reached, r.stdout .. r.stderr)
    assert.equal(130, r.code, r.stdout .. r.stderr)
    assert.matches("interrupted by SIGINT", r.stderr)
    assert.not_matches("lost", r.stdout)
  end)
end)
