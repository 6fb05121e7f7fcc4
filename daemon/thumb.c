/*
 * thumb.c — decode, shrink with a box filter, encode as PNG; see thumb.h.
 */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>
#include <webp/decode.h>

#include "daemon/thumb.h"

/* A decoded image: 8-bit RGBA, rows packed. */
struct rgba {
	unsigned char *px;
	unsigned w, h;
};

static int too_big(unsigned w, unsigned h, char *err, size_t errlen)
{
	if (w == 0 || h == 0 || (uint64_t)w * h > THUMB_MAX_PIXELS) {
		snprintf(err, errlen, "the image is %ux%u pixels; thumbnails are made of images of"
			 " at most %u pixels", w, h, THUMB_MAX_PIXELS);
		return 1;
	}
	return 0;
}

static int decode_png(const unsigned char *data, size_t len, struct rgba *out, char *err,
		      size_t errlen)
{
	png_image img;

	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	if (!png_image_begin_read_from_memory(&img, data, len)) {
		snprintf(err, errlen, "damaged PNG: %s", img.message);
		return -1;
	}
	if (too_big(img.width, img.height, err, errlen)) {
		png_image_free(&img);
		return -1;
	}
	img.format = PNG_FORMAT_RGBA;
	out->w = img.width;
	out->h = img.height;
	out->px = malloc(PNG_IMAGE_SIZE(img));
	if (!out->px) {
		png_image_free(&img);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!png_image_finish_read(&img, NULL, out->px, 0, NULL)) {
		snprintf(err, errlen, "damaged PNG: %s", img.message);
		free(out->px);
		out->px = NULL;
		return -1;
	}
	return 0;
}

struct jpeg_ctx {
	struct jpeg_error_mgr pub;
	jmp_buf jb;
	char msg[JMSG_LENGTH_MAX];
	unsigned char *row;
};

static void jpeg_fail(j_common_ptr cinfo)
{
	struct jpeg_ctx *c = (struct jpeg_ctx *)cinfo->err;

	(*cinfo->err->format_message)(cinfo, c->msg);
	longjmp(c->jb, 1);
}

static void jpeg_quiet(j_common_ptr cinfo, int level)
{
	(void)cinfo;
	(void)level;
}

/* Decodes a JPEG, scaled down by DCT scaling as far as max_side allows. */
static int decode_jpeg(const unsigned char *data, size_t len, unsigned max_side,
		       struct rgba *out, char *err, size_t errlen)
{
	struct jpeg_decompress_struct cinfo;
	struct jpeg_ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	out->px = NULL;
	cinfo.err = jpeg_std_error(&ctx.pub);
	ctx.pub.error_exit = jpeg_fail;
	ctx.pub.emit_message = jpeg_quiet;
	if (setjmp(ctx.jb)) {
		snprintf(err, errlen, "damaged JPEG: %s", ctx.msg);
		jpeg_destroy_decompress(&cinfo);
		free(ctx.row);
		free(out->px);
		out->px = NULL;
		return -1;
	}
	jpeg_create_decompress(&cinfo);
	jpeg_mem_src(&cinfo, data, (unsigned long)len);
	jpeg_read_header(&cinfo, TRUE);
	if (too_big(cinfo.image_width, cinfo.image_height, err, errlen)) {
		jpeg_destroy_decompress(&cinfo);
		return -1;
	}
	cinfo.out_color_space = JCS_RGB;
	cinfo.scale_num = 1;
	cinfo.scale_denom = 1;
	for (unsigned d = 8; d > 1; d /= 2) {
		unsigned long_side = cinfo.image_width > cinfo.image_height ? cinfo.image_width
									    : cinfo.image_height;

		if (long_side / d >= max_side) {
			cinfo.scale_denom = d;
			break;
		}
	}
	jpeg_start_decompress(&cinfo);
	out->w = cinfo.output_width;
	out->h = cinfo.output_height;
	out->px = malloc((size_t)out->w * out->h * 4);
	ctx.row = malloc((size_t)out->w * 3);
	if (!out->px || !ctx.row) {
		snprintf(ctx.msg, sizeof(ctx.msg), "out of memory");
		longjmp(ctx.jb, 1);
	}
	while (cinfo.output_scanline < cinfo.output_height) {
		unsigned y = cinfo.output_scanline;
		JSAMPROW rows[1] = { ctx.row };
		unsigned char *dst = out->px + (size_t)y * out->w * 4;

		jpeg_read_scanlines(&cinfo, rows, 1);
		for (unsigned x = 0; x < out->w; x++) {
			dst[4 * x] = ctx.row[3 * x];
			dst[4 * x + 1] = ctx.row[3 * x + 1];
			dst[4 * x + 2] = ctx.row[3 * x + 2];
			dst[4 * x + 3] = 255;
		}
	}
	jpeg_finish_decompress(&cinfo);
	jpeg_destroy_decompress(&cinfo);
	free(ctx.row);
	return 0;
}

static int decode_webp(const unsigned char *data, size_t len, struct rgba *out, char *err,
		       size_t errlen)
{
	int w = 0, h = 0;
	uint8_t *px;

	if (!WebPGetInfo(data, len, &w, &h)) {
		snprintf(err, errlen, "damaged WebP image");
		return -1;
	}
	if (too_big((unsigned)w, (unsigned)h, err, errlen))
		return -1;
	px = WebPDecodeRGBA(data, len, &w, &h);
	if (!px) {
		snprintf(err, errlen, "damaged WebP image");
		return -1;
	}
	out->w = (unsigned)w;
	out->h = (unsigned)h;
	out->px = malloc((size_t)out->w * out->h * 4);
	if (out->px)
		memcpy(out->px, px, (size_t)out->w * out->h * 4);
	WebPFree(px);
	if (!out->px) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/*
 * Shrinks src to w×h: each output pixel averages the source rectangle it
 * covers, colours weighted by alpha so transparent pixels do not darken
 * their neighbours.
 */
static int shrink(const struct rgba *src, unsigned w, unsigned h, struct rgba *dst)
{
	dst->w = w;
	dst->h = h;
	dst->px = malloc((size_t)w * h * 4);
	if (!dst->px)
		return -1;
	for (unsigned y = 0; y < h; y++) {
		unsigned y0 = (unsigned)((uint64_t)y * src->h / h);
		unsigned y1 = (unsigned)((uint64_t)(y + 1) * src->h / h);

		if (y1 <= y0)
			y1 = y0 + 1;
		for (unsigned x = 0; x < w; x++) {
			unsigned x0 = (unsigned)((uint64_t)x * src->w / w);
			unsigned x1 = (unsigned)((uint64_t)(x + 1) * src->w / w);
			uint64_t r = 0, g = 0, b = 0, a = 0, n = 0;
			unsigned char *o = dst->px + ((size_t)y * w + x) * 4;

			if (x1 <= x0)
				x1 = x0 + 1;
			for (unsigned sy = y0; sy < y1; sy++) {
				const unsigned char *p = src->px + ((size_t)sy * src->w + x0) * 4;

				for (unsigned sx = x0; sx < x1; sx++, p += 4) {
					r += (uint64_t)p[0] * p[3];
					g += (uint64_t)p[1] * p[3];
					b += (uint64_t)p[2] * p[3];
					a += p[3];
					n++;
				}
			}
			o[0] = (unsigned char)(a ? (r + a / 2) / a : 0);
			o[1] = (unsigned char)(a ? (g + a / 2) / a : 0);
			o[2] = (unsigned char)(a ? (b + a / 2) / a : 0);
			o[3] = (unsigned char)((a + n / 2) / n);
		}
	}
	return 0;
}

static int encode_png(const struct rgba *img, unsigned char **png, size_t *png_len,
		      char *err, size_t errlen)
{
	png_image pi;
	png_alloc_size_t size = 0;

	memset(&pi, 0, sizeof(pi));
	pi.version = PNG_IMAGE_VERSION;
	pi.width = img->w;
	pi.height = img->h;
	pi.format = PNG_FORMAT_RGBA;
	if (!png_image_write_to_memory(&pi, NULL, &size, 0, img->px, 0, NULL)) {
		snprintf(err, errlen, "PNG encoding failed: %s", pi.message);
		return -1;
	}
	*png = malloc(size);
	if (!*png) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!png_image_write_to_memory(&pi, *png, &size, 0, img->px, 0, NULL)) {
		snprintf(err, errlen, "PNG encoding failed: %s", pi.message);
		free(*png);
		*png = NULL;
		return -1;
	}
	*png_len = size;
	return 0;
}

int thumb_make(const unsigned char *data, size_t len, unsigned max_side,
	       unsigned char **png, size_t *png_len, unsigned *width, unsigned *height,
	       char *err, size_t errlen)
{
	struct rgba src = { NULL, 0, 0 }, dst = { NULL, 0, 0 };
	unsigned w, h;
	int rc;

	*png = NULL;
	*png_len = 0;
	if (len >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0) {
		rc = decode_png(data, len, &src, err, errlen);
	} else if (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) {
		rc = decode_jpeg(data, len, max_side, &src, err, errlen);
	} else if (len >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0) {
		rc = decode_webp(data, len, &src, err, errlen);
	} else {
		snprintf(err, errlen, "not a PNG, JPEG or WebP image");
		return -1;
	}
	if (rc < 0)
		return -1;
	w = src.w;
	h = src.h;
	if (w > max_side || h > max_side) {
		if (w >= h) {
			h = (unsigned)(((uint64_t)h * max_side + w / 2) / w);
			w = max_side;
		} else {
			w = (unsigned)(((uint64_t)w * max_side + h / 2) / h);
			h = max_side;
		}
		if (w == 0)
			w = 1;
		if (h == 0)
			h = 1;
	}
	if (shrink(&src, w, h, &dst) < 0) {
		free(src.px);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	free(src.px);
	rc = encode_png(&dst, png, png_len, err, errlen);
	free(dst.px);
	if (rc == 0) {
		*width = w;
		*height = h;
	}
	return rc;
}
