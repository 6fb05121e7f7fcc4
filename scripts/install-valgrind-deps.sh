#!/bin/sh
# install-valgrind-deps.sh — installs the Debian package only `make
# check-valgrind` and the memory benchmark's massif profile need on top of
# install-deps.sh: valgrind.  Same rules as install-deps.sh: it asks apt only
# for what is missing, so a second run costs a dpkg query; needs root (or
# sudo) when something is missing; prints what it installs.
set -eu

PKGS="valgrind"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "install-valgrind-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-valgrind-deps: done"
