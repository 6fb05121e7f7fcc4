/*
 * test_builtin.c — unit tests of engine.c and the built-in engine.
 *
 * DESIGN
 * Each test builds a struct config by hand (config.c is not needed), makes
 * the engine through engine_create() as kilnd does, and checks what a user
 * or the scheduler relies on: the same request gives the same bytes and a
 * different one different bytes; the bytes are a PNG that libpng decodes to
 * the size engine_size_for_ratio() promises for every aspect ratio of
 * spreadsheet.md; the palette's colours are really in the pixels; a seed
 * picked for -1 is stable and in range; a stop is honoured in well under a
 * second even during a 5 s delay; the call log gets exactly one line per
 * call, even from many threads; the [[kiln:...]] test hooks work.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <png.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/engine.h"

#define ERRLEN 512

static const char *const all_ratios[] = {
	"1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "16:10", "10:16",
	"3:1", "1:3", "2:1", "1:2", "5:4", "4:5",
};
#define NRATIOS (sizeof(all_ratios) / sizeof(all_ratios[0]))

static const char *const all_styles[] = { "auto", "general", "realistic", "design", "3d", "anime" };
#define NSTYLES (sizeof(all_styles) / sizeof(all_styles[0]))

/* A config with only what the built-in engine reads. */
static void make_cfg(struct config *cfg, unsigned size, unsigned delay_ms, const char *log)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->engine, sizeof(cfg->engine), "builtin");
	cfg->builtin_size = size;
	cfg->builtin_compression = 6;
	cfg->builtin_delay_ms = delay_ms;
	if (log)
		snprintf(cfg->builtin_call_log, sizeof(cfg->builtin_call_log), "%s", log);
}

/* Creates the engine named by cfg, failing the test if it cannot. */
static void make_engine(struct engine *e, const struct config *cfg)
{
	char err[ERRLEN];

	if (engine_create(e, cfg, err, sizeof(err)))
		fail_msg("engine_create: %s", err);
}

/* A row with spreadsheet.md's defaults and the given prompt. */
static void make_fields(struct sheet_fields *f, const char *prompt)
{
	memset(f, 0, sizeof(*f));
	f->prompt = (char *)prompt;
	snprintf(f->visibility, sizeof(f->visibility), "public");
	snprintf(f->aspect_ratio, sizeof(f->aspect_ratio), "1:1");
	snprintf(f->magic_prompt, sizeof(f->magic_prompt), "on");
	snprintf(f->model, sizeof(f->model), "2.0");
	f->seed = -1;
	snprintf(f->rendering, sizeof(f->rendering), "default");
	f->negative_prompt = "";
	snprintf(f->style, sizeof(f->style), "auto");
	f->color_palette = NULL;
	f->num_images = 4;
}

/* Generates one image and fails the test unless it is ENGINE_OK. */
static void gen_ok(struct engine *e, const struct sheet_fields *f, const char *id, int index,
		   int64_t seed, struct engine_image *out)
{
	struct engine_request req = { id, f, index, seed };
	char err[ERRLEN];
	enum engine_status st;

	st = engine_generate(e, &req, NULL, out, err, sizeof(err));
	if (st != ENGINE_OK)
		fail_msg("engine_generate: status %d: %s", (int)st, err);
	assert_non_null(out->data);
	assert_true(out->len > 8);
}

/* Do two images hold the same bytes? */
static int same_bytes(const struct engine_image *a, const struct engine_image *b)
{
	return a->len == b->len && !memcmp(a->data, b->data, a->len);
}

/* Decodes PNG bytes to 8-bit RGB with libpng's simplified API; caller frees. */
static unsigned char *decode(const struct engine_image *img, unsigned *w, unsigned *h)
{
	png_image pi;
	unsigned char *px;

	memset(&pi, 0, sizeof(pi));
	pi.version = PNG_IMAGE_VERSION;
	if (!png_image_begin_read_from_memory(&pi, img->data, img->len))
		fail_msg("libpng cannot read the image: %s", pi.message);
	pi.format = PNG_FORMAT_RGB;
	px = malloc(PNG_IMAGE_SIZE(pi));
	assert_non_null(px);
	if (!png_image_finish_read(&pi, NULL, px, 0, NULL))
		fail_msg("libpng cannot decode the image: %s", pi.message);
	*w = pi.width;
	*h = pi.height;
	return px;
}

/* How many pixels have exactly this colour. */
static size_t count_colour(const unsigned char *px, unsigned w, unsigned h, unsigned rgb)
{
	size_t n = 0, i;

	for (i = 0; i < (size_t)w * h; i++) {
		unsigned c = (unsigned)px[3 * i] << 16 | (unsigned)px[3 * i + 1] << 8 | px[3 * i + 2];

		n += c == rgb;
	}
	return n;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- engine.c ----------------------------------------------------------- */

static void test_unknown_engine(void **state)
{
	struct config cfg;
	struct engine e;
	char err[ERRLEN];

	(void)state;
	make_cfg(&cfg, 64, 0, NULL);
	snprintf(cfg.engine, sizeof(cfg.engine), "dalle");
	assert_int_equal(engine_create(&e, &cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "\"dalle\""));
	assert_non_null(strstr(err, "builtin"));
	assert_null(e.ops);
	engine_destroy(&e);
}

static void test_bad_settings(void **state)
{
	struct config cfg;
	struct engine e;
	char err[ERRLEN];

	(void)state;
	make_cfg(&cfg, 0, 0, NULL);
	assert_int_equal(engine_create(&e, &cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "builtin.size"));
	make_cfg(&cfg, 64, 0, NULL);
	cfg.builtin_compression = 12;
	assert_int_equal(engine_create(&e, &cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "compression"));
	make_cfg(&cfg, 64, 0, "/nonexistent-dir/calls.log");
	assert_int_equal(engine_create(&e, &cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent-dir/calls.log"));
}

static void test_size_for_ratio(void **state)
{
	static const struct {
		const char *ratio;
		unsigned w, h;
	} want[] = {
		{ "1:1", 512, 512 },   { "16:9", 512, 288 }, { "9:16", 288, 512 },
		{ "4:3", 512, 384 },   { "3:4", 384, 512 },  { "3:2", 512, 344 },
		{ "2:3", 344, 512 },   { "16:10", 512, 320 }, { "10:16", 320, 512 },
		{ "3:1", 512, 168 },   { "1:3", 168, 512 },  { "2:1", 512, 256 },
		{ "1:2", 256, 512 },   { "5:4", 512, 408 },  { "4:5", 408, 512 },
		{ "7:5", 512, 512 },   { "", 512, 512 },     { "banana", 512, 512 },
	};
	unsigned w, h;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		engine_size_for_ratio(want[i].ratio, 512, &w, &h);
		if (w != want[i].w || h != want[i].h)
			fail_msg("%s: %ux%u, want %ux%u", want[i].ratio, w, h, want[i].w, want[i].h);
	}
	engine_size_for_ratio(NULL, 100, &w, &h);
	assert_int_equal(w, 100);
	assert_int_equal(h, 100);
	/* the short side never drops below 8, and the long side stays as given */
	engine_size_for_ratio("1:3", 8, &w, &h);
	assert_int_equal(w, 8);
	assert_int_equal(h, 8);
	engine_size_for_ratio("3:1", 20, &w, &h);
	assert_int_equal(w, 20);
	assert_int_equal(h, 8);
	/* every ratio: long side exact, short side a multiple of 8 within 4 px */
	for (i = 0; i < NRATIOS; i++) {
		unsigned a, b, lw, sh;

		sscanf(all_ratios[i], "%u:%u", &a, &b);
		engine_size_for_ratio(all_ratios[i], 1000, &w, &h);
		lw = a >= b ? w : h;
		sh = a >= b ? h : w;
		assert_int_equal(lw, 1000);
		assert_int_equal(sh % 8, 0);
		assert_true(abs((int)(sh * (a >= b ? a : b)) - (int)(1000 * (a >= b ? b : a)))
			    <= 4 * (int)(a >= b ? a : b));
	}
}

/* ---- the built-in engine ------------------------------------------------ */

static void test_deterministic(void **state)
{
	struct config cfg;
	struct engine e;
	struct sheet_fields f;
	struct engine_image a, b, c;
	size_t i;

	(void)state;
	make_cfg(&cfg, 96, 0, NULL);
	make_engine(&e, &cfg);
	make_fields(&f, "a red fox in the snow");
	for (i = 0; i < NSTYLES; i++) {
		snprintf(f.style, sizeof(f.style), "%s", all_styles[i]);
		gen_ok(&e, &f, "img-1", 1, 42, &a);
		gen_ok(&e, &f, "img-1", 1, 42, &b);
		assert_true(same_bytes(&a, &b));
		/* the image id does not matter once the seed is given */
		gen_ok(&e, &f, "img-other", 1, 42, &c);
		assert_true(same_bytes(&a, &c));
		engine_image_free(&b);
		engine_image_free(&c);
		gen_ok(&e, &f, "img-1", 2, 42, &b);        /* another index */
		assert_false(same_bytes(&a, &b));
		engine_image_free(&b);
		gen_ok(&e, &f, "img-1", 1, 43, &b);        /* another seed */
		assert_false(same_bytes(&a, &b));
		engine_image_free(&b);
		f.prompt = "a red fox in the snow, at night";
		gen_ok(&e, &f, "img-1", 1, 42, &b);        /* another prompt */
		assert_false(same_bytes(&a, &b));
		engine_image_free(&b);
		f.prompt = "a red fox in the snow";
		engine_image_free(&a);
	}
	/* a new engine with the same settings gives the same bytes */
	gen_ok(&e, &f, "img-1", 3, 7, &a);
	engine_destroy(&e);
	make_engine(&e, &cfg);
	gen_ok(&e, &f, "img-1", 3, 7, &b);
	assert_true(same_bytes(&a, &b));
	engine_image_free(&a);
	engine_image_free(&b);
	engine_destroy(&e);
}

static void test_every_ratio_decodes(void **state)
{
	struct config cfg;
	struct engine e;
	struct sheet_fields f;
	struct engine_image img;
	unsigned sizes[] = { 64, 100, 256 };
	size_t i, s;

	(void)state;
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		make_cfg(&cfg, sizes[s], 0, NULL);
		make_engine(&e, &cfg);
		make_fields(&f, "ratios");
		for (i = 0; i < NRATIOS; i++) {
			unsigned ww, wh, w, h;
			unsigned char *px;

			snprintf(f.aspect_ratio, sizeof(f.aspect_ratio), "%s", all_ratios[i]);
			snprintf(f.style, sizeof(f.style), "%s", all_styles[i % NSTYLES]);
			gen_ok(&e, &f, "img-r", 1 + (int)(i % 4), (int64_t)i, &img);
			engine_size_for_ratio(all_ratios[i], sizes[s], &ww, &wh);
			assert_int_equal(img.width, ww);
			assert_int_equal(img.height, wh);
			assert_string_equal(img.mime, "image/png");
			assert_string_equal(img.ext, "png");
			assert_string_equal(img.ignored, "");
			assert_int_equal(img.seed, (int64_t)i);
			px = decode(&img, &w, &h);
			if (w != ww || h != wh)
				fail_msg("%s at %u: decoded %ux%u, want %ux%u", all_ratios[i], sizes[s],
					 w, h, ww, wh);
			free(px);
			engine_image_free(&img);
		}
		engine_destroy(&e);
	}
}

static void test_hex_palette_in_pixels(void **state)
{
	static const unsigned want[] = { 0xCBA324, 0xF86C14, 0xC71E71 };
	struct config cfg;
	struct engine e;
	struct sheet_fields f;
	struct engine_image img;
	size_t i, k;

	(void)state;
	make_cfg(&cfg, 128, 0, NULL);
	make_engine(&e, &cfg);
	make_fields(&f, "a palette");
	f.color_palette = "#CBA324 #F86C14 #C71E71";
	for (i = 0; i < NSTYLES; i++) {
		unsigned w, h;
		unsigned char *px;

		snprintf(f.style, sizeof(f.style), "%s", all_styles[i]);
		gen_ok(&e, &f, "img-p", 1, 5, &img);
		px = decode(&img, &w, &h);
		for (k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
			if (count_colour(px, w, h, want[k]) < (size_t)w / 3 * 2)
				fail_msg("style %s: #%06X is (almost) absent", all_styles[i], want[k]);
		}
		free(px);
		engine_image_free(&img);
	}
	engine_destroy(&e);
}

static void test_preset_palette_in_pixels(void **state)
{
	static const unsigned ember[] = { 0x2B0F0E, 0x7A1F12, 0xC8401A, 0xF27B1F, 0xFFC857 };
	static const char *const presets[] = { "ember", "fresh", "jungle", "magic", "melon",
					       "mosaic", "pastel", "ultramarine" };
	struct config cfg;
	struct engine e;
	struct sheet_fields f;
	struct engine_image img, other;
	unsigned w, h;
	unsigned char *px;
	size_t k;

	(void)state;
	make_cfg(&cfg, 128, 0, NULL);
	make_engine(&e, &cfg);
	make_fields(&f, "a preset");
	f.color_palette = "ember";
	gen_ok(&e, &f, "img-e", 1, 5, &img);
	px = decode(&img, &w, &h);
	for (k = 0; k < 5; k++) {
		if (count_colour(px, w, h, ember[k]) < (size_t)w / 5)
			fail_msg("ember: #%06X is absent", ember[k]);
	}
	free(px);
	/* every preset is known, and gives its own picture */
	for (k = 0; k < sizeof(presets) / sizeof(presets[0]); k++) {
		if (!strcmp(presets[k], "ember"))
			continue;
		f.color_palette = (char *)presets[k];
		gen_ok(&e, &f, "img-e", 1, 5, &other);
		px = decode(&other, &w, &h);
		assert_int_equal(count_colour(px, w, h, ember[2]), 0);
		free(px);
		assert_false(same_bytes(&img, &other));
		engine_image_free(&other);
	}
	/* presets are read case-insensitively, as spreadsheet values are */
	f.color_palette = "EMBER";
	gen_ok(&e, &f, "img-e", 1, 5, &other);
	px = decode(&other, &w, &h);
	assert_true(count_colour(px, w, h, ember[0]) > 0);
	free(px);
	engine_image_free(&other);
	engine_image_free(&img);
	engine_destroy(&e);
}

/* Without a palette, the colours come from the prompt: rows look different. */
static void test_prompt_colours(void **state)
{
	struct config cfg;
	struct engine e;
	struct sheet_fields f;
	struct engine_image a, b;
	unsigned w, h, w2, h2;
	unsigned char *pa, *pb;

	(void)state;
	make_cfg(&cfg, 64, 0, NULL);
	make_engine(&e, &cfg);
	make_fields(&f, "a castle on a hill");
	gen_ok(&e, &f, "img-1", 1, 9, &a);
	f.prompt = "a bowl of ramen";
	gen_ok(&e, &f, "img-1", 1, 9, &b);
	pa = decode(&a, &w, &h);
	pb = decode(&b, &w2, &h2);
	/* the palette strip (last row) differs */
	assert_memory_not_equal(pa + (size_t)(h - 1) * w * 3, pb + (size_t)(h2 - 1) * w2 * 3, w * 3);
	free(pa);
	free(pb);
	engine_image_free(&a);
	engine_image_free(&b);
	engine_destroy(&e);
}

/* The index is drawn as white-centred squares in the top-left corner. */
static void test_index_marks(void **state)
{
	struct config cfg;
	struct engine e;
	struct sheet_fields f;
	struct engine_image img;
	unsigned w, h;
	unsigned char *px;
	int index;

	(void)state;
	make_cfg(&cfg, 64, 0, NULL);
	make_engine(&e, &cfg);
	make_fields(&f, "marks");
	f.color_palette = "#101010 #202020 #303030";
	for (index = 1; index <= 4; index++) {
		int k;

		gen_ok(&e, &f, "img-m", index, 1, &img);
		px = decode(&img, &w, &h);
		/* side 3 at 64 px: square k spans x 3+6k .. 5+6k, rows 3..5 */
		for (k = 0; k < 4; k++) {
			const unsigned char *p = px + (4 * (size_t)w + 4 + 6 * (size_t)k) * 3;
			int white = p[0] == 255 && p[1] == 255 && p[2] == 255;

			assert_int_equal(white, k < index);
		}
		free(px);
		engine_image_free(&img);
	}
	engine_destroy(&e);
}

static void test_seed_picked(void **state)
{
	struct config cfg;
	struct engine e;
	struct sheet_fields f;
	struct engine_image a, b, c, d;
	char id[32];
	int i, distinct = 0;
	int64_t first = -1;

	(void)state;
	make_cfg(&cfg, 64, 0, NULL);
	make_engine(&e, &cfg);
	make_fields(&f, "seeds");
	gen_ok(&e, &f, "img-A", 1, -1, &a);
	gen_ok(&e, &f, "img-A", 1, -1, &b);
	assert_true(a.seed >= 0 && a.seed <= 2147483647);
	assert_int_equal(a.seed, b.seed);
	assert_true(same_bytes(&a, &b));
	/* the picked seed reproduces the image when given explicitly */
	gen_ok(&e, &f, "img-Z", 1, a.seed, &c);
	assert_true(same_bytes(&a, &c));
	assert_int_equal(c.seed, a.seed);
	gen_ok(&e, &f, "img-B", 1, -1, &d);
	assert_int_not_equal(d.seed, a.seed);
	assert_false(same_bytes(&a, &d));
	engine_image_free(&a);
	engine_image_free(&b);
	engine_image_free(&c);
	engine_image_free(&d);
	/* over many ids: all in range, and spread out */
	for (i = 0; i < 200; i++) {
		snprintf(id, sizeof(id), "img-%d", i);
		gen_ok(&e, &f, id, 1, -1, &a);
		assert_true(a.seed >= 0 && a.seed <= 2147483647);
		if (first < 0)
			first = a.seed;
		distinct += a.seed != first;
		engine_image_free(&a);
	}
	assert_true(distinct >= 190);
	/* the edges of the range are accepted as given */
	gen_ok(&e, &f, "img-A", 1, 2147483647, &a);
	assert_int_equal(a.seed, 2147483647);
	engine_image_free(&a);
	gen_ok(&e, &f, "img-A", 1, 0, &a);
	assert_int_equal(a.seed, 0);
	engine_image_free(&a);
	engine_destroy(&e);
}

/* A read callback for libpng's full API over a memory buffer. */
struct memread {
	const unsigned char *p;
	size_t len, pos;
};

static void memread_cb(png_structp png, png_bytep out, size_t n)
{
	struct memread *m = png_get_io_ptr(png);

	if (n > m->len - m->pos)
		png_error(png, "read past the end");
	memcpy(out, m->p + m->pos, n);
	m->pos += n;
}

/* Finds the text chunk with this key in the PNG; returns a malloc'd copy or NULL. */
static char *png_text_value(const struct engine_image *img, const char *key)
{
	struct memread m = { img->data, img->len, 0 };
	png_structp png;
	png_infop info;
	png_textp text;
	char *volatile found = NULL;
	int n, i;

	png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	assert_non_null(png);
	info = png_create_info_struct(png);
	assert_non_null(info);
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_read_struct(&png, &info, NULL);
		fail_msg("libpng could not read the text chunks");
	}
	png_set_read_fn(png, &m, memread_cb);
	png_read_info(png, info);
	n = png_get_text(png, info, &text, NULL);
	for (i = 0; i < n; i++) {
		if (!strcmp(text[i].key, key)) {
			found = strdup(text[i].text);
			break;
		}
	}
	png_destroy_read_struct(&png, &info, NULL);
	return found;
}

static void test_text_chunks(void **state)
{
	struct config cfg;
	struct engine e;
	struct sheet_fields f;
	struct engine_image img;
	char *v;

	(void)state;
	make_cfg(&cfg, 64, 0, NULL);
	make_engine(&e, &cfg);
	make_fields(&f, "a lighthouse, \"quoted\", at dusk");
	gen_ok(&e, &f, "img-t", 2, 123456, &img);
	v = png_text_value(&img, "Software");
	assert_non_null(v);
	assert_string_equal(v, "kiln");
	free(v);
	v = png_text_value(&img, "prompt");
	assert_non_null(v);
	assert_string_equal(v, f.prompt);
	free(v);
	v = png_text_value(&img, "seed");
	assert_non_null(v);
	assert_string_equal(v, "123456");
	free(v);
	engine_image_free(&img);
	/* a prompt that is not ASCII travels as UTF-8 (iTXt) */
	f.prompt = "un caf\xc3\xa9 \xe2\x98\x95 \xe6\x9d\xb1\xe4\xba\xac";
	gen_ok(&e, &f, "img-t", 1, -1, &img);
	v = png_text_value(&img, "prompt");
	assert_non_null(v);
	assert_string_equal(v, f.prompt);
	free(v);
	engine_image_free(&img);
	engine_destroy(&e);
}

struct canceller {
	atomic_int *flag;
	unsigned after_ms;
};

static void *cancel_later(void *arg)
{
	struct canceller *c = arg;
	struct timespec ts = { c->after_ms / 1000, (long)(c->after_ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
	atomic_store(c->flag, 1);
	return NULL;
}

static void test_cancel(void **state)
{
	struct config cfg;
	struct engine e;
	struct sheet_fields f;
	struct engine_request req;
	struct engine_image img;
	struct canceller c;
	atomic_int flag;
	pthread_t t;
	char err[ERRLEN];
	double t0, el;

	(void)state;
	make_cfg(&cfg, 64, 5000, NULL);
	make_engine(&e, &cfg);
	make_fields(&f, "slow");
	req.image_id = "img-c";
	req.fields = &f;
	req.index = 1;
	req.seed = -1;
	atomic_init(&flag, 0);
	c.flag = &flag;
	c.after_ms = 100;
	assert_int_equal(pthread_create(&t, NULL, cancel_later, &c), 0);
	t0 = now_s();
	assert_int_equal(engine_generate(&e, &req, &flag, &img, err, sizeof(err)), ENGINE_CANCELLED);
	el = now_s() - t0;
	pthread_join(t, NULL);
	assert_null(img.data);
	if (el > 0.5)
		fail_msg("cancel took %.3f s", el);
	assert_true(el >= 0.09);
	/* already cancelled: returns at once */
	t0 = now_s();
	assert_int_equal(engine_generate(&e, &req, &flag, &img, err, sizeof(err)), ENGINE_CANCELLED);
	assert_true(now_s() - t0 < 0.1);
	engine_destroy(&e);

	/* a short delay runs to its end and makes the image */
	make_cfg(&cfg, 64, 60, NULL);
	make_engine(&e, &cfg);
	atomic_store(&flag, 0);
	t0 = now_s();
	assert_int_equal(engine_generate(&e, &req, &flag, &img, err, sizeof(err)), ENGINE_OK);
	assert_true(now_s() - t0 >= 0.059);
	engine_image_free(&img);
	engine_destroy(&e);
}

/* Reads a whole small file into a malloc'd string. */
static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

struct logger {
	struct engine *e;
	const struct sheet_fields *f;
	int thread;
	int calls;
	int failures;
};

static void *log_calls(void *arg)
{
	struct logger *l = arg;
	struct engine_image img;
	char id[32], err[ERRLEN];
	int i;

	for (i = 0; i < l->calls; i++) {
		struct engine_request req;

		snprintf(id, sizeof(id), "thread-%d-call-%d", l->thread, i);
		req.image_id = id;
		req.fields = l->f;
		req.index = 1 + i % 4;
		req.seed = -1;
		if (engine_generate(l->e, &req, NULL, &img, err, sizeof(err)) != ENGINE_OK)
			l->failures++;
		engine_image_free(&img);
	}
	return NULL;
}

static void test_call_log(void **state)
{
	char path[] = "/tmp/kiln-calllog-XXXXXX";
	struct config cfg;
	struct engine e;
	struct sheet_fields f;
	struct engine_image img;
	struct engine_request req;
	struct logger lg[8];
	pthread_t th[8];
	char err[ERRLEN], *log, *line, *save = NULL;
	int fd, i, lines = 0;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	make_cfg(&cfg, 32, 0, path);
	make_engine(&e, &cfg);
	make_fields(&f, "logged");
	gen_ok(&e, &f, "img-a", 1, -1, &img);
	engine_image_free(&img);
	gen_ok(&e, &f, "img-b", 1, -1, &img);
	engine_image_free(&img);
	gen_ok(&e, &f, "img-a", 2, -1, &img);
	engine_image_free(&img);
	/* calls that do not make an image are logged too */
	f.prompt = "this one fails [[kiln:fail]]";
	req.image_id = "img-c";
	req.fields = &f;
	req.index = 1;
	req.seed = -1;
	assert_int_equal(engine_generate(&e, &req, NULL, &img, err, sizeof(err)), ENGINE_FAIL);
	log = slurp(path);
	assert_string_equal(log, "img-a\nimg-b\nimg-a\nimg-c\n");
	free(log);

	/* many threads at once: one whole line per call */
	assert_int_equal(truncate(path, 0), 0);
	f.prompt = "logged";
	for (i = 0; i < 8; i++) {
		lg[i].e = &e;
		lg[i].f = &f;
		lg[i].thread = i;
		lg[i].calls = 40;
		lg[i].failures = 0;
		assert_int_equal(pthread_create(&th[i], NULL, log_calls, &lg[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(lg[i].failures, 0);
	}
	log = slurp(path);
	for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		int t, c;
		char tail;

		if (sscanf(line, "thread-%d-call-%d%c", &t, &c, &tail) != 2)
			fail_msg("mangled log line \"%s\"", line);
		lines++;
	}
	assert_int_equal(lines, 8 * 40);
	free(log);
	engine_destroy(&e);
	unlink(path);
}

static void test_hooks(void **state)
{
	static const struct {
		const char *prompt;
		enum engine_status st;
		const char *marker;
	} cases[] = {
		{ "a cat [[kiln:fail]]", ENGINE_FAIL, "[[kiln:fail]]" },
		{ "[[kiln:fatal]] a dog", ENGINE_FATAL, "[[kiln:fatal]]" },
		{ "a [[kiln:retry]] bird", ENGINE_RETRY, "[[kiln:retry]]" },
	};
	struct config cfg;
	struct engine e;
	struct sheet_fields f;
	struct engine_request req;
	struct engine_image img;
	char err[ERRLEN];
	size_t i;

	(void)state;
	make_cfg(&cfg, 64, 0, NULL);
	make_engine(&e, &cfg);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		make_fields(&f, cases[i].prompt);
		req.image_id = "img-h";
		req.fields = &f;
		req.index = 1;
		req.seed = -1;
		err[0] = '\0';
		assert_int_equal(engine_generate(&e, &req, NULL, &img, err, sizeof(err)), cases[i].st);
		assert_null(img.data);
		assert_non_null(strstr(err, cases[i].marker));
	}
	/* a marker with a typo is just text */
	make_fields(&f, "a cat [kiln:fail]");
	gen_ok(&e, &f, "img-h", 1, -1, &img);
	engine_image_free(&img);
	engine_destroy(&e);
}

struct same_job {
	struct engine *e;
	const struct sheet_fields *f;
	const struct engine_image *ref;
	int mismatches;
};

static void *gen_same(void *arg)
{
	struct same_job *j = arg;
	struct engine_image img;
	char err[ERRLEN];
	int i;

	for (i = 0; i < 30; i++) {
		struct engine_request req = { "img-s", j->f, 3, 99 };

		if (engine_generate(j->e, &req, NULL, &img, err, sizeof(err)) != ENGINE_OK
		   || !same_bytes(&img, j->ref))
			j->mismatches++;
		engine_image_free(&img);
	}
	return NULL;
}

/* Many threads share one engine and all get the single-threaded bytes. */
static void test_threads(void **state)
{
	struct config cfg;
	struct engine e;
	struct sheet_fields f;
	struct engine_image ref;
	struct same_job jobs[8];
	pthread_t th[8];
	int i;

	(void)state;
	make_cfg(&cfg, 96, 0, NULL);
	make_engine(&e, &cfg);
	make_fields(&f, "threads");
	snprintf(f.style, sizeof(f.style), "3d");
	f.color_palette = "magic";
	gen_ok(&e, &f, "img-s", 3, 99, &ref);
	for (i = 0; i < 8; i++) {
		jobs[i].e = &e;
		jobs[i].f = &f;
		jobs[i].ref = &ref;
		jobs[i].mismatches = 0;
		assert_int_equal(pthread_create(&th[i], NULL, gen_same, &jobs[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(jobs[i].mismatches, 0);
	}
	engine_image_free(&ref);
	engine_destroy(&e);
}

/* Small images are cheap: the scheduler's tests make thousands. */
static void test_speed(void **state)
{
	struct config cfg;
	struct engine e;
	struct sheet_fields f;
	struct engine_image img;
	double t0, el;
	int i, n = 1000;

	(void)state;
	make_cfg(&cfg, 64, 0, NULL);
	make_engine(&e, &cfg);
	make_fields(&f, "speed");
	t0 = now_s();
	for (i = 0; i < n; i++) {
		snprintf(f.style, sizeof(f.style), "%s", all_styles[i % NSTYLES]);
		gen_ok(&e, &f, "img-speed", 1 + i % 4, i, &img);
		engine_image_free(&img);
	}
	el = now_s() - t0;
	print_message("builtin: %d images of 64 px in %.3f s (%.0f/s, one thread)\n", n, el, n / el);
	/* generous: a sanitizer build on a busy machine is far slower */
	assert_true(el < 10.0);
	engine_destroy(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_engine),
		cmocka_unit_test(test_bad_settings),
		cmocka_unit_test(test_size_for_ratio),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_every_ratio_decodes),
		cmocka_unit_test(test_hex_palette_in_pixels),
		cmocka_unit_test(test_preset_palette_in_pixels),
		cmocka_unit_test(test_prompt_colours),
		cmocka_unit_test(test_index_marks),
		cmocka_unit_test(test_seed_picked),
		cmocka_unit_test(test_text_chunks),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_call_log),
		cmocka_unit_test(test_hooks),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_speed),
	};

	return cmocka_run_group_tests_name("builtin", tests, NULL, NULL);
}
