-- A C host's root given up on at a deadlock that cancelling could not end
-- left the locks its abandoned tasks held as they were: corral.run breaks
-- them (api.md: "A task the run abandons ... ended too: its locks break"),
-- but in a host the abandoned tasks stay anchored until the host closes,
-- and only then were their locks looked at. The next root's l:acquire
-- waited for ever on `corral.Lock(held by #3 of an earlier run)`, a second
-- deadlock. The host's check is spec/c/test-host-abandoned-locks.c (ctest
-- c/host-abandoned-locks), run here from the build beside the command.
local BIN = os.getenv("CORRAL_BIN") or "build/corral"
local TEST = BIN:gsub("[^/]*$", "") .. "spec/c/test-host-abandoned-locks"

describe("regression: a host's abandoned root left its locks held", function()
  it("the next root finds them broken", function()
    local p = assert(io.popen(TEST .. " 2>&1"))
    local out = p:read("a")
    local ok = p:close()
    assert.matches("test_abandoned_locks_break%s+ok", out)
    assert.is_true(ok, out)
  end)
end)
