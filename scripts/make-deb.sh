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
