/*
 * test_http_fuzz.c — replays the inputs of the request-handling fuzzers
 * (tests/fuzz/fuzz_route.c, fuzz_json.c, fuzz_multipart.c): every file of
 * tests/fuzz/seeds/<name>/ and tests/fuzz/regressions/<name>/.
 *
 * DESIGN
 * The three harnesses are compiled into this test with their entry points
 * renamed, so `make check` runs their very checks (an abort() there ends
 * this test with a failure) plainly and under ASan+UBSan, without clang or
 * libFuzzer.  fuzz_multipart.c's MHD_lookup_connection_value_n() takes
 * over libmicrohttpd's in this program, which runs no server.  The tests run
 * from the repository root, as the others do.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon/util.h"

#define LLVMFuzzerTestOneInput fuzz_route_one
#include "tests/fuzz/fuzz_route.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_json_one
#include "tests/fuzz/fuzz_json.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_multipart_one
#include "tests/fuzz/fuzz_multipart.c"
#undef LLVMFuzzerTestOneInput

/* Replays every regular file of dir through one; how many (a missing dir: none). */
static size_t replay_dir(const char *dir, int (*one)(const uint8_t *, size_t))
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[1024];
		char *buf;
		size_t len = 0;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (util_read_file(path, 1 << 24, &buf, &len) < 0) {
			closedir(d);
			fail_msg("%s: cannot be read", path);
		}
		one((const uint8_t *)buf, len);
		free(buf);
		n++;
	}
	closedir(d);
	return n;
}

static void replay(const char *name, int (*one)(const uint8_t *, size_t))
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

static void test_route(void **state)
{
	(void)state;
	replay("route", fuzz_route_one);
}

static void test_json(void **state)
{
	(void)state;
	replay("json", fuzz_json_one);
}

static void test_multipart(void **state)
{
	static const char form[] = "\x07multipart/form-data; boundary=XyZ\n"
		"--XyZ\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nignored\r\n"
		"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.csv\"\r\n\r\n"
		"prompt\r\nA cat\r\n--XyZ--\r\n";

	(void)state;
	replay("multipart", fuzz_multipart_one);
	/* the harness really drives MHD's post processor: the file part comes out */
	fuzz_multipart_one((const uint8_t *)form, sizeof(form) - 1);
	assert_int_equal(fuzz_file_len, strlen("prompt\r\nA cat"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_multipart),
	};
	return cmocka_run_group_tests_name("request-handling fuzz inputs", tests, NULL, NULL);
}
