/*
 * openai.c — the OpenAI images engine: POST {base}/v1/images/generations
 * with a Bearer key; also any server compatible with that API.
 *
 * DESIGN
 * The model is configured (openai.model, gpt-image-1 by default), so that a
 * compatible self-hosted server works with its own names.  The size sent is
 * the model's allowed size nearest the row's aspect ratio (by the log of
 * the ratio): dall-e-2 256x256, 512x512, 1024x1024 (always 1024x1024);
 * dall-e-3 1024x1024, 1792x1024, 1024x1792; gpt-image-1 and every other
 * model 1024x1024, 1536x1024, 1024x1536.  When that size is more than 5 %
 * off the ratio, aspect_ratio is listed as ignored.  One call asks for
 * every image of the row at once (n), except with dall-e-3, which allows
 * only n = 1: there each image is its own call.  rendering maps to quality
 * (dall-e-3: quality → hd, else standard; gpt-image-*: turbo → low,
 * default → medium, quality → high; other models have no quality and list
 * rendering as ignored unless it is default).  response_format b64_json is
 * asked for, except from gpt-image-* models, which always answer b64_json
 * and refuse the parameter; an answer that holds url instead is downloaded.
 * dall-e-3's style natural is sent for the style realistic.
 *
 * The API has no seed, negative prompt, palette or magic prompt switch, and
 * the row's model column names Ideogram versions: magic_prompt and model
 * are always listed as ignored; seed, negative_prompt, color_palette and a
 * style other than auto when the row sets them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../config.h"
#include "../engine.h"
#include "net.h"

struct openai {
	struct net_engine ne;    /* first: net_engine_destroy() frees it */
	char model[64];
};

struct size {
	unsigned w, h;
};

static const struct size sizes_dalle2[] = { { 1024, 1024 } };
static const struct size sizes_dalle3[] = { { 1024, 1024 }, { 1792, 1024 }, { 1024, 1792 } };
static const struct size sizes_gpt[] = { { 1024, 1024 }, { 1536, 1024 }, { 1024, 1536 } };

static int is_model(const struct openai *o, const char *name)
{
	return !strcmp(o->model, name);
}

static int is_gpt_image(const struct openai *o)
{
	return !strncmp(o->model, "gpt-image", 9);
}

/* The allowed size nearest the ratio. */
static struct size pick_size(const struct openai *o, const char *ratio)
{
	const struct size *list = sizes_gpt;
	size_t n = 3, i, best = 0;
	double want, bestd = 1e9;
	unsigned rw, rh;

	if (is_model(o, "dall-e-2")) {
		list = sizes_dalle2;
		n = 1;
	} else if (is_model(o, "dall-e-3")) {
		list = sizes_dalle3;
	}
	net_ratio_parse(ratio, &rw, &rh);
	want = log((double)rw / rh);
	for (i = 0; i < n; i++) {
		double d = fabs(log((double)list[i].w / list[i].h) - want);

		if (d < bestd) {
			bestd = d;
			best = i;
		}
	}
	return list[best];
}

static enum engine_status openai_generate(void *state, const struct engine_request *req,
					  const atomic_int *cancel, struct engine_image *out,
					  char *err, size_t errlen)
{
	struct openai *o = state;
	const struct sheet_fields *f = req->fields;
	struct size sz = pick_size(o, f->aspect_ratio);
	char ignored[256] = "", size[24];
	struct net_request nr;
	struct net_json a = { "openai", "data", NULL };
	cJSON *root, *data;
	char *body;
	enum engine_status st;
	unsigned i, have;

	net_ignore(ignored, sizeof(ignored), "magic_prompt");
	net_ignore(ignored, sizeof(ignored), "model");
	if (req->seed >= 0)
		net_ignore(ignored, sizeof(ignored), "seed");
	if (f->negative_prompt && f->negative_prompt[0])
		net_ignore(ignored, sizeof(ignored), "negative_prompt");
	if (f->color_palette && f->color_palette[0])
		net_ignore(ignored, sizeof(ignored), "color_palette");
	if (!net_ratio_close(f->aspect_ratio, sz.w, sz.h))
		net_ignore(ignored, sizeof(ignored), "aspect_ratio");

	root = cJSON_CreateObject();
	if (!root) {
		snprintf(err, errlen, "openai: out of memory");
		return ENGINE_RETRY;
	}
	snprintf(size, sizeof(size), "%ux%u", sz.w, sz.h);
	cJSON_AddStringToObject(root, "model", o->model);
	cJSON_AddStringToObject(root, "prompt", f->prompt ? f->prompt : "");
	cJSON_AddNumberToObject(root, "n", req->count);
	cJSON_AddStringToObject(root, "size", size);
	if (is_model(o, "dall-e-3")) {
		cJSON_AddStringToObject(root, "quality", strcmp(f->rendering, "quality") ? "standard"
										   : "hd");
		if (!strcmp(f->style, "realistic"))
			cJSON_AddStringToObject(root, "style", "natural");
		else if (strcmp(f->style, "auto"))
			net_ignore(ignored, sizeof(ignored), "style");
	} else {
		if (is_gpt_image(o))
			cJSON_AddStringToObject(root, "quality", !strcmp(f->rendering, "turbo") ? "low" :
						!strcmp(f->rendering, "quality") ? "high" : "medium");
		else if (strcmp(f->rendering, "default"))
			net_ignore(ignored, sizeof(ignored), "rendering");
		if (strcmp(f->style, "auto"))
			net_ignore(ignored, sizeof(ignored), "style");
	}
	if (!is_gpt_image(o))
		cJSON_AddStringToObject(root, "response_format", "b64_json");
	body = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!body) {
		snprintf(err, errlen, "openai: out of memory");
		return ENGINE_RETRY;
	}
	memset(&nr, 0, sizeof(nr));
	nr.method = "POST";
	nr.path = "/v1/images/generations";
	nr.content_type = "application/json";
	nr.body = body;
	nr.body_len = strlen(body);
	nr.auth_header = o->ne.auth;
	st = net_call(o->ne.net, &nr, cancel, net_accept_json, &a, err, errlen);
	free(body);
	if (st != ENGINE_OK)
		return st;
	data = cJSON_GetObjectItemCaseSensitive(a.json, "data");
	have = (unsigned)cJSON_GetArraySize(data);
	for (i = 0; i < req->count; i++) {
		struct engine_image *img = &out[i];
		const cJSON *d = i < have ? cJSON_GetArrayItem(data, (int)i) : NULL;
		const cJSON *b64 = d ? cJSON_GetObjectItemCaseSensitive(d, "b64_json") : NULL;
		const cJSON *url = d ? cJSON_GetObjectItemCaseSensitive(d, "url") : NULL;

		snprintf(img->ignored, sizeof(img->ignored), "%s", ignored);
		img->seed = -1;
		if (cJSON_IsString(b64)) {
			net_image_from_base64(img, b64->valuestring);
		} else if (cJSON_IsString(url)) {
			if (net_image_fetch(o->ne.net, url->valuestring, cancel, img) == ENGINE_CANCELLED) {
				cJSON_Delete(a.json);
				snprintf(err, errlen, "openai: cancelled");
				return ENGINE_CANCELLED;
			}
		} else {
			img->status = ENGINE_RETRY;
			snprintf(img->error, sizeof(img->error),
				 "openai: the answer held %u image(s) of the %u asked", have, req->count);
		}
	}
	cJSON_Delete(a.json);
	return ENGINE_OK;
}

/* dall-e-3 makes one image per call; the others up to 10 (n). */
static unsigned openai_max_per_call(void *state, const struct sheet_fields *f)
{
	const struct openai *o = state;

	(void)f;
	return is_model(o, "dall-e-3") ? 1 : 10;
}

static const struct engine_ops openai_ops = {
	"openai",
	openai_generate,
	net_engine_destroy,
	openai_max_per_call,
};

/*
 * Creates the OpenAI engine from cfg->openai: the key (api_key,
 * api_key_file or OPENAI_API_KEY) is required; the model must be named.
 * Returns 0, or -1 with a message in err.
 */
int engine_openai_create(struct engine *e, const struct config *cfg, char *err, size_t errlen)
{
	struct openai *o;

	if (!cfg->openai.model[0]) {
		snprintf(err, errlen, "openai.model is empty; name the model (e.g. gpt-image-1)");
		return -1;
	}
	o = calloc(1, sizeof(*o));
	if (!o) {
		snprintf(err, errlen, "openai: out of memory");
		return -1;
	}
	snprintf(o->model, sizeof(o->model), "%s", cfg->openai.model);
	o->ne.net = net_engine_client("openai", &cfg->openai, "OPENAI_API_KEY", NET_AUTH_BEARER,
				   cfg->workers, o->ne.auth, sizeof(o->ne.auth), err, errlen);
	if (!o->ne.net) {
		free(o);
		return -1;
	}
	e->ops = &openai_ops;
	e->state = o;
	return 0;
}
