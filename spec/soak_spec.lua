-- soak_spec.lua: the short soak. The long one is `make soak`
-- (tools/soak.lua 400 5000: two million tasks).
describe("soak", function()
  it("spawns and finishes 40,000 tasks in waves with flat memory and nothing left alive", function()
    local src = os.getenv("CORRAL_SRC") or "."
    local soak = assert(loadfile(src .. "/tools/soak.lua"))
    soak("20", "2000")
  end)
end)
