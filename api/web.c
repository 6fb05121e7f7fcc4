/*
 * web.c — the web page: GET / (index.html) and GET /web/<name> (app.css,
 * app.js, the icon), served from bytes built into kilnd.
 *
 * DESIGN
 * scripts/embed-web.sh turns the files of web/ into build/gen/web.c at
 * build time: one table of {path, content type, bytes, ETag}.  A request is
 * answered by an exact match of its path against that table, so nothing a
 * client sends is ever used to open a file and `..` cannot lead anywhere;
 * anything else under /web/ is a 404.  The page itself is public (no token):
 * it holds no data, and asks for a token before it calls the API.
 * Every answer carries a strict Content-Security-Policy (scripts, styles and
 * fetches only from kilnd itself, no inline script or style, images also
 * from blob: URLs, which is how the page shows images it fetched with the
 * token), nosniff, no framing and no referrer.  Caching: `no-cache` with a
 * strong ETag, so a browser revalidates each load and gets a 304 with no
 * body until kilnd is rebuilt with other files.
 */
#include <string.h>

#include "api/api.h"

#define WEB_CSP "default-src 'none'; script-src 'self'; style-src 'self'; " \
		"img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; " \
		"form-action 'self'; frame-ancestors 'none'"

/* Adds the headers every answer of the page carries. */
static void web_headers(struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "Content-Security-Policy", WEB_CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
	MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
}

/* 1 when an If-None-Match header names etag (or is "*"). */
static int etag_matches(const char *inm, const char *etag)
{
	if (!inm)
		return 0;
	return strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL;
}

enum MHD_Result api_web_get(struct api_request *req)
{
	const struct api_web_asset *a = NULL;
	struct MHD_Response *resp;
	unsigned status = MHD_HTTP_OK;

	for (unsigned i = 0; i < api_web_assets_count; i++) {
		if (strcmp(api_web_assets[i].path, req->url) == 0) {
			a = &api_web_assets[i];
			break;
		}
	}
	if (!a)
		return api_error(req, MHD_HTTP_NOT_FOUND, "not_found",
				 "no such file of the web page; open / for the page", NULL);
	if (etag_matches(api_header(req, MHD_HTTP_HEADER_IF_NONE_MATCH), a->etag)) {
		status = MHD_HTTP_NOT_MODIFIED;
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	} else {
		resp = MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
	}
	if (!resp)
		return MHD_NO;
	if (status == MHD_HTTP_OK)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, a->etag);
	web_headers(resp);
	return api_queue(req, status, resp);
}
