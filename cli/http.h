/*
 * http.h — the kiln CLI's HTTP client: one libcurl handle, the base URL and
 * the token, and one call that makes a request and gathers its answer.
 *
 * DESIGN
 * Every command makes its requests through http_request() with a struct
 * http_req saying what to send (nothing, a JSON text, or a file as a
 * multipart part named "file") and where the answer goes (gathered in memory,
 * written to a FILE, or handed to a callback piece by piece, for the event
 * stream).  A request that reached kilnd returns 0 whatever the status; one
 * that did not (refused, timed out, bad URL) returns -1 with curl's reason in
 * the client's err.  http_fail() turns either into the message on stderr and
 * the CLI's exit code, so every command reports errors the same way.
 */
#ifndef KILN_CLI_HTTP_H
#define KILN_CLI_HTTP_H

#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

/* The CLI's exit codes (kiln(1), EXIT STATUS). */
enum http_exit {
	HTTP_EXIT_OK = 0,
	HTTP_EXIT_API = 1,       /* kilnd answered with an error, or a local file failed */
	HTTP_EXIT_USAGE = 2,     /* the command line is wrong */
	HTTP_EXIT_CONNECT = 3,   /* kilnd could not be reached */
	HTTP_EXIT_BATCH = 4      /* --wait: the batch did not make every image */
};

struct http_client {
	CURL *h;
	char *base;                      /* "http://127.0.0.1:5456", no trailing slash */
	char *auth;                      /* "Authorization: Bearer …", or NULL */
	char err[CURL_ERROR_SIZE + 256];
};

struct http_req {
	const char *method;              /* "GET" when NULL */
	const char *path;                /* "/v1/batches" (query included) */
	const char *json;                /* a JSON body, or NULL */
	const char *upload;              /* a file sent as the multipart part "file", or NULL */
	FILE *sink;                      /* a 2xx body goes here instead of memory, when set */
	/* the body piece by piece instead (the event stream); return 0 to stop */
	int (*on_data)(void *ctx, const char *data, size_t len);
	/* called about once a second and as bytes arrive; return nonzero to stop */
	int (*on_tick)(void *ctx, long long now, long long total);
	void *ctx;
	long timeout_s;                  /* whole-transfer limit; 0 for none */
	const char *accept;              /* Accept header, or NULL */
};

struct http_resp {
	long status;
	char *body;                      /* NUL-terminated (not when it went to sink) */
	size_t len;
	char *content_type;
	char *filename;                  /* from Content-Disposition, reduced to a safe base name */
	int stopped;                     /* a callback ended the transfer */
};

/* Sets up a client for base (copied) and token (NULL: no Authorization header). */
int http_client_init(struct http_client *c, const char *base, const char *token);

/* A second client to the same kilnd with the same token (for a request during a stream). */
int http_client_clone(struct http_client *dst, const struct http_client *src);

/* Frees what the client holds. */
void http_client_free(struct http_client *c);

/* Makes the request; 0 with resp filled (any status), -1 when kilnd was not reached. */
int http_request(struct http_client *c, const struct http_req *req, struct http_resp *resp);

/* Frees what a response holds. */
void http_resp_free(struct http_resp *resp);

/* The body parsed as JSON, or NULL. */
cJSON *http_json(const struct http_resp *resp);

/*
 * Reports a failed request on stderr (connection failure when rc < 0, else
 * the API's error message, code and details) and returns the exit code.
 */
int http_fail(struct http_client *c, int rc, const struct http_resp *resp);

/* Prints an API "details"/"warnings" entry as one readable line to f. */
void http_print_detail(FILE *f, const char *indent, const cJSON *d);

#endif
