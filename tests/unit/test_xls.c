/*
 * test_xls.c — unit tests of the .xls reader (sheet/xls.c).
 *
 * DESIGN
 * Two kinds of input.  Files built here: a small writer below lays BIFF8
 * and BIFF5 records into an OLE2 compound file (regular sectors or the mini
 * stream), so each test states exactly which records it feeds the reader:
 * hidden sheets, formulas and their STRING records, shared strings broken
 * across CONTINUE records, code pages, embedded charts, cells out of order,
 * the limits, and hostile files (a FAT that loops, absurd DIMENSIONS, an
 * SST that claims four billion strings, 65536 rows of one huge string).
 * And the corpus (../shared/corpus, the tests run from the repository
 * root): every .xls whose expectation is "read" is compared cell by cell
 * with its oracle (JSON lines read with cJSON: text and booleans exactly,
 * numbers to a relative 1e-9, formats where the oracle lists one), the
 * files that must be refused are checked for their message, and the batch
 * files are validated end to end.  Without the corpus those tests are
 * skipped by name.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* strtok_r(), strdup(), clock_gettime() even under -std=c11 */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "sheet/sheet.h"
#include "tests/unit/oracle.h"


/* ---- a byte buffer ------------------------------------------------------- */

struct blob {
	unsigned char *p;
	size_t n, cap;
};

static void put(struct blob *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;

		while (cap < b->n + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		assert_non_null(b->p);
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void put8(struct blob *b, unsigned v)
{
	unsigned char c = (unsigned char)v;

	put(b, &c, 1);
}

static void put16(struct blob *b, unsigned v)
{
	put8(b, v & 0xFF);
	put8(b, v >> 8 & 0xFF);
}

static void put32(struct blob *b, uint32_t v)
{
	put16(b, v & 0xFFFF);
	put16(b, v >> 16);
}

static void put_double(struct blob *b, double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	put32(b, (uint32_t)u);
	put32(b, (uint32_t)(u >> 32));
}

static void set32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* Appends one BIFF record. */
static void rec(struct blob *b, unsigned type, const void *d, size_t n)
{
	put16(b, type);
	put16(b, (unsigned)n);
	put(b, d, n);
}

/* ---- BIFF records ---------------------------------------------------------- */

/* BOF: biff 8 or 5; dt 0x0005 globals, 0x0010 worksheet, 0x0020 chart. */
static void bof(struct blob *b, int biff, unsigned dt)
{
	struct blob d = { 0 };

	put16(&d, biff == 8 ? 0x0600 : 0x0500);
	put16(&d, dt);
	put16(&d, 0x1234);
	put16(&d, 1997);
	if (biff == 8) {
		put32(&d, 0);
		put32(&d, 0x0600);
	}
	rec(b, 0x0809, d.p, d.n);
	free(d.p);
}

static void eof(struct blob *b)
{
	rec(b, 0x000A, NULL, 0);
}

/*
 * BOUNDSHEET; returns the offset of its stream-position field, for
 * patch_sheet().  biff 5 names are code-page bytes, biff 8 one-byte chars.
 */
static size_t boundsheet(struct blob *b, int biff, unsigned vis, unsigned kind, const char *name)
{
	struct blob d = { 0 };
	size_t at = b->n + 4;

	put32(&d, 0);
	put8(&d, vis);
	put8(&d, kind);
	put8(&d, (unsigned)strlen(name));
	if (biff == 8)
		put8(&d, 0);
	put(&d, name, strlen(name));
	rec(b, 0x0085, d.p, d.n);
	free(d.p);
	return at;
}

static void patch_sheet(struct blob *b, size_t at)
{
	set32(b->p + at, (uint32_t)b->n);
}

/* FORMAT (BIFF8) and XF (format index only). */
static void format8(struct blob *b, unsigned ifmt, const char *code)
{
	struct blob d = { 0 };

	put16(&d, ifmt);
	put16(&d, (unsigned)strlen(code));
	put8(&d, 0);
	put(&d, code, strlen(code));
	rec(b, 0x041E, d.p, d.n);
	free(d.p);
}

static void xf(struct blob *b, unsigned ifmt)
{
	unsigned char d[20] = { 0 };

	d[2] = (unsigned char)ifmt;
	d[3] = (unsigned char)(ifmt >> 8);
	rec(b, 0x00E0, d, sizeof(d));
}

static void cellhead(struct blob *d, unsigned row, unsigned col, unsigned xfi)
{
	put16(d, row);
	put16(d, col);
	put16(d, xfi);
}

static void number(struct blob *b, unsigned row, unsigned col, unsigned xfi, double v)
{
	struct blob d = { 0 };

	cellhead(&d, row, col, xfi);
	put_double(&d, v);
	rec(b, 0x0203, d.p, d.n);
	free(d.p);
}

static void labelsst(struct blob *b, unsigned row, unsigned col, uint32_t i)
{
	struct blob d = { 0 };

	cellhead(&d, row, col, 0);
	put32(&d, i);
	rec(b, 0x00FD, d.p, d.n);
	free(d.p);
}

/* LABEL: biff 8 with one-byte chars, biff 5 code-page bytes. */
static void label(struct blob *b, int biff, unsigned row, unsigned col, const char *s)
{
	struct blob d = { 0 };

	cellhead(&d, row, col, 0);
	put16(&d, (unsigned)strlen(s));
	if (biff == 8)
		put8(&d, 0);
	put(&d, s, strlen(s));
	rec(b, 0x0204, d.p, d.n);
	free(d.p);
}

static void boolerr(struct blob *b, unsigned row, unsigned col, unsigned v, int err)
{
	struct blob d = { 0 };

	cellhead(&d, row, col, 0);
	put8(&d, v);
	put8(&d, err ? 1 : 0);
	rec(b, 0x0205, d.p, d.n);
	free(d.p);
}

/* FORMULA with a special result (kind 0 text, 1 bool, 2 error, 3 empty) or a number. */
static void formula(struct blob *b, unsigned row, unsigned col, unsigned xfi, int kind,
		    unsigned v, double num)
{
	struct blob d = { 0 };

	cellhead(&d, row, col, xfi);
	if (kind < 0)
		put_double(&d, num);
	else {
		put8(&d, (unsigned)kind);
		put8(&d, 0);
		put8(&d, v);
		put8(&d, 0);
		put8(&d, 0);
		put8(&d, 0);
		put16(&d, 0xFFFF);
	}
	put16(&d, 0);            /* grbit */
	put32(&d, 0);            /* chn */
	put16(&d, 3);            /* cce: a formula of three bytes */
	put8(&d, 0x1E);          /* ptgInt 1 */
	put16(&d, 1);
	rec(b, 0x0006, d.p, d.n);
	free(d.p);
}

/* DIMENSIONS (BIFF8) claiming rows x cols. */
static void dimensions(struct blob *b, uint32_t rows, unsigned cols)
{
	struct blob d = { 0 };

	put32(&d, 0);
	put32(&d, rows);
	put16(&d, 0);
	put16(&d, cols);
	put16(&d, 0);
	rec(b, 0x0200, d.p, d.n);
	free(d.p);
}

/* An SST of one-byte strings in a single record. */
static void sst(struct blob *b, const char *const *s, size_t n)
{
	struct blob d = { 0 };
	size_t i;

	put32(&d, (uint32_t)n);
	put32(&d, (uint32_t)n);
	for (i = 0; i < n; i++) {
		put16(&d, (unsigned)strlen(s[i]));
		put8(&d, 0);
		put(&d, s[i], strlen(s[i]));
	}
	rec(b, 0x00FC, d.p, d.n);
	free(d.p);
}

/* ---- the compound file ----------------------------------------------------- */

/*
 * Lays stream (slen bytes) into an OLE2 compound file of 512-byte sectors
 * as a stream called name: in regular sectors (mini 0, with a mini-stream
 * cutoff of 0 so any size goes there) or in the mini stream (mini 1,
 * slen < 4096).  Layout: FAT sectors, the directory, the mini FAT, then
 * the data.  Returns the file; *len is its size.
 */
static unsigned char *cfb(const unsigned char *stream, size_t slen, const char *name, int mini,
			  size_t *len)
{
	struct blob f = { 0 };
	size_t dlen = mini ? (slen + 63) / 64 * 64 : slen;
	uint32_t nd = (uint32_t)((dlen + 511) / 512), nfat = 1, total, i, dir, mf, data;
	unsigned char hdr[512], dirs[512], sect[512];

	while ((nfat * 128) < nfat + 1 + (mini ? 1u : 0u) + nd)
		nfat++;
	assert_true(nfat <= 109);
	dir = nfat;
	mf = nfat + 1;
	data = nfat + 1 + (mini ? 1 : 0);
	total = data + nd;

	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8);
	hdr[24] = 0x3E;
	hdr[26] = 3;
	hdr[28] = 0xFE;
	hdr[29] = 0xFF;
	hdr[30] = 9;
	hdr[32] = 6;
	set32(hdr + 44, nfat);
	set32(hdr + 48, dir);
	set32(hdr + 56, mini ? 4096 : 0);
	set32(hdr + 60, mini ? mf : 0xFFFFFFFEu);
	set32(hdr + 64, mini ? 1 : 0);
	set32(hdr + 68, 0xFFFFFFFEu);
	for (i = 0; i < 109; i++)
		set32(hdr + 76 + 4 * i, i < nfat ? i : 0xFFFFFFFFu);
	put(&f, hdr, sizeof(hdr));

	for (i = 0; i < nfat * 128; i++) {
		uint32_t v = 0xFFFFFFFFu;

		if (i < nfat)
			v = 0xFFFFFFFDu;
		else if (i == dir || (mini && i == mf))
			v = 0xFFFFFFFEu;
		else if (i >= data && i < total)
			v = i + 1 == total ? 0xFFFFFFFEu : i + 1;
		set32(sect + 4 * (i % 128), v);
		if (i % 128 == 127)
			put(&f, sect, sizeof(sect));
	}

	memset(dirs, 0, sizeof(dirs));
	for (i = 0; i < 10; i++) {
		dirs[2 * i] = (unsigned char)"Root Entry"[i];
	}
	dirs[64] = 22;
	dirs[66] = 5;
	set32(dirs + 68, 0xFFFFFFFFu);
	set32(dirs + 72, 0xFFFFFFFFu);
	set32(dirs + 76, 1);
	set32(dirs + 116, mini ? data : 0xFFFFFFFEu);
	set32(dirs + 120, mini ? (uint32_t)dlen : 0);
	for (i = 0; name[i]; i++)
		dirs[128 + 2 * i] = (unsigned char)name[i];
	dirs[128 + 64] = (unsigned char)(2 * (i + 1));
	dirs[128 + 66] = 2;
	set32(dirs + 128 + 68, 0xFFFFFFFFu);
	set32(dirs + 128 + 72, 0xFFFFFFFFu);
	set32(dirs + 128 + 76, 0xFFFFFFFFu);
	set32(dirs + 128 + 116, mini ? 0 : data);
	set32(dirs + 128 + 120, (uint32_t)slen);
	put(&f, dirs, sizeof(dirs));

	if (mini) {
		for (i = 0; i < 128; i++)
			set32(sect + 4 * i, i + 1 < dlen / 64 ? i + 1 : i + 1 == dlen / 64 ?
			      0xFFFFFFFEu : 0xFFFFFFFFu);
		put(&f, sect, sizeof(sect));
	}
	put(&f, stream, slen);
	while (f.n < 512 + (size_t)total * 512)
		put8(&f, 0);
	*len = f.n;
	return f.p;
}

/* A workbook being built: its stream of BIFF records. */
struct book {
	struct blob b;
};

/* Starts the globals of a BIFF8 workbook with the XFs tests use. */
static void book_begin(struct book *k, int biff)
{
	unsigned i;

	memset(k, 0, sizeof(*k));
	bof(&k->b, biff, 0x0005);
	format8(&k->b, 164, "hh:mm:ss\\ AM/PM");
	for (i = 0; i < 16; i++)
		xf(&k->b, 0);
	xf(&k->b, 164);          /* XF 16: a time */
	xf(&k->b, 14);           /* XF 17: the built-in date m/d/yy */
	xf(&k->b, 2);            /* XF 18: 0.00 */
}

/* Reads an .xls from memory with lim (NULL: defaults); returns the status. */
static enum sheet_status read_xls(const unsigned char *buf, size_t len,
				  const struct sheet_limits *lim, struct sheet_grid *g,
				  char *err, size_t errlen)
{
	return sheet_read_xls(buf, len, lim, g, err, errlen);
}

/* Wraps workbook stream s in a compound file and reads it. */
static enum sheet_status read_stream(const struct blob *s, const char *name, int mini,
				     const struct sheet_limits *lim, struct sheet_grid *g,
				     char *err, size_t errlen)
{
	size_t len;
	unsigned char *f = cfb(s->p, s->n, name, mini, &len);
	enum sheet_status st = read_xls(f, len, lim, g, err, errlen);

	free(f);
	return st;
}

/* The cell at (row, col), or NULL. */
static const struct sheet_cell *cell_at(const struct sheet_grid *g, unsigned row, unsigned col)
{
	size_t i;

	for (i = 0; i < g->ncells; i++)
		if (g->cells[i].row == row && g->cells[i].col == col)
			return &g->cells[i];
	return NULL;
}

static void assert_text(const struct sheet_grid *g, unsigned row, unsigned col, const char *s)
{
	const struct sheet_cell *c = cell_at(g, row, col);

	if (!c || c->type != SHEET_CELL_TEXT || strcmp(c->text, s))
		fail_msg("cell (%u,%u): want text \"%s\", got %s \"%s\"", row, col, s,
			 c ? "type" : "nothing", c && c->text ? c->text : "");
}

static void assert_num(const struct sheet_grid *g, unsigned row, unsigned col, double v)
{
	const struct sheet_cell *c = cell_at(g, row, col);

	if (!c || c->type != SHEET_CELL_NUMBER || c->number != v)
		fail_msg("cell (%u,%u): want number %.17g, got %.17g", row, col, v,
			 c ? c->number : -1.0);
}

/* Checks that the grid is sorted by row then column. */
static void assert_sorted(const struct sheet_grid *g)
{
	size_t i;

	for (i = 1; i < g->ncells; i++)
		assert_true(g->cells[i - 1].row < g->cells[i].row ||
			    (g->cells[i - 1].row == g->cells[i].row &&
			     g->cells[i - 1].col < g->cells[i].col));
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- built files ------------------------------------------------------------- */

/* Every kind of cell, in regular sectors and in the mini stream alike. */
static void test_cells(void **state)
{
	static const char *const strs[] = { "prompt", "a cat", "   " };
	struct book k;
	size_t at;
	int mini;
	unsigned char longstr[40];

	(void)state;
	for (mini = 0; mini < 2; mini++) {
		struct sheet_grid g;
		char err[512];
		const struct sheet_cell *c;
		struct blob d = { 0 };

		book_begin(&k, 8);
		at = boundsheet(&k.b, 8, 0, 0, "Batch");
		sst(&k.b, strs, 3);
		eof(&k.b);
		patch_sheet(&k.b, at);
		bof(&k.b, 8, 0x0010);
		dimensions(&k.b, 10, 10);
		labelsst(&k.b, 0, 0, 0);
		labelsst(&k.b, 1, 0, 1);
		number(&k.b, 1, 1, 0, 2.0);
		number(&k.b, 1, 2, 16, 2.0 / 24 + 3.0 / 1440);
		number(&k.b, 1, 3, 17, 41689.5);
		boolerr(&k.b, 1, 4, 1, 0);
		boolerr(&k.b, 1, 5, 0x07, 1);
		/* RK: 42 as an integer, 1.23 as integer / 100 */
		put16(&d, 2);
		put16(&d, 0);
		put16(&d, 0);
		put32(&d, (uint32_t)(42 << 2) | 2);
		rec(&k.b, 0x027E, d.p, d.n);
		d.n = 0;
		/* MULRK: C3, D3 = 123, -5 */
		put16(&d, 2);
		put16(&d, 2);
		put16(&d, 0);
		put32(&d, (uint32_t)(123 << 2) | 2);
		put16(&d, 0);
		put32(&d, (uint32_t)((uint32_t)-5 << 2) | 2);
		put16(&d, 3);
		rec(&k.b, 0x00BD, d.p, d.n);
		d.n = 0;
		/* RK 1.23 = 123 / 100 */
		put16(&d, 2);
		put16(&d, 4);
		put16(&d, 0);
		put32(&d, (uint32_t)(123 << 2) | 3);
		rec(&k.b, 0x027E, d.p, d.n);
		free(d.p);
		label(&k.b, 8, 3, 0, "label text");
		labelsst(&k.b, 3, 1, 2);               /* white space: stored, row still counts */
		formula(&k.b, 4, 0, 0, -1, 0, 7.5);
		formula(&k.b, 4, 1, 0, 1, 1, 0);
		formula(&k.b, 4, 2, 0, 2, 0x2A, 0);
		formula(&k.b, 4, 3, 0, 3, 0, 0);       /* empty string: blank */
		formula(&k.b, 4, 4, 0, 0, 0, 0);
		memset(longstr, 0, sizeof(longstr));
		longstr[0] = 5;
		memcpy(longstr + 3, "hello", 5);
		rec(&k.b, 0x0207, longstr, 8);
		formula(&k.b, 4, 5, 0, 0, 0, 0);       /* its STRING record is missing */
		number(&k.b, 4, 6, 0, -0.5);
		eof(&k.b);

		assert_int_equal(read_stream(&k.b, "Workbook", mini, NULL, &g, err, sizeof(err)),
				 SHEET_OK);
		assert_string_equal(g.sheet_name, "Batch");
		assert_int_equal(g.warnings.n, 0);
		assert_sorted(&g);
		assert_text(&g, 1, 1, "prompt");
		assert_text(&g, 2, 1, "a cat");
		assert_num(&g, 2, 2, 2.0);
		c = cell_at(&g, 2, 3);
		assert_non_null(c);
		assert_true(c->number == 2.0 / 24 + 3.0 / 1440);
		assert_string_equal(c->format, "hh:mm:ss\\ AM/PM");
		c = cell_at(&g, 2, 4);
		assert_string_equal(c->format, "m/d/yy");
		assert_null(cell_at(&g, 2, 2)->format);
		c = cell_at(&g, 2, 5);
		assert_int_equal(c->type, SHEET_CELL_BOOL);
		assert_true(c->number == 1);
		c = cell_at(&g, 2, 6);
		assert_int_equal(c->type, SHEET_CELL_ERROR);
		assert_string_equal(c->text, "#DIV/0!");
		assert_num(&g, 3, 1, 42);
		assert_num(&g, 3, 3, 123);
		assert_num(&g, 3, 4, -5);
		assert_num(&g, 3, 5, 1.23);
		assert_text(&g, 4, 1, "label text");
		assert_text(&g, 4, 2, "   ");
		assert_num(&g, 5, 1, 7.5);
		assert_int_equal(cell_at(&g, 5, 2)->type, SHEET_CELL_BOOL);
		assert_string_equal(cell_at(&g, 5, 3)->text, "#N/A");
		assert_null(cell_at(&g, 5, 4));
		assert_text(&g, 5, 5, "hello");
		assert_null(cell_at(&g, 5, 6));
		assert_num(&g, 5, 7, -0.5);
		assert_int_equal(g.nrows, 5);
		sheet_grid_free(&g);
		free(k.b.p);
	}
}

/* A hidden first sheet is skipped; the warning names both sheets. */
static void test_hidden_first(void **state)
{
	struct book k;
	size_t at[3];
	struct sheet_grid g;
	char err[512];

	(void)state;
	book_begin(&k, 8);
	at[0] = boundsheet(&k.b, 8, 1, 0, "Instructions");
	at[1] = boundsheet(&k.b, 8, 0, 2, "Chart1");
	at[2] = boundsheet(&k.b, 8, 0, 0, "Batch");
	eof(&k.b);
	patch_sheet(&k.b, at[0]);
	bof(&k.b, 8, 0x0010);
	label(&k.b, 8, 0, 0, "How to fill in this batch");
	eof(&k.b);
	patch_sheet(&k.b, at[1]);
	bof(&k.b, 8, 0x0020);
	eof(&k.b);
	patch_sheet(&k.b, at[2]);
	bof(&k.b, 8, 0x0010);
	label(&k.b, 8, 0, 0, "prompt");
	eof(&k.b);
	assert_int_equal(read_stream(&k.b, "Workbook", 0, NULL, &g, err, sizeof(err)), SHEET_OK);
	assert_string_equal(g.sheet_name, "Batch");
	assert_text(&g, 1, 1, "prompt");
	assert_int_equal(g.ncells, 1);
	assert_int_equal(g.warnings.n, 1);
	assert_non_null(strstr(g.warnings.v[0].message, "\"Batch\""));
	assert_non_null(strstr(g.warnings.v[0].message, "\"Instructions\" (hidden)"));
	assert_non_null(strstr(g.warnings.v[0].message, "\"Chart1\" (chart)"));
	sheet_grid_free(&g);
	free(k.b.p);

	/* only a chart: refused */
	book_begin(&k, 8);
	at[0] = boundsheet(&k.b, 8, 0, 2, "Chart1");
	eof(&k.b);
	patch_sheet(&k.b, at[0]);
	bof(&k.b, 8, 0x0020);
	eof(&k.b);
	assert_int_equal(read_stream(&k.b, "Workbook", 0, NULL, &g, err, sizeof(err)),
			 SHEET_UNREADABLE);
	assert_non_null(strstr(err, "no worksheet"));
	free(k.b.p);
}

/*
 * FORMAT records: the last record of a number wins, one may make a
 * built-in date number a plain one, and XFs whose number no record spells
 * out take the built-in meaning.
 */
static void test_format_records(void **state)
{
	static const struct {
		unsigned xf;
		const char *format;      /* NULL: not a date */
	} want[] = {
		{ 16, "hh:mm:ss\\ AM/PM" }, { 17, "m/d/yy" }, { 18, NULL }, { 19, "yyyy-mm-dd" },
		{ 20, NULL }, { 21, NULL }, { 22, "h:mm" }, { 23, NULL },
	};
	struct book k;
	size_t at, i;
	struct sheet_grid g;
	char err[512];

	(void)state;
	book_begin(&k, 8);              /* XFs 16, 17, 18: 164 (a time), 14, 2 */
	format8(&k.b, 165, "0.00");
	format8(&k.b, 166, "yyyy");
	format8(&k.b, 165, "yyyy-mm-dd"); /* the last of 165 wins: a date */
	format8(&k.b, 166, "0");         /* the last of 166 wins: not a date */
	format8(&k.b, 15, "0.0");        /* built-in d-mmm-yy spelled as a number */
	format8(&k.b, 300, "yyyy");      /* no XF uses it */
	xf(&k.b, 165);                   /* XF 19 */
	xf(&k.b, 166);                   /* XF 20 */
	xf(&k.b, 15);                    /* XF 21 */
	xf(&k.b, 20);                    /* XF 22: built-in h:mm */
	xf(&k.b, 1);                     /* XF 23: built-in 0 */
	at = boundsheet(&k.b, 8, 0, 0, "Batch");
	eof(&k.b);
	patch_sheet(&k.b, at);
	bof(&k.b, 8, 0x0010);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		number(&k.b, 0, (unsigned)i, want[i].xf, 1.5);
	eof(&k.b);
	assert_int_equal(read_stream(&k.b, "Workbook", 0, NULL, &g, err, sizeof(err)), SHEET_OK);
	assert_int_equal(g.ncells, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < g.ncells; i++) {
		if (!want[i].format && g.cells[i].format)
			fail_msg("XF %u: want no format, got \"%s\"", want[i].xf, g.cells[i].format);
		if (want[i].format && (!g.cells[i].format || strcmp(g.cells[i].format, want[i].format)))
			fail_msg("XF %u: want \"%s\", got \"%s\"", want[i].xf, want[i].format,
				 g.cells[i].format ? g.cells[i].format : "(none)");
	}
	sheet_grid_free(&g);
	free(k.b.p);
}

/*
 * Shared strings broken across CONTINUE records (one-byte chars going on
 * as UTF-16, a surrogate pair split in two), a STRING record continued, an
 * embedded chart whose cells are not the sheet's, records out of order.
 */
static void test_continue_and_order(void **state)
{
	struct book k;
	struct blob d = { 0 };
	size_t at;
	struct sheet_grid g;
	char err[512];

	(void)state;
	book_begin(&k, 8);
	at = boundsheet(&k.b, 8, 0, 0, "S");
	/* SST: "abcdef" (abc | CONTINUE wide "def"), then U+1F363 split between records */
	put32(&d, 2);
	put32(&d, 2);
	put16(&d, 6);
	put8(&d, 0);
	put(&d, "abc", 3);
	rec(&k.b, 0x00FC, d.p, d.n);
	d.n = 0;
	put8(&d, 1);               /* option byte: the rest is UTF-16 */
	put16(&d, 'd');
	put16(&d, 'e');
	put16(&d, 'f');
	put16(&d, 2);              /* string 2: two UTF-16 units */
	put8(&d, 1);
	put16(&d, 0xD83C);
	rec(&k.b, 0x003C, d.p, d.n);
	d.n = 0;
	put8(&d, 1);
	put16(&d, 0xDF63);
	rec(&k.b, 0x003C, d.p, d.n);
	d.n = 0;
	eof(&k.b);
	patch_sheet(&k.b, at);
	bof(&k.b, 8, 0x0010);
	labelsst(&k.b, 2, 1, 1);
	labelsst(&k.b, 0, 3, 0);
	bof(&k.b, 8, 0x0020);      /* an embedded chart: its records are not cells */
	number(&k.b, 0, 0, 0, 99);
	eof(&k.b);
	number(&k.b, 0, 0, 0, 1);
	number(&k.b, 0, 0, 0, 2);  /* the same cell again: the later record wins */
	formula(&k.b, 1, 0, 0, 0, 0, 0);
	put16(&d, 4);
	put8(&d, 0);
	put(&d, "ab", 2);
	rec(&k.b, 0x0207, d.p, d.n);
	d.n = 0;
	put8(&d, 0);
	put(&d, "cd", 2);
	rec(&k.b, 0x003C, d.p, d.n);
	free(d.p);
	eof(&k.b);
	assert_int_equal(read_stream(&k.b, "Workbook", 0, NULL, &g, err, sizeof(err)), SHEET_OK);
	assert_sorted(&g);
	assert_int_equal(g.ncells, 4);
	assert_num(&g, 1, 1, 2);
	assert_text(&g, 1, 4, "abcdef");
	assert_text(&g, 2, 1, "abcd");
	assert_text(&g, 3, 2, "\xF0\x9F\x8D\xA3");
	sheet_grid_free(&g);
	free(k.b.p);
}

/* BIFF5: a "Book" stream, text in the workbook's code page. */
static void test_biff5_codepages(void **state)
{
	static const struct {
		unsigned cp;
		const char *bytes, *utf8;
		int warn;
	} cases[] = {
		{ 10000, "Cr\x8Fme br\x9El\x8E\x65", "Cr\xC3\xA8me br\xC3\xBBl\xC3\xA9\x65", 0 },
		{ 1252, "Cr\xE8me \x85", "Cr\xC3\xA8me \xE2\x80\xA6", 0 },
		{ 32769, "\x80", "\xE2\x82\xAC", 0 },
		{ 1253, "\xE1\xE2", "\xCE\xB1\xCE\xB2", 0 },
		{ 1252, "a\x81z", "a\xEF\xBF\xBDz", 0 },   /* undefined in 1252: U+FFFD */
		{ 4242, "Cr\xE8me", "Cr\xC3\xA8me", 1 },    /* unknown: 1252, with a warning */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct blob b = { 0 };
		unsigned char cp[2];
		size_t at;
		struct sheet_grid g;
		char err[512];

		bof(&b, 5, 0x0005);
		cp[0] = (unsigned char)cases[i].cp;
		cp[1] = (unsigned char)(cases[i].cp >> 8);
		rec(&b, 0x0042, cp, 2);
		at = boundsheet(&b, 5, 0, 0, cases[i].bytes);
		eof(&b);
		patch_sheet(&b, at);
		bof(&b, 5, 0x0010);
		label(&b, 5, 0, 0, cases[i].bytes);
		eof(&b);
		assert_int_equal(read_stream(&b, "Book", 0, NULL, &g, err, sizeof(err)), SHEET_OK);
		assert_text(&g, 1, 1, cases[i].utf8);
		assert_string_equal(g.sheet_name, cases[i].utf8);
		assert_int_equal(g.warnings.n, (size_t)cases[i].warn);
		if (cases[i].warn)
			assert_non_null(strstr(g.warnings.v[0].message, "4242"));
		sheet_grid_free(&g);
		free(b.p);
	}
}

/* Rows past max_rows are counted, not stored; blank rows do not count. */
static void test_rows_past_limit(void **state)
{
	struct book k;
	size_t at;
	struct sheet_limits lim;
	struct sheet_grid g;
	char err[512];
	unsigned r;
	static const char *const strs[] = { " " };

	(void)state;
	book_begin(&k, 8);
	at = boundsheet(&k.b, 8, 0, 0, "S");
	sst(&k.b, strs, 1);
	eof(&k.b);
	patch_sheet(&k.b, at);
	bof(&k.b, 8, 0x0010);
	for (r = 0; r < 10; r++) {
		if (r == 1 || r == 4)
			labelsst(&k.b, r, 0, 0);     /* white space only: a blank row */
		else
			number(&k.b, r, 0, 0, r);
	}
	eof(&k.b);
	sheet_limits_default(&lim);
	lim.max_rows = 3;
	assert_int_equal(read_stream(&k.b, "Workbook", 0, &lim, &g, err, sizeof(err)), SHEET_OK);
	/* non-blank rows 1, 3, 4 are the first three: stored up to row 4 */
	assert_int_equal(g.nrows, 8);
	assert_int_equal(g.ncells, 4);
	assert_num(&g, 4, 1, 3);
	assert_null(cell_at(&g, 6, 1));
	sheet_grid_free(&g);
	lim.max_rows = 0;
	assert_int_equal(read_stream(&k.b, "Workbook", 0, &lim, &g, err, sizeof(err)), SHEET_OK);
	assert_int_equal(g.nrows, 8);
	assert_int_equal(g.ncells, 0);
	sheet_grid_free(&g);
	free(k.b.p);
}

/*
 * The sheet of test_sst_rows_kept: shared strings "s0".."s39", " " (40)
 * and "" (41); row r (0-based, 20 rows) holds s(2r) and s(2r+1), except
 * row 2, which holds only " " (a blank row), and row 3, which also holds
 * "" (no cell); row 15 uses s0 again.  The rows go top down, or bottom up
 * (reversed).
 */
static void sst_rows_book(struct book *k, int reversed)
{
	char names[40][8];
	const char *strs[42];
	size_t at;
	unsigned j, r;

	for (j = 0; j < 40; j++) {
		snprintf(names[j], sizeof(names[j]), "s%u", j);
		strs[j] = names[j];
	}
	strs[40] = " ";
	strs[41] = "";
	book_begin(k, 8);
	at = boundsheet(&k->b, 8, 0, 0, "S");
	sst(&k->b, strs, 42);
	eof(&k->b);
	patch_sheet(&k->b, at);
	bof(&k->b, 8, 0x0010);
	for (j = 0; j < 20; j++) {
		r = reversed ? 19 - j : j;
		if (r == 2) {
			labelsst(&k->b, r, 0, 40);
			continue;
		}
		labelsst(&k->b, r, 0, r == 15 ? 0 : 2 * r);
		labelsst(&k->b, r, 1, 2 * r + 1);
		if (r == 3)
			labelsst(&k->b, r, 2, 41);
	}
	eof(&k->b);
}

/*
 * The shared strings of the rows kept are decoded again after the first
 * pass (only 2 bits a string are kept before): the same cells whether
 * pass 1 could note them (rows in order) or a walk of their own finds them
 * (rows out of order), the blank row among them kept, the rows past
 * max_rows counted only.
 */
static void test_sst_rows_kept(void **state)
{
	struct sheet_limits lim;
	int reversed;

	(void)state;
	sheet_limits_default(&lim);
	lim.max_rows = 6;
	for (reversed = 0; reversed < 2; reversed++) {
		struct book k;
		struct sheet_grid g;
		char err[512], want[8];
		unsigned r;

		sst_rows_book(&k, reversed);
		assert_int_equal(read_stream(&k.b, "Workbook", 0, &lim, &g, err, sizeof(err)),
				 SHEET_OK);
		assert_sorted(&g);
		/* non-blank rows 0, 1, 3, 4, 5, 6 are the first six: rows 1-7 stored */
		assert_int_equal(g.nrows, 19);
		assert_int_equal(g.ncells, 13);
		assert_text(&g, 3, 1, " ");
		assert_null(cell_at(&g, 3, 2));
		assert_null(cell_at(&g, 4, 3));
		for (r = 0; r < 7; r++) {
			if (r == 2)
				continue;
			snprintf(want, sizeof(want), "s%u", 2 * r);
			assert_text(&g, r + 1, 1, want);
			snprintf(want, sizeof(want), "s%u", 2 * r + 1);
			assert_text(&g, r + 1, 2, want);
		}
		assert_null(cell_at(&g, 8, 1));
		sheet_grid_free(&g);
		free(k.b.p);
	}
}

/* max_cols, max_cells and max_cell_bytes refuse the file, naming the cell. */
static void test_limits(void **state)
{
	struct book k;
	size_t at;
	struct sheet_limits lim;
	struct sheet_grid g;
	char err[512];
	char *big = malloc(40001);
	const char *strs[2];

	(void)state;
	assert_non_null(big);
	memset(big, 'x', 40000);
	big[40000] = '\0';
	strs[0] = "ok";
	strs[1] = big;
	book_begin(&k, 8);
	at = boundsheet(&k.b, 8, 0, 0, "S");
	sst(&k.b, strs, 2);
	eof(&k.b);
	patch_sheet(&k.b, at);
	bof(&k.b, 8, 0x0010);
	labelsst(&k.b, 0, 0, 0);
	labelsst(&k.b, 0, 1, 0);
	labelsst(&k.b, 0, 4, 0);
	labelsst(&k.b, 1, 0, 1);
	eof(&k.b);

	sheet_limits_default(&lim);
	lim.max_cols = 3;
	assert_int_equal(read_stream(&k.b, "Workbook", 0, &lim, &g, err, sizeof(err)),
			 SHEET_UNREADABLE);
	assert_non_null(strstr(err, "E1"));
	assert_non_null(strstr(err, "3 columns"));
	assert_int_equal(g.ncells, 0);
	sheet_limits_default(&lim);
	lim.max_cells = 2;
	assert_int_equal(read_stream(&k.b, "Workbook", 0, &lim, &g, err, sizeof(err)),
			 SHEET_UNREADABLE);
	assert_non_null(strstr(err, "more than 2 non-blank cells"));
	sheet_limits_default(&lim);
	assert_int_equal(read_stream(&k.b, "Workbook", 0, &lim, &g, err, sizeof(err)),
			 SHEET_UNREADABLE);
	assert_non_null(strstr(err, "A2"));
	assert_non_null(strstr(err, "40000 bytes"));
	/* the long string lies past max_rows: only counted, so no error */
	lim.max_rows = 1;
	assert_int_equal(read_stream(&k.b, "Workbook", 0, &lim, &g, err, sizeof(err)), SHEET_OK);
	assert_int_equal(g.nrows, 2);
	assert_int_equal(g.ncells, 3);
	sheet_grid_free(&g);
	free(k.b.p);
	free(big);
}

/* Password-protected (FILEPASS), old BIFF, damaged containers: clear errors. */
static void test_refused(void **state)
{
	struct blob b = { 0 };
	struct sheet_grid g;
	char err[512];
	unsigned char junk[2048];
	size_t len, at;
	unsigned char *f;

	(void)state;
	bof(&b, 8, 0x0005);
	rec(&b, 0x002F, "\x01\x00\x01\x00", 4);
	eof(&b);
	assert_int_equal(read_stream(&b, "Workbook", 0, NULL, &g, err, sizeof(err)),
			 SHEET_UNREADABLE);
	assert_non_null(strstr(err, "password-protected"));
	b.n = 0;
	rec(&b, 0x0409, "\x00\x00\x10\x00", 4);   /* BIFF4 BOF */
	eof(&b);
	assert_int_equal(read_stream(&b, "Workbook", 0, NULL, &g, err, sizeof(err)),
			 SHEET_UNREADABLE);
	assert_non_null(strstr(err, "Excel 4.0"));
	b.n = 0;
	put(&b, "garbage", 7);
	assert_int_equal(read_stream(&b, "Workbook", 0, NULL, &g, err, sizeof(err)),
			 SHEET_UNREADABLE);
	assert_non_null(strstr(err, "damaged"));
	assert_int_equal(read_stream(&b, "WordDocument", 0, NULL, &g, err, sizeof(err)),
			 SHEET_UNREADABLE);
	assert_non_null(strstr(err, "no workbook"));
	assert_int_equal(read_xls((const unsigned char *)"\xD0\xCF\x11\xE0", 4, NULL, &g, err,
				  sizeof(err)), SHEET_UNREADABLE);
	assert_int_equal(read_xls(NULL, 0, NULL, &g, err, sizeof(err)), SHEET_UNREADABLE);
	memset(junk, 0xFF, sizeof(junk));
	memcpy(junk, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8);
	junk[30] = 9;
	junk[32] = 6;
	assert_int_equal(read_xls(junk, sizeof(junk), NULL, &g, err, sizeof(err)),
			 SHEET_UNREADABLE);
	assert_non_null(strstr(err, "damaged"));

	/* a LABELSST pointing past the SST; a sheet offset past the stream */
	b.n = 0;
	bof(&b, 8, 0x0005);
	at = boundsheet(&b, 8, 0, 0, "S");
	eof(&b);
	patch_sheet(&b, at);
	bof(&b, 8, 0x0010);
	labelsst(&b, 0, 0, 7);
	eof(&b);
	assert_int_equal(read_stream(&b, "Workbook", 0, NULL, &g, err, sizeof(err)),
			 SHEET_UNREADABLE);
	assert_non_null(strstr(err, "A1 refers to shared string 7"));
	set32(b.p + at, 0x7FFFFFF0u);
	assert_int_equal(read_stream(&b, "Workbook", 0, NULL, &g, err, sizeof(err)),
			 SHEET_UNREADABLE);
	assert_non_null(strstr(err, "damaged"));

	/* the stream's last sector chained back to its first: a loop */
	set32(b.p + at, 0);
	while (b.n < 3000)
		rec(&b, 0x0001, NULL, 0);
	f = cfb(b.p, b.n, "Workbook", 0, &len);
	set32(f + 512 + 4 * (len / 512 - 2), 2);   /* FAT entry of the last sector -> first */
	set32(f + 512 + 512 + 128 + 120, 1u << 30); /* and a size that asks for more */
	assert_int_equal(read_xls(f, len, NULL, &g, err, sizeof(err)), SHEET_UNREADABLE);
	assert_non_null(strstr(err, "loops"));
	free(f);
	free(b.p);
}

/*
 * Hostile sizes: DIMENSIONS claiming 65536 x 256 with one cell; an SST
 * claiming 4 billion strings; 65536 rows all pointing at one 30,000-byte
 * string.  Each read is bounded in time and memory.
 */
static void test_hostile(void **state)
{
	struct book k;
	size_t at;
	struct sheet_grid g;
	char err[512];
	struct blob d = { 0 };
	char *big = malloc(30001);
	unsigned r;
	double t;

	(void)state;
	assert_non_null(big);
	book_begin(&k, 8);
	at = boundsheet(&k.b, 8, 0, 0, "S");
	put32(&d, 0xFFFFFFFFu);
	put32(&d, 0xFFFFFFFFu);
	put16(&d, 1);
	put8(&d, 0);
	put8(&d, 'x');
	rec(&k.b, 0x00FC, d.p, d.n);
	free(d.p);
	eof(&k.b);
	patch_sheet(&k.b, at);
	bof(&k.b, 8, 0x0010);
	dimensions(&k.b, 65536, 256);
	labelsst(&k.b, 65535, 255, 0);
	eof(&k.b);
	t = now();
	assert_int_equal(read_stream(&k.b, "Workbook", 0, NULL, &g, err, sizeof(err)), SHEET_OK);
	assert_true(now() - t < 2.0);
	assert_int_equal(g.ncells, 1);
	assert_text(&g, 65536, 256, "x");
	sheet_grid_free(&g);
	free(k.b.p);

	/* 500 FORMAT records of 8,000 characters and 60,000 XFs using them */
	book_begin(&k, 8);
	memset(big, 'y', 8000);
	big[8000] = '\0';
	for (r = 0; r < 500; r++)
		format8(&k.b, 200 + r, big);
	for (r = 0; r < 60000; r++)
		xf(&k.b, 200 + r % 500);
	at = boundsheet(&k.b, 8, 0, 0, "S");
	eof(&k.b);
	patch_sheet(&k.b, at);
	bof(&k.b, 8, 0x0010);
	number(&k.b, 0, 0, 59999, 1.5);
	eof(&k.b);
	t = now();
	assert_int_equal(read_stream(&k.b, "Workbook", 0, NULL, &g, err, sizeof(err)), SHEET_OK);
	assert_true(now() - t < 5.0);
	assert_int_equal(strlen(cell_at(&g, 1, 1)->format), 8000);
	sheet_grid_free(&g);
	free(k.b.p);

	memset(big, 'y', 30000);
	big[30000] = '\0';
	book_begin(&k, 8);
	at = boundsheet(&k.b, 8, 0, 0, "S");
	/* a record holds at most 8224 bytes: the string goes on in CONTINUE records */
	d.p = NULL;
	d.n = d.cap = 0;
	put32(&d, 1);
	put32(&d, 1);
	put16(&d, 30000);
	put8(&d, 0);
	put(&d, big, 8000);
	rec(&k.b, 0x00FC, d.p, d.n);
	for (r = 8000; r < 30000; r += 8000) {
		d.n = 0;
		put8(&d, 0);
		put(&d, big, 30000 - r < 8000 ? 30000 - r : 8000);
		rec(&k.b, 0x003C, d.p, d.n);
	}
	free(d.p);
	eof(&k.b);
	patch_sheet(&k.b, at);
	bof(&k.b, 8, 0x0010);
	for (r = 0; r < 65536; r++)
		labelsst(&k.b, r, 0, 0);
	eof(&k.b);
	t = now();
	assert_int_equal(read_stream(&k.b, "Workbook", 0, NULL, &g, err, sizeof(err)), SHEET_OK);
	assert_true(now() - t < 10.0);
	assert_int_equal(g.nrows, 65536);
	assert_int_equal(g.ncells, 1000);
	assert_int_equal(strlen(g.cells[999].text), 30000);
	sheet_grid_free(&g);
	/* three more such cells a row: 120 MB of text in 1000 rows, past the budget */
	k.b.n -= 4;                /* before the sheet's EOF */
	for (r = 0; r < 3000; r++)
		labelsst(&k.b, r / 3, 1 + r % 3, 0);
	eof(&k.b);
	t = now();
	assert_int_equal(read_stream(&k.b, "Workbook", 0, NULL, &g, err, sizeof(err)),
			 SHEET_UNREADABLE);
	assert_true(now() - t < 10.0);
	assert_non_null(strstr(err, "MiB of text"));
	free(k.b.p);
	free(big);
}

/* ---- the corpus ---------------------------------------------------------------- */

static int exists(const char *path)
{
	struct stat st;

	return !stat(path, &st);
}

/*
 * Reads corpus file (with sheet_read_xls()) and compares its grid cell by
 * cell with the oracle: the same cells, text and booleans and errors
 * exactly, numbers to a relative 1e-9, and where the oracle lists a format,
 * the same format.  Returns the number of cells compared.
 */
static size_t compare_with_oracle(const char *file, const char *oracle)
{
	char path[512], err[512];
	unsigned char *buf;
	size_t len, n;
	struct sheet_grid g;

	snprintf(path, sizeof(path), CORPUS "/%s", file);
	buf = slurp(path, &len);
	if (!buf)
		fail_msg("cannot read %s", path);
	if (sheet_read_xls(buf, len, NULL, &g, err, sizeof(err)) != SHEET_OK)
		fail_msg("%s: %s", file, err);
	assert_sorted(&g);
	n = oracle_compare(&g, file, oracle, ORACLE_NROWS);
	free(buf);
	sheet_grid_free(&g);
	printf("  %s: %zu cells match the oracle\n", file, n);
	return n;
}

/* Every .xls of sheetjs/MANIFEST.tsv, by its expectation. */
static void test_corpus_sheetjs(void **state)
{
	unsigned char *buf;
	size_t len, compared = 0, refused = 0, tolerated = 0;
	char *line, *save = NULL;

	(void)state;
	if (!corpus_present()) {
		printf("test_corpus_sheetjs: skipped, no %s\n", CORPUS);
		skip();
	}
	buf = slurp(CORPUS "/sheetjs/MANIFEST.tsv", &len);
	assert_non_null(buf);
	buf[len] = '\0';
	for (line = strtok_r((char *)buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char file[256], oracle[300], path[400], *f[5], *p = line;
		int k;

		for (k = 0; k < 5; k++) {
			f[k] = p;
			p = strchr(p, '\t');
			if (!p)
				break;
			*p++ = '\0';
		}
		if (k < 4 || strncmp(f[1], "xls ", 4))
			continue;
		snprintf(file, sizeof(file), "sheetjs/%s", f[0]);
		snprintf(oracle, sizeof(oracle), "sheetjs/oracle/%s.jsonl", f[0]);
		snprintf(path, sizeof(path), CORPUS "/%s", oracle);
		if (!strncmp(f[4], "clear error: encrypted", 22)) {
			struct sheet_grid g;
			char err[512];
			unsigned char *x;
			size_t xl;

			snprintf(path, sizeof(path), CORPUS "/%s", file);
			x = slurp(path, &xl);
			assert_non_null(x);
			assert_int_equal(sheet_read_xls(x, xl, NULL, &g, err, sizeof(err)),
					 SHEET_UNREADABLE);
			if (!strstr(err, "password-protected"))
				fail_msg("%s: %s", file, err);
			assert_int_equal(sheet_read(x, xl, NULL, &g, err, sizeof(err)),
					 SHEET_UNREADABLE);
			assert_non_null(strstr(err, "password-protected"));
			free(x);
			refused++;
		}
		else if (!exists(path)) {
			/* "read or clear error; never crash (no oracle)": either, with a message */
			struct sheet_grid g;
			char err[512];
			unsigned char *x;
			size_t xl;
			enum sheet_status st;

			snprintf(path, sizeof(path), CORPUS "/%s", file);
			x = slurp(path, &xl);
			assert_non_null(x);
			st = sheet_read_xls(x, xl, NULL, &g, err, sizeof(err));
			assert_true(st == SHEET_OK || (st == SHEET_UNREADABLE && err[0]));
			printf("  %s: %s\n", file, st == SHEET_OK ? "read" : err);
			if (st == SHEET_OK)
				sheet_grid_free(&g);
			free(x);
			tolerated++;
		}
		else {
			compare_with_oracle(file, oracle);
			compared++;
		}
	}
	free(buf);
	assert_int_equal(compared, 16);
	assert_int_equal(refused, 3);
	assert_int_equal(tolerated, 1);
}

/* The stickers batch files: their oracles, then validated end to end. */
static void test_corpus_batches(void **state)
{
	static const struct {
		const char *name;
		size_t warnings;
	} files[] = {
		{ "stickers-text.xls", 0 }, { "stickers-default.xls", 0 },
		{ "stickers-times.xls", 11 },
	};
	size_t i;

	(void)state;
	if (!corpus_present()) {
		printf("test_corpus_batches: skipped, no %s\n", CORPUS);
		skip();
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char file[128], oracle[160], path[200], err[512];
		struct sheet_grid g;
		struct sheet_batch b;
		const struct sheet_fields *f;
		unsigned char *buf;
		size_t len, k;
		int n;

		snprintf(file, sizeof(file), "batches/%s", files[i].name);
		snprintf(oracle, sizeof(oracle), "batches/oracle/%s.jsonl", files[i].name);
		assert_true(compare_with_oracle(file, oracle) > 100);

		snprintf(path, sizeof(path), CORPUS "/%s", file);
		buf = slurp(path, &len);
		assert_non_null(buf);
		if (sheet_read_xls(buf, len, NULL, &g, err, sizeof(err)) != SHEET_OK)
			fail_msg("%s: %s", file, err);
		assert_string_equal(g.sheet_name, "stickers");
		n = sheet_validate(&g, NULL, &b);
		if (n)
			fail_msg("%s: %s", file, b.errors.v[0].message);
		assert_int_equal(b.nrows, 12);
		assert_int_equal(b.images_total, 48);
		if (b.warnings.n != files[i].warnings)
			fail_msg("%s: %zu warnings", file, b.warnings.n);
		for (k = 0; k < b.nrows; k++) {
			f = &b.rows[k].f;
			switch (b.rows[k].row) {
			case 2:
				assert_string_equal(f->aspect_ratio, "1:1");
				assert_string_equal(f->model, "2.0");
				assert_int_equal(f->seed, 12345);
				assert_string_equal(f->color_palette, "#CBA324 #F86C14 #C71E71");
				break;
			case 3:
				assert_string_equal(f->aspect_ratio, "2:3");
				assert_int_equal(f->seed, -1);
				break;
			case 4:
				assert_string_equal(f->aspect_ratio, "16:9");
				assert_string_equal(f->model, "1.0");
				break;
			case 5:
				/* LibreOffice's default CSV import read the UTF-8 as Latin-1:
				   stickers-default.xls holds "CrÃ¨me" (its oracle agrees) */
				if (strcmp(files[i].name, "stickers-default.xls"))
					assert_string_equal(f->prompt, "Cr\xC3\xA8me br\xC3\xBBl"
							    "\xC3\xA9\x65 Christmas pudding with "
							    "a holly sprig, flat vector sticker");
				else
					assert_true(!strncmp(f->prompt, "Cr\xC3\x83\xC2\xA8me", 8));
				assert_string_equal(f->aspect_ratio, "3:4");
				assert_int_equal(f->seed, 42);
				break;
			case 6:
				assert_string_equal(f->aspect_ratio, "16:9");
				assert_string_equal(f->model, "0.2");
				assert_int_equal(f->seed, 2147483647);
				break;
			case 7:
				assert_string_equal(f->aspect_ratio, "1:1");
				break;
			case 13:
				assert_int_equal(f->seed, 0);
				break;
			default:
				break;
			}
		}
		if (files[i].warnings) {
			int c2 = 0, c4 = 0;

			for (k = 0; k < b.warnings.n; k++) {
				const struct sheet_msg *m = &b.warnings.v[k];

				if (m->cell && !strcmp(m->cell, "C2"))
					c2 = !strcmp(m->message, "C2 aspect_ratio was stored as the "
						     "time 01:01 by the spreadsheet; read as 1:1 "
						     "\xE2\x80\x94 format the column as text to "
						     "avoid this");
				if (m->cell && !strcmp(m->cell, "C4"))
					c4 = strstr(m->message, "time 16:09") &&
					     strstr(m->message, "read as 16:9");
				assert_true(!m->cell || strcmp(m->cell, "C7"));
			}
			assert_true(c2 && c4);
		}
		sheet_batch_free(&b);
		sheet_grid_free(&g);
		free(buf);
	}
}

/* The encrypted batch: "password-protected", through the reader and through sheet_read(). */
static void test_corpus_encrypted(void **state)
{
	struct sheet_grid g;
	char err[512];
	unsigned char *buf;
	size_t len;

	(void)state;
	if (!corpus_present()) {
		printf("test_corpus_encrypted: skipped, no %s\n", CORPUS);
		skip();
	}
	buf = slurp(CORPUS "/batches/stickers-encrypted.xls", &len);
	assert_non_null(buf);
	assert_int_equal(sheet_read_xls(buf, len, NULL, &g, err, sizeof(err)), SHEET_UNREADABLE);
	assert_non_null(strstr(err, "password-protected"));
	assert_int_equal(sheet_read(buf, len, NULL, &g, err, sizeof(err)), SHEET_UNREADABLE);
	assert_non_null(strstr(err, "password-protected"));
	free(buf);
}

/*
 * Every .xls of the corpus cut short at many lengths and with bytes
 * flipped: a clear answer each time, never a crash (ASan and UBSan watch).
 */
static void test_corpus_mangled(void **state)
{
	static const char *const files[] = {
		"sheetjs/write.xls", "sheetjs/biff5/write.xls", "sheetjs/crlf/crlf.xls",
		"sheetjs/phpexcel_bad_cfb_dir.xls", "batches/stickers-times.xls",
	};
	size_t i;

	(void)state;
	if (!corpus_present()) {
		printf("test_corpus_mangled: skipped, no %s\n", CORPUS);
		skip();
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[256], err[512];
		unsigned char *buf, *m;
		size_t len, cut, k;
		uint32_t seed = 12345;

		snprintf(path, sizeof(path), CORPUS "/%s", files[i]);
		buf = slurp(path, &len);
		assert_non_null(buf);
		m = malloc(len);
		assert_non_null(m);
		for (cut = 0; cut < len; cut += len / 97 + 1) {
			struct sheet_grid g;
			enum sheet_status st = sheet_read_xls(buf, cut, NULL, &g, err, sizeof(err));

			assert_true(st == SHEET_OK || (st == SHEET_UNREADABLE && err[0]));
			if (st == SHEET_OK)
				sheet_grid_free(&g);
		}
		for (k = 0; k < 300; k++) {
			struct sheet_grid g;
			enum sheet_status st;
			unsigned j;

			memcpy(m, buf, len);
			for (j = 0; j < 8; j++) {
				seed = seed * 1103515245u + 12345u;
				m[(seed >> 4) % len] ^= (unsigned char)(seed >> 20 | 1);
			}
			st = sheet_read_xls(m, len, NULL, &g, err, sizeof(err));
			assert_true(st == SHEET_OK || (st == SHEET_UNREADABLE && err[0]));
			if (st == SHEET_OK)
				sheet_grid_free(&g);
		}
		free(m);
		free(buf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cells),
		cmocka_unit_test(test_hidden_first),
		cmocka_unit_test(test_continue_and_order),
		cmocka_unit_test(test_format_records),
		cmocka_unit_test(test_biff5_codepages),
		cmocka_unit_test(test_rows_past_limit),
		cmocka_unit_test(test_sst_rows_kept),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_corpus_sheetjs),
		cmocka_unit_test(test_corpus_batches),
		cmocka_unit_test(test_corpus_encrypted),
		cmocka_unit_test(test_corpus_mangled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
