/*
 * fuzz_xlsx_diff.c — differential libFuzzer harness for the .xlsx reader:
 * every input is read through the fast scanner (with its fallback to
 * expat) and through expat alone, and the two answers must be the same
 * (xlsxdiff.h says what that covers); a difference aborts, so libFuzzer
 * keeps the input.  Seeded like fuzz_xlsx.c (tests/fuzz/seeds/xlsx/), with
 * its zip-aware mutator (zipmut.h), so that mutations land inside the XML
 * parts.  Built and run by `make fuzz` as the format "xlsx_diff".
 */
#include <stdlib.h>

#include "tests/fuzz/xlsxdiff.h"
#include "tests/fuzz/zipmut.h"

#ifndef FUZZ_FAIL
#define FUZZ_FAIL() abort()
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sheet_limits lim;
	char why[4096];

	sheet_limits_default(&lim);
	if (xlsxdiff(data, size, &lim, NULL, why, sizeof(why))) {
		fprintf(stderr, "fuzz_xlsx_diff: the two paths disagree: %s\n", why);
		FUZZ_FAIL();
	}
	return 0;
}
