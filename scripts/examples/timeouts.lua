-- timeouts.lua: move_on_after, fail_after, and a shielded cleanup.
local corral = require "corral"
local function fetch(delay) corral.sleep(delay); return "page" end

print(corral.move_on_after(0.2, fetch, 0.1))       --> true  page
print(corral.move_on_after(0.2, fetch, 0.5))       --> false
print(corral.fail_after(0.2, fetch, 0.1))          --> page
local ok, err = pcall(corral.fail_after, 0.2, fetch, 0.5)
print(ok, corral.is_timeout(err), err)

local t0 = corral.now()
corral.move_on_after(0.1, function()
  local ok, err = pcall(fetch, 5)                  -- Cancelled after 0.1 s
  corral.scope(function()                          -- cleanup that must block
    corral.sleep(0.1)
    print(("cleanup done at +%.1fs after %s"):format(corral.now() - t0, err))
  end, {shield = true})
  error(err, 0)                                    -- let move_on_after absorb it
end)
