/*
 * validate.c — from a cell grid to batch rows, by the rules of
 * ../design/spreadsheet.md.
 *
 * DESIGN
 * One pass over the grid's cells, which are sorted by row then column:
 *
 *   1. The first non-blank row is the header.  Each name is matched exactly
 *      (surrounding spaces are forgiven with a warning); an unknown name is
 *      an error with a "did you mean" found by, in turn, case and separator
 *      folding, an underscore-separated part of a name ("seed"), a few
 *      aliases and a small Damerau-Levenshtein distance.  A duplicate name,
 *      a missing required column and a value under a column with no name
 *      are errors too.  map[col] then says which batch column each file
 *      column feeds.
 *   2. The row count (grid->nrows, which counts rows a reader only counted)
 *      is checked against lim->max_rows: one error, however long the file.
 *   3. Each non-blank data row is checked column by column in file order,
 *      so its problems come out in the order a user reads them.  Values are
 *      trimmed and compared case-insensitively; an empty cell takes the
 *      default.  The spreadsheet traps are undone where the intent is clear
 *      (a ratio stored as a time, text or numeric; model 2 for 2.0; a seed
 *      stored as 42.0 or 1.2345E+09) and reported otherwise (a boolean, a
 *      date or a formula error where text belongs).  A row is kept in
 *      out->rows only when it has no error.
 *
 * Every message is built by emit(): it starts with the cell's A1 reference
 * and carries the row, the column, the value as read (long ones cut) and a
 * hint saying what is accepted.  Running out of memory sets v->nomem; the
 * walk goes on harmlessly and sheet_validate() returns -1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* memmem(), strndup(), strcasecmp() even under -std=c11 */
#endif
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sheet/sheet.h"

#define PROMPT_MAX_CHARS 4000   /* prompt and negative_prompt, in characters */
#define SEED_MAX 2147483647.0
#define VALUE_MAX_BYTES 1024    /* "value" of a message is cut past this */
#define QUOTE_MAX_BYTES 64      /* a value quoted inside a message is cut past this */
#define COLS_MAX 16384          /* columns looked at, whatever lim->max_cols says */

enum col {
	COL_PROMPT, COL_VISIBILITY, COL_ASPECT, COL_MAGIC, COL_MODEL, COL_SEED,
	COL_RENDERING, COL_NEGATIVE, COL_STYLE, COL_PALETTE, COL_NUM_IMAGES,
	NCOLS
};

#define MAP_NAMELESS (-2)       /* the header cell of this column is empty */
#define MAP_IGNORED (-1)        /* unknown or duplicate name: values not read */

struct coldef {
	const char *name;
	const char *accepted;    /* "public or private": ends "..., not %s" messages */
	const char *hint;
};

static const struct coldef cols[NCOLS] = {
	{ "prompt", "text",
	  "Any text up to 4000 characters; every row needs a prompt." },
	{ "visibility", "public or private",
	  "public or private; every row needs one." },
	{ "aspect_ratio", "an aspect ratio",
	  "One of 1:1, 16:9, 9:16, 4:3, 3:4, 3:2, 2:3, 16:10, 10:16, 3:1, 1:3, "
	  "2:1, 1:2, 5:4, 4:5; empty means 1:1. Format the column as text so that "
	  "the spreadsheet keeps ratios as typed." },
	{ "magic_prompt", "on or off", "on or off; empty means on." },
	{ "model", "a model", "2.0, 1.0, 0.2, 3.0 or 2a; empty means 2.0." },
	{ "seed_number", "a whole number from 0 to 2147483647",
	  "A whole number from 0 to 2147483647; empty lets the engine pick one "
	  "(it is recorded)." },
	{ "rendering", "default, turbo or quality",
	  "default, turbo or quality; empty means default." },
	{ "negative_prompt", "text",
	  "Keywords separated by commas, up to 4000 characters; may be empty." },
	{ "style", "auto, general, realistic, design, 3d or anime",
	  "auto, general, realistic, design, 3d or anime; empty means auto." },
	{ "color_palette", "a colour palette",
	  "Only with model 2.0 or 3.0: up to 5 hexadecimal colours separated by "
	  "spaces (#CBA324 #F86C14 #C71E71), or one of ember, fresh, jungle, "
	  "magic, melon, mosaic, pastel, ultramarine; may be empty." },
	{ "num_images", "a whole number from 1 to 4",
	  "A whole number from 1 to 4; empty means 4." },
};

const char *const sheet_visibilities[] = { "public", "private", NULL };
const char *const sheet_on_off[] = { "on", "off", NULL };
const char *const sheet_renderings[] = { "default", "turbo", "quality", NULL };
const char *const sheet_styles[] = {
	"auto", "general", "realistic", "design", "3d", "anime", NULL
};
const char *const sheet_ratios[] = {
	"1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "16:10", "10:16",
	"3:1", "1:3", "2:1", "1:2", "5:4", "4:5", NULL
};
const char *const sheet_models[] = { "2.0", "1.0", "0.2", "3.0", "2a", NULL };
const char *const sheet_presets[] = {
	"ember", "fresh", "jungle", "magic", "melon", "mosaic", "pastel",
	"ultramarine", NULL
};

/*
 * Names people write for a column, after folding (see suggest()), that
 * neither a part of the name ("seed", "palette") nor a typo explains.
 */
static const struct {
	const char *from;
	enum col to;
} aliases[] = {
	{ "size", COL_ASPECT }, { "colour", COL_PALETTE }, { "colors", COL_PALETTE },
	{ "colours", COL_PALETTE }, { "number_of_images", COL_NUM_IMAGES },
	{ "count", COL_NUM_IMAGES }, { "privacy", COL_VISIBILITY },
	{ "text", COL_PROMPT }, { "description", COL_PROMPT },
	{ "version", COL_MODEL }, { "quality", COL_RENDERING },
	{ "speed", COL_RENDERING },
};

/*
 * The prompts of the template's example rows (sheet.c, template_simple and
 * template_full); a row that still has one is warned about.
 */
static const char *const example_prompts[] = {
	"Example row, delete it: a watercolor fox curled up asleep in autumn "
	"leaves, soft morning light",
	"Example row, delete it: a minimalist logo of a mountain and a rising "
	"sun, flat vector",
	NULL
};

/* What a cell holds, as far as checking goes. */
enum kind { K_EMPTY, K_TEXT, K_NUMBER, K_DATE, K_BOOL, K_ERROR };

struct vctx {
	const struct sheet_grid *g;
	const struct sheet_limits *lim;
	struct sheet_batch *out;
	int nomem;
	unsigned hrow;           /* the header row */
	unsigned hmax;           /* its last column */
	int *map;                /* [1..hmax]: enum col, MAP_NAMELESS or MAP_IGNORED */
	unsigned colof[NCOLS];   /* file column of each batch column, 0 when absent */
	int suggested[NCOLS];    /* an unknown name was taken to mean this column */
};

/* ---- small text helpers --------------------------------------------------- */

static int is_space_at(const char *s, size_t n, size_t i, size_t *w)
{
	unsigned char c = (unsigned char)s[i];

	if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f') {
		*w = 1;
		return 1;
	}
	if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] == 0xA0) {
		*w = 2;             /* U+00A0 NO-BREAK SPACE */
		return 1;
	}
	return 0;
}

/* Trims white space (and U+00A0) from both ends of s: returns the start, sets *n. */
static const char *trim(const char *s, size_t *n)
{
	size_t len = strlen(s), w;

	while (len && is_space_at(s, len, 0, &w)) {
		s += w;
		len -= w;
	}
	for (;;) {
		unsigned char c = len ? (unsigned char)s[len - 1] : 0;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f')
			len--;
		else if (len >= 2 && (unsigned char)s[len - 2] == 0xC2 &&
			 (unsigned char)s[len - 1] == 0xA0)
			len -= 2;
		else
			break;
	}
	*n = len;
	return s;
}

/*
 * Copies the trimmed text of s, lower-cased (ASCII), into out (size
 * outlen).  Returns 0, or -1 when it does not fit (then no short value
 * can match).  The short values it is for are copied as they are read,
 * without measuring s first; only a text longer than out is trimmed by
 * trim() to see whether it fits.
 */
static int lower_trim(const char *s, char *out, size_t outlen)
{
	size_t n = 0, i, w;
	const char *t;

	while (*s && is_space_at(s, 2, 0, &w))  /* s[1] may be read: s[0] is not the NUL */
		s += w;
	for (; n < outlen && s[n]; n++)
		out[n] = (char)((s[n] >= 'A' && s[n] <= 'Z') ? s[n] + 32 : s[n]);
	if (n < outlen) {
		for (;;) {              /* trim()'s end; the start is trimmed already */
			unsigned char c = n ? (unsigned char)out[n - 1] : 0;

			if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f')
				n--;
			else if (n >= 2 && (unsigned char)out[n - 2] == 0xC2 && c == 0xA0)
				n -= 2;
			else
				break;
		}
		out[n] = '\0';
		return 0;
	}
	t = trim(s, &n);
	if (n >= outlen)
		return -1;
	for (i = 0; i < n; i++)
		out[i] = (char)((t[i] >= 'A' && t[i] <= 'Z') ? t[i] + 32 : t[i]);
	out[n] = '\0';
	return 0;
}

/* Copies s into dst (size len), cut if it must be: snprintf(dst, len, "%s", s) without its cost. */
static void set_str(char *dst, size_t len, const char *s)
{
	size_t n = strlen(s);

	if (n >= len)
		n = len - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

static int in_list(const char *s, const char *const *list)
{
	int i;

	for (i = 0; list[i]; i++)       /* the first byte rules most out: no call */
		if (list[i][0] == s[0] && !strcmp(s, list[i]))
			return i;
	return -1;
}

/* Characters (code points) in the first n bytes of UTF-8 text s. */
static size_t utf8_chars(const char *s, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			k++;
	return k;
}

/* Is the number format (or OpenDocument value type) that of a date? */
static int is_date_format(const char *fmt)
{
	int inq = 0, inb = 0;

	for (; *fmt; fmt++) {
		char ch = *fmt;

		if (inq) {
			inq = ch != '"';
			continue;
		}
		if (inb) {
			inb = ch != ']';
			continue;
		}
		if (ch == '"')
			inq = 1;
		else if (ch == '[')
			inb = 1;
		else if (ch == '\\' && fmt[1])
			fmt++;
		else if (ch == 'd' || ch == 'D' || ch == 'y' || ch == 'Y')
			return 1;
	}
	return 0;
}

static int is_blank(const struct sheet_cell *c)
{
	if (c->type != SHEET_CELL_TEXT ||
	    (c->text && (unsigned char)c->text[0] > ' ' && (unsigned char)c->text[0] != 0xC2))
		return 0;               /* sheet_cell_blank()'s first look, without the call */
	return sheet_cell_blank(c);
}

static enum kind kind_of(const struct sheet_cell *c)
{
	if (!c || is_blank(c))
		return K_EMPTY;
	switch (c->type) {
	case SHEET_CELL_TEXT:
		return K_TEXT;
	case SHEET_CELL_NUMBER:
		return c->format ? K_DATE : K_NUMBER;
	case SHEET_CELL_BOOL:
		return K_BOOL;
	default:
		return K_ERROR;
	}
}

/* The value of a cell as read, as text: into buf for numbers and booleans. */
static const char *shown(const struct sheet_cell *c, char *buf, size_t len)
{
	switch (c->type) {
	case SHEET_CELL_NUMBER:
		snprintf(buf, len, "%.15g", c->number);
		return buf;
	case SHEET_CELL_BOOL:
		return c->number != 0 ? "TRUE" : "FALSE";
	default:
		return c->text ? c->text : "";
	}
}

/* ---- messages ---------------------------------------------------------------- */

/*
 * Adds a message to list m about the cell at (row, col) of batch column id
 * (col 0 and id < 0: about the row or the file; c NULL: no value).  The
 * message is the cell reference, a space, then fmt.  hint NULL means the
 * column's own hint.
 */
__attribute__((format(printf, 8, 9)))
static void emit(struct vctx *v, struct sheet_msgs *m, unsigned row, int id,
		 unsigned col, const struct sheet_cell *c, const char *hint,
		 const char *fmt, ...)
{
	char ref[16] = "", text[1024], value[VALUE_MAX_BYTES], num[32];
	const char *val = NULL;
	va_list ap;

	if (v->nomem)
		return;
	if (col)
		sheet_cell_ref(row, col, ref, sizeof(ref));
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (c) {
		sheet_utf8_cut(shown(c, num, sizeof(num)), value, sizeof(value));
		val = value;
	}
	if (!hint && id >= 0)
		hint = cols[id].hint;
	if (sheet_msgs_add(m, row, id >= 0 ? cols[id].name : NULL, col ? ref : NULL,
			  val, hint, "%s%s%s", ref, col ? " " : "", text))
		v->nomem = 1;
}

/* The value of c cut short for quoting inside a message. */
static const char *quoted(const struct sheet_cell *c, char *buf, size_t len)
{
	char num[32];

	sheet_utf8_cut(shown(c, num, sizeof(num)), buf, len);
	return buf;
}

/*
 * Reports a cell whose kind cannot be what column id wants: a boolean, a
 * formula error, a date or time, or a number.
 */
static void wrong_kind(struct vctx *v, unsigned row, int id, unsigned col,
		       const struct sheet_cell *c)
{
	char q[QUOTE_MAX_BYTES];
	const char *acc = cols[id].accepted;

	switch (kind_of(c)) {
	case K_BOOL:
		emit(v, &v->out->errors, row, id, col, c, NULL, "%s holds the boolean "
		     "%s, not %s; format the column as text", cols[id].name,
		     quoted(c, q, sizeof(q)), acc);
		break;
	case K_ERROR:
		emit(v, &v->out->errors, row, id, col, c, NULL, "%s holds the formula "
		     "error %s, not %s", cols[id].name, quoted(c, q, sizeof(q)), acc);
		break;
	case K_DATE:
		emit(v, &v->out->errors, row, id, col, c, NULL, "%s holds a %s, not "
		     "%s; format the column as text and type the value again",
		     cols[id].name, is_date_format(c->format) ? "date" : "time", acc);
		break;
	default:
		emit(v, &v->out->errors, row, id, col, c, NULL, "%s holds the number "
		     "%s, not %s", cols[id].name, quoted(c, q, sizeof(q)), acc);
		break;
	}
}

/* ---- parsing values ------------------------------------------------------------ */

/*
 * Parses text that spells a plain decimal number ("42", "42.0", ".5",
 * "1.2345E+09"; no sign but +, no hex, no inf) into *out.  Returns 0 or -1.
 */
static int parse_decimal(const char *s, double *out)
{
	size_t n, i = 0, digits = 0;
	const char *t = trim(s, &n);
	char buf[64], *end;

	if (!n || n >= sizeof(buf))
		return -1;
	memcpy(buf, t, n);
	buf[n] = '\0';
	if (buf[i] == '+')
		i++;
	while (buf[i] >= '0' && buf[i] <= '9') {
		i++;
		digits++;
	}
	if (buf[i] == '.') {
		i++;
		while (buf[i] >= '0' && buf[i] <= '9') {
			i++;
			digits++;
		}
	}
	if (!digits)
		return -1;
	if (buf[i] == 'e' || buf[i] == 'E') {
		i++;
		if (buf[i] == '+' || buf[i] == '-')
			i++;
		if (!(buf[i] >= '0' && buf[i] <= '9'))
			return -1;
		while (buf[i] >= '0' && buf[i] <= '9')
			i++;
	}
	if (buf[i])
		return -1;
	*out = strtod(buf, &end);
	return *end || !isfinite(*out) ? -1 : 0;
}

/*
 * The whole number a cell holds (a number, or text such as "42", "42.0" or
 * "1.2345E+09"), in *out.  Returns 0, or -1 when it holds something else.
 */
static int whole_number(const struct sheet_cell *c, double *out)
{
	double d;

	if (kind_of(c) == K_NUMBER)
		d = c->number;
	else if (kind_of(c) != K_TEXT || parse_decimal(c->text, &d))
		return -1;
	if (!isfinite(d) || floor(d) != d)
		return -1;
	*out = d;
	return 0;
}

/* The canonical model for a numeric value (2 is "2.0"), or NULL. */
static const char *model_of_number(double d)
{
	if (fabs(d - 2) < 1e-9)
		return "2.0";
	if (fabs(d - 1) < 1e-9)
		return "1.0";
	if (fabs(d - 0.2) < 1e-9)
		return "0.2";
	if (fabs(d - 3) < 1e-9)
		return "3.0";
	return NULL;
}

/*
 * The model a cell names, in *out (its canonical spelling; "2.0" when the
 * cell is empty).  Returns 0, or -1 when it names none.
 */
static int parse_model(const struct sheet_cell *c, const char **out)
{
	char low[16];
	double d;
	int i;

	switch (kind_of(c)) {
	case K_EMPTY:
		*out = "2.0";
		return 0;
	case K_NUMBER:
		*out = model_of_number(c->number);
		return *out ? 0 : -1;
	case K_TEXT:
		if (lower_trim(c->text, low, sizeof(low)))
			return -1;
		i = in_list(low, sheet_models);
		if (i >= 0) {
			*out = sheet_models[i];
			return 0;
		}
		if (parse_decimal(low, &d))
			return -1;
		*out = model_of_number(d);
		return *out ? 0 : -1;
	default:
		return -1;
	}
}

/*
 * Parses a clock time "H:MM", "H:MM:SS", "H:MM:SS.fff", each optionally
 * followed by AM or PM, from lower-case text s.  Sets the 24-hour *h, *m and
 * *sec (non-zero also when a fraction of a second is).  Returns 0 or -1.
 */
static int parse_clock(const char *s, unsigned *h, unsigned *m, unsigned *sec)
{
	unsigned hh = 0, nd = 0;
	int pm = -1;

	*sec = 0;
	while (*s >= '0' && *s <= '9' && nd < 3) {
		hh = hh * 10 + (unsigned)(*s++ - '0');
		nd++;
	}
	if (nd < 1 || nd > 2 || *s++ != ':')
		return -1;
	if (!(s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9'))
		return -1;
	*m = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
	s += 2;
	if (*s == ':') {
		if (!(s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9'))
			return -1;
		*sec = (unsigned)(s[1] - '0') * 10 + (unsigned)(s[2] - '0');
		s += 3;
		if (*s == '.') {
			for (s++; *s >= '0' && *s <= '9'; s++)
				if (*s != '0')
					*sec = 60;      /* not a whole second: not a ratio */
		}
	}
	while (*s == ' ')
		s++;
	if (!strcmp(s, "am") || !strcmp(s, "a.m."))
		pm = 0;
	else if (!strcmp(s, "pm") || !strcmp(s, "p.m."))
		pm = 1;
	else if (*s)
		return -1;
	if (*m > 59 || *sec > 60)
		return -1;
	if (pm >= 0) {
		if (hh < 1 || hh > 12)
			return -1;
		hh = hh % 12 + (pm ? 12 : 0);
	}
	*h = hh;
	return 0;
}

/* The known ratio hours:minutes spell (2:03 is "2:3"), or NULL. */
static const char *ratio_of_time(unsigned h, unsigned m, unsigned sec)
{
	char buf[32];
	int i;

	if (sec)
		return NULL;
	snprintf(buf, sizeof(buf), "%u:%u", h, m);
	i = in_list(buf, sheet_ratios);
	return i >= 0 ? sheet_ratios[i] : NULL;
}

/* ---- the columns ------------------------------------------------------------------ */

/*
 * prompt and negative_prompt: any text (a number is taken as its text),
 * trimmed, at most PROMPT_MAX_CHARS characters.  Sets *dst to a new
 * string ("" for an empty negative prompt; NULL when there is an error).
 */
static void check_text(struct vctx *v, unsigned row, int id, unsigned col,
		       const struct sheet_cell *c, char **dst)
{
	char num[32];
	const char *t;
	size_t n, chars;

	*dst = NULL;
	switch (kind_of(c)) {
	case K_EMPTY:
		if (id == COL_PROMPT) {
			emit(v, &v->out->errors, row, id, col, c, NULL,
			     "prompt is empty; every row needs a prompt");
			return;
		}
		t = "";
		n = 0;
		break;
	case K_TEXT:
		t = trim(c->text, &n);
		break;
	case K_NUMBER:
		t = shown(c, num, sizeof(num));
		n = strlen(t);
		break;
	default:
		wrong_kind(v, row, id, col, c);
		return;
	}
	/* no more characters than bytes: only a long text needs counting */
	chars = n <= PROMPT_MAX_CHARS ? n : utf8_chars(t, n);
	if (chars > PROMPT_MAX_CHARS) {
		emit(v, &v->out->errors, row, id, col, c, NULL, "%s is %zu characters "
		     "long; at most %d are allowed", cols[id].name, chars, PROMPT_MAX_CHARS);
		return;
	}
	*dst = strndup(t, n);
	if (!*dst)
		v->nomem = 1;
}

/*
 * A column with a fixed list of values (visibility, magic_prompt,
 * rendering, style): copies the canonical value, or dflt for an empty cell,
 * into dst (size len).  dflt NULL: the value is required.
 */
static void check_choice(struct vctx *v, unsigned row, int id, unsigned col,
			 const struct sheet_cell *c, const char *const *list,
			 const char *dflt, char *dst, size_t len)
{
	char low[32], q[QUOTE_MAX_BYTES];
	int i;

	switch (kind_of(c)) {
	case K_EMPTY:
		if (!dflt) {
			emit(v, &v->out->errors, row, id, col, c, NULL, "%s is empty; "
			     "use %s", cols[id].name, cols[id].accepted);
			return;
		}
		set_str(dst, len, dflt);
		return;
	case K_TEXT:
		i = lower_trim(c->text, low, sizeof(low)) ? -1 : in_list(low, list);
		if (i < 0) {
			emit(v, &v->out->errors, row, id, col, c, NULL, "%s \"%s\" is not "
			     "accepted; use %s", cols[id].name, quoted(c, q, sizeof(q)),
			     cols[id].accepted);
			return;
		}
		set_str(dst, len, list[i]);
		return;
	default:
		wrong_kind(v, row, id, col, c);
		return;
	}
}

/* The error for an aspect ratio that is not one kiln knows. */
static void bad_ratio(struct vctx *v, unsigned row, unsigned col, const struct sheet_cell *c)
{
	char q[QUOTE_MAX_BYTES];

	emit(v, &v->out->errors, row, COL_ASPECT, col, c, NULL, "aspect_ratio \"%s\" "
	     "is not an aspect ratio kiln knows; use one of 1:1, 16:9, 9:16, 4:3, "
	     "3:4, 3:2, 2:3, 16:10, 10:16, 3:1, 1:3, 2:1, 1:2, 5:4, 4:5",
	     quoted(c, q, sizeof(q)));
}

/*
 * aspect_ratio: a known ratio; a time of day (text "2:03", "04:09:00 PM",
 * or a number, the fraction of a day) whose hours and minutes spell one is
 * accepted with a warning.
 */
static void check_aspect(struct vctx *v, unsigned row, unsigned col,
			 const struct sheet_cell *c, struct sheet_fields *f)
{
	char low[32], when[16];
	const char *r = NULL;
	unsigned h, m, sec;
	int i;

	switch (kind_of(c)) {
	case K_EMPTY:
		set_str(f->aspect_ratio, sizeof(f->aspect_ratio), "1:1");
		return;
	case K_TEXT:
		if (lower_trim(c->text, low, sizeof(low))) {
			bad_ratio(v, row, col, c);
			return;
		}
		i = in_list(low, sheet_ratios);
		if (i >= 0) {
			set_str(f->aspect_ratio, sizeof(f->aspect_ratio), sheet_ratios[i]);
			return;
		}
		if (parse_clock(low, &h, &m, &sec)) {
			bad_ratio(v, row, col, c);
			return;
		}
		break;
	case K_NUMBER:
	case K_DATE: {
		double d = c->number, frac;
		long long s;

		if (!isfinite(d) || d < 0 || d >= 1e7) {
			wrong_kind(v, row, COL_ASPECT, col, c);
			return;
		}
		frac = d - floor(d);
		s = llround(frac * 86400.0);
		if (s >= 86400)
			s -= 86400;
		h = (unsigned)(s / 3600);
		m = (unsigned)(s / 60 % 60);
		sec = (unsigned)(s % 60);
		if (!ratio_of_time(h, m, sec) &&
		    (!c->format || (is_date_format(c->format) && s == 0))) {
			wrong_kind(v, row, COL_ASPECT, col, c);
			return;
		}
		break;
	}
	default:
		wrong_kind(v, row, COL_ASPECT, col, c);
		return;
	}
	r = ratio_of_time(h, m, sec);
	if (sec)
		snprintf(when, sizeof(when), "%02u:%02u:%02u", h, m, sec % 60);
	else
		snprintf(when, sizeof(when), "%02u:%02u", h, m);
	if (!r) {
		emit(v, &v->out->errors, row, COL_ASPECT, col, c, NULL, "aspect_ratio "
		     "was stored as the time %s by the spreadsheet, which is not an "
		     "aspect ratio kiln knows; format the column as text and type the "
		     "ratio again", when);
		return;
	}
	set_str(f->aspect_ratio, sizeof(f->aspect_ratio), r);
	emit(v, &v->out->warnings, row, COL_ASPECT, col, c, NULL, "aspect_ratio was "
	     "stored as the time %s by the spreadsheet; read as %s \xE2\x80\x94 format "
	     "the column as text to avoid this", when, r);
}

/*
 * model: one of sheet_models[], also as a number or numeric text (2 is 2.0);
 * parsed is parse_model()'s answer for c (0 or -1), m the model it found.
 */
static void check_model(struct vctx *v, unsigned row, unsigned col,
			const struct sheet_cell *c, struct sheet_fields *f, int parsed, const char *m)
{
	char q[QUOTE_MAX_BYTES];

	if (!parsed) {
		set_str(f->model, sizeof(f->model), m);
		return;
	}
	if (kind_of(c) == K_TEXT || kind_of(c) == K_NUMBER)
		emit(v, &v->out->errors, row, COL_MODEL, col, c, NULL, "model \"%s\" is "
		     "not a model kiln knows; use 2.0, 1.0, 0.2, 3.0 or 2a",
		     quoted(c, q, sizeof(q)));
	else
		wrong_kind(v, row, COL_MODEL, col, c);
}

/*
 * seed_number and num_images: a whole number from lo to hi (a number, or
 * text such as "42", "42.0", "1.2345E+09"), into *out; dflt when empty.
 */
static void check_whole(struct vctx *v, unsigned row, int id, unsigned col,
			const struct sheet_cell *c, double lo, double hi,
			double dflt, double *out)
{
	char q[QUOTE_MAX_BYTES];
	enum kind k = kind_of(c);
	double d;

	if (k == K_EMPTY) {
		*out = dflt;
		return;
	}
	if (k != K_TEXT && k != K_NUMBER) {
		wrong_kind(v, row, id, col, c);
		return;
	}
	if (whole_number(c, &d) || d < lo || d > hi) {
		emit(v, &v->out->errors, row, id, col, c, NULL, "%s \"%s\" must be a "
		     "whole number from %.0f to %.0f", cols[id].name,
		     quoted(c, q, sizeof(q)), lo, hi);
		return;
	}
	*out = d;
}

/*
 * Normalises a palette: one preset (lower case), or up to 5 colours
 * "#RRGGBB" (upper case, '#' optional in the cell) separated by spaces or
 * commas.  Returns a new string, or NULL with *ncolours set (0: a word that
 * is neither; more than 5: too many) or *nomem set.
 */
static char *parse_palette(const char *s, unsigned *ncolours, int *nomem)
{
	char out[5 * 8], word[16];
	size_t n, i = 0, o = 0, w;
	const char *t = trim(s, &n);
	unsigned count = 0;
	int preset = -1;
	char *r;

	*ncolours = 0;
	while (i < n) {
		while (i < n && (t[i] == ' ' || t[i] == ',' || t[i] == '\t'))
			i++;
		if (i >= n)
			break;
		for (w = 0; i < n && t[i] != ' ' && t[i] != ',' && t[i] != '\t'; i++)
			if (w < sizeof(word) - 1)
				word[w++] = (char)((t[i] >= 'A' && t[i] <= 'Z') ? t[i] + 32 : t[i]);
			else
				w = sizeof(word);       /* too long for anything */
		if (w >= sizeof(word))
			return NULL;
		word[w] = '\0';
		count++;
		if (preset >= 0)
			return NULL;            /* a preset goes alone */
		preset = in_list(word, sheet_presets);
		if (preset >= 0) {
			if (count > 1)
				return NULL;
			continue;
		}
		if (word[0] == '#') {
			memmove(word, word + 1, w);
			w--;
		}
		if (w != 6 || strspn(word, "0123456789abcdef") != 6)
			return NULL;
		if (count > 5)
			continue;               /* counted, to say how many */
		if (o)
			out[o++] = ' ';
		out[o++] = '#';
		for (w = 0; w < 6; w++)
			out[o++] = (char)((word[w] >= 'a' && word[w] <= 'f') ? word[w] - 32 : word[w]);
	}
	*ncolours = count;
	if (count > 5)
		return NULL;
	out[o] = '\0';
	r = strdup(preset >= 0 ? sheet_presets[preset] : out);
	if (!r)
		*nomem = 1;
	return r;
}

/* color_palette: only with model 2.0 or 3.0 (model_ok: the row's model is known). */
static void check_palette(struct vctx *v, unsigned row, unsigned col,
			  const struct sheet_cell *c, int model_ok, const char *model,
			  struct sheet_fields *f)
{
	char q[QUOTE_MAX_BYTES];
	unsigned ncol;
	int nomem = 0;

	switch (kind_of(c)) {
	case K_EMPTY:
		return;
	case K_TEXT:
		break;
	default:
		wrong_kind(v, row, COL_PALETTE, col, c);
		return;
	}
	if (model_ok && strcmp(model, "2.0") && strcmp(model, "3.0")) {
		emit(v, &v->out->errors, row, COL_PALETTE, col, c,
		     "Use model 2.0 (or 3.0) in this row, or leave color_palette empty.",
		     "color_palette is only available with model 2.0 (this row uses %s)",
		     model);
		return;
	}
	f->color_palette = parse_palette(c->text, &ncol, &nomem);
	if (nomem)
		v->nomem = 1;
	if (f->color_palette || nomem)
		return;
	if (ncol > 5)
		emit(v, &v->out->errors, row, COL_PALETTE, col, c, NULL, "color_palette "
		     "has %u colours; at most 5 are allowed", ncol);
	else
		emit(v, &v->out->errors, row, COL_PALETTE, col, c, NULL, "color_palette "
		     "\"%s\" is not accepted; use up to 5 colours such as #CBA324 "
		     "#F86C14, or one of ember, fresh, jungle, magic, melon, mosaic, "
		     "pastel, ultramarine", quoted(c, q, sizeof(q)));
}

/* ---- the header ---------------------------------------------------------------------- */

/* Damerau-Levenshtein (optimal string alignment) distance of two short strings. */
static unsigned edit_distance(const char *a, const char *b)
{
	unsigned d[33][33];
	size_t la = strlen(a), lb = strlen(b), i, j;

	if (la > 32 || lb > 32)
		return 99;
	for (i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			unsigned cost = a[i - 1] != b[j - 1];
			unsigned best = d[i - 1][j] + 1;

			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < best)
				best = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

/* Copies s without its underscores into out (size 64). */
static void squeeze(const char *s, char *out)
{
	size_t o = 0;

	for (; *s && o < 63; s++)
		if (*s != '_')
			out[o++] = *s;
	out[o] = '\0';
}

/*
 * The column an unknown header name most likely meant, or -1: the name is
 * folded (lower case; spaces, hyphens and dots become underscores), then
 * compared whole, without underscores, as one underscore-separated part of
 * a name, through aliases[], and by edit distance (1 for names up to 5
 * letters, 2 up to 10, else 3).
 */
static int suggest(const char *name)
{
	char f[64], sq[64], sq2[64];
	size_t n, i, o = 0;
	const char *t = trim(name, &n);
	unsigned best = 99, d, limit;
	int k, found = -1, hits = 0;

	if (n >= sizeof(f))
		return -1;
	for (i = 0; i < n; i++) {
		char ch = t[i];

		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch + 32);
		if (ch == ' ' || ch == '-' || ch == '.')
			ch = '_';
		if (ch == '_' && (o == 0 || f[o - 1] == '_'))
			continue;
		f[o++] = ch;
	}
	while (o && f[o - 1] == '_')
		o--;
	f[o] = '\0';
	if (!o)
		return -1;
	squeeze(f, sq);
	for (k = 0; k < NCOLS; k++) {
		squeeze(cols[k].name, sq2);
		if (!strcmp(f, cols[k].name) || !strcmp(sq, sq2))
			return k;
	}
	for (k = 0; k < (int)(sizeof(aliases) / sizeof(aliases[0])); k++)
		if (!strcmp(f, aliases[k].from))
			return aliases[k].to;
	for (k = 0; k < NCOLS; k++) {
		const char *p = cols[k].name;
		size_t fl = strlen(f);

		while (p) {
			if (!strncmp(p, f, fl) && (p[fl] == '_' || p[fl] == '\0')) {
				found = k;
				hits++;
				break;
			}
			p = strchr(p, '_');
			if (p)
				p++;
		}
	}
	if (hits == 1)
		return found;
	limit = o <= 5 ? 1 : o <= 10 ? 2 : 3;
	found = -1;
	for (k = 0; k < NCOLS; k++) {
		d = edit_distance(f, cols[k].name);
		if (d < best) {
			best = d;
			found = k;
		}
	}
	return best <= limit ? found : -1;
}

/* The column letters of col ("K") into buf (16 bytes). */
static void col_letters(unsigned col, char *buf)
{
	size_t n;

	sheet_cell_ref(1, col, buf, 16);
	n = strlen(buf);
	buf[n - 1] = '\0';
}

/*
 * Reads the header row (cells [from, to) of the grid) into v->map and
 * v->colof, reporting unknown, duplicate and missing names.  Returns 0 or
 * -1 on ENOMEM.
 */
static int read_header(struct vctx *v, size_t from, size_t to)
{
	static const char names_hint[] = "Column names are lower case, exactly: "
		"prompt, visibility, aspect_ratio, magic_prompt, model, seed_number, "
		"rendering, negative_prompt, style, color_palette, num_images.";
	const struct sheet_cell *cells = v->g->cells;
	size_t k, n;
	unsigned col;
	int id;

	v->hmax = cells[to - 1].col;
	v->map = malloc(((size_t)v->hmax + 1) * sizeof(*v->map));
	if (!v->map)
		return -1;
	for (col = 0; col <= v->hmax; col++)
		v->map[col] = MAP_NAMELESS;
	for (k = from; k < to; k++) {
		const struct sheet_cell *c = &cells[k];
		char q[QUOTE_MAX_BYTES], num[32], first[16];
		const char *name;

		if (is_blank(c))
			continue;
		v->map[c->col] = MAP_IGNORED;
		name = c->type == SHEET_CELL_TEXT ? c->text : NULL;
		for (id = 0; name && id < NCOLS; id++) {
			const char *t = trim(name, &n);

			if (n == strlen(cols[id].name) && !memcmp(t, cols[id].name, n))
				break;
		}
		if (!name || id == NCOLS) {
			int s = c->type == SHEET_CELL_TEXT ? suggest(c->text) : -1;

			sheet_utf8_cut(shown(c, num, sizeof(num)), q, sizeof(q));
			if (s < 0)
				emit(v, &v->out->errors, v->hrow, -1, c->col, c, names_hint,
				     "unknown column \"%s\"", q);
			else {
				const char *t = trim(c->text, &n);
				int case_only = n == strlen(cols[s].name) &&
						!strncasecmp(t, cols[s].name, n);

				v->suggested[s] = 1;
				emit(v, &v->out->errors, v->hrow, -1, c->col, c, names_hint,
				     "unknown column \"%s\" \xE2\x80\x94 did you mean \"%s\"?%s",
				     q, cols[s].name,
				     case_only ? " Column names are case-sensitive." : "");
			}
			continue;
		}
		if (v->colof[id]) {
			sheet_cell_ref(v->hrow, v->colof[id], first, sizeof(first));
			emit(v, &v->out->errors, v->hrow, id, c->col, c,
			     "Remove or rename one of the two columns.",
			     "column \"%s\" appears twice (also in %s); only %s is read",
			     cols[id].name, first, first);
			continue;
		}
		v->colof[id] = c->col;
		v->map[c->col] = id;
		if (strlen(c->text) != strlen(cols[id].name)) {
			sheet_utf8_cut(c->text, q, sizeof(q));
			emit(v, &v->out->warnings, v->hrow, id, c->col, c,
			     "Remove the spaces around the column name.",
			     "column name \"%s\" has spaces around it; read as \"%s\"",
			     q, cols[id].name);
		}
	}
	for (id = 0; id <= COL_VISIBILITY; id++) {
		if (v->colof[id] || v->suggested[id])
			continue;
		emit(v, &v->out->errors, v->hrow, id, 0, NULL, names_hint,
		     "Row %u (the header) has no \"%s\" column; it is required",
		     v->hrow, cols[id].name);
	}
	return v->nomem ? -1 : 0;
}

/*
 * Reports values in columns that have no name in the header row: one error
 * per such column, at its first value, saying how many more there are.
 * Data cells are [from, ncells).
 */
static int nameless_values(struct vctx *v, size_t from)
{
	const struct sheet_grid *g = v->g;
	unsigned maxcol = 0, col, *first, *count;
	size_t k;

	for (k = from; k < g->ncells; k++)
		if (g->cells[k].col > maxcol)
			maxcol = g->cells[k].col;
	first = calloc((size_t)maxcol + 1, sizeof(*first));
	count = calloc((size_t)maxcol + 1, sizeof(*count));
	if (!first || !count) {
		free(first);
		free(count);
		return -1;
	}
	for (k = from; k < g->ncells; k++) {
		const struct sheet_cell *c = &g->cells[k];

		if (is_blank(c) || (c->col <= v->hmax && v->map[c->col] != MAP_NAMELESS))
			continue;
		if (!count[c->col]++)
			first[c->col] = (unsigned)k;
	}
	for (col = 1; col <= maxcol; col++) {
		const struct sheet_cell *c;
		char letters[16], more[64] = "";

		if (!count[col])
			continue;
		c = &g->cells[first[col]];
		col_letters(col, letters);
		if (count[col] > 1)
			snprintf(more, sizeof(more), " (and %u more cells of column %s)",
				 count[col] - 1, letters);
		emit(v, &v->out->errors, c->row, -1, col, c,
		     "Give the column a name in the header row, or delete its values.",
		     "has a value, but column %s has no name in the header row (%s%u is "
		     "empty)%s", letters, letters, v->hrow, more);
	}
	free(first);
	free(count);
	return v->nomem ? -1 : 0;
}

/* ---- rows ---------------------------------------------------------------------------- */

/* Appends a valid row to out->rows, taking its fields.  Returns 0 or -1. */
static int add_row(struct sheet_batch *out, unsigned row, struct sheet_fields *f, size_t *cap)
{
	if (out->nrows == *cap) {
		size_t n = *cap ? *cap * 2 : 64;
		struct sheet_row *r = realloc(out->rows, n * sizeof(*r));

		if (!r)
			return -1;
		out->rows = r;
		*cap = n;
	}
	out->rows[out->nrows].row = row;
	out->rows[out->nrows].f = *f;
	out->nrows++;
	out->images_total += (unsigned)f->num_images;
	return 0;
}

/*
 * Checks one data row; rc[col] is the row's cell in file column col (or
 * NULL), for col 1..v->hmax.  Appends the row to out->rows when it has no
 * error.
 */
static void check_row(struct vctx *v, unsigned row, const struct sheet_cell **rc,
		      size_t *cap)
{
	struct sheet_fields f;
	size_t errors = v->out->errors.n;
	const char *model = "2.0";
	int model_ok = 1, id;
	double d;
	unsigned col;

	memset(&f, 0, sizeof(f));
	set_str(f.aspect_ratio, sizeof(f.aspect_ratio), "1:1");
	set_str(f.magic_prompt, sizeof(f.magic_prompt), "on");
	set_str(f.model, sizeof(f.model), "2.0");
	set_str(f.rendering, sizeof(f.rendering), "default");
	set_str(f.style, sizeof(f.style), "auto");
	f.seed = -1;
	f.num_images = 4;
	if (v->colof[COL_MODEL])
		model_ok = !parse_model(rc[v->colof[COL_MODEL]], &model);

	for (col = 1; col <= v->hmax; col++) {
		const struct sheet_cell *c = rc[col];

		id = v->map[col];
		if (id < 0)
			continue;
		switch (id) {
		case COL_PROMPT:
			check_text(v, row, id, col, c, &f.prompt);
			break;
		case COL_NEGATIVE:
			check_text(v, row, id, col, c, &f.negative_prompt);
			break;
		case COL_VISIBILITY:
			check_choice(v, row, id, col, c, sheet_visibilities, NULL,
				     f.visibility, sizeof(f.visibility));
			break;
		case COL_MAGIC:
			check_choice(v, row, id, col, c, sheet_on_off, "on",
				     f.magic_prompt, sizeof(f.magic_prompt));
			break;
		case COL_RENDERING:
			check_choice(v, row, id, col, c, sheet_renderings, "default",
				     f.rendering, sizeof(f.rendering));
			break;
		case COL_STYLE:
			check_choice(v, row, id, col, c, sheet_styles, "auto",
				     f.style, sizeof(f.style));
			break;
		case COL_ASPECT:
			check_aspect(v, row, col, c, &f);
			break;
		case COL_MODEL:
			check_model(v, row, col, c, &f, model_ok ? 0 : -1, model);
			break;
		case COL_SEED:
			d = -1;
			check_whole(v, row, id, col, c, 0, SEED_MAX, -1, &d);
			f.seed = (int64_t)d;
			break;
		case COL_NUM_IMAGES:
			d = 4;
			check_whole(v, row, id, col, c, 1, 4, 4, &d);
			f.num_images = (int)d;
			break;
		case COL_PALETTE:
			check_palette(v, row, col, c, model_ok, model, &f);
			break;
		}
	}
	if (v->out->errors.n != errors || !v->colof[COL_PROMPT] ||
	    !v->colof[COL_VISIBILITY] || v->nomem) {
		sheet_fields_free(&f);
		return;
	}
	if (!f.negative_prompt) {
		f.negative_prompt = strdup("");
		if (!f.negative_prompt) {
			v->nomem = 1;
			sheet_fields_free(&f);
			return;
		}
	}
	if (in_list(f.prompt, example_prompts) >= 0)
		emit(v, &v->out->warnings, row, COL_PROMPT, v->colof[COL_PROMPT],
		     rc[v->colof[COL_PROMPT]],
		     "Delete the template's example rows before uploading.",
		     "is an example row from the template; delete it, or it will be "
		     "generated too");
	if (add_row(v->out, row, &f, cap)) {
		v->nomem = 1;
		sheet_fields_free(&f);
	}
}

/*
 * Checks every data row: the cells [from, ncells) of the grid, grouped by
 * row; blank rows are skipped.  Returns the number of non-blank data rows.
 */
static unsigned check_rows(struct vctx *v, size_t from)
{
	const struct sheet_grid *g = v->g;
	const struct sheet_cell **rc;
	size_t k = from, start, j, cap = 0;
	unsigned ndata = 0;

	rc = calloc((size_t)v->hmax + 1, sizeof(*rc));
	if (!rc) {
		v->nomem = 1;
		return 0;
	}
	/* room for every row at once (no row beyond the grid's count is kept): no copies */
	cap = g->nrows < v->lim->max_rows ? g->nrows : v->lim->max_rows;
	v->out->rows = cap ? malloc(cap * sizeof(*v->out->rows)) : NULL;
	if (!v->out->rows)
		cap = 0;
	while (k < g->ncells && !v->nomem) {
		unsigned row = g->cells[k].row;
		int any = 0;

		start = k;
		while (k < g->ncells && g->cells[k].row == row) {
			any |= !is_blank(&g->cells[k]);
			k++;
		}
		if (!any)
			continue;
		ndata++;
		for (j = start; j < k; j++)
			if (g->cells[j].col <= v->hmax)
				rc[g->cells[j].col] = &g->cells[j];
		check_row(v, row, rc, &cap);
		for (j = start; j < k; j++)
			if (g->cells[j].col <= v->hmax)
				rc[g->cells[j].col] = NULL;
	}
	free(rc);
	return ndata;
}

/* Copies the reader's warnings to the front of out->warnings. */
static int copy_warnings(const struct sheet_msgs *from, struct sheet_msgs *to)
{
	size_t i;

	for (i = 0; i < from->n; i++) {
		const struct sheet_msg *m = &from->v[i];

		if (sheet_msgs_add(to, m->row, m->column, m->cell, m->value, m->hint,
				  "%s", m->message ? m->message : ""))
			return -1;
	}
	return 0;
}

int sheet_validate(const struct sheet_grid *grid, const struct sheet_limits *lim,
		   struct sheet_batch *out)
{
	struct sheet_limits deflim;
	struct vctx v;
	size_t k, hstart, hend;
	unsigned rows = 0, last = 0, ndata;

	memset(out, 0, sizeof(*out));
	memset(&v, 0, sizeof(v));
	if (!lim) {
		sheet_limits_default(&deflim);
		lim = &deflim;
	}
	v.g = grid;
	v.lim = lim;
	v.out = out;
	if (copy_warnings(&grid->warnings, &out->warnings))
		return -1;

	/* readers keep columns within lim->max_cols; never size arrays by more */
	for (k = 0; k < grid->ncells; k++) {
		const struct sheet_cell *c = &grid->cells[k];

		if (c->col > COLS_MAX || !c->col || !c->row) {
			emit(&v, &out->errors, c->row, -1, c->col, c,
			     "Remove what lies right of the batch's columns.",
			     "holds a value in column %u; kiln reads at most %u columns",
			     c->col, COLS_MAX);
			goto done;
		}
	}

	for (k = 0; k < grid->ncells && is_blank(&grid->cells[k]); k++)
		;
	if (k == grid->ncells) {
		emit(&v, &out->errors, 0, -1, 0, NULL,
		     "Put the column names in the first row and one prompt per row "
		     "below them; the templates show how.",
		     "The file is empty: it has no header row and no prompts");
		goto done;
	}
	v.hrow = grid->cells[k].row;
	for (hstart = k; hstart > 0 && grid->cells[hstart - 1].row == v.hrow; hstart--)
		;
	for (hend = k; hend < grid->ncells && grid->cells[hend].row == v.hrow; hend++)
		;
	if (read_header(&v, hstart, hend))
		goto done;

	for (k = hstart; k < grid->ncells; k++) {
		if (grid->cells[k].row != last && !is_blank(&grid->cells[k])) {
			rows++;
			last = grid->cells[k].row;
		}
	}
	if (grid->nrows > rows)
		rows = grid->nrows;
	if (rows > lim->max_rows) {
		char hint[160];

		snprintf(hint, sizeof(hint), "Split the prompts into files of at most "
			 "%u rows each (%u prompts and the header).", lim->max_rows,
			 lim->max_rows ? lim->max_rows - 1 : 0);
		emit(&v, &out->errors, 0, -1, 0, NULL, hint, "The file has %u rows; at "
		     "most %u are allowed (header included)", rows, lim->max_rows);
	}
	if (nameless_values(&v, hend))
		goto done;
	ndata = check_rows(&v, hend);
	if (!ndata && !v.nomem)
		emit(&v, &out->errors, v.hrow, -1, 0, NULL,
		     "Add one row per prompt below the header row.",
		     "The file has a header row (row %u) but no prompts below it", v.hrow);
done:
	free(v.map);
	return v.nomem ? -1 : (int)out->errors.n;
}
