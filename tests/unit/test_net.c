/*
 * test_net.c — unit tests of the network engines' checks (daemon/engines/net.c).
 *
 * DESIGN
 * The image check gets real images made here (a PNG from libpng through
 * the built-in engine, and JPEG and WebP headers written byte by byte as
 * their specifications lay them out) and every way of breaking them:
 * truncation, a wrong signature, zero or absurd sizes, text that calls
 * itself an image.  Base64 decoding is compared with known vectors, with
 * white space and a data: URL prefix.  The message cleaner must find the
 * message in each service's error JSON, turn control characters into
 * spaces, cut at 300 bytes on a UTF-8 boundary and remove the key.  The
 * HTTP client itself is tested end to end (tests/e2e/test_engines*.py).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/engine.h"
#include "daemon/engines/net.h"

/* A real PNG of w x h from the built-in engine. */
static void make_png(unsigned size, const char *ratio, struct engine_image *img)
{
	struct config cfg;
	struct engine e;
	struct sheet_fields f;
	struct engine_request req;
	char err[256];

	config_defaults(&cfg);
	cfg.builtin_size = size;
	assert_int_equal(engine_create(&e, &cfg, err, sizeof(err)), 0);
	memset(&f, 0, sizeof(f));
	f.prompt = "a test";
	f.negative_prompt = "";
	snprintf(f.aspect_ratio, sizeof(f.aspect_ratio), "%s", ratio);
	snprintf(f.style, sizeof(f.style), "auto");
	f.seed = 1;
	f.num_images = 1;
	memset(&req, 0, sizeof(req));
	req.image_id = "img";
	req.fields = &f;
	req.index = 1;
	req.seed = 1;
	assert_int_equal(engine_generate(&e, &req, NULL, img, err, sizeof(err)), ENGINE_OK);
	engine_destroy(&e);
}

static int check(const unsigned char *d, size_t n, char *mime, unsigned *w, unsigned *h)
{
	char ext[8], err[160];

	return net_image_check(d, n, mime, 32, ext, sizeof(ext), w, h, err, sizeof(err));
}

static void test_png(void **state)
{
	struct engine_image img;
	char mime[32];
	unsigned w, h;

	(void)state;
	make_png(96, "16:9", &img);
	assert_int_equal(check(img.data, img.len, mime, &w, &h), 0);
	assert_string_equal(mime, "image/png");
	assert_int_equal(w, 96);
	assert_int_equal(h, 56);
	/* truncated: no IEND at the end */
	assert_int_equal(check(img.data, img.len - 5, mime, &w, &h), -1);
	/* a damaged signature */
	img.data[1] = 'X';
	assert_int_equal(check(img.data, img.len, mime, &w, &h), -1);
	img.data[1] = 'P';
	/* a zero width */
	memset(img.data + 16, 0, 4);
	assert_int_equal(check(img.data, img.len, mime, &w, &h), -1);
	engine_image_free(&img);
}

static void test_jpeg(void **state)
{
	static const unsigned char jpg[] = {
		0xFF, 0xD8,                                        /* SOI */
		0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, /* APP0 */
		0xFF, 0xDB, 0x00, 0x03, 0x00,                      /* a DQT stub */
		0xFF, 0xC2, 0x00, 0x11, 0x08, 0x02, 0xD0, 0x05, 0x00, 0x03, /* SOF2 720x1280 */
		0x01, 0x11, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01,
		0xFF, 0xD9,
	};
	char mime[32];
	unsigned w, h;

	(void)state;
	assert_int_equal(check(jpg, sizeof(jpg), mime, &w, &h), 0);
	assert_string_equal(mime, "image/jpeg");
	assert_int_equal(w, 1280);
	assert_int_equal(h, 720);
	/* cut before the frame header */
	assert_int_equal(check(jpg, 24, mime, &w, &h), -1);
	/* a segment length past the end */
	assert_int_equal(check(jpg, 30, mime, &w, &h), -1);
}

static void test_webp(void **state)
{
	unsigned char lossless[30] = { 'R', 'I', 'F', 'F', 22, 0, 0, 0, 'W', 'E', 'B', 'P',
				       'V', 'P', '8', 'L', 10, 0, 0, 0, 0x2F };
	unsigned char lossy[30] = { 'R', 'I', 'F', 'F', 22, 0, 0, 0, 'W', 'E', 'B', 'P',
				    'V', 'P', '8', ' ', 10, 0, 0, 0, 0, 0, 0, 0x9D, 0x01, 0x2A,
				    0x40, 0x01, 0xF0, 0x00 };
	uint32_t bits = (640 - 1) | ((480u - 1) << 14);
	char mime[32];
	unsigned w, h;

	(void)state;
	memcpy(lossless + 21, &bits, 4);             /* little-endian on every Debian target */
	assert_int_equal(check(lossless, sizeof(lossless), mime, &w, &h), 0);
	assert_string_equal(mime, "image/webp");
	assert_int_equal(w, 640);
	assert_int_equal(h, 480);
	assert_int_equal(check(lossy, sizeof(lossy), mime, &w, &h), 0);
	assert_int_equal(w, 320);
	assert_int_equal(h, 240);
	/* the RIFF size says more than there is */
	lossy[4] = 200;
	assert_int_equal(check(lossy, sizeof(lossy), mime, &w, &h), -1);
}

static void test_not_images(void **state)
{
	static const char *const texts[] = { "<html>Access denied</html>", "GIF89a....", "", "\x89PNG" };
	char mime[32];
	unsigned w, h;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		assert_int_equal(check((const unsigned char *)texts[i], strlen(texts[i]), mime, &w, &h),
				 -1);
}

static void test_base64(void **state)
{
	unsigned char *out;
	size_t n;

	(void)state;
	assert_int_equal(net_base64_decode("aGVsbG8gd29ybGQ=", 16, &out, &n), 0);
	assert_int_equal(n, 11);
	assert_memory_equal(out, "hello world", 11);
	free(out);
	assert_int_equal(net_base64_decode("aGVs\nbG8g\r\nd29y bGQ=", 20, &out, &n), 0);
	assert_int_equal(n, 11);
	assert_memory_equal(out, "hello world", 11);
	free(out);
	assert_int_equal(net_base64_decode("data:image/png;base64,aGk=", 26, &out, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "hi", 2);
	free(out);
	assert_int_equal(net_base64_decode("not base64 at all!", 18, &out, &n), -1);
}

static void test_messages(void **state)
{
	struct config_engine ce;
	struct net_client *c;
	char out[400], err[200], big[1000];
	const char *openai = "{\"error\": {\"message\": \"Incorrect API key provided: sk-TEST-123.\","
			     " \"code\": \"invalid_api_key\"}}";
	const char *ideogram = "{\"detail\": \"Prompt failed\\r\\nthe safety\\tcheck\"}";
	const char *fastapi = "{\"detail\": [{\"loc\": [\"body\"], \"msg\": \"field required\"}]}";
	size_t i;

	(void)state;
	memset(&ce, 0, sizeof(ce));
	snprintf(ce.base_url, sizeof(ce.base_url), "http://127.0.0.1:9");
	ce.timeout_ms = 1000;
	ce.connect_timeout_ms = 1000;
	ce.max_response = 1024;
	c = net_client_new("t", &ce, "sk-TEST-123", 1, err, sizeof(err));
	assert_non_null(c);
	net_clean_message(c, 401, (const unsigned char *)openai, strlen(openai), out, sizeof(out));
	assert_string_equal(out, "HTTP 401: Incorrect API key provided: [key].");
	net_clean_message(c, 422, (const unsigned char *)ideogram, strlen(ideogram), out, sizeof(out));
	assert_string_equal(out, "HTTP 422: Prompt failed  the safety check");
	net_clean_message(c, 422, (const unsigned char *)fastapi, strlen(fastapi), out, sizeof(out));
	assert_string_equal(out, "HTTP 422: field required");
	net_clean_message(c, 502, (const unsigned char *)"", 0, out, sizeof(out));
	assert_string_equal(out, "HTTP 502");
	/* long text is cut at 300 bytes, never inside a UTF-8 sequence */
	snprintf(big, sizeof(big), "{\"message\": \"");
	for (i = 0; i < 200; i++)
		strcat(big, "\xC3\xA9");
	strcat(big, "\"}");
	net_clean_message(c, 400, (const unsigned char *)big, strlen(big), out, sizeof(out));
	assert_true(strlen(out) <= strlen("HTTP 400: ") + 300);
	assert_int_equal((strlen(out) - strlen("HTTP 400: ")) % 2, 0);
	net_client_free(c);
}

static void test_ignore_and_ratio(void **state)
{
	char buf[64] = "";

	(void)state;
	net_ignore(buf, sizeof(buf), "style");
	net_ignore(buf, sizeof(buf), "seed");
	net_ignore(buf, sizeof(buf), "style");
	net_ignore(buf, sizeof(buf), "see");
	assert_string_equal(buf, "style,seed,see");
	assert_true(net_ratio_close("16:9", 1344, 768));
	assert_false(net_ratio_close("16:9", 1536, 1024));
	assert_true(net_ratio_close("1:1", 1024, 1024));
	assert_false(net_ratio_close("3:1", 1024, 1024));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_png),
		cmocka_unit_test(test_jpeg),
		cmocka_unit_test(test_webp),
		cmocka_unit_test(test_not_images),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_ignore_and_ratio),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
