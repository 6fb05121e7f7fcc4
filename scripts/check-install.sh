#!/bin/sh
# check-install.sh — `make install` with PREFIX and DESTDIR into a temporary
# root: every file where it belongs, the unit's ExecStart and the config's
# data_dir rewritten, the installed binary runs, the sysusers.d entry makes
# the kiln user (systemd-sysusers --root), and a second install keeps an
# edited config.
set -eu
cd "$(dirname "$0")/.."
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
fail() { echo "check-install: FAILED: $*"; exit 1; }
make -s install DESTDIR="$root" PREFIX=/opt/kiln SYSCONFDIR=/opt/kiln/etc STATEDIR=/srv/kiln >/dev/null
for f in /opt/kiln/sbin/kilnd /opt/kiln/share/man/man8/kilnd.8 /opt/kiln/share/man/man5/kilnd.conf.5 \
	 /opt/kiln/bin/kiln /opt/kiln/share/man/man1/kiln.1 \
	 /opt/kiln/lib/systemd/system/kilnd.service /opt/kiln/lib/sysusers.d/kiln.conf \
	 /opt/kiln/etc/kiln/kilnd.conf; do
	[ -f "$root$f" ] || fail "$f not installed"
done
[ -x "$root/opt/kiln/sbin/kilnd" ] || fail "kilnd is not executable"
"$root/opt/kiln/bin/kiln" --help | grep -q 'kiln' || fail "the installed kiln CLI does not run"
"$root/opt/kiln/sbin/kilnd" --version | grep -q '^kilnd ' || fail "the installed kilnd does not run"
grep -q '^ExecStart=/opt/kiln/sbin/kilnd --config /opt/kiln/etc/kiln/kilnd.conf$' \
	"$root/opt/kiln/lib/systemd/system/kilnd.service" || fail "the unit's ExecStart"
grep -q '^data_dir = /srv/kiln$' "$root/opt/kiln/etc/kiln/kilnd.conf" || fail "the config's data_dir"
# the sysusers.d entry makes the kiln user the unit runs as (into the temporary root)
mkdir -p "$root/etc"
systemd-sysusers --root="$root" "$root/opt/kiln/lib/sysusers.d/kiln.conf" 2>/dev/null
grep -q '^kiln:x:[0-9]*:[0-9]*:[^:]*:/var/lib/kiln:' "$root/etc/passwd" || fail "sysusers.d: no kiln user"
echo "workers = 7" >> "$root/opt/kiln/etc/kiln/kilnd.conf"
make -s install DESTDIR="$root" PREFIX=/opt/kiln SYSCONFDIR=/opt/kiln/etc >/dev/null
grep -q '^workers = 7$' "$root/opt/kiln/etc/kiln/kilnd.conf" || fail "a second install replaced the config"
echo "install: ok (PREFIX and DESTDIR)"
