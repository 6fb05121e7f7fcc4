/*
 * net.h — what the network engines (ideogram, openai, a1111) share: an HTTP
 * client over libcurl with a pool of servers, limits, retries and
 * cancellation, and the small checks every answer needs.
 *
 * DESIGN
 * One struct net_client per engine.  It owns one thread that drives a curl
 * multi handle (curl_multi_poll, woken by curl_multi_wakeup when a call is
 * submitted): every call in flight of that engine is one easy handle in it,
 * so hundreds of calls in flight cost one thread, one connection cache and
 * one DNS cache, not a thread each.  A worker submits a call and sleeps on
 * the call's condition variable until the client thread finishes it; the
 * client thread also looks at each call's cancel flag every 50 ms at most,
 * and removes a cancelled transfer at once, so a stop ends calls in flight
 * within that time.
 *
 * net_call() is one logical request: it picks a server of the pool (round
 * robin over the servers in rotation; a server whose call failed by the
 * network or with a 5xx is out of rotation for pool_retry_ms, and taken
 * back when that has passed or when no other is left), takes a slot of the
 * engine's limits (calls in flight, calls per minute; after a 429 the
 * limit in flight is halved and grows back by one per that many successes,
 * and no call starts before the Retry-After has passed), makes the
 * exchange, and classifies the answer: 2xx goes to the engine's accept
 * callback; 429, 408, 5xx, a network fault, a truncated body or an answer
 * the callback calls malformed are retried up to `retries` times with
 * exponential back-off and full jitter (Retry-After honoured), then
 * reported as ENGINE_RETRY to the scheduler, whose own attempts follow;
 * 401 and 403 are ENGINE_FATAL (the batch fails at once: a wrong key does
 * not get better by burning every row), and so are 404 and 405 from the
 * engine's endpoint (a base URL that points elsewhere), 402 and OpenAI's
 * 429 insufficient_quota (the account cannot pay); any other 4xx is
 * ENGINE_FAIL with the service's message, cleaned.  Answers are capped at max_response
 * bytes.  Error messages never hold the API key: net_clean_message()
 * removes it wherever a service echoed it.
 */
#ifndef KILN_ENGINES_NET_H
#define KILN_ENGINES_NET_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "../config.h"
#include "../engine.h"

struct net_client;

/* One request; the base URL of the pool is put before path unless url is set. */
struct net_request {
	const char *method;          /* "POST" or "GET" */
	const char *path;            /* "/generate", appended to a server of the pool */
	const char *url;             /* or an absolute URL (downloads); then no pool, no limits */
	const char *content_type;    /* of body, or NULL */
	const void *body;
	size_t body_len;
	const char *auth_header;     /* "Api-Key: …" or "Authorization: Bearer …", or NULL */
};

/* One answer, as the accept callback sees it. */
struct net_response {
	long status;
	unsigned char *body;         /* NUL-terminated (one byte more than len) */
	size_t len;
	char content_type[96];
	int64_t retry_after_ms;      /* from Retry-After, -1 when absent */
	char server[256];            /* the base URL that answered ("" for absolute URLs) */
};

/*
 * Creates the client of engine `name` from its settings: the pool of base
 * URLs (separated by spaces or commas), limits and timeouts.  key is the
 * API key ("" when none), kept only to scrub it from messages.  Returns
 * NULL with a message in err.
 */
struct net_client *net_client_new(const char *name, const struct config_engine *ce,
				  const char *key, unsigned workers, char *err, size_t errlen);

/* Stops the client's thread (cancelling what is in flight) and frees it. */
void net_client_free(struct net_client *c);

/*
 * Runs one logical request; see the DESIGN note.  cancel may be NULL.
 * accept is called with a 2xx answer and returns ENGINE_OK (done),
 * ENGINE_RETRY (the answer is malformed: retried like a 5xx), ENGINE_FAIL
 * or ENGINE_FATAL, with a message in err.
 */
enum engine_status net_call(struct net_client *c, const struct net_request *req,
			    const atomic_int *cancel,
			    enum engine_status (*accept)(void *cls, const struct net_response *r,
							 char *err, size_t errlen),
			    void *cls, char *err, size_t errlen);

/* How a network engine sends its key. */
enum net_auth {
	NET_AUTH_API_KEY,        /* "Api-Key: <key>" (Ideogram); a key is required */
	NET_AUTH_BEARER,         /* "Authorization: Bearer <key>" (OpenAI); a key is required */
	NET_AUTH_BASIC           /* "Authorization: Basic …" of "user:password", when one is set */
};

/*
 * Everything a network engine's create function needs: reads the key
 * (net_load_key() with env_name), writes the header that carries it into
 * header ("" when there is none) and makes the client.  The key is wiped
 * from memory but for the header and the client's copy (kept to scrub it
 * from messages).  Returns the client, or NULL with a message in err.
 */
struct net_client *net_engine_client(const char *name, const struct config_engine *ce,
				     const char *env_name, enum net_auth auth, unsigned workers,
				     char *header, size_t headerlen, char *err, size_t errlen);

/* What every network engine's state starts with. */
struct net_engine {
	struct net_client *net;
	char auth[800];          /* the header carrying the key, or "" */
};

/*
 * engine_ops.destroy of a network engine whose state starts with a struct
 * net_engine (and holds no other allocation): stops its client, wipes the
 * key's header, frees the state.
 */
void net_engine_destroy(void *state);

/* What net_accept_json() requires of an answer, and what it found. */
struct net_json {
	const char *engine;      /* for the message */
	const char *array;       /* the array the answer must hold: "data", "images" */
	struct cJSON *json;      /* the parsed answer; the caller frees it (cJSON_Delete) */
};

/*
 * A net_call() accept callback for JSON answers: cls is a struct net_json.
 * An answer that is not JSON or lacks the array is ENGINE_RETRY (malformed).
 */
enum engine_status net_accept_json(void *cls, const struct net_response *r,
				   char *err, size_t errlen);

/*
 * Reads the API key: the setting's value (which may be env:NAME), else the
 * key file, else the environment variable env_name.  Leading and trailing
 * white space is removed.  Returns 0 with the key in key (possibly "" when
 * none is set and required is 0), or -1 with a message in err that never
 * holds the key.
 */
int net_load_key(const struct config_engine *ce, const char *env_name, int required,
		 char *key, size_t keylen, char *err, size_t errlen);

/*
 * Checks that data is an image of a kind it claims to be: PNG, JPEG or WebP
 * by its magic bytes, with dimensions read from its header (IHDR, a SOF
 * marker, VP8/VP8L/VP8X).  Fills mime, ext, width and height and returns 0,
 * or -1 with a message in err.
 */
int net_image_check(const unsigned char *data, size_t len, char *mime, size_t mimelen,
		    char *ext, size_t extlen, unsigned *width, unsigned *height,
		    char *err, size_t errlen);

/*
 * Fills *img from encoded bytes it takes ownership of (freed on failure):
 * checks them with net_image_check().  Returns 0, or -1 with img->status
 * ENGINE_RETRY and img->error set (a service that sent a bad image once
 * may send a good one next time).
 */
int net_image_take(struct engine_image *img, unsigned char *data, size_t len);

/* The same from base64 text (b64_json, a1111's images). */
int net_image_from_base64(struct engine_image *img, const char *text);

/*
 * Downloads an image from an absolute URL (an Ideogram answer's data[].url)
 * into *img, with the client's retries and caps.  Returns ENGINE_OK,
 * ENGINE_CANCELLED, or another status with img->error set.
 */
enum engine_status net_image_fetch(struct net_client *c, const char *url,
				   const atomic_int *cancel, struct engine_image *img);

/* Decodes base64 (white space allowed) into a malloc'd buffer; 0 or -1. */
int net_base64_decode(const char *text, size_t len, unsigned char **out, size_t *outlen);

/*
 * Makes a service's message fit for a row's error: the text of the first
 * of error.message, message, detail, error found in a JSON body (else the
 * body itself when it is short text), control characters turned into
 * spaces, the key removed, at most 300 bytes.  Writes "HTTP <status>" when
 * there is nothing readable.
 */
void net_clean_message(const struct net_client *c, long status, const unsigned char *body,
		       size_t len, char *out, size_t outlen);

/*
 * Appends name to a comma-separated list of ignored fields in buf (size
 * len), once.
 */
void net_ignore(char *buf, size_t len, const char *name);

/*
 * Is the size w x h within 5 % of the aspect ratio ("16:9")?  Engines list
 * aspect_ratio as ignored when the size they could ask for is not.
 */
int net_ratio_close(const char *ratio, unsigned w, unsigned h);

/* The ratio as two numbers; 1:1 for an unknown text. */
void net_ratio_parse(const char *ratio, unsigned *rw, unsigned *rh);

#endif
