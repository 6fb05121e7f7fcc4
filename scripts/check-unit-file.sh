#!/bin/sh
# check-unit-file.sh — `systemd-analyze verify` of packaging/kilnd.service,
# with ExecStart pointed at the binary just built (verify checks that the
# program exists) and without the man page lookup (the pages are not
# installed in a build tree).  Works without systemd as PID 1.
set -eu
kilnd=$1
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s#^ExecStart=/usr/sbin/kilnd#ExecStart=$kilnd#" packaging/kilnd.service > "$tmp/kilnd.service"
out=$(systemd-analyze verify --man=no "$tmp/kilnd.service" 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then
	echo "$out"
	echo "unit: systemd-analyze verify printed warnings"
	exit 1
fi
echo "unit: systemd-analyze verify clean"
