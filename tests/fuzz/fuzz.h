/*
 * fuzz.h — what the four libFuzzer harnesses (fuzz_csv.c, fuzz_xls.c,
 * fuzz_xlsx.c, fuzz_ods.c) share: one input through one reader, then
 * through sheet_validate(), with the grid's contract checked in between.
 *
 * DESIGN
 * Each harness hands its reader to fuzz_one().  The reader is called
 * directly (not through sheet_read(), whose sniffing would send most
 * mutated inputs to the CSV reader) with the default limits.  On SHEET_OK
 * the grid must keep the promises sheet.h makes and the validator relies
 * on: cells in strictly increasing (row, col) order, both 1-based, col
 * within max_cols, at most max_cells cells, text present for text and
 * error cells and no longer than max_cell_bytes, valid UTF-8 in every
 * string, finite numbers; and a refusal must come with a message.  A
 * broken promise is reported and FUZZ_FAIL()ed: abort() in the harnesses,
 * so libFuzzer keeps the input like any crash; a cmocka failure in
 * tests/unit/test_fuzz_regressions.c, which replays the kept inputs with
 * this same code.  Then the grid is validated and everything freed:
 * AddressSanitizer's leak check at exit makes a leak a finding too.  Static
 * functions only: each harness is its own program.
 */
#ifndef KILN_FUZZ_H
#define KILN_FUZZ_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sheet/sheet.h"

#ifndef FUZZ_FAIL
#define FUZZ_FAIL() abort()
#endif

/* Reports a broken promise about cell i and fails. */
static void fuzz_fail(size_t i, const struct sheet_cell *c, const char *what)
{
	fprintf(stderr, "fuzz: cell %zu (row %u, col %u): %s\n", i, c->row, c->col, what);
	FUZZ_FAIL();
}

/* Is s (NUL-terminated) well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF)? */
static int fuzz_utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned c = *p, n, cp, k;

		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		for (k = 1; k <= n; k++) {
			if ((p[k] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (p[k] & 0x3F);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		p += n + 1;
	}
	return 1;
}

/* Checks the grid a reader returned with SHEET_OK against sheet.h; fails if broken. */
static void fuzz_check_grid(const struct sheet_grid *g, const struct sheet_limits *lim)
{
	size_t i;

	if (g->ncells > lim->max_cells) {
		fprintf(stderr, "fuzz: %zu cells, more than max_cells %zu\n", g->ncells, lim->max_cells);
		FUZZ_FAIL();
	}
	if (g->sheet_name && !fuzz_utf8_ok(g->sheet_name)) {
		fprintf(stderr, "fuzz: the sheet name is not UTF-8\n");
		FUZZ_FAIL();
	}
	for (i = 0; i < g->ncells; i++) {
		const struct sheet_cell *c = &g->cells[i];

		if (c->row < 1 || c->col < 1 || c->col > lim->max_cols)
			fuzz_fail(i, c, "row or column out of range");
		if (i > 0 && (c->row < g->cells[i - 1].row ||
			      (c->row == g->cells[i - 1].row && c->col <= g->cells[i - 1].col)))
			fuzz_fail(i, c, "cells not in strictly increasing row-major order");
		switch (c->type) {
		case SHEET_CELL_TEXT:
		case SHEET_CELL_ERROR:
			if (!c->text)
				fuzz_fail(i, c, "a text or error cell without text");
			break;
		case SHEET_CELL_NUMBER:
		case SHEET_CELL_BOOL:
			if (!isfinite(c->number))
				fuzz_fail(i, c, "a number that is not finite");
			if (c->type == SHEET_CELL_BOOL && c->number != 0 && c->number != 1)
				fuzz_fail(i, c, "a boolean that is neither 0 nor 1");
			break;
		default:
			fuzz_fail(i, c, "an unknown cell type");
		}
		if (c->text && strlen(c->text) > lim->max_cell_bytes)
			fuzz_fail(i, c, "text longer than max_cell_bytes");
		if (c->text && !fuzz_utf8_ok(c->text))
			fuzz_fail(i, c, "text that is not UTF-8");
		if (c->format && !fuzz_utf8_ok(c->format))
			fuzz_fail(i, c, "a format that is not UTF-8");
	}
}

/* One fuzz input: read, check, validate, free. */
static int fuzz_one(enum sheet_status (*reader)(const unsigned char *, size_t,
						const struct sheet_limits *, struct sheet_grid *,
						char *, size_t),
		    const uint8_t *data, size_t size)
{
	struct sheet_limits lim;
	struct sheet_grid grid;
	struct sheet_batch batch;
	char err[512];
	enum sheet_status st;

	sheet_limits_default(&lim);
	st = reader(data, size, &lim, &grid, err, sizeof(err));
	if (st == SHEET_OK) {
		fuzz_check_grid(&grid, &lim);
		memset(&batch, 0, sizeof(batch));
		if (sheet_validate(&grid, &lim, &batch) >= 0 && batch.nrows > lim.max_rows) {
			fprintf(stderr, "fuzz: %zu rows validated, more than max_rows %u\n",
				batch.nrows, lim.max_rows);
			FUZZ_FAIL();
		}
		sheet_batch_free(&batch);
	} else if (!err[0]) {
		fprintf(stderr, "fuzz: refused (status %d) without a message\n", (int)st);
		FUZZ_FAIL();
	}
	sheet_grid_free(&grid);
	return 0;
}

#endif
