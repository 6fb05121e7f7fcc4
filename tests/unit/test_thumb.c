/*
 * test_thumb.c — cmocka tests of thumbnails: PNG, JPEG and WebP images made
 * here with libpng, libjpeg and libwebp's encoders, shrunk by thumb_make(),
 * decoded back with libpng and compared (size, ratio, colours); damaged and
 * foreign bytes refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>
#include <webp/encode.h>
#include <zlib.h>

#include "daemon/thumb.h"

/* An RGBA test picture: left half red, right half blue. */
static unsigned char *picture(unsigned w, unsigned h)
{
	unsigned char *px = malloc((size_t)w * h * 4);

	for (unsigned y = 0; y < h; y++) {
		for (unsigned x = 0; x < w; x++) {
			unsigned char *p = px + ((size_t)y * w + x) * 4;

			p[0] = x < w / 2 ? 220 : 10;
			p[1] = 20;
			p[2] = x < w / 2 ? 10 : 230;
			p[3] = 255;
		}
	}
	return px;
}

static unsigned char *make_png(unsigned w, unsigned h, size_t *len)
{
	unsigned char *px = picture(w, h), *out;
	png_image pi;
	png_alloc_size_t size = 0;

	memset(&pi, 0, sizeof(pi));
	pi.version = PNG_IMAGE_VERSION;
	pi.width = w;
	pi.height = h;
	pi.format = PNG_FORMAT_RGBA;
	assert_true(png_image_write_to_memory(&pi, NULL, &size, 0, px, 0, NULL));
	out = malloc(size);
	assert_true(png_image_write_to_memory(&pi, out, &size, 0, px, 0, NULL));
	free(px);
	*len = size;
	return out;
}

static unsigned char *make_jpeg(unsigned w, unsigned h, size_t *len)
{
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr jerr;
	unsigned char *px = picture(w, h), *out = NULL, *row = malloc((size_t)w * 3);
	unsigned long size = 0;

	c.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&c);
	jpeg_mem_dest(&c, &out, &size);
	c.image_width = w;
	c.image_height = h;
	c.input_components = 3;
	c.in_color_space = JCS_RGB;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, 95, TRUE);
	jpeg_start_compress(&c, TRUE);
	while (c.next_scanline < h) {
		JSAMPROW rows[1] = { row };

		for (unsigned x = 0; x < w; x++)
			memcpy(row + 3 * x, px + ((size_t)c.next_scanline * w + x) * 4, 3);
		jpeg_write_scanlines(&c, rows, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	free(px);
	free(row);
	*len = size;
	return out;
}

static unsigned char *make_webp(unsigned w, unsigned h, size_t *len)
{
	unsigned char *px = picture(w, h), *out = NULL, *copy;

	*len = WebPEncodeRGBA(px, (int)w, (int)h, (int)w * 4, 95, &out);
	assert_true(*len > 0);
	copy = malloc(*len);
	memcpy(copy, out, *len);
	WebPFree(out);
	free(px);
	return copy;
}

/* Decodes a thumbnail and checks its size and the two halves' colours. */
static void check_thumb(const unsigned char *png, size_t len, unsigned want_w, unsigned want_h)
{
	png_image pi;
	unsigned char *px;

	memset(&pi, 0, sizeof(pi));
	pi.version = PNG_IMAGE_VERSION;
	assert_true(png_image_begin_read_from_memory(&pi, png, len));
	assert_int_equal(pi.width, want_w);
	assert_int_equal(pi.height, want_h);
	pi.format = PNG_FORMAT_RGBA;
	px = malloc(PNG_IMAGE_SIZE(pi));
	assert_true(png_image_finish_read(&pi, NULL, px, 0, NULL));
	/* a pixel well inside each half keeps its colour (lossy formats: within 16) */
	{
		const unsigned char *l = px + ((size_t)(want_h / 2) * want_w + want_w / 8) * 4;
		const unsigned char *r = px + ((size_t)(want_h / 2) * want_w + want_w * 7 / 8) * 4;

		assert_true(abs(l[0] - 220) < 16 && abs(l[2] - 10) < 16 && l[3] == 255);
		assert_true(abs(r[0] - 10) < 16 && abs(r[2] - 230) < 16 && r[3] == 255);
	}
	free(px);
}

static void run(unsigned char *(*make)(unsigned, unsigned, size_t *), unsigned w, unsigned h,
		unsigned want_w, unsigned want_h)
{
	size_t len, png_len;
	unsigned char *img = make(w, h, &len), *png;
	unsigned tw = 0, th = 0;
	char err[256];

	assert_int_equal(thumb_make(img, len, 256, &png, &png_len, &tw, &th, err, sizeof(err)), 0);
	assert_int_equal(tw, want_w);
	assert_int_equal(th, want_h);
	check_thumb(png, png_len, want_w, want_h);
	free(png);
	free(img);
}

static void test_png(void **state)
{
	(void)state;
	run(make_png, 1024, 576, 256, 144);
	run(make_png, 300, 1000, 77, 256);
	run(make_png, 100, 60, 100, 60);            /* small enough already: same size */
}

static void test_jpeg(void **state)
{
	(void)state;
	run(make_jpeg, 1600, 900, 256, 144);        /* decoded at 1/4 by DCT scaling */
	run(make_jpeg, 512, 512, 256, 256);
	run(make_jpeg, 200, 120, 200, 120);
}

static void test_webp(void **state)
{
	(void)state;
	run(make_webp, 768, 1024, 192, 256);
	run(make_webp, 64, 64, 64, 64);
}

static void test_refused(void **state)
{
	static const unsigned char junk[] = "GIF89a not an image kiln makes";
	unsigned char *img, *png;
	size_t len, png_len;
	unsigned w, h;
	char err[256];

	(void)state;
	assert_int_equal(thumb_make(junk, sizeof(junk), 256, &png, &png_len, &w, &h, err,
				    sizeof(err)), -1);
	assert_non_null(strstr(err, "not a PNG, JPEG or WebP"));
	/* each format cut short */
	img = make_png(300, 300, &len);
	assert_int_equal(thumb_make(img, len / 2, 256, &png, &png_len, &w, &h, err, sizeof(err)), -1);
	free(img);
	img = make_jpeg(300, 300, &len);
	assert_int_equal(thumb_make(img, 40, 256, &png, &png_len, &w, &h, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "JPEG"));
	free(img);
	img = make_webp(300, 300, &len);
	assert_int_equal(thumb_make(img, 20, 256, &png, &png_len, &w, &h, err, sizeof(err)), -1);
	free(img);
}

/* Appends a PNG chunk (length, type, data, CRC) at *pos. */
static void chunk(unsigned char *buf, size_t *pos, const char *type, const unsigned char *data,
		  unsigned len)
{
	uLong crc;

	buf[*pos] = (unsigned char)(len >> 24);
	buf[*pos + 1] = (unsigned char)(len >> 16);
	buf[*pos + 2] = (unsigned char)(len >> 8);
	buf[*pos + 3] = (unsigned char)len;
	memcpy(buf + *pos + 4, type, 4);
	if (len)
		memcpy(buf + *pos + 8, data, len);
	crc = crc32(0, buf + *pos + 4, len + 4);
	*pos += 8 + len;
	buf[*pos] = (unsigned char)(crc >> 24);
	buf[*pos + 1] = (unsigned char)(crc >> 16);
	buf[*pos + 2] = (unsigned char)(crc >> 8);
	buf[*pos + 3] = (unsigned char)crc;
	*pos += 4;
}

static void test_too_many_pixels(void **state)
{
	/* a PNG claiming 100000 x 100000 pixels is refused before any pixel is read */
	static const unsigned char ihdr[13] = { 0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0, 8, 6, 0, 0, 0 };
	unsigned char buf[128], *png;
	size_t pos = 8, png_len;
	unsigned w, h;
	char err[256];

	(void)state;
	memcpy(buf, "\x89PNG\r\n\x1a\n", 8);
	chunk(buf, &pos, "IHDR", ihdr, 13);
	chunk(buf, &pos, "IDAT", NULL, 0);
	chunk(buf, &pos, "IEND", NULL, 0);
	assert_int_equal(thumb_make(buf, pos, 256, &png, &png_len, &w, &h, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "100000x100000"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_png),
		cmocka_unit_test(test_jpeg),
		cmocka_unit_test(test_webp),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_too_many_pixels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
