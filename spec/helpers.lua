-- spec/helpers.lua: preloaded by busted (--helper). Keep it small: shared test
-- code lives in spec/support.lua, which specs load with `require "support"`.

-- Let `require "support"` work even when busted was not given --lpath=spec/?.lua.
local dir = debug.getinfo(1, "S").source:match("^@(.*)[/\\][^/\\]*$") or "spec"
package.path = dir .. "/?.lua;" .. package.path
