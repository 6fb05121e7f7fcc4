/*
 * server.c — libmicrohttpd set-up, the routing table, authentication, bodies.
 *
 * DESIGN
 * MHD calls on_request() several times per request: once when the headers
 * are in (we find the route, check the token and the declared size, and may
 * answer at once: 401, 404, 405, 413), once per piece of body (appended to
 * req->body, or fed to MHD's multipart post processor which hands us the
 * `file` part), and once more with no data, when the handler runs.  The
 * request's state is a struct api_request, freed in on_completed() together
 * with the store connection it may have borrowed.  A route marked API_READ
 * (it only reads) without a body runs its token lookup and its handler in
 * one read transaction (store_read_begin()), opened in the first call and
 * ended when the handler returns: one snapshot and one WAL read lock per
 * request instead of one per statement.  Nothing a client sends is
 * used as a path: ids in the URL must be kilnd's own 24-hex-digit ids, or
 * the answer is 404.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "api/api.h"
#include "api/jsonw.h"
#include "daemon/kiln.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/util.h"

#define API_JSON_MAX (64 * 1024)
#define API_MULTIPART_SLACK (64 * 1024)

struct api_server {
	struct kiln *k;
	struct MHD_Daemon *d;
	unsigned port;
};

#define API_ROUTE_ENTRY(method, pattern, handler, flags) { method, pattern, handler, flags },
static const struct api_route api_routes[] = { API_ROUTES(API_ROUTE_ENTRY) };
#undef API_ROUTE_ENTRY

struct store *api_store(struct api_request *req)
{
	if (!req->st)
		req->st = store_pool_get(req->k->pool);
	return req->st;
}

enum MHD_Result api_queue(struct api_request *req, unsigned status, struct MHD_Response *resp)
{
	enum MHD_Result r;

	if (!resp)
		return MHD_NO;
	req->status = status;
	/* counted when queued, so a scrape right after an answer already sees it */
	metrics_http(req->k->metrics, req->route_idx, status);
	if (req->request_id[0])
		MHD_add_response_header(resp, "X-Request-Id", req->request_id);
	/* a body refused or cut short: the connection is not reused (MHD would
	 * wait on it for a next request that a hostile client never sends) */
	if (status == MHD_HTTP_CONTENT_TOO_LARGE || req->too_big || req->bad_body)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	r = MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

enum MHD_Result api_reply_data(struct api_request *req, unsigned status, const char *type,
			       const void *data, size_t len)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	return api_queue(req, status, resp);
}

enum MHD_Result api_reply_json(struct api_request *req, unsigned status, cJSON *obj)
{
	char *text;

	text = obj ? cJSON_PrintUnformatted(obj) : NULL;
	cJSON_Delete(obj);
	return api_reply_json_text(req, status, text, text ? strlen(text) : 0);
}

enum MHD_Result api_reply_json_text(struct api_request *req, unsigned status, char *text,
				    size_t len)
{
	struct MHD_Response *resp;

	if (!text)
		return MHD_NO;
	text[len] = '\n';          /* replaces the NUL: it was allocated */
	resp = MHD_create_response_from_buffer(len + 1, text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return api_queue(req, status, resp);
}

enum MHD_Result api_error(struct api_request *req, unsigned status, const char *code,
			  const char *message, cJSON *details)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *err = cJSON_AddObjectToObject(root, "error");

	cJSON_AddStringToObject(err, "code", code);
	cJSON_AddStringToObject(err, "message", message);
	if (details)
		cJSON_AddItemToObject(err, "details", details);
	return api_reply_json(req, status, root);
}

enum MHD_Result api_internal(struct api_request *req)
{
	if (store_disk_full(req->st)) {
		char msg[1200];

		kiln_disk_full_message(req->k, msg, sizeof(msg));
		return api_disk_full(req, msg);
	}
	return api_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
			 "kilnd could not complete the request; it is logged — try again", NULL);
}

enum MHD_Result api_disk_full(struct api_request *req, const char *why)
{
	char msg[1400];

	snprintf(msg, sizeof(msg), "%s; free space there and try again", why);
	return api_error(req, MHD_HTTP_INSUFFICIENT_STORAGE, "insufficient_storage", msg, NULL);
}

const char *api_arg(struct api_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *api_header(struct api_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

int api_limit(struct api_request *req, unsigned *limit)
{
	const char *v = api_arg(req, "limit");
	char *end;
	long n;

	*limit = 50;
	if (!v)
		return 0;
	n = strtol(v, &end, 10);
	if (*v == '\0' || *end || n < 1 || n > 500)
		return -1;
	*limit = (unsigned)n;
	return 0;
}

cJSON *api_time(int64_t ms)
{
	char buf[32];

	if (ms <= 0)
		return cJSON_CreateNull();
	util_time_rfc3339(ms, buf, sizeof(buf));
	return cJSON_CreateString(buf);
}

cJSON *api_add_int(cJSON *obj, const char *name, int64_t v)
{
	char buf[24], *p = buf + sizeof(buf) - 1;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	*p = '\0';
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	return cJSON_AddRawToObject(obj, name, p);
}

void api_fields_write(struct jsonw *w, const char *key, const struct sheet_fields *f)
{
	jsonw_object(w, key);
	jsonw_str(w, "prompt", f->prompt ? f->prompt : "");
	jsonw_str(w, "visibility", f->visibility);
	jsonw_str(w, "aspect_ratio", f->aspect_ratio);
	jsonw_str(w, "magic_prompt", f->magic_prompt);
	jsonw_str(w, "model", f->model);
	if (f->seed >= 0)
		jsonw_int(w, "seed_number", f->seed);
	else
		jsonw_null(w, "seed_number");
	jsonw_str(w, "rendering", f->rendering);
	jsonw_str(w, "negative_prompt", f->negative_prompt ? f->negative_prompt : "");
	jsonw_str(w, "style", f->style);
	jsonw_str(w, "color_palette", f->color_palette);    /* NULL: null */
	jsonw_int(w, "num_images", f->num_images);
	jsonw_end(w, '}');
}

cJSON *api_fields_json(const struct sheet_fields *f)
{
	struct jsonw w;
	char *text;
	cJSON *o;

	jsonw_init(&w, 512);
	api_fields_write(&w, NULL, f);
	text = jsonw_finish(&w, NULL);
	o = text ? cJSON_CreateRaw(text) : NULL;
	free(text);
	return o;
}

/*
 * 16 hex digits that differ from request to request: a SplitMix64 sequence
 * per HTTP thread, seeded from getrandom(2) on the thread's first request,
 * so a request costs no system call for its id (ids name log lines; they
 * are no secret).  0 and -1 when the seed cannot be had.
 */
static int request_id_make(char *out)
{
	static const char hex[] = "0123456789abcdef";
	static _Thread_local uint64_t state;
	static _Thread_local int seeded;
	uint64_t z;

	if (!seeded) {
		char seed[17];

		if (util_random_hex(seed, 8) < 0)
			return -1;
		state = strtoull(seed, NULL, 16);
		seeded = 1;
	}
	z = (state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	for (int i = 15; i >= 0; i--, z >>= 4)
		out[i] = hex[z & 15];
	out[16] = '\0';
	return 0;
}

/*
 * The request's id: the client's X-Request-Id when it is 1 to 36 characters
 * of [A-Za-z0-9._-] (so a proxy's id carries through), else 16 random hex
 * digits.
 */
static void request_id(struct api_request *req)
{
	const char *h = api_header(req, "X-Request-Id");
	size_t n = h ? strlen(h) : 0;
	int ok = n > 0 && n <= 36;

	for (size_t i = 0; ok && i < n; i++) {
		char c = h[i];

		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		     c == '.' || c == '_' || c == '-';
	}
	if (ok)
		memcpy(req->request_id, h, n + 1);
	else if (request_id_make(req->request_id) < 0)
		snprintf(req->request_id, sizeof(req->request_id), "%llx",
			 (unsigned long long)util_mono_ms());
}

/* Authenticates the caller into req->account; 0, or -1 with the 401 queued. */
static int authenticate(struct api_request *req, enum MHD_Result *ret)
{
	const char *h = api_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
	struct store *st;
	char hash[65];
	int rc;

	st = api_store(req);
	if (!st) {
		*ret = api_internal(req);
		return -1;
	}
	if (req->k->cfg.auth == CONFIG_AUTH_NONE) {
		if (store_account_get(st, req->k->admin_id, &req->account) == STORE_OK)
			return 0;
		*ret = api_internal(req);
		return -1;
	}
	if (!h || strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0') {
		*ret = api_error(req, MHD_HTTP_UNAUTHORIZED, "unauthorized",
				 "send the header Authorization: Bearer <token> (the admin's token is"
				 " in <data_dir>/admin.token)", NULL);
		return -1;
	}
	util_sha256_hex(h + 7, strlen(h + 7), hash);
	rc = store_account_by_token(st, hash, &req->account);
	if (rc == STORE_OK)
		return 0;
	if (rc == STORE_NOT_FOUND)
		*ret = api_error(req, MHD_HTTP_UNAUTHORIZED, "unauthorized",
				 "this token is not valid; check KILN_TOKEN or admin.token", NULL);
	else
		*ret = api_internal(req);
	return -1;
}

/* First call of a request: route, authenticate, look at the declared body. */
static enum MHD_Result begin(struct api_request *req, const char *url, const char *method,
			     int *answered)
{
	const char *lookup = strcmp(method, "HEAD") == 0 ? "GET" : method;
	const char *type, *len;
	int path_known = 0;
	enum MHD_Result ret = MHD_YES;

	*answered = 1;
	if (strstr(url, "%00"))
		return api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
				 "the path holds %00 (a NUL byte), which no kilnd path has", NULL);
	for (size_t i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]); i++) {
		char params[API_MAX_PARAMS][API_PARAM_MAX];

		if (!api_route_match(api_routes[i].pattern, url, params))
			continue;
		path_known = 1;
		if (strcmp(api_routes[i].method, lookup) != 0)
			continue;
		req->route = &api_routes[i];
		req->route_idx = (int)i;
		memcpy(req->params, params, sizeof(params));
		break;
	}
	if (!req->route) {
		if (path_known)
			return api_error(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
					 "this path does not take that method; see the API reference",
					 NULL);
		return api_error(req, MHD_HTTP_NOT_FOUND, "not_found", "no such path", NULL);
	}
	req->upload_max = req->k->cfg.max_upload_bytes;
	len = api_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	/* a read-only route without a body: the token lookup and the handler in one read transaction */
	if ((req->route->flags & API_READ) && (!len || strtoull(len, NULL, 10) == 0) &&
	    !api_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING) && api_store(req) &&
	    store_read_begin(req->st) == STORE_OK)
		req->read_txn = 1;
	if (!(req->route->flags & API_PUBLIC) &&
	    !((req->route->flags & API_METRICS_AUTH) && !req->k->cfg.metrics_require_admin)) {
		unsigned batches, images;

		if (authenticate(req, &ret) < 0)
			return ret;
		if ((req->route->flags & API_METRICS_AUTH) && !req->account.is_admin)
			return api_error(req, MHD_HTTP_FORBIDDEN, "forbidden",
					 "/metrics needs the admin's token (metrics.require_admin is set)",
					 NULL);
		api_account_limits(&req->account, &req->k->cfg, &batches, &images, &req->upload_max);
	}
	if (req->route->flags & API_UPLOAD) {
		uint64_t max = req->upload_max;

		type = api_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
		if (len && strtoull(len, NULL, 10) > max + API_MULTIPART_SLACK) {
			char msg[160];

			snprintf(msg, sizeof(msg), "the upload is larger than the limit of %llu bytes"
				 " (max_upload_bytes)", (unsigned long long)max);
			return api_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large", msg, NULL);
		}
		if (type && strncasecmp(type, "multipart/form-data", 19) == 0) {
			req->pp = MHD_create_post_processor(req->conn, 64 * 1024, api_post_iter, req);
			if (!req->pp)
				return api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
						 "the multipart body has no boundary", NULL);
		}
	} else if (len && strtoull(len, NULL, 10) > API_JSON_MAX) {
		return api_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large",
				 "request bodies here are at most 64 KiB", NULL);
	}
	*answered = 0;
	return MHD_YES;
}

/*
 * Ends the read transaction of an API_READ route: after its handler, or
 * when the request was answered early or brings a body after all.  The
 * handler runs in the same MHD pass as the first call when there is no
 * body, so the snapshot is held for microseconds, never while a client
 * sends.
 */
static void read_end(struct api_request *req)
{
	if (req->read_txn) {
		req->read_txn = 0;
		store_read_end(req->st);
	}
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct kiln *k = cls;
	struct api_request *req = *con_cls;
	int answered;

	(void)version;
	if (!req) {
		enum MHD_Result r;

		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		req->k = k;
		req->conn = conn;
		req->method = method;
		req->url = url;
		req->route_idx = -1;
		req->started_ms = util_mono_ms();
		request_id(req);
		*con_cls = req;
		log_set_request(req->request_id);
		r = begin(req, url, method, &answered);
		log_set_request(NULL);
		if (answered) {
			req->route = NULL;
			read_end(req);
		}
		return r;
	}
	if (!req->route)
		return MHD_YES;            /* answered already; drain */
	if (*upload_data_size > 0) {
		size_t limit = API_JSON_MAX;

		read_end(req);

		if (req->route->flags & API_UPLOAD)
			limit = (size_t)req->upload_max;
		req->received += *upload_data_size;
		if (req->pp && req->received > req->upload_max + API_MULTIPART_SLACK) {
			/* parts other than "file" are not kept, but they count */
			req->too_big = 1;
			MHD_destroy_post_processor(req->pp);
			req->pp = NULL;
			free(req->body);
			req->body = NULL;
			req->body_len = req->body_cap = 0;
		} else if (req->too_big) {
			/* past the limit: drained, not kept */
		} else if (req->pp) {
			if (MHD_post_process(req->pp, upload_data, *upload_data_size) != MHD_YES)
				req->bad_body = 1;
		} else {
			api_body_append(req, upload_data, *upload_data_size, limit);
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->too_big) {
		char msg[160];

		snprintf(msg, sizeof(msg), "the upload is larger than the limit of %llu bytes"
			 " (max_upload_bytes)", (unsigned long long)req->upload_max);
		return api_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large", msg, NULL);
	}
	if (req->bad_body)
		return api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
				 "the multipart body could not be read", NULL);
	{
		enum MHD_Result r;

		log_set_request(req->request_id);
		r = req->route->handler(req);
		read_end(req);
		log_set_request(NULL);
		return r;
	}
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct kiln *k = cls;
	struct api_request *req = *con_cls;

	(void)conn;
	if (!req)
		return;
	log_set_request(req->request_id);
	if (req->status >= 500 || (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK &&
				   !(req->route_idx >= 0 &&
				     api_routes[req->route_idx].handler == api_events_stream)))
		log_warn("%s %s -> %u in %lld ms%s", req->method, req->url, req->status,
			 (long long)(util_mono_ms() - req->started_ms),
			 toe != MHD_REQUEST_TERMINATED_COMPLETED_OK ? " (connection ended early)" : "");
	else
		log_info("%s %s -> %u in %lld ms", req->method, req->url, req->status,
			 (long long)(util_mono_ms() - req->started_ms));
	log_set_request(NULL);
	if (req->pp)
		MHD_destroy_post_processor(req->pp);
	if (req->st)
		store_pool_put(k->pool, req->st);
	free(req->body);
	free(req->file_name);
	free(req);
	*con_cls = NULL;
}

/*
 * Raises the soft limit on open files towards the hard one, so that
 * http_max_connections sockets (event streams among them) fit beside the
 * store's files: systemd and shells start processes at 1024.
 */
static void raise_fd_limit(unsigned connections)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)connections + 256;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_warn("cannot raise the open-file limit to %llu", (unsigned long long)want);
	if (rl.rlim_cur < want)
		log_warn("the open-file limit (%llu) is below http_max_connections + 256; raise it"
			 " (LimitNOFILE= under systemd) or lower http_max_connections",
			 (unsigned long long)rl.rlim_cur);
}

/*
 * libmicrohttpd's own messages, as kilnd's log lines; a client that went
 * away (an event stream closed by its reader) is not worth a warning.
 */
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[1024];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_msg(strstr(msg, "no longer available") || strstr(msg, "closed by remote") ||
		strstr(msg, "Connection reset") ? LOG_DEBUG : LOG_WARN, "microhttpd: %s", msg);
}

/* MHD's unescape callback (URL path and query): api_url_unescape(). */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	return api_url_unescape(s);
}

/* Parses "host:port" ("[::1]:5456" too) into a socket address. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[128];
	const char *colon = strrchr(listen, ':');
	size_t n;
	long port;

	if (!colon)
		return -1;
	n = (size_t)(colon - listen);
	if (n >= sizeof(host))
		return -1;
	memcpy(host, listen, n);
	host[n] = '\0';
	port = strtol(colon + 1, NULL, 10);
	if (port < 0 || port > 65535)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

		host[n - 1] = '\0';
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
			return -1;
		*sl = sizeof(*a6);
		return 0;
	}
	{
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		if (strcmp(host, "localhost") == 0)
			strcpy(host, "127.0.0.1");
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return -1;
		*sl = sizeof(*a4);
	}
	return 0;
}

struct api_server *api_start(struct kiln *k, char *err, size_t errlen)
{
	struct api_server *srv;
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
			 MHD_ALLOW_SUSPEND_RESUME;

	if (parse_listen(k->cfg.listen, &ss, &sl) < 0) {
		snprintf(err, errlen, "listen: \"%s\" is not an IP address and port (e.g. 127.0.0.1:5456)",
			 k->cfg.listen);
		return NULL;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srv->k = k;
	raise_fd_limit(k->cfg.http_max_connections);
	for (size_t i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]); i++)
		metrics_route_label(k->metrics, (unsigned)i, api_routes[i].method, api_routes[i].pattern);
	srv->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, k,
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)k->cfg.http_threads,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, k,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)k->cfg.http_timeout_seconds,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)k->cfg.http_max_connections,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				  (unsigned int)k->cfg.http_max_connections_per_ip,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
				  MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
				  MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
				  MHD_OPTION_END);
	if (!srv->d) {
		snprintf(err, errlen, "cannot listen on %s (is the port in use?)", k->cfg.listen);
		free(srv);
		return NULL;
	}
	info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : 0;
	return srv;
}

unsigned api_port(const struct api_server *srv)
{
	return srv->port;
}

void api_stop(struct api_server *srv)
{
	if (!srv)
		return;
	api_events_close(srv->k->events);
	MHD_stop_daemon(srv->d);
	free(srv);
}
