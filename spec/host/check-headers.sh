#!/bin/sh
# The public headers compile under strict ISO C11 with every warning, with
# no feature macro, whether a system header came first or not.
#   check-headers.sh CC SRC BUILD
set -eu
cc=$1 src=$2 build=$3
dir=$build/Xtest_tmp/host_headers
mkdir -p "$dir"
flags="-std=c11 -Wall -Wextra -pedantic -Werror -fsyntax-only $(pkg-config --cflags libuv lua5.4) -I$src/engine -I$src/bindings"
for first in '' '#include <stdio.h>' '#include <pthread.h>' '#include <signal.h>'; do
  for h in corral.h corral_lua.h; do
    printf '%s\n#include "%s"\n#include "%s"\nint main(void) { return 0; }\n' \
      "$first" "$h" "$h" > "$dir/t.c"
    echo "cc $flags <<< ${first:-(nothing)} + $h"
    # shellcheck disable=SC2086
    "$cc" $flags "$dir/t.c"
  done
done
echo "headers: ok"
