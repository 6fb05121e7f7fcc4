/*
 * metrics.c — see metrics.h.  Each counter is an atomic_ullong; the latency
 * histogram keeps one (non-cumulative) count per bucket and the sum in
 * microseconds, and the text is made cumulative when rendered.  Rendering
 * writes to an open_memstream(3) buffer.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/metrics.h"

static const unsigned metrics_statuses[] = {
	200, 201, 204, 206, 304, 400, 401, 402, 403, 404, 405, 409, 413, 415, 416, 422, 429,
	500, 503
};
#define NSTATUS (sizeof(metrics_statuses) / sizeof(metrics_statuses[0]))

static const double metrics_buckets[] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60
};
#define NBUCKET (sizeof(metrics_buckets) / sizeof(metrics_buckets[0]))

static const char *const metrics_engine_kinds[] = { "ok", "cancelled", "retry", "fail", "fatal" };
static const char *const metrics_webhook_kinds[] = { "delivered", "retry", "gave_up", "refused" };

struct metrics {
	const char *route_method[METRICS_MAX_ROUTES + 1];
	const char *route_pattern[METRICS_MAX_ROUTES + 1];
	/* [route][status]; the last route is "no route", the last status "other" */
	atomic_ullong http[METRICS_MAX_ROUTES + 1][NSTATUS + 1];
	atomic_ullong engine_bucket[NBUCKET + 1];
	atomic_ullong engine_sum_us;
	atomic_ullong engine_calls[5];
	atomic_ullong images[2];
	atomic_ullong webhooks[METRICS_WEBHOOK_KINDS];
	atomic_llong stream_clients;
};

struct metrics *metrics_new(void)
{
	return calloc(1, sizeof(struct metrics));
}

void metrics_free(struct metrics *m)
{
	free(m);
}

void metrics_route_label(struct metrics *m, unsigned i, const char *method, const char *pattern)
{
	if (i >= METRICS_MAX_ROUTES)
		return;
	m->route_method[i] = method;
	m->route_pattern[i] = pattern;
}

void metrics_http(struct metrics *m, int route, unsigned status)
{
	unsigned r = route < 0 || route >= METRICS_MAX_ROUTES || !m->route_pattern[route]
		     ? METRICS_MAX_ROUTES : (unsigned)route;
	unsigned s = NSTATUS;

	for (unsigned i = 0; i < NSTATUS; i++) {
		if (metrics_statuses[i] == status)
			s = i;
	}
	atomic_fetch_add_explicit(&m->http[r][s], 1, memory_order_relaxed);
}

void metrics_engine_call(struct metrics *m, double seconds, enum engine_status es)
{
	unsigned b = NBUCKET;

	if (seconds < 0)
		seconds = 0;
	for (unsigned i = 0; i < NBUCKET; i++) {
		if (seconds <= metrics_buckets[i]) {
			b = i;
			break;
		}
	}
	atomic_fetch_add_explicit(&m->engine_bucket[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->engine_sum_us, (unsigned long long)(seconds * 1e6),
				  memory_order_relaxed);
	if ((unsigned)es < 5)
		atomic_fetch_add_explicit(&m->engine_calls[es], 1, memory_order_relaxed);
}

void metrics_image(struct metrics *m, int done)
{
	atomic_fetch_add_explicit(&m->images[done ? 0 : 1], 1, memory_order_relaxed);
}

void metrics_webhook(struct metrics *m, enum metrics_webhook kind)
{
	if (kind < METRICS_WEBHOOK_KINDS)
		atomic_fetch_add_explicit(&m->webhooks[kind], 1, memory_order_relaxed);
}

void metrics_stream_clients(struct metrics *m, int delta)
{
	atomic_fetch_add_explicit(&m->stream_clients, delta, memory_order_relaxed);
}

/* Writes "# HELP" and "# TYPE" of one metric family. */
static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The store's gauges. */
static void render_store(FILE *f, const struct store_metrics *sm)
{
	family(f, "kiln_batches", "gauge", "Batches in the store by state.");
	for (int i = 0; i < 7; i++)
		fprintf(f, "kiln_batches{state=\"%s\"} %lld\n", store_batch_states[i],
			(long long)sm->batches[i]);
	family(f, "kiln_batch_images", "gauge", "Images of the batches in the store, done or failed.");
	fprintf(f, "kiln_batch_images{state=\"done\"} %lld\n", (long long)sm->images_done);
	fprintf(f, "kiln_batch_images{state=\"failed\"} %lld\n", (long long)sm->images_failed);
	family(f, "kiln_queue_depth", "gauge", "Images waiting to be made (queued and running batches).");
	fprintf(f, "kiln_queue_depth %lld\n", (long long)sm->queue_depth);
	family(f, "kiln_images_running", "gauge", "Images being made now.");
	fprintf(f, "kiln_images_running %lld\n", (long long)sm->images_running);
	family(f, "kiln_credits_charged_total", "counter", "Credits charged, over every account.");
	fprintf(f, "kiln_credits_charged_total %lld\n", (long long)sm->credits_charged);
	family(f, "kiln_webhook_outbox_pending", "gauge", "Webhook deliveries not yet made.");
	fprintf(f, "kiln_webhook_outbox_pending %lld\n", (long long)sm->webhooks_pending);
	family(f, "kiln_events_last_id", "gauge", "Id of the newest batch event.");
	fprintf(f, "kiln_events_last_id %lld\n", (long long)sm->last_event_id);
}

char *metrics_render(struct metrics *m, const struct store_metrics *sm, const char *engine,
		     size_t *len)
{
	unsigned long long cum = 0;
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		return NULL;
	if (sm)
		render_store(f, sm);
	family(f, "kiln_http_requests_total", "counter",
	       "HTTP requests answered, by route and status.");
	for (unsigned r = 0; r <= METRICS_MAX_ROUTES; r++) {
		for (unsigned s = 0; s <= NSTATUS; s++) {
			unsigned long long v = atomic_load_explicit(&m->http[r][s], memory_order_relaxed);
			char status[16];

			if (v == 0)
				continue;
			if (s < NSTATUS)
				snprintf(status, sizeof(status), "%u", metrics_statuses[s]);
			else
				snprintf(status, sizeof(status), "other");
			fprintf(f, "kiln_http_requests_total{method=\"%s\",route=\"%s\","
				"status=\"%s\"} %llu\n", r < METRICS_MAX_ROUTES ? m->route_method[r] : "",
				r < METRICS_MAX_ROUTES ? m->route_pattern[r] : "unmatched", status, v);
		}
	}
	family(f, "kiln_engine_call_duration_seconds", "histogram",
	       "Engine calls, by how long they took.");
	for (unsigned b = 0; b <= NBUCKET; b++) {
		cum += atomic_load_explicit(&m->engine_bucket[b], memory_order_relaxed);
		if (b < NBUCKET)
			fprintf(f, "kiln_engine_call_duration_seconds_bucket{engine=\"%s\",le=\"%g\"} %llu\n",
				engine, metrics_buckets[b], cum);
		else
			fprintf(f, "kiln_engine_call_duration_seconds_bucket{engine=\"%s\","
				"le=\"+Inf\"} %llu\n", engine, cum);
	}
	fprintf(f, "kiln_engine_call_duration_seconds_sum{engine=\"%s\"} %.6f\n", engine,
		(double)atomic_load_explicit(&m->engine_sum_us, memory_order_relaxed) / 1e6);
	fprintf(f, "kiln_engine_call_duration_seconds_count{engine=\"%s\"} %llu\n", engine, cum);
	family(f, "kiln_engine_errors_total", "counter", "Engine calls that did not make an image, by kind.");
	for (unsigned i = 1; i < 5; i++)
		fprintf(f, "kiln_engine_errors_total{engine=\"%s\",kind=\"%s\"} %llu\n", engine,
			metrics_engine_kinds[i],
			atomic_load_explicit(&m->engine_calls[i], memory_order_relaxed));
	family(f, "kiln_images_total", "counter", "Images settled by this process: done or failed for good.");
	fprintf(f, "kiln_images_total{result=\"done\"} %llu\n",
		atomic_load_explicit(&m->images[0], memory_order_relaxed));
	fprintf(f, "kiln_images_total{result=\"failed\"} %llu\n",
		atomic_load_explicit(&m->images[1], memory_order_relaxed));
	family(f, "kiln_webhook_deliveries_total", "counter", "Webhook delivery attempts, by outcome.");
	for (unsigned i = 0; i < METRICS_WEBHOOK_KINDS; i++)
		fprintf(f, "kiln_webhook_deliveries_total{result=\"%s\"} %llu\n", metrics_webhook_kinds[i],
			atomic_load_explicit(&m->webhooks[i], memory_order_relaxed));
	family(f, "kiln_event_stream_clients", "gauge", "Clients connected to /v1/events.");
	fprintf(f, "kiln_event_stream_clients %lld\n",
		(long long)atomic_load_explicit(&m->stream_clients, memory_order_relaxed));
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
