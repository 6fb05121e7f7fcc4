#!/bin/sh
# install-openapi-deps.sh — what `make check-openapi` needs: Node.js and npm
# (Debian's packages, installed through apt only when `node` or `npm` is
# missing) and the validator pinned in tests/openapi/package-lock.json
# (@apidevtools/swagger-parser), installed by `npm ci` into
# tests/openapi/node_modules only when that lock changed since the last
# install.  Idempotent; prints what it installs.
set -eu
cd "$(dirname "$0")/../tests/openapi"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "install-openapi-deps: installing nodejs npm"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

# npm ci leaves its own copy of the lock in node_modules; equal means done
if [ -f node_modules/.package-lock.json ] &&
   [ -d node_modules/@apidevtools/swagger-parser ] &&
   [ node_modules/.package-lock.json -nt package-lock.json ]; then
	exit 0
fi
echo "install-openapi-deps: npm ci in tests/openapi"
npm ci --no-audit --no-fund --loglevel=error >/dev/null
