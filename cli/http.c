/*
 * http.c — the kiln CLI's requests to kilnd through libcurl (see http.h).
 *
 * DESIGN
 * One easy handle per client, reset before each request, so connections are
 * kept alive between the requests of one command (watch polls once a second).
 * The answer is gathered in memory, unless the request gives a sink (a 2xx
 * body then goes to the file, an error body still to memory so it can be
 * reported) or an on_data callback (the event stream).  The progress callback
 * (CURLOPT_XFERINFOFUNCTION) is libcurl's own clock: it runs about once a
 * second even when no byte arrives, which is what lets `watch` redraw its
 * ETA and give up on a silent stream.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/http.h"

int http_client_init(struct http_client *c, const char *base, const char *token)
{
	size_t n;

	memset(c, 0, sizeof(*c));
	c->h = curl_easy_init();
	c->base = strdup(base);
	if (!c->h || !c->base)
		return -1;
	n = strlen(c->base);
	while (n > 0 && c->base[n - 1] == '/')
		c->base[--n] = '\0';
	if (token && *token) {
		size_t len = strlen(token) + 32;

		c->auth = malloc(len);
		if (!c->auth)
			return -1;
		snprintf(c->auth, len, "Authorization: Bearer %s", token);
	}
	return 0;
}

int http_client_clone(struct http_client *dst, const struct http_client *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->h = curl_easy_init();
	dst->base = strdup(src->base);
	dst->auth = src->auth ? strdup(src->auth) : NULL;
	if (!dst->h || !dst->base || (src->auth && !dst->auth))
		return -1;
	return 0;
}

void http_client_free(struct http_client *c)
{
	if (c->h)
		curl_easy_cleanup(c->h);
	free(c->base);
	free(c->auth);
	memset(c, 0, sizeof(*c));
}

void http_resp_free(struct http_resp *resp)
{
	free(resp->body);
	free(resp->content_type);
	free(resp->filename);
	memset(resp, 0, sizeof(*resp));
}

struct xfer {
	const struct http_req *req;
	struct http_resp *resp;
	CURL *h;
	size_t cap;
	int write_failed;
};

/* Appends to the in-memory body; -1 when out of memory. */
static int body_add(struct xfer *x, const char *data, size_t n)
{
	struct http_resp *r = x->resp;

	if (r->len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 4096;
		char *nb;

		while (cap < r->len + n + 1)
			cap *= 2;
		nb = realloc(r->body, cap);
		if (!nb)
			return -1;
		r->body = nb;
		x->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return 0;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t n = size * nmemb;
	long status = 0;

	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300 && x->req->on_data) {
		if (!x->req->on_data(x->req->ctx, data, n)) {
			x->resp->stopped = 1;
			return 0;
		}
		return n;
	}
	if (status >= 200 && status < 300 && x->req->sink) {
		if (fwrite(data, 1, n, x->req->sink) != n) {
			x->write_failed = 1;
			return 0;
		}
		return n;
	}
	if (body_add(x, data, n) < 0) {
		x->write_failed = 1;
		return 0;
	}
	return n;
}

/* A Content-Disposition file name reduced to a safe base name, or NULL. */
static char *disposition_name(const char *v)
{
	const char *p = strstr(v, "filename=");
	char out[256];
	size_t o = 0;

	if (!p)
		return NULL;
	p += 9;
	if (*p == '"')
		p++;
	for (; *p && *p != '"' && *p != ';' && *p != '\r' && *p != '\n' && o + 1 < sizeof(out); p++) {
		if (*p == '/' || *p == '\\') {
			o = 0;             /* keep only the last path component */
			continue;
		}
		if ((unsigned char)*p < 0x20)
			continue;
		out[o++] = *p;
	}
	out[o] = '\0';
	while (o > 0 && isspace((unsigned char)out[o - 1]))
		out[--o] = '\0';
	if (o == 0 || out[0] == '.')
		return NULL;
	return strdup(out);
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t n = size * nmemb;
	char line[1024];
	size_t len = n < sizeof(line) - 1 ? n : sizeof(line) - 1;

	memcpy(line, data, len);
	line[len] = '\0';
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		line[--len] = '\0';
	if (strncasecmp(line, "HTTP/", 5) == 0) {
		/* a new answer (after a 100 Continue): forget the previous headers */
		free(x->resp->content_type);
		free(x->resp->filename);
		x->resp->content_type = NULL;
		x->resp->filename = NULL;
	} else if (strncasecmp(line, "Content-Type:", 13) == 0) {
		const char *v = line + 13;

		while (*v == ' ')
			v++;
		free(x->resp->content_type);
		x->resp->content_type = strdup(v);
	} else if (strncasecmp(line, "Content-Disposition:", 20) == 0) {
		free(x->resp->filename);
		x->resp->filename = disposition_name(line + 20);
	}
	return n;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct xfer *x = userdata;
	long status = 0;

	(void)ultotal;
	(void)ulnow;
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	if (status != 0 && (status < 200 || status >= 300))
		return 0;
	if (x->req->on_tick(x->req->ctx, (long long)dlnow, (long long)dltotal)) {
		x->resp->stopped = 1;
		return 1;
	}
	return 0;
}

int http_request(struct http_client *c, const struct http_req *req, struct http_resp *resp)
{
	struct curl_slist *hdrs = NULL;
	curl_mime *mime = NULL;
	struct xfer x;
	CURLcode rc;
	char *url;
	size_t ulen;
	char accept[256];

	memset(resp, 0, sizeof(*resp));
	memset(&x, 0, sizeof(x));
	x.req = req;
	x.resp = resp;
	x.h = c->h;
	ulen = strlen(c->base) + strlen(req->path) + 1;
	url = malloc(ulen);
	if (!url) {
		snprintf(c->err, sizeof(c->err), "out of memory");
		return -1;
	}
	snprintf(url, ulen, "%s%s", c->base, req->path);
	curl_easy_reset(c->h);
	c->err[0] = '\0';
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->err);
	curl_easy_setopt(c->h, CURLOPT_USERAGENT, "kiln-cli/1");
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->h, CURLOPT_HEADERDATA, &x);
	if (req->timeout_s > 0)
		curl_easy_setopt(c->h, CURLOPT_TIMEOUT, req->timeout_s);
	if (req->on_tick) {
		curl_easy_setopt(c->h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(c->h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(c->h, CURLOPT_XFERINFODATA, &x);
	}
	if (c->auth)
		hdrs = curl_slist_append(hdrs, c->auth);
	if (req->accept) {
		snprintf(accept, sizeof(accept), "Accept: %s", req->accept);
		hdrs = curl_slist_append(hdrs, accept);
	}
	if (req->json) {
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, req->json);
	} else if (req->upload) {
		curl_mimepart *part;

		mime = curl_mime_init(c->h);
		part = curl_mime_addpart(mime);
		curl_mime_name(part, "file");
		if (curl_mime_filedata(part, req->upload) != CURLE_OK) {
			snprintf(c->err, sizeof(c->err), "cannot read %s", req->upload);
			curl_mime_free(mime);
			curl_slist_free_all(hdrs);
			free(url);
			return -1;
		}
		curl_easy_setopt(c->h, CURLOPT_MIMEPOST, mime);
		hdrs = curl_slist_append(hdrs, "Expect:");
	}
	if (req->method)
		curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, req->method);
	if (req->method && strcmp(req->method, "POST") == 0 && !req->json && !req->upload)
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(c->h);
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &resp->status);
	curl_slist_free_all(hdrs);
	curl_mime_free(mime);
	free(url);
	if (rc == CURLE_WRITE_ERROR && x.write_failed) {
		snprintf(c->err, sizeof(c->err), "cannot write the answer (disk full, or out of memory)");
		return -1;
	}
	if (rc != CURLE_OK && !resp->stopped && !(resp->status > 0 && rc == CURLE_PARTIAL_FILE)) {
		if (!c->err[0])
			snprintf(c->err, sizeof(c->err), "%s", curl_easy_strerror(rc));
		if (resp->status > 0 && rc != CURLE_OPERATION_TIMEDOUT) {
			/* the answer began and broke off: report it as a broken answer */
			size_t n = strlen(c->err);

			snprintf(c->err + n, sizeof(c->err) - n, " (the answer broke off)");
		}
		return -1;
	}
	if (!resp->body && !req->sink && !req->on_data)
		resp->body = calloc(1, 1);
	return 0;
}

cJSON *http_json(const struct http_resp *resp)
{
	if (!resp->body || resp->len == 0)
		return NULL;
	return cJSON_ParseWithLength(resp->body, resp->len);
}

void http_print_detail(FILE *f, const char *indent, const cJSON *d)
{
	const cJSON *row = cJSON_GetObjectItemCaseSensitive(d, "row");
	const char *col = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "column"));
	const char *cell = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "cell"));
	const char *val = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "value"));
	const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "message"));
	const char *hint = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "hint"));
	const char *sep = "";

	fputs(indent, f);
	if (cJSON_IsNumber(row)) {
		fprintf(f, "row %d", row->valueint);
		sep = ", ";
	}
	if (col) {
		fprintf(f, "%scolumn %s", sep, col);
		sep = ", ";
	}
	if (cell) {
		fprintf(f, "%scell %s", sep, cell);
		sep = ", ";
	}
	if (val) {
		fprintf(f, "%svalue \"%s\"", sep, val);
		sep = ", ";
	}
	fprintf(f, "%s%s", *sep ? ": " : "", msg ? msg : "");
	if (hint && *hint)
		fprintf(f, " (%s)", hint);
	fputc('\n', f);
}

int http_fail(struct http_client *c, int rc, const struct http_resp *resp)
{
	cJSON *root, *err, *details, *d;
	const char *code = NULL, *msg = NULL;

	if (rc < 0) {
		fprintf(stderr, "kiln: cannot reach kilnd at %s: %s\n", c->base, c->err);
		return HTTP_EXIT_CONNECT;
	}
	root = http_json(resp);
	err = cJSON_GetObjectItemCaseSensitive(root, "error");
	code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(err, "code"));
	msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(err, "message"));
	if (msg)
		fprintf(stderr, "kiln: %s (%s, HTTP %ld)\n", msg, code ? code : "error", resp->status);
	else
		fprintf(stderr, "kiln: kilnd answered HTTP %ld%s\n", resp->status,
			resp->status == 404 ? " (is --url the address of kilnd?)" : "");
	details = cJSON_GetObjectItemCaseSensitive(err, "details");
	cJSON_ArrayForEach(d, details)
		http_print_detail(stderr, "  ", d);
	if (resp->status == 401)
		fprintf(stderr, "kiln: set KILN_TOKEN to your token (the admin's is in"
			" <data_dir>/admin.token) or KILN_TOKEN_FILE to a file holding it\n");
	cJSON_Delete(root);
	return HTTP_EXIT_API;
}
