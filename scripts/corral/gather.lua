-- corral/gather.lua: run functions concurrently and collect their results.
--
--   local gather = require "corral.gather"
--   local r = gather({fetch_a, fetch_b}, {limit = 1})   --> {{n = 1, "a"}, {n = 1, "b"}}
--
-- gather(fns [, opts]) calls every fns[i]() in its own task ("gather[i]") and
-- returns, in input order, table.pack(results...) of each. opts:
--   limit        at most this many run at once (never exceeded, even while a
--                failure cancels the rest: those not started never run)
--   defer_errors as for corral.group: a failure cancels nothing, and all the
--                failures are raised together at the end
--   settle       never raise for a failure: entry i is {ok = true, n = k, ...}
--                or {ok = false, err = e, traceback = t}; a Cancelled from
--                outside still propagates and is never an entry
--   name         the group's name and the prefix of the tasks' names

-- The standard functions as they are now: a program that removes or
-- replaces a global later (a sandbox's `debug = nil`) does not break corral.
-- (The functions themselves: see corral/_util.lua.)
local require = require
local pack = table.pack
local corral = require "corral"
local util = require "corral._util"
util.own_source()                 -- (its frames end a branch's traceback)

local OPTIONS = {
  limit = util.is.integer_ge(1, true),
  defer_errors = util.is.type("boolean"),
  settle = util.is.type("boolean"),
  name = util.is.name,
}

local function gather(fns, opts, ...)
  util.no_more_args("gather", 3, ...)
  fns = util.functions("gather", 1, fns, true)   -- a copy
  opts = util.options("gather", 2, opts, OPTIONS, { name = "gather" })
  util.need_run("gather")
  local call
  if opts.settle then
    call = function(i) return util.branch_outcome(fns[i]) end
  else
    call = function(i) return pack(corral._call(fns[i])) end
  end
  return util.run_all(#fns, call, opts)
end

return gather
