#!/bin/sh
# check-style.sh — the house style, held by a checker run in `make check`
# (as curl's checksrc does): every C file opens with a comment saying what
# it is for; `if (`, `for (`, `while (`, `switch (` with a space; no
# trailing white space; no typedef'd structs; lines of at most 110 columns
# (tabs count 8).  Prints each offence as file:line: what, and fails if any.
set -u
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.c' -o -name '*.h')
status=0
for f in $files; do
	head -c 2 "$f" | grep -q '^/\*' || { echo "$f:1: the file must open with a comment saying what it is for"; status=1; }
	awk -v f="$f" '
	{ line = $0 }
	/(^|[^a-zA-Z0-9_])(if|for|while|switch)\(/ { print f ":" NR ": a space after the keyword: " line; bad = 1 }
	/[ \t]+$/ { print f ":" NR ": trailing white space"; bad = 1 }
	/typedef[ \t]+struct/ { print f ":" NR ": use struct name, not a typedef"; bad = 1 }
	{
		col = 0
		for (i = 1; i <= length(line); i++) {
			c = substr(line, i, 1)
			if (c == "\t") col = col + 8 - col % 8; else col++
		}
		if (col > 110) { print f ":" NR ": longer than 110 columns (" col ")"; bad = 1 }
	}
	END { exit bad }' "$f" || status=1
done
[ "$status" -eq 0 ] && echo "style: ok"
exit "$status"
