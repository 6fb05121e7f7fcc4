/*
 * xlsxdiff.h — reads one .xlsx through both XML paths of sheet/xlsx.c (the
 * fast scanner with its fallback, and expat alone) and says whether they
 * agree, for the differential fuzzer (fuzz_xlsx_diff.c) and the corpus
 * test of tests/unit/test_xlsx.c.
 *
 * DESIGN
 * Agreement is everything a caller can see: the status, the error message,
 * and on success the grid (every cell's position, type, number bit for
 * bit, text and format; the row count; the sheet's name; the warnings).
 * Static functions only: each includer is its own program.
 */
#ifndef KILN_XLSXDIFF_H
#define KILN_XLSXDIFF_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sheet/sheet.h"

/* Are strings a and b (either may be NULL) the same? */
static int xlsxdiff_same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/*
 * Reads buf with lim through both paths.  Returns 0 when they agree (and
 * sets *fast_parts to the parts the fast scanner read, when not NULL), or
 * 1 with what differs written to why.
 */
static int xlsxdiff(const uint8_t *buf, size_t len, const struct sheet_limits *lim,
		    unsigned *fast_parts, char *why, size_t whylen)
{
	struct sheet_limits la = *lim, le = *lim;
	struct sheet_grid ga, ge;
	char erra[1024], erre[1024];
	enum sheet_status sa, se;
	size_t i;
	int diff = 0;

	la.xml_path = SHEET_XML_AUTO;
	le.xml_path = SHEET_XML_EXPAT;
	sa = sheet_read_xlsx(buf, len, &la, &ga, erra, sizeof(erra));
	se = sheet_read_xlsx(buf, len, &le, &ge, erre, sizeof(erre));
	if (fast_parts)
		*fast_parts = ga.xml_fast_parts;
	if (sa != se || strcmp(erra, erre)) {
		snprintf(why, whylen, "status %d \"%.400s\" (fast) vs %d \"%.400s\" (expat)", sa, erra,
			 se, erre);
		diff = 1;
	}
	else if (ga.ncells != ge.ncells || ga.nrows != ge.nrows ||
		 !xlsxdiff_same(ga.sheet_name, ge.sheet_name) || ga.warnings.n != ge.warnings.n) {
		snprintf(why, whylen, "%zu cells, %u rows, %zu warnings (fast) vs %zu, %u, %zu (expat)",
			 ga.ncells, ga.nrows, ga.warnings.n, ge.ncells, ge.nrows, ge.warnings.n);
		diff = 1;
	}
	for (i = 0; !diff && i < ga.ncells; i++) {
		const struct sheet_cell *a = &ga.cells[i], *e = &ge.cells[i];

		if (a->row != e->row || a->col != e->col || a->type != e->type ||
		    memcmp(&a->number, &e->number, sizeof(a->number)) ||
		    !xlsxdiff_same(a->text, e->text) || !xlsxdiff_same(a->format, e->format)) {
			snprintf(why, whylen, "cell %zu: (%u,%u) type %d \"%.200s\" %.17g (fast) vs "
				 "(%u,%u) type %d \"%.200s\" %.17g (expat)", i, a->row, a->col, a->type,
				 a->text ? a->text : "", a->number, e->row, e->col, e->type,
				 e->text ? e->text : "", e->number);
			diff = 1;
		}
	}
	for (i = 0; !diff && i < ga.warnings.n; i++)
		if (strcmp(ga.warnings.v[i].message, ge.warnings.v[i].message)) {
			snprintf(why, whylen, "warning %zu: \"%.200s\" vs \"%.200s\"", i,
				 ga.warnings.v[i].message, ge.warnings.v[i].message);
			diff = 1;
		}
	sheet_grid_free(&ga);
	sheet_grid_free(&ge);
	return diff;
}

#endif
