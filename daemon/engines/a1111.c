/*
 * a1111.c — the AUTOMATIC1111 engine: POST {base}/sdapi/v1/txt2img, the API
 * of AUTOMATIC1111's web UI and of Forge, SD.Next and other self-hosted
 * Stable Diffusion servers.
 *
 * DESIGN
 * One call makes every image of the row handed over: batch_size = their
 * count, n_iter 1.  prompt and negative_prompt as written; width and height
 * from the aspect ratio keeping the pixel area near base_size² (the size a
 * model is trained at; 1024 gives SDXL's 1344x768 for 16:9), each a
 * multiple of 64; steps from rendering (steps_turbo, steps_default,
 * steps_quality).  A row's seed S is sent as S + (index of the first image
 * − 1): the server gives a batch the seeds S', S'+1, …, so image k of the
 * row always gets seed S + k − 1 however the row is split into calls.
 * Without a seed, −1 (the server picks).  The seeds recorded are the ones
 * the answer's info reports (all_seeds), else the ones sent.  The answer's
 * images are base64 PNGs, checked like any image.  a1111.api_key, when
 * set, is sent as HTTP Basic credentials "user:password" (the server's
 * --api-auth).
 *
 * The API has no magic prompt, palette or style, and the row's model column
 * names Ideogram versions: magic_prompt and model are always listed as
 * ignored, color_palette and style (other than auto) when the row sets them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../config.h"
#include "../engine.h"
#include "net.h"

struct a1111 {
	struct net_engine ne;    /* first: net_engine_destroy() frees it */
	unsigned base_size;
	unsigned steps_turbo, steps_default, steps_quality;
};

/* A side for the ratio part, area base², rounded to a multiple of 64 (at least 64). */
static unsigned side64(unsigned base, double factor)
{
	double v = base * sqrt(factor);
	unsigned n = (unsigned)floor(v / 64.0 + 0.5);

	return (n ? n : 1) * 64;
}

/* Width and height for the ratio around base_size² pixels. */
static void a1111_size(const struct a1111 *a, const char *ratio, unsigned *w, unsigned *h)
{
	unsigned rw, rh;

	net_ratio_parse(ratio, &rw, &rh);
	*w = side64(a->base_size, (double)rw / rh);
	*h = side64(a->base_size, (double)rh / rw);
}

static enum engine_status a1111_generate(void *state, const struct engine_request *req,
					 const atomic_int *cancel, struct engine_image *out,
					 char *err, size_t errlen)
{
	struct a1111 *a = state;
	const struct sheet_fields *f = req->fields;
	char ignored[256] = "";
	struct net_request nr;
	struct net_json ans = { "a1111", "images", NULL };
	cJSON *root, *images, *info = NULL, *seeds = NULL, *it;
	unsigned w, h, steps, i, have;
	int64_t seed = -1;
	char *body;
	enum engine_status st;

	net_ignore(ignored, sizeof(ignored), "magic_prompt");
	net_ignore(ignored, sizeof(ignored), "model");
	if (f->color_palette && f->color_palette[0])
		net_ignore(ignored, sizeof(ignored), "color_palette");
	if (strcmp(f->style, "auto"))
		net_ignore(ignored, sizeof(ignored), "style");
	a1111_size(a, f->aspect_ratio, &w, &h);
	if (!net_ratio_close(f->aspect_ratio, w, h))
		net_ignore(ignored, sizeof(ignored), "aspect_ratio");
	steps = !strcmp(f->rendering, "turbo") ? a->steps_turbo :
		!strcmp(f->rendering, "quality") ? a->steps_quality : a->steps_default;
	if (req->seed >= 0)
		seed = req->seed + req->items[0].index - 1;

	root = cJSON_CreateObject();
	if (!root) {
		snprintf(err, errlen, "a1111: out of memory");
		return ENGINE_RETRY;
	}
	cJSON_AddStringToObject(root, "prompt", f->prompt ? f->prompt : "");
	cJSON_AddStringToObject(root, "negative_prompt", f->negative_prompt ? f->negative_prompt : "");
	cJSON_AddNumberToObject(root, "seed", (double)seed);
	cJSON_AddNumberToObject(root, "width", w);
	cJSON_AddNumberToObject(root, "height", h);
	cJSON_AddNumberToObject(root, "batch_size", req->count);
	cJSON_AddNumberToObject(root, "n_iter", 1);
	cJSON_AddNumberToObject(root, "steps", steps);
	cJSON_AddBoolToObject(root, "send_images", 1);
	cJSON_AddBoolToObject(root, "save_images", 0);
	body = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!body) {
		snprintf(err, errlen, "a1111: out of memory");
		return ENGINE_RETRY;
	}
	memset(&nr, 0, sizeof(nr));
	nr.method = "POST";
	nr.path = "/sdapi/v1/txt2img";
	nr.content_type = "application/json";
	nr.body = body;
	nr.body_len = strlen(body);
	nr.auth_header = a->ne.auth[0] ? a->ne.auth : NULL;
	st = net_call(a->ne.net, &nr, cancel, net_accept_json, &ans, err, errlen);
	free(body);
	if (st != ENGINE_OK)
		return st;
	images = cJSON_GetObjectItemCaseSensitive(ans.json, "images");
	it = cJSON_GetObjectItemCaseSensitive(ans.json, "info");
	if (cJSON_IsString(it)) {
		info = cJSON_Parse(it->valuestring);
		seeds = cJSON_GetObjectItemCaseSensitive(info, "all_seeds");
	}
	have = (unsigned)cJSON_GetArraySize(images);
	for (i = 0; i < req->count; i++) {
		struct engine_image *img = &out[i];
		const cJSON *b64 = i < have ? cJSON_GetArrayItem(images, (int)i) : NULL;
		const cJSON *s = cJSON_IsArray(seeds) ? cJSON_GetArrayItem(seeds, (int)i) : NULL;

		snprintf(img->ignored, sizeof(img->ignored), "%s", ignored);
		if (cJSON_IsNumber(s) && s->valuedouble >= 0 && s->valuedouble <= 9.0e15)
			img->seed = (int64_t)s->valuedouble;
		else
			img->seed = seed >= 0 ? seed + (int64_t)i : -1;
		if (!cJSON_IsString(b64)) {
			img->status = ENGINE_RETRY;
			snprintf(img->error, sizeof(img->error),
				 "a1111: the answer held %u image(s) of the %u asked", have, req->count);
			continue;
		}
		net_image_from_base64(img, b64->valuestring);
	}
	cJSON_Delete(info);
	cJSON_Delete(ans.json);
	return ENGINE_OK;
}

/* batch_size: the row's images in one call. */
static unsigned a1111_max_per_call(void *state, const struct sheet_fields *f)
{
	(void)state;
	(void)f;
	return 8;
}

static const struct engine_ops a1111_ops = {
	"a1111",
	a1111_generate,
	net_engine_destroy,
	a1111_max_per_call,
};

/*
 * Creates the AUTOMATIC1111 engine from cfg->a1111; credentials are
 * optional (api_key "user:password", api_key_file or A1111_API_AUTH).
 * Returns 0, or -1 with a message in err.
 */
int engine_a1111_create(struct engine *e, const struct config *cfg, char *err, size_t errlen)
{
	struct a1111 *a = calloc(1, sizeof(*a));

	if (!a) {
		snprintf(err, errlen, "a1111: out of memory");
		return -1;
	}
	a->base_size = cfg->a1111.base_size;
	a->steps_turbo = cfg->a1111.steps_turbo;
	a->steps_default = cfg->a1111.steps_default;
	a->steps_quality = cfg->a1111.steps_quality;
	a->ne.net = net_engine_client("a1111", &cfg->a1111, "A1111_API_AUTH", NET_AUTH_BASIC,
				   cfg->workers, a->ne.auth, sizeof(a->ne.auth), err, errlen);
	if (!a->ne.net) {
		free(a);
		return -1;
	}
	e->ops = &a1111_ops;
	e->state = a;
	return 0;
}
