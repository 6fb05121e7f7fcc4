/*
 * fuzz_route.c — libFuzzer harness for kilnd's routing: the URL unescaper
 * libmicrohttpd calls on every path and query (api_url_unescape) and the
 * path matcher (api_route_match), from api/route.c.
 *
 * DESIGN
 * The input is a raw path.  It is unescaped as MHD would, then matched
 * against every pattern of kilnd's routing table (API_ROUTES of api/api.h,
 * and two patterns of test's own).  Checked on each input: no sanitizer
 * report; the unescaped text is no longer than the input and holds no NUL
 * before its returned length (a NUL there would cut the path kilnd reads);
 * on a match, each parameter is 1 to 63 bytes without '/', and the pattern
 * with its parameters put back gives the path exactly (nothing is skipped
 * or invented by the matcher).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PATTERN(method, pattern, handler, flags) pattern,
static const char *const patterns[] = {
	API_ROUTES(PATTERN)
	"/x/:a/:b", "/:a/y/:b/",     /* two parameters; a trailing slash */
};
#undef PATTERN

/* The pattern with its :name segments replaced by params, into out. */
static void rebuild(const char *pattern, char params[][API_PARAM_MAX], char *out)
{
	unsigned np = 0;

	while (*pattern) {
		if (*pattern == ':') {
			size_t n = strlen(params[np]);

			memcpy(out, params[np++], n);
			out += n;
			while (*pattern && *pattern != '/')
				pattern++;
			continue;
		}
		*out++ = *pattern++;
	}
	*out = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = malloc(size + 1), *buf;
	size_t n;

	if (!path)
		return 0;
	memcpy(path, data, size);
	path[size] = '\0';
	n = api_url_unescape(path);
	if (n > strnlen((const char *)data, size) || strlen(path) != n)
		abort();
	buf = malloc(n + 1);
	for (size_t i = 0; buf && i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		char params[API_MAX_PARAMS][API_PARAM_MAX];

		memset(params, 0, sizeof(params));
		if (!api_route_match(patterns[i], path, params))
			continue;
		for (unsigned p = 0; p < API_MAX_PARAMS; p++) {
			if (strnlen(params[p], API_PARAM_MAX) >= API_PARAM_MAX || strchr(params[p], '/'))
				abort();
		}
		rebuild(patterns[i], params, buf);
		if (strcmp(buf, path) != 0)
			abort();
	}
	free(buf);
	free(path);
	return 0;
}
