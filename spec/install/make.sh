#!/bin/sh
# `make install` from a fresh copy of the checkout into a DESTDIR, with a
# PREFIX: the command, the module, the Lua files, the headers, the libraries,
# corral.pc and the man page ship; the command's package.path has the
# prefix's Lua directory; a C host builds against the copy with
# nothing but pkg-config; `make uninstall` then leaves nothing.
#   make.sh SRC BUILD
set -eu
src=$1 build=$2
tmp=$build/Xtest_tmp/make_install
rm -rf "$tmp"
mkdir -p "$tmp/src"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  git -C "$src" ls-files -z --cached --others --exclude-standard |
    (cd "$src" && xargs -0 tar cf - --no-recursion) | tar xf - -C "$tmp/src"
else
  tar cf - -C "$src" --exclude='./build*' . | tar xf - -C "$tmp/src"
fi
cd "$tmp/src"
# make install never installs packages: no deps step in its recipe.
if make -n install PREFIX=/opt/corral | grep -q 'deps'; then
  echo "make install would run tools/deps.sh"; exit 1
fi
dest=$tmp/dest
make install DESTDIR="$dest" PREFIX=/opt/corral JOBS=1 >"$tmp/install.log" 2>&1 || {
  cat "$tmp/install.log"; echo "make install failed"; exit 1; }
grep -q 'CMAKE_BUILD_TYPE:STRING=Release' build-release/CMakeCache.txt
grep -q 'CORRAL_WERROR:BOOL=OFF' build-release/CMakeCache.txt
grep -q 'CORRAL_TESTS:BOOL=OFF' build-release/CMakeCache.txt
p=$dest/opt/corral
for f in bin/corral lib/lua/5.4/corral.so share/lua/5.4/corral/supervisor.lua \
         share/lua/5.4/corral/testing.lua include/corral.h include/corral_lua.h \
         share/man/man1/corral.1; do
  [ -f "$p/$f" ] || { echo "missing: $f"; find "$dest"; exit 1; }
done
pc=$(find "$dest" -name corral.pc)
lib=$(dirname "$(dirname "$pc")")
ls "$lib"/libcorral.so "$lib"/libcorral.a >/dev/null
version=$(sed -n 's/^#define CR_VERSION "\(.*\)"$/\1/p' engine/corral.h)
"$p/bin/corral" --version | grep -q "^corral $version "
# the command finds the policies it installed, whatever the prefix: no
# LUA_PATH; beside itself (here, under DESTDIR), else the configured dir
env -u LUA_PATH -u LUA_PATH_5_4 "$p/bin/corral" -e 'print(package.path)' |
  grep -qF -e "$p/bin/../share/lua/5.4/?.lua" -e '/opt/corral/share/lua/5.4/?.lua' || {
  echo "the installed command's package.path lacks its share/lua/5.4"; exit 1; }
env -u LUA_PATH -u LUA_PATH_5_4 "$p/bin/corral" -e 'assert(require("corral.supervisor"))'
out=$(LUA_CPATH="$p/lib/lua/5.4/?.so" LUA_PATH="$p/share/lua/5.4/?.lua" lua5.4 -e \
  'print(require("corral")._VERSION, require("corral.supervisor") ~= nil)')
[ "$out" = "$version	true" ] || { echo "lua5.4 printed: $out"; exit 1; }
PKG_CONFIG_PATH=$(dirname "$pc") && export PKG_CONFIG_PATH
cc -std=c11 -Wall -o "$tmp/hashhost" examples/host/hashhost.c \
  $(pkg-config --cflags --libs corral)
LD_LIBRARY_PATH=$lib "$tmp/hashhost" --time-limit 10 examples/host/hash.lua >/dev/null
if command -v man >/dev/null 2>&1; then
  man -l "$p/share/man/man1/corral.1" 2>/dev/null | grep -q 'EXIT STATUS'
fi
n=$(find "$dest" -type f | wc -l)
make uninstall DESTDIR="$dest" PREFIX=/opt/corral
left=$(find "$dest" -mindepth 1 | wc -l)
[ "$left" -eq 0 ] || { echo "left after make uninstall:"; find "$dest"; exit 1; }
# A second install elsewhere from the same checkout: the command is rebuilt
# for the new prefix (it kept the first one's modules directory).
make install DESTDIR="$dest" PREFIX=/opt/corral2 JOBS=1 >"$tmp/install2.log" 2>&1 || {
  cat "$tmp/install2.log"; echo "second make install failed"; exit 1; }
env -u LUA_PATH -u LUA_PATH_5_4 "$dest/opt/corral2/bin/corral" -e 'print(package.path)' |
  grep -qF -e "$dest/opt/corral2/bin/../share/lua/5.4/?.lua" \
    -e '/opt/corral2/share/lua/5.4/?.lua' || {
  echo "a second install's command looks under the first prefix"; exit 1; }
make uninstall DESTDIR="$dest" PREFIX=/opt/corral2
left=$(find "$dest" -mindepth 1 -type f | wc -l)
[ "$left" -eq 0 ] || { echo "left after the second make uninstall:"; find "$dest"; exit 1; }
# A build tree configured for /usr (Debian's multiarch libdir) and then for
# another prefix: corral.so goes to the new prefix's lib/lua/5.4, where
# lua5.4 and the README look, not under the first prefix's libdir (a cached
# default that did not follow CMAKE_INSTALL_LIBDIR).
cmake -S . -B "$tmp/cfg" -DCMAKE_INSTALL_PREFIX=/usr -DCORRAL_TESTS=OFF >/dev/null
cmake -S . -B "$tmp/cfg" -DCMAKE_INSTALL_PREFIX=/opt/corral3 >/dev/null
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$tmp/cfg/CMakeCache.txt")
grep -q "INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/$libdir/lua/5.4\" TYPE MODULE" \
  "$tmp/cfg/cmake_install.cmake" || {
  echo "reconfigured for /opt/corral3 (libdir $libdir), corral.so would go to:"
  grep 'TYPE MODULE' "$tmp/cfg/cmake_install.cmake"; exit 1; }
echo "make install: $n files under $dest; make uninstall: nothing left"
rm -rf "$tmp"
