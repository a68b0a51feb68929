local corral = require "corral"
local testing = require "corral.testing"

describe("the leak check", function()
  it("fails a test that leaves a stream open", function()
    local ok, err = pcall(testing.run, function()
      local client, server = testing.stream_pair()
      client:write("hello")
      client:close()                      -- server is never closed
    end)
    assert.is_false(ok)
    assert.matches("testing.run: leaked 1 stream", err, 1, true)
  end)

  it("fails a test that leaves a listener open", function()
    local ok, err = pcall(testing.run, function()
      return corral.tcp.listen("127.0.0.1", 0)
    end)
    assert.is_false(ok)
    assert.matches("testing.run: leaked 1 handle", err, 1, true)
  end)

  it("passes once everything is closed, <close> included", testing.async(function()
    local listener <close> = corral.tcp.listen("127.0.0.1", 0)
    local client, server = testing.stream_pair()
    local _ <close> = client
    local _ <close> = server
  end))
end)
