#!/bin/sh
# install-fuzz-deps.sh — installs the Debian packages only `make fuzz` needs
# on top of install-deps.sh: clang and its runtime libraries (libFuzzer and
# the sanitizers live in libclang-rt-14-dev).  Same rules as install-deps.sh:
# it asks apt only for what is missing, so a second run costs a dpkg query;
# needs root (or sudo) when something is missing; prints what it installs.
set -eu

PKGS="clang libclang-rt-14-dev"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "install-fuzz-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-fuzz-deps: done"
