#!/bin/sh
# Install into a DESTDIR, then build the example host against that copy
# with nothing but `pkg-config --cflags --libs corral`, and run it.
#   install.sh CC SRC BUILD [SANITIZER_FLAGS]
set -eu
cc=$1 src=$2 build=$3 san=${4:-}
dest=$build/Xtest_tmp/host_install
rm -rf "$dest"
DESTDIR=$dest cmake --install "$build" --prefix /usr/local >/dev/null
pc=$(dirname "$(find "$dest" -name corral.pc | head -n 1)")
export PKG_CONFIG_PATH="$pc"
flags=$(pkg-config --cflags --libs corral)
echo "pkg-config --cflags --libs corral: $flags"
# shellcheck disable=SC2086
"$cc" $san -std=c11 -Wall -Wextra -Werror -o "$dest/hashhost" "$src/examples/host/hashhost.c" $flags
libdir=$(pkg-config --variable=libdir corral)
LD_LIBRARY_PATH="$libdir" "$dest/hashhost" --time-limit 10 "$src/examples/host/hash.lua"
echo "installed host: ok"
# The command finds its installed modules beside itself, wherever the
# tree was installed or moved (here: under DESTDIR, not the prefix it was
# configured with), with no LUA_PATH.
env -u LUA_PATH -u LUA_PATH_5_4 -u LUA_CPATH -u LUA_CPATH_5_4 \
  "$dest/usr/local/bin/corral" -e 'assert(require("corral.race")); assert(require("corral.supervisor"))'
echo "installed command finds its modules: ok"
rm -rf "$dest"
