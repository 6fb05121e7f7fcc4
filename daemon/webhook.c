/*
 * webhook.c — see webhook.h for the design.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "daemon/kiln.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/util.h"
#include "daemon/webhook.h"
#include "store/store.h"

#define WEBHOOK_BATCH 8                    /* deliveries taken per round */
#define WEBHOOK_LANES 4                    /* delivery threads, each with its share of rows */
#define WEBHOOK_MAX_BACKOFF_MS (600 * 1000)
#define WEBHOOK_PRUNE_EVERY_MS (3600 * 1000)

struct webhooks;

/* One delivery thread: the rows whose seq % WEBHOOK_LANES is its index. */
struct lane {
	struct webhooks *w;
	unsigned idx;
	int woken;               /* under w->mu */
	pthread_t thread;
};

struct webhooks {
	struct kiln *k;
	char secret[300];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_int quit;
	unsigned nlanes;         /* threads started */
	struct lane lanes[WEBHOOK_LANES];
};

void webhooks_hmac_hex(const char *key, const void *data, size_t len, char *out)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	HMAC(EVP_sha256(), key, (int)strlen(key), data, len, mac, &n);
	for (unsigned i = 0; i < n && i < 32; i++)
		sprintf(out + 2 * i, "%02x", mac[i]);
	out[64] = '\0';
}

/* What kind of address an IPv4 address (host order) is when it may not be called; else NULL. */
static const char *forbidden_v4(uint32_t a)
{
	if ((a >> 24) == 0)
		return "an unspecified (0.0.0.0/8)";
	if ((a >> 24) == 10)
		return "a private (10.0.0.0/8)";
	if ((a & 0xffc00000u) == 0x64400000u)
		return "a shared (100.64.0.0/10)";
	if ((a >> 24) == 127)
		return "a loopback";
	if ((a & 0xffff0000u) == 0xa9fe0000u)
		return "a link-local";
	if ((a & 0xfff00000u) == 0xac100000u)
		return "a private (172.16.0.0/12)";
	if ((a & 0xffffff00u) == 0xc0000000u)
		return "a reserved (192.0.0.0/24)";
	if ((a & 0xffff0000u) == 0xc0a80000u)
		return "a private (192.168.0.0/16)";
	if ((a & 0xfffe0000u) == 0xc6120000u)
		return "a benchmarking (198.18.0.0/15)";
	if ((a & 0xf0000000u) == 0xe0000000u)
		return "a multicast";
	if ((a & 0xf0000000u) == 0xf0000000u)
		return "a reserved (240.0.0.0/4)";
	return NULL;
}

static uint32_t v4_at(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The same for an IPv6 address, looking inside the ways IPv6 carries IPv4. */
static const char *forbidden_v6(const unsigned char *b)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const unsigned char zero[16];

	if (memcmp(b, zero, 16) == 0)
		return "an unspecified";
	if (memcmp(b, zero, 15) == 0 && b[15] == 1)
		return "a loopback";
	if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0 || memcmp(b, zero, 12) == 0)
		return forbidden_v4(v4_at(b + 12));
	if (b[0] == 0x20 && b[1] == 0x02)        /* 6to4 */
		return forbidden_v4(v4_at(b + 2));
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return "a link-local";
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return "a site-local";
	if ((b[0] & 0xfe) == 0xfc)
		return "a private (unique local, fc00::/7)";
	if (b[0] == 0xff)
		return "a multicast";
	return NULL;
}

/* The parts of a webhook URL that matter here. */
struct target {
	char host[256];          /* without IPv6 brackets */
	char port[8];
	char addr[INET6_ADDRSTRLEN]; /* the address checked, to pin */
	int v6;
	int literal;             /* the host is an IP address */
};

/*
 * Parses url and resolves its host, checking every address.  Returns 0; -1
 * with a message for a URL that is refused for good; -2 with a message when
 * the name cannot be resolved now (worth retrying).
 */
static int target_of(const struct config *cfg, const char *url, struct target *t,
		     char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL, *pass = NULL;
	struct addrinfo hints, *res = NULL;
	int rc = -1, gai;

	memset(t, 0, sizeof(*t));
	if (!u) {
		snprintf(err, errlen, "out of memory");
		return -2;
	}
	if (strlen(url) > 2000 ||
	    curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		snprintf(err, errlen, "webhook_url is not a URL: give an http:// or https:// address,"
			 " e.g. https://example.com/kiln-hook");
		goto out;
	}
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		snprintf(err, errlen, "webhook_url must be an http:// or https:// URL, not %s://", scheme);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK) {
		snprintf(err, errlen, "webhook_url must not carry a user name or password;"
			 " check the signature header instead");
		goto out;
	}
	if (host[0] == '[') {
		size_t n = strlen(host);

		if (n < 3 || n - 2 >= sizeof(t->host) || host[n - 1] != ']') {
			snprintf(err, errlen, "webhook_url has a bad IPv6 address");
			goto out;
		}
		memcpy(t->host, host + 1, n - 2);
	} else if (strlen(host) < sizeof(t->host)) {
		strcpy(t->host, host);
	} else {
		snprintf(err, errlen, "webhook_url's host name is too long");
		goto out;
	}
	snprintf(t->port, sizeof(t->port), "%s", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	gai = getaddrinfo(t->host, t->port, &hints, &res);
	if (gai != 0) {
		snprintf(err, errlen, "webhook_url's host %s cannot be resolved: %s", t->host,
			 gai_strerror(gai));
		rc = -2;
		goto out;
	}
	{
		struct in6_addr a6;
		struct in_addr a4;

		t->literal = inet_pton(AF_INET, t->host, &a4) == 1 || inet_pton(AF_INET6, t->host, &a6) == 1;
	}
	rc = -1;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		const char *bad = NULL;
		char text[INET6_ADDRSTRLEN] = "";
		int v6 = ai->ai_family == AF_INET6;

		if (ai->ai_family == AF_INET) {
			struct sockaddr_in *sa = (struct sockaddr_in *)ai->ai_addr;

			inet_ntop(AF_INET, &sa->sin_addr, text, sizeof(text));
			bad = forbidden_v4(ntohl(sa->sin_addr.s_addr));
		} else if (v6) {
			struct sockaddr_in6 *sa = (struct sockaddr_in6 *)ai->ai_addr;

			inet_ntop(AF_INET6, &sa->sin6_addr, text, sizeof(text));
			bad = forbidden_v6(sa->sin6_addr.s6_addr);
		} else {
			continue;
		}
		if (bad && !cfg->webhooks_allow_private) {
			snprintf(err, errlen, "webhook_url's host %s is %s address (%s): kilnd calls only"
				 " public addresses unless webhooks.allow_private = true is set in its"
				 " config", t->host, bad, text);
			rc = -1;
			goto out;
		}
		if (!t->addr[0]) {
			snprintf(t->addr, sizeof(t->addr), "%s", text);
			t->v6 = v6;
		}
	}
	if (!t->addr[0]) {
		snprintf(err, errlen, "webhook_url's host %s has no IPv4 or IPv6 address", t->host);
		rc = -2;
		goto out;
	}
	rc = 0;
out:
	if (res)
		freeaddrinfo(res);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(user);
	curl_free(pass);
	curl_url_cleanup(u);
	return rc;
}

int webhooks_check_url(const struct config *cfg, const char *url, char *err, size_t errlen)
{
	struct target t;

	/* a name that does not resolve now may later: the check at delivery decides */
	return target_of(cfg, url, &t, err, errlen) == -1 ? -1 : 0;
}

/* Discards the receiver's answer. */
static size_t sink(char *ptr, size_t size, size_t nmemb, void *cls)
{
	(void)ptr;
	(void)cls;
	return size * nmemb;
}

/* Aborts a transfer when kilnd is stopping. */
static int progress(void *cls, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		    curl_off_t ulnow)
{
	struct webhooks *w = cls;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return atomic_load(&w->quit) ? 1 : 0;
}

/*
 * POSTs one delivery.  Returns the HTTP status (0 when there was no answer,
 * with a message in err); -1 when the address is refused for good.
 */
static int post(struct webhooks *w, const struct store_delivery *d, char *err, size_t errlen)
{
	struct target t;
	struct curl_slist *headers = NULL, *resolve = NULL;
	char line[512], sig[65], tsig[65], ts[24];
	char *signed_text;
	size_t blen = strlen(d->body);
	long status = 0;
	CURLcode cc;
	CURL *c;
	int rc = target_of(&w->k->cfg, d->url, &t, err, errlen);

	if (rc == -1)
		return -1;
	if (rc < 0)
		return 0;
	snprintf(ts, sizeof(ts), "%lld", (long long)(util_now_ms() / 1000));
	webhooks_hmac_hex(w->secret, d->body, blen, sig);
	signed_text = malloc(strlen(ts) + 1 + blen + 1);
	if (!signed_text) {
		snprintf(err, errlen, "out of memory");
		return 0;
	}
	sprintf(signed_text, "%s.%s", ts, d->body);
	webhooks_hmac_hex(w->secret, signed_text, strlen(signed_text), tsig);
	free(signed_text);
	c = curl_easy_init();
	if (!c) {
		snprintf(err, errlen, "cannot make a curl handle");
		return 0;
	}
	headers = curl_slist_append(headers, "Content-Type: application/json; charset=utf-8");
	headers = curl_slist_append(headers, "Expect:");
	snprintf(line, sizeof(line), "X-Kiln-Event: %s", d->type);
	headers = curl_slist_append(headers, line);
	snprintf(line, sizeof(line), "X-Kiln-Event-Id: %" PRId64, d->event_id);
	headers = curl_slist_append(headers, line);
	snprintf(line, sizeof(line), "X-Kiln-Delivery: %" PRId64, d->seq);
	headers = curl_slist_append(headers, line);
	snprintf(line, sizeof(line), "X-Kiln-Timestamp: %s", ts);
	headers = curl_slist_append(headers, line);
	snprintf(line, sizeof(line), "X-Kiln-Signature: sha256=%s", sig);
	headers = curl_slist_append(headers, line);
	snprintf(line, sizeof(line), "X-Kiln-Timestamp-Signature: sha256=%s", tsig);
	headers = curl_slist_append(headers, line);
	if (!t.literal) {
		/* connect to the address that was checked, whatever DNS says next */
		snprintf(line, sizeof(line), "%s:%s:%s%s%s", t.host, t.port, t.v6 ? "[" : "", t.addr,
			 t.v6 ? "]" : "");
		resolve = curl_slist_append(resolve, line);
		curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
	}
	curl_easy_setopt(c, CURLOPT_URL, d->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, d->body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "kilnd-webhook/1");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)w->k->cfg.webhooks_timeout_seconds);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)w->k->cfg.webhooks_timeout_seconds);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, w);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	else
		snprintf(err, errlen, "%s", curl_easy_strerror(cc));
	curl_easy_cleanup(c);
	curl_slist_free_all(headers);
	curl_slist_free_all(resolve);
	if (status > 0 && (status < 200 || status > 299))
		snprintf(err, errlen, "the receiver answered HTTP %ld", status);
	return (int)status;
}

/* The pause before attempt number attempts + 1: 1 s, 2 s, 4 s, ... at most 10 minutes. */
static int64_t backoff_ms(unsigned attempts)
{
	int64_t ms = 1000;

	for (unsigned i = 1; i < attempts && ms < WEBHOOK_MAX_BACKOFF_MS; i++)
		ms *= 2;
	return ms < WEBHOOK_MAX_BACKOFF_MS ? ms : WEBHOOK_MAX_BACKOFF_MS;
}

/* Makes one attempt at a delivery and records it. */
static void deliver(struct webhooks *w, const struct store_delivery *d)
{
	struct kiln *k = w->k;
	char err[512] = "";
	const char *state;
	int64_t now, next = 0;
	int status = post(w, d, err, sizeof(err));
	struct store *st;

	if (atomic_load(&w->quit) && status <= 0 && status != -1)
		return;                  /* abandoned by the shutdown: due again after a restart */
	now = util_now_ms();
	if (status >= 200 && status <= 299) {
		state = "delivered";
		metrics_webhook(k->metrics, METRICS_WEBHOOK_DELIVERED);
		log_info("webhook %s of batch %s delivered (HTTP %d, attempt %u)", d->type, d->batch_id,
			 status, d->attempts + 1);
	} else if (status == -1) {
		state = "failed";
		metrics_webhook(k->metrics, METRICS_WEBHOOK_REFUSED);
		log_warn("webhook %s of batch %s refused: %s", d->type, d->batch_id, err);
	} else {
		next = now + backoff_ms(d->attempts + 1);
		if (next - d->created_at > (int64_t)k->cfg.webhooks_retry_seconds * 1000) {
			state = "failed";
			metrics_webhook(k->metrics, METRICS_WEBHOOK_GAVE_UP);
			log_warn("webhook %s of batch %s: %s; giving up after %u attempts", d->type,
				 d->batch_id, err, d->attempts + 1);
		} else {
			state = "pending";
			metrics_webhook(k->metrics, METRICS_WEBHOOK_RETRY);
			log_warn("webhook %s of batch %s: %s (attempt %u; next in %lld s)", d->type,
				 d->batch_id, err, d->attempts + 1, (long long)((next - now) / 1000));
		}
	}
	st = store_pool_get(k->pool);
	if (!st)
		return;
	store_outbox_attempt(st, d->seq, state, status > 0 ? status : 0, err[0] ? err : NULL,
			     next, now);
	store_pool_put(k->pool, st);
}

/* Deletes events and finished deliveries older than the retention. */
static void prune(struct webhooks *w)
{
	struct kiln *k = w->k;
	struct store *st = store_pool_get(k->pool);
	unsigned ne = 0, nd = 0;

	if (!st)
		return;
	if (store_events_prune(st, util_now_ms() - (int64_t)k->cfg.events_retention_days * 86400000,
			       &ne, &nd) == STORE_OK && (ne || nd))
		log_info("pruned %u event(s) and %u webhook deliveries older than %u days", ne, nd,
			 k->cfg.events_retention_days);
	store_pool_put(k->pool, st);
}

static void *webhooks_main(void *arg)
{
	struct lane *l = arg;
	struct webhooks *w = l->w;
	struct kiln *k = w->k;
	int64_t next_prune = 0, next_due = 0;

	while (!atomic_load(&w->quit)) {
		struct store_delivery v[WEBHOOK_BATCH];
		unsigned n = 0;
		int64_t now = util_now_ms();
		struct store *st;

		if (l->idx == 0 && now >= next_prune) {
			prune(w);
			next_prune = now + WEBHOOK_PRUNE_EVERY_MS;
		}
		st = store_pool_get(k->pool);
		if (st) {
			if (store_outbox_due(st, now, l->idx, WEBHOOK_LANES, v, WEBHOOK_BATCH, &n,
					     &next_due) != STORE_OK)
				next_due = now + 5000;
			store_pool_put(k->pool, st);
		}
		for (unsigned i = 0; i < n; i++) {
			if (!atomic_load(&w->quit))
				deliver(w, &v[i]);
			store_delivery_free(&v[i]);
		}
		if (n == WEBHOOK_BATCH)
			continue;
		pthread_mutex_lock(&w->mu);
		while (!l->woken && !atomic_load(&w->quit)) {
			struct timespec until;
			int64_t wait_ms = 60000;

			now = util_now_ms();
			if (next_due > 0 && next_due - now < wait_ms)
				wait_ms = next_due - now;
			if (wait_ms <= 0)
				break;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += wait_ms / 1000;
			until.tv_nsec += (wait_ms % 1000) * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			if (pthread_cond_timedwait(&w->cv, &w->mu, &until) == ETIMEDOUT)
				break;
		}
		l->woken = 0;
		pthread_mutex_unlock(&w->mu);
	}
	return NULL;
}

/* The signing key: the config's, else <data_dir>/webhook.secret (made once). 0 or -1. */
static int load_secret(struct webhooks *w, char *err, size_t errlen)
{
	struct kiln *k = w->k;
	char path[1200], *text = NULL;
	size_t len = 0;

	if (k->cfg.webhook_secret[0]) {
		snprintf(w->secret, sizeof(w->secret), "%s", k->cfg.webhook_secret);
		return 0;
	}
	snprintf(path, sizeof(path), "%s/webhook.secret", k->cfg.data_dir);
	if (util_read_file(path, 1024, &text, &len) == 0) {
		while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
			text[--len] = '\0';
		snprintf(w->secret, sizeof(w->secret), "%s", text);
		free(text);
		if (w->secret[0])
			return 0;
	}
	if (util_random_hex(w->secret, 32) < 0) {
		snprintf(err, errlen, "cannot make a webhook secret");
		return -1;
	}
	{
		char line[80];
		int n = snprintf(line, sizeof(line), "%s\n", w->secret);

		if (util_write_durable(k->cfg.data_dir, "webhook.secret", line, (size_t)n, 0600) < 0) {
			snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
			return -1;
		}
	}
	log_info("webhook_secret is not set: webhooks are signed with the key kilnd wrote to %s", path);
	return 0;
}

struct webhooks *webhooks_start(struct kiln *k, char *err, size_t errlen)
{
	struct webhooks *w = calloc(1, sizeof(*w));

	if (!w) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->k = k;
	if (load_secret(w, err, errlen) < 0) {
		free(w);
		return NULL;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	for (unsigned i = 0; i < WEBHOOK_LANES; i++) {
		w->lanes[i].w = w;
		w->lanes[i].idx = i;
		if (pthread_create(&w->lanes[i].thread, NULL, webhooks_main, &w->lanes[i]) != 0) {
			snprintf(err, errlen, "cannot start the webhook threads");
			webhooks_stop(w);
			return NULL;
		}
		w->nlanes++;
	}
	return w;
}

void webhooks_wake(struct webhooks *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	for (unsigned i = 0; i < WEBHOOK_LANES; i++)
		w->lanes[i].woken = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void webhooks_stop(struct webhooks *w)
{
	if (!w)
		return;
	atomic_store(&w->quit, 1);
	webhooks_wake(w);
	for (unsigned i = 0; i < w->nlanes; i++)
		pthread_join(w->lanes[i].thread, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}
