#!/bin/sh
# kiln-cli.sh — the kiln CLI under valgrind memcheck, for `make check-valgrind`:
# tests/e2e/test_cli.py runs this script as $KILN.  Valgrind's report goes to
# a file of its own per run in $VG_LOG_DIR (so the CLI's own stderr, which the
# tests read, stays the CLI's), and an error makes the run exit 99, which no
# test expects; scripts/run-valgrind.sh also fails on any non-empty report.
exec valgrind $VG_FLAGS --log-file="$VG_LOG_DIR/kiln-cli.%p.vg" "$KILN_REAL" "$@"
