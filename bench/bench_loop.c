/*
 * bench_loop.c — the reference for the pipeline benchmark: a plain loop that
 * makes the same images with the same built-in engine and writes each one
 * the way kilnd does (temporary file, fsync, rename, fsync of the
 * directory), with no store, no scheduler, no HTTP.
 *
 * usage: bench_loop DIR COUNT SIZE — prints "loop  N images  S s  R images/s".
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/config.h"
#include "daemon/engine.h"
#include "daemon/util.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct engine e;
	struct sheet_fields f;
	atomic_int cancel = 0;
	char err[256], tmp[1200], dst[1200], id[33], prompt[64];
	int count, size;
	double t0, t;

	if (argc != 4) {
		fprintf(stderr, "usage: bench_loop DIR COUNT SIZE\n");
		return 2;
	}
	count = atoi(argv[2]);
	size = atoi(argv[3]);
	config_defaults(&cfg);
	cfg.builtin_size = (unsigned)size;
	if (engine_create(&e, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	memset(&f, 0, sizeof(f));
	f.prompt = prompt;
	strcpy(f.visibility, "public");
	strcpy(f.aspect_ratio, "1:1");
	strcpy(f.magic_prompt, "on");
	strcpy(f.model, "2.0");
	strcpy(f.rendering, "default");
	f.negative_prompt = (char *)"";
	strcpy(f.style, "auto");
	f.num_images = 4;
	t0 = now();
	for (int i = 0; i < count; i++) {
		struct engine_request req = { id, &f, i % 4 + 1, -1 };
		struct engine_image img;

		snprintf(prompt, sizeof(prompt), "prompt %d", i / 4);
		util_random_hex(id, 12);
		memset(&img, 0, sizeof(img));
		if (engine_generate(&e, &req, &cancel, &img, err, sizeof(err)) != ENGINE_OK) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		snprintf(tmp, sizeof(tmp), "%s/.%s.png.tmp", argv[1], id);
		snprintf(dst, sizeof(dst), "%s/%s.png", argv[1], id);
		if (util_write_synced(tmp, img.data, img.len, 0640) < 0 ||
		    util_rename_durable(tmp, dst, argv[1]) < 0) {
			perror("write");
			return 1;
		}
		engine_image_free(&img);
	}
	t = now() - t0;
	printf("loop\t%d images\t%.2f s\t%.0f images/s\n", count, t, count / t);
	engine_destroy(&e);
	return 0;
}
