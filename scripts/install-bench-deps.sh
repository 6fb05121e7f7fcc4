#!/bin/sh
# install-bench-deps.sh — installs the Debian packages only `make bench`
# needs: the Python readers kiln's workbook readers are measured against
# (openpyxl, xlrd) and the writers that make the benchmark's .xlsx and .xls
# fixtures (openpyxl, xlwt); wrk, the HTTP load generator, and nginx-light,
# the static-file reference of the load section (bench/load.py starts its own
# nginx on a free port; the system service is kept from starting while it is
# installed, through a policy-rc.d that exists only during apt-get install).
# Same rules as install-deps.sh: it asks apt only
# for what is missing, so a second run costs a dpkg query; needs root (or
# sudo) when something is missing; prints what it installs.
set -eu

PKGS="python3 python3-openpyxl python3-xlrd python3-xlwt wrk nginx-light"

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
# no service started by a package's postinst (nginx): only while installing
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	policy=/usr/sbin/policy-rc.d
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
	$SUDO chmod 755 "$policy"
fi
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
	[ -z "$policy" ] || $SUDO rm -f "$policy"
	exit 1
}
[ -z "$policy" ] || $SUDO rm -f "$policy"
echo "install-bench-deps: done"
