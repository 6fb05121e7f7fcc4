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
function growth(fmt, a, b,   dk, df, tol, t) {
	if (!(a in krss) || !(b in krss))
		return
	dk = krss[b] - krss[a]
	df = (size[b] - size[a]) / 1048576
	tol = df / 4 > 0.25 ? df / 4 : 0.25
	t = sprintf("Memory, %s: from the %s to the %s the upload grew by %.2f MB ", fmt, short[a], short[b], df)
	t = t sprintf("and kiln's peak RSS by %.1f MB (%.1f to %.1f MB)", dk, krss[a], krss[b])
	if (a in orss)
		t = t sprintf("; openpyxl's by %.1f MB (%.1f to %.1f)", orss[b] - orss[a], orss[a], orss[b])
	t = t sprintf("; xlrd's by %.1f MB (%.1f to %.1f). ", xrss[b] - xrss[a], xrss[a], xrss[b])
	t = t "kiln keeps the same 999 rows of both, so its peak should grow by the upload "
	t = t sprintf("alone (%.2f MB, plus %.2f MB allowed for the allocator); it grew by ", df, tol)
	t = t sprintf("%.1f MB more, so that aim is %s ", dk - df, dk - df <= tol ? "met" : "not met")
	wrap(t sprintf("for %s in this run.", fmt))
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
		t = t sprintf(" On the %s, the floor alone (inflating the two parts that hold ", short[k])
		t = t sprintf("the cells and parsing them with expat and handlers that do nothing) took %.2f ms, ", fms[k])
		t = t sprintf("%.0f%% of kiln's %.2f ms; openpyxl's %.2f ms divided by %d ",
			      100 * fms[k] / kms[k], kms[k], oms[k], aim)
		t = t sprintf("is %.2f ms, ", oms[k] / aim)
		if (fms[k] > oms[k] / aim)
			t = t "less than expat alone needs, so no reader that parses these parts with expat can meet the aim."
		else
			t = t "more than expat alone needs, so a reader built on expat could meet the aim."
		if (k in kread)
			t = t sprintf(" Of kiln's time (medians of each step), reading took %.2f ms and validating %.2f ms.",
				      kread[k], kval[k])
	}
	wrap(t)
	growth(".xlsx", "x999", "x9999")
	growth(".xls", "b999", "b9999")
}
