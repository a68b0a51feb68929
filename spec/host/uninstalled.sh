#!/bin/sh
# Build the example host against this build tree, not installed, with
# nothing but `pkg-config --cflags --libs corral` and the build directory on
# PKG_CONFIG_PATH (build/corral-uninstalled.pc), and run it: no
# LD_LIBRARY_PATH, the library is found by its rpath.
#   uninstalled.sh CC SRC BUILD [SANITIZER_FLAGS]
set -eu
cc=$1 src=$2 build=$3 san=${4:-}
out=$build/Xtest_tmp/host_uninstalled
rm -rf "$out"
mkdir -p "$out"
export PKG_CONFIG_PATH="$build"
flags=$(pkg-config --cflags --libs corral)
echo "pkg-config --cflags --libs corral: $flags"
# shellcheck disable=SC2086
"$cc" $san -std=c11 -Wall -Wextra -Werror -o "$out/hashhost" "$src/examples/host/hashhost.c" $flags
env -u LD_LIBRARY_PATH "$out/hashhost" --time-limit 10 "$src/examples/host/hash.lua"
echo "host built against the build tree: ok"
rm -rf "$out"
