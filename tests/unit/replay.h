/*
 * replay.h — the fuzzing inputs kept in the tree, replayed by the unit
 * tests: every file of tests/fuzz/seeds/<name>/ (there must be some) and of
 * tests/fuzz/regressions/<name>/ (git keeps no empty folder, so a missing
 * one counts none), each handed to a callback in a buffer of exactly its
 * size, so that AddressSanitizer sees any read past its end.
 *
 * Included by test_fuzz_regressions.c (the readers) and test_http_fuzz.c
 * (request handling), after cmocka.h and oracle.h (for slurp()).  The tests
 * run from the repository root.
 */
#ifndef KILN_TEST_REPLAY_H
#define KILN_TEST_REPLAY_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hands every regular file of dir to one (path names it in failures); returns how many. */
static size_t replay_dir(const char *dir,
			 void (*one)(const char *path, const unsigned char *buf, size_t len))
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[1024];
		unsigned char *b, *exact;
		size_t len = 0;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		b = slurp(path, &len);
		exact = b ? malloc(len ? len : 1) : NULL;
		if (!exact) {
			free(b);
			closedir(d);
			fail_msg("%s: cannot be read", path);
		}
		memcpy(exact, b, len);
		free(b);
		one(path, exact, len);
		free(exact);
		n++;
	}
	closedir(d);
	return n;
}

/* The seeds (there must be some) and the regressions of one harness. */
static void replay(const char *name,
		   void (*one)(const char *path, const unsigned char *buf, size_t len))
{
	char dir[256];
	size_t seeds, regs;

	snprintf(dir, sizeof(dir), "tests/fuzz/seeds/%s", name);
	seeds = replay_dir(dir, one);
	if (!seeds)
		fail_msg("%s: no seeds (the tests run from the repository root)", dir);
	snprintf(dir, sizeof(dir), "tests/fuzz/regressions/%s", name);
	regs = replay_dir(dir, one);
	print_message("%s: %zu seeds, %zu regression inputs replayed\n", name, seeds, regs);
}

#endif
