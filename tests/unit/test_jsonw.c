/*
 * test_jsonw.c — unit tests of the JSON writer (api/jsonw.c).
 *
 * DESIGN
 * The writer promises the very text cJSON_PrintUnformatted() prints for the
 * same members, so every test builds the same value twice — with the writer
 * and as a cJSON tree printed by cJSON (the reference, the library the rest
 * of kilnd uses) — and compares the two texts byte for byte; cJSON_Parse()
 * must also read the writer's text back.  Covered: every byte value in a
 * string (each control character, quote, backslash, DEL, UTF-8 of 2 to 4
 * bytes, bytes that are not UTF-8), empty strings and keys that need
 * escaping, whole numbers at the int64 limits, doubles cJSON prints as
 * ints, with 15 digits and with 17, NaN and infinities, null, nesting,
 * empty containers, raw members, and a text that outgrows the first buffer
 * many times.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api/jsonw.h"

/* The writer's text against cJSON's for the same tree; frees both. */
static void same(struct jsonw *w, cJSON *ref)
{
	char *want = cJSON_PrintUnformatted(ref);
	size_t len = 0;
	char *got = jsonw_finish(w, &len);
	cJSON *back;

	assert_non_null(want);
	assert_non_null(got);
	assert_string_equal(got, want);
	assert_int_equal(len, strlen(got));
	back = cJSON_Parse(got);
	assert_non_null(back);
	cJSON_Delete(back);
	free(want);
	free(got);
	cJSON_Delete(ref);
}

static void test_every_byte_in_strings(void **state)
{
	struct jsonw w;
	cJSON *ref = cJSON_CreateObject();
	char s[2];

	(void)state;
	jsonw_init(&w, 16);
	jsonw_object(&w, NULL);
	/* one member per byte value 1..255, the byte in both the key and the value */
	for (int c = 1; c < 256; c++) {
		char key[8];

		s[0] = (char)c;
		s[1] = '\0';
		snprintf(key, sizeof(key), "k%c", c);
		jsonw_str(&w, key, s);
		cJSON_AddStringToObject(ref, key, s);
	}
	jsonw_end(&w, '}');
	same(&w, ref);
}

static void test_text(void **state)
{
	static const char *const texts[] = {
		"", "plain", "quote \" and backslash \\ and slash /",
		"line\nbreak\r\ttab\bback\fform", "\x01\x1f\x7f",
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xa8",      /* é € 🎨 */
		"not utf-8: \xff\xfe\xc3", "</script><!--",
	};
	struct jsonw w;
	cJSON *ref = cJSON_CreateArray();

	(void)state;
	jsonw_init(&w, 0);
	jsonw_array(&w, NULL);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		jsonw_str(&w, NULL, texts[i]);
		cJSON_AddItemToArray(ref, cJSON_CreateString(texts[i]));
	}
	jsonw_str(&w, NULL, NULL);
	cJSON_AddItemToArray(ref, cJSON_CreateNull());
	jsonw_end(&w, ']');
	same(&w, ref);
}

static void test_numbers(void **state)
{
	static const double doubles[] = {
		0, 1, -1, 0.5, -0.5, 0.4167, 0.0001, 0.9999, 1.0 / 3, 2.0 / 3, 0.1, 0.7,
		1e15, 1e16, 123456789012.5, 2147483647.0, 2147483648.0, -2147483648.0,
		-2147483649.0, 1e300, -1e-300, 4.9e-324, 1.7976931348623157e308, 3.0000000000000004,
	};
	static const int64_t ints[] = {
		0, 1, -1, 9, 10, 999, 1000, 2147483647, 2147483648LL, -2147483648LL,
		INT64_MAX, INT64_MIN, 1700000000000LL,
	};
	struct jsonw w;
	cJSON *ref = cJSON_CreateArray();

	(void)state;
	jsonw_init(&w, 0);
	jsonw_array(&w, NULL);
	for (size_t i = 0; i < sizeof(doubles) / sizeof(doubles[0]); i++) {
		jsonw_num(&w, NULL, doubles[i]);
		cJSON_AddItemToArray(ref, cJSON_CreateNumber(doubles[i]));
	}
	jsonw_num(&w, NULL, NAN);
	cJSON_AddItemToArray(ref, cJSON_CreateNumber(NAN));
	jsonw_num(&w, NULL, INFINITY);
	cJSON_AddItemToArray(ref, cJSON_CreateNumber(INFINITY));
	jsonw_num(&w, NULL, -INFINITY);
	cJSON_AddItemToArray(ref, cJSON_CreateNumber(-INFINITY));
	jsonw_end(&w, ']');
	same(&w, ref);

	/* whole numbers: cJSON holds a double, so the reference is the digits as raw */
	jsonw_init(&w, 0);
	jsonw_array(&w, NULL);
	ref = cJSON_CreateArray();
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		char buf[32];

		jsonw_int(&w, NULL, ints[i]);
		snprintf(buf, sizeof(buf), "%lld", (long long)ints[i]);
		cJSON_AddItemToArray(ref, cJSON_CreateRaw(buf));
	}
	jsonw_end(&w, ']');
	same(&w, ref);
}

static void test_nesting_and_raw(void **state)
{
	struct jsonw w;
	cJSON *ref = cJSON_CreateObject(), *o, *a;

	(void)state;
	jsonw_init(&w, 0);
	jsonw_object(&w, NULL);
	jsonw_object(&w, "empty");
	jsonw_end(&w, '}');
	cJSON_AddObjectToObject(ref, "empty");
	jsonw_array(&w, "none");
	jsonw_end(&w, ']');
	cJSON_AddArrayToObject(ref, "none");
	jsonw_object(&w, "preview");
	jsonw_int(&w, "row", 2);
	jsonw_object(&w, "fields");
	jsonw_str(&w, "prompt", "a \"cat\"");
	jsonw_null(&w, "seed_number");
	jsonw_end(&w, '}');
	jsonw_end(&w, '}');
	o = cJSON_AddObjectToObject(ref, "preview");
	cJSON_AddNumberToObject(o, "row", 2);
	o = cJSON_AddObjectToObject(o, "fields");
	cJSON_AddStringToObject(o, "prompt", "a \"cat\"");
	cJSON_AddNullToObject(o, "seed_number");
	jsonw_array(&w, "list");
	for (int i = 0; i < 3; i++) {
		jsonw_object(&w, NULL);
		jsonw_int(&w, "i", i);
		jsonw_array(&w, "inner");
		jsonw_array(&w, NULL);
		jsonw_end(&w, ']');
		jsonw_null(&w, NULL);
		jsonw_end(&w, ']');
		jsonw_end(&w, '}');
	}
	jsonw_end(&w, ']');
	a = cJSON_AddArrayToObject(ref, "list");
	for (int i = 0; i < 3; i++) {
		cJSON *e = cJSON_CreateObject(), *in;

		cJSON_AddNumberToObject(e, "i", i);
		in = cJSON_AddArrayToObject(e, "inner");
		cJSON_AddItemToArray(in, cJSON_CreateArray());
		cJSON_AddItemToArray(in, cJSON_CreateNull());
		cJSON_AddItemToArray(a, e);
	}
	jsonw_raw(&w, "warnings", "[{\"row\":3,\"message\":\"x\"}]");
	cJSON_AddRawToObject(ref, "warnings", "[{\"row\":3,\"message\":\"x\"}]");
	jsonw_str(&w, "", "empty key");
	cJSON_AddStringToObject(ref, "", "empty key");
	jsonw_end(&w, '}');
	same(&w, ref);
}

static void test_grows(void **state)
{
	struct jsonw w;
	cJSON *ref = cJSON_CreateArray();
	char big[5000];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[100] = '\n';
	jsonw_init(&w, 1);
	jsonw_array(&w, NULL);
	for (int i = 0; i < 200; i++) {
		jsonw_str(&w, NULL, big);
		jsonw_int(&w, NULL, i);
		cJSON_AddItemToArray(ref, cJSON_CreateString(big));
		cJSON_AddItemToArray(ref, cJSON_CreateNumber(i));
	}
	jsonw_end(&w, ']');
	same(&w, ref);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_byte_in_strings),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_nesting_and_raw),
		cmocka_unit_test(test_grows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
