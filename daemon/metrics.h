/*
 * metrics.h — kilnd's counters for /metrics (Prometheus text format 0.0.4).
 *
 * DESIGN
 * What happens in this process — HTTP requests by route and status, engine
 * calls (a latency histogram and errors by kind), images settled, webhook
 * deliveries, event-stream clients — is counted in memory with atomic
 * additions, so counting costs no lock on the hot paths (every HTTP
 * request, every engine call).  What the store knows better (batches by
 * state, queue depth, credits charged) is read from it at scrape time and
 * passed to metrics_render() as gauges, so those survive a restart.  The
 * struct lives in the daemon context (struct kiln), not in a global.
 */
#ifndef KILN_METRICS_H
#define KILN_METRICS_H

#include <stddef.h>

#include "daemon/engine.h"
#include "store/store.h"

#define METRICS_MAX_ROUTES 64

struct metrics;

enum metrics_webhook {
	METRICS_WEBHOOK_DELIVERED, /* answered 2xx */
	METRICS_WEBHOOK_RETRY,     /* failed; another attempt is scheduled */
	METRICS_WEBHOOK_GAVE_UP,   /* failed for the last time */
	METRICS_WEBHOOK_REFUSED,   /* the address is not allowed (SSRF guard) */
	METRICS_WEBHOOK_KINDS
};

/* A zeroed set of counters; NULL when out of memory. */
struct metrics *metrics_new(void);

void metrics_free(struct metrics *m);

/* Names route i (0 .. METRICS_MAX_ROUTES-1) for the labels; the strings must outlive m. */
void metrics_route_label(struct metrics *m, unsigned i, const char *method, const char *pattern);

/* Counts one answered HTTP request; route -1 when no route matched. */
void metrics_http(struct metrics *m, int route, unsigned status);

/* Counts one engine call that took seconds and ended with es. */
void metrics_engine_call(struct metrics *m, double seconds, enum engine_status es);

/* Counts one image settled: done (1) or failed for good (0). */
void metrics_image(struct metrics *m, int done);

/* Counts one webhook delivery attempt's outcome. */
void metrics_webhook(struct metrics *m, enum metrics_webhook kind);

/* Adds delta (+1, -1) to the number of connected event-stream clients. */
void metrics_stream_clients(struct metrics *m, int delta);

/*
 * The whole exposition text (malloc'd, *len bytes) from the counters and the
 * store's gauges sm (NULL: left out); engine labels the engine series.
 */
char *metrics_render(struct metrics *m, const struct store_metrics *sm, const char *engine,
		     size_t *len);

#endif
