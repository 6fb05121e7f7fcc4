/*
 * csv.c — the CSV and "Unicode text" reader: bytes to a grid of text cells.
 *
 * DESIGN
 * Three steps, each one pass over the bytes, so a file costs O(n) time and
 * O(n) memory at most:
 *
 *   1. Decode to UTF-8.  A UTF-16 byte-order mark (LE or BE) means UTF-16
 *      (spreadsheet "Unicode text"); a UTF-8 BOM is skipped; text that is
 *      not strictly valid UTF-8 is read as Windows-1252, with one warning in
 *      grid->warnings.  UTF-8 without a BOM is used in place, uncopied.  The
 *      two small tables below are used rather than iconv(3): glibc's gconv
 *      modules are not always installed, and its CP1252 refuses the five
 *      bytes Windows maps to C1 controls.
 *   2. Pick the delimiter among comma, semicolon and tab: count each outside
 *      quotes in the first records; the first record that has any decides,
 *      the later ones break a tie (the count that stays the same from
 *      record to record wins).  An Excel "sep=;" first line names it.
 *   3. Parse RFC 4180: quoted fields hold delimiters, "" and line breaks;
 *      LF, CRLF and CR all end a record; text after a closing quote is kept
 *      (as Python's csv module and spreadsheets do).  Cells are text exactly
 *      as decoded: no trimming, no number detection.  Empty cells are not
 *      stored.  Row numbers are record numbers, so a blank record is
 *      skipped but still counted, and a quoted line break starts no row.
 *
 * Limits (struct sheet_limits) keep a hostile file bounded: a cell longer
 * than max_cell_bytes, a value beyond column max_cols, more than max_cells
 * cells, an unterminated quote or a NUL byte refuse the file with
 * SHEET_UNREADABLE and a message naming the cell and line.  Records past the
 * first max_rows non-blank ones are parsed but not stored: they only add to
 * grid->nrows, so the validator can report the file's length cheaply.  A
 * record whose cells are all white space is blank (sheet_cell_blank()): it
 * is stored as read but counts towards neither nrows nor max_rows.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* memmem(), strndup(), strcasecmp() even under -std=c11 */
#endif
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sheet/sheet.h"

#define SNIFF_RECORDS 16              /* records looked at to pick the delimiter */
#define SNIFF_BYTES (1024 * 1024)     /* ... within this many bytes */

/* Windows-1252 0x80..0x9F; the five undefined bytes map to C1 controls. */
static const uint16_t cp1252_c1[32] = {
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178
};

/* The decoded text the parser reads. */
struct text {
	const char *p;           /* UTF-8 */
	size_t n;
	char *owned;             /* p when decoding had to allocate, else NULL */
	int cp1252;              /* read as Windows-1252 */
	size_t bad_at;           /* offset in the file of the first byte not UTF-8 */
};

/* The parser's state for one file. */
struct csv {
	const char *p;
	size_t n, i;
	char delim;
	const struct sheet_limits *lim;
	struct sheet_grid *grid;
	char *cell;              /* the cell being read, for stored records */
	size_t len, cap;
	unsigned row, col;       /* record and field number, 1-based */
	size_t line;             /* physical line at position i, 1-based */
	int store;               /* this record goes into the grid */
	int counted;             /* this record has a non-blank cell */
	int ink;                 /* the cell being read has a byte that is not white space */
	int nomem;               /* put() ran out of memory */
	char *err;
	size_t errlen;
};

/*
 * Length of the longest strictly valid UTF-8 prefix of s (no overlong forms,
 * no surrogates, nothing above U+10FFFF); n when all of s is valid.
 */
static size_t utf8_valid_prefix(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		unsigned char lo = 0x80, hi = 0xBF;
		size_t need, k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			need = 1;
		else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			if (c == 0xE0)
				lo = 0xA0;
			else if (c == 0xED)
				hi = 0x9F;
		}
		else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F;
		}
		else
			return i;
		if (n - i <= need)
			return i;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return i;
		for (k = 2; k <= need; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return i;
		i += need + 1;
	}
	return n;
}

/* Decodes Windows-1252 bytes into t->owned.  Returns 0 or -1 on ENOMEM. */
static int decode_cp1252(const unsigned char *s, size_t n, struct text *t)
{
	char *o;
	size_t i, k = 0;

	if (n > (SIZE_MAX - 1) / 3)
		return -1;
	o = malloc(n * 3 + 1);
	if (!o)
		return -1;
	for (i = 0; i < n; i++) {
		uint32_t cp = s[i];

		if (cp >= 0x80 && cp < 0xA0)
			cp = cp1252_c1[cp - 0x80];
		k += sheet_utf8_put(o + k, cp);
	}
	o[k] = '\0';
	t->owned = o;
	t->p = o;
	t->n = k;
	t->cp1252 = 1;
	return 0;
}

/*
 * Decodes UTF-16 (big_endian or not; the BOM already skipped) into
 * t->owned.  Returns SHEET_OK, SHEET_NOMEM, or SHEET_UNREADABLE with a
 * message in err for an odd length or an unpaired surrogate.
 */
static enum sheet_status decode_utf16(const unsigned char *s, size_t n, int big_endian,
				      struct text *t, char *err, size_t errlen)
{
	char *o;
	size_t i, k = 0;

	if (n % 2) {
		snprintf(err, errlen, "The file starts with a UTF-16 byte-order mark "
			 "but ends in the middle of a character: it is damaged. Save "
			 "it again as CSV (UTF-8) and upload that.");
		return SHEET_UNREADABLE;
	}
	o = malloc(n / 2 * 3 + 1);
	if (!o)
		return SHEET_NOMEM;
	for (i = 0; i < n; i += 2) {
		uint32_t u = big_endian ? (uint32_t)s[i] << 8 | s[i + 1] :
					  (uint32_t)s[i + 1] << 8 | s[i];

		if (u >= 0xD800 && u <= 0xDBFF && i + 3 < n) {
			uint32_t v = big_endian ? (uint32_t)s[i + 2] << 8 | s[i + 3] :
						  (uint32_t)s[i + 3] << 8 | s[i + 2];

			if (v >= 0xDC00 && v <= 0xDFFF) {
				u = 0x10000 + ((u - 0xD800) << 10) + (v - 0xDC00);
				i += 2;
			}
		}
		if (u >= 0xD800 && u <= 0xDFFF) {
			free(o);
			snprintf(err, errlen, "The file starts with a UTF-16 byte-order "
				 "mark but holds an invalid UTF-16 sequence at byte %zu: it "
				 "is damaged. Save it again as CSV (UTF-8) and upload that.",
				 i + 2);
			return SHEET_UNREADABLE;
		}
		k += sheet_utf8_put(o + k, u);
	}
	o[k] = '\0';
	t->owned = o;
	t->p = o;
	t->n = k;
	return SHEET_OK;
}

/* Step 1: the bytes as UTF-8 text in *t (see DESIGN). */
static enum sheet_status decode(const unsigned char *buf, size_t len, struct text *t,
				char *err, size_t errlen)
{
	size_t ok, bom = 0;

	memset(t, 0, sizeof(*t));
	if (len >= 2 && buf[0] == 0xFF && buf[1] == 0xFE)
		return decode_utf16(buf + 2, len - 2, 0, t, err, errlen);
	if (len >= 2 && buf[0] == 0xFE && buf[1] == 0xFF)
		return decode_utf16(buf + 2, len - 2, 1, t, err, errlen);
	if (len >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF) {
		buf += 3;
		len -= 3;
		bom = 3;
	}
	ok = utf8_valid_prefix(buf, len);
	if (ok == len) {
		t->p = (const char *)buf;
		t->n = len;
		return SHEET_OK;
	}
	t->bad_at = bom + ok;
	return decode_cp1252(buf, len, t) ? SHEET_NOMEM : SHEET_OK;
}

/*
 * Step 2: the delimiter of the text p (n bytes), among comma, semicolon
 * and tab (see DESIGN); comma when no record holds any of them.
 */
static char detect_delim(const char *p, size_t n)
{
	static const char cand[3] = { ',', ';', '\t' };
	unsigned cnt[SNIFF_RECORDS][3];
	size_t i = 0, end = n < SNIFF_BYTES ? n : SNIFF_BYTES;
	unsigned r = 0, nrec, first, j;
	int inq = 0, field_start = 1, best = -1, k, any = 0;
	unsigned best_score = 0;

	memset(cnt, 0, sizeof(cnt));
	while (i < end && r < SNIFF_RECORDS) {
		char ch = p[i++];

		any = 1;
		if (inq) {
			if (ch == '"') {
				if (i < end && p[i] == '"')
					i++;
				else
					inq = 0;
			}
			continue;
		}
		if (ch == '"' && field_start) {
			inq = 1;
			field_start = 0;
			continue;
		}
		field_start = 0;
		if (ch == '\r' || ch == '\n') {
			if (ch == '\r' && i < end && p[i] == '\n')
				i++;
			r++;
			any = 0;
			field_start = 1;
			continue;
		}
		for (k = 0; k < 3; k++) {
			if (ch == cand[k]) {
				cnt[r][k]++;
				field_start = 1;
			}
		}
	}
	nrec = r + (any && r < SNIFF_RECORDS);
	for (first = 0; first < nrec; first++)
		if (cnt[first][0] || cnt[first][1] || cnt[first][2])
			break;
	if (first == nrec)
		return ',';
	for (k = 0; k < 3; k++) {
		unsigned score = 0;

		if (!cnt[first][k])
			continue;
		for (j = first; j < nrec; j++)
			if (cnt[j][k] == cnt[first][k])
				score++;
		if (best < 0 || score > best_score ||
		    (score == best_score && cnt[first][k] > cnt[first][best])) {
			best = k;
			best_score = score;
		}
	}
	return cand[best];
}

/* Writes the A1 name of the current field into ref (16 bytes). */
static void here(const struct csv *c, char *ref)
{
	sheet_cell_ref(c->row, c->col, ref, 16);
}

/*
 * Adds one byte to the cell being read.  Past the stored records only the
 * length is kept.  Returns 0, or -1 when the cell grows past max_cell_bytes
 * or memory runs out (then c->nomem is set).
 */
static int put(struct csv *c, char ch)
{
	/* in valid UTF-8, only U+00A0 is made of the bytes C2 and A0 alone */
	switch ((unsigned char)ch) {
	case ' ': case '\t': case '\r': case '\n': case '\v': case '\f': case 0xC2: case 0xA0:
		break;
	default:
		c->ink = 1;
	}
	if (!c->store) {
		c->len++;
		return 0;
	}
	if (c->len >= c->lim->max_cell_bytes)
		return -1;
	if (c->len + 1 >= c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		char *v;

		if (cap > c->lim->max_cell_bytes + 1)
			cap = c->lim->max_cell_bytes + 1;
		v = realloc(c->cell, cap);
		if (!v) {
			c->nomem = 1;
			return -1;
		}
		c->cell = v;
		c->cap = cap;
	}
	c->cell[c->len++] = ch;
	return 0;
}

/* The error for a byte put() refused: too long, or out of memory. */
static enum sheet_status put_failed(struct csv *c, int quoted, size_t start_line)
{
	char ref[16];

	if (c->nomem)
		return SHEET_NOMEM;
	here(c, ref);
	snprintf(c->err, c->errlen, "Cell %s (line %zu) holds more than %zu bytes; "
		 "kiln accepts at most %zu in one cell.%s", ref, start_line,
		 c->lim->max_cell_bytes, c->lim->max_cell_bytes,
		 quoted ? " If it is not meant to be that long, a closing quote "
			  "(\") is probably missing." : "");
	return SHEET_UNREADABLE;
}

static enum sheet_status nul_byte(struct csv *c)
{
	char ref[16];

	here(c, ref);
	snprintf(c->err, c->errlen, "The file holds a NUL byte on line %zu (cell %s): "
		 "it is not a text file. Save it as CSV (UTF-8) and upload it again.",
		 c->line, ref);
	return SHEET_UNREADABLE;
}

/* Stores the field just read, if it is not empty and the record is kept. */
static enum sheet_status finish_field(struct csv *c, size_t start_line)
{
	struct sheet_cell cell;
	char ref[16];

	if (!c->len)
		return SHEET_OK;
	if (c->ink && !c->counted) {
		c->counted = 1;
		if (!c->store && c->grid->nrows < UINT_MAX)
			c->grid->nrows++;
	}
	if (!c->store)
		return SHEET_OK;
	if (c->col > c->lim->max_cols) {
		here(c, ref);
		snprintf(c->err, c->errlen, "Cell %s (line %zu) holds a value in column "
			 "%u; kiln reads at most %u columns. Remove what lies right of "
			 "the batch's columns.", ref, start_line, c->col, c->lim->max_cols);
		return SHEET_UNREADABLE;
	}
	if (c->grid->ncells >= c->lim->max_cells) {
		here(c, ref);
		snprintf(c->err, c->errlen, "The file holds more than %zu non-blank cells "
			 "(the limit is reached at %s, line %zu); kiln reads at most that "
			 "many.", c->lim->max_cells, ref, start_line);
		return SHEET_UNREADABLE;
	}
	c->cell[c->len] = '\0';
	memset(&cell, 0, sizeof(cell));
	cell.row = c->row;
	cell.col = c->col;
	cell.type = SHEET_CELL_TEXT;
	cell.text = c->cell;
	return sheet_grid_add(c->grid, &cell) ? SHEET_NOMEM : SHEET_OK;
}

/*
 * Reads the field at c->i, leaving c->i on the delimiter, the line end or
 * the end of the text, and stores it.  Returns SHEET_OK or the error.
 */
static enum sheet_status read_field(struct csv *c)
{
	size_t start_line = c->line;
	int quoted = 0;
	char ref[16];

	c->len = 0;
	c->ink = 0;
	if (c->i < c->n && c->p[c->i] == '"') {
		quoted = 1;
		c->i++;
		for (;;) {
			char ch;

			if (c->i >= c->n) {
				here(c, ref);
				snprintf(c->err, c->errlen, "The quoted cell %s that starts on "
					 "line %zu has no closing quote (\"): the file is damaged "
					 "or not a CSV file.", ref, start_line);
				return SHEET_UNREADABLE;
			}
			ch = c->p[c->i];
			if (ch == '"') {
				if (c->i + 1 < c->n && c->p[c->i + 1] == '"') {
					if (put(c, '"'))
						return put_failed(c, quoted, start_line);
					c->i += 2;
					continue;
				}
				c->i++;
				break;
			}
			if (ch == '\0')
				return nul_byte(c);
			if (ch == '\n' || (ch == '\r' && (c->i + 1 >= c->n || c->p[c->i + 1] != '\n')))
				c->line++;
			if (put(c, ch))
				return put_failed(c, quoted, start_line);
			c->i++;
		}
	}
	/* an unquoted field, or what follows a closing quote */
	while (c->i < c->n) {
		char ch = c->p[c->i];

		if (ch == c->delim || ch == '\n' || ch == '\r')
			break;
		if (ch == '\0')
			return nul_byte(c);
		if (put(c, ch))
			return put_failed(c, quoted, start_line);
		c->i++;
	}
	return finish_field(c, start_line);
}

/*
 * Length of an Excel "sep=X" first line at p (X the delimiter, followed by a
 * line end or the end of the text), or 0 when there is none.
 */
static size_t sep_line(const char *p, size_t n, char *delim)
{
	size_t k = 5;

	if (n < 5 || strncmp(p, "sep=", 4) || p[4] == '"' || p[4] == '\r' || p[4] == '\n')
		return 0;
	if (k < n && p[k] == '\r')
		k++;
	if (k < n && p[k] == '\n')
		k++;
	if (k == 5 && k < n)
		return 0;
	*delim = p[4];
	return k;
}

/* Step 3: parses the whole text into c->grid (see DESIGN). */
static enum sheet_status parse(struct csv *c)
{
	enum sheet_status st;

	while (c->i < c->n) {
		c->col = 1;
		c->counted = 0;
		c->store = c->grid->nrows < c->lim->max_rows;
		for (;;) {
			st = read_field(c);
			if (st != SHEET_OK)
				return st;
			if (c->i >= c->n)
				break;
			if (c->p[c->i] == c->delim) {
				c->i++;
				if (c->col < UINT_MAX)
					c->col++;
				if (c->i >= c->n)
					break;
				continue;
			}
			if (c->p[c->i] == '\r' && c->i + 1 < c->n && c->p[c->i + 1] == '\n')
				c->i++;
			c->i++;
			c->line++;
			break;
		}
		if (c->row == UINT_MAX) {
			snprintf(c->err, c->errlen, "The file has more lines than kiln can count.");
			return SHEET_UNREADABLE;
		}
		c->row++;
	}
	return SHEET_OK;
}

enum sheet_status sheet_read_csv(const unsigned char *buf, size_t len,
				 const struct sheet_limits *lim,
				 struct sheet_grid *grid, char *err, size_t errlen)
{
	struct sheet_limits deflim;
	struct text t;
	struct csv c;
	enum sheet_status st;
	char dummy[1];
	size_t skip;

	sheet_read_begin(grid, &err, &errlen, dummy, &lim, &deflim);
	st = decode(buf ? buf : (const unsigned char *)"", buf ? len : 0, &t, err, errlen);
	if (st != SHEET_OK)
		return st;

	memset(&c, 0, sizeof(c));
	c.p = t.p;
	c.n = t.n;
	c.lim = lim;
	c.grid = grid;
	c.row = 1;
	c.line = 1;
	c.err = err;
	c.errlen = errlen;
	skip = sep_line(t.p, t.n, &c.delim);
	if (skip) {
		c.i = skip;
		c.line = 2;
	}
	else
		c.delim = detect_delim(t.p, t.n);

	st = parse(&c);
	if (st == SHEET_OK && t.cp1252) {
		size_t line = 1, k;

		/* LF, CRLF and a lone CR each end a line, as in parse() */
		for (k = 0; k < t.bad_at && k < len; k++)
			if (buf[k] == '\n' || (buf[k] == '\r' && (k + 1 >= len || buf[k + 1] != '\n')))
				line++;
		if (sheet_msgs_add(&grid->warnings, 0, NULL, NULL, NULL,
				  "Save the file as CSV (UTF-8) so that every character "
				  "is read as intended.",
				  "The file is not valid UTF-8 (first on line %zu); it was "
				  "read as Windows-1252 (Western European): check that "
				  "accented letters look right.", line))
			st = SHEET_NOMEM;
	}
	if (st == SHEET_NOMEM)
		snprintf(err, errlen, "Out of memory while reading the file.");
	if (st != SHEET_OK)
		sheet_grid_free(grid);
	free(c.cell);
	free(t.owned);
	return st;
}

/*
 * Length of the longest strictly valid UTF-8 prefix of s (n bytes): the
 * reader's own check, for the HTTP side (names in requests).
 */
size_t sheet_utf8_valid(const unsigned char *s, size_t n)
{
	return utf8_valid_prefix(s, n);
}
