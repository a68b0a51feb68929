#!/bin/sh
# `luarocks make` in a fresh copy of the checkout installs corral into a
# temporary tree; a clean lua5.4 (no path but that tree's) then requires
# every module, and the installed command runs. Skipped (exit 77) when
# luarocks is not installed.
#   luarocks.sh SRC BUILD
set -eu
src=$1 build=$2
if ! command -v luarocks >/dev/null 2>&1; then
  echo "SKIP: luarocks is not installed (Debian: apt-get install luarocks)"
  exit 77
fi
tmp=$build/Xtest_tmp/luarocks
rm -rf "$tmp"
mkdir -p "$tmp/src"
# A fresh clone: the files git knows (tracked, or new and not ignored), so no
# build tree of the checkout comes along.
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  git -C "$src" ls-files -z --cached --others --exclude-standard |
    (cd "$src" && xargs -0 tar cf - --no-recursion) | tar xf - -C "$tmp/src"
else
  tar cf - -C "$src" --exclude='./build*' . | tar xf - -C "$tmp/src"
fi
cd "$tmp/src"
# No --lua-version: the checkout's .luarocks/ makes 5.4 the default.
luarocks make --tree "$tmp/tree" >"$tmp/make.log" 2>&1 || {
  cat "$tmp/make.log"; echo "luarocks make failed"; exit 1; }
tree=$tmp/tree
paths="LUA_PATH=$tree/share/lua/5.4/?.lua;$tree/share/lua/5.4/?/init.lua"
cpaths="LUA_CPATH=$tree/lib/lua/5.4/?.so"
cat >"$tmp/check.lua" <<'LUA'
local corral = require "corral"
for _, m in ipairs({"race", "gather", "map", "retry", "happy_eyeballs",
                    "supervisor", "testing", "trace_svg", "cli"}) do
  assert(require("corral." .. m), m)
end
local so = package.searchpath("corral", package.cpath)
assert(so and so:find(arg[1], 1, true), "corral.so not from the tree: " .. tostring(so))
print(corral._VERSION, corral.run(function()
  corral.sleep(10); return corral.now() end, {clock = "virtual"}))
LUA
out=$(env -i PATH=/usr/bin:/bin "$paths" "$cpaths" lua5.4 "$tmp/check.lua" "$tree")
echo "a clean lua5.4 required every module from the tree: $out"
version=$(sed -n 's/^#define CR_VERSION "\(.*\)"$/\1/p' "$src/engine/corral.h")
[ "$out" = "$version	10.0" ] || { echo "expected '$version	10.0'"; exit 1; }
# The command itself is self-contained; the policies come from the tree's
# paths, as `luarocks path` sets them.
"$tree/bin/corral" --version | grep -q "^corral $version " || {
  echo "corral --version does not say $version"; exit 1; }
cmd=$(env -i PATH=/usr/bin:/bin "$paths" "$tree/bin/corral" -e \
  'local race = require "corral.race"; print(race({function() return "won" end}))')
[ "$cmd" = "1	won" ] || { echo "the installed command printed: $cmd"; exit 1; }
echo "luarocks make: ok"
rm -rf "$tmp"
