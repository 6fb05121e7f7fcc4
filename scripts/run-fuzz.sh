#!/bin/sh
# run-fuzz.sh — runs the libFuzzer harnesses built by `make fuzz` (one per
# reader: build/fuzz/fuzz_<fmt>), each for FUZZ_SECONDS, FUZZ_PARALLEL at a
# time (default: the number of CPUs), and prints each one's final figures.
#
# Usage: sh scripts/run-fuzz.sh FMT...        (FMT: csv xls xlsx ods xlsx_diff)
#
# xlsx_diff (the .xlsx reader's fast scanner against expat) takes the seeds
# and dictionary of xlsx.
#
# Each harness works on build/fuzz/corpus/<fmt> (kept between runs; the
# first run starts it from tests/fuzz/seeds/<fmt> and
# tests/fuzz/regressions/<fmt>, which are read on every run too), uses
# tests/fuzz/<fmt>.dict, writes what it finds to build/fuzz/artifacts/<fmt>/
# and its log to build/fuzz/<fmt>.log.  FUZZ_SECONDS=0 replays the seeds and
# regressions once instead (a quick check).  Fails when any harness found a
# crash, a leak, a timeout or ran out of memory.
set -u
SECONDS_EACH=${FUZZ_SECONDS:-600}
PARALLEL=${FUZZ_PARALLEL:-$(nproc 2>/dev/null || echo 1)}
OUT=build/fuzz

run_one() {
	fmt=$1
	base=${fmt%_diff}
	mkdir -p "$OUT/corpus/$fmt" "$OUT/artifacts/$fmt" "tests/fuzz/regressions/$fmt"
	if [ "$SECONDS_EACH" -eq 0 ]; then
		set -- "$OUT/fuzz_$fmt" -rss_limit_mb=2048 -timeout=10 \
			-artifact_prefix="$OUT/artifacts/$fmt/" \
			$(find "tests/fuzz/seeds/$base" "tests/fuzz/regressions/$fmt" -type f)
	else
		set -- "$OUT/fuzz_$fmt" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 \
			-timeout=10 -print_final_stats=1 -dict="tests/fuzz/$base.dict" \
			-artifact_prefix="$OUT/artifacts/$fmt/" \
			"$OUT/corpus/$fmt" "tests/fuzz/seeds/$base" "tests/fuzz/regressions/$fmt"
	fi
	echo "fuzz: $*" > "$OUT/$fmt.log"
	"$@" >> "$OUT/$fmt.log" 2>&1
	echo $? > "$OUT/$fmt.rc"
}

[ $# -gt 0 ] || set -- csv xls xlsx ods xlsx_diff
mkdir -p "$OUT"
running=0
for fmt in "$@"; do
	echo "fuzz: $fmt for ${SECONDS_EACH}s (log: $OUT/$fmt.log)"
	run_one "$fmt" &
	running=$((running + 1))
	if [ "$running" -ge "$PARALLEL" ]; then
		wait
		running=0
	fi
done
wait

status=0
for fmt in "$@"; do
	rc=$(cat "$OUT/$fmt.rc" 2>/dev/null || echo 1)
	if [ "$SECONDS_EACH" -eq 0 ]; then
		echo "fuzz $fmt: $(grep -c '^Executed ' "$OUT/$fmt.log") inputs replayed, exit $rc"
	else
		echo "fuzz $fmt: $(grep -E '^#[0-9]+' "$OUT/$fmt.log" | tail -n 1)"
		grep -E '^(Done [0-9]+ runs|stat::number_of_executed_units|stat::average_exec_per_sec)' \
			"$OUT/$fmt.log" | sed "s/^/fuzz $fmt: /"
	fi
	if [ "$rc" -ne 0 ]; then
		echo "fuzz $fmt: FAILED (exit $rc): see $OUT/$fmt.log and $OUT/artifacts/$fmt/"
		status=1
	fi
done
exit "$status"
