#!/bin/sh
# Removes what `make install` installed, as listed in CMake's install manifest
# (one absolute path per line, without DESTDIR: give the same DESTDIR as to
# make install).
#   tools/uninstall.sh build-release/install_manifest.txt
# Then removes the directories corral alone owns (<luadir>/corral) once empty,
# and, when DESTDIR is set (a staging tree), every directory left empty in it.
set -eu
manifest=$1
if [ ! -f "$manifest" ]; then
  echo "uninstall: $manifest not found: nothing was installed from this tree" >&2
  exit 1
fi
n=0
while IFS= read -r f || [ -n "$f" ]; do
  [ -n "$f" ] || continue
  f=${DESTDIR:-}$f
  if [ -e "$f" ] || [ -L "$f" ]; then
    rm -f "$f"
    n=$((n + 1))
  fi
  case $f in
    */lua/5.4/corral/*) rmdir "$(dirname "$f")" 2>/dev/null || true ;;
  esac
done < "$manifest"
if [ -n "${DESTDIR:-}" ] && [ -d "$DESTDIR" ]; then
  find "$DESTDIR" -mindepth 1 -depth -type d -empty -exec rmdir {} \; 2>/dev/null || true
fi
echo "uninstall: removed $n files listed in $manifest"
