/*
 * test_fuzz_regressions.c — replays the fuzzing inputs kept in the tree:
 * every file of tests/fuzz/regressions/<fmt>/ (each input that once made a
 * reader crash, leak, hang or break its contract, minimised) and of
 * tests/fuzz/seeds/<fmt>/ (the corpus the harnesses start from).
 *
 * DESIGN
 * Each file goes through its format's reader and then sheet_validate(),
 * with the very checks the libFuzzer harnesses make (tests/fuzz/fuzz.h,
 * included here with FUZZ_FAIL() turned into a cmocka failure naming the
 * file), so `make check` runs them plainly and under AddressSanitizer and
 * UndefinedBehaviorSanitizer without clang or libFuzzer.  Whether a file
 * is read or refused does not matter; that it is handled does.  The tests
 * run from the repository root, as the others do.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* strdup() even under -std=c11 */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *replaying = "";   /* the file being replayed, for FUZZ_FAIL() */

#define FUZZ_FAIL() fail_msg("%s: breaks the reader's contract (see above)", replaying)
#include "tests/fuzz/fuzz.h"
#include "tests/unit/oracle.h"
#include "tests/unit/replay.h"

/* One input through a reader and sheet_validate(), with the harnesses' checks. */
#define REPLAY_READER(name, reader) \
	static void name(const char *path, const unsigned char *buf, size_t len) \
	{ \
		replaying = path; \
		fuzz_one(reader, buf, len); \
		replaying = ""; \
	}
REPLAY_READER(one_csv, sheet_read_csv)
REPLAY_READER(one_xls, sheet_read_xls)
REPLAY_READER(one_xlsx, sheet_read_xlsx)
REPLAY_READER(one_ods, sheet_read_ods)

static void test_fuzz_csv(void **state)
{
	(void)state;
	replay("csv", one_csv);
}

static void test_fuzz_xls(void **state)
{
	(void)state;
	replay("xls", one_xls);
}

static void test_fuzz_xlsx(void **state)
{
	(void)state;
	replay("xlsx", one_xlsx);
}

static void test_fuzz_ods(void **state)
{
	(void)state;
	replay("ods", one_ods);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fuzz_csv),
		cmocka_unit_test(test_fuzz_xls),
		cmocka_unit_test(test_fuzz_xlsx),
		cmocka_unit_test(test_fuzz_ods),
	};

	return cmocka_run_group_tests_name("fuzz regressions", tests, NULL, NULL);
}
