/*
 * route.c — the pure parts of request handling: the path matcher, the URL
 * unescaper kilnd gives libmicrohttpd, and the parsing of JSON bodies.
 *
 * DESIGN
 * These functions take bytes and return bytes, with no connection, store or
 * daemon, so that server.c, the handlers and the libFuzzer harnesses of
 * tests/fuzz/ (fuzz_route.c, fuzz_json.c, fuzz_multipart.c) call the very same code.
 * api_url_unescape() decodes %XX like MHD_http_unescape() except %00, which
 * it leaves as the three characters "%00": a decoded NUL would end the path
 * as kilnd reads it (so "/web/app.js%00../x" was app.js), and server.c
 * refuses with 400 any path that still holds "%00".
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "sheet/sheet.h"

int api_route_match(const char *pattern, const char *path, char params[][API_PARAM_MAX])
{
	unsigned np = 0;

	while (*pattern && *path) {
		if (*pattern == ':') {
			const char *end = strchr(path, '/');
			size_t n = end ? (size_t)(end - path) : strlen(path);

			if (n == 0 || n >= API_PARAM_MAX || np >= API_MAX_PARAMS)
				return 0;
			memcpy(params[np], path, n);
			params[np][n] = '\0';
			np++;
			path += n;
			while (*pattern && *pattern != '/')
				pattern++;
			continue;
		}
		if (*pattern != *path)
			return 0;
		pattern++;
		path++;
	}
	return *pattern == '\0' && *path == '\0';
}

/* The value of a hex digit, or -1. */
static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t api_url_unescape(char *s)
{
	char *w = s;

	for (const char *r = s; *r;) {
		int hi = r[0] == '%' ? hex_value(r[1]) : -1;
		int lo = hi >= 0 ? hex_value(r[2]) : -1;

		if (hi >= 0 && lo >= 0 && (hi | lo) != 0) {
			*w++ = (char)(hi * 16 + lo);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

cJSON *api_json_object(const char *body, size_t len)
{
	cJSON *root;

	if (!body || len == 0)
		return NULL;
	root = cJSON_ParseWithLength(body, len);
	if (!root || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

void api_body_append(struct api_request *req, const char *data, size_t size, size_t limit)
{
	if (req->too_big)
		return;
	if (req->body_len + size > limit) {
		req->too_big = 1;
		free(req->body);
		req->body = NULL;
		req->body_len = req->body_cap = 0;
		return;
	}
	if (req->body_len + size + 1 > req->body_cap) {
		size_t cap = req->body_cap ? req->body_cap : 16384;
		char *nb;

		while (cap < req->body_len + size + 1)
			cap *= 2;
		if (cap > limit + 1)
			cap = limit + 1;
		nb = realloc(req->body, cap);
		if (!nb) {
			req->too_big = 1;
			return;
		}
		req->body = nb;
		req->body_cap = cap;
	}
	memcpy(req->body + req->body_len, data, size);
	req->body_len += size;
	req->body[req->body_len] = '\0';
}

enum MHD_Result api_post_iter(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *filename, const char *content_type,
				 const char *transfer_encoding, const char *data,
				 uint64_t off, size_t size)
{
	struct api_request *req = cls;

	(void)kind;
	(void)content_type;
	(void)transfer_encoding;
	(void)off;
	if (!key || strcmp(key, "file") != 0)
		return MHD_YES;
	if (filename && !req->file_name)
		req->file_name = strdup(filename);
	if (size > 0)
		api_body_append(req, data, size, req->upload_max);
	else if (!req->body)
		api_body_append(req, "", 0, req->upload_max);
	return MHD_YES;
}

int api_account_name_ok(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len > 100 || sheet_utf8_valid((const unsigned char *)n, len) != len)
		return 0;
	for (const unsigned char *p = (const unsigned char *)n; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	}
	return 1;
}
