/*
 * net.c — the network engines' HTTP client and checks; see net.h.
 *
 * DESIGN
 * Threads: the workers call net_call(); the client's own thread (client_main)
 * is the only one that touches the curl multi handle and the easy handles
 * while they are in it.  A call is a struct net_xfer on the worker's stack:
 * the worker builds its easy handle, puts it on the client's `submitted`
 * list under the mutex and wakes the multi handle; the client thread adds
 * it, drives every transfer, and when one ends (or its cancel flag is seen
 * set, or the client stops) removes it and signals the xfer's condition
 * variable.  The worker then owns the easy handle again and frees it.
 *
 * Limits live under the same mutex: in_flight against limit (the current
 * limit, which a 429 halves and successes grow back to max_in_flight),
 * pause_until (no call starts before a Retry-After has passed) and
 * next_slot (calls per minute, spaced evenly: one call every 60/cpm s).
 * A worker waiting for a slot wakes every 50 ms to look at its cancel flag.
 */
#include "net.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/evp.h>

#include "../log.h"
#include "../util.h"

#define NET_TICK_MS 50
#define NET_MAX_SERVERS 32

struct net_server {
	char url[512];           /* without a trailing slash */
	int64_t down_until;      /* mono ms; out of rotation until then */
};

struct net_xfer {
	CURL *easy;
	struct curl_slist *headers;
	const atomic_int *cancel;
	struct net_xfer *next;
	pthread_cond_t cv;
	int done;                /* under the client's mutex */
	int cancelled;
	CURLcode res;
	int too_big;
	size_t max;
	struct net_response resp;
	size_t cap;
};

struct net_client {
	char name[16];
	char key[512];
	struct net_server servers[NET_MAX_SERVERS];
	unsigned nservers;
	unsigned rr;
	unsigned connect_timeout_ms, timeout_ms, retries, backoff_ms, max_backoff_ms;
	unsigned pool_retry_ms;
	uint64_t max_response;
	pthread_mutex_t mu;
	pthread_cond_t slots;    /* a slot may be free */
	unsigned max_in_flight, limit, in_flight, successes;
	unsigned cpm;
	int64_t pause_until;     /* mono ms */
	int64_t next_slot_us;    /* mono µs */
	uint64_t rnd;            /* jitter (under mu) */
	CURLM *multi;
	pthread_t thread;
	int quit;
	struct net_xfer *submitted;
};

/* ---- small helpers ------------------------------------------------------ */

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int is_cancelled(const atomic_int *cancel)
{
	return cancel && atomic_load_explicit(cancel, memory_order_relaxed) != 0;
}

/* Copies text into dst (size n), cut to fit, always terminated. */
static void set_text(char *dst, size_t n, const char *src)
{
	size_t l = strlen(src);

	if (!n)
		return;
	if (l >= n)
		l = n - 1;
	memcpy(dst, src, l);
	dst[l] = '\0';
}

/* Sleeps ms milliseconds in slices, looking at *cancel; 1 when cancelled. */
static int sleep_ms(int64_t ms, const atomic_int *cancel)
{
	int64_t end = util_mono_ms() + ms;

	for (;;) {
		struct timespec ts;
		int64_t left;

		if (is_cancelled(cancel))
			return 1;
		left = end - util_mono_ms();
		if (left <= 0)
			return 0;
		if (left > 20)
			left = 20;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left * 1000000L;
		nanosleep(&ts, NULL);
	}
}

/* Adds ms to the current CLOCK_REALTIME time, for pthread_cond_timedwait. */
static void deadline_in(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* xorshift64*: the next jitter number (under c->mu). */
static uint64_t next_rand(struct net_client *c)
{
	c->rnd ^= c->rnd >> 12;
	c->rnd ^= c->rnd << 25;
	c->rnd ^= c->rnd >> 27;
	return c->rnd * 0x2545F4914F6CDD1DULL;
}

/* ---- the pool ----------------------------------------------------------- */

/*
 * Splits the base URLs (spaces or commas between them) into the pool.
 * Returns the count, or -1 with a message for a URL that is not http(s).
 */
static int parse_pool(struct net_client *c, const char *list, char *err, size_t errlen)
{
	const char *p = list;

	c->nservers = 0;
	while (*p) {
		size_t n;

		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (!*p)
			break;
		n = strcspn(p, " ,\t");
		if (c->nservers == NET_MAX_SERVERS) {
			snprintf(err, errlen, "%s.base_url: more than %d servers", c->name, NET_MAX_SERVERS);
			return -1;
		}
		if (n >= sizeof(c->servers[0].url) ||
		    (strncmp(p, "http://", 7) != 0 && strncmp(p, "https://", 8) != 0)) {
			snprintf(err, errlen, "%s.base_url: \"%.*s\" is not an http:// or https:// URL",
				 c->name, (int)(n > 200 ? 200 : n), p);
			return -1;
		}
		memcpy(c->servers[c->nservers].url, p, n);
		c->servers[c->nservers].url[n] = '\0';
		while (n > 0 && c->servers[c->nservers].url[n - 1] == '/')
			c->servers[c->nservers].url[--n] = '\0';
		c->servers[c->nservers].down_until = 0;
		c->nservers++;
		p += strcspn(p, " ,\t");
	}
	if (!c->nservers) {
		snprintf(err, errlen, "%s.base_url is empty; give the service's base URL", c->name);
		return -1;
	}
	return (int)c->nservers;
}

/*
 * Picks a server: the next in rotation that is not out of it; when all are
 * out, the one that comes back first.  Returns its index (under c->mu).
 */
static unsigned pick_server(struct net_client *c)
{
	int64_t now = util_mono_ms();
	unsigned best = 0, i;

	for (i = 0; i < c->nservers; i++) {
		unsigned k = (c->rr + i) % c->nservers;

		if (c->servers[k].down_until <= now) {
			c->rr = k + 1;
			return k;
		}
		if (c->servers[k].down_until < c->servers[best].down_until)
			best = k;
	}
	c->rr = best + 1;
	return best;
}

/* A server failed by the network or a 5xx: out of rotation for a while. */
static void server_failed(struct net_client *c, unsigned k)
{
	pthread_mutex_lock(&c->mu);
	if (c->nservers > 1 && c->servers[k].down_until <= util_mono_ms())
		log_warn("%s: server %s is failing; out of rotation for %u ms", c->name,
			 c->servers[k].url, c->pool_retry_ms);
	c->servers[k].down_until = util_mono_ms() + c->pool_retry_ms;
	pthread_mutex_unlock(&c->mu);
}

/* ---- limits ------------------------------------------------------------- */

/* Waits for a slot (in flight, calls per minute, Retry-After); 1 when cancelled. */
static int slot_take(struct net_client *c, const atomic_int *cancel)
{
	int rc = 0;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		int64_t now_us = mono_us();
		int64_t wait_ms = NET_TICK_MS;
		struct timespec ts;

		if (is_cancelled(cancel) || c->quit) {
			rc = 1;
			break;
		}
		if (now_us / 1000 < c->pause_until) {
			wait_ms = c->pause_until - now_us / 1000;
		} else if (c->in_flight >= c->limit) {
			wait_ms = NET_TICK_MS;
		} else if (c->cpm && now_us < c->next_slot_us) {
			wait_ms = (c->next_slot_us - now_us + 999) / 1000;
		} else {
			c->in_flight++;
			if (c->cpm) {
				int64_t base = c->next_slot_us > now_us ? c->next_slot_us : now_us;

				c->next_slot_us = base + 60000000LL / c->cpm;
			}
			break;
		}
		if (wait_ms > NET_TICK_MS)
			wait_ms = NET_TICK_MS;
		if (wait_ms < 1)
			wait_ms = 1;
		deadline_in(&ts, wait_ms);
		pthread_cond_timedwait(&c->slots, &c->mu, &ts);
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/*
 * Gives a slot back.  ok: the call succeeded (the limit grows back by one
 * after `limit` successes); throttled: a 429, which halves the limit and
 * pauses new calls for retry_ms.
 */
static void slot_give(struct net_client *c, int ok, int throttled, int64_t retry_ms)
{
	pthread_mutex_lock(&c->mu);
	c->in_flight--;
	if (throttled) {
		int64_t until = util_mono_ms() + retry_ms;
		unsigned old = c->limit;

		c->limit = c->limit > 1 ? c->limit / 2 : 1;
		c->successes = 0;
		if (until > c->pause_until)
			c->pause_until = until;
		if (old != c->limit)
			log_info("%s: the service answered 429; at most %u calls in flight for now",
				 c->name, c->limit);
	} else if (ok && c->limit < c->max_in_flight && ++c->successes >= c->limit) {
		c->limit++;
		c->successes = 0;
	}
	pthread_cond_broadcast(&c->slots);
	pthread_mutex_unlock(&c->mu);
}

/* ---- the client thread -------------------------------------------------- */

/* Marks a transfer finished and wakes its worker (client thread only). */
static void xfer_finish(struct net_client *c, struct net_xfer *x, int cancelled, CURLcode res)
{
	pthread_mutex_lock(&c->mu);
	x->cancelled = cancelled;
	x->res = res;
	x->done = 1;
	pthread_cond_signal(&x->cv);
	pthread_mutex_unlock(&c->mu);
}

static void *client_main(void *arg)
{
	struct net_client *c = arg;
	struct net_xfer *active = NULL;

	for (;;) {
		struct net_xfer *sub, *x, **pp;
		struct CURLMsg *m;
		int running, left, quit;

		pthread_mutex_lock(&c->mu);
		sub = c->submitted;
		c->submitted = NULL;
		quit = c->quit;
		pthread_mutex_unlock(&c->mu);
		while (sub) {
			x = sub;
			sub = sub->next;
			if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) {
				xfer_finish(c, x, 0, CURLE_OUT_OF_MEMORY);
				continue;
			}
			x->next = active;
			active = x;
		}
		if (quit)
			break;
		curl_multi_perform(c->multi, &running);
		while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
			if (m->msg != CURLMSG_DONE)
				continue;
			for (pp = &active; *pp; pp = &(*pp)->next) {
				if ((*pp)->easy == m->easy_handle) {
					CURLcode res = m->data.result;

					x = *pp;
					*pp = x->next;
					curl_multi_remove_handle(c->multi, x->easy);
					xfer_finish(c, x, 0, res);
					break;
				}
			}
		}
		for (pp = &active; *pp;) {
			x = *pp;
			if (is_cancelled(x->cancel)) {
				*pp = x->next;
				curl_multi_remove_handle(c->multi, x->easy);
				xfer_finish(c, x, 1, CURLE_ABORTED_BY_CALLBACK);
				continue;
			}
			pp = &x->next;
		}
		curl_multi_poll(c->multi, NULL, 0, NET_TICK_MS, NULL);
	}
	while (active) {
		struct net_xfer *x = active;

		active = x->next;
		curl_multi_remove_handle(c->multi, x->easy);
		xfer_finish(c, x, 1, CURLE_ABORTED_BY_CALLBACK);
	}
	return NULL;
}

/* ---- one exchange ------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *cls)
{
	struct net_xfer *x = cls;
	size_t len = size * n;

	if (len > x->max - x->resp.len) {
		x->too_big = 1;
		return 0;
	}
	if (x->resp.len + len + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 16384;
		unsigned char *b;

		while (cap < x->resp.len + len + 1)
			cap *= 2;
		b = realloc(x->resp.body, cap);
		if (!b)
			return 0;
		x->resp.body = b;
		x->cap = cap;
	}
	memcpy(x->resp.body + x->resp.len, p, len);
	x->resp.len += len;
	x->resp.body[x->resp.len] = '\0';
	return len;
}

/* Reads Retry-After (seconds or an HTTP date) and Content-Type. */
static size_t on_header(char *p, size_t size, size_t n, void *cls)
{
	struct net_xfer *x = cls;
	size_t len = size * n;
	char line[256];

	if (len >= sizeof(line))
		return len;
	memcpy(line, p, len);
	line[len] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (!strncasecmp(line, "HTTP/", 5)) {
		/* a new answer (after a redirect): forget the previous one's headers */
		x->resp.retry_after_ms = -1;
		x->resp.content_type[0] = '\0';
	} else if (!strncasecmp(line, "retry-after:", 12)) {
		const char *v = line + 12;
		char *end;
		long long secs;

		while (*v == ' ' || *v == '\t')
			v++;
		errno = 0;
		secs = strtoll(v, &end, 10);
		if (end != v && *end == '\0' && errno == 0 && secs >= 0) {
			x->resp.retry_after_ms = (secs > 86400 ? 86400 : secs) * 1000;
		} else {
			time_t t = curl_getdate(v, NULL);

			if (t > 0) {
				int64_t d = ((int64_t)t - (int64_t)time(NULL)) * 1000;

				x->resp.retry_after_ms = d < 0 ? 0 : d > 86400000 ? 86400000 : d;
			}
		}
	} else if (!strncasecmp(line, "content-type:", 13)) {
		const char *v = line + 13;

		while (*v == ' ' || *v == '\t')
			v++;
		set_text(x->resp.content_type, sizeof(x->resp.content_type), v);
	}
	return len;
}

/*
 * Runs one HTTP exchange through the client thread and waits for it.
 * Returns 0 when it ran (see x->res, x->cancelled, x->resp), -1 when the
 * easy handle could not be made.
 */
static int exchange(struct net_client *c, struct net_xfer *x, const struct net_request *req,
		    const char *url, const atomic_int *cancel)
{
	CURL *e = curl_easy_init();

	memset(x, 0, sizeof(*x));
	x->resp.retry_after_ms = -1;
	x->cancel = cancel;
	x->max = (size_t)c->max_response;
	if (!e)
		return -1;
	x->easy = e;
	if (req->content_type) {
		char h[160];

		snprintf(h, sizeof(h), "Content-Type: %s", req->content_type);
		x->headers = curl_slist_append(x->headers, h);
	}
	if (req->auth_header)
		x->headers = curl_slist_append(x->headers, req->auth_header);
	x->headers = curl_slist_append(x->headers, "Expect:");
	x->headers = curl_slist_append(x->headers, "Accept: application/json, image/*");
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "kilnd");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_response);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	if (req->url) {
		/* downloads may be redirected to a CDN */
		curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
	}
	if (req->method && !strcmp(req->method, "POST")) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	pthread_cond_init(&x->cv, NULL);

	pthread_mutex_lock(&c->mu);
	x->next = c->submitted;
	c->submitted = x;
	pthread_mutex_unlock(&c->mu);
	curl_multi_wakeup(c->multi);
	pthread_mutex_lock(&c->mu);
	while (!x->done)
		pthread_cond_wait(&x->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &x->resp.status);
	pthread_cond_destroy(&x->cv);
	return 0;
}

static void xfer_free(struct net_xfer *x)
{
	if (x->easy)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	free(x->resp.body);
	x->easy = NULL;
	x->headers = NULL;
	x->resp.body = NULL;
}

/* Curl results that say the configuration is wrong, not the network. */
static int curl_fatal(CURLcode res)
{
	switch (res) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_NOT_BUILT_IN:
		return 1;
	default:
		return 0;
	}
}

enum engine_status net_call(struct net_client *c, const struct net_request *req,
			    const atomic_int *cancel,
			    enum engine_status (*accept)(void *cls, const struct net_response *r,
							 char *err, size_t errlen),
			    void *cls, char *err, size_t errlen)
{
	unsigned attempt;

	assert(c && req && accept);
	for (attempt = 0;; attempt++) {
		struct net_xfer x;
		char url[2560], msg[400] = "";
		unsigned k = 0;
		int transient = 0, throttled = 0, ok = 0;
		int64_t wait = -1;
		enum engine_status st = ENGINE_RETRY;

		if (is_cancelled(cancel)) {
			snprintf(err, errlen, "%s: cancelled", c->name);
			return ENGINE_CANCELLED;
		}
		if (req->url) {
			snprintf(url, sizeof(url), "%s", req->url);
		} else {
			if (slot_take(c, cancel)) {
				snprintf(err, errlen, "%s: cancelled", c->name);
				return ENGINE_CANCELLED;
			}
			pthread_mutex_lock(&c->mu);
			k = pick_server(c);
			snprintf(url, sizeof(url), "%s%s", c->servers[k].url, req->path);
			pthread_mutex_unlock(&c->mu);
		}
		if (exchange(c, &x, req, url, cancel) < 0) {
			xfer_free(&x);
			if (!req->url)
				slot_give(c, 0, 0, 0);
			snprintf(err, errlen, "%s: out of memory", c->name);
			return ENGINE_RETRY;
		}
		if (!req->url)
			snprintf(x.resp.server, sizeof(x.resp.server), "%s", c->servers[k].url);
		if (x.cancelled) {
			st = ENGINE_CANCELLED;
			snprintf(msg, sizeof(msg), "%s: cancelled", c->name);
		} else if (x.too_big || x.res == CURLE_FILESIZE_EXCEEDED) {
			st = ENGINE_FAIL;
			snprintf(msg, sizeof(msg), "%s: the answer is larger than %llu bytes", c->name,
				 (unsigned long long)c->max_response);
		} else if (x.res != CURLE_OK) {
			if (curl_fatal(x.res)) {
				st = ENGINE_FATAL;
			} else {
				transient = 1;
				if (!req->url)
					server_failed(c, k);
			}
			snprintf(msg, sizeof(msg), "%s: %s%s%s", c->name,
				 req->url ? "download: " : "", curl_easy_strerror(x.res),
				 x.res == CURLE_OPERATION_TIMEDOUT ? " (the call took too long)" : "");
		} else if (x.resp.status >= 200 && x.resp.status < 300) {
			if (!x.resp.body) {
				x.resp.body = calloc(1, 1);
				if (!x.resp.body) {
					xfer_free(&x);
					if (!req->url)
						slot_give(c, 0, 0, 0);
					snprintf(err, errlen, "%s: out of memory", c->name);
					return ENGINE_RETRY;
				}
			}
			st = accept(cls, &x.resp, msg, sizeof(msg));
			if (st == ENGINE_RETRY)
				transient = 1;
			else
				ok = 1;
		} else if (x.resp.status == 401 || x.resp.status == 403) {
			char clean[320];

			st = ENGINE_FATAL;
			net_clean_message(c, x.resp.status, x.resp.body, x.resp.len, clean, sizeof(clean));
			snprintf(msg, sizeof(msg), "%s refused the API key (HTTP %ld: %s); check %s.api_key",
				 c->name, x.resp.status, clean, c->name);
		} else if (x.resp.status == 402 || (x.resp.status == 429 && x.resp.body &&
			   strstr((const char *)x.resp.body, "insufficient_quota"))) {
			char clean[320];

			/* the account cannot pay: no row will do better */
			st = ENGINE_FATAL;
			net_clean_message(c, x.resp.status, x.resp.body, x.resp.len, clean, sizeof(clean));
			snprintf(msg, sizeof(msg), "%s: the account's credit or quota is used up (%s)",
				 c->name, clean);
		} else if (!req->url && (x.resp.status == 404 || x.resp.status == 405)) {
			/* the server has no such endpoint: the base URL is wrong for every row */
			st = ENGINE_FATAL;
			snprintf(msg, sizeof(msg), "%s: %s answered HTTP %ld to %s %s; check %s.base_url",
				 c->name, c->servers[k].url, x.resp.status, req->method, req->path,
				 c->name);
		} else if (x.resp.status == 429 || x.resp.status == 408 || x.resp.status >= 500) {
			char clean[320];

			transient = 1;
			throttled = x.resp.status == 429;
			wait = x.resp.retry_after_ms;
			if (x.resp.status >= 500 && !req->url)
				server_failed(c, k);
			net_clean_message(c, x.resp.status, x.resp.body, x.resp.len, clean, sizeof(clean));
			snprintf(msg, sizeof(msg), "%s: %s", c->name, clean);
		} else {
			char clean[320];

			st = ENGINE_FAIL;
			net_clean_message(c, x.resp.status, x.resp.body, x.resp.len, clean, sizeof(clean));
			snprintf(msg, sizeof(msg), "%s: the service refused this request: %s", c->name,
				 clean);
		}
		if (!req->url) {
			int64_t pause = wait >= 0 ? wait : (int64_t)c->backoff_ms;

			slot_give(c, ok, throttled, pause);
		}
		xfer_free(&x);
		if (!transient) {
			snprintf(err, errlen, "%s", msg);
			return st;
		}
		if (attempt >= c->retries) {
			snprintf(err, errlen, "%s (after %u attempts)", msg, attempt + 1);
			return ENGINE_RETRY;
		}
		if (wait < 0) {
			uint64_t cap = c->backoff_ms;
			unsigned i;

			for (i = 0; i < attempt && cap < c->max_backoff_ms; i++)
				cap *= 2;
			if (cap > c->max_backoff_ms)
				cap = c->max_backoff_ms;
			pthread_mutex_lock(&c->mu);
			/* full jitter, at least half the step */
			wait = (int64_t)(cap / 2 + next_rand(c) % (cap / 2 + 1));
			pthread_mutex_unlock(&c->mu);
		}
		log_debug("%s; retrying in %lld ms", msg, (long long)wait);
		if (sleep_ms(wait, cancel)) {
			snprintf(err, errlen, "%s: cancelled", c->name);
			return ENGINE_CANCELLED;
		}
	}
}

/* ---- the client's life -------------------------------------------------- */

/* libcurl's global set-up, once per process. */
static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct net_client *net_client_new(const char *name, const struct config_engine *ce,
				  const char *key, unsigned workers, char *err, size_t errlen)
{
	struct net_client *c;
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, global_init);
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->key, sizeof(c->key), "%s", key ? key : "");
	if (parse_pool(c, ce->base_url, err, errlen) < 0) {
		free(c);
		return NULL;
	}
	c->connect_timeout_ms = ce->connect_timeout_ms;
	c->timeout_ms = ce->timeout_ms;
	c->retries = ce->retries;
	c->backoff_ms = ce->backoff_ms ? ce->backoff_ms : 1;
	c->max_backoff_ms = ce->max_backoff_ms < c->backoff_ms ? c->backoff_ms : ce->max_backoff_ms;
	c->pool_retry_ms = ce->pool_retry_ms;
	c->max_response = ce->max_response;
	c->max_in_flight = ce->max_in_flight ? ce->max_in_flight : workers ? workers : 1;
	c->limit = c->max_in_flight;
	c->cpm = ce->calls_per_minute;
	c->rnd = (uint64_t)mono_us() * 0x9E3779B97F4A7C15ULL | 1;
	if (workers && workers < c->max_in_flight)
		log_warn("%s.max_in_flight is %u but there are %u workers: at most %u calls at once;"
			 " raise workers to use the limit", name, c->max_in_flight, workers, workers);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->slots, NULL);
	c->multi = curl_multi_init();
	if (!c->multi) {
		snprintf(err, errlen, "%s: cannot start libcurl", name);
		goto fail;
	}
	curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->max_in_flight + 4);
	curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->max_in_flight + 4);
	if (pthread_create(&c->thread, NULL, client_main, c) != 0) {
		snprintf(err, errlen, "%s: cannot start the HTTP client thread", name);
		curl_multi_cleanup(c->multi);
		goto fail;
	}
	return c;
fail:
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->slots);
	free(c);
	return NULL;
}

void net_client_free(struct net_client *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->quit = 1;
	pthread_cond_broadcast(&c->slots);
	pthread_mutex_unlock(&c->mu);
	curl_multi_wakeup(c->multi);
	pthread_join(c->thread, NULL);
	curl_multi_cleanup(c->multi);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->slots);
	memset(c->key, 0, sizeof(c->key));
	free(c);
}

/* ---- keys --------------------------------------------------------------- */

/* Trims white space around s in place. */
static void trim_in_place(char *s)
{
	size_t n = strlen(s), i = 0;

	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	while (s[i] && isspace((unsigned char)s[i]))
		i++;
	memmove(s, s + i, n - i + 1);
}

int net_load_key(const struct config_engine *ce, const char *env_name, int required,
		 char *key, size_t keylen, char *err, size_t errlen)
{
	const char *v = NULL;
	const char *name = env_name;
	size_t i;

	key[0] = '\0';
	if (ce->api_key[0]) {
		snprintf(key, keylen, "%s", ce->api_key);
	} else if (ce->api_key_file[0]) {
		char *buf = NULL;
		size_t len = 0;

		if (util_read_file(ce->api_key_file, 4096, &buf, &len) < 0) {
			snprintf(err, errlen, "cannot read the API key file %s: %s", ce->api_key_file,
				 strerror(errno));
			return -1;
		}
		if (len >= keylen) {
			free(buf);
			snprintf(err, errlen, "the API key file %s is too long", ce->api_key_file);
			return -1;
		}
		memcpy(key, buf, len);
		key[len] = '\0';
		memset(buf, 0, len);
		free(buf);
	} else if (name && (v = getenv(name)) != NULL) {
		snprintf(key, keylen, "%s", v);
	}
	trim_in_place(key);
	for (i = 0; key[i]; i++) {
		if ((unsigned char)key[i] <= 0x20 || (unsigned char)key[i] >= 0x7F) {
			memset(key, 0, keylen);
			snprintf(err, errlen, "the API key holds a character that cannot go in an HTTP"
				 " header (byte %zu); check it", i + 1);
			return -1;
		}
	}
	if (required && !key[0]) {
		snprintf(err, errlen, "no API key: set api_key (e.g. api_key = env:%s), api_key_file,"
			 " or the environment variable %s", name ? name : "KEY", name ? name : "");
		return -1;
	}
	return 0;
}

/* ---- images ------------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* The dimensions from a JPEG's first SOF marker; 0 or -1. */
static int jpeg_size(const unsigned char *d, size_t len, unsigned *w, unsigned *h)
{
	size_t i = 2;

	while (i + 4 <= len) {
		unsigned marker, seglen;

		if (d[i] != 0xFF)
			return -1;
		while (i < len && d[i] == 0xFF)
			i++;
		if (i >= len)
			return -1;
		marker = d[i++];
		if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7))
			continue;
		if (marker == 0xD9 || marker == 0xDA || i + 2 > len)
			return -1;
		seglen = (unsigned)d[i] << 8 | d[i + 1];
		if (seglen < 2 || i + seglen > len)
			return -1;
		if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 &&
		    marker != 0xCC) {
			if (seglen < 7)
				return -1;
			*h = (unsigned)d[i + 3] << 8 | d[i + 4];
			*w = (unsigned)d[i + 5] << 8 | d[i + 6];
			return 0;
		}
		i += seglen;
	}
	return -1;
}

int net_image_check(const unsigned char *d, size_t len, char *mime, size_t mimelen,
		    char *ext, size_t extlen, unsigned *width, unsigned *height,
		    char *err, size_t errlen)
{
	static const unsigned char png_sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n' };
	static const unsigned char png_end[8] = { 0, 0, 0, 0, 'I', 'E', 'N', 'D' };
	unsigned w = 0, h = 0;

	if (len >= 33 && !memcmp(d, png_sig, 8)) {
		if (be32(d + 8) != 13 || memcmp(d + 12, "IHDR", 4)) {
			snprintf(err, errlen, "the PNG has no IHDR header");
			return -1;
		}
		w = be32(d + 16);
		h = be32(d + 20);
		if (len < 45 || memcmp(d + len - 12, png_end, 8)) {
			snprintf(err, errlen, "the PNG is truncated (no IEND at its end)");
			return -1;
		}
		snprintf(mime, mimelen, "image/png");
		snprintf(ext, extlen, "png");
	} else if (len >= 4 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) {
		if (jpeg_size(d, len, &w, &h) < 0) {
			snprintf(err, errlen, "the JPEG has no readable frame header");
			return -1;
		}
		snprintf(mime, mimelen, "image/jpeg");
		snprintf(ext, extlen, "jpg");
	} else if (len >= 25 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4)) {
		if ((size_t)le32(d + 4) + 8 > len) {
			snprintf(err, errlen, "the WebP file is truncated");
			return -1;
		}
		if (len >= 30 && !memcmp(d + 12, "VP8 ", 4) && d[23] == 0x9D && d[24] == 0x01 &&
		    d[25] == 0x2A) {
			w = ((unsigned)d[26] | (unsigned)d[27] << 8) & 0x3FFF;
			h = ((unsigned)d[28] | (unsigned)d[29] << 8) & 0x3FFF;
		} else if (!memcmp(d + 12, "VP8L", 4) && d[20] == 0x2F) {
			uint32_t b = le32(d + 21);

			w = (b & 0x3FFF) + 1;
			h = ((b >> 14) & 0x3FFF) + 1;
		} else if (len >= 30 && !memcmp(d + 12, "VP8X", 4)) {
			w = ((unsigned)d[24] | (unsigned)d[25] << 8 | (unsigned)d[26] << 16) + 1;
			h = ((unsigned)d[27] | (unsigned)d[28] << 8 | (unsigned)d[29] << 16) + 1;
		} else {
			snprintf(err, errlen, "the WebP file has no readable frame header");
			return -1;
		}
		snprintf(mime, mimelen, "image/webp");
		snprintf(ext, extlen, "webp");
	} else {
		snprintf(err, errlen, "the answer is not a PNG, JPEG or WebP image (%zu bytes)", len);
		return -1;
	}
	if (w == 0 || h == 0 || w > 65535 || h > 65535) {
		snprintf(err, errlen, "the image claims a size of %ux%u", w, h);
		return -1;
	}
	*width = w;
	*height = h;
	return 0;
}

int net_base64_decode(const char *text, size_t len, unsigned char **out, size_t *outlen)
{
	EVP_ENCODE_CTX *ctx;
	unsigned char *buf;
	const char *comma;
	int n1 = 0, n2 = 0;

	*out = NULL;
	*outlen = 0;
	/* a data: URL, as some servers send */
	if (len > 5 && !strncmp(text, "data:", 5) && (comma = memchr(text, ',', len)) != NULL) {
		len -= (size_t)(comma + 1 - text);
		text = comma + 1;
	}
	if (len > (size_t)1 << 30)
		return -1;
	buf = malloc(len / 4 * 3 + 4);
	ctx = EVP_ENCODE_CTX_new();
	if (!buf || !ctx) {
		free(buf);
		EVP_ENCODE_CTX_free(ctx);
		return -1;
	}
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, buf, &n1, (const unsigned char *)text, (int)len) < 0 ||
	    EVP_DecodeFinal(ctx, buf + n1, &n2) < 0) {
		free(buf);
		EVP_ENCODE_CTX_free(ctx);
		return -1;
	}
	EVP_ENCODE_CTX_free(ctx);
	*out = buf;
	*outlen = (size_t)(n1 + n2);
	return 0;
}

/* ---- messages ----------------------------------------------------------- */

/* The first readable message of a JSON error body, or NULL. */
static const char *json_message(const cJSON *j)
{
	static const char *const keys[] = { "message", "detail", "error", "msg", "errors" };
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
	size_t i;

	if (cJSON_IsObject(e) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message")))
		return cJSON_GetObjectItemCaseSensitive(e, "message")->valuestring;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, keys[i]);

		if (cJSON_IsString(v) && v->valuestring[0])
			return v->valuestring;
		if (cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0) {
			const cJSON *first = cJSON_GetArrayItem(v, 0);

			if (cJSON_IsString(first))
				return first->valuestring;
			if (cJSON_IsObject(first) && json_message(first))
				return json_message(first);
		}
		if (cJSON_IsObject(v) && json_message(v))
			return json_message(v);
	}
	return NULL;
}

void net_clean_message(const struct net_client *c, long status, const unsigned char *body,
		       size_t len, char *out, size_t outlen)
{
	char text[320] = "";
	cJSON *j = NULL;
	const char *m = NULL;
	size_t i, n;
	char *hit;

	if (body && len)
		j = cJSON_ParseWithLength((const char *)body, len);
	if (j)
		m = json_message(j);
	if (m) {
		snprintf(text, sizeof(text), "%s", m);
	} else if (body && len && len < 300 && !j) {
		memcpy(text, body, len);
		text[len] = '\0';
	}
	cJSON_Delete(j);
	/* control characters and bytes that are not text become spaces */
	for (i = 0; text[i]; i++) {
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7F)
			text[i] = ' ';
	}
	if (c && c->key[0]) {
		while ((hit = strstr(text, c->key)) != NULL) {
			size_t kl = strlen(c->key);

			memmove(hit + 5, hit + kl, strlen(hit + kl) + 1);
			memcpy(hit, "[key]", 5);
		}
	}
	n = strlen(text);
	while (n && text[n - 1] == ' ')
		text[--n] = '\0';
	/* do not end inside a UTF-8 sequence */
	if (n >= 300) {
		n = 300;
		while (n && ((unsigned char)text[n] & 0xC0) == 0x80)
			n--;
		text[n] = '\0';
	}
	if (!text[0])
		snprintf(out, outlen, "HTTP %ld", status);
	else
		snprintf(out, outlen, "HTTP %ld: %s", status, text);
}

void net_ignore(char *buf, size_t len, const char *name)
{
	size_t nl = strlen(name);
	const char *p = buf;

	while ((p = strstr(p, name)) != NULL) {
		if ((p == buf || p[-1] == ',') && (p[nl] == ',' || p[nl] == '\0'))
			return;
		p += nl;
	}
	if (buf[0])
		snprintf(buf + strlen(buf), len - strlen(buf), ",%s", name);
	else
		snprintf(buf, len, "%s", name);
}

void net_ratio_parse(const char *ratio, unsigned *rw, unsigned *rh)
{
	unsigned a = 0, b = 0;

	if (!ratio || sscanf(ratio, "%u:%u", &a, &b) != 2 || !a || !b) {
		a = 1;
		b = 1;
	}
	*rw = a;
	*rh = b;
}

int net_ratio_close(const char *ratio, unsigned w, unsigned h)
{
	unsigned rw, rh;
	double want, got;

	net_ratio_parse(ratio, &rw, &rh);
	if (!w || !h)
		return 0;
	want = (double)rw / rh;
	got = (double)w / h;
	return got / want < 1.05 && want / got < 1.05;
}

/* ---- what every network engine does ------------------------------------- */

struct net_client *net_engine_client(const char *name, const struct config_engine *ce,
				     const char *env_name, enum net_auth auth, unsigned workers,
				     char *header, size_t headerlen, char *err, size_t errlen)
{
	struct net_client *c;
	char key[512], msg[300];

	header[0] = '\0';
	if (net_load_key(ce, env_name, auth != NET_AUTH_BASIC, key, sizeof(key), msg,
			 sizeof(msg)) < 0) {
		snprintf(err, errlen, "%s: %s", name, msg);
		return NULL;
	}
	if (auth == NET_AUTH_API_KEY) {
		snprintf(header, headerlen, "Api-Key: %s", key);
	} else if (auth == NET_AUTH_BEARER) {
		snprintf(header, headerlen, "Authorization: Bearer %s", key);
	} else if (key[0]) {
		unsigned char b64[700];

		if (!strchr(key, ':') || strlen(key) > 500) {
			memset(key, 0, sizeof(key));
			snprintf(err, errlen, "%s: the credentials must be written user:password", name);
			return NULL;
		}
		EVP_EncodeBlock(b64, (const unsigned char *)key, (int)strlen(key));
		snprintf(header, headerlen, "Authorization: Basic %s", (char *)b64);
		memset(b64, 0, sizeof(b64));
	}
	c = net_client_new(name, ce, key, workers, err, errlen);
	memset(key, 0, sizeof(key));
	if (!c)
		memset(header, 0, headerlen);
	return c;
}

void net_engine_destroy(void *state)
{
	struct net_engine *ne = state;

	if (!ne)
		return;
	net_client_free(ne->net);
	memset(ne->auth, 0, sizeof(ne->auth));
	free(ne);
}

enum engine_status net_accept_json(void *cls, const struct net_response *r,
				   char *err, size_t errlen)
{
	struct net_json *a = cls;
	cJSON *j = cJSON_ParseWithLength((const char *)r->body, r->len);

	if (!j || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, a->array))) {
		cJSON_Delete(j);
		snprintf(err, errlen, "%s: the answer is not the documented JSON (no %s array)",
			 a->engine, a->array);
		return ENGINE_RETRY;
	}
	a->json = j;
	return ENGINE_OK;
}

/* ---- images into engine_image ------------------------------------------- */

int net_image_take(struct engine_image *img, unsigned char *data, size_t len)
{
	char why[160];

	if (net_image_check(data, len, img->mime, sizeof(img->mime), img->ext, sizeof(img->ext),
			    &img->width, &img->height, why, sizeof(why)) < 0) {
		free(data);
		img->status = ENGINE_RETRY;
		snprintf(img->error, sizeof(img->error), "the service sent a bad image: %s", why);
		return -1;
	}
	img->data = data;
	img->len = len;
	img->status = ENGINE_OK;
	return 0;
}

int net_image_from_base64(struct engine_image *img, const char *text)
{
	unsigned char *data;
	size_t len;

	if (!text || net_base64_decode(text, strlen(text), &data, &len) < 0) {
		img->status = ENGINE_RETRY;
		snprintf(img->error, sizeof(img->error), "the service sent an image that is not base64");
		return -1;
	}
	return net_image_take(img, data, len);
}

/* net_call()'s accept for a download: the body must be an image. */
static enum engine_status accept_image(void *cls, const struct net_response *r,
				       char *err, size_t errlen)
{
	struct engine_image *img = cls;
	unsigned char *copy = malloc(r->len + 1);

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return ENGINE_RETRY;
	}
	memcpy(copy, r->body, r->len);
	if (net_image_take(img, copy, r->len) < 0) {
		snprintf(err, errlen, "%s", img->error);
		img->error[0] = '\0';
		return ENGINE_RETRY;
	}
	return ENGINE_OK;
}

enum engine_status net_image_fetch(struct net_client *c, const char *url,
				   const atomic_int *cancel, struct engine_image *img)
{
	struct net_request req;
	char err[300];
	enum engine_status st;

	if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
		img->status = ENGINE_RETRY;
		snprintf(img->error, sizeof(img->error), "%s: the answer has no image URL", c->name);
		return ENGINE_RETRY;
	}
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	st = net_call(c, &req, cancel, accept_image, img, err, sizeof(err));
	/* an expired or broken link: the scheduler makes the image again later */
	img->status = st == ENGINE_OK || st == ENGINE_CANCELLED ? st : ENGINE_RETRY;
	if (st != ENGINE_OK)
		set_text(img->error, sizeof(img->error), err);
	return st;
}
