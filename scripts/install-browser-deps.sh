#!/bin/sh
# install-browser-deps.sh — what the browser tests (tests/browser/) need:
# Debian's chromium, node and npm (apt-get, only what is missing), then the
# npm packages pinned by tests/browser/package-lock.json (`npm ci`, only when
# node_modules does not already match the lock file).  Idempotent; needs root
# (or sudo) when a Debian package is missing.
set -eu
cd "$(dirname "$0")/.."

missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
# a font, so that the screenshots show text (chromium only recommends one)
dpkg-query -W -f='${Status}' fonts-dejavu-core 2>/dev/null | grep -q "install ok installed" ||
	missing="$missing fonts-dejavu-core"
if [ -n "$missing" ]; then
	echo "install-browser-deps: installing:$missing"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends $missing >/dev/null
fi

# npm ci again only when the lock file changed since the last install
cd tests/browser
stamp=node_modules/.kiln-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
	echo "install-browser-deps: npm ci in tests/browser"
	npm ci --no-audit --no-fund --loglevel=error
	echo "$want" > "$stamp"
fi
