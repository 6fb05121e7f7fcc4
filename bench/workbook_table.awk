# workbook_table.awk — the "Workbooks" section of docs/PERFORMANCE.md from
# the figures of bench/run.sh: the table (each reader's time, rows/s, peak
# RSS, and kiln's speed-up over it) and the sentences that say, computed
# from this run's figures, whether the aims are met.
#
#   awk -F'\t' -v versions="OPENPYXL XLRD" -f workbook_table.awk FILES RESULTS
#
# FILES: key, file name, short name, description (one fixture a line).
# RESULTS: key, bytes, then a line of bench_workbook or workbook_reference.py:
# reader, rows/s, ms per file, peak RSS MB (or -), notes.

# Prints text as a paragraph of lines of at most 76 columns, then a blank line.
function wrap(text,   n, w, i, line) {
	n = split(text, w, " ")
	line = ""
	for (i = 1; i <= n; i++) {
		if (line != "" && length(line) + 1 + length(w[i]) > 76) {
			print line
			line = w[i]
		} else
			line = line == "" ? w[i] : line " " w[i]
	}
	if (line != "")
		print line
	print ""
}

function name(r) {
	if (r ~ /^kiln/) return "kiln: read + validate"
	if (r ~ /^openpyxl/) return "openpyxl " ov " (read-only)"
	if (r ~ /^xlrd/) return "xlrd " xv
	return r
}

# The sentence on memory for one format: fixtures a (999 rows) and b (9,999).
# Each process holds the upload before it reads (its RSS then is given by
# bench_workbook as "RSS before the first read"), so what reading adds is
# the peak less that; it should not grow from a to b beyond allocator noise.
function growth(fmt, a, b,   dk, df, dr, tol, t) {
	if (!(a in krss) || !(b in krss))
		return
	dk = krss[b] - krss[a]
	df = (size[b] - size[a]) / 1048576
	dr = (krss[b] - kbase[b]) - (krss[a] - kbase[a])
	tol = 0.25
	t = sprintf("Memory, %s: from the %s to the %s the upload grew by %.2f MB ", fmt, short[a], short[b], df)
	t = t sprintf("and kiln's peak RSS by %.1f MB (%.1f to %.1f MB)", dk, krss[a], krss[b])
	if (a in orss)
		t = t sprintf("; openpyxl's by %.1f MB (%.1f to %.1f)", orss[b] - orss[a], orss[a], orss[b])
	t = t sprintf("; xlrd's by %.1f MB (%.1f to %.1f). ", xrss[b] - xrss[a], xrss[a], xrss[b])
	t = t sprintf("What kiln's reading adds to the process that already holds the upload (peak RSS less the RSS ")
	t = t sprintf("before the first read) went from %.1f to %.1f MB, ", krss[a] - kbase[a], krss[b] - kbase[b])
	t = t sprintf("%s %.1f MB: it keeps the same 999 rows of both, so that should not grow beyond ", dr >= 0 ? "up" : "down", dr < 0 ? -dr : dr)
	t = t sprintf("allocator noise (%.2f MB allowed), and the aim that memory grows with the upload alone is ", tol)
	wrap(t sprintf("**%s** for %s in this run.", dr <= tol ? "met" : "not met", fmt))
}

BEGIN {
	split(versions, v, " ")
	ov = v[1]
	xv = v[2]
	aim = 20
}

FNR == NR {
	file[$1] = $2
	short[$1] = $3
	what[$1] = $4
	order[++nf] = $1
	next
}

{
	key = $1
	r = $3
	ms = $5 + 0
	if (r ~ /^kiln/) {
		kms[key] = ms
		krss[key] = $6
		size[key] = $2
		if (match($7, /[0-9.]+ MB RSS before/))
			kbase[key] = substr($7, RSTART, RLENGTH) + 0
		if (match($7, /read [0-9.]+ \+ validate [0-9.]+/)) {
			split(substr($7, RSTART, RLENGTH), st, " ")
			kread[key] = st[2]
			kval[key] = st[5]
		}
		up = "—"
	} else if (r ~ /^floor/) {
		up = sprintf("floor: %.0f%% of kiln's time", 100 * ms / kms[key])
		if (r ~ /expat/)
			fms[key] = ms
		else
			ifl[key] = ms
	} else {
		up = sprintf("%.1f×", ms / kms[key])
		if (r ~ /^openpyxl/) {
			opx[key] = ms / kms[key]
			oms[key] = ms
			orss[key] = $6
		}
		if (r ~ /^xlrd/)
			xrss[key] = $6
	}
	row[key] = row[key] sprintf("| %s | %s | %.2f | %s | %s | %s |\n",
		row[key] == "" ? sprintf("%s: %s, %.0f KiB", file[key], what[key], $2 / 1024) : "",
		name(r), ms, $4, $6 == "-" ? "—" : $6 " MB", up)
}

END {
	print "| file | reader | ms per file | rows/s | peak RSS | kiln's speed-up |"
	print "|---|---|---|---|---|---|"
	for (i = 1; i <= nf; i++)
		printf "%s", row[order[i]]
	print ""
	met = 1
	list = ""
	t = ""
	for (i = 1; i <= nf; i++) {
		k = order[i]
		if (!(k in opx))
			continue
		list = list (list == "" ? "" : ", ") sprintf("%.1f× on the %s", opx[k], short[k])
		if (opx[k] < aim)
			met = 0
	}
	t = sprintf("The aim is kiln at least %d× faster than openpyxl on every .xlsx. ", aim)
	t = t sprintf("In this run kiln was %s: the aim is **%s**.", list, met ? "met" : "not met")
	k = order[1]
	if (k in fms && k in oms) {
		t = t sprintf(" On the %s, openpyxl's %.2f ms divided by %d is %.2f ms; ", short[k], oms[k], aim, oms[k] / aim)
		t = t sprintf("inflating the two parts that hold the cells alone took %.2f ms of kiln's %.2f ms", ifl[k], kms[k])
		t = t sprintf(", and parsing them with expat and empty handlers (what kiln did before its own scanner) %.2f ms.", fms[k])
		if (k in kread)
			t = t sprintf(" Of kiln's time (medians of each step), reading took %.2f ms and validating %.2f ms.",
				      kread[k], kval[k])
	}
	wrap(t)
	growth(".xlsx", "x999", "x9999")
	growth(".xls", "b999", "b9999")
}
