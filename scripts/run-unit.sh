#!/bin/sh
# run-unit.sh — runs each cmocka test binary given, prints their summaries,
# and ends with one line "N passed, N failed" over all of them.
set -u
pass=0; fail=0
for t in "$@"; do
	if "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $t"; fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
