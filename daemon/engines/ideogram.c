/*
 * ideogram.c — the Ideogram engine: POST {base}/generate (models 1.0, 2.0,
 * 2a) and POST {base}/v1/ideogram-v3/generate (model 3.0), with the
 * Api-Key header.
 *
 * DESIGN
 * One call asks for every image of the row the scheduler handed over
 * (num_images, up to 8 in the API).  Models 1.0/2.0/2a go to the legacy
 * endpoint as JSON {"image_request": {...}}: aspect_ratio ASPECT_W_H (2:1,
 * 1:2, 5:4, 4:5 are not in its list: the nearest is sent and aspect_ratio
 * listed as ignored), model V_1/V_2/V_2A with _TURBO for rendering turbo
 * (rendering quality has no legacy tier: listed as ignored),
 * magic_prompt_option ON/OFF, style_type (not for V_1, whose style is then
 * ignored), seed, negative_prompt, num_images, color_palette as
 * {"name": "EMBER"} or {"members": [{"color_hex": "#CBA324"}, ...]}.
 * Model 3.0 goes to the 3.0 endpoint as multipart/form-data: aspect_ratio
 * "16x9", rendering_speed TURBO/DEFAULT/QUALITY, magic_prompt ON/OFF,
 * style_type AUTO/GENERAL/REALISTIC/DESIGN (3d and anime have no 3.0
 * equivalent: not sent, listed as ignored), seed, negative_prompt,
 * num_images, and color_palette as a part holding the same JSON object.
 * Model 0.2 has no API equivalent: each of its rows fails with a message.
 *
 * The answer's data[] has one entry per image: url (downloaded at once,
 * the links expire), seed, resolution, is_image_safe.  An image marked
 * unsafe fails (its credit goes back); an entry missing or a download that
 * fails leaves that image to the scheduler's retry.  The seed recorded is
 * the one the service reports; the size is read from the image itself
 * (and a resolution that disagrees is logged).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "../config.h"
#include "../engine.h"
#include "../log.h"
#include "../util.h"
#include "net.h"

struct ideogram {
	struct net_engine ne;    /* first: net_engine_destroy() frees it */
};

/* One text part of a multipart/form-data body. */
static void part(FILE *f, const char *boundary, const char *name, const char *value)
{
	fprintf(f, "--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n", boundary,
		name, value);
}

/* ---- the mappings ------------------------------------------------------- */

/* The legacy aspect ratios; the others map to the nearest of these. */
static const char *legacy_ratio(const char *ratio, int *approx)
{
	static const char *const map[][2] = {
		{ "1:1", "ASPECT_1_1" }, { "16:9", "ASPECT_16_9" }, { "9:16", "ASPECT_9_16" },
		{ "4:3", "ASPECT_4_3" }, { "3:4", "ASPECT_3_4" }, { "3:2", "ASPECT_3_2" },
		{ "2:3", "ASPECT_2_3" }, { "16:10", "ASPECT_16_10" }, { "10:16", "ASPECT_10_16" },
		{ "3:1", "ASPECT_3_1" }, { "1:3", "ASPECT_1_3" },
		/* not in the legacy list: the nearest ratio */
		{ "2:1", "ASPECT_16_9" }, { "1:2", "ASPECT_9_16" }, { "5:4", "ASPECT_4_3" },
		{ "4:5", "ASPECT_3_4" },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (!strcmp(ratio, map[i][0])) {
			*approx = i >= 11;
			return map[i][1];
		}
	}
	*approx = 0;
	return "ASPECT_1_1";
}

static const char *style_name(const char *style)
{
	if (!strcmp(style, "general"))
		return "GENERAL";
	if (!strcmp(style, "realistic"))
		return "REALISTIC";
	if (!strcmp(style, "design"))
		return "DESIGN";
	if (!strcmp(style, "3d"))
		return "RENDER_3D";
	if (!strcmp(style, "anime"))
		return "ANIME";
	return "AUTO";
}

/* Is the palette text one of hex colours (else a preset name)? */
static int palette_is_hex(const char *p)
{
	return p[strspn(p, " ,#0123456789ABCDEFabcdef")] == '\0';
}

/* The color_palette object: {"name": "EMBER"} or {"members": [{"color_hex": "#CBA324"}]}. */
static cJSON *palette_json(const char *p)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	if (palette_is_hex(p)) {
		cJSON *members = cJSON_AddArrayToObject(o, "members");

		while (members && *p) {
			char hex[8];
			size_t n;
			cJSON *m;

			p += strspn(p, " ,#");
			n = strcspn(p, " ,#");
			if (!n)
				break;
			if (n == 6) {
				snprintf(hex, sizeof(hex), "#%.6s", p);
				m = cJSON_CreateObject();
				if (m) {
					cJSON_AddStringToObject(m, "color_hex", hex);
					cJSON_AddItemToArray(members, m);
				}
			}
			p += n;
		}
	} else {
		char name[32];
		size_t i;

		snprintf(name, sizeof(name), "%s", p);
		for (i = 0; name[i]; i++)
			name[i] = (char)toupper((unsigned char)name[i]);
		cJSON_AddStringToObject(o, "name", name);
	}
	return o;
}

/* ---- the answer --------------------------------------------------------- */

/* Downloads and records the images of the answer into out[0..n). */
static enum engine_status take_images(struct ideogram *ig, const cJSON *data, unsigned n,
				      const atomic_int *cancel, struct engine_image *out,
				      const char *ignored)
{
	unsigned i, have = (unsigned)cJSON_GetArraySize(data);

	for (i = 0; i < n; i++) {
		struct engine_image *img = &out[i];
		const cJSON *d = i < have ? cJSON_GetArrayItem(data, (int)i) : NULL;
		const cJSON *safe, *seed, *url, *res;
		unsigned rw, rh;

		snprintf(img->ignored, sizeof(img->ignored), "%s", ignored);
		img->seed = -1;
		if (!cJSON_IsObject(d)) {
			img->status = ENGINE_RETRY;
			snprintf(img->error, sizeof(img->error),
				 "ideogram: the answer held %u image(s) of the %u asked", have, n);
			continue;
		}
		safe = cJSON_GetObjectItemCaseSensitive(d, "is_image_safe");
		if (cJSON_IsFalse(safe)) {
			img->status = ENGINE_FAIL;
			snprintf(img->error, sizeof(img->error),
				 "ideogram: the service marked this image unsafe, so it is not kept");
			continue;
		}
		url = cJSON_GetObjectItemCaseSensitive(d, "url");
		if (net_image_fetch(ig->ne.net, cJSON_IsString(url) ? url->valuestring : NULL, cancel,
				    img) == ENGINE_CANCELLED)
			return ENGINE_CANCELLED;
		if (img->status != ENGINE_OK)
			continue;
		seed = cJSON_GetObjectItemCaseSensitive(d, "seed");
		if (cJSON_IsNumber(seed) && seed->valuedouble >= 0 && seed->valuedouble <= 4294967295.0)
			img->seed = (int64_t)seed->valuedouble;
		res = cJSON_GetObjectItemCaseSensitive(d, "resolution");
		if (cJSON_IsString(res) && sscanf(res->valuestring, "%ux%u", &rw, &rh) == 2 &&
		    (rw != img->width || rh != img->height))
			log_warn("ideogram: the service reported %s but the image is %ux%u",
				 res->valuestring, img->width, img->height);
	}
	return ENGINE_OK;
}

/* ---- the request -------------------------------------------------------- */

/* The legacy /generate body; NULL when out of memory.  Fills ignored. */
static char *legacy_body(const struct sheet_fields *f, int64_t seed, unsigned n,
			 char *ignored, size_t iglen)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *r = cJSON_AddObjectToObject(root, "image_request");
	char model[16];
	int approx;
	char *text;

	if (!r) {
		cJSON_Delete(root);
		return NULL;
	}
	if (!strcmp(f->model, "1.0"))
		snprintf(model, sizeof(model), "V_1");
	else if (!strcmp(f->model, "2a"))
		snprintf(model, sizeof(model), "V_2A");
	else
		snprintf(model, sizeof(model), "V_2");
	if (!strcmp(f->rendering, "turbo"))
		snprintf(model + strlen(model), sizeof(model) - strlen(model), "_TURBO");
	else if (!strcmp(f->rendering, "quality"))
		net_ignore(ignored, iglen, "rendering");
	cJSON_AddStringToObject(r, "prompt", f->prompt ? f->prompt : "");
	cJSON_AddStringToObject(r, "aspect_ratio", legacy_ratio(f->aspect_ratio, &approx));
	if (approx)
		net_ignore(ignored, iglen, "aspect_ratio");
	cJSON_AddStringToObject(r, "model", model);
	cJSON_AddStringToObject(r, "magic_prompt_option",
				strcmp(f->magic_prompt, "off") ? "ON" : "OFF");
	if (strcmp(f->model, "1.0"))
		cJSON_AddStringToObject(r, "style_type", style_name(f->style));
	else if (strcmp(f->style, "auto"))
		net_ignore(ignored, iglen, "style");
	if (seed >= 0)
		cJSON_AddNumberToObject(r, "seed", (double)seed);
	if (f->negative_prompt && f->negative_prompt[0])
		cJSON_AddStringToObject(r, "negative_prompt", f->negative_prompt);
	cJSON_AddNumberToObject(r, "num_images", n);
	if (f->color_palette && f->color_palette[0])
		cJSON_AddItemToObject(r, "color_palette", palette_json(f->color_palette));
	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return text;
}

/* The 3.0 multipart body into b; boundary given.  Fills ignored. */
static void v3_body(FILE *b, const char *boundary, const struct sheet_fields *f,
		    int64_t seed, unsigned n, char *ignored, size_t iglen)
{
	char ratio[12], num[24];
	unsigned rw, rh;

	net_ratio_parse(f->aspect_ratio, &rw, &rh);
	snprintf(ratio, sizeof(ratio), "%ux%u", rw, rh);
	part(b, boundary, "prompt", f->prompt ? f->prompt : "");
	part(b, boundary, "aspect_ratio", ratio);
	part(b, boundary, "rendering_speed", !strcmp(f->rendering, "turbo") ? "TURBO" :
	     !strcmp(f->rendering, "quality") ? "QUALITY" : "DEFAULT");
	part(b, boundary, "magic_prompt", strcmp(f->magic_prompt, "off") ? "ON" : "OFF");
	if (!strcmp(f->style, "3d") || !strcmp(f->style, "anime"))
		net_ignore(ignored, iglen, "style");
	else
		part(b, boundary, "style_type", style_name(f->style));
	if (seed >= 0) {
		snprintf(num, sizeof(num), "%lld", (long long)seed);
		part(b, boundary, "seed", num);
	}
	if (f->negative_prompt && f->negative_prompt[0])
		part(b, boundary, "negative_prompt", f->negative_prompt);
	snprintf(num, sizeof(num), "%u", n);
	part(b, boundary, "num_images", num);
	if (f->color_palette && f->color_palette[0]) {
		cJSON *p = palette_json(f->color_palette);
		char *text = p ? cJSON_PrintUnformatted(p) : NULL;

		part(b, boundary, "color_palette", text ? text : "{}");
		free(text);
		cJSON_Delete(p);
	}
	fprintf(b, "--%s--\r\n", boundary);
}

static enum engine_status ideogram_generate(void *state, const struct engine_request *req,
					    const atomic_int *cancel, struct engine_image *out,
					    char *err, size_t errlen)
{
	struct ideogram *ig = state;
	const struct sheet_fields *f = req->fields;
	struct net_request nr;
	struct net_json a = { "ideogram", "data", NULL };
	char ignored[256] = "", ctype[128], boundary[48];
	char *json = NULL;
	char *mp = NULL;
	size_t mplen = 0;
	enum engine_status st;

	if (!strcmp(f->model, "0.2")) {
		snprintf(err, errlen, "ideogram: model 0.2 has no equivalent in the Ideogram API;"
			 " use 1.0, 2.0, 2a or 3.0");
		return ENGINE_FAIL;
	}
	memset(&nr, 0, sizeof(nr));
	nr.method = "POST";
	nr.auth_header = ig->ne.auth;
	if (!strcmp(f->model, "3.0")) {
		char rnd[17];

		if (util_random_hex(rnd, 8) < 0)
			snprintf(rnd, sizeof(rnd), "%016llx", (unsigned long long)util_mono_ms());
		snprintf(boundary, sizeof(boundary), "kiln-%s", rnd);
		FILE *body = open_memstream(&mp, &mplen);

		if (!body) {
			snprintf(err, errlen, "ideogram: out of memory");
			return ENGINE_RETRY;
		}
		v3_body(body, boundary, f, req->seed, req->count, ignored, sizeof(ignored));
		if (ferror(body) | fclose(body)) {
			free(mp);
			snprintf(err, errlen, "ideogram: out of memory");
			return ENGINE_RETRY;
		}
		snprintf(ctype, sizeof(ctype), "multipart/form-data; boundary=%s", boundary);
		nr.path = "/v1/ideogram-v3/generate";
		nr.content_type = ctype;
		nr.body = mp;
		nr.body_len = mplen;
	} else {
		json = legacy_body(f, req->seed, req->count, ignored, sizeof(ignored));
		if (!json) {
			snprintf(err, errlen, "ideogram: out of memory");
			return ENGINE_RETRY;
		}
		nr.path = "/generate";
		nr.content_type = "application/json";
		nr.body = json;
		nr.body_len = strlen(json);
	}
	st = net_call(ig->ne.net, &nr, cancel, net_accept_json, &a, err, errlen);
	free(json);
	free(mp);
	if (st != ENGINE_OK)
		return st;
	st = take_images(ig, cJSON_GetObjectItemCaseSensitive(a.json, "data"), req->count, cancel,
			 out, ignored);
	cJSON_Delete(a.json);
	if (st != ENGINE_OK)
		snprintf(err, errlen, "ideogram: cancelled");
	return st;
}

/* As many images as the row asks, in one call (the API allows 8). */
static unsigned ideogram_max_per_call(void *state, const struct sheet_fields *f)
{
	(void)state;
	(void)f;
	return 8;
}

static const struct engine_ops ideogram_ops = {
	"ideogram",
	ideogram_generate,
	net_engine_destroy,
	ideogram_max_per_call,
};

/*
 * Creates the Ideogram engine from cfg->ideogram: the key (api_key,
 * api_key_file or IDEOGRAM_API_KEY) is required.  Returns 0, or -1 with a
 * message in err.
 */
int engine_ideogram_create(struct engine *e, const struct config *cfg, char *err, size_t errlen)
{
	struct ideogram *ig = calloc(1, sizeof(*ig));

	if (!ig) {
		snprintf(err, errlen, "ideogram: out of memory");
		return -1;
	}
	ig->ne.net = net_engine_client("ideogram", &cfg->ideogram, "IDEOGRAM_API_KEY", NET_AUTH_API_KEY,
				    cfg->workers, ig->ne.auth, sizeof(ig->ne.auth), err, errlen);
	if (!ig->ne.net) {
		free(ig);
		return -1;
	}
	e->ops = &ideogram_ops;
	e->state = ig;
	return 0;
}
