#!/bin/sh
# run-valgrind.sh — `make check-valgrind`: the unit tests under valgrind
# memcheck, then the end-to-end tests with every kilnd started under valgrind
# (tests/e2e/conftest.py's KILND_WRAPPER: each start writes its own report,
# checked when the test ends) and the kiln CLI under valgrind too
# (a script written into BUILD_DIR/valgrind/), then the browser tests with
# every kilnd under valgrind (a script again: tests/browser starts $KILND).
# Run quietly (-q), valgrind writes only errors: definite leaks
# (--leak-check=full), invalid reads and writes, use of uninitialised
# values, bad frees.  Any of them fails the run (exit code 99
# of the program, a non-empty report).  Suppressions: tests/valgrind/kiln.supp.
# The harness's waits and the unit tests' time limits are scaled by
# KILN_TIMEOUT_FACTOR (default here 10): under valgrind code runs 5-50 times
# slower.
#   sh scripts/run-valgrind.sh BUILD_DIR [PYTEST_ARGS...]
# (PYTEST_ARGS: which e2e tests, e.g. tests/e2e/test_cli.py; VALGRIND_UNIT=0
# skips the unit tests, VALGRIND_BROWSER=0 the browser tests.)
set -u
build=$1; shift
top=$(cd "$(dirname "$0")/.." && pwd)
logs=${VG_LOGS:-"$top/$build/valgrind"}   # VG_LOGS: for two runs side by side
rm -rf "$logs"; mkdir -p "$logs"
VG_FLAGS="-q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite \
--errors-for-leak-kinds=definite --num-callers=30 --suppressions=$top/tests/valgrind/kiln.supp"
export KILN_TIMEOUT_FACTOR="${KILN_TIMEOUT_FACTOR:-10}"   # unit tests' time limits too
start=$(date +%s)
fail=0

# wrapper SCRIPT PROGRAM NAME: writes SCRIPT, which runs build/PROGRAM under valgrind with
# its report in NAME.<pid>.vg (exec: signals reach the program itself)
wrapper() {
	cat > "$1" <<EOT
#!/bin/sh
exec $(command -v valgrind) $VG_FLAGS --log-file="$logs/$3.%p.vg" "$top/$build/$2" "\$@"
EOT
	chmod +x "$1"
}

# reports NAME WHAT: every non-empty NAME.*.vg is a failure, shown
reports() {
	for f in "$logs/$1".*.vg; do
		[ -s "$f" ] || continue
		fail=$((fail + 1)); echo "FAILED: $2: $f"; cat "$f"
	done
}

echo "valgrind: unit tests"
[ "${VALGRIND_UNIT:-1}" = 0 ] && echo "  skipped (VALGRIND_UNIT=0)"
for t in "$top/$build"/tests/test_*; do
	[ "${VALGRIND_UNIT:-1}" = 0 ] && break
	case "$t" in *.d) continue ;; esac
	n=$(basename "$t")
	# shellcheck disable=SC2086
	if valgrind $VG_FLAGS --log-file="$logs/$n.vg" "$t" > "$logs/$n.out" 2>&1 && [ ! -s "$logs/$n.vg" ]; then
		echo "  $n: $(grep -h 'PASSED\|FAILED' "$logs/$n.out" | tr '\n' ' ')"
	else
		fail=$((fail + 1)); echo "FAILED: $n (valgrind: $logs/$n.vg, output: $logs/$n.out)"
		cat "$logs/$n.vg"
	fi
done
unit_end=$(date +%s)
echo "valgrind: unit tests took $((unit_end - start)) s"

echo "valgrind: end-to-end tests, kilnd and the kiln CLI under valgrind"
# the kiln CLI under valgrind: a script run as $KILN with everything written in it (test_cli.py
# runs the CLI with environments of its own); valgrind's report goes to a file per run, so
# the CLI's own stderr, which the tests read, stays the CLI's; an error exits 99, which no
# test expects, and any report fails this run below
wrapper "$logs/kiln" kiln kiln-cli
export KILN="$logs/kiln"
export KILND="$top/$build/kilnd" KILND_WRAPPER="valgrind $VG_FLAGS"
[ $# -gt 0 ] || set -- "$top/tests/e2e"
/usr/bin/python3 -m pytest -q -p no:cacheprovider "$@" || fail=$((fail + 1))
reports kiln-cli "the kiln CLI under valgrind"
e2e_end=$(date +%s)
echo "valgrind: end-to-end tests took $((e2e_end - unit_end)) s"

echo "valgrind: browser tests, every kilnd under valgrind"
# tests/browser starts $KILND itself: a script that execs kilnd under valgrind, so that
# SIGTERM reaches kilnd, and an error or a definite leak ends it with 99, which the
# harness reports as a failed test; each start also writes its own report
wrapper "$logs/kilnd" kilnd kilnd-browser
if [ "${VALGRIND_BROWSER:-1}" = 0 ]; then
	echo "  skipped (VALGRIND_BROWSER=0)"
else
	sh "$top/scripts/install-browser-deps.sh" >/dev/null
	(cd "$top" && KILND="$logs/kilnd" SCREENSHOTS="$logs/screenshots" node tests/browser/run.mjs) ||
		fail=$((fail + 1))
	reports kilnd-browser "kilnd under valgrind in the browser tests"
fi
end=$(date +%s)
echo "valgrind: browser tests took $((end - e2e_end)) s; all $((end - start)) s; $fail failure(s)"
[ "$fail" -eq 0 ]
