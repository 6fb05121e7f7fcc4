/*
 * engine.h — the one interface every image engine implements.
 *
 * DESIGN
 * The scheduler hands an engine one image at a time (a row's fields, the
 * image's 1-based index in its row, the seed to use) and gets back the
 * encoded image bytes, their media type, size and the seed actually used.
 * The scheduler does not know which engine runs: engine_create() picks it by
 * name from the config.  An engine is shared by every worker thread, so
 * generate() must be thread-safe; per-call state lives on the caller's stack.
 *
 * Cancellation: generate() polls *cancel (set by another thread when the
 * batch is stopped) at least every 50 ms and returns ENGINE_CANCELLED soon
 * after it becomes non-zero.  Nothing is written to disk by an engine: the
 * worker makes the image durable.
 */
#ifndef KILN_ENGINE_H
#define KILN_ENGINE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "../sheet/sheet.h"

struct config;

enum engine_status {
	ENGINE_OK = 0,
	ENGINE_CANCELLED,        /* *cancel was set: the image goes back to pending */
	ENGINE_RETRY,            /* transient fault: try again later */
	ENGINE_FAIL,             /* this image cannot be made (a per-row problem) */
	ENGINE_FATAL             /* the engine itself is unusable (misconfigured) */
};

struct engine_request {
	const char *image_id;             /* the store's id of the image */
	const struct sheet_fields *fields; /* the row, defaults applied */
	int index;                        /* 1..num_images */
	int64_t seed;                     /* seed to use, or -1 to let the engine pick */
};

struct engine_image {
	unsigned char *data;     /* encoded bytes, malloc'd, owned by the caller after OK */
	size_t len;
	char mime[32];           /* "image/png" */
	char ext[8];             /* "png" */
	unsigned width, height;
	int64_t seed;            /* the seed used */
	char ignored[256];       /* comma-separated fields the engine could not honour, or "" */
};

struct engine_ops {
	const char *name;
	enum engine_status (*generate)(void *state, const struct engine_request *req,
				       const atomic_int *cancel, struct engine_image *out,
				       char *err, size_t errlen);
	void (*destroy)(void *state);
};

struct engine {
	const struct engine_ops *ops;
	void *state;
};

/*
 * Creates the engine named by cfg->engine.  Returns 0, or -1 with a message
 * in err (unknown name, missing key, ...).
 */
int engine_create(struct engine *e, const struct config *cfg, char *err, size_t errlen);

/* Runs one generation; see enum engine_status.  On ENGINE_OK *out is filled. */
enum engine_status engine_generate(struct engine *e, const struct engine_request *req,
				   const atomic_int *cancel, struct engine_image *out,
				   char *err, size_t errlen);

void engine_destroy(struct engine *e);

void engine_image_free(struct engine_image *img);

/* The built-in engine (engines/builtin.c). */
int engine_builtin_create(struct engine *e, const struct config *cfg, char *err, size_t errlen);

/* Width and height for an aspect ratio ("16:9") with the given long side. */
void engine_size_for_ratio(const char *ratio, unsigned long_side,
			   unsigned *width, unsigned *height);

#endif
