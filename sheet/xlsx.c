/*
 * xlsx.c — the .xlsx / .xlsm reader: the first visible worksheet of an Office
 * Open XML workbook into the cell grid, streamed through libzip and expat.
 *
 * DESIGN
 * A workbook is a zip of XML parts tied together by relationships, so the
 * reader follows them instead of guessing names (wtf_path.xlsx keeps its
 * parts under wtf/):
 *
 *   _rels/.rels (officeDocument) -> the workbook part (xl/workbook.xml)
 *     <sheets><sheet name state r:id> in workbook order, workbookPr date1904
 *   xl/_rels/workbook.xml.rels -> each sheet's part, the shared strings and
 *     the styles; [Content_Types].xml says what each part is, so chart,
 *     dialog and macro sheets are passed over and an .xlsb part is refused.
 *
 * The first worksheet whose state is not hidden/veryHidden is read.  Its
 * styles give each cellXfs entry a number format (the file's <numFmt> code,
 * else the built-in code for ids 14-22 and 45-47), and a cell keeps that
 * code in cell->format only when the code shows a date or a time.  Shared
 * strings (rich-text runs joined, phonetic runs left out) are read before
 * the worksheet, into one pool while it stays within XLSX_SST_KEEP; past
 * that only 2 bits a string are kept (empty, blank, too long, text: what
 * the worksheet pass must know to count rows), and a second pass after the
 * worksheet copies only the strings its stored cells use (struct sst), so
 * memory does not grow with the file.  A large worksheet is never held:
 * every part is parsed as zip_fread() inflates it, 64 KiB at a time, and
 * only the cell being read is buffered; only a part of at most
 * XLSX_WHOLE_MAX (1 MiB; shared strings up to XLSX_SST_KEEP, which are
 * kept whole anyway) that the fast scanner reads is inflated whole, by
 * libdeflate, its CRC-32 checked (parse_whole()): callgrind counts about a
 * third of the instructions zlib and its CRC-32 take through libzip on the
 * bench's 999-row worksheet, in a buffer bounded whatever the file.  The
 * package parts go to expat; the
 * two big ones, the worksheet and the shared strings, first to a scanner of
 * the XML subset they are written in (see "the fast path" below), which
 * calls the same handlers and hands the part back to expat, from its start,
 * whenever it meets anything else, so that its answer is always expat's
 * (SHEET_XML_EXPAT in the limits makes expat read them too, for the tests
 * that compare the two).  The scanner reads the commonest cells
 * (<c ..><v>..</v></c>, <c ..><is><t>..</t></is></c>, <c ../>) and shared
 * strings (<si><t>..</t></si>) in one step each (fast_cell(), fast_si()),
 * their handlers taking them whole (sh_fast_cell(), sst_fast_si()): the
 * same effects as the events one by one, without the element stack and the
 * handler chain.  The worksheet's <dimension> sizes the grid's cell array
 * at once (a hint, bounded by the limits).  Elements and attributes are matched by
 * local name (the prefix stripped; expat's namespace processing would cost
 * a fifth of the parse for nothing), which reads transitional and Strict
 * (purl.oclc.org) files alike.  Text is decoded from Excel's _xHHHH_ escapes.
 * Relationships, content types and number formats are sorted once and
 * searched, so a workbook of 100 000 sheets or formats costs no more than
 * reading them.
 *
 * Hostile files are bounded, each with a message saying why: at most 512 MiB
 * are inflated over all parts read (a zip bomb stops there, or at once when
 * a part declares more); a DOCTYPE is refused outright, so no entity is ever
 * declared, expanded or fetched; elements nest at most 256 deep; expat may
 * buffer at most 16 MiB without reporting anything (one huge tag or
 * comment); shared strings take at most 128 MiB.  As in csv.c, a value beyond
 * column max_cols, more than max_cells cells or a text longer than
 * max_cell_bytes refuse the file, and rows past the first max_rows non-blank
 * ones are parsed but only counted in grid->nrows (the cells of a row
 * already counted are skipped cheaply).  The worst case is 512 MiB of dense
 * cells: a few seconds at -O2 (about 8 s when expat reads them all), in
 * constant memory.  The fast scanner keeps every one of these guards: it
 * counts inflated bytes and the ratio the same way, and hands to expat (which
 * then refuses the file with its message) any part that trips one.  Cells must come in
 * row-major order, as every spreadsheet program writes them; a file that
 * breaks the order is refused, not reordered.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* strtod_l(), newlocale(), strcasecmp(), memmem() */
#endif
#include <ctype.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include <expat.h>
#include <libdeflate.h>
#include <zip.h>

#include "sheet/sheet.h"

#define XLSX_INFLATE_MAX ((zip_uint64_t)512 << 20) /* bytes inflated over all parts read */
#define XLSX_QUIET_MAX ((size_t)16 << 20)  /* bytes fed to expat with no event in between */
#define XLSX_DEPTH_MAX 256                 /* element nesting */
#define XLSX_SST_MAX ((size_t)128 << 20)   /* shared strings: text plus 8 bytes a string */
#define XLSX_SST_KEEP ((size_t)256 << 10)  /* shared strings kept whole up to this, else 2 passes */
#define XLSX_LIST_MAX 100000               /* content types, relationships, sheets, formats */
#define XLSX_XF_MAX 1000000                /* cellXfs entries */
#define XLSX_ATTR_MAX 4096                 /* longest name, id, target or format code kept */
#define XLSX_CHUNK 65536                   /* bytes inflated and parsed at a time */
#define XLSX_WHOLE_MAX ((size_t)1 << 20)   /* a part up to this is inflated whole (fast path) */
#define NS_SEP ':'                         /* "prefix:local" */

#define SAVE_AGAIN " Open it in your spreadsheet program, save it again as .xlsx (or as CSV, " \
		   "UTF-8) and upload that."

/* A part's content type: an Override (part name) or a Default (extension). */
struct ctype {
	char *key;               /* "xl/workbook.xml" (no leading /) or "xml" */
	char *type;
	int is_default;
};

/* One relationship of a part, its target resolved to a part name. */
struct rel {
	char *id;
	char *type;
	char *target;            /* "xl/worksheets/sheet1.xml"; NULL when external */
};

/* One <sheet> of the workbook, in workbook order. */
struct wsheet {
	char *name;
	char *rid;
	int hidden;              /* state="hidden" or "veryHidden" */
};

struct numfmt {
	unsigned id;
	size_t order;            /* position in the file: the last of an id wins */
	char *code;
};

/* One shared string: where it starts in the pool, and its length. */
struct sst_entry {
	uint32_t off;
	uint32_t len;            /* UINT32_MAX: longer than max_cell_bytes, not kept */
};

/* What a shared string is, for a cell that refers to it (2 bits a string). */
enum sst_state {
	SST_TEXT = 0,            /* text with ink */
	SST_BLANK,               /* white space only: a cell that counts nowhere */
	SST_EMPTY,               /* "": no cell at all */
	SST_LONG                 /* longer than max_cell_bytes: refused if a stored cell uses it */
};

/* A cell of the grid whose text is shared string idx, filled in by the second pass. */
struct sst_want {
	uint32_t cell;           /* at most max_cells, which is far below 2^32 */
	uint32_t idx;
};

/*
 * The shared strings.  The first pass keeps every string in one pool of
 * NUL-terminated texts (v[] says where) while the pool stays within
 * XLSX_SST_KEEP, and the state of every string in any case; past that it
 * drops the texts (dropped), the worksheet's cells note which strings
 * they need (want), and a second pass (select) copies only those into
 * the grid.  Memory then stays bounded however many strings the file
 * holds: 2 bits a string, and the strings the kept rows use.
 */
struct sst {
	char *pool;
	size_t used, cap;
	struct sst_entry *v;
	size_t n, ncap;
	uint8_t *state;          /* enum sst_state of string i at bits 2*(i%4) of byte i/4 */
	size_t statecap;
	int dropped;             /* the texts were dropped: cells are filled by a second pass */
	size_t dropped_bytes;    /* what the dropped texts would have taken, for XLSX_SST_MAX */
	struct sst_want *want;
	size_t nwant, capwant;
	int select;              /* second pass: keep only the wanted strings */
	size_t iw;               /* the next want[] entry (sorted by idx) */
	int keep;                /* select: the current string is wanted */
	char **gtext;            /* string i copied into the grid's pool, once, or NULL */
};

/* The reader's state for one file. */
struct xlsx {
	zip_t *za;
	const struct sheet_limits *lim;
	struct sheet_grid *grid;
	char *err;
	size_t errlen;
	enum sheet_status st;    /* the first failure, its message in err */
	zip_uint64_t inflated;   /* bytes inflated so far, all parts */
	locale_t c_locale;       /* strtod_l() in the C locale, whatever the process set */

	struct ctype *ct;
	size_t nct, capct;
	struct rel *rels;
	size_t nrels, caprels;
	struct wsheet *sheets;
	size_t nsheets, capsheets;
	int date1904;
	struct numfmt *fmts;
	size_t nfmts, capfmts;
	unsigned *xf;            /* numFmtId of each cellXfs entry */
	size_t nxf, capxf;
	const char **xf_date;    /* the date/time format of each entry, or NULL */
	struct sst sst;
	struct libdeflate_decompressor *inflater;  /* the fast path's, made at its first use */
};

/*
 * A worksheet cell of the commonest shapes, <c r=".." s=".." t=".."><v>..</v></c>,
 * <c ..><is><t>..</t></is></c> or <c .../>, checked whole by the fast scanner
 * (see fast_cell()): its r, t and s values (NULL when absent; each ends at its
 * *_end, the closing quote, which the handler may overwrite with a NUL) and
 * the text of its <v> or <t>, as written (raw: to be decoded by fast_decode()).
 */
struct fast_cell {
	char *r, *t, *s;
	char *r_end, *t_end, *s_end;
	char *v;                 /* ends at the "<" after it, which the handler may overwrite */
	size_t vlen;
	int empty;               /* <c .../>: no value */
	int is;                  /* the text is an inline string's (<is><t>), not a <v> */
	int raw;                 /* the text holds more than plain ASCII: decode it first */
};

/* One part being parsed: what every expat callback shares. */
struct xp {
	struct xlsx *x;
	XML_Parser p;
	const char *part;
	unsigned depth;
	size_t quiet;            /* bytes fed since the last event */
	int stopped;             /* XML_StopParser() called: ignore what follows */
	int done;                /* stopped early because all was read (not an error) */
	void (*start)(struct xp *xp, const char *name, const char **atts);
	void (*end)(struct xp *xp, const char *name);
	void (*text)(struct xp *xp, const char *s, int len);
	/* the fast scanner's whole common cell (struct fast_cell), or NULL: returns 0 when
	   read, 1 when declined with nothing changed (the scanner then reads it token by token) */
	int (*cell)(struct xp *xp, const struct fast_cell *fc);
	int (*si)(struct xp *xp, const struct fast_cell *fc);  /* the same for <si><t>..</t></si> */
	void *ctx;
};

/* ---- errors ---------------------------------------------------------------- */

/* Records the first failure: its status and message.  Returns x->st. */
__attribute__((format(printf, 3, 4)))
static enum sheet_status fail(struct xlsx *x, enum sheet_status st, const char *fmt, ...)
{
	va_list ap;

	if (x->st != SHEET_OK)
		return x->st;
	x->st = st;
	if (st == SHEET_NOMEM) {
		snprintf(x->err, x->errlen, "Out of memory while reading the workbook.");
		return st;
	}
	va_start(ap, fmt);
	vsnprintf(x->err, x->errlen, fmt, ap);
	va_end(ap);
	return st;
}

static enum sheet_status nomem(struct xlsx *x)
{
	return fail(x, SHEET_NOMEM, "out of memory");
}

/* Stops the parser of xp: after a failure (already recorded) or when done. */
static void xp_stop(struct xp *xp)
{
	if (!xp->stopped)
		XML_StopParser(xp->p, XML_FALSE);
	xp->stopped = 1;
}

/* Records a failure while parsing and stops the parser. */
__attribute__((format(printf, 3, 4)))
static void xp_fail(struct xp *xp, enum sheet_status st, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fail(xp->x, st, "%s", msg);
	xp_stop(xp);
}

static void xp_nomem(struct xp *xp)
{
	nomem(xp->x);
	xp_stop(xp);
}

/* ---- small helpers ---------------------------------------------------------- */

/*
 * Makes room for one more element of size sz in *v (n used, *cap allocated),
 * at most max.  Returns 0, -1 on ENOMEM, or 1 when max is reached.
 */
static int grow(void *v, size_t n, size_t *cap, size_t sz, size_t max)
{
	void **pv = v;
	size_t nc;
	void *nv;

	if (n < *cap)
		return 0;
	if (n >= max)
		return 1;
	nc = *cap ? *cap * 2 : 16;
	if (nc > max)
		nc = max;
	nv = realloc(*pv, nc * sz);
	if (!nv)
		return -1;
	*pv = nv;
	*cap = nc;
	return 0;
}

/*
 * The local part of a name ("x:c" or "c").  Parts are matched by local name
 * alone, whatever their namespace (transitional or Strict), so expat's
 * namespace processing, which costs a fifth of the parse, is not used.
 */
static const char *local_name(const char *name)
{
	const char *s, *local = name;

	for (s = name; *s; s++)         /* names are short: no call to strrchr() */
		if (*s == NS_SEP)
			local = s + 1;
	return local;
}

/* Is name equal to lit (a short literal)? */
static inline int name_is(const char *name, const char *lit)
{
	size_t i;

	for (i = 0; lit[i]; i++)        /* unrolled for a literal: no call */
		if (name[i] != lit[i])
			return 0;
	return name[i] == '\0';
}

/*
 * The value of attribute local in atts: an unprefixed one (qualified 0), or
 * one with any prefix but xmlns (qualified 1, e.g. r:id); NULL when absent.
 */
static const char *attr(const char **atts, const char *local, int qualified)
{
	size_t i;

	for (i = 0; atts[i]; i += 2) {
		const char *ln;

		if (!qualified) {       /* local holds no colon: equal means unprefixed */
			if (name_is(atts[i], local))
				return atts[i + 1];
			continue;
		}
		ln = local_name(atts[i]);
		if (ln != atts[i] && name_is(ln, local) && strncmp(atts[i], "xmlns:", 6))
			return atts[i + 1];
	}
	return NULL;
}

/* strdup() of an attribute for the package lists; fails the parse when too long. */
static char *xp_dup(struct xp *xp, const char *s)
{
	char *d;

	if (strlen(s) > XLSX_ATTR_MAX) {
		xp_fail(xp, SHEET_UNREADABLE, "The part %s holds a name or value longer than "
			"%d bytes where a spreadsheet keeps short names: it is damaged or not "
			"a workbook." SAVE_AGAIN, xp->part, XLSX_ATTR_MAX);
		return NULL;
	}
	d = strdup(s);
	if (!d)
		xp_nomem(xp);
	return d;
}

/* Parses a decimal unsigned number that is all of s; returns 0 or -1. */
static int parse_uint(const char *s, unsigned *out)
{
	unsigned long v = 0;

	while (*s == ' ')
		s++;
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {    /* isdigit() in any locale, inline */
		v = v * 10 + (unsigned)(*s - '0');
		if (v > UINT_MAX - 1)
			return -1;
	}
	while (*s == ' ')
		s++;
	if (*s)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Is the last path segment of relationship type t equal to name? */
static int rel_is(const char *t, const char *name)
{
	const char *s = t ? strrchr(t, '/') : NULL;

	return s && !strcmp(s + 1, name);
}

/* The value of hexadecimal digit c, or -1. */
static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads an "_xHHHH_" escape at s (n bytes left) into *cp; returns 0 or -1. */
static int x_escape(const char *s, size_t n, uint32_t *cp)
{
	uint32_t v = 0;
	int i;

	if (n < 7 || s[0] != '_' || s[1] != 'x' || s[6] != '_')
		return -1;
	for (i = 2; i < 6; i++) {
		int h = hex_digit(s[i]);

		if (h < 0)
			return -1;
		v = v << 4 | (uint32_t)h;
	}
	*cp = v;
	return 0;
}

/*
 * Decodes Excel's _xHHHH_ escapes in s (n bytes) in place, left to right, so
 * "_x005F_x000D_" is the text "_x000D_".  A surrogate pair of escapes is one
 * character; a lone surrogate or _x0000_ is kept as written.  NUL-terminates
 * s and returns its new length.
 */
static size_t decode_escapes(char *s, size_t n)
{
	char *u = memchr(s, '_', n);
	size_t i, o;

	if (!u) {                       /* most texts hold no escape at all */
		s[n] = '\0';
		return n;
	}
	i = o = (size_t)(u - s);        /* what comes before the first "_" stays */

	while (i < n) {
		uint32_t cp, lo;

		if (s[i] == '_' && !x_escape(s + i, n - i, &cp)) {
			if (cp >= 0xD800 && cp <= 0xDBFF && !x_escape(s + i + 7, n - i - 7, &lo) &&
			    lo >= 0xDC00 && lo <= 0xDFFF) {
				o += sheet_utf8_put(s + o, 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00));
				i += 14;
				continue;
			}
			if (cp && (cp < 0xD800 || cp > 0xDFFF)) {
				o += sheet_utf8_put(s + o, cp);
				i += 7;
				continue;
			}
		}
		s[o++] = s[i++];
	}
	s[o] = '\0';
	return o;
}

/* ---- number formats ------------------------------------------------------------ */

/* The built-in date and time formats (ECMA-376 18.8.30), as openpyxl spells them. */
static const char *builtin_format(unsigned id)
{
	static const char *const fmt14[] = {
		"mm-dd-yy", "d-mmm-yy", "d-mmm", "mmm-yy", "h:mm AM/PM", "h:mm:ss AM/PM",
		"h:mm", "h:mm:ss", "m/d/yy h:mm"
	};
	static const char *const fmt45[] = { "mm:ss", "[h]:mm:ss", "mmss.0" };

	if (id >= 14 && id <= 22)
		return fmt14[id - 14];
	if (id >= 45 && id <= 47)
		return fmt45[id - 45];
	return NULL;
}

/*
 * Does number format code fmt show a date or a time?  True when, outside
 * quoted text, escaped characters (\x, _x, *x) and bracketed sections
 * ([Red], [$-409], [<50]), it holds one of d m y h s, AM/PM or A/P; an
 * elapsed-time section ([h], [mm], [ss]) or a system date/time locale
 * ([$-F800], [$-F400]) counts too.  "General" is skipped as a word.
 */
static int format_is_datetime(const char *fmt)
{
	const char *s = fmt;

	while (*s) {
		char c = *s;

		if (c == '"') {
			const char *q = strchr(s + 1, '"');

			if (!q)
				return 0;
			s = q + 1;
			continue;
		}
		if (c == '\\' || c == '_' || c == '*') {
			s += s[1] ? 2 : 1;
			continue;
		}
		if (c == '[') {
			const char *q = strchr(s + 1, ']');
			int first = tolower((unsigned char)s[1]);
			size_t n, k;

			if (!q)
				return 0;
			n = (size_t)(q - s - 1);
			for (k = 0; k < n && tolower((unsigned char)s[1 + k]) == first; k++)
				;
			if (n && k == n && strchr("hms", first))
				return 1;
			if (n >= 6 && s[1] == '$' && (!strncasecmp(q - 4, "F800", 4) ||
						     !strncasecmp(q - 4, "F400", 4)))
				return 1;
			s = q + 1;
			continue;
		}
		if (!strncasecmp(s, "general", 7)) {
			s += 7;
			continue;
		}
		if (!strncasecmp(s, "AM/PM", 5) || !strncasecmp(s, "A/P", 3))
			return 1;
		if (strchr("dDmMyYhHsS", c))
			return 1;
		s++;
	}
	return 0;
}

/* ---- reading a part ----------------------------------------------------------- */

/* on_start() for a name whose local part is known (the fast scanner's). */
static void xp_start(struct xp *xp, const char *local, const char **atts)
{
	if (xp->stopped)
		return;
	xp->quiet = 0;
	if (++xp->depth > XLSX_DEPTH_MAX) {
		xp_fail(xp, SHEET_UNREADABLE, "The part %s nests elements more than %d levels "
			"deep, which no spreadsheet does: kiln refuses it as hostile or "
			"damaged." SAVE_AGAIN, xp->part, XLSX_DEPTH_MAX);
		return;
	}
	if (xp->start)
		xp->start(xp, local, atts);
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	xp_start(ud, local_name(name), atts);
}

/* on_end() for a name whose local part is known (the fast scanner's). */
static void xp_end(struct xp *xp, const char *local)
{
	if (xp->stopped)
		return;
	xp->quiet = 0;
	if (xp->end)
		xp->end(xp, local);
	xp->depth--;
}

static void on_end(void *ud, const XML_Char *name)
{
	xp_end(ud, local_name(name));
}

static void on_text(void *ud, const XML_Char *s, int len)
{
	struct xp *xp = ud;

	if (xp->stopped)
		return;
	xp->quiet = 0;
	if (xp->text)
		xp->text(xp, s, len);
}

/* Comments, processing instructions and the like: only show progress. */
static void on_other(void *ud, const XML_Char *s, int len)
{
	struct xp *xp = ud;

	(void)s;
	(void)len;
	xp->quiet = 0;
}

static void on_comment(void *ud, const XML_Char *data)
{
	on_other(ud, data, 0);
}

static void on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
	(void)target;
	on_other(ud, data, 0);
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
		       const XML_Char *pubid, int has_internal_subset)
{
	struct xp *xp = ud;

	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	xp_fail(xp, SHEET_UNREADABLE, "The part %s declares a DOCTYPE, which no spreadsheet "
		"program writes: kiln refuses it so that no XML entity is expanded or "
		"fetched." SAVE_AGAIN, xp->part);
}

static void on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
		      int value_len, const XML_Char *base, const XML_Char *sysid,
		      const XML_Char *pubid, const XML_Char *notation)
{
	(void)name;
	(void)is_param;
	(void)value;
	(void)value_len;
	(void)base;
	(void)sysid;
	(void)pubid;
	(void)notation;
	on_doctype(ud, NULL, NULL, NULL, 0);
}

/* External entities are never fetched. */
static int on_external(XML_Parser p, const XML_Char *context, const XML_Char *base,
		       const XML_Char *sysid, const XML_Char *pubid)
{
	(void)p;
	(void)context;
	(void)base;
	(void)sysid;
	(void)pubid;
	return XML_STATUS_ERROR;
}

/* The zip index of part name (exact, else case-insensitive as OPC says), or -1. */
static zip_int64_t part_index(struct xlsx *x, const char *name)
{
	zip_int64_t i = zip_name_locate(x->za, name, 0);

	return i >= 0 ? i : zip_name_locate(x->za, name, ZIP_FL_NOCASE);
}

/* The message for a member libzip cannot give us. */
static enum sheet_status zip_failed(struct xlsx *x, const char *part, zip_error_t *ze)
{
	if (zip_error_code_zip(ze) == ZIP_ER_NOPASSWD || zip_error_code_zip(ze) == ZIP_ER_WRONGPASSWD)
		return fail(x, SHEET_UNREADABLE, "The part %s of this workbook is "
			    "password-protected: kiln cannot open password-protected "
			    "files. Save a copy without the password (or as CSV, UTF-8) and "
			    "upload that.", part);
	if (zip_error_code_zip(ze) == ZIP_ER_MEMORY)
		return nomem(x);
	return fail(x, SHEET_UNREADABLE, "The part %s of this workbook cannot be "
		    "unpacked (%s): the file is damaged." SAVE_AGAIN, part,
		    zip_error_strerror(ze));
}

static enum sheet_status zip_bomb(struct xlsx *x, const char *part)
{
	return fail(x, SHEET_UNREADABLE, "This workbook unpacks to more than %llu MiB of "
		    "XML (reached in %s): kiln refuses it as a zip bomb. A batch is far "
		    "smaller: copy the batch sheet alone into a new workbook and upload "
		    "that.", (unsigned long long)(XLSX_INFLATE_MAX >> 20), part);
}

/*
 * Inflates part name and feeds it to expat with xp's handlers.  When the
 * part does not exist, sets *missing (if missing is NULL that is an error).
 * Returns SHEET_OK or the failure recorded in x.
 */
static enum sheet_status parse_part(struct xlsx *x, const char *name, struct xp *xp,
				    int *missing)
{
	zip_int64_t idx = part_index(x, name);
	zip_stat_t zs;
	zip_file_t *zf;
	XML_Parser p;
	char *buf;
	zip_uint64_t part_inflated = 0;
	enum XML_Status rc = XML_STATUS_OK;

	if (missing)
		*missing = 0;
	if (idx < 0) {
		if (missing) {
			*missing = 1;
			return SHEET_OK;
		}
		return fail(x, SHEET_UNREADABLE, "The workbook refers to a part %s that the "
			    "file does not hold: it is damaged." SAVE_AGAIN, name);
	}
	zip_stat_init(&zs);
	if (!zip_stat_index(x->za, (zip_uint64_t)idx, 0, &zs) && (zs.valid & ZIP_STAT_SIZE) &&
	    zs.size > XLSX_INFLATE_MAX - x->inflated)
		return zip_bomb(x, name);
	zf = zip_fopen_index(x->za, (zip_uint64_t)idx, 0);
	if (!zf)
		return zip_failed(x, name, zip_get_error(x->za));
	buf = malloc(XLSX_CHUNK);
	p = XML_ParserCreate(NULL);
	if (!buf || !p) {
		free(buf);
		if (p)
			XML_ParserFree(p);
		zip_fclose(zf);
		return nomem(x);
	}
	xp->x = x;
	xp->p = p;
	xp->part = name;
	XML_SetUserData(p, xp);
	XML_SetElementHandler(p, on_start, on_end);
	XML_SetCharacterDataHandler(p, on_text);
	XML_SetCommentHandler(p, on_comment);
	XML_SetProcessingInstructionHandler(p, on_pi);
	XML_SetDefaultHandlerExpand(p, on_other);
	XML_SetStartDoctypeDeclHandler(p, on_doctype);
	XML_SetEntityDeclHandler(p, on_entity);
	XML_SetExternalEntityRefHandler(p, on_external);
	XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
	for (;;) {
		zip_int64_t n = zip_fread(zf, buf, XLSX_CHUNK);

		if (n < 0) {
			zip_failed(x, name, zip_file_get_error(zf));
			break;
		}
		x->inflated += (zip_uint64_t)n;
		part_inflated += (zip_uint64_t)n;
		if (x->inflated > XLSX_INFLATE_MAX) {
			zip_bomb(x, name);
			break;
		}
		if ((zs.valid & ZIP_STAT_COMP_SIZE) &&
		    sheet_zip_ratio_exceeded(part_inflated, zs.comp_size)) {
			fail(x, SHEET_UNREADABLE, "The part %s of this workbook inflates more "
			     "than %d times its packed size, which no spreadsheet does: kiln "
			     "refuses it as a zip bomb." SAVE_AGAIN, name, SHEET_ZIP_RATIO);
			break;
		}
		rc = XML_Parse(p, buf, (int)n, n == 0);
		if (rc != XML_STATUS_OK || xp->done || n == 0)
			break;
		xp->quiet += (size_t)n;
		if (xp->quiet > XLSX_QUIET_MAX) {
			fail(x, SHEET_UNREADABLE, "The part %s holds a single XML tag, "
			     "comment or name longer than %zu MiB, which no spreadsheet "
			     "writes: kiln refuses it as hostile or damaged." SAVE_AGAIN,
			     name, XLSX_QUIET_MAX >> 20);
			break;
		}
	}
	if (rc != XML_STATUS_OK && !xp->done && x->st == SHEET_OK)
		fail(x, SHEET_UNREADABLE, "The part %s is not well-formed XML (line %lu: %s): "
		     "the file is damaged." SAVE_AGAIN, name,
		     (unsigned long)XML_GetCurrentLineNumber(p),
		     XML_ErrorString(XML_GetErrorCode(p)));
	XML_ParserFree(p);
	xp->p = NULL;
	zip_fclose(zf);
	free(buf);
	return x->st;
}

/* ---- the fast path: a scanner for the worksheet and the shared strings -------- */

/*
 * expat spends more time on the two big parts than a whole read may take,
 * so they go first through this scanner, which calls the same handlers
 * (on_start, on_end, on_text, hence sh_* and sst_*) with the same events.
 * It reads only the subset of XML those parts are written in: a UTF-8
 * declaration, elements (names of ASCII letters, digits, "_.-:"), attributes
 * in either quotes, character data, the five predefined entities and
 * character references, with expat's line ends (CR LF and CR read as LF,
 * and white space in an attribute value as a space).  It is strict: any byte expat would refuse (bad
 * UTF-8, a control character, "]]>", a stray "&" or "<", mismatched tags)
 * and anything it does not handle (comments, processing instructions,
 * CDATA, a DOCTYPE, another encoding, a tag or a text longer than FAST_TAIL_MAX, a zip
 * failure or a bomb guard) make it give up: the caller undoes what the part
 * added and parses it again with expat, so every answer the scanner gives
 * is the one expat would give.  Element and attribute names are matched by
 * local name, as the expat path does.  Text and attribute values are
 * decoded in place in its window (XLSX_CHUNK read at a time, what is not
 * yet a whole token carried over), so memory stays constant.
 */
#define FAST_TAIL_MAX ((size_t)60 << 10) /* longest tag or text kept while reading on */
#define FAST_NAMES 8192                   /* bytes of open element names */
#define FAST_NAME_MAX 128                 /* longest element name */
#define FAST_ATTS 32                      /* attributes of one tag */
#define FAST_FALLBACK (-1)

struct fast {
	struct xp *xp;
	char names[FAST_NAMES];  /* the open elements' names, NUL-terminated */
	size_t off[XLSX_DEPTH_MAX + 2];
	size_t loc[XLSX_DEPTH_MAX + 2];  /* where each open name's local part starts */
	unsigned depth;
	int root_seen, root_closed;
};

/*
 * The first c in [p, end), or NULL: the next few bytes are looked at
 * inline (most tokens are short), then memchr() takes over.
 */
static inline char *fast_find(char *p, char *end, char c)
{
	char *stop = end - p > 16 ? p + 16 : end;

	for (; p < stop; p++)
		if (*p == c)
			return p;
	return p < end ? memchr(p, c, (size_t)(end - p)) : NULL;
}

/* Are the n bytes at a and b the same?  (Names are short: no call to memcmp().) */
static inline int fast_same(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

static int fast_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * What a byte is to the scanner: FAST_PLAIN, a character of text or of an
 * attribute value that needs no care (ASCII from space on, but "&", "<",
 * "]"); FAST_NAME, one that may be in a name; FAST_NAME0, one that may
 * start one.
 */
#define FAST_PLAIN 1
#define FAST_NAME 2
#define FAST_NAME0 4
#define FAST_LETTERS(f) f, f, f, f, f, f, f, f, f, f, f, f, f, f, f, f, f, f, f, f, f, f, f, f, f, f
static const unsigned char fast_class[256] = {
	[' '] = FAST_PLAIN, ['!'] = FAST_PLAIN, ['"'] = FAST_PLAIN, ['#'] = FAST_PLAIN,
	['$'] = FAST_PLAIN, ['%'] = FAST_PLAIN, ['\''] = FAST_PLAIN, ['('] = FAST_PLAIN,
	[')'] = FAST_PLAIN, ['*'] = FAST_PLAIN, ['+'] = FAST_PLAIN, [','] = FAST_PLAIN,
	['-'] = FAST_PLAIN | FAST_NAME, ['.'] = FAST_PLAIN | FAST_NAME, ['/'] = FAST_PLAIN,
	['0'] = FAST_PLAIN | FAST_NAME, ['1'] = FAST_PLAIN | FAST_NAME,
	['2'] = FAST_PLAIN | FAST_NAME, ['3'] = FAST_PLAIN | FAST_NAME,
	['4'] = FAST_PLAIN | FAST_NAME, ['5'] = FAST_PLAIN | FAST_NAME,
	['6'] = FAST_PLAIN | FAST_NAME, ['7'] = FAST_PLAIN | FAST_NAME,
	['8'] = FAST_PLAIN | FAST_NAME, ['9'] = FAST_PLAIN | FAST_NAME,
	[':'] = FAST_PLAIN | FAST_NAME, [';'] = FAST_PLAIN, ['='] = FAST_PLAIN,
	['>'] = FAST_PLAIN, ['?'] = FAST_PLAIN, ['@'] = FAST_PLAIN,
	['A'] = FAST_LETTERS(FAST_PLAIN | FAST_NAME | FAST_NAME0),
	['['] = FAST_PLAIN, ['\\'] = FAST_PLAIN, ['^'] = FAST_PLAIN,
	['_'] = FAST_PLAIN | FAST_NAME | FAST_NAME0, ['`'] = FAST_PLAIN,
	['a'] = FAST_LETTERS(FAST_PLAIN | FAST_NAME | FAST_NAME0),
	['{'] = FAST_PLAIN, ['|'] = FAST_PLAIN, ['}'] = FAST_PLAIN, ['~'] = FAST_PLAIN,
	[0x7F] = FAST_PLAIN,
};

static int fast_name_start(unsigned char c)
{
	return fast_class[c] & FAST_NAME0;
}

static int fast_name_char(unsigned char c)
{
	return fast_class[c] & FAST_NAME;
}

/* The end of the name at s (ASCII name characters), at most end. */
static char *fast_name_end(char *s, char *end)
{
	while (s < end && fast_name_char((unsigned char)*s))
		s++;
	return s;
}

/*
 * Reads a character reference or predefined entity at s ("&...;", n bytes
 * up to the ';' included) into *cp; returns 0, or -1 for one expat would
 * refuse or that is not a legal XML character.
 */
static int fast_ref(const char *s, size_t n, uint32_t *cp)
{
	uint32_t v = 0;
	size_t i;

	if (n == 4 && !memcmp(s, "&lt;", 4))
		*cp = '<';
	else if (n == 4 && !memcmp(s, "&gt;", 4))
		*cp = '>';
	else if (n == 5 && !memcmp(s, "&amp;", 5))
		*cp = '&';
	else if (n == 6 && !memcmp(s, "&quot;", 6))
		*cp = '"';
	else if (n == 6 && !memcmp(s, "&apos;", 6))
		*cp = '\'';
	else if (n > 3 && s[1] == '#' && s[2] != 'x') {
		for (i = 2; i < n - 1; i++) {
			if (s[i] < '0' || s[i] > '9' || v > 0x10FFFF)
				return -1;
			v = v * 10 + (uint32_t)(s[i] - '0');
		}
		*cp = v;
	}
	else if (n > 4 && s[1] == '#' && s[2] == 'x') {
		for (i = 3; i < n - 1; i++) {
			int h = hex_digit(s[i]);

			if (v > 0x10FFFF || h < 0)
				return -1;
			v = v << 4 | (uint32_t)h;
		}
		*cp = v;
	}
	else
		return -1;
	v = *cp;
	if (v == 0x9 || v == 0xA || v == 0xD || (v >= 0x20 && v <= 0xD7FF) ||
	    (v >= 0xE000 && v <= 0xFFFD) || (v >= 0x10000 && v <= 0x10FFFF))
		return 0;
	return -1;
}

/*
 * Checks and decodes character data or an attribute value (attr) in place:
 * s..e becomes the text expat would report (an attribute value
 * NUL-terminated); returns its length, or -1 to fall back.  In an attribute, tab and line feed become
 * spaces and "<" is an error; in text, "]]>" is.
 */
static long fast_decode(char *s, char *e, int attr)
{
	unsigned char *p = (unsigned char *)s, *end = (unsigned char *)e, *o;

	while (p < end && (fast_class[*p] & FAST_PLAIN))
		p++;                    /* most values hold nothing to decode: no copy */
	o = p;
	while (p < end) {
		unsigned c;

		/* a run of plain bytes: kept as they are (moved down after a reference) */
		if (o == p) {
			while (p < end && (fast_class[*p] & FAST_PLAIN))
				p++;
			o = p;
		}
		else
			while (p < end && (fast_class[*p] & FAST_PLAIN))
				*o++ = *p++;
		if (p == end)
			break;
		c = *p;
		if (c >= 0x20 && c < 0x80) {
			if (c == '&') {
				unsigned char *semi = memchr(p, ';', (size_t)(end - p) < 12 ?
							     (size_t)(end - p) : 12);
				uint32_t cp;

				if (!semi || fast_ref((const char *)p, (size_t)(semi - p + 1), &cp))
					return -1;
				o += sheet_utf8_put((char *)o, cp);
				p = semi + 1;
				continue;
			}
			if (c == '<' || (!attr && c == ']' && end - p >= 3 && p[1] == ']' && p[2] == '>'))
				return -1;
			*o++ = (unsigned char)c;
			p++;
			continue;
		}
		if (c == '\t' || c == '\n' || c == '\r') {
			/* expat's line ends: CR LF and CR read as LF; in a value, as a space */
			if (c == '\r') {
				c = '\n';
				if (p + 1 < end && p[1] == '\n')
					p++;
			}
			*o++ = attr ? ' ' : (unsigned char)c;
			p++;
			continue;
		}
		if (c < 0x80)
			return -1;      /* a control character */
		if (c >= 0xE0 && c <= 0xEF && end - p > 2 && (p[1] & 0xC0) == 0x80 &&
		    (p[2] & 0xC0) == 0x80) {
			/* three bytes, the commonest in non-Latin text: checked as below, at once */
			uint32_t cp = (c & 0x0Fu) << 12 | (p[1] & 0x3Fu) << 6 | (p[2] & 0x3Fu);

			if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF) || cp >= 0xFFFE)
				return -1;
			if (o != p) {
				o[0] = p[0];
				o[1] = p[1];
				o[2] = p[2];
			}
			o += 3;
			p += 3;
			continue;
		}
		{
			uint32_t cp;
			unsigned n, k;

			if (c >= 0xC2 && c <= 0xDF) {
				n = 1;
				cp = c & 0x1F;
			}
			else if (c >= 0xE0 && c <= 0xEF) {
				n = 2;
				cp = c & 0x0F;
			}
			else if (c >= 0xF0 && c <= 0xF4) {
				n = 3;
				cp = c & 0x07;
			}
			else
				return -1;
			if ((size_t)(end - p) <= n)
				return -1;
			for (k = 1; k <= n; k++) {
				if ((p[k] & 0xC0) != 0x80)
					return -1;
				cp = (cp << 6) | (p[k] & 0x3F);
			}
			if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
			    (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF)
				return -1;
			for (k = 0; k <= n; k++)        /* o <= p: a forward copy is safe */
				o[k] = p[k];
			o += n + 1;
			p += n + 1;
		}
	}
	if (attr)
		*o = '\0';     /* over the closing quote at the latest */
	return (long)(o - (unsigned char *)s);
}

/* Character data s..e: outside the root only white space; inside it, to on_text(). */
static int fast_text(struct fast *f, char *s, char *e)
{
	long n;

	if (!f->depth) {
		for (; s < e; s++)
			if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
				return -1;
		return 0;
	}
	n = fast_decode(s, e, 0);
	if (n < 0 || n > INT_MAX)
		return -1;
	if (n)
		on_text(f->xp, s, (int)n);
	return 0;
}

/*
 * A start tag whose name begins at s ("<" before it).  Returns 0 with
 * *next past its ">", 1 when the buffer ends inside it (nothing changed),
 * or -1 to fall back.
 */
static int fast_start(struct fast *f, char *s, char *end, char **next)
{
	const char *atts[2 * FAST_ATTS + 1];
	char *an[FAST_ATTS], *ae[FAST_ATTS], *vs[FAST_ATTS], *ve[FAST_ATTS];
	unsigned char plain[FAST_ATTS];
	char *p, *ne, *local, *dst;
	size_t na = 0, i, j, len;
	int empty = 0;

	ne = fast_name_end(s, end);
	if (ne == end)
		return 1;
	if (ne == s || !fast_name_start((unsigned char)*s) || ne - s >= FAST_NAME_MAX)
		return -1;
	p = ne;
	for (;;) {
		int ws = 0;
		char q;

		while (p < end && fast_ws(*p)) {
			p++;
			ws = 1;
		}
		if (p == end)
			return 1;
		if (*p == '>') {
			p++;
			break;
		}
		if (*p == '/') {
			if (p + 1 == end)
				return 1;
			if (p[1] != '>')
				return -1;
			empty = 1;
			p += 2;
			break;
		}
		if (!ws || na == FAST_ATTS || !fast_name_start((unsigned char)*p))
			return -1;
		an[na] = p;
		p = fast_name_end(p, end);
		ae[na] = p;
		while (p < end && fast_ws(*p))
			p++;
		if (p == end)
			return 1;
		if (*p++ != '=')
			return -1;
		while (p < end && fast_ws(*p))
			p++;
		if (p == end)
			return 1;
		q = *p;
		if (q != '"' && q != '\'')
			return -1;
		vs[na] = p + 1;
		/* most values hold only plain ASCII: found and checked in one loop */
		for (p++; p < end && *p != q && (fast_class[(unsigned char)*p] & FAST_PLAIN); p++)
			;
		plain[na] = p < end && *p == q;
		ve[na] = plain[na] ? p : fast_find(p, end, q);
		if (!ve[na])
			return 1;
		p = ve[na] + 1;
		na++;
	}
	/* the whole tag is here: check and decode it in place */
	for (i = 0; i < na; i++) {
		len = (size_t)(ae[i] - an[i]);
		for (j = 0; j < i; j++)
			if ((size_t)(ae[j] - an[j]) == len && fast_same(an[i], an[j], len))
				return -1;      /* a repeated attribute: expat refuses it */
	}
	if (f->root_closed || f->depth > XLSX_DEPTH_MAX ||
	    f->off[f->depth] + (size_t)(ne - s) + 1 > FAST_NAMES)
		return -1;
	for (i = 0; i < na; i++) {
		if (plain[i])
			*ve[i] = '\0';         /* what fast_decode() would do to it */
		else if (fast_decode(vs[i], ve[i], 1) < 0)
			return -1;
		*ae[i] = '\0';
		atts[2 * i] = an[i];
		atts[2 * i + 1] = vs[i];
	}
	atts[2 * na] = NULL;
	len = (size_t)(ne - s);
	for (local = ne; local > s && local[-1] != NS_SEP; local--)
		;               /* local_name(), from the end: local names are short */
	dst = f->names + f->off[f->depth];
	for (i = 0; i < len; i++)       /* names are short: no call to memcpy() */
		dst[i] = s[i];
	dst[len] = '\0';
	f->loc[f->depth] = (size_t)(local - s);
	f->off[f->depth + 1] = f->off[f->depth] + len + 1;
	f->depth++;
	f->root_seen = 1;
	*ne = '\0';
	*next = p;
	xp_start(f->xp, local, atts);
	if (empty && !f->xp->stopped) {
		xp_end(f->xp, local);
		if (!--f->depth)
			f->root_closed = 1;
	}
	return 0;
}

/* An end tag, its name from s to e (the ">"). */
static int fast_end(struct fast *f, char *s, char *e)
{
	char *ne = fast_name_end(s, e), *p = ne;
	const char *top;

	while (p < e && fast_ws(*p))
		p++;
	if (p != e || !f->depth)
		return -1;
	top = f->names + f->off[f->depth - 1];
	if (f->off[f->depth] - f->off[f->depth - 1] - 1 != (size_t)(ne - s) ||
	    !fast_same(top, s, (size_t)(ne - s)))
		return -1;
	xp_end(f->xp, top + f->loc[f->depth - 1]);
	if (!--f->depth)
		f->root_closed = 1;
	return 0;
}

/*
 * The text of a value at p, up to the closing tags close (n bytes): sets
 * fc->v, fc->vlen and fc->raw (the text holds more than plain ASCII, to be
 * decoded) and returns the byte past close, or NULL when the text does not
 * end there or not in the buffer.
 */
static inline char *fast_value(char *p, char *end, const char *close, size_t n, struct fast_cell *fc)
{
	fc->v = p;
	while (p < end && (fast_class[(unsigned char)*p] & FAST_PLAIN))
		p++;
	if (p < end && *p != '<') {
		fc->raw = 1;
		p = fast_find(p, end, '<');
		if (!p)
			return NULL;
	}
	if ((size_t)(end - p) < n || !fast_same(p, close, n))
		return NULL;
	fc->vlen = (size_t)(p - fc->v);
	return p + n;
}

/*
 * The commonest worksheet cells read at once: at s ("<c"), a <c> whose
 * attributes are name="value" pairs of plain ASCII (no reference, no white
 * space but spaces, none repeated), then either "/>", or <v>text</v></c>,
 * or <is><t>text</t></is></c> (<t> may keep its spaces with
 * xml:space="preserve"), with nothing in between.  The handler (xp->cell)
 * gets it whole, which spares the element stack and the handler chain of
 * up to six events.  Returns 0 with *next past it; 1 when the bytes at s
 * are anything else, are not all in the buffer yet, or the handler
 * declines: nothing has changed then, and the caller reads the tokens one
 * by one, so what a cell of another shape means is decided there alone;
 * or -1 to fall back, when the handler found the text to be one the token
 * path would fall back on too (fast_decode() refuses it).
 */
#define FAST_CELL_ATTS 8
static int fast_cell(struct fast *f, char *s, char *end, char **next)
{
	char *an[FAST_CELL_ATTS], *ae[FAST_CELL_ATTS], *p = s + 2;
	struct fast_cell fc;
	size_t na = 0, j;
	char q;

	memset(&fc, 0, sizeof(fc));
	if (end - s < 4 || (s[2] != ' ' && s[2] != '>' && s[2] != '/'))
		return 1;
	for (;;) {
		char *val;

		if (p < end && *p == ' ') {
			while (p < end && *p == ' ')
				p++;
		}
		else if (p < end && *p != '>' && *p != '/')
			return 1;       /* no space before an attribute */
		if (end - p < 2)
			return 1;
		if (*p == '>') {
			p++;
			break;
		}
		if (*p == '/') {
			if (p[1] != '>')
				return 1;
			fc.empty = 1;
			p += 2;
			break;
		}
		if (na == FAST_CELL_ATTS || !fast_name_start((unsigned char)*p))
			return 1;
		an[na] = p;
		p = fast_name_end(p, end);
		ae[na] = p;
		if (end - p < 2 || *p != '=' || (p[1] != '"' && p[1] != '\''))
			return 1;
		q = p[1];
		val = p += 2;
		while (p < end && *p != q && (fast_class[(unsigned char)*p] & FAST_PLAIN))
			p++;
		if (p == end || *p != q)
			return 1;
		if (ae[na] - an[na] == 1) {
			if (*an[na] == 'r' && !fc.r) {
				fc.r = val;
				fc.r_end = p;
			}
			else if (*an[na] == 't' && !fc.t) {
				fc.t = val;
				fc.t_end = p;
			}
			else if (*an[na] == 's' && !fc.s) {
				fc.s = val;
				fc.s_end = p;
			}
		}
		p++;
		for (j = 0; j < na; j++)
			if (ae[j] - an[j] == ae[na] - an[na] &&
			    fast_same(an[j], an[na], (size_t)(ae[na] - an[na])))
				return 1;       /* repeated: the token path refuses it */
		na++;
	}
	if (!fc.empty) {
		static const char t_open[] = "<is><t>", t_keep[] = "<is><t xml:space=\"preserve\">";
		const char *close = "</v></c>";
		size_t nclose = 8;
		int r;

		if (end - p >= 3 && p[0] == '<' && p[1] == 'v' && p[2] == '>')
			p += 3;
		else if (end - p >= (long)sizeof(t_open) - 1 && fast_same(p, t_open, sizeof(t_open) - 1))
			p += sizeof(t_open) - 1;
		else if (end - p >= (long)sizeof(t_keep) - 1 && fast_same(p, t_keep, sizeof(t_keep) - 1))
			p += sizeof(t_keep) - 1;
		else
			return 1;
		fc.is = p[-2] != 'v';   /* "<v>" or "...<t ...>" */
		if (fc.is) {
			close = "</t></is></c>";
			nclose = 13;
		}
		p = fast_value(p, end, close, nclose, &fc);
		if (!p)
			return 1;
		if (f->root_closed || f->off[f->depth] + 6 > FAST_NAMES)
			return 1;
		r = f->xp->cell(f->xp, &fc);
		if (r)
			return r;
		*next = p;
		return 0;
	}
	if (f->root_closed || f->off[f->depth] + 2 > FAST_NAMES || f->xp->cell(f->xp, &fc))
		return 1;
	*next = p;
	return 0;
}

/*
 * The commonest shared string read at once, as fast_cell() reads a cell:
 * at s, <si><t>text</t></si> (<t> may have xml:space="preserve"), handed
 * whole to xp->si.  Returns as fast_cell().
 */
static int fast_si(struct fast *f, char *s, char *end, char **next)
{
	static const char t_open[] = "<si><t>", t_keep[] = "<si><t xml:space=\"preserve\">";
	struct fast_cell fc;
	char *p = s;
	int r;

	if (end - p >= (long)sizeof(t_open) - 1 && fast_same(p, t_open, sizeof(t_open) - 1))
		p += sizeof(t_open) - 1;
	else if (end - p >= (long)sizeof(t_keep) - 1 && fast_same(p, t_keep, sizeof(t_keep) - 1))
		p += sizeof(t_keep) - 1;
	else
		return 1;
	memset(&fc, 0, sizeof(fc));
	p = fast_value(p, end, "</t></si>", 9, &fc);
	if (!p || f->root_closed || f->off[f->depth] + 6 > FAST_NAMES)
		return 1;
	r = f->xp->si(f->xp, &fc);
	if (r)
		return r;
	*next = p;
	return 0;
}

/*
 * The XML declaration, if the part starts with one: only version 1.0 and
 * UTF-8 are read here.  Returns 0 with *pp past it (and a UTF-8 byte-order
 * mark), 1 when more bytes are needed, -1 to fall back.
 */
static int fast_decl(char **pp, char *end, int eof)
{
	char *p = *pp, *e;
	int seen_version = 0;

	if (end - p < 3 && !eof)
		return 1;
	if (end - p >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
		p += 3;
	if (end - p < 6 && !eof)
		return 1;
	if (end - p < 6 || memcmp(p, "<?xml", 5) || !fast_ws(p[5])) {
		*pp = p;
		return 0;
	}
	e = memmem(p, (size_t)(end - p), "?>", 2);
	if (!e)
		return eof || end - p > 1024 ? -1 : 1;
	p += 5;
	for (;;) {
		char *n, *ne, *v, *ve, q;

		while (p < e && fast_ws(*p))
			p++;
		if (p == e)
			break;
		n = p;
		ne = fast_name_end(p, e);
		p = ne;
		while (p < e && fast_ws(*p))
			p++;
		if (p == e || *p++ != '=')
			return -1;
		while (p < e && fast_ws(*p))
			p++;
		if (p == e || (*p != '"' && *p != '\''))
			return -1;
		q = *p++;
		v = p;
		ve = memchr(v, q, (size_t)(e - v));
		if (!ve)
			return -1;
		p = ve + 1;
		if (p < e && !fast_ws(*p))
			return -1;
		if (ne - n == 7 && !memcmp(n, "version", 7) && !seen_version && ve - v == 3 &&
		    !memcmp(v, "1.0", 3))
			seen_version = 1;
		else if (ne - n == 8 && !memcmp(n, "encoding", 8) && seen_version && ve - v == 5 &&
			 !strncasecmp(v, "UTF-8", 5))
			;
		else if (ne - n == 10 && !memcmp(n, "standalone", 10) && seen_version &&
			 ((ve - v == 3 && !memcmp(v, "yes", 3)) || (ve - v == 2 && !memcmp(v, "no", 2))))
			;
		else
			return -1;
	}
	if (!seen_version)
		return -1;
	*pp = e + 2;
	return 0;
}

/*
 * Scans the whole tokens of [*pp, end), calling the handlers, until a
 * handler stops; *pp is left at the first byte not consumed.  Returns 0,
 * or -1 to fall back.  At eof everything must be consumed.
 */
static int fast_scan(struct fast *f, char **pp, char *end, int eof)
{
	struct xp *xp = f->xp;
	char *p = *pp, *q;
	int r;

	while (p < end && !xp->stopped) {
		if (*p != '<') {
			/* most texts hold only plain ASCII: found and checked in one loop */
			for (q = p; q < end && (fast_class[(unsigned char)*q] & FAST_PLAIN); q++)
				;
			if (q < end && *q == '<' && f->depth) {
				on_text(xp, p, (int)(q - p));
				p = q;
				continue;
			}
			q = q < end ? fast_find(q, end, '<') : NULL;
			if (!q) {
				if (!eof)
					break;
				q = end;
			}
			if (fast_text(f, p, q))
				return -1;
			p = q;
			continue;
		}
		if (end - p < 2) {
			if (eof)
				return -1;
			break;
		}
		if (p[1] == '/') {
			q = fast_find(p, end, '>');
			if (!q) {
				if (eof)
					return -1;
				break;
			}
			if (fast_end(f, p + 2, q))
				return -1;
			p = q + 1;
			continue;
		}
		if (p[1] == '?' || p[1] == '!')
			return -1;      /* comment, processing instruction, CDATA, DOCTYPE */
		if ((p[1] == 'c' && xp->cell) || (p[1] == 's' && xp->si)) {
			r = p[1] == 'c' ? fast_cell(f, p, end, &q) : fast_si(f, p, end, &q);
			if (r < 0)
				return -1;
			if (!r) {
				p = q;
				continue;
			}
		}
		r = fast_start(f, p + 1, end, &q);
		if (r < 0 || (r > 0 && eof))
			return -1;
		if (r > 0)
			break;
		p = q;
	}
	*pp = p;
	return 0;
}

/*
 * The buffer of a part inflated whole.  A large one (XLSX_WHOLE_MAP_MIN and
 * more) is mapped for it alone, then unmapped, so that this temporary never
 * sits in the heap and the heap keeps to what the grid holds: glibc's
 * malloc would take it from the heap once its mmap threshold has grown past
 * it, then give the heap back to the system after each read, to be faulted
 * in again by the next (about a quarter of a read's CPU time in the
 * benchmark).  A smaller one comes from malloc() and is reused from the
 * heap.  Under AddressSanitizer always malloc(), so that every access to
 * it is checked.  NULL on failure.
 */
#if defined(__SANITIZE_ADDRESS__)
#define XLSX_WHOLE_MMAP 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define XLSX_WHOLE_MMAP 0
#endif
#endif
#ifndef XLSX_WHOLE_MMAP
#define XLSX_WHOLE_MMAP 1
#endif
#define XLSX_WHOLE_MAP_MIN ((size_t)128 << 10)  /* smaller: malloc(), reused from the heap */

static char *whole_alloc(size_t n)
{
#if XLSX_WHOLE_MMAP
	if (n >= XLSX_WHOLE_MAP_MIN) {
		void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		return p == MAP_FAILED ? NULL : p;
	}
#endif
	return malloc(n);
}

static void whole_free(char *p, size_t n)
{
	if (!p)
		return;
#if XLSX_WHOLE_MMAP
	if (n >= XLSX_WHOLE_MAP_MIN) {
		munmap(p, n);
		return;
	}
#endif
	(void)n;
	free(p);
}

/*
 * Reads part idx (zs its stat) whole: its deflated bytes at once, inflated
 * by libdeflate into one buffer of the size the zip declares, its CRC-32
 * checked, then scanned in one go (cheaper than zlib through libzip 64 KiB
 * at a time: see DESIGN).  Only for a part that libzip
 * would inflate itself (deflated, not encrypted) of at most
 * XLSX_WHOLE_MAX bytes.  Any doubt (a short read, bad deflate data, a
 * size or CRC-32 that differs from the zip's, a bomb guard) falls back, so
 * that expat through libzip gives the answer and its message.  x->inflated
 * grows as parse_part_fast()'s 64 KiB reads would have made it grow: up to
 * the chunk where the scan stopped.  Returns as parse_part_fast().
 */
static int parse_whole(struct xlsx *x, zip_uint64_t idx, const zip_stat_t *zs, struct fast *f)
{
	struct xp *xp = f->xp;
	size_t size = (size_t)zs->size, csize = (size_t)zs->comp_size;
	char *in = NULL, *out = NULL, *p, *end;
	zip_file_t *zf;
	zip_uint64_t got;
	int ret = FAST_FALLBACK;

	if (x->inflated + size > XLSX_INFLATE_MAX || sheet_zip_ratio_exceeded(size, csize))
		return FAST_FALLBACK;
	if (!x->inflater)
		x->inflater = libdeflate_alloc_decompressor();
	in = malloc(csize ? csize : 1);
	out = whole_alloc(size + 1);
	if (!x->inflater || !in || !out)
		goto out;
	zf = zip_fopen_index(x->za, idx, ZIP_FL_COMPRESSED);
	if (!zf)
		goto out;
	got = 0;
	while (got < csize) {
		zip_int64_t n = zip_fread(zf, in + got, csize - got);

		if (n <= 0)
			break;
		got += (zip_uint64_t)n;
	}
	zip_fclose(zf);
	if (got != csize ||
	    libdeflate_deflate_decompress(x->inflater, in, csize, out, size, NULL) != LIBDEFLATE_SUCCESS ||
	    libdeflate_crc32(0, out, size) != zs->crc)
		goto out;
	free(in);
	in = NULL;
	p = out;
	end = out + size;
	if (fast_decl(&p, end, 1) || fast_scan(f, &p, end, 1))
		goto out;
	if (xp->stopped) {
		/* stopped at a tag ending at p - 1: read by then in 64 KiB chunks */
		size_t read = ((size_t)(p - out - 1) / XLSX_CHUNK + 1) * XLSX_CHUNK;

		x->inflated += read < size ? read : size;
		ret = xp->done ? SHEET_OK : (int)x->st;
	}
	else if (p == end && f->root_closed) {
		x->inflated += size;
		ret = SHEET_OK;
	}
out:
	free(in);
	whole_free(out, size + 1);
	return ret;
}

/*
 * Reads part name with the fast scanner and xp's handlers.  Returns
 * SHEET_OK, the failure a handler recorded, or FAST_FALLBACK when the part
 * must be parsed again with expat (x->inflated is then restored; what the
 * handlers did is the caller's to undo).  A part of at most whole bytes
 * (at most XLSX_WHOLE_MAX) is read whole (parse_whole()), a larger one 64
 * KiB at a time.
 */
static int parse_part_fast(struct xlsx *x, const char *name, struct xp *xp, size_t whole)
{
	zip_int64_t idx = part_index(x, name);
	zip_uint64_t inflated0 = x->inflated, part_inflated = 0;
	size_t have = 0;
	int prolog = 0, ret = FAST_FALLBACK;
	struct fast *f;
	zip_stat_t zs;
	zip_file_t *zf;
	char *buf;

	if (idx < 0)
		return FAST_FALLBACK;
	zip_stat_init(&zs);
	if (zip_stat_index(x->za, (zip_uint64_t)idx, 0, &zs) || !(zs.valid & ZIP_STAT_COMP_SIZE) ||
	    ((zs.valid & ZIP_STAT_SIZE) && zs.size > XLSX_INFLATE_MAX - x->inflated))
		return FAST_FALLBACK;
	f = malloc(sizeof(*f));
	if (!f)
		return FAST_FALLBACK;
	f->xp = xp;
	f->off[0] = 0;
	f->depth = 0;
	f->root_seen = f->root_closed = 0;
	xp->x = x;
	xp->p = NULL;
	xp->part = name;
	if ((zs.valid & (ZIP_STAT_SIZE | ZIP_STAT_CRC | ZIP_STAT_COMP_METHOD | ZIP_STAT_ENCRYPTION_METHOD)) ==
	    (ZIP_STAT_SIZE | ZIP_STAT_CRC | ZIP_STAT_COMP_METHOD | ZIP_STAT_ENCRYPTION_METHOD) &&
	    zs.comp_method == ZIP_CM_DEFLATE && zs.encryption_method == ZIP_EM_NONE &&
	    zs.size <= whole && whole <= XLSX_WHOLE_MAX) {
		ret = parse_whole(x, (zip_uint64_t)idx, &zs, f);
		if (ret == FAST_FALLBACK)
			x->inflated = inflated0;
		free(f);
		return ret;
	}
	zf = zip_fopen_index(x->za, (zip_uint64_t)idx, 0);
	if (!zf) {
		free(f);
		return FAST_FALLBACK;
	}
	buf = malloc(FAST_TAIL_MAX + XLSX_CHUNK + 1);
	if (!buf)
		goto out;
	for (;;) {
		zip_int64_t n = zip_fread(zf, buf + have, XLSX_CHUNK);
		char *p = buf, *end;
		int eof = n == 0;

		if (n < 0)
			goto out;
		x->inflated += (zip_uint64_t)n;
		part_inflated += (zip_uint64_t)n;
		if (x->inflated > XLSX_INFLATE_MAX ||
		    sheet_zip_ratio_exceeded(part_inflated, zs.comp_size))
			goto out;
		have += (size_t)n;
		end = buf + have;
		if (!prolog) {
			int r = fast_decl(&p, end, eof);

			if (r < 0)
				goto out;
			prolog = !r;
		}
		if (prolog && fast_scan(f, &p, end, eof))
			goto out;
		if (xp->stopped) {
			ret = xp->done ? SHEET_OK : (int)x->st;
			goto out;
		}
		if (eof) {
			if (p == end && f->root_closed)
				ret = SHEET_OK;
			goto out;
		}
		have = (size_t)(end - p);
		if (have > FAST_TAIL_MAX)
			goto out;
		memmove(buf, p, have);
	}
out:
	if (ret == FAST_FALLBACK)
		x->inflated = inflated0;
	zip_fclose(zf);
	free(buf);
	free(f);
	return ret;
}

/* ---- the package: content types and relationships --------------------------- */

static void ct_start(struct xp *xp, const char *name, const char **atts)
{
	struct xlsx *x = xp->x;
	const char *key, *type;
	struct ctype *c;
	int dflt = name_is(name, "Default");
	int r;

	if (!dflt && !name_is(name, "Override"))
		return;
	key = attr(atts, dflt ? "Extension" : "PartName", 0);
	type = attr(atts, "ContentType", 0);
	if (!key || !type)
		return;
	r = grow(&x->ct, x->nct, &x->capct, sizeof(*x->ct), XLSX_LIST_MAX);
	if (r) {
		if (r < 0)
			xp_nomem(xp);
		else
			xp_fail(xp, SHEET_UNREADABLE, "The part %s lists more than %d parts: "
				"it is not a workbook kiln can read." SAVE_AGAIN, xp->part,
				XLSX_LIST_MAX);
		return;
	}
	c = &x->ct[x->nct];
	c->is_default = dflt;
	c->key = xp_dup(xp, key[0] == '/' ? key + 1 : key);
	c->type = c->key ? xp_dup(xp, type) : NULL;
	if (!c->type) {
		free(c->key);
		return;
	}
	x->nct++;
}

/* Orders content types: Overrides, then Defaults, each by name ignoring case. */
static int cmp_ctype(const void *a, const void *b)
{
	const struct ctype *x = a, *y = b;

	if (x->is_default != y->is_default)
		return x->is_default - y->is_default;
	return strcasecmp(x->key, y->key);
}

/*
 * The content type of part (no leading /), or NULL when none is declared.
 * x->ct is sorted by cmp_ctype(), so a workbook of many sheets and parts
 * costs O(log n) a lookup.
 */
static const char *content_type(const struct xlsx *x, const char *part)
{
	const char *ext = strrchr(part, '.');
	struct ctype key = { .key = (char *)part, .is_default = 0 };
	const struct ctype *c;

	c = x->nct ? bsearch(&key, x->ct, x->nct, sizeof(*x->ct), cmp_ctype) : NULL;
	if (c)
		return c->type;
	if (!ext || strchr(ext, '/') || !x->nct)
		return NULL;
	key.key = (char *)ext + 1;
	key.is_default = 1;
	c = bsearch(&key, x->ct, x->nct, sizeof(*x->ct), cmp_ctype);
	return c ? c->type : NULL;
}

/*
 * Resolves a relationship's target against the part that owns it (source,
 * "" for the package): relative to its folder, or from the root when it
 * starts with "/"; "." and ".." segments are folded.  Returns a new string
 * or NULL on ENOMEM.
 */
static char *resolve_target(const char *source, const char *target)
{
	size_t dir = 0, n, i, o = 0;
	char *s, *out;

	if (target[0] != '/' && target[0] != '\\') {
		const char *slash = strrchr(source, '/');

		dir = slash ? (size_t)(slash - source) + 1 : 0;
	}
	n = dir + strlen(target);
	s = malloc(n + 1);
	out = malloc(n + 1);
	if (!s || !out) {
		free(s);
		free(out);
		return NULL;
	}
	memcpy(s, source, dir);
	strcpy(s + dir, target);
	for (i = 0; i < n; i++)
		if (s[i] == '\\')
			s[i] = '/';
	i = 0;
	while (i < n) {
		size_t seg = i, len;

		while (i < n && s[i] != '/')
			i++;
		len = i - seg;
		i++;
		if (!len || (len == 1 && s[seg] == '.'))
			continue;
		if (len == 2 && s[seg] == '.' && s[seg + 1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;            /* the slash before the dropped segment */
			continue;
		}
		if (o)
			out[o++] = '/';
		memcpy(out + o, s + seg, len);
		o += len;
	}
	out[o] = '\0';
	free(s);
	return out;
}

static void rels_start(struct xp *xp, const char *name, const char **atts)
{
	struct xlsx *x = xp->x;
	const char *source = xp->ctx;
	const char *id, *type, *target, *mode;
	struct rel *r;
	int g;

	if (!name_is(name, "Relationship"))
		return;
	id = attr(atts, "Id", 0);
	type = attr(atts, "Type", 0);
	target = attr(atts, "Target", 0);
	mode = attr(atts, "TargetMode", 0);
	if (!id || !type || !target)
		return;
	g = grow(&x->rels, x->nrels, &x->caprels, sizeof(*x->rels), XLSX_LIST_MAX);
	if (g) {
		if (g < 0)
			xp_nomem(xp);
		else
			xp_fail(xp, SHEET_UNREADABLE, "The part %s holds more than %d "
				"relationships: it is not a workbook kiln can read." SAVE_AGAIN,
				xp->part, XLSX_LIST_MAX);
		return;
	}
	r = &x->rels[x->nrels];
	memset(r, 0, sizeof(*r));
	r->id = xp_dup(xp, id);
	r->type = r->id ? xp_dup(xp, type) : NULL;
	if (r->type && strlen(target) > XLSX_ATTR_MAX)
		xp_dup(xp, target);     /* fails the parse with its message */
	else if (r->type && !(mode && !strcmp(mode, "External"))) {
		r->target = resolve_target(source, target);
		if (!r->target)
			xp_nomem(xp);
	}
	if (xp->stopped) {
		free(r->id);
		free(r->type);
		free(r->target);
		return;
	}
	x->nrels++;
}

static int cmp_rel(const void *a, const void *b)
{
	return strcmp(((const struct rel *)a)->id, ((const struct rel *)b)->id);
}

static void rels_free(struct xlsx *x)
{
	size_t i;

	for (i = 0; i < x->nrels; i++) {
		free(x->rels[i].id);
		free(x->rels[i].type);
		free(x->rels[i].target);
	}
	free(x->rels);
	x->rels = NULL;
	x->nrels = x->caprels = 0;
}

/*
 * Loads the relationships of part source ("" for the package) into x->rels,
 * replacing what was there.  A missing .rels part leaves the list empty.
 */
static enum sheet_status load_rels(struct xlsx *x, const char *source)
{
	const char *slash = strrchr(source, '/');
	size_t dir = slash ? (size_t)(slash - source) + 1 : 0;
	char *name;
	struct xp xp;
	int missing;
	enum sheet_status st;

	rels_free(x);
	name = malloc(strlen(source) + 16);
	if (!name)
		return nomem(x);
	sprintf(name, "%.*s_rels/%s.rels", (int)dir, source, source + dir);
	memset(&xp, 0, sizeof(xp));
	xp.start = rels_start;
	xp.ctx = (void *)source;
	st = parse_part(x, name, &xp, &missing);
	free(name);
	if (st == SHEET_OK && x->nrels)
		qsort(x->rels, x->nrels, sizeof(*x->rels), cmp_rel);
	return st;
}

/* The relationship with Id id (x->rels is sorted by cmp_rel()), or NULL. */
static const struct rel *rel_by_id(const struct xlsx *x, const char *id)
{
	struct rel key = { .id = (char *)id };

	return x->nrels ? bsearch(&key, x->rels, x->nrels, sizeof(*x->rels), cmp_rel) : NULL;
}

static const struct rel *rel_by_type(const struct xlsx *x, const char *type)
{
	size_t i;

	for (i = 0; i < x->nrels; i++)
		if (x->rels[i].target && rel_is(x->rels[i].type, type))
			return &x->rels[i];
	return NULL;
}

/* Is content type t that of a binary (.xlsb) workbook or sheet? */
static int binary_type(const char *t)
{
	return t && (strstr(t, "sheet.binary") || name_is(t, "application/vnd.ms-excel.worksheet"));
}

static enum sheet_status xlsb(struct xlsx *x)
{
	return fail(x, SHEET_UNSUPPORTED, "This file is an Excel binary workbook (.xlsb), "
		    "which kiln does not read. Open it in Excel, save it as Excel Workbook "
		    "(.xlsx) or CSV (UTF-8), and upload that.");
}

/*
 * Finds the workbook part: the package's officeDocument relationship, else
 * the part [Content_Types].xml calls the workbook, else xl/workbook.xml.
 * Sets *part (owned by the caller).
 */
static enum sheet_status find_workbook(struct xlsx *x, char **part)
{
	const struct rel *r;
	const char *t;
	size_t i;

	*part = NULL;
	if (load_rels(x, "") != SHEET_OK)
		return x->st;
	r = rel_by_type(x, "officeDocument");
	if (r)
		*part = strdup(r->target);
	for (i = 0; !r && i < x->nct; i++) {
		t = x->ct[i].type;
		if (!x->ct[i].is_default &&
		    (strstr(t, "spreadsheetml.sheet.main") || strstr(t, "spreadsheetml.template.main") ||
		     strstr(t, "sheet.macroEnabled.main") || strstr(t, "template.macroEnabled.main") ||
		     strstr(t, "sheet.binary.macroEnabled.main"))) {
			*part = strdup(x->ct[i].key);
			break;
		}
	}
	if (!r && i == x->nct) {
		if (part_index(x, "xl/workbook.xml") < 0)
			return fail(x, SHEET_UNREADABLE, "This file is a zip archive but holds no "
				    "workbook part (xl/workbook.xml): it is damaged or not an Excel "
				    "workbook." SAVE_AGAIN);
		*part = strdup("xl/workbook.xml");
	}
	if (!*part)
		return nomem(x);
	t = content_type(x, *part);
	if (binary_type(t) || (strlen(*part) > 4 && !strcasecmp(*part + strlen(*part) - 4, ".bin")))
		return xlsb(x);
	if (part_index(x, *part) < 0)
		return fail(x, SHEET_UNREADABLE, "This workbook's main part %s is missing: the "
			    "file is damaged." SAVE_AGAIN, *part);
	return SHEET_OK;
}

/* ---- the workbook -------------------------------------------------------------- */

static void wb_start(struct xp *xp, const char *name, const char **atts)
{
	struct xlsx *x = xp->x;
	const char *v, *rid, *state;
	struct wsheet *s;
	int g;

	if (name_is(name, "workbookPr")) {
		v = attr(atts, "date1904", 0);
		x->date1904 = v && (!strcmp(v, "1") || !strcmp(v, "true"));
		return;
	}
	if (!name_is(name, "sheet"))
		return;
	v = attr(atts, "name", 0);
	rid = attr(atts, "id", 1);
	state = attr(atts, "state", 0);
	g = grow(&x->sheets, x->nsheets, &x->capsheets, sizeof(*x->sheets), XLSX_LIST_MAX);
	if (g) {
		if (g < 0)
			xp_nomem(xp);
		else
			xp_fail(xp, SHEET_UNREADABLE, "The workbook lists more than %d sheets: "
				"kiln cannot read it." SAVE_AGAIN, XLSX_LIST_MAX);
		return;
	}
	s = &x->sheets[x->nsheets];
	s->name = xp_dup(xp, v ? v : "");
	s->rid = s->name ? xp_dup(xp, rid ? rid : "") : NULL;
	s->hidden = state && (!strcmp(state, "hidden") || !strcmp(state, "veryHidden"));
	if (!s->rid) {
		free(s->name);
		return;
	}
	x->nsheets++;
}

/* What a sheet of the workbook is. */
enum sheet_kind {
	KIND_OTHER,              /* chart, dialog or macro sheet; or no part at all */
	KIND_WORKSHEET,
	KIND_BINARY              /* an .xlsb worksheet */
};

static enum sheet_kind sheet_kind(const struct xlsx *x, const struct rel *r)
{
	const char *t;
	size_t n;

	if (!r || !r->target)
		return KIND_OTHER;
	t = content_type(x, r->target);
	n = strlen(r->target);
	if (binary_type(t) || (n > 4 && !strcasecmp(r->target + n - 4, ".bin")))
		return KIND_BINARY;
	if (t && strstr(t, "worksheet+xml"))
		return KIND_WORKSHEET;
	if (t && (strstr(t, "chartsheet") || strstr(t, "dialogsheet") || strstr(t, "macrosheet")))
		return KIND_OTHER;
	return rel_is(r->type, "worksheet") ? KIND_WORKSHEET : KIND_OTHER;
}

/* Writes the names of sheets idx[0..n) as sheet_list_names() does into buf. */
static void list_names(const struct xlsx *x, const size_t *idx, size_t n, char *buf, size_t len)
{
	const char *names[SHEET_NAMES_LISTED];
	size_t i;

	for (i = 0; i < n && i < SHEET_NAMES_LISTED; i++)
		names[i] = x->sheets[idx[i]].name;
	sheet_list_names(names, i, n, buf, len);
}

/*
 * Picks the first visible worksheet; sets *chosen and fills *skipped with
 * the hidden worksheets before it (their count in *nskipped).
 */
static enum sheet_status choose_sheet(struct xlsx *x, size_t *chosen, size_t *skipped,
				      size_t *nskipped)
{
	size_t i, nhidden = 0;
	int binary = 0;
	char names[512] = "";

	*nskipped = 0;
	for (i = 0; i < x->nsheets; i++) {
		enum sheet_kind k = sheet_kind(x, rel_by_id(x, x->sheets[i].rid));

		if (k == KIND_BINARY)
			binary = 1;
		if (k != KIND_WORKSHEET)
			continue;
		if (!x->sheets[i].hidden) {
			*chosen = i;
			return SHEET_OK;
		}
		skipped[nhidden++] = i;
		*nskipped = nhidden;
	}
	if (binary)
		return xlsb(x);
	if (nhidden) {
		list_names(x, skipped, nhidden, names, sizeof(names));
		return fail(x, SHEET_UNREADABLE, "Every worksheet of this workbook is hidden "
			    "(%s), and kiln reads only a visible one. Unhide the sheet that "
			    "holds the batch (right-click a sheet tab, Unhide), save and "
			    "upload again.", names);
	}
	return fail(x, SHEET_UNREADABLE, "This workbook holds no worksheet%s: kiln needs "
		    "the batch in a worksheet with the header in its first non-blank row.",
		    x->nsheets ? " (only chart, dialog or macro sheets)" : "");
}

/* The warning about the other sheets of the workbook, if there are any. */
static enum sheet_status sheet_warning(struct xlsx *x, size_t chosen, const size_t *skipped,
				       size_t nskipped)
{
	const char *names[SHEET_NAMES_LISTED];
	size_t i;

	for (i = 0; i < nskipped && i < SHEET_NAMES_LISTED; i++)
		names[i] = x->sheets[skipped[i]].name;
	if (sheet_warn_other_sheets(x->grid, x->sheets[chosen].name, x->nsheets, names, nskipped))
		return nomem(x);
	return SHEET_OK;
}

/* ---- styles -------------------------------------------------------------------- */

struct stylectx {
	unsigned xfs_depth;      /* depth of <cellXfs>, 0 outside it */
	unsigned fmts_depth;     /* depth of <numFmts> (not those of <dxfs>), 0 outside it */
};

static void st_start(struct xp *xp, const char *name, const char **atts)
{
	struct xlsx *x = xp->x;
	struct stylectx *c = xp->ctx;
	const char *v;
	unsigned id = 0;
	int g;

	if (name_is(name, "cellXfs")) {
		c->xfs_depth = xp->depth;
		return;
	}
	if (name_is(name, "numFmts")) {
		c->fmts_depth = xp->depth;
		return;
	}
	if (name_is(name, "numFmt") && c->fmts_depth && xp->depth == c->fmts_depth + 1) {
		const char *code = attr(atts, "formatCode", 0);

		v = attr(atts, "numFmtId", 0);
		if (!v || !code || parse_uint(v, &id) || !*code || strlen(code) > XLSX_ATTR_MAX)
			return;         /* unusable: the cell shows as General */
		g = grow(&x->fmts, x->nfmts, &x->capfmts, sizeof(*x->fmts), XLSX_LIST_MAX);
		if (g > 0)
			return;         /* beyond the limit: those cells show as General */
		if (g < 0) {
			xp_nomem(xp);
			return;
		}
		x->fmts[x->nfmts].id = id;
		x->fmts[x->nfmts].order = x->nfmts;
		x->fmts[x->nfmts].code = xp_dup(xp, code);
		if (x->fmts[x->nfmts].code)
			x->nfmts++;
		return;
	}
	if (!name_is(name, "xf") || !c->xfs_depth || xp->depth != c->xfs_depth + 1)
		return;
	v = attr(atts, "numFmtId", 0);
	if (!v || parse_uint(v, &id))
		id = 0;
	g = grow(&x->xf, x->nxf, &x->capxf, sizeof(*x->xf), XLSX_XF_MAX);
	if (g) {
		if (g < 0)
			xp_nomem(xp);
		else
			xp_fail(xp, SHEET_UNREADABLE, "The styles part %s holds more than %d "
				"cell formats: it is not a workbook kiln can read." SAVE_AGAIN,
				xp->part, XLSX_XF_MAX);
		return;
	}
	x->xf[x->nxf++] = id;
}

static void st_end(struct xp *xp, const char *name)
{
	struct stylectx *c = xp->ctx;

	if (name_is(name, "cellXfs") && xp->depth == c->xfs_depth)
		c->xfs_depth = 0;
	if (name_is(name, "numFmts") && xp->depth == c->fmts_depth)
		c->fmts_depth = 0;
}

/* Orders number formats by id, then by their order in the file. */
static int cmp_numfmt(const void *a, const void *b)
{
	const struct numfmt *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* The code the file gives number format id (the last one if several), or NULL. */
static const char *custom_format(const struct xlsx *x, unsigned id)
{
	size_t lo = 0, hi = x->nfmts;

	while (lo < hi) {                           /* the first entry past id */
		size_t mid = lo + (hi - lo) / 2;

		if (x->fmts[mid].id <= id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && x->fmts[lo - 1].id == id ? x->fmts[lo - 1].code : NULL;
}

/* Loads the styles part (if any) and works out which cell formats are dates. */
static enum sheet_status load_styles(struct xlsx *x)
{
	const struct rel *r = rel_by_type(x, "styles");
	struct stylectx c;
	struct xp xp;
	size_t i;
	int missing;

	if (!r)
		return SHEET_OK;
	memset(&xp, 0, sizeof(xp));
	memset(&c, 0, sizeof(c));
	xp.start = st_start;
	xp.end = st_end;
	xp.ctx = &c;
	if (parse_part(x, r->target, &xp, &missing) != SHEET_OK)
		return x->st;
	if (!x->nxf)
		return SHEET_OK;
	x->xf_date = calloc(x->nxf, sizeof(*x->xf_date));
	if (!x->xf_date)
		return nomem(x);
	if (x->nfmts)
		qsort(x->fmts, x->nfmts, sizeof(*x->fmts), cmp_numfmt);
	for (i = 0; i < x->nxf; i++) {
		const char *code = custom_format(x, x->xf[i]);

		if (!code)
			code = builtin_format(x->xf[i]);
		if (code && format_is_datetime(code))
			x->xf_date[i] = code;
	}
	return SHEET_OK;
}

/* ---- shared strings ---------------------------------------------------------------- */

struct sstctx {
	int in_si;
	unsigned rph;            /* inside <rPh> (phonetic run): text left out */
	int in_t;
	size_t start;            /* where the current string starts in the pool */
	int toolong;
};

/* Appends n bytes to the pool, within XLSX_SST_MAX; returns 0 or -1 (failed). */
static int sst_put(struct xp *xp, const char *s, size_t n)
{
	struct sst *t = &xp->x->sst;

	if (!t->select &&
	    t->used + t->dropped_bytes + n + 1 + (t->n + 1) * sizeof(*t->v) > XLSX_SST_MAX) {
		xp_fail(xp, SHEET_UNREADABLE, "The shared strings of this workbook (%s) hold "
			"more than %zu MiB of text: kiln refuses it as too large. Copy the "
			"batch sheet alone into a new workbook and upload that.", xp->part,
			XLSX_SST_MAX >> 20);
		return -1;
	}
	if (t->used + n + 1 > t->cap) {
		/* kept whole, the pool stops at XLSX_SST_KEEP and one string past it */
		size_t cap = t->cap ? t->cap : 65536, most = t->dropped || t->select ? XLSX_SST_MAX :
			XLSX_SST_KEEP + xp->x->lim->max_cell_bytes + 2;
		char *p;

		while (cap < t->used + n + 1)
			cap *= 2;
		if (cap > most)
			cap = most > t->used + n + 1 ? most : t->used + n + 1;
		if (cap > XLSX_SST_MAX)
			cap = XLSX_SST_MAX;
		p = realloc(t->pool, cap);
		if (!p) {
			xp_nomem(xp);
			return -1;
		}
		t->pool = p;
		t->cap = cap;
	}
	memcpy(t->pool + t->used, s, n);
	t->used += n;
	return 0;
}

/* Is text s white space only, as sheet_cell_blank() sees it? */
static int text_blank(const char *s)
{
	struct sheet_cell c;

	memset(&c, 0, sizeof(c));
	c.type = SHEET_CELL_TEXT;
	c.text = (char *)s;
	return sheet_cell_blank(&c);
}

/* Records the state of string i; returns 0 or -1 (ENOMEM, recorded). */
static int sst_set_state(struct xp *xp, size_t i, enum sst_state st)
{
	struct sst *t = &xp->x->sst;

	if (i / 4 >= t->statecap) {
		size_t cap = t->statecap ? t->statecap * 2 : 1024;
		uint8_t *p = realloc(t->state, cap);

		if (!p) {
			xp_nomem(xp);
			return -1;
		}
		memset(p + t->statecap, 0, cap - t->statecap);
		t->state = p;
		t->statecap = cap;
	}
	t->state[i / 4] = (uint8_t)((t->state[i / 4] & ~(3u << (2 * (i % 4)))) |
				    ((unsigned)st << (2 * (i % 4))));
	return 0;
}

static enum sst_state sst_state_of(const struct sst *t, size_t i)
{
	return (enum sst_state)((t->state[i / 4] >> (2 * (i % 4))) & 3);
}

/* Second pass: string t->n is wanted: copy it into the grid, point its cells at it. */
static void sst_fill(struct xp *xp, struct sstctx *c)
{
	struct sst *t = &xp->x->sst;
	struct sheet_grid *g = xp->x->grid;
	char *text;
	size_t n;

	if (sst_put(xp, "", 1))
		return;
	n = decode_escapes(t->pool + c->start, t->used - 1 - c->start);
	text = sheet_grid_text(g, t->pool + c->start, n);
	t->used = c->start;
	if (!text) {
		xp_nomem(xp);
		return;
	}
	for (; t->iw < t->nwant && t->want[t->iw].idx == t->n; t->iw++)
		g->cells[t->want[t->iw].cell].text = text;
}

static void sst_start(struct xp *xp, const char *name, const char **atts)
{
	struct sstctx *c = xp->ctx;

	(void)atts;
	if (name_is(name, "si")) {
		struct sst *t = &xp->x->sst;

		c->in_si = 1;
		c->rph = 0;
		c->in_t = 0;
		c->toolong = 0;
		c->start = t->used;
		t->keep = t->select && t->iw < t->nwant && t->want[t->iw].idx == t->n;
	}
	else if (c->in_si && name_is(name, "rPh"))
		c->rph++;
	else if (c->in_si && !c->rph && name_is(name, "t"))
		c->in_t = 1;
}

static void sst_text(struct xp *xp, const char *s, int len)
{
	struct sstctx *c = xp->ctx;
	struct sst *t = &xp->x->sst;

	if (!c->in_t || c->toolong || (t->select && !t->keep))
		return;
	if (t->used - c->start + (size_t)len > xp->x->lim->max_cell_bytes) {
		c->toolong = 1;         /* kept as a mark: refused if a stored cell uses it */
		t->used = c->start;
		return;
	}
	sst_put(xp, s, (size_t)len);
}

static void sst_end(struct xp *xp, const char *name)
{
	struct sstctx *c = xp->ctx;
	struct sst *t = &xp->x->sst;
	size_t n;
	int g;

	if (name_is(name, "t"))
		c->in_t = 0;
	else if (name_is(name, "rPh") && c->rph)
		c->rph--;
	if (!name_is(name, "si") || !c->in_si)
		return;
	c->in_si = 0;
	if (t->select) {
		if (t->keep)
			sst_fill(xp, c);
		t->n++;
		return;
	}
	if (sst_put(xp, "", 1))
		return;
	n = decode_escapes(t->pool + c->start, t->used - 1 - c->start);
	t->used = c->start + n + 1;
	if (sst_set_state(xp, t->n, c->toolong ? SST_LONG : !n ? SST_EMPTY :
			  text_blank(t->pool + c->start) ? SST_BLANK : SST_TEXT))
		return;
	if (t->dropped) {
		t->used = c->start;
		t->dropped_bytes += n + 1;
		t->n++;
		return;
	}
	g = grow(&t->v, t->n, &t->ncap, sizeof(*t->v), XLSX_SST_MAX / sizeof(*t->v));
	if (g) {
		xp_nomem(xp);           /* the limit itself was checked by sst_put() */
		return;
	}
	t->v[t->n].off = (uint32_t)c->start;
	t->v[t->n].len = c->toolong ? UINT32_MAX : (uint32_t)n;
	t->n++;
	if (t->used > XLSX_SST_KEEP) {
		t->dropped = 1;         /* from now on: states only, a second pass for the texts */
		t->dropped_bytes = t->used;
		t->used = 0;
		free(t->v);
		t->v = NULL;
		t->ncap = 0;
		free(t->pool);          /* it holds one string at a time from now on */
		t->pool = NULL;
		t->cap = 0;
	}
}

/*
 * The fast scanner's whole <si><t>text</t></si> (struct fast_cell: its text
 * only): the events sst_start(), sst_text() and sst_end() would take, one
 * after the other without the scanner's calls between.  Declines (1)
 * inside a string, where they decide otherwise, and where the depth guard
 * of xp_start() could trip; -1 when the text is one the scanner falls back
 * on.
 */
static int sst_fast_si(struct xp *xp, const struct fast_cell *fc)
{
	struct sstctx *c = xp->ctx;
	long n = (long)fc->vlen;

	if (c->in_si || xp->stopped || xp->depth + 2 > XLSX_DEPTH_MAX)
		return 1;
	if (fc->raw) {
		n = fast_decode(fc->v, fc->v + fc->vlen, 0);
		if (n < 0)
			return -1;
	}
	xp->quiet = 0;
	sst_start(xp, "si", NULL);
	sst_start(xp, "t", NULL);
	if (n > 0 && !xp->stopped)
		sst_text(xp, fc->v, (int)n);
	if (xp->stopped)
		return 0;
	sst_end(xp, "t");
	if (!xp->stopped)
		sst_end(xp, "si");
	return 0;
}

/*
 * One pass over the shared strings (select: the second, see struct sst):
 * the fast scanner, or expat when it falls back or is asked for.
 */
static enum sheet_status sst_pass(struct xlsx *x, const char *part, int select)
{
	struct sst *t = &x->sst;
	struct sstctx c;
	struct xp xp;
	int missing, pass;

	for (pass = x->lim->xml_path == SHEET_XML_EXPAT; pass < 2; pass++) {
		memset(&xp, 0, sizeof(xp));
		memset(&c, 0, sizeof(c));
		xp.start = sst_start;
		xp.end = sst_end;
		xp.text = sst_text;
		xp.si = sst_fast_si;
		xp.ctx = &c;
		t->used = t->n = t->iw = 0;
		t->select = select;
		if (!select) {
			t->dropped = 0;
			t->dropped_bytes = 0;
		}
		if (pass)
			return parse_part(x, part, &xp, &missing);
		/* the strings are read whole only when they would be kept whole */
		if (parse_part_fast(x, part, &xp, XLSX_SST_KEEP) != FAST_FALLBACK) {
			x->grid->xml_fast_parts++;
			return x->st;
		}
	}
	return x->st;
}

static enum sheet_status load_sst(struct xlsx *x)
{
	const struct rel *r = rel_by_type(x, "sharedStrings");

	return r ? sst_pass(x, r->target, 0) : SHEET_OK;
}

static int cmp_want(const void *a, const void *b)
{
	const struct sst_want *x = a, *y = b;

	if (x->idx != y->idx)
		return x->idx < y->idx ? -1 : 1;
	return x->cell < y->cell ? -1 : x->cell > y->cell;
}

/* The second pass, when the first dropped the texts: the strings the stored cells use. */
static enum sheet_status fill_sst(struct xlsx *x)
{
	const struct rel *r = rel_by_type(x, "sharedStrings");

	if (!r || !x->sst.dropped || !x->sst.nwant)
		return SHEET_OK;
	qsort(x->sst.want, x->sst.nwant, sizeof(*x->sst.want), cmp_want);
	if (sst_pass(x, r->target, 1) != SHEET_OK)
		return x->st;
	if (x->sst.iw != x->sst.nwant)   /* the part changed between the passes: cannot be */
		return fail(x, SHEET_UNREADABLE, "The shared strings of this workbook (%s) "
			    "read differently twice: the file is damaged." SAVE_AGAIN, r->target);
	return SHEET_OK;
}

/* ---- dates --------------------------------------------------------------------- */

/* Days from 1970-01-01 to the proleptic Gregorian date y-m-d. */
static long days_from_civil(long y, unsigned m, unsigned d)
{
	long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (long)(m > 2 ? m - 3 : m + 9) + 2) / 5 + (long)d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Reads exactly n digits at *s into *v and advances; returns 0 or -1. */
static int digits(const char **s, int n, unsigned *v)
{
	unsigned r = 0;
	int i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*s)[i]))
			return -1;
		r = r * 10 + (unsigned)((*s)[i] - '0');
	}
	*s += n;
	*v = r;
	return 0;
}

/*
 * Converts an ISO 8601 date, date-time or time (a t="d" cell:
 * "2014-02-14T08:27:48.765Z", "2014-02-14", "08:27:48") to a serial number
 * in the workbook's date system.  A time zone is ignored: Excel keeps wall
 * clock times.  Sets *has_date and *has_time; returns 0, or -1 when s is not
 * such a date.
 */
static int iso_serial(const char *s, int date1904, double *out, int *has_date, int *has_time)
{
	unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
	double frac = 0, serial = 0;

	*has_date = *has_time = 0;
	while (*s == ' ')
		s++;
	if (strlen(s) > 4 && isdigit((unsigned char)s[0]) && s[4] == '-') {
		if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) || *s++ != '-' ||
		    digits(&s, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > 31)
			return -1;
		*has_date = 1;
		if (*s == 'T' || *s == ' ')
			s++;
	}
	else if (*s == 'T')
		s++;
	if (isdigit((unsigned char)*s)) {
		if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi) || h > 24 || mi > 59)
			return -1;
		if (*s == ':') {
			s++;
			if (digits(&s, 2, &sec) || sec > 60)
				return -1;
			if (*s == '.' || *s == ',') {
				double scale = 0.1;

				s++;
				if (!isdigit((unsigned char)*s))
					return -1;
				for (; isdigit((unsigned char)*s); s++, scale /= 10)
					frac += (*s - '0') * scale;
			}
		}
		*has_time = 1;
	}
	if (*s == 'Z')
		s++;
	else if ((*s == '+' || *s == '-') && *has_time) {
		unsigned zh, zm = 0;

		s++;
		if (digits(&s, 2, &zh))
			return -1;
		if (*s == ':')
			s++;
		if (isdigit((unsigned char)*s) && digits(&s, 2, &zm))
			return -1;
	}
	while (*s == ' ')
		s++;
	if (*s || (!*has_date && !*has_time))
		return -1;
	if (*has_date) {
		long days = days_from_civil((long)y, mo, d);

		if (date1904)
			serial = (double)(days - days_from_civil(1904, 1, 1));
		else {
			serial = (double)(days - days_from_civil(1899, 12, 30));
			if (serial < 61)
				serial -= 1;    /* Excel counts 1900-02-29, which never was */
		}
	}
	*out = serial + (h * 3600.0 + mi * 60.0 + sec + frac) / 86400.0;
	return 0;
}

/* ---- the worksheet ------------------------------------------------------------ */

struct sheetctx {
	int in_data;             /* inside <sheetData> */
	unsigned row;            /* the current <row>'s number */
	unsigned last_row, last_col; /* the last <c> read, for order and refs left out */
	int any_cell;
	/* the <c> being read */
	int in_c, in_v, in_is, in_t;
	int skip;                /* in a row only counted, and counted already: ignored */
	unsigned rph;
	unsigned crow, ccol, cstyle;
	char ctype;              /* 'n' 's' 'b' 'e' 'd' 'S' (str) 'i' (inlineStr) */
	int has_v, has_is;
	char *buf;               /* its value's text */
	size_t len, cap;
	int over, overink;       /* past max_cell_bytes in a row only counted */
	/* the row being stored or counted */
	unsigned cur_row;
	int any_row, store, counted;
};

/* Parses a reference "C7" into *row and *col; returns 0 or -1. */
static inline int parse_ref(const char *s, unsigned *row, unsigned *col)
{
	unsigned c = 0, r = 0;
	int nl = 0, nd = 0;

	/* a letter of either case, a digit: one unsigned comparison each */
	for (; (unsigned)((*s | 0x20) - 'a') < 26; s++, nl++) {
		if (nl == 3)
			return -1;
		c = c * 26 + (unsigned)((*s & ~0x20) - 'A' + 1);      /* ASCII upper case */
	}
	for (; (unsigned)(*s - '0') < 10; s++, nd++) {
		if (nd == 9)
			return -1;
		r = r * 10 + (unsigned)(*s - '0');
	}
	if (*s || !nl || !nd || !r)
		return -1;
	*row = r;
	*col = c;
	return 0;
}

static void cell_too_long(struct xp *xp, const struct sheetctx *c)
{
	char ref[16];

	sheet_cell_ref(c->crow, c->ccol, ref, sizeof(ref));
	xp_fail(xp, SHEET_UNREADABLE, "Cell %s holds more than %zu bytes; kiln accepts at "
		"most %zu in one cell. Shorten it, or remove it if it is not part of the "
		"batch.", ref, xp->x->lim->max_cell_bytes, xp->x->lim->max_cell_bytes);
}

static void sh_row(struct xp *xp, struct sheetctx *c, const char **atts)
{
	const char *r = attr(atts, "r", 0);
	unsigned n;

	if (r) {
		if (parse_uint(r, &n) || !n) {
			xp_fail(xp, SHEET_UNREADABLE, "The worksheet has a row numbered \"%.40s\", "
				"which is not a row number: the file is damaged." SAVE_AGAIN, r);
			return;
		}
		c->row = n;
	}
	else if (c->row == UINT_MAX - 1) {
		xp_fail(xp, SHEET_UNREADABLE, "The worksheet has more rows than kiln can count.");
		return;
	}
	else
		c->row++;
}

/* A <c> opens, its attributes r, t and s given (NULL when absent). */
static void sh_cell_attrs(struct xp *xp, struct sheetctx *c, const char *r, const char *t,
			  const char *s)
{
	const struct sheet_limits *lim = xp->x->lim;
	char ref[16], prev[16];

	c->in_c = 1;
	c->skip = 0;
	c->in_v = c->in_is = c->in_t = 0;
	c->rph = 0;
	c->has_v = c->has_is = 0;
	c->len = 0;
	c->over = c->overink = 0;
	if (r) {
		if (parse_ref(r, &c->crow, &c->ccol)) {
			xp_fail(xp, SHEET_UNREADABLE, "The worksheet has a cell named \"%.40s\", "
				"which is not a cell reference: the file is damaged." SAVE_AGAIN, r);
			return;
		}
	}
	else {
		c->crow = c->row ? c->row : 1;
		c->ccol = c->any_cell && c->last_row == c->crow ? c->last_col + 1 : 1;
		if (c->ccol == 0) {
			xp_fail(xp, SHEET_UNREADABLE, "A row of the worksheet has more cells than "
				"kiln can count.");
			return;
		}
	}
	if (c->any_cell && (c->crow < c->last_row ||
			    (c->crow == c->last_row && c->ccol <= c->last_col))) {
		sheet_cell_ref(c->crow, c->ccol, ref, sizeof(ref));
		sheet_cell_ref(c->last_row, c->last_col, prev, sizeof(prev));
		xp_fail(xp, SHEET_UNREADABLE, "The worksheet stores cell %s after cell %s: its "
			"cells are out of order or repeated, which the .xlsx format does not "
			"allow, so the program that wrote it is at fault." SAVE_AGAIN, ref, prev);
		return;
	}
	c->any_cell = 1;
	c->last_row = c->crow;
	c->last_col = c->ccol;
	if (!c->any_row || c->crow != c->cur_row) {
		c->any_row = 1;
		c->cur_row = c->crow;
		c->store = xp->x->grid->nrows < lim->max_rows;
		c->counted = 0;
	}
	if (!c->store && c->counted) {
		c->skip = 1;            /* nothing in it can change the count */
		return;
	}
	c->ctype = 'n';
	if (t && *t) {
		if (!t[1] && (t[0] == 's' || t[0] == 'n'))
			c->ctype = t[0];        /* the commonest, first */
		else if (name_is(t, "str"))
			c->ctype = 'S';
		else if (name_is(t, "inlineStr"))
			c->ctype = 'i';
		else if (!t[1] && (t[0] == 's' || t[0] == 'n' || t[0] == 'b' || t[0] == 'e' ||
				   t[0] == 'd'))
			c->ctype = t[0];
		else {
			sheet_cell_ref(c->crow, c->ccol, ref, sizeof(ref));
			xp_fail(xp, SHEET_UNREADABLE, "Cell %s has the type \"%.20s\", which is not a "
				"cell type of the .xlsx format: the file is damaged." SAVE_AGAIN,
				ref, t);
			return;
		}
	}
	if (!s || parse_uint(s, &c->cstyle))
		c->cstyle = 0;
}

static void sh_cell(struct xp *xp, struct sheetctx *c, const char **atts)
{
	const char *r = NULL, *t = NULL, *s = NULL;
	size_t i;

	/* attr() for "r", "t" and "s" at once: the first unprefixed one of each */
	for (i = 0; atts[i]; i += 2) {
		const char *n = atts[i];

		if (n[0] && !n[1]) {
			if (n[0] == 'r' && !r)
				r = atts[i + 1];
			else if (n[0] == 't' && !t)
				t = atts[i + 1];
			else if (n[0] == 's' && !s)
				s = atts[i + 1];
		}
	}
	sh_cell_attrs(xp, c, r, t, s);
}

/*
 * <dimension ref="A1:K1000">: room for the cells the grid will keep, at most
 * max_rows rows of at most max_cols columns and max_cells in all, made at
 * once (sheet_grid_reserve(): a hint that costs no memory until used).
 */
static void sh_dimension(struct xp *xp, const char **atts)
{
	const struct sheet_limits *lim = xp->x->lim;
	const char *ref = attr(atts, "ref", 0), *colon = ref ? strchr(ref, ':') : NULL;
	unsigned r1, c1, r2, c2;
	char a[16];
	size_t n;

	if (!colon || (size_t)(colon - ref) >= sizeof(a))
		return;
	memcpy(a, ref, (size_t)(colon - ref));
	a[colon - ref] = '\0';
	if (parse_ref(a, &r1, &c1) || parse_ref(colon + 1, &r2, &c2) || r2 < r1 || c2 < c1)
		return;
	n = (size_t)(r2 - r1 + 1 < lim->max_rows ? r2 - r1 + 1 : lim->max_rows) *
	    (c2 - c1 + 1 < lim->max_cols ? c2 - c1 + 1 : lim->max_cols);
	sheet_grid_reserve(xp->x->grid, n < lim->max_cells ? n : lim->max_cells);
}

static void sh_start(struct xp *xp, const char *name, const char **atts)
{
	struct sheetctx *c = xp->ctx;

	if (!c->in_data) {
		if (name_is(name, "sheetData"))
			c->in_data = 1;
		else if (name_is(name, "dimension"))
			sh_dimension(xp, atts);
		return;
	}
	if (c->in_c) {
		if (c->skip)
			return;
		if (name_is(name, "v")) {
			c->in_v = 1;
			c->has_v = 1;
		}
		else if (name_is(name, "is")) {
			c->in_is = 1;
			c->has_is = 1;
		}
		else if (c->in_is && name_is(name, "rPh"))
			c->rph++;
		else if (c->in_is && !c->rph && name_is(name, "t"))
			c->in_t = 1;
		return;
	}
	if (name_is(name, "row"))
		sh_row(xp, c, atts);
	else if (name_is(name, "c"))
		sh_cell(xp, c, atts);
}

static void sh_text(struct xp *xp, const char *s, int len)
{
	struct sheetctx *c = xp->ctx;
	size_t max = xp->x->lim->max_cell_bytes, n = (size_t)len, take;

	if (!c->in_c || c->skip || !(c->ctype == 'i' ? c->in_t : c->in_v && !c->in_is))
		return;
	take = n;
	if (c->len + n > max) {
		if (c->store) {
			cell_too_long(xp, c);
			return;
		}
		/* a row only counted: keep what fits, note whether the rest has ink */
		take = c->len < max ? max - c->len : 0;
		c->over = 1;
		for (size_t i = take; i < n && !c->overink; i++)
			if (!strchr(" \t\r\n\v\f\xC2\xA0", s[i]))
				c->overink = 1;
	}
	if (!take)
		return;
	if (c->len + take + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 256;
		char *p;

		while (cap < c->len + take + 1)
			cap *= 2;
		if (cap > max + 1)
			cap = max + 1;
		p = realloc(c->buf, cap);
		if (!p) {
			xp_nomem(xp);
			return;
		}
		c->buf = p;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, s, take);
	c->len += take;
}

/* Trims ASCII white space off both ends of s (n bytes, NUL-terminated) in place; returns s + lead. */
static char *trim(char *s, size_t n)
{
	char *e = s + n;

	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	return s;
}

/* The message for a value that does not match its declared type. */
static void bad_value(struct xp *xp, const struct sheetctx *c, const char *what, const char *v)
{
	char ref[16];

	sheet_cell_ref(c->crow, c->ccol, ref, sizeof(ref));
	xp_fail(xp, SHEET_UNREADABLE, "Cell %s holds \"%.40s\" where the file declares %s: "
		"the file is damaged." SAVE_AGAIN, ref, v, what);
}

/* Parses a number written in a <v>, in the C locale; returns 0 or -1. */
static int parse_number(struct xlsx *x, const char *s, double *out)
{
	char *end;
	double d;
	uint64_t u = 0;
	size_t i;

	/* a whole number of at most 15 digits (seeds, counts) is exact: no strtod() */
	for (i = 0; i < 16 && s[i] >= '0' && s[i] <= '9'; i++)
		u = u * 10 + (uint64_t)(s[i] - '0');
	if (i && i < 16 && !s[i]) {
		*out = (double)u;
		return 0;
	}
	if (!*s || strspn(s, "0123456789+-.eE") != strlen(s))
		return -1;
	d = strtod_l(s, &end, x->c_locale);
	if (*end || !isfinite(d))
		return -1;
	*out = d;
	return 0;
}

/*
 * Makes the cell just closed into a grid cell (TEXT, NUMBER, BOOL, ERROR or
 * nothing when blank), then stores it or only counts its row.
 */
static void sh_value(struct xp *xp, struct sheetctx *c, char *buf, size_t len);

static void sh_cell_end(struct xp *xp, struct sheetctx *c)
{
	c->in_c = 0;
	if (c->skip || (c->ctype == 'i' ? !c->has_is : !c->has_v))
		return;                 /* no value: a styled or uncalculated cell */
	if (!c->buf) {
		c->buf = malloc(1);
		if (!c->buf) {
			xp_nomem(xp);
			return;
		}
		c->cap = 1;
	}
	c->buf[c->len] = '\0';
	sh_value(xp, c, c->buf, c->len);
}

/*
 * The value of the cell just closed, its text buf (len bytes, NUL-terminated,
 * changed in place): what sh_cell_end() describes.
 */
static void sh_value(struct xp *xp, struct sheetctx *c, char *buf, size_t len)
{
	struct xlsx *x = xp->x;
	struct sheet_cell cell;
	char ref[16], *v;
	int blank, has_date, has_time, want = 0, pooled = 0;
	enum sst_state sst;
	unsigned idx = 0;

	memset(&cell, 0, sizeof(cell));
	cell.row = c->crow;
	cell.col = c->ccol;
	if (c->over) {
		cell.type = SHEET_CELL_TEXT;    /* a row only counted: blank or not is all we need */
		cell.text = buf;
	}
	else if (c->ctype == 'i' || c->ctype == 'S') {
		if (!decode_escapes(buf, len))
			return;
		cell.type = SHEET_CELL_TEXT;
		cell.text = buf;
	}
	else if (c->ctype == 's') {
		size_t i;

		/* the usual index, digits alone, read at once; anything else by parse_uint() */
		for (i = 0; i < len && i < 9 && buf[i] >= '0' && buf[i] <= '9'; i++)
			idx = idx * 10 + (unsigned)(buf[i] - '0');
		v = buf;
		if (!i || i != len) {
			v = trim(buf, len);
			if (!*v)
				return;
			if (parse_uint(v, &idx))
				idx = UINT_MAX;
		}
		if (idx >= x->sst.n) {
			sheet_cell_ref(c->crow, c->ccol, ref, sizeof(ref));
			xp_fail(xp, SHEET_UNREADABLE, "Cell %s refers to shared string %.20s, but the "
				"workbook holds only %zu: the file is damaged." SAVE_AGAIN, ref, v,
				x->sst.n);
			return;
		}
		sst = sst_state_of(&x->sst, idx);
		if (sst == SST_LONG) {
			if (c->store) {
				cell_too_long(xp, c);
				return;
			}
			c->overink = 1;
			cell.type = SHEET_CELL_TEXT;
		}
		else {
			if (sst == SST_EMPTY)
				return;
			cell.type = SHEET_CELL_TEXT;
			if (!x->sst.dropped) {
				if (!x->sst.gtext) {
					x->sst.gtext = calloc(x->sst.n, sizeof(*x->sst.gtext));
					if (!x->sst.gtext) {
						xp_nomem(xp);
						return;
					}
				}
				if (!x->sst.gtext[idx]) {
					x->sst.gtext[idx] = sheet_grid_text(x->grid, x->sst.pool +
									    x->sst.v[idx].off,
									    x->sst.v[idx].len);
					if (!x->sst.gtext[idx]) {
						xp_nomem(xp);
						return;
					}
				}
				cell.text = x->sst.gtext[idx];
				pooled = 1;
			}
			else {
				/* a stand-in of the same blankness; the second pass puts the text */
				cell.text = sst == SST_BLANK ? " " : "x";
				want = 1;
			}
		}
	}
	else if (c->ctype == 'e') {
		if (!len)
			return;
		cell.type = SHEET_CELL_ERROR;
		cell.text = buf;
	}
	else if (c->ctype == 'b') {
		v = trim(buf, len);
		if (!*v)
			return;
		cell.type = SHEET_CELL_BOOL;
		if (!strcmp(v, "1") || !strcmp(v, "true"))
			cell.number = 1;
		else if (strcmp(v, "0") && strcmp(v, "false")) {
			bad_value(xp, c, "a boolean (1 or 0)", v);
			return;
		}
	}
	else if (c->ctype == 'd') {
		v = trim(buf, len);
		if (!*v)
			return;
		if (iso_serial(v, x->date1904, &cell.number, &has_date, &has_time)) {
			bad_value(xp, c, "an ISO 8601 date", v);
			return;
		}
		cell.type = SHEET_CELL_NUMBER;
		cell.format = (char *)(c->cstyle < x->nxf && x->xf_date[c->cstyle] ?
				       x->xf_date[c->cstyle] :
				       !has_time ? "yyyy-mm-dd" : !has_date ? "h:mm:ss" :
				       "yyyy-mm-dd h:mm:ss");
	}
	else {
		v = trim(buf, len);
		if (!*v)
			return;
		if (parse_number(x, v, &cell.number)) {
			bad_value(xp, c, "a number", v);
			return;
		}
		cell.type = SHEET_CELL_NUMBER;
		if (c->cstyle < x->nxf)
			cell.format = (char *)x->xf_date[c->cstyle];
	}

	if (!c->store) {
		blank = sheet_cell_blank(&cell) && !c->overink;
		if (!blank && !c->counted) {
			c->counted = 1;
			if (x->grid->nrows < UINT_MAX)
				x->grid->nrows++;
		}
		return;
	}
	if (cell.col > x->lim->max_cols) {
		sheet_cell_ref(cell.row, cell.col, ref, sizeof(ref));
		xp_fail(xp, SHEET_UNREADABLE, "Cell %s holds a value in column %u; kiln reads at "
			"most %u columns. Remove what lies right of the batch's columns.", ref,
			cell.col, x->lim->max_cols);
		return;
	}
	if (x->grid->ncells >= x->lim->max_cells) {
		sheet_cell_ref(cell.row, cell.col, ref, sizeof(ref));
		xp_fail(xp, SHEET_UNREADABLE, "The worksheet holds more than %zu non-blank cells "
			"(the limit is reached at %s); kiln reads at most that many.",
			x->lim->max_cells, ref);
		return;
	}
	if ((pooled ? sheet_grid_add_pooled : sheet_grid_add)(x->grid, &cell)) {
		xp_nomem(xp);
		return;
	}
	if (want) {
		struct sst *t = &x->sst;
		int g = grow(&t->want, t->nwant, &t->capwant, sizeof(*t->want),
			     x->lim->max_cells + 1);

		if (g) {
			xp_nomem(xp);
			return;
		}
		t->want[t->nwant].cell = (uint32_t)(x->grid->ncells - 1);
		t->want[t->nwant].idx = idx;
		t->nwant++;
	}
}

static void sh_end(struct xp *xp, const char *name)
{
	struct sheetctx *c = xp->ctx;

	if (!c->in_data)
		return;
	if (c->in_c) {
		if (name_is(name, "c"))
			sh_cell_end(xp, c);
		else if (c->skip)
			return;
		else if (name_is(name, "v"))
			c->in_v = 0;
		else if (name_is(name, "is"))
			c->in_is = 0;
		else if (name_is(name, "rPh") && c->rph)
			c->rph--;
		else if (name_is(name, "t"))
			c->in_t = 0;
		return;
	}
	if (name_is(name, "sheetData")) {
		c->in_data = 0;
		xp->done = 1;           /* nothing after the cells matters */
		xp_stop(xp);
	}
}

/*
 * The fast scanner's whole cell (struct fast_cell): the events <c>, <v>, its
 * text, </v>, </c> as sh_start(), sh_text() and sh_end() would take them,
 * without the calls between.  Declines (1) outside <sheetData> or inside a
 * cell, where those handlers decide otherwise, and where the depth guard
 * of xp_start() could trip.
 */
static int sh_fast_cell(struct xp *xp, const struct fast_cell *fc)
{
	struct sheetctx *c = xp->ctx;
	size_t n = fc->vlen;

	if (!c->in_data || c->in_c || xp->stopped || xp->depth + (fc->is ? 3 : 2) > XLSX_DEPTH_MAX)
		return 1;
	if (fc->raw) {
		/* as fast_text() would: the text decoded in place, or the part falls back */
		long d = fast_decode(fc->v, fc->v + fc->vlen, 0);

		if (d < 0)
			return -1;
		n = (size_t)d;
	}
	if (fc->r)
		*fc->r_end = '\0';
	if (fc->t)
		*fc->t_end = '\0';
	if (fc->s)
		*fc->s_end = '\0';
	xp->quiet = 0;
	sh_cell_attrs(xp, c, fc->r, fc->t, fc->s);
	if (xp->stopped)
		return 0;
	if (fc->empty || c->skip) {
		sh_cell_end(xp, c);
		return 0;
	}
	if (fc->is) {
		c->in_is = 1;
		c->has_is = 1;
		c->in_t = 1;
	}
	else {
		c->in_v = 1;
		c->has_v = 1;
	}
	if (c->ctype == 'i' ? !fc->is : fc->is) {
		c->in_v = c->in_is = c->in_t = 0;      /* a text that sh_text() ignores */
		sh_cell_end(xp, c);
		return 0;
	}
	if (n > xp->x->lim->max_cell_bytes) {
		sh_text(xp, fc->v, (int)n);     /* the rare case: as the events come */
		if (xp->stopped)
			return 0;
		c->in_v = c->in_is = c->in_t = 0;
		sh_cell_end(xp, c);
		return 0;
	}
	/* what sh_text() and sh_cell_end() do, the text read where it is */
	c->in_v = c->in_is = c->in_t = 0;
	c->in_c = 0;
	fc->v[n] = '\0';
	sh_value(xp, c, fc->v, n);
	return 0;
}

/*
 * Drops the cells past the first n of the grid (undoing a fast pass that
 * fell back; their text stays in the grid's pool until the grid is freed).
 */
static void grid_truncate(struct sheet_grid *g, size_t n, unsigned nrows, unsigned counted_row)
{
	g->ncells = n;
	g->nrows = nrows;
	g->counted_row = counted_row;
}

static enum sheet_status read_sheet(struct xlsx *x, const char *part)
{
	struct sheet_grid *g = x->grid;
	size_t ncells = g->ncells, nwant = x->sst.nwant;
	unsigned nrows = g->nrows, counted_row = g->counted_row;
	struct sheetctx c;
	struct xp xp;
	char *buf = NULL;
	int pass;

	for (pass = x->lim->xml_path == SHEET_XML_EXPAT; pass < 2; pass++) {
		memset(&xp, 0, sizeof(xp));
		memset(&c, 0, sizeof(c));
		c.buf = buf;            /* the cell buffer is kept from one pass to the next */
		xp.start = sh_start;
		xp.end = sh_end;
		xp.text = sh_text;
		xp.cell = sh_fast_cell;
		xp.ctx = &c;
		if (pass) {
			parse_part(x, part, &xp, NULL);
			break;
		}
		if (parse_part_fast(x, part, &xp, XLSX_WHOLE_MAX) != FAST_FALLBACK) {
			g->xml_fast_parts++;
			break;
		}
		buf = c.buf;
		grid_truncate(g, ncells, nrows, counted_row);
		x->sst.nwant = nwant;
	}
	free(c.buf);
	return x->st;
}

/* ---- the reader ------------------------------------------------------------------ */

static void xlsx_free(struct xlsx *x)
{
	size_t i;

	for (i = 0; i < x->nct; i++) {
		free(x->ct[i].key);
		free(x->ct[i].type);
	}
	free(x->ct);
	rels_free(x);
	for (i = 0; i < x->nsheets; i++) {
		free(x->sheets[i].name);
		free(x->sheets[i].rid);
	}
	free(x->sheets);
	for (i = 0; i < x->nfmts; i++)
		free(x->fmts[i].code);
	free(x->fmts);
	free(x->xf);
	free(x->xf_date);
	free(x->sst.pool);
	free(x->sst.v);
	free(x->sst.state);
	free(x->sst.gtext);
	free(x->sst.want);
	if (x->inflater)
		libdeflate_free_decompressor(x->inflater);
	if (x->za)
		zip_discard(x->za);
	if (x->c_locale)
		freelocale(x->c_locale);
}

/* Opens the zip in buf, or says clearly what the bytes are instead. */
static enum sheet_status open_zip(struct xlsx *x, const unsigned char *buf, size_t len)
{
	static const char encrypted[] = "E\0n\0c\0r\0y\0p\0t\0e\0d\0P\0a\0c\0k\0a\0g\0e";
	zip_error_t ze;
	zip_source_t *src;

	if (len >= 8 && !memcmp(buf, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8)) {
		if (memmem(buf, len, encrypted, sizeof(encrypted) - 1))
			return fail(x, SHEET_UNREADABLE, "This file is a password-protected "
				    "Excel workbook (an encrypted .xlsx): kiln cannot open "
				    "password-protected files. Save a copy without the password "
				    "(or as CSV, UTF-8) and upload that.");
		return fail(x, SHEET_UNSUPPORTED, "This file is an OLE compound file (an .xls "
			    "workbook?), not an .xlsx: it cannot be read as one.");
	}
	zip_error_init(&ze);
	src = zip_source_buffer_create(buf, len, 0, &ze);
	x->za = src ? zip_open_from_source(src, ZIP_RDONLY, &ze) : NULL;
	if (!x->za) {
		if (src)
			zip_source_free(src);
		fail(x, SHEET_UNREADABLE, "This file should be an .xlsx workbook (a zip archive) "
		     "but cannot be opened as one (%s): it is damaged or truncated." SAVE_AGAIN,
		     zip_error_strerror(&ze));
		zip_error_fini(&ze);
		return x->st;
	}
	zip_error_fini(&ze);
	return SHEET_OK;
}

/* Every step of the reader, in order (see DESIGN); cleanup is the caller's. */
static enum sheet_status read_workbook(struct xlsx *x, const unsigned char *buf, size_t len)
{
	struct xp xp;
	char *wb = NULL, *part = NULL;
	size_t chosen = 0, nskipped = 0, *skipped = NULL;
	const struct rel *r;
	int missing;

	if (open_zip(x, buf, len) != SHEET_OK)
		return x->st;
	memset(&xp, 0, sizeof(xp));
	xp.start = ct_start;
	if (parse_part(x, "[Content_Types].xml", &xp, &missing) != SHEET_OK)
		return x->st;
	if (x->nct)
		qsort(x->ct, x->nct, sizeof(*x->ct), cmp_ctype);
	if (find_workbook(x, &wb) != SHEET_OK)
		goto out;
	memset(&xp, 0, sizeof(xp));
	xp.start = wb_start;
	if (parse_part(x, wb, &xp, NULL) != SHEET_OK || load_rels(x, wb) != SHEET_OK)
		goto out;
	skipped = malloc((x->nsheets ? x->nsheets : 1) * sizeof(*skipped));
	if (!skipped) {
		nomem(x);
		goto out;
	}
	if (choose_sheet(x, &chosen, skipped, &nskipped) != SHEET_OK)
		goto out;
	r = rel_by_id(x, x->sheets[chosen].rid);
	part = strdup(r->target);
	x->grid->sheet_name = strdup(x->sheets[chosen].name);
	if (!part || !x->grid->sheet_name) {
		nomem(x);
		goto out;
	}
	if (part_index(x, part) < 0) {
		fail(x, SHEET_UNREADABLE, "The worksheet \"%s\" should be in the part %s, which "
		     "the file does not hold: it is damaged." SAVE_AGAIN, x->sheets[chosen].name,
		     part);
		goto out;
	}
	if (sheet_warning(x, chosen, skipped, nskipped) != SHEET_OK ||
	    load_styles(x) != SHEET_OK || load_sst(x) != SHEET_OK)
		goto out;
	if (read_sheet(x, part) == SHEET_OK)
		fill_sst(x);
out:
	free(skipped);
	free(part);
	free(wb);
	return x->st;
}

enum sheet_status sheet_read_xlsx(const unsigned char *buf, size_t len,
				  const struct sheet_limits *lim,
				  struct sheet_grid *grid, char *err, size_t errlen)
{
	struct sheet_limits deflim;
	struct xlsx x;
	char dummy[1];

	sheet_read_begin(grid, &err, &errlen, dummy, &lim, &deflim);
	memset(&x, 0, sizeof(x));
	x.lim = lim;
	x.grid = grid;
	x.err = err;
	x.errlen = errlen;
	x.c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (!x.c_locale)
		nomem(&x);
	else if (!buf || !len)
		fail(&x, SHEET_UNREADABLE, "The file is empty." SAVE_AGAIN);
	else
		read_workbook(&x, buf, len);
	xlsx_free(&x);
	if (x.st != SHEET_OK)
		sheet_grid_free(grid);
	return x.st;
}
