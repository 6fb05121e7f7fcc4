/*
 * api.h — the HTTP side of kilnd: the server, the routing table and what
 * every endpoint shares.
 *
 * DESIGN
 * server.c runs libmicrohttpd with its own thread pool.  For each request it
 * finds the route in one table (method + path pattern, as GNU Taler's
 * exchange does), checks the bearer token, gathers the body (raw, or the
 * `file` part of a multipart form through MHD's post processor) up to the
 * configured limit, and then calls the route's handler once with a struct
 * api_request.  A handler answers with api_reply_json(), api_error(),
 * api_reply_json_text() (text written with api/jsonw.h, no cJSON tree) or
 * its own MHD response, and returns what MHD_queue_response() returned.  One
 * endpoint group per file: batches.c, archive.c, images.c, service.c,
 * accounts.c, events.c, web.c.
 */
#ifndef KILN_API_H
#define KILN_API_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "store/store.h"

struct kiln;
struct config;
struct api_server;

#define API_MAX_PARAMS 2
#define API_PARAM_MAX 64

struct api_request {
	struct kiln *k;
	struct MHD_Connection *conn;
	const struct api_route *route;
	const char *method;
	const char *url;
	char params[API_MAX_PARAMS][API_PARAM_MAX]; /* the :name parts of the path, in order */
	struct store_account account;    /* the caller (filled when the route needs a token) */
	struct store *st;                /* borrowed on first api_store() */
	/* the body */
	char *body;                      /* raw body, or the multipart `file` part */
	size_t body_len, body_cap;
	char *file_name;                 /* multipart file name, or NULL */
	int too_big;
	int bad_body;
	struct MHD_PostProcessor *pp;
	uint64_t received;               /* body bytes received, every part counted */
	unsigned status;                 /* the status queued, for the log */
	uint64_t upload_max;             /* max_upload_bytes for this caller */
	/* the access log */
	char request_id[40];             /* X-Request-Id: the client's (if sane) or made here */
	int route_idx;                   /* index in the route table, -1 when none matched */
	int64_t started_ms;              /* monotonic, for the access log */
	int read_txn;                    /* st has the read transaction of an API_READ route open */
};

typedef enum MHD_Result (*api_handler)(struct api_request *req);

enum api_route_flags {
	API_PUBLIC = 1,          /* no token needed */
	API_UPLOAD = 2,          /* a spreadsheet body (raw or multipart), up to max_upload_bytes */
	API_JSON = 4,            /* a small JSON body (up to 64 KiB) */
	API_METRICS_AUTH = 8,    /* no token, unless metrics.require_admin: then the admin's */
	API_READ = 16            /* the handler only reads the store: the token lookup and it share
				  * one read transaction (one snapshot, one WAL read lock) */
};

struct api_route {
	const char *method;
	const char *pattern;     /* "/v1/batches/:id/start" */
	api_handler handler;
	unsigned flags;
};

/*
 * Every route kilnd answers, in matching order: R(method, pattern, handler,
 * flags) each.  server.c makes its routing table of it, the route fuzzer
 * (tests/fuzz/fuzz_route.c) its patterns, and tests/e2e/test_openapi.py
 * reads it to check /openapi.json against it.
 */
#define API_ROUTES(R) \
	R("GET", "/healthz", api_service_health, API_PUBLIC) \
	R("GET", "/v1/templates/:name", api_service_template, API_PUBLIC) \
	R("GET", "/v1/account", api_service_account, API_READ) \
	R("POST", "/v1/batches", api_batches_upload, API_UPLOAD) \
	R("GET", "/v1/batches", api_batches_list, API_READ) \
	R("GET", "/v1/batches/:id", api_batches_get, API_READ) \
	R("DELETE", "/v1/batches/:id", api_batches_delete, 0) \
	R("PUT", "/v1/batches/:id/spreadsheet", api_batches_replace, API_UPLOAD) \
	R("POST", "/v1/batches/:id/start", api_batches_start, API_JSON) \
	R("POST", "/v1/batches/:id/stop", api_batches_stop, API_JSON) \
	R("POST", "/v1/batches/:id/resume", api_batches_resume, API_JSON) \
	R("GET", "/v1/batches/:id/rows", api_batches_rows, 0) \
	R("GET", "/v1/batches/:id/archive", api_archive_get, 0) \
	R("GET", "/v1/images", api_images_list, API_READ) \
	R("GET", "/v1/images/:id", api_images_get, API_READ) \
	R("GET", "/v1/images/:id/file", api_images_file, 0) \
	R("GET", "/v1/images/:id/thumbnail", api_images_thumbnail, 0) \
	R("POST", "/v1/accounts", api_accounts_create, API_JSON) \
	R("GET", "/v1/accounts", api_accounts_list, API_READ) \
	R("GET", "/v1/accounts/:id", api_accounts_get, API_READ) \
	R("POST", "/v1/accounts/:id/credits", api_accounts_credit, API_JSON) \
	R("POST", "/v1/accounts/:id/token", api_accounts_token, API_JSON) \
	R("POST", "/v1/accounts/:id/limits", api_accounts_limits, API_JSON) \
	R("GET", "/v1/events", api_events_stream, 0) \
	R("GET", "/metrics", api_service_metrics, API_METRICS_AUTH) \
	R("GET", "/openapi.json", api_service_openapi, API_PUBLIC) \
	R("GET", "/", api_web_get, API_PUBLIC) \
	R("GET", "/web/:name", api_web_get, API_PUBLIC)

/*
 * Matches a path against a route pattern ("/v1/batches/:id/start"), copying
 * each :name segment (1 to API_PARAM_MAX - 1 bytes, no '/') into params.
 * Returns 1 on a match, else 0 (params then partly written).
 */
int api_route_match(const char *pattern, const char *path, char params[][API_PARAM_MAX]);

/*
 * Decodes %XX escapes of s in place, except %00, which stays as written (see
 * route.c); the new length.  libmicrohttpd's unescape callback.
 */
size_t api_url_unescape(char *s);

/* The JSON object of a request body; NULL when it is empty, not JSON or not an object. */
cJSON *api_json_object(const char *body, size_t len);

/*
 * Appends size bytes of body to req->body (kept NUL-terminated) while the
 * whole stays within limit; past it, frees the body and sets req->too_big.
 */
void api_body_append(struct api_request *req, const char *data, size_t size, size_t limit);

/*
 * libmicrohttpd's multipart iterator (cls: the struct api_request): keeps
 * the part named "file" (its bytes via api_body_append() up to
 * req->upload_max, its file name in req->file_name), ignores the others.
 */
enum MHD_Result api_post_iter(void *cls, enum MHD_ValueKind kind, const char *key,
			      const char *filename, const char *content_type,
			      const char *transfer_encoding, const char *data, uint64_t off, size_t size);

/* Starts listening on cfg.listen; NULL with a message in err. */
struct api_server *api_start(struct kiln *k, char *err, size_t errlen);

/* The port actually bound (useful with port 0). */
unsigned api_port(const struct api_server *srv);

/* Stops taking connections, waits for the requests in flight, frees. */
void api_stop(struct api_server *srv);

/* ---- what handlers use ------------------------------------------------------ */

/* The request's store connection (borrowed once, returned at the end); NULL on failure. */
struct store *api_store(struct api_request *req);

/* Queues obj (consumed) as a JSON response with the status. */
enum MHD_Result api_reply_json(struct api_request *req, unsigned status, cJSON *obj);

/* Queues a response whose body is given (copied) with the type. */
enum MHD_Result api_reply_data(struct api_request *req, unsigned status, const char *type,
			       const void *data, size_t len);

/* Queues an error {"error": {"code", "message", "details"?}}; details is consumed. */
enum MHD_Result api_error(struct api_request *req, unsigned status, const char *code,
			  const char *message, cJSON *details);

/* Queues a prepared response (destroyed here) with the status. */
enum MHD_Result api_queue(struct api_request *req, unsigned status, struct MHD_Response *resp);

/* A query argument, or NULL. */
const char *api_arg(struct api_request *req, const char *name);

/* A request header, or NULL. */
const char *api_header(struct api_request *req, const char *name);

/* Parses ?limit= (default 50, 1..500); -1 when it is not a number in range. */
int api_limit(struct api_request *req, unsigned *limit);

/* The 500 answer for a store failure. */
enum MHD_Result api_internal(struct api_request *req);

/*
 * 507 insufficient_storage: the data dir's disk is full (why says so; the
 * answer adds what to do).  api_internal() answers this too when the store
 * failed for want of space.
 */
enum MHD_Result api_disk_full(struct api_request *req, const char *why);

/* RFC 3339 string for ms since the epoch, or JSON null for 0. */
cJSON *api_time(int64_t ms);

/*
 * Adds a whole number to a JSON object, written as digits once (a raw
 * item): cJSON would print it with "%1.15g" and read it back with sscanf to
 * check, the larger part of a batch's JSON time under load.  Returns the
 * item, or NULL when out of memory (the caller's object then lacks it).
 */
cJSON *api_add_int(cJSON *obj, const char *name, int64_t v);

/* A row's fields as the API shows them ("seed_number" null when the engine picks). */
cJSON *api_fields_json(const struct sheet_fields *f);

/* ---- answers written without a cJSON tree (api/jsonw.h) --------------------- */

struct jsonw;

/*
 * Answers with JSON text that the caller malloc'd (jsonw_finish()), len
 * bytes; takes it (freed here).  The same headers and final newline as
 * api_reply_json(); NULL text (out of memory) is MHD_NO.
 */
enum MHD_Result api_reply_json_text(struct api_request *req, unsigned status, char *text,
				    size_t len);

/* The member key: a row's fields, as api_fields_json() makes them (which uses this). */
void api_fields_write(struct jsonw *w, const char *key, const struct sheet_fields *f);

/* ---- the handlers (one group per file) -------------------------------------- */

enum MHD_Result api_batches_upload(struct api_request *req);
enum MHD_Result api_batches_replace(struct api_request *req);
enum MHD_Result api_batches_start(struct api_request *req);
enum MHD_Result api_batches_stop(struct api_request *req);
enum MHD_Result api_batches_resume(struct api_request *req);
enum MHD_Result api_batches_list(struct api_request *req);
enum MHD_Result api_batches_get(struct api_request *req);
enum MHD_Result api_batches_delete(struct api_request *req);
enum MHD_Result api_batches_rows(struct api_request *req);
enum MHD_Result api_archive_get(struct api_request *req);
enum MHD_Result api_images_list(struct api_request *req);
enum MHD_Result api_images_get(struct api_request *req);
enum MHD_Result api_images_file(struct api_request *req);
enum MHD_Result api_service_health(struct api_request *req);
enum MHD_Result api_service_template(struct api_request *req);
enum MHD_Result api_service_account(struct api_request *req);
enum MHD_Result api_accounts_create(struct api_request *req);
enum MHD_Result api_accounts_list(struct api_request *req);
enum MHD_Result api_accounts_get(struct api_request *req);
enum MHD_Result api_accounts_credit(struct api_request *req);
enum MHD_Result api_accounts_token(struct api_request *req);
enum MHD_Result api_images_thumbnail(struct api_request *req);
enum MHD_Result api_accounts_limits(struct api_request *req);

/* The account object of GET /v1/account and /v1/accounts (accounts.c), limits as in force. */
cJSON *api_account_json(const struct store_account *a, const struct config *cfg);

/* The limits in force for an account: its own where set, else the config's. */
void api_account_limits(const struct store_account *a, const struct config *cfg,
			unsigned *max_active_batches, unsigned *max_queued_images,
			uint64_t *max_upload_bytes);

/* 1 when a name can be an account's: 1..100 bytes, no control characters (UTF-8 allowed). */
int api_account_name_ok(const char *n);

/* ---- events, metrics ---------------------------------------------- */

struct api_events;

/* GET /v1/events (events.c) and GET /metrics (service.c). */
enum MHD_Result api_events_stream(struct api_request *req);
enum MHD_Result api_service_metrics(struct api_request *req);

/* Starts the event streams' hub (its thread resumes waiting streams); NULL on failure. */
struct api_events *api_events_new(struct kiln *k);

/* Tells the hub that a commit wrote events (called from any thread). */
void api_events_notify(struct api_events *hub);

/* Ends every stream (resuming the suspended ones); before MHD_stop_daemon(). */
void api_events_close(struct api_events *hub);

/* Stops the hub's thread and frees it (after the server is stopped). */
void api_events_free(struct api_events *hub);
enum MHD_Result api_service_openapi(struct api_request *req);

/* api/openapi.json, embedded at build time by scripts/embed-openapi.sh. */
extern const char api_openapi_json[];
extern const size_t api_openapi_json_len;

/* ---- the web page (web.c; its files are embedded by scripts/embed-web.sh) --- */

struct api_web_asset {
	const char *path;                /* "/" or "/web/app.js" */
	const char *type;                /* Content-Type */
	const unsigned char *data;
	size_t len;
	const char *etag;                /* strong, quoted: from the SHA-256 of the bytes */
};

extern const struct api_web_asset api_web_assets[];
extern const unsigned api_web_assets_count;

/* GET / and GET /web/:name: the page and its assets, from the binary. */
enum MHD_Result api_web_get(struct api_request *req);

#endif
