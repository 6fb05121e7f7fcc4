#!/bin/sh
# make-deb.sh — builds the kiln .deb with dpkg-buildpackage.  The Debian
# packaging lives in packaging/debian/ (architecture.md: packaging/ holds
# it); dpkg-buildpackage wants it as ./debian, so this copies the tracked
# files of the repo (git ls-files: no build outputs, no local data) into
# build/deb/kiln-VERSION/, adds packaging/debian/ there as debian/, and
# builds the binary package, unsigned.  The .deb lands in build/deb/.
set -eu
cd "$(dirname "$0")/.."
version=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
# the package's version is kilnd's
grep -q "define KILN_VERSION \"$version\"" daemon/main.c ||
	{ echo "make-deb: packaging/debian/changelog says $version, daemon/main.c's KILN_VERSION differs"; exit 1; }
# every library the build needs (a -dev package of install-deps.sh; cmocka
# is only for the tests, dpkg-dev only for this, libclang-rt-14-dev only for
# make fuzz) is a Build-Depends
for p in $(grep -v '^ *#' scripts/install-deps.sh | grep -oE '[a-z0-9.+]+(-[a-z0-9.+]+)*-dev\b' | sort -u); do
	case $p in libcmocka-dev|dpkg-dev|libclang-rt-14-dev) continue ;; esac
	grep -q "^ *\(Build-Depends: \)\?$p\b" packaging/debian/control ||
		{ echo "make-deb: $p is in scripts/install-deps.sh but not in packaging/debian/control's Build-Depends"; exit 1; }
done
top=build/deb
tree=$top/kiln-$version
rm -rf "$top"
mkdir -p "$tree"
git ls-files -z | xargs -0 tar -cf - | tar -xf - -C "$tree"
cp -r packaging/debian "$tree/debian"
cd "$tree"
jobs=$(nproc 2>/dev/null || echo 2)
[ "$jobs" -gt 2 ] && jobs=2
dpkg-buildpackage -us -uc -b -j"$jobs" >../build.log 2>&1 || { tail -40 ../build.log; exit 1; }
cd ..
ls -1 "$PWD"/kiln_"$version"_*.deb
