/*
 * events.c — GET /v1/events: the caller's batch events as a
 * text/event-stream, hundreds of clients at once on MHD's few threads.
 *
 * DESIGN
 * A stream is an MHD response of unknown size whose content reader fills a
 * small buffer with the events after its cursor, read from the store (the
 * events table, written in the same transactions as the changes they
 * report) through the hub's own connections.  When there is nothing to
 * send and no heartbeat is due, the reader puts the stream on the hub's
 * waiting list, suspends its connection (MHD_suspend_connection(), the
 * pattern microhttpd.h gives for "no data yet") and returns 0: a waiting
 * client costs a socket and libmicrohttpd's per-connection memory, no
 * thread and no store connection.  store_commit() calls the pool's notifier after
 * a transaction that wrote events; it bumps the hub's generation and wakes
 * the hub thread, which resumes every waiting stream.  The hub thread also
 * resumes each stream when its heartbeat (a comment line, every
 * events.heartbeat_seconds) is due, which keeps proxies and MHD's idle
 * timeout from closing it and finds clients that went away.  A reader that
 * saw the generation change while it was reading does not suspend, so no
 * event can slip between the read and the wait.  Conversely a reader asks
 * the store only when the generation moved since its last read that found
 * every event (or a heartbeat is due): one store read per event and
 * stream, not a second one, empty, on the call after the one that sent it.
 *
 * Locks: the hub mutex is taken before MHD's own (suspend and resume are
 * called with it held); MHD never calls back into this file with a lock of
 * its own held that the hub would need.  A stream is on the waiting list
 * only while its connection is suspended, so it is never freed while
 * listed; before MHD_stop_daemon() (which must not see suspended
 * connections), api_events_close() resumes them all and the readers end
 * their streams.
 *
 * The cursor: Last-Event-ID (or ?last_event_id= for clients that cannot
 * set headers) resumes after that id; without either the stream starts at
 * the newest event, so a new client sees what happens from now on.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "daemon/kiln.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/util.h"

#define STREAM_BATCH 100       /* events read from the store per refill */

struct stream {
	struct api_events *hub;
	struct MHD_Connection *conn;
	char account_id[33];     /* "" for every account (the admin's scope=all) */
	int64_t cursor;          /* the last event id queued to the client */
	char *buf;               /* bytes not yet handed to MHD */
	size_t len, off, cap;
	int64_t next_beat;       /* monotonic ms */
	struct stream *next;     /* on the waiting list (under hub->mu) */
	unsigned read_gen;       /* the hub's generation when the last refill began */
	unsigned got;            /* events that refill read */
	int caught_up;           /* that refill read every event there was (fewer than a batch) */
};

struct api_events {
	struct kiln *k;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned gen;            /* bumped by every notification */
	struct stream *waiting;  /* suspended streams */
	int closing;             /* streams end; nothing suspends any more */
	int quit;                /* the hub thread ends */
	atomic_uint nstreams;    /* streams alive (their responses not yet freed) */
	int64_t heartbeat_ms;
	struct store_pool *pool; /* the streams' own connections (see refill()) */
	pthread_t thread;
};

/* Appends bytes to the stream's buffer; -1 when out of memory. */
static int put(struct stream *s, const char *data, size_t n)
{
	if (s->off == s->len)
		s->off = s->len = 0;
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		char *nb;

		while (cap < s->len + n)
			cap *= 2;
		nb = realloc(s->buf, cap);
		if (!nb)
			return -1;
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	return 0;
}

/* store_events_after()'s callback: one SSE message per event. */
static int put_event(void *cls, const struct store_event *ev)
{
	struct stream *s = cls;
	char head[96];
	int n;

	s->got++;
	n = snprintf(head, sizeof(head), "id: %" PRId64 "\nevent: %s\ndata: ", ev->id, ev->type);

	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	if (put(s, head, (size_t)n) < 0 || put(s, ev->data, strlen(ev->data)) < 0 ||
	    put(s, "\n\n", 2) < 0)
		return -1;
	return 0;
}

/*
 * Reads the events after the cursor into the buffer; 0 or -1.  The
 * connection comes from the hub's own pool, one per HTTP thread: a reader
 * runs on an MHD thread, and waiting there for one of kilnd's shared
 * connections (which requests in progress, archive downloads say, may
 * hold) could stall the very thread that would give one back.
 */
static int refill(struct stream *s, unsigned gen)
{
	struct api_events *hub = s->hub;
	struct store *st = store_pool_get(hub->pool);
	int64_t last;
	int rc;

	if (!st)
		return -1;
	s->read_gen = gen;
	s->got = 0;
	rc = store_events_after(st, s->account_id[0] ? s->account_id : NULL, s->cursor,
				STREAM_BATCH, put_event, s, &last);
	store_pool_put(hub->pool, st);
	if (rc != STORE_OK)
		return -1;
	s->cursor = last;
	s->caught_up = s->got < STREAM_BATCH;
	return 0;
}

static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max)
{
	struct stream *s = cls;
	struct api_events *hub = s->hub;

	(void)pos;
	for (;;) {
		unsigned gen;
		int64_t now;

		if (s->off < s->len) {
			size_t n = s->len - s->off < max ? s->len - s->off : max;

			memcpy(out, s->buf + s->off, n);
			s->off += n;
			return (ssize_t)n;
		}
		pthread_mutex_lock(&hub->mu);
		gen = hub->gen;
		if (hub->closing) {
			pthread_mutex_unlock(&hub->mu);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		pthread_mutex_unlock(&hub->mu);
		/*
		 * The store only when something may be new: a refill that read
		 * every event began at generation gen, and every commit that
		 * writes events bumps it afterwards, so an unchanged generation
		 * means no event after the cursor (once per event and stream,
		 * not twice: the call after the one that sent the events asked
		 * the store again for nothing).  A heartbeat still asks, in case
		 * another process wrote to the store.
		 */
		now = util_mono_ms();
		if (!(s->caught_up && gen == s->read_gen && now < s->next_beat) && refill(s, gen) < 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (s->off < s->len) {
			s->next_beat = now + hub->heartbeat_ms;
			continue;
		}
		if (now >= s->next_beat) {
			s->next_beat = now + hub->heartbeat_ms;
			if (put(s, ":\n\n", 3) < 0)
				return MHD_CONTENT_READER_END_WITH_ERROR;
			continue;
		}
		if (s->cap > 16384) {
			/* a burst grew the buffer: do not keep it while waiting */
			free(s->buf);
			s->buf = NULL;
			s->cap = s->len = s->off = 0;
		}
		pthread_mutex_lock(&hub->mu);
		if (hub->gen != gen || hub->closing) {
			pthread_mutex_unlock(&hub->mu);
			continue;
		}
		s->next = hub->waiting;
		hub->waiting = s;
		MHD_suspend_connection(s->conn);
		pthread_mutex_unlock(&hub->mu);
		return 0;
	}
}

static void stream_free(void *cls)
{
	struct stream *s = cls;

	metrics_stream_clients(s->hub->k->metrics, -1);
	atomic_fetch_sub(&s->hub->nstreams, 1);
	free(s->buf);
	free(s);
}

/* Resumes the waiting streams: all of them, or those whose heartbeat is due. Under mu. */
static void resume(struct api_events *hub, int all, int64_t now)
{
	struct stream **pp = &hub->waiting;

	while (*pp) {
		struct stream *s = *pp;

		if (all || now >= s->next_beat) {
			*pp = s->next;
			s->next = NULL;
			MHD_resume_connection(s->conn);
		} else {
			pp = &s->next;
		}
	}
}

static void *hub_main(void *arg)
{
	struct api_events *hub = arg;
	unsigned seen = 0;

	pthread_mutex_lock(&hub->mu);
	while (!hub->quit) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 250 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (hub->gen == seen)
			pthread_cond_timedwait(&hub->cv, &hub->mu, &until);
		if (hub->gen != seen) {
			seen = hub->gen;
			resume(hub, 1, 0);
		} else {
			resume(hub, 0, util_mono_ms());
		}
	}
	pthread_mutex_unlock(&hub->mu);
	return NULL;
}

struct api_events *api_events_new(struct kiln *k)
{
	struct api_events *hub = calloc(1, sizeof(*hub));

	if (!hub)
		return NULL;
	hub->k = k;
	hub->heartbeat_ms = (int64_t)k->cfg.events_heartbeat_seconds * 1000;
	hub->pool = store_pool_new(k->db_path, k->cfg.http_threads);
	if (!hub->pool) {
		free(hub);
		return NULL;
	}
	pthread_mutex_init(&hub->mu, NULL);
	pthread_cond_init(&hub->cv, NULL);
	if (pthread_create(&hub->thread, NULL, hub_main, hub) != 0) {
		store_pool_free(hub->pool);
		pthread_mutex_destroy(&hub->mu);
		pthread_cond_destroy(&hub->cv);
		free(hub);
		return NULL;
	}
	return hub;
}

void api_events_notify(struct api_events *hub)
{
	if (!hub)
		return;
	pthread_mutex_lock(&hub->mu);
	hub->gen++;
	pthread_cond_signal(&hub->cv);
	pthread_mutex_unlock(&hub->mu);
}

void api_events_close(struct api_events *hub)
{
	if (!hub)
		return;
	pthread_mutex_lock(&hub->mu);
	hub->closing = 1;
	resume(hub, 1, 0);
	pthread_mutex_unlock(&hub->mu);
	/* the readers end their streams; MHD frees them when they are sent */
	for (int i = 0; i < 300 && atomic_load(&hub->nstreams) > 0; i++)
		usleep(10 * 1000);
}

void api_events_free(struct api_events *hub)
{
	if (!hub)
		return;
	pthread_mutex_lock(&hub->mu);
	hub->quit = 1;
	hub->closing = 1;
	pthread_cond_signal(&hub->cv);
	pthread_mutex_unlock(&hub->mu);
	pthread_join(hub->thread, NULL);
	store_pool_free(hub->pool);
	pthread_mutex_destroy(&hub->mu);
	pthread_cond_destroy(&hub->cv);
	free(hub);
}

/* Parses an event id (digits only); -1 when it is not one. */
static int parse_id(const char *v, int64_t *out)
{
	int64_t n = 0;

	if (!v || !*v || strlen(v) > 18)
		return -1;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		n = n * 10 + (*p - '0');
	}
	*out = n;
	return 0;
}

enum MHD_Result api_events_stream(struct api_request *req)
{
	static const char hello[] = "retry: 2000\n: connected\n\n";
	struct kiln *k = req->k;
	struct api_events *hub = k->events;
	const char *last = api_header(req, "Last-Event-ID");
	const char *scope = api_arg(req, "scope");
	struct MHD_Response *resp;
	struct stream *s;
	int64_t cursor = 0;
	unsigned timeout;

	if (!last)
		last = api_arg(req, "last_event_id");
	if (last && parse_id(last, &cursor) < 0)
		return api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
				 "Last-Event-ID (or last_event_id) must be an event id: the id: of an"
				 " event received before", NULL);
	if (scope && strcmp(scope, "mine") != 0 && strcmp(scope, "all") != 0)
		return api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
				 "scope must be mine (the default) or all (admin only)", NULL);
	if (scope && strcmp(scope, "all") == 0 && !req->account.is_admin)
		return api_error(req, MHD_HTTP_FORBIDDEN, "forbidden",
				 "scope=all is for the admin; leave it out to see your own batches", NULL);
	if (!hub)
		return api_internal(req);
	if (strcmp(req->method, "HEAD") == 0)
		return api_reply_data(req, MHD_HTTP_OK, "text/event-stream; charset=utf-8", "", 0);
	if (!last) {
		if (!api_store(req) || store_events_last(req->st, &cursor) != STORE_OK)
			return api_internal(req);
	}
	/* a stream lives long: it must not keep a pooled connection */
	if (req->st) {
		store_pool_put(k->pool, req->st);
		req->st = NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return api_internal(req);
	s->hub = hub;
	s->conn = req->conn;
	s->cursor = cursor;
	if (!(scope && strcmp(scope, "all") == 0))
		memcpy(s->account_id, req->account.id, sizeof(s->account_id));
	s->next_beat = util_mono_ms() + hub->heartbeat_ms;
	if (put(s, hello, strlen(hello)) < 0) {
		free(s);
		return api_internal(req);
	}
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, reader, s, stream_free);
	if (!resp) {
		free(s->buf);
		free(s);
		return api_internal(req);
	}
	atomic_fetch_add(&hub->nstreams, 1);
	metrics_stream_clients(k->metrics, 1);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	/* heartbeats keep the stream active; allow three to be missed */
	timeout = k->cfg.events_heartbeat_seconds * 3 > 120 ? k->cfg.events_heartbeat_seconds * 3 : 120;
	MHD_set_connection_option(req->conn, MHD_CONNECTION_OPTION_TIMEOUT, timeout);
	log_debug("event stream opened after id %lld", (long long)cursor);
	return api_queue(req, MHD_HTTP_OK, resp);
}
