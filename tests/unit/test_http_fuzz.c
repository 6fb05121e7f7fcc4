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

#include <stdio.h>
#include <stdlib.h>

#include "tests/unit/oracle.h"
#include "tests/unit/replay.h"

#define LLVMFuzzerTestOneInput fuzz_route_one
#include "tests/fuzz/fuzz_route.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_json_one
#include "tests/fuzz/fuzz_json.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_multipart_one
#include "tests/fuzz/fuzz_multipart.c"
#undef LLVMFuzzerTestOneInput

/* The harnesses' entry points as replay()'s callbacks. */
static void one_route(const char *path, const unsigned char *buf, size_t len)
{
	(void)path;
	fuzz_route_one(buf, len);
}

static void one_json(const char *path, const unsigned char *buf, size_t len)
{
	(void)path;
	fuzz_json_one(buf, len);
}

static void one_multipart(const char *path, const unsigned char *buf, size_t len)
{
	(void)path;
	fuzz_multipart_one(buf, len);
}

static void test_route(void **state)
{
	(void)state;
	replay("route", one_route);
}

static void test_json(void **state)
{
	(void)state;
	replay("json", one_json);
}

static void test_multipart(void **state)
{
	static const char form[] = "\x07multipart/form-data; boundary=XyZ\n"
		"--XyZ\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nignored\r\n"
		"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.csv\"\r\n\r\n"
		"prompt\r\nA cat\r\n--XyZ--\r\n";

	(void)state;
	replay("multipart", one_multipart);
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
