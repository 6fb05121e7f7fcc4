#!/bin/sh
# check-package.sh — the Debian package, end to end, on this machine (as
# root; `make check-package` builds the .deb first): lintian with no error
# and no warning left unexplained (explained ones are overridden, with the
# reason, in packaging/debian/kiln.lintian-overrides); dpkg -i makes the
# kiln user, /etc/kiln/kilnd.conf (a conffile), /var/lib/kiln (kiln, 0700),
# the unit (verified) and the man pages; kilnd runs as the kiln user with
# the packaged config (setpriv; systemd need not be PID 1), answers
# /healthz and exits 0 on SIGTERM;
# dpkg -r keeps the config, the state and the user; dpkg -P removes them.
# Whatever happens, the package is purged again at the end.
set -eu
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "check-package: run as root (it installs the package)"; exit 1; }
version=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
deb=$PWD/build/deb/kiln_${version}_$(dpkg --print-architecture).deb
log=$PWD/build/deb/kilnd.log
pid=""
fail() { echo "check-package: FAILED: $*"; exit 1; }
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
	fi
	if dpkg -s kiln >/dev/null 2>&1; then
		dpkg -P kiln >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT

echo "== lintian $deb"
lintian --fail-on error,warning "$deb" || fail "lintian"

if dpkg -s kiln >/dev/null 2>&1; then
	echo "== an earlier kiln is installed; purging it first"
	dpkg -P kiln >/dev/null
fi

echo "== dpkg -i"
dpkg -i "$deb" >/dev/null
getent passwd kiln >/dev/null || fail "no kiln user"
getent group kiln >/dev/null || fail "no kiln group"
[ -x /usr/sbin/kilnd ] || fail "no /usr/sbin/kilnd"
[ -x /usr/bin/kiln ] || fail "no /usr/bin/kiln"
[ -f /etc/kiln/kilnd.conf ] || fail "no /etc/kiln/kilnd.conf"
dpkg-query -W -f='${Conffiles}\n' kiln | grep -q '/etc/kiln/kilnd.conf' || fail "kilnd.conf is not a conffile"
grep -q '^data_dir = /var/lib/kiln$' /etc/kiln/kilnd.conf || fail "data_dir is not /var/lib/kiln"
[ "$(stat -c %U:%G:%a /var/lib/kiln)" = "kiln:kiln:700" ] || fail "/var/lib/kiln: $(stat -c %U:%G:%a /var/lib/kiln)"
[ -f /lib/systemd/system/kilnd.service ] || fail "no unit"
systemd-analyze verify /lib/systemd/system/kilnd.service || fail "systemd-analyze verify"
man -w kilnd >/dev/null && man -w kilnd.conf >/dev/null && man -w kiln >/dev/null || fail "man pages"
echo "== the unit's security exposure (systemd-analyze security --offline)"
systemd-analyze security --offline=yes /lib/systemd/system/kilnd.service | tail -1

echo "== kilnd as the kiln user with /etc/kiln/kilnd.conf"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
setpriv --reuid=kiln --regid=kiln --init-groups /usr/sbin/kilnd --config /etc/kiln/kilnd.conf --listen "127.0.0.1:$port" >"$log" 2>&1 &
pid=$!
i=0
until curl -sf "http://127.0.0.1:$port/healthz" >"$log.healthz" 2>/dev/null; do
	i=$((i + 1))
	[ "$i" -lt 200 ] || { cat "$log"; fail "no /healthz answer"; }
	kill -0 "$pid" 2>/dev/null || { cat "$log"; fail "kilnd exited"; }
	sleep 0.1
done
grep -q '"status": *"ok"' "$log.healthz" || fail "/healthz: $(cat "$log.healthz")"
[ "$(stat -c %U /var/lib/kiln/kiln.db)" = "kiln" ] || fail "kiln.db is not the kiln user's"
[ "$(stat -c %U:%a /var/lib/kiln/admin.token)" = "kiln:600" ] || fail "admin.token"
kill -TERM "$pid"
wait "$pid" || fail "kilnd did not exit 0 on SIGTERM"
pid=""
echo "healthz: $(cat "$log.healthz")"

echo "== dpkg -i again (an upgrade): the edited conffile and the store stay"
echo "# edited by check-package" >> /etc/kiln/kilnd.conf
dpkg -i --force-confold "$deb" >/dev/null
grep -q '^# edited by check-package$' /etc/kiln/kilnd.conf || fail "reinstall replaced the edited conffile"
[ -f /var/lib/kiln/kiln.db ] || fail "reinstall lost the store"

echo "== dpkg -r: the config, the state and the user stay"
dpkg -r kiln >/dev/null
[ ! -e /usr/sbin/kilnd ] || fail "kilnd left after remove"
[ -f /etc/kiln/kilnd.conf ] || fail "remove deleted the conffile"
[ -f /var/lib/kiln/kiln.db ] || fail "remove deleted the store"
getent passwd kiln >/dev/null || fail "remove deleted the user"

echo "== dpkg -P: everything goes"
dpkg -P kiln >/dev/null
[ ! -e /etc/kiln ] || fail "/etc/kiln left after purge"
[ ! -e /var/lib/kiln ] || fail "/var/lib/kiln left after purge"
! getent passwd kiln >/dev/null || fail "the kiln user left after purge"
! getent group kiln >/dev/null || fail "the kiln group left after purge"
[ ! -e /lib/systemd/system/kilnd.service ] || fail "unit left after purge"
echo "package: ok"
