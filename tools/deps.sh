#!/bin/sh
# Installs the Debian packages corral needs to build and test.
#   tools/deps.sh [extra-package ...]      (make deps; make valgrind adds valgrind)
# Silent and quick when everything is there: no apt-get update then.
# Root installs directly, others through passwordless sudo; failing both, it
# prints the command to run and exits 1. Never prompts (CI has no stdin).
set -eu

pkgs="liblua5.4-dev libuv1-dev lua5.4 lua-busted luarocks cmake pkg-config gcc make $*"

if ! command -v dpkg >/dev/null 2>&1; then
  echo "deps: no dpkg here; install the equivalents of: $pkgs" >&2
  exit 0                        # let cmake say what is really missing
fi

missing=
for p in $pkgs; do
  # Exit status alone would count removed-but-not-purged packages.
  dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' ||
    missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo="sudo -n"
else
  echo "deps: missing$missing; not root and no passwordless sudo, so run:" >&2
  echo "  sudo apt-get install -y$missing" >&2
  exit 1
fi
echo "deps: installing$missing" >&2
# sudo drops the environment; pass DEBIAN_FRONTEND through explicitly.
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing </dev/null
