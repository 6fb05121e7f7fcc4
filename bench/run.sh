#!/bin/sh
# run.sh — runs every benchmark and writes docs/PERFORMANCE.md with the
# figures, the machine they ran on, and the command that reproduces them
# (`make bench`).  Each measurement is side by side with its reference,
# taken in the same run.
#
#   sh bench/run.sh              everything (what `make bench` runs)
#   sh bench/run.sh workbooks    only the workbook section, replaced in place
#                                in docs/PERFORMANCE.md
#   sh bench/run.sh load         only the load section (wrk against kilnd and
#                                nginx while a batch runs)
#   sh bench/run.sh store        only the store-scale section (1M images; the
#                                data dir is cached in build/bench-store/)
#   sh bench/run.sh memory       only the resident memory section (kilnd's
#                                RSS over MEM_BATCHES 999-row batches, 100 by
#                                default), replaced or appended in place
set -eu
only=${1:-}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
sh scripts/install-bench-deps.sh    # openpyxl, xlrd, xlwt: the workbook references and fixtures
# never measure a stale build: kilnd, kiln and the bench programs, up to date
make -s all build/bench/bench_workbook build/bench/make_xlsx build/bench/bench_sheet build/bench/bench_loop
out=docs/PERFORMANCE.md
work=$(mktemp -d "${BENCH_DIR:-/tmp}/kiln-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
size=64
count=3996

# The workbook section: fixtures, every reader on every fixture, the table;
# writes $wb/full.md (the section, its heading included).
workbooks() {
	echo "bench: workbooks (.xlsx, .xls) beside openpyxl and xlrd"
	wb="$work/workbooks"
	mkdir -p "$wb"
	: > "$wb/results"
	# the fixtures are made here, not kept in the repository; then key, file, short name, description
	build/bench/make_xlsx "$wb/batch-999.xlsx" 999
	/usr/bin/python3 bench/make_workbooks.py xlsx "$wb/batch-999-openpyxl.xlsx" 999
	/usr/bin/python3 bench/make_workbooks.py xls "$wb/batch-999.xls" 999
	build/bench/make_xlsx "$wb/batch-9999.xlsx" 9999
	/usr/bin/python3 bench/make_workbooks.py xls "$wb/batch-9999.xls" 9999
	cat > "$wb/files" <<-EOT
	x999	batch-999.xlsx	999-row .xlsx (Excel's layout)	999 rows laid out as Excel saves them (shared strings)
	o999	batch-999-openpyxl.xlsx	999-row .xlsx (openpyxl's layout)	999 rows as openpyxl writes them (inline strings)
	b999	batch-999.xls	999-row .xls	999 rows, BIFF8 (xlwt)
	x9999	batch-9999.xlsx	9,999-row .xlsx	9,999 rows, Excel's layout
	b9999	batch-9999.xls	9,999-row .xls	9,999 rows, BIFF8
	EOT
	load=$(cut -d' ' -f1 /proc/loadavg)
	# one process per file and reader, so that each peak RSS is that reader's on that file
	while IFS='	' read -r key file short what; do
		f="$wb/$file"
		{
			build/bench/bench_workbook "$f"
			case "$file" in *.xlsx) /usr/bin/python3 bench/workbook_reference.py openpyxl "$f" ;; esac
			/usr/bin/python3 bench/workbook_reference.py xlrd "$f"
		} | sed "s/^/$key	$(wc -c < "$f")	/" >> "$wb/results"
	done < "$wb/files"
	sed 's/^/  /' "$wb/results"
	versions=$(/usr/bin/python3 -c 'import openpyxl, xlrd; print(openpyxl.__version__, xlrd.__VERSION__)')
	awk -F'\t' -v versions="$versions" -f bench/workbook_table.awk "$wb/files" "$wb/results" > "$wb/section.md"
	cat "$wb/section.md"
	load_end=$(cut -d' ' -f1 /proc/loadavg)
	cat > "$wb/full.md" <<EOT
## Workbooks: .xlsx and .xls beside openpyxl and xlrd

Run on its own with \`sh bench/run.sh workbooks\`, which builds what it
measures and replaces this section only; \`make bench\` runs it with the others.  Run:
$(date -u +%Y-%m-%dT%H:%MZ), kiln $(git rev-parse --short HEAD 2>/dev/null || echo unknown).

A batch of 999 rows (and one of 9,999, ten times the limit) with every
column, non-ASCII prompts each different, seeds and image counts as numbers,
made at bench time: \`bench/make_xlsx.c\` writes the .xlsx with
libxlsxwriter, laid out as Excel saves a workbook (text in the shared
strings); \`bench/make_workbooks.py\` writes the .xls with xlwt, and the
999 rows once more as an .xlsx laid out as openpyxl writes it (inline
strings).  kiln's figure is \`sheet_read()\` then \`sheet_validate()\` on
the file's bytes (\`bench/bench_workbook.c\`): the typed rows, every rule
checked.  The references read the same bytes and validate nothing
(\`bench/workbook_reference.py\`, Debian's python3-openpyxl and
python3-xlrd): openpyxl in read-only mode iterating every cell value of the
first sheet, xlrd every cell of sheet 0.  Each reader runs on each file in a
process of its own, whose peak RSS (\`ru_maxrss\`) is given, again and again
for two seconds of the process's CPU time; the figure is the median run.
The machine is shared with other builds and tests: CPU time (not wall-clock
time) and medians keep that from skewing the ratios much, though it slows
everything (the 1-minute load average was $load on $(nproc) cores when this
section started, $load_end when it ended).  Of 9,999 rows kiln parses all,
keeps the first 999 and only counts the rest (the file then fails
validation as too long, which is kiln's answer to it); the references keep
every row.  The floors are what a reader built on libzip and zlib must
spend on an .xlsx: the two parts that hold the cells (shared strings,
worksheet) inflated through libzip 64 KiB at a time, as kiln did before it
inflated parts of at most 1 MiB whole with libdeflate; then also parsed by
expat with handlers that do nothing, which is
what kiln's readers cost before they had their own scanner for these two
parts (sheet/xlsx.c; expat still reads every other part, and these two
whenever the scanner meets something it leaves to expat).

$(cat "$wb/section.md")

Reading the figures: on the 999-row .xlsx (Excel's layout) kiln's
instructions are about a tenth inflating (libdeflate inflates each part of
at most 1 MiB whole and checks its CRC-32; larger parts stream through
libzip and zlib, 64 KiB at a time), three tenths its scanner (finding tags,
checking and decoding text and attribute values as expat would; the
commonest cells and shared strings are read in one step each), a quarter
the handlers that make the cells and the grid, a quarter the validation,
and the rest the package parts (expat) and freeing.  That is an
instruction profile (\`valgrind --tool=callgrind\` of 20 reads and
validations, 2026-11-25: 19.7 million instructions each, 32.3 million
before the one-step cells and libdeflate), which the shared machine does
not disturb; the CPU time also holds the page faults of the memory a read
touches.  What grows with the file in kiln's readers: the upload itself
(\`sheet_read()\` takes the bytes); for an .xlsx two bits for each shared
string (the strings themselves are kept whole only up to 256 KiB, else only
those of the rows kept, read in a second pass); for an .xls eight bytes for
each shared string (where it starts and what it is; the text is decoded
again only for the rows kept) and four for each sector of the file (its
FAT), the workbook stream being read in place in the upload when its
sectors follow one another, as every writer measured lays them out.  Peak
RSS moves by a few hundred KB from run to run with the allocator; the heap
alone (\`valgrind --tool=massif\`, one read and validation, the upload
left out) was 0.78 MB for the 999-row .xlsx (and 0.36 MB mapped for its
worksheet, inflated whole) and 0.97 MB for the 9,999-row one (streamed),
1.50 MB for the 999-row .xls and 1.58 MB for the 9,999-row one.
EOT
}

# the load and store-scale sections: each replaces its own part of $out,
# between its markers, so each runs alone too
load_section() {
	echo "bench: load, wrk against kilnd and nginx while a 999-row batch runs"
	/usr/bin/python3 bench/load.py --write "$out"
}
store_section() {
	echo "bench: scale of the store, 1,000 batches and 1,000,000 images"
	/usr/bin/python3 bench/store_scale.py --write "$out"
}
case "$only" in
load) load_section; exit 0 ;;
store) store_section; exit 0 ;;
esac
# The resident memory section (bench/memory.py): writes $work/memory.md.
memory() {
	batches=${MEM_BATCHES:-100}
	echo "bench: kilnd's resident memory over $batches batches of 999 rows, 4 workers"
	load=$(cut -d' ' -f1 /proc/loadavg)
	/usr/bin/python3 bench/memory.py "$batches" 512 > "$work/memory.tsv"
	cat "$work/memory.tsv"
	load_end=$(cut -d' ' -f1 /proc/loadavg)
	peak=$(awk -F'\t' '$5 > m { m = $5 } END { printf "%.1f", m / 1024 }' "$work/memory.tsv")
	cat > "$work/memory.md" <<EOT
## Resident memory during 999-row batches

Run on its own with \`sh bench/run.sh memory\` (MEM_BATCHES=$batches), which replaces this section only; \`make bench\`
runs it with the others.  Run: $(date -u +%Y-%m-%dT%H:%MZ), kiln $(git rev-parse --short HEAD 2>/dev/null || echo unknown);
the 1-minute load average was $load on $(nproc) cores at the start, $load_end at the end.

One kilnd (\`--workers 4\`, the built-in engine at its default 512 px, no
delay) on one data dir runs $batches batches one after the other, each 999
rows of one image, uploaded, started and polled until completed
(\`bench/memory.py\`).  A thread samples VmRSS in /proc/PID/status every
20 ms; the table gives, for the 1st, 10th and last batch, the highest VmRSS
seen while it ran, VmRSS when it had completed, and VmHWM (the kernel's
high-water mark of the process since it started).  The reference is the
same daemon idle, before its first upload.  Aim: under 64 MB, and no growth
with the number of batches in the store (each batch adds 999 rows and 999
images to it).

| when | batches in the store | peak VmRSS (KB) | VmRSS after (KB) | VmHWM (KB) | batch took (s) |
|---|---|---|---|---|---|
$(awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$work/memory.tsv")

VmHWM at the end of the run (the highest VmRSS of the whole run): $peak MiB.

Reading the figures: kilnd's heap is small.  A massif profile
(\`KILND_WRAPPER="valgrind --tool=massif" python3 bench/memory.py 3 64\`,
2026-11-24) peaked at 2.8 MB of heap, two thirds of it SQLite's: the
statements each pooled connection prepares once and keeps, and the
connections' page caches.  The rest of VmRSS is the program and its shared
libraries (libcrypto, libcurl, SQLite, libmicrohttpd ...: most of the idle
figure), the stacks the threads have touched, and what glibc's arenas
hold.  Two things made the figure climb with the number of batches before
2026-11-25 (18.4 MB during the 1st batch, 20.2 MB during the 10th, 29.3 MB
during the 100th): SQLite's page caches, 2 MB per connection by default in
a pool of up to \`http_threads\` + \`workers\` + 2 connections (and the
event streams' own), filling as the database outgrew what each touches;
and memory freed by the worker and HTTP threads that glibc's per-thread
arenas kept rather than returned.  Now each connection's page cache is
256 KiB (\`PRAGMA cache_size\`, STORE_CACHE_KIB in store/store.h; a page
read again comes from the kernel's page cache, and the store-scale section
above is measured with it; a process-wide \`sqlite3_soft_heap_limit64()\`
did as well, but needs SQLite's memory accounting, a global mutex on every
allocation, which the load section's profile had removed) and kilnd calls
\`malloc_trim(0)\` when a batch ends, which gives back what the arenas
hold free.  Nothing else kilnd keeps depends on the number of batches (a
worker holds only the batch it works on; events and lists are read from
the store, paged).
EOT
}

if [ "$only" = memory ]; then
	memory
	# the section replaced in place (from its heading to the next one), else appended
	if grep -q '^## Resident memory' "$out"; then
		awk -v sec="$work/memory.md" '
			/^## Resident memory/ { while ((getline l < sec) > 0) print l; print ""; skip = 1; next }
			/^## / { skip = 0 }
			!skip' "$out" > "$work/perf.md"
		cp "$work/perf.md" "$out"
	else
		{ echo; cat "$work/memory.md"; } >> "$out"
	fi
	echo "bench: wrote the resident memory section of $out"
	exit 0
fi

if [ "$only" = workbooks ]; then
	workbooks
	# the section replaced in place: from its heading to the next one
	awk -v sec="$wb/full.md" '
		/^## Workbooks/ { while ((getline l < sec) > 0) print l; print ""; skip = 1; next }
		/^## / { skip = 0 }
		!skip' "$out" > "$work/perf.md"
	cp "$work/perf.md" "$out"
	echo "bench: wrote the workbook section of $out"
	exit 0
fi

echo "bench: validation of a 999-row CSV"
sheet=$(build/bench/bench_sheet)
pyref=$(/usr/bin/python3 bench/csv_reference.py)
echo "$sheet"; echo "$pyref"

workbooks

echo "bench: pipeline, $count images at ${size}px, 5 rounds, medians"
export KILND="$top/build/kilnd" BENCH_DIR="$work"
rate() { echo "$1" | awk -F'\t' '{ split($4, a, " "); print a[1] }'; }
median() { printf '%s\n' "$@" | sort -n | sed -n 3p; }
loops=""; w1s=""; w2s=""
for round in 1 2 3 4 5; do
	rm -rf "$work/loop"; mkdir -p "$work/loop"
	l=$(build/bench/bench_loop "$work/loop" $count $size); echo "  $l"
	a=$(/usr/bin/python3 bench/pipeline.py 1 $size); echo "  $a"
	b=$(/usr/bin/python3 bench/pipeline.py 2 $size); echo "  $b"
	loops="$loops $(rate "$l")"; w1s="$w1s $(rate "$a")"; w2s="$w2s $(rate "$b")"
done
# shellcheck disable=SC2086
r_loop=$(median $loops); r1=$(median $w1s); r2=$(median $w2s)
ratio1=$(awk -v a="$r1" -v b="$r_loop" 'BEGIN { printf "%.2f", a / b }')
ratio2=$(awk -v a="$r2" -v b="$r_loop" 'BEGIN { printf "%.2f", a / b }')
echo "median images/s: loop $r_loop, kilnd 1 worker $r1 ($ratio1), 2 workers $r2 ($ratio2)"

# the same on tmpfs, where fsync costs nothing: kilnd's CPU overhead alone
shm=$(mktemp -d /dev/shm/kiln-bench.XXXXXX)
ml=$(build/bench/bench_loop "$shm" $count $size); echo "  tmpfs $ml"
rm -rf "$shm"
m1=$(BENCH_DIR=/dev/shm /usr/bin/python3 bench/pipeline.py 1 $size); echo "  tmpfs $m1"
t_loop=$(rate "$ml"); t1=$(rate "$m1")
tratio=$(awk -v a="$t1" -v b="$t_loop" 'BEGIN { printf "%.2f", a / b }')

cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
fs=$(df -T "$work" | awk 'NR==2 { print $2 }')
mkdir -p docs
cat > "$out" <<EOT
# Performance

Figures from \`make bench\` (bench/run.sh), each beside its reference measured
in the same run. Reproduce with:

    make bench

Machine: $(nproc) cores ($cpu), $(free -g | awk '/Mem:/ { print $2 }') GiB, $(uname -sr), data on $fs.
Run: $(date -u +%Y-%m-%dT%H:%MZ), kiln $(git rev-parse --short HEAD 2>/dev/null || echo unknown).

## Validation of a 999-row CSV

The biggest batch a user may upload (every column, quoting, non-ASCII,
palettes), read and validated completely (\`bench/bench_sheet.c\`): sniffing,
decoding, delimiter detection, RFC 4180 parsing into the cell grid, every
rule of spreadsheet.md, the typed rows.  References: a floor that only
counts the separators of the same bytes, and Python's csv module
tokenising the same file without any validation (\`bench/csv_reference.py\`).

| what | rows/s | MB/s |
|---|---|---|
$(printf '%s\n%s\n' "$sheet" "$pyref" | awk -F'\t' '{ printf "| %s | %s | %s |\n", $1, $2, $3 }' | sed 's/ rows\/s//; s/ MB\/s//')

$(cat "$wb/full.md")

## Pipeline overhead

Five rounds, each running the loop, kilnd with one worker and kilnd with
two workers one after the other, so that all three see the same disk;
the table gives the median and every round.  $count images (999 rows × 4) made by the built-in engine at ${size} px with no
delay, each written durably (temporary file, fsync, rename, fsync of the
directory).  kilnd's figure runs from the start request to the batch's
completion (\`bench/pipeline.py\`): claiming through the store, generating,
writing, staging, renaming, marking done and charging in one transaction.
The reference is a plain loop making the same images with the same engine
and the same fsync+rename, with no store and no scheduler
(\`bench/bench_loop.c\`).

| what | images/s (median of 5) | each round | vs loop |
|---|---|---|---|
| plain loop (1 thread) | $r_loop | $(echo $loops | sed 's/ /, /g') | 1.00 |
| kilnd, 1 worker | $r1 | $(echo $w1s | sed 's/ /, /g') | $ratio1 |
| kilnd, 2 workers | $r2 | $(echo $w2s | sed 's/ /, /g') | $ratio2 |

On tmpfs, where fsync and rename cost nothing, the same pair measures
kilnd's CPU overhead alone — what the store, the scheduler and the HTTP
polling of the benchmark add to making and writing the image:

| on tmpfs | images/s | vs loop |
|---|---|---|
| plain loop (1 thread) | $t_loop | 1.00 |
| kilnd, 1 worker | $t1 | $tratio |

Reading the figures: kilnd's own work per image is three small SQLite
transactions in WAL mode (claim; stage, recording size and CRC before the
rename; done, with the charge) and no fsync of its own; the aim is at least
0.8 of the loop.  In this run kilnd made ${ratio1} of the loop's images per
second with one worker and ${ratio2} with two.  On this virtual disk the
cost of an fsync varies by half from one round to the next (see each
round above), which is why the figures are medians of interleaved rounds;
the tmpfs pair, free of that noise, shows the CPU overhead itself: there
zlib (the PNG encoder, the same in both) takes the largest share of a
profile and SQLite about a fifth.  With two workers one generates while
the other waits on its fsyncs, so what a second worker adds depends mostly
on what the disk's fsyncs cost in that round (see each round above); the
two cores are shared with the benchmark's poller and the HTTP thread.
EOT
echo "bench: wrote $out"

# the network engines against the fake upstream; appends its own section to $out
echo "bench: network engines, calls in flight against a fake upstream"
/usr/bin/python3 bench/engines.py --write "$out"

load_section
store_section
# kilnd's resident memory over many batches; its own section at the end of $out
memory
{ echo; cat "$work/memory.md"; } >> "$out"
echo "bench: wrote the resident memory section of $out"
