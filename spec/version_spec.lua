-- spec/version_spec.lua: one version, said the same way everywhere a user
-- can read it: corral._VERSION (CR_VERSION in engine/corral.h), CMake's
-- project version (corral --version, corral.pc), the rockspec, the man page,
-- the newest entry of CHANGELOG.md and the README's Status section.
local corral = require "corral"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function ls(pattern)
  local p = assert(io.popen("ls " .. pattern .. " 2>/dev/null"))
  local files = {}
  for name in p:lines() do files[#files + 1] = name end
  p:close()
  return files
end

describe("the version", function()
  local v = corral._VERSION

  it("is a semantic version in corral._VERSION and engine/corral.h", function()
    assert.matches("^%d+%.%d+%.%d+$", v)
    assert.equal(v, read("engine/corral.h"):match('#define CR_VERSION "([^"]+)"'))
  end)

  it("is CMake's project version", function()
    assert.equal(v, read("CMakeLists.txt"):match("project%(corral VERSION ([%d.]+)"))
  end)

  it("is what corral --version prints", function()
    local bin = assert(os.getenv("CORRAL_BIN"), "CORRAL_BIN is set by ctest")
    local p = assert(io.popen("'" .. bin .. "' --version"))
    local out = p:read("a")
    p:close()
    assert.equal(v, out:match("^corral (%S+) %("))
  end)

  it("is the rockspec's, in its name and its version field", function()
    local rockspecs = ls("*.rockspec")
    assert.equal(1, #rockspecs)
    assert.equal("corral-" .. v .. "-1.rockspec", rockspecs[1])
    local spec = {}
    assert(load(read(rockspecs[1]), "rockspec", "t", spec))()
    assert.equal("corral", spec.package)
    assert.equal(v .. "-1", spec.version)
    assert.equal("MIT", spec.description.license)
  end)

  it("heads CHANGELOG.md and the man page", function()
    assert.equal(v, read("CHANGELOG.md"):match("\n## (%S+)"))
    assert.equal(v, read("docs/corral.1"):match('\n%.TH CORRAL 1 "[^"]*" "corral ([^"]+)"'))
  end)

  it("is the one the README's Status section gives", function()
    local status = read("README.md"):match("\n## Status\n(.-)\n## ") or
      read("README.md"):match("\n## Status\n(.*)$")
    assert.truthy(status)
    for said in status:gmatch("[Vv]ersion (%d+%.%d+%.%d+)") do
      assert.equal(v, said)
    end
    assert.truthy(status:find("Version " .. v, 1, true))
  end)

  it("is under the MIT license the rockspec names", function()
    local license = read("LICENSE")
    assert.truthy(license:find("MIT License", 1, true))
    assert.truthy(license:find("the corral authors", 1, true))
  end)
end)
