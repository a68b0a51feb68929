-- A group's cancel put a "cancelled" mark, and a cancel arrow, on every
-- task below it, a task inside a shielded scope too, which the cancel did
-- not reach: it slept its full time and ended "done", while its track said
-- it was cancelled at 1 s. Only the tasks a cancel reaches are marked.
local corral = require "corral"
local json = require "dkjson"

describe("regression: the trace marked a shielded task cancelled", function()
  it("marks only the tasks the cancel reached", function()
    local path = os.tmpname()
    corral.run(function()
      corral.group(function(g)
        g:spawn({ function()
          corral.scope(function() corral.sleep(10) end, { shield = true })
        end, name = "shielded" })
        g:spawn({ function() corral.sleep(10) end, name = "plain" })
        corral.sleep(1)
        g:cancel("stop")
      end)
    end, { clock = "virtual", trace = path })
    local f = assert(io.open(path))
    local trace = assert(json.decode(f:read("a")))
    f:close()
    os.remove(path)
    local names, marked = {}, {}
    for _, e in ipairs(trace.traceEvents) do
      if e.ph == "M" and e.name == "thread_name" then names[e.tid] = e.args.name:match("^(.-) #") end
    end
    for _, e in ipairs(trace.traceEvents) do
      if e.cat == "cancelled" or (e.cat == "flow" and e.name == "cancel" and e.ph == "f") then
        marked[names[e.tid]] = true
      end
    end
    assert.is_true(marked.plain)
    assert.is_nil(marked.shielded)
  end)
end)
