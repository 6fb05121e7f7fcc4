/*
 * engine.h — the one interface every image engine implements.
 *
 * DESIGN
 * The scheduler hands an engine one call at a time: a row's fields, the
 * seed to use, and one or more of the row's images (their ids and 1-based
 * indexes), at most engine_max_per_call() of them; it gets back, per image,
 * the encoded bytes, their media type, size, the seed actually used and the
 * fields the engine could not honour, or that image's own failure.  The
 * built-in engine makes one image per call; the network engines ask their
 * service for several images in one call where its API allows it (Ideogram
 * num_images, a1111 batch_size, OpenAI n), which is what those services
 * charge and schedule by.
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

/* One image asked for in a call. */
struct engine_item {
	const char *image_id;
	int index;               /* 1..num_images */
};

struct engine_request {
	const char *image_id;             /* the store's id of the (first) image */
	const struct sheet_fields *fields; /* the row, defaults applied */
	int index;                        /* 1..num_images, of the (first) image */
	int64_t seed;                     /* the row's seed, or -1 to let the engine pick */
	unsigned count;                   /* images in this call (0 is read as 1) */
	const struct engine_item *items;  /* count items (NULL when count <= 1: image_id, index) */
};

struct engine_image {
	unsigned char *data;     /* encoded bytes, malloc'd, owned by the caller after OK */
	size_t len;
	char mime[32];           /* "image/png" */
	char ext[8];             /* "png" */
	unsigned width, height;
	int64_t seed;            /* the seed used */
	char ignored[256];       /* comma-separated fields the engine could not honour, or "" */
	enum engine_status status; /* per image when the call is ENGINE_OK: OK, FAIL or RETRY */
	char error[256];         /* why, when status is not OK */
};

struct engine_ops {
	const char *name;
	enum engine_status (*generate)(void *state, const struct engine_request *req,
				       const atomic_int *cancel, struct engine_image *out,
				       char *err, size_t errlen);
	void (*destroy)(void *state);
	/* images one call may make for this row; NULL means 1 */
	unsigned (*max_per_call)(void *state, const struct sheet_fields *f);
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

/*
 * Runs one call; see enum engine_status.  out has room for req->count
 * images (one when count is 0); on ENGINE_OK each is filled or carries its
 * own status and error.
 */
enum engine_status engine_generate(struct engine *e, const struct engine_request *req,
				   const atomic_int *cancel, struct engine_image *out,
				   char *err, size_t errlen);

void engine_destroy(struct engine *e);

void engine_image_free(struct engine_image *img);

/* How many images of this row one call may make (at least 1). */
unsigned engine_max_per_call(const struct engine *e, const struct sheet_fields *f);

/* The most any row may ask in one call: the size of the scheduler's arrays. */
#define ENGINE_MAX_PER_CALL 8

/* The built-in engine (engines/builtin.c). */
int engine_builtin_create(struct engine *e, const struct config *cfg, char *err, size_t errlen);

/* The network engines (engines/ideogram.c, openai.c, a1111.c; see engines/net.h). */
int engine_ideogram_create(struct engine *e, const struct config *cfg, char *err, size_t errlen);
int engine_openai_create(struct engine *e, const struct config *cfg, char *err, size_t errlen);
int engine_a1111_create(struct engine *e, const struct config *cfg, char *err, size_t errlen);

/* Width and height for an aspect ratio ("16:9") with the given long side. */
void engine_size_for_ratio(const char *ratio, unsigned long_side,
			   unsigned *width, unsigned *height);

#endif
