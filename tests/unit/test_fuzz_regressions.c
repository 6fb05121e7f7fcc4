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

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *replaying = "";   /* the file being replayed, for FUZZ_FAIL() */

#define FUZZ_FAIL() fail_msg("%s: breaks the reader's contract (see above)", replaying)
#include "tests/fuzz/fuzz.h"
#include "tests/unit/oracle.h"

/* Reads a whole file into a buffer of exactly its size (so ASan sees overreads); NULL on failure. */
static unsigned char *slurp_exact(const char *path, size_t *len)
{
	unsigned char *b = slurp(path, len), *exact;

	if (!b)
		return NULL;
	exact = malloc(*len ? *len : 1);
	if (exact)
		memcpy(exact, b, *len);
	free(b);
	return exact;
}

/*
 * Replays every regular file of dir through reader; returns how many.  A
 * missing dir counts none (git keeps no empty regressions/<fmt>/).
 */
static size_t replay_dir(const char *dir,
			 enum sheet_status (*reader)(const unsigned char *, size_t,
						   const struct sheet_limits *,
						   struct sheet_grid *, char *, size_t))
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[1024];
		unsigned char *buf;
		size_t len = 0;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		buf = slurp_exact(path, &len);
		if (!buf) {
			closedir(d);
			fail_msg("%s: cannot be read", path);
		}
		replaying = path;
		fuzz_one(reader, buf, len);
		replaying = "";
		free(buf);
		n++;
	}
	closedir(d);
	return n;
}

/* The seeds (there must be some) and the regressions of one format. */
static void replay(const char *fmt,
		   enum sheet_status (*reader)(const unsigned char *, size_t,
					     const struct sheet_limits *,
					     struct sheet_grid *, char *, size_t))
{
	char dir[256];
	size_t seeds, regs;

	snprintf(dir, sizeof(dir), "tests/fuzz/seeds/%s", fmt);
	seeds = replay_dir(dir, reader);
	if (!seeds)
		fail_msg("%s: no seeds (the tests run from the repository root)", dir);
	snprintf(dir, sizeof(dir), "tests/fuzz/regressions/%s", fmt);
	regs = replay_dir(dir, reader);
	print_message("%s: %zu seeds, %zu regression inputs replayed\n", fmt, seeds, regs);
}

static void test_fuzz_csv(void **state)
{
	(void)state;
	replay("csv", sheet_read_csv);
}

static void test_fuzz_xls(void **state)
{
	(void)state;
	replay("xls", sheet_read_xls);
}

static void test_fuzz_xlsx(void **state)
{
	(void)state;
	replay("xlsx", sheet_read_xlsx);
}

static void test_fuzz_ods(void **state)
{
	(void)state;
	replay("ods", sheet_read_ods);
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
