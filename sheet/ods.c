/*
 * ods.c — the OpenDocument spreadsheet (.ods) reader: the first visible
 * table of content.xml into a cell grid.
 *
 * DESIGN
 * An .ods is a zip; everything kiln needs is in content.xml, which is
 * inflated with libzip in 64 KiB chunks and fed straight to expat (SAX), so
 * the XML never sits in memory whole.  Three bounds keep a hostile file
 * cheap: at most 512 MiB are inflated (a zip bomb is refused by name: from
 * its declared size when that is honest, as soon as it inflates past the
 * size the zip directory declares when it lies (libzip 1.7 does not stop
 * there itself), and in any case at the bound); a small lexer ahead of
 * expat refuses any single piece of markup (a tag, a comment) over 4 MiB,
 * which is what expat would otherwise have to buffer; and elements nest at
 * most 256 deep.  A DOCTYPE or an entity declaration is
 * refused outright (no spreadsheet program writes one, and entity expansion
 * is how XML bombs work); external entities are never fetched.  A
 * content.xml that does not start like XML is encrypted (ODF encrypts the
 * member and keeps the zip readable): that is "password-protected", never a
 * parse error.
 *
 * One pass does it all, in document order: office:automatic-styles give the
 * table styles whose table:display is "false" (hidden sheets); the null date
 * comes from table:calculation-settings; then each top-level table:table is
 * skipped while hidden, the first visible one is read, and later ones are
 * only counted, for the warning that names the sheet read.  Cells carry
 * their typed value in attributes (office:value, office:date-value,
 * office:time-value, office:boolean-value, office:string-value), so no style
 * lookup is needed; text cells without office:string-value are the text of
 * their text:p paragraphs joined by "\n" (text:s, text:tab, text:line-break
 * expanded; annotations and drawings left out).  A LibreOffice formula error
 * (calcext:value-type="error") is an ERROR cell holding its shown text.
 *
 * Repeats (table:number-columns-repeated, table:number-rows-repeated) are
 * arithmetic: an empty run of 16384 columns or 1048576 rows only moves the
 * position.  A row's non-blank cells are held as runs (a value and the
 * columns it covers) and copied into the grid once per repeated row while
 * fewer than lim->max_rows non-blank rows are stored; past that, rows are
 * only counted into grid->nrows (the csv.c convention), so a repeated
 * non-blank row costs O(max_rows) at most.  Text of white space only counts
 * nowhere (sheet_cell_blank()): past max_cols it is dropped, not refused,
 * and a repeated row of nothing else is stored once.  A value beyond
 * lim->max_cols, more than lim->max_cells cells, a cell over
 * lim->max_cell_bytes or more than 64 MiB of text in all refuse the file
 * with a message that names the cell and says what to do.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* strtod_l(), newlocale(), strdup() even under -std=c11 */
#endif
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>
#include <zip.h>

#include "sheet/sheet.h"

#define NS_OFFICE  "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
#define NS_STYLE   "urn:oasis:names:tc:opendocument:xmlns:style:1.0"
#define NS_TABLE   "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
#define NS_TEXT    "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
#define NS_CALCEXT "urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0"
#define NS_SEP ' '                           /* expat's "URI local" separator */

#define INFLATE_MAX ((zip_uint64_t)512 << 20) /* content.xml bytes inflated at most */
#define CHUNK (64 * 1024)                   /* bytes inflated and parsed at a time */
#define DEPTH_MAX 256                       /* elements nested at most */
#define TOKEN_MAX ((size_t)4 << 20)         /* longest single tag or comment */
#define TEXT_MAX ((size_t)64 << 20)         /* text stored in the grid in all */
#define REPEAT_MAX ((uint64_t)1 << 32)      /* larger repeat counts are clamped */
#define HIDDEN_STYLES_MAX 4096              /* hidden table styles remembered */
#define SKIPPED_SHOWN SHEET_NAMES_LISTED      /* hidden sheet names a warning lists */

/* The namespaces this reader looks at. */
enum ns { NS_OTHER, NS_O, NS_S, NS_TB, NS_TX, NS_C };

/* What a cell holds, as far as its start tag tells. */
enum kind { K_BLANK, K_NUMBER, K_BOOL, K_TEXT, K_ERROR };

/* The lexer's state (see scan()). */
enum lex { LX_TEXT, LX_LT, LX_TAG, LX_BANG, LX_COMMENT, LX_CDATA, LX_PI, LX_DECL };

/* One non-blank cell of the row being read, repeated over n columns. */
struct run {
	uint64_t col;            /* first column, 1-based */
	uint64_t n;              /* columns it covers */
	enum sheet_cell_type type;
	char *text;              /* TEXT and ERROR */
	double number;           /* NUMBER and BOOL */
	const char *format;      /* "date", "time" or NULL (static) */
	int blank;               /* text of white space only (sheet_cell_blank()) */
};

/* The reader's state for one content.xml. */
struct ods {
	XML_Parser xp;
	const struct sheet_limits *lim;
	struct sheet_grid *grid;
	locale_t c_locale;       /* for strtod_l(); (locale_t)0 when unavailable */
	char *err;
	size_t errlen;
	enum sheet_status st;    /* SHEET_OK until something fails */
	unsigned depth;          /* of the element being read, 1 = the root */
	unsigned ignore;         /* depth of a subtree being skipped, or 0 */

	/* the lexer ahead of expat */
	enum lex lx;
	char quote;              /* inside a quoted attribute value: its quote */
	char prev[2];            /* the last two bytes seen */
	size_t toklen;           /* bytes of the current piece of markup */

	/* automatic styles: which table styles hide their sheet */
	unsigned styles_depth;   /* office:automatic-styles */
	unsigned style_depth;    /* a style:style of family "table" */
	char *style_name;        /* ... and its name */
	char **hidden;
	size_t nhidden, caphidden;

	/* the workbook */
	unsigned sheet_depth;    /* office:spreadsheet */
	long long null_days;     /* the null date, in days since 1970-01-01 */
	unsigned ntables;        /* top-level tables seen */
	unsigned table_depth;    /* the table being read, while in it */
	int table_found;         /* a visible table was read (or is being read) */
	unsigned nskipped;       /* hidden tables skipped before it */
	char *skipped[SKIPPED_SHOWN];
	unsigned after;          /* tables after it */

	/* the row being read */
	unsigned row_depth;
	uint64_t row;            /* number of the next row, 1-based */
	uint64_t row_n;          /* rows this element stands for */
	int store;               /* the row goes into the grid */
	int row_ink;             /* an unstored row has a non-blank cell */
	struct run *runs;
	size_t nruns, capruns;
	uint64_t col;            /* column of the next cell, 1-based */
	size_t text_total;       /* text bytes stored in the grid */

	/* the cell being read */
	unsigned cell_depth;
	uint64_t cell_n;         /* columns it covers */
	int covered;             /* table:covered-table-cell */
	enum kind kind;
	double number;
	const char *format;
	int formula;             /* has table:formula */
	int collect;             /* its value is the text of its paragraphs */
	int ink;                 /* its text has a byte that is not white space */
	unsigned para_depth;     /* the text:p or text:h being read */
	unsigned npara;
	char *text;
	size_t len, cap;
};

/* ---- errors -------------------------------------------------------------- */

/*
 * Records the first failure: status st and the message, and stops expat.
 * Later failures are ignored (the first one is the cause).
 */
__attribute__((format(printf, 3, 4)))
static void fail(struct ods *o, enum sheet_status st, const char *fmt, ...)
{
	va_list ap;

	if (o->st != SHEET_OK)
		return;
	o->st = st;
	if (st == SHEET_NOMEM) {
		snprintf(o->err, o->errlen, "Out of memory while reading the file.");
	}
	else {
		va_start(ap, fmt);
		vsnprintf(o->err, o->errlen, fmt, ap);
		va_end(ap);
	}
	if (o->xp)
		XML_StopParser(o->xp, XML_FALSE);
}

/* Records an out-of-memory failure. */
static void nomem(struct ods *o)
{
	fail(o, SHEET_NOMEM, "%s", "");
}

/* The A1 name of (row, col), or a description when it is beyond A1 notation. */
static void ref_of(uint64_t row, uint64_t col, char *buf, size_t len)
{
	if (row > UINT_MAX || col > UINT_MAX)
		snprintf(buf, len, "row %llu, column %llu", (unsigned long long)row,
			 (unsigned long long)col);
	else
		sheet_cell_ref((unsigned)row, (unsigned)col, buf, len);
}

/* ---- names and attributes ------------------------------------------------- */

/* Splits expat's "URI local" name: returns the namespace, *local the local name. */
static enum ns ns_of(const char *name, const char **local)
{
	static const struct {
		const char *uri;
		size_t n;
		enum ns ns;
	} known[] = {
		{ NS_TABLE, sizeof(NS_TABLE) - 1, NS_TB },
		{ NS_TEXT, sizeof(NS_TEXT) - 1, NS_TX },
		{ NS_OFFICE, sizeof(NS_OFFICE) - 1, NS_O },
		{ NS_STYLE, sizeof(NS_STYLE) - 1, NS_S },
		{ NS_CALCEXT, sizeof(NS_CALCEXT) - 1, NS_C },
	};
	const char *sep = strchr(name, NS_SEP);
	size_t i, n;

	if (!sep) {
		*local = name;
		return NS_OTHER;
	}
	*local = sep + 1;
	n = (size_t)(sep - name);
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (n == known[i].n && !memcmp(name, known[i].uri, n))
			return known[i].ns;
	return NS_OTHER;
}

/* The value of attribute ns:local in expat's atts, or NULL. */
static const char *attr(const XML_Char **atts, enum ns ns, const char *local)
{
	size_t i;

	for (i = 0; atts[i]; i += 2) {
		const char *l;

		if (ns_of(atts[i], &l) == ns && !strcmp(l, local))
			return atts[i + 1];
	}
	return NULL;
}

/* ---- values ----------------------------------------------------------------- */

/* A table:number-*-repeated count: 1 when absent or invalid, clamped to 2^32. */
static uint64_t parse_repeat(const char *s)
{
	uint64_t v = 0;

	if (!s)
		return 1;
	while (*s == ' ')
		s++;
	if (*s < '0' || *s > '9')
		return 1;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > REPEAT_MAX)
			v = REPEAT_MAX;
	}
	return v ? v : 1;
}

/* An xsd:double into *out (finite only, no hex); returns 0 or -1. */
static int parse_double(const struct ods *o, const char *s, double *out)
{
	char *end;
	double v;

	if (!s || strpbrk(s, "xX"))
		return -1;
	v = o->c_locale ? strtod_l(s, &end, o->c_locale) : strtod(s, &end);
	if (end == s)
		return -1;
	while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
		end++;
	if (*end || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

/* Reads 1 to max digits at *s into *v; returns the number read (0: none). */
static int digits(const char **s, int max, long long *v)
{
	int n = 0;

	*v = 0;
	while (n < max && **s >= '0' && **s <= '9') {
		*v = *v * 10 + (**s - '0');
		(*s)++;
		n++;
	}
	return n;
}

/* Reads "digits[.digits]" at *s into *v; returns 0 or -1 when there is none. */
static int decimal(const char **s, double *v)
{
	double scale = 0.1;
	int any = 0;

	*v = 0;
	while (**s >= '0' && **s <= '9') {
		*v = *v * 10 + (**s - '0');
		(*s)++;
		any = 1;
	}
	if (**s == '.') {
		(*s)++;
		while (**s >= '0' && **s <= '9') {
			*v += (**s - '0') * scale;
			scale /= 10;
			(*s)++;
			any = 1;
		}
	}
	return any ? 0 : -1;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
	long long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

/*
 * An xsd:date or xsd:dateTime ("1900-01-01", "2014-02-14T08:27:48.765",
 * with an optional zone, which is ignored) as days since 1970-01-01, the
 * time a fraction of a day.  Returns 0 or -1 when it is not one.
 */
static int parse_date(const char *s, double *out)
{
	static const unsigned char mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	long long y, m, d, h = 0, mi = 0;
	double sec = 0;
	int neg = 0;

	if (!s)
		return -1;
	if (*s == '-') {
		neg = 1;
		s++;
	}
	if (digits(&s, 9, &y) < 4 || *s++ != '-' || digits(&s, 2, &m) != 2 || *s++ != '-' ||
	    digits(&s, 2, &d) != 2)
		return -1;
	if (neg)
		y = -y;
	if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] ||
	    (m == 2 && d == 29 && (y % 4 || (y % 100 == 0 && y % 400))))
		return -1;
	if (*s == 'T') {
		s++;
		if (digits(&s, 2, &h) != 2 || *s++ != ':' || digits(&s, 2, &mi) != 2 ||
		    *s++ != ':' || *s < '0' || *s > '9' || decimal(&s, &sec))
			return -1;
		if (h > 24 || mi > 59 || sec >= 61)
			return -1;
	}
	if (*s == 'Z')
		s++;
	else if (*s == '+' || *s == '-')
		s += strspn(s + 1, "0123456789:") + 1;
	if (*s)
		return -1;
	*out = (double)days_from_civil(y, (unsigned)m, (unsigned)d) +
	       ((double)(h * 3600 + mi * 60) + sec) / 86400.0;
	return 0;
}

/*
 * An xsd:duration as LibreOffice writes a time ("PT02H03M00S",
 * "PT12H30M15.5S", "P1DT2H", "-PT1H") as a fraction of a day.  Years and
 * months (of no fixed length) are accepted only when zero.  Returns 0 or -1.
 */
static int parse_duration(const char *s, double *out)
{
	double days = 0, secs = 0, v;
	int neg = 0, any = 0, in_time = 0;

	if (!s)
		return -1;
	if (*s == '-') {
		neg = 1;
		s++;
	}
	if (*s++ != 'P')
		return -1;
	while (*s) {
		if (*s == 'T') {
			if (in_time)
				return -1;
			in_time = 1;
			s++;
			continue;
		}
		if (decimal(&s, &v))
			return -1;
		switch (*s) {
		case 'Y':
			if (in_time || v != 0)
				return -1;
			break;
		case 'M':
			if (!in_time && v != 0)
				return -1;
			if (in_time)
				secs += v * 60;
			break;
		case 'D':
			if (in_time)
				return -1;
			days += v;
			break;
		case 'H':
			if (!in_time)
				return -1;
			secs += v * 3600;
			break;
		case 'S':
			if (!in_time)
				return -1;
			secs += v;
			break;
		default:
			return -1;
		}
		s++;
		any = 1;
	}
	if (!any)
		return -1;
	v = days + secs / 86400.0;
	if (!isfinite(v))
		return -1;
	*out = neg ? -v : v;
	return 0;
}

/* An xsd:boolean into *out (0 or 1); returns 0 or -1. */
static int parse_bool(const char *s, double *out)
{
	if (!s)
		return -1;
	if (!strcmp(s, "true") || !strcmp(s, "1"))
		*out = 1;
	else if (!strcmp(s, "false") || !strcmp(s, "0"))
		*out = 0;
	else
		return -1;
	return 0;
}

/* Is s one of the seven standard formula error values? */
static int is_error_code(const char *s)
{
	static const char *const codes[] = {
		"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"
	};
	size_t i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (!strcmp(s, codes[i]))
			return 1;
	return 0;
}

/* ---- cell text ----------------------------------------------------------------- */

/* Does s (n bytes) hold a byte that is not white space (the csv.c test)? */
static int has_ink(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		switch ((unsigned char)s[i]) {
		case ' ': case '\t': case '\r': case '\n': case '\v': case '\f': case 0xC2: case 0xA0:
			break;
		default:
			return 1;
		}
	}
	return 0;
}

/* Refuses the cell being read for holding more than max_cell_bytes. */
static void too_long(struct ods *o)
{
	char ref[48];

	ref_of(o->row, o->col, ref, sizeof(ref));
	fail(o, SHEET_UNREADABLE, "Cell %s holds more than %zu bytes of text; kiln "
	     "accepts at most %zu in one cell. Shorten it, or clear it if it is not "
	     "part of the batch.", ref, o->lim->max_cell_bytes, o->lim->max_cell_bytes);
}

/* Makes room for n more bytes (and a NUL) of cell text; returns 0 or -1. */
static int text_room(struct ods *o, size_t n)
{
	size_t cap;
	char *v;

	if (n > o->lim->max_cell_bytes || o->len > o->lim->max_cell_bytes - n) {
		too_long(o);
		return -1;
	}
	if (o->len + n < o->cap)
		return 0;
	cap = o->cap ? o->cap : 256;
	while (cap <= o->len + n)
		cap *= 2;
	v = realloc(o->text, cap);
	if (!v) {
		nomem(o);
		return -1;
	}
	o->text = v;
	o->cap = cap;
	return 0;
}

/* Appends n bytes of text to the cell; only noted for ink in unstored rows. */
static void add_text(struct ods *o, const char *s, size_t n)
{
	if (!o->ink && has_ink(s, n))
		o->ink = 1;
	if (!o->store || !n)
		return;
	if (text_room(o, n))
		return;
	memcpy(o->text + o->len, s, n);
	o->len += n;
	o->text[o->len] = '\0';
}

/* Appends count copies of ch (a space, a tab, a line break) to the cell. */
static void add_chars(struct ods *o, char ch, uint64_t count)
{
	if (!o->store)
		return;
	if (count > o->lim->max_cell_bytes) {
		too_long(o);
		return;
	}
	if (text_room(o, (size_t)count))
		return;
	memset(o->text + o->len, ch, (size_t)count);
	o->len += (size_t)count;
	o->text[o->len] = '\0';
}

/* ---- rows and cells --------------------------------------------------------------- */

/* Adds n rows to grid->nrows, saturating. */
static void count_rows(struct ods *o, uint64_t n)
{
	uint64_t v = (uint64_t)o->grid->nrows + n;

	o->grid->nrows = v > UINT_MAX ? UINT_MAX : (unsigned)v;
}

/* A table:table-cell or table:covered-table-cell starts: note its value. */
static void cell_start(struct ods *o, const char *local, const XML_Char **atts)
{
	const char *vt, *cx, *sv;

	o->cell_depth = o->depth;
	o->cell_n = parse_repeat(attr(atts, NS_TB, "number-columns-repeated"));
	o->covered = !strcmp(local, "covered-table-cell");
	o->kind = K_BLANK;
	o->number = 0;
	o->format = NULL;
	o->formula = attr(atts, NS_TB, "formula") != NULL;
	o->collect = 0;
	o->ink = 0;
	o->npara = 0;
	o->para_depth = 0;
	o->len = 0;
	if (o->text)
		o->text[0] = '\0';
	if (o->covered)
		return;
	cx = attr(atts, NS_C, "value-type");
	vt = attr(atts, NS_O, "value-type");
	if (cx && !strcmp(cx, "error")) {
		o->kind = K_ERROR;
		o->collect = 1;
		return;
	}
	if (!vt || !strcmp(vt, "void"))
		return;
	o->kind = K_TEXT;
	if (!strcmp(vt, "float") || !strcmp(vt, "percentage") || !strcmp(vt, "currency")) {
		if (!parse_double(o, attr(atts, NS_O, "value"), &o->number))
			o->kind = K_NUMBER;
	}
	else if (!strcmp(vt, "date")) {
		if (!parse_date(attr(atts, NS_O, "date-value"), &o->number)) {
			o->number -= (double)o->null_days;
			o->kind = K_NUMBER;
			o->format = "date";
		}
	}
	else if (!strcmp(vt, "time")) {
		if (!parse_duration(attr(atts, NS_O, "time-value"), &o->number)) {
			o->kind = K_NUMBER;
			o->format = "time";
		}
	}
	else if (!strcmp(vt, "boolean")) {
		if (!parse_bool(attr(atts, NS_O, "boolean-value"), &o->number))
			o->kind = K_BOOL;
	}
	else if (!strcmp(vt, "string")) {
		sv = attr(atts, NS_O, "string-value");
		if (sv) {
			add_text(o, sv, strlen(sv));
			return;
		}
	}
	/* a string without office:string-value, an unknown type, or a value that
	   does not parse: the cell is the text it shows */
	if (o->kind == K_TEXT)
		o->collect = 1;
}

/* Refuses a value in a column past lim->max_cols. */
static void too_wide(struct ods *o, uint64_t first, uint64_t n)
{
	char ref[48];

	ref_of(o->row, first, ref, sizeof(ref));
	if (n > 1)
		fail(o, SHEET_UNREADABLE, "Cell %s holds a value repeated over %llu columns, "
		     "up to column %llu; kiln reads at most %u columns. Delete the columns "
		     "right of the batch's columns (or clear what they hold) and upload "
		     "the file again.", ref, (unsigned long long)n,
		     (unsigned long long)(first + n - 1), o->lim->max_cols);
	else
		fail(o, SHEET_UNREADABLE, "Cell %s holds a value in column %llu; kiln reads "
		     "at most %u columns. Delete the columns right of the batch's columns "
		     "(or clear what they hold) and upload the file again.", ref,
		     (unsigned long long)first, o->lim->max_cols);
}

/* The cell ends: adds it to the row's runs (or notes that the row is non-blank). */
static void cell_end(struct ods *o)
{
	uint64_t first = o->col, n = o->cell_n;
	struct run *r;
	int blank;

	o->col += n;
	o->cell_depth = 0;
	o->para_depth = 0;
	o->collect = 0;
	if (o->covered || o->kind == K_BLANK)
		return;
	if (!o->store) {
		if (o->kind != K_TEXT || o->ink)
			o->row_ink = 1;
		return;
	}
	if (o->kind == K_TEXT && !o->len)
		return;         /* the empty string: blank, left out */
	if (o->kind == K_TEXT && o->formula && is_error_code(o->text))
		o->kind = K_ERROR;
	blank = o->kind == K_TEXT && !o->ink;
	if (first > o->lim->max_cols || n > o->lim->max_cols - first + 1) {
		/* white space counts nowhere: drop it rather than refuse the file */
		if (blank) {
			if (first > o->lim->max_cols)
				return;
			n = o->lim->max_cols - first + 1;
		}
		else {
			too_wide(o, first, n);
			return;
		}
	}
	if (o->nruns == o->capruns) {
		size_t cap = o->capruns ? o->capruns * 2 : 16;

		r = realloc(o->runs, cap * sizeof(*r));
		if (!r) {
			nomem(o);
			return;
		}
		o->runs = r;
		o->capruns = cap;
	}
	r = &o->runs[o->nruns];
	memset(r, 0, sizeof(*r));
	r->col = first;
	r->n = n;
	r->blank = blank;
	r->format = o->format;
	r->number = o->number;
	switch (o->kind) {
	case K_NUMBER:
		r->type = SHEET_CELL_NUMBER;
		break;
	case K_BOOL:
		r->type = SHEET_CELL_BOOL;
		break;
	case K_ERROR:
		r->type = SHEET_CELL_ERROR;
		/* LibreOffice's own codes ("Err:502") are kept as shown */
		r->text = strdup(o->len ? o->text : "#VALUE!");
		break;
	default:
		r->type = SHEET_CELL_TEXT;
		r->text = strdup(o->text);
		break;
	}
	if ((r->type == SHEET_CELL_TEXT || r->type == SHEET_CELL_ERROR) && !r->text) {
		nomem(o);
		return;
	}
	o->nruns++;
}

/* Frees the texts of the row's runs and empties it. */
static void runs_clear(struct ods *o)
{
	size_t i;

	for (i = 0; i < o->nruns; i++)
		free(o->runs[i].text);
	o->nruns = 0;
}

/* Adds one copy of the row's runs to the grid as row number r. */
static void store_row(struct ods *o, uint64_t r)
{
	struct sheet_cell cell;
	size_t i, tlen;
	uint64_t c;
	char ref[48];

	if (r > UINT_MAX) {
		fail(o, SHEET_UNREADABLE, "The sheet has a value in row %llu, more rows than "
		     "kiln can count. Delete the rows below the batch and upload the file "
		     "again.", (unsigned long long)r);
		return;
	}
	for (i = 0; i < o->nruns; i++) {
		const struct run *run = &o->runs[i];

		tlen = run->text ? strlen(run->text) + 1 : 0;
		for (c = run->col; c < run->col + run->n; c++) {
			if (o->grid->ncells >= o->lim->max_cells) {
				ref_of(r, c, ref, sizeof(ref));
				fail(o, SHEET_UNREADABLE, "The sheet holds more than %zu non-blank "
				     "cells (the limit is reached at %s); kiln reads at most that "
				     "many. Delete what is not part of the batch and upload the "
				     "file again.", o->lim->max_cells, ref);
				return;
			}
			if (tlen > TEXT_MAX - o->text_total) {
				ref_of(r, c, ref, sizeof(ref));
				fail(o, SHEET_UNREADABLE, "The sheet holds more than %zu MiB of "
				     "text (the limit is reached at %s); kiln reads at most that "
				     "much. Delete what is not part of the batch and upload the "
				     "file again.", TEXT_MAX >> 20, ref);
				return;
			}
			o->text_total += tlen;
			memset(&cell, 0, sizeof(cell));
			cell.row = (unsigned)r;
			cell.col = (unsigned)c;
			cell.type = run->type;
			cell.text = run->text;
			cell.number = run->number;
			cell.format = (char *)run->format;
			if (sheet_grid_add(o->grid, &cell)) {
				nomem(o);
				return;
			}
		}
	}
}

/* The row ends: stores its copies (see DESIGN) or counts them. */
static void row_end(struct ods *o)
{
	uint64_t first = o->row, n = o->row_n, k;
	size_t i;
	int nonblank = 0;

	o->row_depth = 0;
	o->row += n;
	if (!o->store) {
		if (o->row_ink)
			count_rows(o, n);
		return;
	}
	for (i = 0; i < o->nruns; i++)
		if (!o->runs[i].blank)
			nonblank = 1;
	for (k = 0; k < n && o->nruns && o->st == SHEET_OK; k++) {
		if (k && !nonblank)
			break;          /* copies of a blank row count nowhere */
		if (o->grid->nrows >= o->lim->max_rows) {
			if (nonblank)
				count_rows(o, n - k);
			break;
		}
		store_row(o, first + k);
	}
	runs_clear(o);
}

/* ---- the XML ------------------------------------------------------------------------ */

/* Is the table style name one that hides its sheet? */
static int style_hidden(const struct ods *o, const char *name)
{
	size_t i;

	for (i = 0; i < o->nhidden; i++)
		if (!strcmp(o->hidden[i], name))
			return 1;
	return 0;
}

/* style:table-properties table:display="false" inside the current table style. */
static void hide_style(struct ods *o)
{
	char *d;

	if (!o->style_name || o->nhidden >= HIDDEN_STYLES_MAX || style_hidden(o, o->style_name))
		return;
	if (o->nhidden == o->caphidden) {
		size_t cap = o->caphidden ? o->caphidden * 2 : 8;
		char **v = realloc(o->hidden, cap * sizeof(*v));

		if (!v) {
			nomem(o);
			return;
		}
		o->hidden = v;
		o->caphidden = cap;
	}
	d = strdup(o->style_name);
	if (!d) {
		nomem(o);
		return;
	}
	o->hidden[o->nhidden++] = d;
}

/* A top-level table:table starts: skip it, count it, or read it. */
static void table_start(struct ods *o, const XML_Char **atts)
{
	const char *style = attr(atts, NS_TB, "style-name");
	const char *name = attr(atts, NS_TB, "name");
	char fallback[32];

	o->ntables++;
	if (!name) {
		snprintf(fallback, sizeof(fallback), "Sheet%u", o->ntables);
		name = fallback;
	}
	if (o->table_found) {
		o->after++;
		o->ignore = o->depth;
		return;
	}
	if (style && style_hidden(o, style)) {
		if (o->nskipped < SKIPPED_SHOWN) {
			o->skipped[o->nskipped] = strdup(name);
			if (!o->skipped[o->nskipped]) {
				nomem(o);
				return;
			}
		}
		o->nskipped++;
		o->ignore = o->depth;
		return;
	}
	o->grid->sheet_name = strdup(name);
	if (!o->grid->sheet_name) {
		nomem(o);
		return;
	}
	o->table_found = 1;
	o->table_depth = o->depth;
}

/* An element inside the table being read, outside any cell. */
static void table_child(struct ods *o, enum ns ns, const char *local, const XML_Char **atts)
{
	if (ns == NS_TB && !strcmp(local, "table-row") && !o->row_depth) {
		o->row_depth = o->depth;
		o->row_n = parse_repeat(attr(atts, NS_TB, "number-rows-repeated"));
		o->col = 1;
		o->row_ink = 0;
		o->store = o->grid->nrows < o->lim->max_rows;
		return;
	}
	if (ns == NS_TB && o->row_depth && o->depth == o->row_depth + 1 &&
	    (!strcmp(local, "table-cell") || !strcmp(local, "covered-table-cell"))) {
		cell_start(o, local, atts);
		return;
	}
	/* row containers pass through; anything else holds no cells of this sheet */
	if (ns == NS_TB && !o->row_depth &&
	    (!strcmp(local, "table-row-group") || !strcmp(local, "table-header-rows") ||
	     !strcmp(local, "table-rows")))
		return;
	o->ignore = o->depth;
}

/* An element inside a cell: paragraphs and what they hold. */
static void cell_child(struct ods *o, enum ns ns, const char *local, const XML_Char **atts)
{
	if (!o->collect) {
		o->ignore = o->depth;
		return;
	}
	if (!o->para_depth) {
		if (ns == NS_TX && o->depth == o->cell_depth + 1 &&
		    (!strcmp(local, "p") || !strcmp(local, "h"))) {
			if (o->npara++)
				add_chars(o, '\n', 1);
			o->para_depth = o->depth;
			return;
		}
		o->ignore = o->depth;   /* office:annotation, draw:frame, ... */
		return;
	}
	if (ns != NS_TX) {
		o->ignore = o->depth;   /* office:annotation, a drawing in the text */
		return;
	}
	if (!strcmp(local, "s"))
		add_chars(o, ' ', parse_repeat(attr(atts, NS_TX, "c")));
	else if (!strcmp(local, "tab"))
		add_chars(o, '\t', 1);
	else if (!strcmp(local, "line-break"))
		add_chars(o, '\n', 1);
	else if (!strcmp(local, "note") || !strcmp(local, "ruby-text") ||
		 !strcmp(local, "tracked-changes"))
		o->ignore = o->depth;
	/* text:span, text:a and the like: their text is the cell's */
}

/*
 * expat's start-element handler: keeps the depth, skips ignored subtrees and
 * hands the element to whichever part of the document it belongs to.
 */
static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct ods *o = ud;
	const char *local;
	enum ns ns;

	if (o->st != SHEET_OK)
		return;
	if (++o->depth > DEPTH_MAX) {
		fail(o, SHEET_UNREADABLE, "The spreadsheet's content.xml nests its elements "
		     "more than %d deep, which no spreadsheet program does: the file is "
		     "damaged or hostile. Save it again from your spreadsheet program, or "
		     "save it as CSV (UTF-8), and upload that.", DEPTH_MAX);
		return;
	}
	if (o->ignore)
		return;
	ns = ns_of(name, &local);
	if (o->cell_depth) {
		cell_child(o, ns, local, atts);
		return;
	}
	if (o->table_depth) {
		table_child(o, ns, local, atts);
		return;
	}
	if (o->style_depth) {
		const char *d = attr(atts, NS_TB, "display");

		if (ns == NS_S && !strcmp(local, "table-properties") && d && !strcmp(d, "false"))
			hide_style(o);
		return;
	}
	if (o->styles_depth) {
		const char *fam = attr(atts, NS_S, "family"), *sn = attr(atts, NS_S, "name");

		if (ns == NS_S && !strcmp(local, "style") && fam && !strcmp(fam, "table") && sn) {
			o->style_name = strdup(sn);
			if (!o->style_name)
				nomem(o);
			o->style_depth = o->depth;
		}
		return;
	}
	if (ns == NS_O && !strcmp(local, "automatic-styles")) {
		o->styles_depth = o->depth;
		return;
	}
	if (ns == NS_O && !strcmp(local, "spreadsheet")) {
		o->sheet_depth = o->depth;
		return;
	}
	if (!o->sheet_depth || ns != NS_TB)
		return;
	if (!strcmp(local, "null-date")) {
		double d;

		if (!parse_date(attr(atts, NS_TB, "date-value"), &d))
			o->null_days = (long long)floor(d);
	}
	else if (!strcmp(local, "table") && o->depth == o->sheet_depth + 1)
		table_start(o, atts);
}

/* expat's end-element handler: closes whatever the element opened. */
static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	struct ods *o = ud;
	unsigned d = o->depth;

	(void)name;
	if (o->st != SHEET_OK)
		return;
	o->depth--;
	if (o->ignore) {
		if (o->ignore == d)
			o->ignore = 0;
		return;
	}
	if (o->para_depth == d) {
		o->para_depth = 0;
	}
	else if (o->cell_depth == d) {
		cell_end(o);
	}
	else if (o->row_depth == d) {
		row_end(o);
	}
	else if (o->table_depth == d) {
		o->table_depth = 0;
	}
	else if (o->style_depth == d) {
		o->style_depth = 0;
		free(o->style_name);
		o->style_name = NULL;
	}
	else if (o->styles_depth == d) {
		o->styles_depth = 0;
	}
	else if (o->sheet_depth == d) {
		o->sheet_depth = 0;
	}
}

/* expat's character-data handler: text inside a paragraph of a cell. */
static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
	struct ods *o = ud;

	if (o->st != SHEET_OK || o->ignore || !o->para_depth || len <= 0)
		return;
	add_text(o, s, (size_t)len);
}

/* Refuses a document type declaration (and with it every entity). */
static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
			       const XML_Char *pubid, int has_internal_subset)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	fail(ud, SHEET_UNREADABLE, "The spreadsheet's content.xml carries a document type "
	     "declaration (<!DOCTYPE>), which no spreadsheet program writes and which "
	     "can hide an entity-expansion attack; kiln refuses it. Save the file again "
	     "from your spreadsheet program, or save it as CSV (UTF-8), and upload that.");
}

/* Refuses an entity declaration (only reachable inside a DOCTYPE). */
static void XMLCALL on_entity(void *ud, const XML_Char *name, int is_param,
			      const XML_Char *value, int value_len, const XML_Char *base,
			      const XML_Char *sysid, const XML_Char *pubid,
			      const XML_Char *notation)
{
	(void)name;
	(void)is_param;
	(void)value;
	(void)value_len;
	(void)base;
	(void)sysid;
	(void)pubid;
	(void)notation;
	fail(ud, SHEET_UNREADABLE, "The spreadsheet's content.xml declares an XML entity, "
	     "which no spreadsheet program writes and which is how entity-expansion "
	     "attacks work; kiln refuses it. Save the file again from your spreadsheet "
	     "program, or save it as CSV (UTF-8), and upload that.");
}

/*
 * Follows the markup in p (n bytes, the next chunk for expat) and refuses a
 * single tag, comment, CDATA section or declaration longer than TOKEN_MAX:
 * expat holds each of those whole in memory.  Returns 0 or -1.
 */
static int scan(struct ods *o, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = p[i];

		switch (o->lx) {
		case LX_TEXT: {
			const char *lt = memchr(p + i, '<', n - i);

			if (!lt) {
				i = n - 1;
				c = p[i];
				break;
			}
			i = (size_t)(lt - p);
			c = '<';
			o->lx = LX_LT;
			o->quote = 0;
			o->toklen = 0;
			break;
		}
		case LX_LT:
			o->lx = c == '?' ? LX_PI : c == '!' ? LX_BANG : c == '>' ? LX_TEXT : LX_TAG;
			break;
		case LX_TAG:
			if (o->quote) {
				if (c == o->quote)
					o->quote = 0;
			}
			else if (c == '"' || c == '\'') {
				o->quote = c;
			}
			else if (c == '>') {
				o->lx = LX_TEXT;
			}
			break;
		case LX_BANG:
			o->lx = c == '-' ? LX_COMMENT : c == '[' ? LX_CDATA : LX_DECL;
			break;
		case LX_COMMENT:
			if (c == '>' && o->prev[0] == '-' && o->prev[1] == '-')
				o->lx = LX_TEXT;
			break;
		case LX_CDATA:
			if (c == '>' && o->prev[0] == ']' && o->prev[1] == ']')
				o->lx = LX_TEXT;
			break;
		case LX_PI:
			if (c == '>' && o->prev[0] == '?')
				o->lx = LX_TEXT;
			break;
		case LX_DECL:
			if (c == '>')
				o->lx = LX_TEXT;
			break;
		}
		o->prev[1] = o->prev[0];
		o->prev[0] = c;
		if (o->lx != LX_TEXT && ++o->toklen > TOKEN_MAX) {
			fail(o, SHEET_UNREADABLE, "The spreadsheet's content.xml holds a single "
			     "tag or comment of more than %zu MiB, which no spreadsheet program "
			     "writes: the file is damaged or hostile. Save it again from your "
			     "spreadsheet program, or save it as CSV (UTF-8), and upload that.",
			     TOKEN_MAX >> 20);
			return -1;
		}
	}
	return 0;
}

/* Does the start of content.xml (n bytes) look like XML, in any encoding? */
static int looks_like_xml(const unsigned char *p, size_t n)
{
	size_t i = 0;

	if (n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
		i = 3;
	else if (n >= 2 && ((p[0] == 0xFF && p[1] == 0xFE) || (p[0] == 0xFE && p[1] == 0xFF)))
		return 1;
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	return i < n && (p[i] == '<' || (p[i] == 0 && i + 1 < n && p[i + 1] == '<'));
}

/* ---- the reader ------------------------------------------------------------------------ */

static const char password_msg[] =
	"This OpenDocument spreadsheet (.ods) is password-protected: its content is "
	"encrypted, and kiln cannot open password-protected files. Save a copy without "
	"the password (or as CSV, UTF-8) and upload that.";

static const char bomb_msg[] =
	"This OpenDocument spreadsheet's content (content.xml) inflates to more than "
	"%llu MiB: far more than any batch needs, or a zip bomb. kiln refuses it; copy "
	"the batch alone into a new file (or save it as CSV, UTF-8) and upload that.";

/*
 * Inflates content.xml from za chunk by chunk into expat (see DESIGN).
 * Returns the status; the message is in o->err.
 */
static enum sheet_status parse_content(struct ods *o, zip_t *za)
{
	zip_stat_t sb;
	zip_file_t *zf;
	zip_uint64_t total = 0;
	char *chunk;
	int first = 1;

	zip_stat_init(&sb);
	if (zip_stat(za, "content.xml", 0, &sb)) {
		fail(o, SHEET_UNREADABLE, "This OpenDocument spreadsheet (.ods) is damaged: it "
		     "holds no content.xml. Open it in your spreadsheet program, save it "
		     "again (or as CSV, UTF-8) and upload that.");
		return o->st;
	}
	if ((sb.valid & ZIP_STAT_SIZE) && sb.size > INFLATE_MAX) {
		fail(o, SHEET_UNREADABLE, bomb_msg, (unsigned long long)(INFLATE_MAX >> 20));
		return o->st;
	}
	zf = zip_fopen(za, "content.xml", 0);
	if (!zf) {
		int ze = zip_error_code_zip(zip_get_error(za));

		if (ze == ZIP_ER_NOPASSWD || ze == ZIP_ER_WRONGPASSWD || ze == ZIP_ER_ENCRNOTSUPP)
			fail(o, SHEET_UNREADABLE, "%s", password_msg);
		else
			fail(o, SHEET_UNREADABLE, "This OpenDocument spreadsheet (.ods) is "
			     "damaged: its content.xml cannot be opened (%s). Open it in your "
			     "spreadsheet program, save it again (or as CSV, UTF-8) and upload "
			     "that.", zip_strerror(za));
		return o->st;
	}
	chunk = malloc(CHUNK);
	if (!chunk) {
		zip_fclose(zf);
		nomem(o);
		return o->st;
	}
	for (;;) {
		zip_int64_t n = zip_fread(zf, chunk, CHUNK);

		if (n < 0) {
			fail(o, SHEET_UNREADABLE, "This OpenDocument spreadsheet (.ods) is "
			     "damaged: its content.xml cannot be inflated (%s). Open it in your "
			     "spreadsheet program, save it again (or as CSV, UTF-8) and upload "
			     "that.", zip_file_strerror(zf));
			break;
		}
		if (n == 0) {
			if (first)
				fail(o, SHEET_UNREADABLE, "This OpenDocument spreadsheet (.ods) "
				     "is damaged: its content.xml is empty. Open it in your "
				     "spreadsheet program, save it again (or as CSV, UTF-8) and "
				     "upload that.");
			else if (XML_Parse(o->xp, chunk, 0, 1) != XML_STATUS_OK && o->st == SHEET_OK)
				fail(o, SHEET_UNREADABLE, "This OpenDocument spreadsheet (.ods) "
				     "is damaged: its content.xml ends too early (%s). Open it "
				     "in your spreadsheet program, save it again (or as CSV, "
				     "UTF-8) and upload that.",
				     XML_ErrorString(XML_GetErrorCode(o->xp)));
			break;
		}
		total += (zip_uint64_t)n;
		if ((sb.valid & ZIP_STAT_SIZE) && total > sb.size) {
			fail(o, SHEET_UNREADABLE, "This OpenDocument spreadsheet (.ods) is "
			     "damaged or a zip bomb: its content.xml inflates to more than the "
			     "%llu bytes its zip directory declares. Save it again from your "
			     "spreadsheet program (or as CSV, UTF-8) and upload that.",
			     (unsigned long long)sb.size);
			break;
		}
		if (total > INFLATE_MAX) {
			fail(o, SHEET_UNREADABLE, bomb_msg, (unsigned long long)(INFLATE_MAX >> 20));
			break;
		}
		if ((sb.valid & ZIP_STAT_COMP_SIZE) && sheet_zip_ratio_exceeded(total, sb.comp_size)) {
			fail(o, SHEET_UNREADABLE, "This OpenDocument spreadsheet (.ods) inflates "
			     "more than %d times its packed size, which no spreadsheet does: kiln "
			     "refuses it as a zip bomb. Save it again from your spreadsheet "
			     "program (or as CSV, UTF-8) and upload that.", SHEET_ZIP_RATIO);
			break;
		}
		if (first && !looks_like_xml((const unsigned char *)chunk, (size_t)n)) {
			fail(o, SHEET_UNREADABLE, "%s", password_msg);
			break;
		}
		first = 0;
		if (scan(o, chunk, (size_t)n))
			break;
		if (XML_Parse(o->xp, chunk, (int)n, 0) != XML_STATUS_OK) {
			if (o->st == SHEET_OK)
				fail(o, SHEET_UNREADABLE, "This OpenDocument spreadsheet (.ods) "
				     "is damaged: its content.xml is not well-formed XML (%s, "
				     "line %llu, column %llu). Open it in your spreadsheet "
				     "program, save it again (or as CSV, UTF-8) and upload that.",
				     XML_ErrorString(XML_GetErrorCode(o->xp)),
				     (unsigned long long)XML_GetCurrentLineNumber(o->xp),
				     (unsigned long long)XML_GetCurrentColumnNumber(o->xp));
			break;
		}
		if (o->st != SHEET_OK)
			break;
	}
	free(chunk);
	zip_fclose(zf);
	return o->st;
}

/* The warning that names the sheet read, when others were skipped. */
static int warn_sheets(struct ods *o)
{
	return sheet_warn_other_sheets(o->grid, o->grid->sheet_name, o->ntables,
				       (const char *const *)o->skipped, o->nskipped);
}

/* Frees what the reader's state owns (not the grid). */
static void ods_free(struct ods *o)
{
	size_t i;

	runs_clear(o);
	free(o->runs);
	free(o->text);
	free(o->style_name);
	for (i = 0; i < o->nhidden; i++)
		free(o->hidden[i]);
	free(o->hidden);
	for (i = 0; i < SKIPPED_SHOWN && i < o->nskipped; i++)
		free(o->skipped[i]);
	if (o->xp)
		XML_ParserFree(o->xp);
	if (o->c_locale)
		freelocale(o->c_locale);
}

enum sheet_status sheet_read_ods(const unsigned char *buf, size_t len,
				 const struct sheet_limits *lim,
				 struct sheet_grid *grid, char *err, size_t errlen)
{
	struct sheet_limits deflim;
	zip_error_t ze;
	zip_source_t *src;
	zip_t *za;
	struct ods o;
	char dummy[1];
	enum sheet_status st;

	sheet_read_begin(grid, &err, &errlen, dummy, &lim, &deflim);
	memset(&o, 0, sizeof(o));
	o.lim = lim;
	o.grid = grid;
	o.err = err;
	o.errlen = errlen;
	o.row = 1;
	o.null_days = days_from_civil(1899, 12, 30);

	zip_error_init(&ze);
	src = buf && len ? zip_source_buffer_create(buf, len, 0, &ze) : NULL;
	za = src ? zip_open_from_source(src, ZIP_RDONLY, &ze) : NULL;
	if (!za) {
		snprintf(err, errlen, "This OpenDocument spreadsheet (.ods) is damaged and "
			 "cannot be opened (%s). Save it again from your spreadsheet program, "
			 "or save it as CSV (UTF-8), and upload that.",
			 buf && len ? zip_error_strerror(&ze) : "the file is empty");
		if (src)
			zip_source_free(src);
		zip_error_fini(&ze);
		return SHEET_UNREADABLE;
	}
	zip_error_fini(&ze);

	o.c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	o.xp = XML_ParserCreateNS(NULL, NS_SEP);
	if (!o.xp) {
		nomem(&o);
	}
	else {
		XML_SetUserData(o.xp, &o);
		XML_SetElementHandler(o.xp, on_start, on_end);
		XML_SetCharacterDataHandler(o.xp, on_text);
		XML_SetStartDoctypeDeclHandler(o.xp, on_doctype);
		XML_SetEntityDeclHandler(o.xp, on_entity);
		XML_SetParamEntityParsing(o.xp, XML_PARAM_ENTITY_PARSING_NEVER);
		parse_content(&o, za);
	}
	zip_discard(za);

	if (o.st == SHEET_OK && !o.table_found) {
		if (o.nskipped)
			fail(&o, SHEET_UNREADABLE, "Every sheet of this workbook is hidden (%u "
			     "of them). Unhide the sheet that holds the batch, save, and upload "
			     "the file again.", o.nskipped);
		else
			fail(&o, SHEET_UNREADABLE, "This OpenDocument file holds no sheet: it is "
			     "not a spreadsheet, or it is damaged. Save it again from your "
			     "spreadsheet program, or save it as CSV (UTF-8), and upload that.");
	}
	if (o.st == SHEET_OK && warn_sheets(&o))
		nomem(&o);
	st = o.st;
	ods_free(&o);
	if (st != SHEET_OK)
		sheet_grid_free(grid);
	return st;
}
