-- corral/map.lua: apply a function to every item concurrently.
--
--   local map = require "corral.map"
--   local sizes = map(fetch_size, urls, {limit = 4})
--
-- map(fn, items [, opts]) calls fn(items[i]) in its own task ("map[i]") for each
-- item of the list and returns {fn(items[1]), ...} in input order (the first
-- result of each call). opts: limit, defer_errors and name, as for gather. A
-- failure raises the group's ErrorGroup.

-- The standard functions as they are now: a program that removes or
-- replaces a global later (a sandbox's `debug = nil`) does not break corral.
local require, type = require, type
local corral = require "corral"
local util = require "corral._util"
util.own_source()                 -- (its frames end a branch's traceback)

local OPTIONS = {
  limit = util.is.integer_ge(1, true),
  defer_errors = util.is.type("boolean"),
  name = util.is.name,
}

local function map(fn, items, opts, ...)
  util.no_more_args("map", 4, ...)
  if type(fn) ~= "function" then
    util.arg_error(1, "map", corral._function_expected(fn), 2)
  end
  items = util.list("map", 2, items, "items")   -- a copy
  opts = util.options("map", 3, opts, OPTIONS, { name = "map" })
  util.need_run("map")
  return util.run_all(#items, function(i) return (corral._call(fn, items[i])) end, opts)
end

return map
