-- corral/race.lua: the first function to return wins.
--
--   local race = require "corral.race"
--   local i, page = race({fetch_a, fetch_b})
--
-- race(fns [, opts]) calls every fns[i]() in its own task and returns i and the
-- results of the first one to return. The others are cancelled and awaited before
-- race returns. A failure does not win: when every function fails, race raises an
-- ErrorGroup of the failures in order of failure, eg.tasks[k] naming the branch
-- ("race[i]", or "<opts.name>[i]"). A failure after another branch has won is
-- dropped. Cancelled from outside, race raises the Cancelled, unless a branch
-- failed while it was being cancelled (its cleanup raised): then the failures
-- are raised in an ErrorGroup (even if another branch won meanwhile), and the
-- Cancelled goes on at the next cancellation point.

-- The standard functions as they are now: a program that removes or
-- replaces a global later (a sandbox's `debug = nil`) does not break corral.
-- (The functions themselves, and no string methods: see corral/_util.lua.)
local error, require = error, require
local format, unpack = string.format, table.unpack
local corral = require "corral"
local util = require "corral._util"
util.own_source()                 -- (its frames end a branch's traceback)

local OPTIONS = { name = util.is.name }

local function race(fns, opts, ...)
  util.no_more_args("race", 3, ...)
  fns = util.functions("race", 1, fns)   -- a copy: see corral/_util.lua
  opts = util.options("race", 2, opts, OPTIONS, { name = "race" })
  util.need_run("race")
  local winner, failures = nil, util.failures()

  local function branch(g, i)
    local name = format("%s[%d]", opts.name, i)
    g:spawn({ function()
      local r = util.branch_outcome(fns[i])
      if not r.ok then
        if winner then return end        -- a loser's failure: dropped
        return util.add_branch_failure(failures, r.err, name, r.traceback)
      end
      if winner then return end          -- a later finisher is a loser
      winner = { i, unpack(r, 1, r.n) }
      winner.n = r.n + 1
      util.drop_failures(failures)       -- the losers' failures are dropped
      g:cancel(name .. " won")
    end, name = name })
  end

  util.group_keeping(failures, function(g)
    for i = 1, #fns do branch(g, i) end
  end, { name = opts.name })
  util.raise_kept(failures)              -- failed while cancelled: not dropped
  util.check_cancel()                    -- cancelled from outside meanwhile

  if winner then return unpack(winner, 1, winner.n) end
  if #failures.tasks > 0 then error(util.error_group(failures), 0) end
  error(opts.name .. ": no branch returned (every branch was cancelled)", 0)
end

return race
