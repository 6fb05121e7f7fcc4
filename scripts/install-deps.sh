#!/bin/sh
# install-deps.sh — installs the Debian packages kiln builds, runs and tests
# with, and nothing else.  Idempotent: it asks apt only for what is missing,
# so a second run costs a dpkg query.  Needs root (or sudo) when something is
# missing; prints what it installs.
set -eu

PKGS="build-essential pkg-config
libmicrohttpd-dev libcjson-dev libsqlite3-dev libzip-dev libpng-dev zlib1g-dev libssl-dev
libexpat1-dev libxlsxwriter-dev
libjpeg62-turbo-dev libwebp-dev
libcurl4-openssl-dev python3-prometheus-client
libcmocka-dev python3 python3-pytest sqlite3 curl unzip"
# operations: sd_notify, and systemd-analyze to verify the unit
PKGS="$PKGS libsystemd-dev systemd"
# the .xlsx reader's fast path: whole-part inflating and CRC-32
PKGS="$PKGS libdeflate-dev"
# an argument adds what one target needs on top:
#   deb       what builds and checks the Debian package (make deb, check-package)
#   fuzz      clang and its runtime (libFuzzer and the sanitizers live in
#             libclang-rt-14-dev), for make fuzz
#   valgrind  valgrind, for make check-valgrind and the massif profile
case "${1:-}" in
deb) PKGS="$PKGS debhelper dpkg-dev lintian fakeroot man-db" ;;
fuzz) PKGS="$PKGS clang libclang-rt-14-dev" ;;
valgrind) PKGS="$PKGS valgrind" ;;
esac
# tests: groff checks the kiln(1) man page, jsonschema the answers against
# the OpenAPI document
PKGS="$PKGS groff-base python3-jsonschema"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-deps: done"
