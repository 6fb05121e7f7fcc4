/*
 * fuzz_json.c — libFuzzer harness for kilnd's JSON request bodies: the
 * start body ({"webhook_url": …}) and the account bodies (name, credits,
 * limits), read through api_json_object() (api/route.c), the function the
 * handlers use, and then the fields the handlers look up.
 *
 * DESIGN
 * cJSON bounds nesting (CJSON_NESTING_LIMIT, 1000 in Debian 12's cJSON
 * 1.7.15), so deep bodies are refused, not a stack overflow.  Checked on
 * each input: no sanitizer report; api_json_object() gives an object or
 * NULL, never another type; an object printed, parsed and printed again
 * gives the same text (numbers out of double's range aside, which cJSON
 * prints as null; the text and not cJSON_Compare, which a duplicate key
 * fools), so nothing the handlers echo back is mangled.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const keys[] = {
	"webhook_url", "name", "credits", "max_active_batches", "max_queued_images",
	"max_upload_bytes", "delta",
};

/* 1 when a number in j is not finite ("1e999"): cJSON prints those as null. */
static int non_finite(const cJSON *j)
{
	if (cJSON_IsNumber(j) && !isfinite(j->valuedouble))
		return 1;
	for (const cJSON *c = j->child; c; c = c->next) {
		if (non_finite(c))
			return 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *root = api_json_object((const char *)data, size), *again;
	char *text;

	if (!root)
		return 0;
	if (!cJSON_IsObject(root))
		abort();
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, keys[i]);
		const char *s = cJSON_GetStringValue(v);

		if (s)
			(void)api_account_name_ok(s);
	}
	text = non_finite(root) ? NULL : cJSON_PrintUnformatted(root);
	if (text) {
		char *text2;

		again = api_json_object(text, strlen(text));
		text2 = again ? cJSON_PrintUnformatted(again) : NULL;
		if (!text2 || strcmp(text, text2) != 0)
			abort();
		cJSON_Delete(again);
		free(text2);
		free(text);
	}
	cJSON_Delete(root);
	return 0;
}
