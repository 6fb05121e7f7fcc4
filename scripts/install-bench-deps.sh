#!/bin/sh
# install-bench-deps.sh — installs the Debian packages only `make bench`
# needs: the Python readers kiln's workbook readers are measured against
# (openpyxl, xlrd) and the writers that make the benchmark's .xlsx and .xls
# fixtures (openpyxl, xlwt).  Same rules as install-deps.sh: it asks apt only
# for what is missing, so a second run costs a dpkg query; needs root (or
# sudo) when something is missing; prints what it installs.
set -eu

PKGS="python3 python3-openpyxl python3-xlrd python3-xlwt"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "install-bench-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-bench-deps: done"
