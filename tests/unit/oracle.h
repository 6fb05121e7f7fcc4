/*
 * oracle.h — what the reader tests (test_sheet.c, test_xls.c, test_xlsx.c,
 * test_ods.c, test_fuzz_regressions.c) share about files and the corpus:
 * reading a whole file, whether ../shared/corpus is there, and comparing a
 * grid with an oracle of ../shared/corpus, cell by cell; also checking
 * that the files a reader must refuse are refused with their reason.
 *
 * DESIGN
 * An oracle is JSON lines ({"row", "cells": {"A": value}, "formats"}) as
 * other readers read the file's first sheet, plain or gzipped (zlib's gz
 * functions read both).  oracle_compare() walks the oracle's cells in
 * row-major order beside the grid's: the same cells, text, booleans and
 * error codes exactly, numbers to a relative 1e-9, and the same number
 * format where the oracle names one.  Included after cmocka.h; every
 * function is static and marked unused, as each test uses some of them.
 */
#ifndef KILN_TESTS_ORACLE_H
#define KILN_TESTS_ORACLE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <zlib.h>

#include "sheet/sheet.h"

#ifndef CORPUS
#define CORPUS "../shared/corpus"
#endif

#define ORACLE_FN static __attribute__((unused))

/* Reads a whole file, NUL-terminated; NULL when it cannot. */
ORACLE_FN unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long n;

	if (!f)
		return NULL;
	n = fseek(f, 0, SEEK_END) ? -1 : ftell(f);
	if (n < 0 || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		return NULL;
	}
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf) {
		buf[n] = '\0';
		*len = (size_t)n;
	}
	return buf;
}

/* Is ../shared/corpus there (its manifest and its batches)? */
ORACLE_FN int corpus_present(void)
{
	struct stat st;

	return !stat(CORPUS "/sheetjs/MANIFEST.tsv", &st) && S_ISREG(st.st_mode) &&
	       !stat(CORPUS "/batches", &st) && S_ISDIR(st.st_mode);
}

/* "AA" -> 27 (the letters of a cell reference; what follows them is ignored). */
ORACLE_FN unsigned col_of(const char *letters)
{
	unsigned c = 0;

	for (; *letters >= 'A' && *letters <= 'Z'; letters++)
		c = c * 26 + (unsigned)(*letters - 'A' + 1);
	return c;
}

/* An oracle's lines: from a .jsonl, or a .jsonl.gz read a line at a time. */
struct oracle {
	gzFile gz;               /* reads both: zlib passes plain files through */
	char *line;
	size_t cap;
};

ORACLE_FN int oracle_open(struct oracle *o, const char *path)
{
	memset(o, 0, sizeof(*o));
	o->gz = gzopen(path, "rb");
	if (!o->gz)
		return -1;
	o->cap = 4 << 20;                           /* the longest line is about 200 KB */
	o->line = malloc(o->cap);
	assert_non_null(o->line);
	return 0;
}

/* The next line (without its newline), or NULL at the end. */
ORACLE_FN const char *oracle_next(struct oracle *o)
{
	size_t n;

	if (!gzgets(o->gz, o->line, (int)o->cap))
		return NULL;
	n = strlen(o->line);
	if (n + 1 >= o->cap)
		fail_msg("an oracle line is longer than %zu bytes", o->cap);
	while (n && (o->line[n - 1] == '\n' || o->line[n - 1] == '\r'))
		o->line[--n] = '\0';
	return o->line;
}

ORACLE_FN void oracle_close(struct oracle *o)
{
	gzclose(o->gz);
	free(o->line);
}

ORACLE_FN int oracle_cmp_item_col(const void *a, const void *b)
{
	unsigned x = col_of((*(cJSON *const *)a)->string), y = col_of((*(cJSON *const *)b)->string);

	return x < y ? -1 : x > y;
}

/* Is an oracle value blank for kiln (white-space-only text)? */
ORACLE_FN int oracle_blank(const cJSON *v)
{
	struct sheet_cell c = { .type = SHEET_CELL_TEXT };

	if (!cJSON_IsString(v))
		return 0;
	c.text = v->valuestring;
	return sheet_cell_blank(&c);
}

/* Compares one grid cell with one oracle value; fails with file and cell named. */
ORACLE_FN void oracle_compare_cell(const char *file, const struct sheet_cell *c, const cJSON *v,
				   const cJSON *formats)
{
	char ref[16];
	const cJSON *f = formats ? cJSON_GetObjectItemCaseSensitive(formats, v->string) : NULL;

	sheet_cell_ref(c->row, c->col, ref, sizeof(ref));
	if (cJSON_IsString(v)) {
		if (c->type != SHEET_CELL_TEXT || strcmp(c->text, v->valuestring))
			fail_msg("%s %s: read type %d \"%s\" %.17g, the oracle says \"%s\"", file, ref,
				 c->type, c->text ? c->text : "", c->number, v->valuestring);
	}
	else if (cJSON_IsBool(v)) {
		if (c->type != SHEET_CELL_BOOL || (c->number != 0) != cJSON_IsTrue(v))
			fail_msg("%s %s: read type %d, the oracle says %s", file, ref, c->type,
				 cJSON_IsTrue(v) ? "true" : "false");
	}
	else if (cJSON_IsNumber(v)) {
		double a = c->number, b = v->valuedouble;

		if (c->type != SHEET_CELL_NUMBER || fabs(a - b) > 1e-9 * fmax(fabs(a), fabs(b)))
			fail_msg("%s %s: read type %d %.17g \"%s\", the oracle says %.17g", file, ref,
				 c->type, a, c->text ? c->text : "", b);
	}
	else {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(v, "error");

		assert_true(cJSON_IsString(e));
		if (c->type != SHEET_CELL_ERROR || strcmp(c->text, e->valuestring))
			fail_msg("%s %s: read type %d \"%s\", the oracle says error %s", file, ref,
				 c->type, c->text ? c->text : "", e->valuestring);
	}
	if (cJSON_IsString(f) && (!c->format || strcmp(c->format, f->valuestring)))
		fail_msg("%s %s: format \"%s\", the oracle says \"%s\"", file, ref,
			 c->format ? c->format : "(none)", f->valuestring);
}

/* oracle_compare()'s flags. */
#define ORACLE_PREFIX 1          /* only the oracle's rows up to the grid's last (the rest counted) */
#define ORACLE_NROWS 2           /* grid->nrows must be the oracle's non-blank rows */

/*
 * Compares grid g, read from file, with oracle (a path relative to the
 * corpus) cell by cell (see DESIGN), with flags ORACLE_*.  Returns the
 * number of cells compared.
 */
ORACLE_FN size_t oracle_compare(const struct sheet_grid *g, const char *file, const char *oracle,
				int flags)
{
	char path[512];
	size_t gi = 0, compared = 0;
	unsigned oracle_rows = 0, last_row = g->ncells ? g->cells[g->ncells - 1].row : 0;
	struct oracle o;
	const char *line;

	snprintf(path, sizeof(path), CORPUS "/%s", oracle);
	if (oracle_open(&o, path))
		fail_msg("cannot read %s", path);
	while ((line = oracle_next(&o))) {
		cJSON *doc = cJSON_Parse(line), *row, *cells, *formats, *c, **items;
		size_t n = 0, k;
		int ink = 0;

		if (!doc)
			fail_msg("%s: bad JSON line", oracle);
		row = cJSON_GetObjectItemCaseSensitive(doc, "row");
		cells = cJSON_GetObjectItemCaseSensitive(doc, "cells");
		formats = cJSON_GetObjectItemCaseSensitive(doc, "formats");
		assert_true(cJSON_IsNumber(row) && cJSON_IsObject(cells));
		cJSON_ArrayForEach(c, cells) {
			n++;
			ink |= !oracle_blank(c);
		}
		oracle_rows += ink;
		if ((flags & ORACLE_PREFIX) && (unsigned)row->valueint > last_row) {
			cJSON_Delete(doc);
			continue;
		}
		items = malloc((n ? n : 1) * sizeof(*items));
		assert_non_null(items);
		n = 0;
		cJSON_ArrayForEach(c, cells)
			items[n++] = c;
		qsort(items, n, sizeof(*items), oracle_cmp_item_col);
		for (k = 0; k < n; k++, gi++) {
			const struct sheet_cell *gc = gi < g->ncells ? &g->cells[gi] : NULL;
			unsigned col = col_of(items[k]->string);

			if (!gc || gc->row != (unsigned)row->valueint || gc->col != col)
				fail_msg("%s: the oracle has %s%d, the reader's next cell is (%u,%u)",
					 file, items[k]->string, row->valueint,
					 gc ? gc->row : 0, gc ? gc->col : 0);
			oracle_compare_cell(file, gc, items[k], formats);
			compared++;
		}
		free(items);
		cJSON_Delete(doc);
	}
	oracle_close(&o);
	if (gi != g->ncells)
		fail_msg("%s: the reader has %zu cells more than the oracle, first (%u,%u)", file,
			 g->ncells - gi, g->cells[gi].row, g->cells[gi].col);
	if ((flags & ORACLE_NROWS) && g->nrows != oracle_rows)
		fail_msg("%s: %u non-blank rows read, the oracle has %u", file, g->nrows, oracle_rows);
	return compared;
}

/* A file a reader must refuse: its path in the corpus, the status, words of the message. */
struct oracle_refusal {
	const char *file;
	enum sheet_status st;
	const char *says;
};

/* A reader with sheet_read()'s signature. */
typedef enum sheet_status (*oracle_reader)(const unsigned char *buf, size_t len,
					   const struct sheet_limits *lim,
					   struct sheet_grid *grid, char *err, size_t errlen);

/* Each of files[0..n) read with read must be refused as it says, leaving an empty grid. */
ORACLE_FN void oracle_refused(const struct oracle_refusal *files, size_t n, oracle_reader read)
{
	struct sheet_grid g;
	char path[256], err[1024];
	unsigned char *buf;
	size_t i, len;

	for (i = 0; i < n; i++) {
		enum sheet_status st;

		snprintf(path, sizeof(path), CORPUS "/%s", files[i].file);
		buf = slurp(path, &len);
		assert_non_null(buf);
		st = read(buf, len, NULL, &g, err, sizeof(err));
		if (st != files[i].st || !strstr(err, files[i].says))
			fail_msg("%s: %d \"%s\"", files[i].file, st, err);
		assert_int_equal(g.ncells, 0);
		sheet_grid_free(&g);
		free(buf);
	}
}

#endif
