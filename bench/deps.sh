#!/bin/sh
# Installs the Debian packages the benchmark peers need (make bench runs it).
#   bench/deps.sh
# Silent and quick when everything is there. Root installs directly, others
# through passwordless sudo; failing both, it prints the command and exits 1.
set -eu

pkgs="lua5.4 lua-cqueues lua-luv python3 python3-trio python3-anyio"

if ! command -v dpkg >/dev/null 2>&1; then
  echo "bench/deps: no dpkg here; install the equivalents of: $pkgs" >&2
  exit 1
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
  echo "bench/deps: missing$missing; not root and no passwordless sudo, so run:" >&2
  echo "  sudo apt-get install -y$missing" >&2
  exit 1
fi
echo "bench/deps: installing$missing" >&2
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >&2
# shellcheck disable=SC2086  # one word per package
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing </dev/null >&2
