/*
 * watch.h — following one batch until it ends: `kiln watch ID` and
 * `kiln submit FILE --wait`.
 *
 * DESIGN
 * watch_run() reads the batch, then follows it through GET /v1/events when
 * kilnd answers it (each event naming the batch triggers a fresh GET of the
 * batch, at most four a second, plus one every 5 s as a safety net), else by
 * polling GET /v1/batches/{id} once a second.  On a terminal it redraws one
 * line with \r: a bar, done/total, percent, failed, rate and ETA; otherwise
 * it prints a plain line each time the state or the counts change (at most
 * one a second); with --json, each new batch object as one line.  It ends
 * when the batch is completed, failed or stopped.
 */
#ifndef KILN_CLI_WATCH_H
#define KILN_CLI_WATCH_H

#include <cjson/cJSON.h>

#include "cli/http.h"

struct watch_opts {
	int json;        /* one batch object per line instead of the display */
	int tty;         /* stdout is a terminal: the live bar */
	int quiet;       /* print only the last line (not a terminal, submit --wait --json) */
};

/*
 * Follows batch id until it is completed, failed or stopped; returns the exit
 * code (0 when every image was made, HTTP_EXIT_BATCH when it failed, was
 * stopped or some images failed, 1 or 3 for a request that failed, 130 on
 * Ctrl-C).  *final (when not NULL) gets the last batch object, to be freed.
 */
int watch_run(struct http_client *c, const char *id, const struct watch_opts *o, cJSON **final);

/* The exit code a finished batch object stands for (see watch_run). */
int watch_batch_exit(const cJSON *batch);

#endif
