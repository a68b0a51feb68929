-- Regression: the trace file of corral.run{trace = path} was opened without
-- close-on-exec, so every child process (corral.exec, io.popen,
-- os.execute) held it open, past the run if the child outlived it.
local corral = require "corral"

describe("regression: the trace file", function()
  it("is not inherited by a child process", function()
    local path = os.tmpname()
    local listing = corral.run(function()
      local p = corral.exec("/bin/sh", { "-c", "ls -l /proc/self/fd/" })
      local out = {}
      for line in p.stdout:lines() do out[#out + 1] = line end
      p:wait()
      return table.concat(out, "\n")
    end, { trace = path })
    os.remove(path)
    assert.truthy(listing:find("/proc/", 1, true) or listing:find("pipe:", 1, true),
                  "the child listed its descriptors:\n" .. listing)
    assert.is_nil(listing:find(path, 1, true), listing)
  end)
end)
