/*
 * engine.c — picks an image engine by name and wraps its calls.
 *
 * DESIGN
 * Every engine is a struct engine_ops (generate, destroy) plus an opaque
 * state, made by a create function listed in the static table below.
 * engine_create() looks cfg->engine up in that table; an unknown name is an
 * error that lists the known ones, so a typo in kilnd.conf says what would
 * have been accepted.  engine_generate() is a thin wrapper that checks the
 * request's invariants and gives the engine a clean output struct, so that
 * nothing of a previous call leaks into the next one.  Adding an engine
 * means one file under engines/, one create function in engine.h and one
 * line in the table.
 *
 * engine_size_for_ratio() lives here rather than in an engine because every
 * engine (and the thumbnails) must agree on the pixel size of an aspect ratio.
 */
#include "engine.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

struct engine_kind {
	const char *name;
	int (*create)(struct engine *e, const struct config *cfg, char *err, size_t errlen);
};

static const struct engine_kind engine_kinds[] = {
	{ "builtin", engine_builtin_create },
	{ "ideogram", engine_ideogram_create },
	{ "openai", engine_openai_create },
	{ "a1111", engine_a1111_create },
};

#define ENGINE_KINDS (sizeof(engine_kinds) / sizeof(engine_kinds[0]))

/*
 * Lists the known engine names, comma-separated, into buf (always
 * NUL-terminated when len > 0).
 */
static void known_engines(char *buf, size_t len)
{
	size_t used = 0;
	size_t i;

	if (!len)
		return;
	buf[0] = '\0';
	for (i = 0; i < ENGINE_KINDS; i++) {
		int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
				 engine_kinds[i].name);
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
	}
}

/*
 * Creates the engine named by cfg->engine into *e.  Returns 0, or -1 with a
 * message in err: an unknown name (listing the known ones) or whatever the
 * engine's own create function reported.  *e is zeroed on failure.
 */
int engine_create(struct engine *e, const struct config *cfg, char *err, size_t errlen)
{
	char names[128];
	size_t i;

	assert(e);
	assert(cfg);
	memset(e, 0, sizeof(*e));
	if (errlen)
		err[0] = '\0';
	for (i = 0; i < ENGINE_KINDS; i++) {
		if (!strcmp(cfg->engine, engine_kinds[i].name)) {
			if (engine_kinds[i].create(e, cfg, err, errlen)) {
				memset(e, 0, sizeof(*e));
				return -1;
			}
			assert(e->ops && e->ops->generate);
			return 0;
		}
	}
	known_engines(names, sizeof(names));
	if (errlen)
		snprintf(err, errlen, "unknown engine \"%s\"; the known engines are: %s",
			 cfg->engine, names);
	return -1;
}

/*
 * Runs one call on engine e.  req must name an image and carry the row's
 * fields and a 1-based index; with count > 1 it lists every image in
 * items, at most engine_max_per_call() of them.  cancel may be NULL (never
 * cancelled).  out (count entries) is zeroed first and filled on
 * ENGINE_OK, each image with its own status; on any other status it holds
 * no allocation and err says why.
 */
enum engine_status engine_generate(struct engine *e, const struct engine_request *req,
				   const atomic_int *cancel, struct engine_image *out,
				   char *err, size_t errlen)
{
	struct engine_request one;
	struct engine_item item;
	enum engine_status st;
	unsigned i, n;

	assert(e && e->ops && e->ops->generate);
	assert(req && req->image_id && req->fields);
	assert(req->index >= 1);
	assert(req->seed >= -1);
	assert(out);
	one = *req;
	/* an engine of one image per call reads neither count nor items */
	n = e->ops->max_per_call && req->count ? req->count : 1;
	assert(n == 1 || req->items);
	assert(n <= engine_max_per_call(e, req->fields));
	if (n == 1 || !req->items) {
		item.image_id = req->image_id;
		item.index = req->index;
		one.items = &item;
	}
	one.count = n;
	memset(out, 0, n * sizeof(*out));
	if (errlen)
		err[0] = '\0';
	st = e->ops->generate(e->state, &one, cancel, out, err, errlen);
	for (i = 0; i < n; i++) {
		if (st != ENGINE_OK || out[i].status != ENGINE_OK)
			engine_image_free(&out[i]);
		if (st == ENGINE_OK && out[i].status != ENGINE_OK && !out[i].error[0])
			snprintf(out[i].error, sizeof(out[i].error), "%s: the image was not made",
				 e->ops->name);
	}
	return st;
}

/* How many images of this row one call of engine e may make: 1 to ENGINE_MAX_PER_CALL. */
unsigned engine_max_per_call(const struct engine *e, const struct sheet_fields *f)
{
	unsigned n;

	if (!e->ops->max_per_call)
		return 1;
	n = e->ops->max_per_call(e->state, f);
	if (n < 1)
		n = 1;
	return n > ENGINE_MAX_PER_CALL ? ENGINE_MAX_PER_CALL : n;
}

/* Releases the engine's state; safe on a zeroed or already destroyed engine. */
void engine_destroy(struct engine *e)
{
	if (!e)
		return;
	if (e->ops && e->ops->destroy)
		e->ops->destroy(e->state);
	memset(e, 0, sizeof(*e));
}

/* Frees the image bytes; safe to call twice. */
void engine_image_free(struct engine_image *img)
{
	if (!img)
		return;
	free(img->data);
	img->data = NULL;
	img->len = 0;
}

struct ratio {
	const char *name;
	unsigned w, h;
};

/* Every aspect ratio of spreadsheet.md. */
static const struct ratio ratios[] = {
	{ "1:1", 1, 1 },   { "16:9", 16, 9 }, { "9:16", 9, 16 }, { "4:3", 4, 3 },
	{ "3:4", 3, 4 },   { "3:2", 3, 2 },   { "2:3", 2, 3 },   { "16:10", 16, 10 },
	{ "10:16", 10, 16 }, { "3:1", 3, 1 }, { "1:3", 1, 3 },   { "2:1", 2, 1 },
	{ "1:2", 1, 2 },   { "5:4", 5, 4 },   { "4:5", 4, 5 },
};

/*
 * The short side for a long side and a ratio small:big (small <= big):
 * long * small / big rounded to the nearest multiple of 8, at least 8.
 */
static unsigned short_side(unsigned long_side, unsigned small, unsigned big)
{
	uint64_t num = (uint64_t)long_side * small;
	uint64_t eights = (num + (uint64_t)big * 4) / ((uint64_t)big * 8);
	uint64_t s = eights * 8;

	if (s < 8)
		s = 8;
	if (s > long_side)
		s = long_side;
	return (unsigned)s;
}

/*
 * Width and height for ratio ("16:9") with the given long side.  The long
 * side is long_side exactly (raised to 8 when smaller); the other side is
 * proportional, rounded to the nearest multiple of 8 and at least 8.  A
 * ratio that is NULL or not one of spreadsheet.md's gives a square.
 */
void engine_size_for_ratio(const char *ratio, unsigned long_side,
			   unsigned *width, unsigned *height)
{
	unsigned rw = 1, rh = 1;
	size_t i;

	assert(width && height);
	if (long_side < 8)
		long_side = 8;
	for (i = 0; ratio && i < sizeof(ratios) / sizeof(ratios[0]); i++) {
		if (!strcmp(ratio, ratios[i].name)) {
			rw = ratios[i].w;
			rh = ratios[i].h;
			break;
		}
	}
	if (rw >= rh) {
		*width = long_side;
		*height = rw == rh ? long_side : short_side(long_side, rh, rw);
	}
	else {
		*height = long_side;
		*width = short_side(long_side, rw, rh);
	}
}
