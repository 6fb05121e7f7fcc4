/*
 * watch.c — following a batch live (see watch.h).
 *
 * DESIGN
 * All display works from whole batch objects (GET /v1/batches/{id}); the
 * event stream is only the signal that something changed, so the CLI does
 * not depend on the exact shape of an event's data, only on the batch id
 * appearing in it.  While the stream is open (on the client's own handle),
 * the fresh reads go through a second handle.  The rate is measured here
 * (images settled since the watch began over the time since); the ETA is
 * kilnd's eta_seconds, else remaining / rate.  Ctrl-C ends the watch (the
 * batch goes on) with the cursor on a fresh line.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/watch.h"

#define WATCH_POLL_MS 1000
#define WATCH_SAFETY_MS 5000
#define WATCH_MIN_GAP_MS 250
#define WATCH_SSE_MAX (256 * 1024)

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

struct watcher {
	struct http_client *c;       /* polling, and the stream itself */
	struct http_client side;     /* reads while the stream is open */
	int side_ok;
	const char *id;
	const struct watch_opts *o;
	cJSON *batch;                /* the latest batch object */
	int rc;                      /* set when a read failed */
	/* measurement */
	double t_start;              /* when the watch began (s, monotonic) */
	double t0;                   /* first sight of the batch running */
	int settled0;
	double last_read, last_draw, last_line;
	int dirty;                   /* an event asked for a fresh read */
	char last_key[128];          /* state and counts of the last plain line */
	/* the event stream */
	char *sse;
	size_t sse_len;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int num(const cJSON *b, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, k);

	return cJSON_IsNumber(v) ? v->valueint : 0;
}

static const char *str(const cJSON *b, const char *k)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, k));

	return s ? s : "";
}

static int terminal(const cJSON *b)
{
	const char *s = str(b, "state");

	return strcmp(s, "completed") == 0 || strcmp(s, "failed") == 0 || strcmp(s, "stopped") == 0;
}

int watch_batch_exit(const cJSON *b)
{
	if (strcmp(str(b, "state"), "completed") == 0 && num(b, "images_failed") == 0)
		return HTTP_EXIT_OK;
	return HTTP_EXIT_BATCH;
}

/* "1:05", "1:02:03" or "--". */
static void fmt_duration(double s, char *out, size_t len)
{
	long v = (long)(s + 0.5);

	if (s < 0)
		snprintf(out, len, "--");
	else if (v >= 3600)
		snprintf(out, len, "%ld:%02ld:%02ld", v / 3600, v / 60 % 60, v % 60);
	else
		snprintf(out, len, "%ld:%02ld", v / 60, v % 60);
}

/* The measured rate in images a second, or -1 when not known yet. */
static double rate(struct watcher *w, double now)
{
	int settled = num(w->batch, "images_done") + num(w->batch, "images_failed");

	if (w->t0 <= 0 || now - w->t0 < 0.5 || settled <= w->settled0)
		return -1;
	return (settled - w->settled0) / (now - w->t0);
}

/* Seconds left: kilnd's estimate, else from the measured rate; -1 when unknown. */
static double eta(struct watcher *w, double now)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(w->batch, "eta_seconds");
	int left = num(w->batch, "images_total") - num(w->batch, "images_done") -
		   num(w->batch, "images_failed");
	double r;

	if (strcmp(str(w->batch, "state"), "completed") == 0)
		return 0;
	if (cJSON_IsNumber(e))
		return e->valuedouble;
	r = rate(w, now);
	return r > 0 ? left / r : -1;
}

/* The counts part of a line: "20/48  41.7%  1 failed  2.4 img/s  ETA 0:12". */
static void fmt_counts(struct watcher *w, double now, char *out, size_t len)
{
	int done = num(w->batch, "images_done"), failed = num(w->batch, "images_failed");
	int total = num(w->batch, "images_total");
	double pct = total ? 100.0 * (done + failed) / total : 0, r = rate(w, now);
	char e[32], rs[32], fs[32];

	fmt_duration(eta(w, now), e, sizeof(e));
	if (r > 0)
		snprintf(rs, sizeof(rs), "%.1f img/s", r);
	else
		snprintf(rs, sizeof(rs), "-- img/s");
	fs[0] = '\0';
	if (failed)
		snprintf(fs, sizeof(fs), "  %d failed", failed);
	snprintf(out, len, "%d/%d  %5.1f%%%s  %s  ETA %s", done + failed, total, pct, fs, rs, e);
}

static int columns(void)
{
	struct winsize ws;
	const char *c = getenv("COLUMNS");

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	if (c && atoi(c) > 0)
		return atoi(c);
	return 80;
}

/* Redraws the live line: "\r running [######----]  20/48 …" and clears the rest. */
static void draw_bar(struct watcher *w, double now)
{
	int total = num(w->batch, "images_total");
	int settled = num(w->batch, "images_done") + num(w->batch, "images_failed");
	char counts[160], bar[128], line[400];
	const char *state = str(w->batch, "state");
	int cols = columns(), width, fill;

	fmt_counts(w, now, counts, sizeof(counts));
	/* one width for the whole watch: what the longest line leaves of the terminal */
	width = cols - 64;
	if (width > 40)
		width = 40;
	if (width < 10)
		width = 10;
	fill = total ? (int)((double)settled * width / total) : 0;
	for (int i = 0; i < width; i++)
		bar[i] = i < fill ? '#' : '-';
	bar[width] = '\0';
	snprintf(line, sizeof(line), "%s [%s] %s", state, bar, counts);
	/* a line that wrapped could not be redrawn with \r: cut it to the terminal */
	if (cols > 1 && (int)strlen(line) >= cols)
		line[cols - 1] = '\0';
	printf("\r%s\033[K", line);
	fflush(stdout);
	w->last_draw = now;
}

/* One plain line when the state or the counts changed (at most one a second). */
static void plain_line(struct watcher *w, double now, int force)
{
	char key[128], counts[160];

	snprintf(key, sizeof(key), "%s %d %d", str(w->batch, "state"), num(w->batch, "images_done"),
		 num(w->batch, "images_failed"));
	if (strcmp(key, w->last_key) == 0)
		return;
	if (!force && now - w->last_line < 1.0 && strncmp(key, w->last_key, strcspn(key, " ")) == 0)
		return;
	snprintf(w->last_key, sizeof(w->last_key), "%s", key);
	fmt_counts(w, now, counts, sizeof(counts));
	printf("%s %s\n", str(w->batch, "state"), counts);
	fflush(stdout);
	w->last_line = now;
}

static void show(struct watcher *w, int force)
{
	double now = now_s();

	if (w->o->quiet || !w->batch)
		return;
	if (w->o->json) {
		char key[128];

		snprintf(key, sizeof(key), "%s %d %d", str(w->batch, "state"),
			 num(w->batch, "images_done"), num(w->batch, "images_failed"));
		if (strcmp(key, w->last_key) != 0 || force) {
			char *t = cJSON_PrintUnformatted(w->batch);

			if (t)
				printf("%s\n", t);
			free(t);
			fflush(stdout);
			snprintf(w->last_key, sizeof(w->last_key), "%s", key);
		}
		return;
	}
	if (w->o->tty)
		draw_bar(w, now);
	else
		plain_line(w, now, force);
}

/* A fresh read of the batch through c; 0, or -1 with w->rc set. */
static int refresh(struct watcher *w, struct http_client *c)
{
	struct http_resp r;
	char path[128];
	cJSON *b;
	int rc;

	snprintf(path, sizeof(path), "/v1/batches/%s", w->id);
	rc = http_request(c, &(struct http_req){ .path = path, .timeout_s = 30 }, &r);
	w->last_read = now_s();
	if (rc < 0 || r.status != 200) {
		if (w->o->tty && !w->o->quiet && !w->o->json)
			printf("\n");
		w->rc = http_fail(c, rc, &r);
		http_resp_free(&r);
		return -1;
	}
	b = http_json(&r);
	http_resp_free(&r);
	if (!b) {
		fprintf(stderr, "kiln: kilnd's answer about batch %s is not JSON\n", w->id);
		w->rc = HTTP_EXIT_API;
		return -1;
	}
	cJSON_Delete(w->batch);
	w->batch = b;
	if (w->t0 <= 0 && (strcmp(str(b, "state"), "running") == 0 ||
			   strcmp(str(b, "state"), "queued") == 0)) {
		w->t0 = w->last_read;
		w->settled0 = num(b, "images_done") + num(b, "images_failed");
	}
	return 0;
}

/*
 * A fresh read when an event asked for one (at most one per WATCH_MIN_GAP_MS;
 * a later tick does the one held back) or the safety interval has passed.
 * Returns 1 when the watch is over (the batch ended, a read failed).
 */
static int maybe_refresh(struct watcher *w)
{
	double now = now_s();

	if ((w->dirty && now - w->last_read >= WATCH_MIN_GAP_MS / 1000.0) ||
	    now - w->last_read >= WATCH_SAFETY_MS / 1000.0) {
		w->dirty = 0;
		if (refresh(w, &w->side) < 0)
			return 1;
		show(w, 0);
		return terminal(w->batch);
	}
	if (w->o->tty && now - w->last_draw >= 1.0)
		show(w, 0);
	return 0;
}

/* One complete server-sent event (its data lines joined): read again if it is ours. */
static void sse_event(struct watcher *w, const char *data)
{
	if (!strstr(data, w->id))
		return;
	w->dirty = 1;
	/* the end of the batch is read at once, not held back by the gap */
	if (strstr(data, "\"completed\"") || strstr(data, "\"failed\"") || strstr(data, "\"stopped\""))
		w->last_read = 0;
}

/* Splits the stream into events at blank lines; keeps only data: lines. */
static int on_sse(void *ctx, const char *data, size_t len)
{
	struct watcher *w = ctx;
	size_t start = 0;

	if (w->sse_len + len + 1 > WATCH_SSE_MAX)
		w->sse_len = 0;    /* an event this large is not one of ours; drop it */
	{
		char *nb = realloc(w->sse, w->sse_len + len + 1);

		if (!nb)
			return 0;
		w->sse = nb;
	}
	memcpy(w->sse + w->sse_len, data, len);
	w->sse_len += len;
	w->sse[w->sse_len] = '\0';
	for (;;) {
		char *end = strstr(w->sse + start, "\n\n");
		char *crlf = strstr(w->sse + start, "\r\n\r\n");
		size_t n;

		if (crlf && (!end || crlf < end))
			end = crlf;
		if (!end)
			break;
		n = (size_t)(end - (w->sse + start));
		w->sse[start + n] = '\0';
		if (strstr(w->sse + start, "data:"))
			sse_event(w, w->sse + start);
		start += n + (end == crlf ? 4 : 2);
	}
	memmove(w->sse, w->sse + start, w->sse_len - start + 1);
	w->sse_len -= start;
	if (interrupted)
		return 0;
	return !maybe_refresh(w);
}

/* libcurl's clock during the stream: held-back reads, the safety read, redraws. */
static int on_tick(void *ctx, long long now_bytes, long long total)
{
	struct watcher *w = ctx;

	(void)now_bytes;
	(void)total;
	if (interrupted)
		return 1;
	return maybe_refresh(w);
}

/* Follows the event stream; 0 when it ended the watch, -1 to fall back to polling. */
static int follow_events(struct watcher *w)
{
	struct http_resp r;
	struct http_req req = { .path = "/v1/events", .on_data = on_sse, .on_tick = on_tick,
				.ctx = w, .accept = "text/event-stream" };
	int rc;

	if (http_client_clone(&w->side, w->c) < 0)
		return -1;
	w->side_ok = 1;
	w->dirty = 1;              /* one read once connected: nothing missed in between */
	rc = http_request(w->c, &req, &r);
	if (rc == 0 && r.status != 200) {
		http_resp_free(&r);
		return -1;            /* this kilnd has no event stream: poll */
	}
	http_resp_free(&r);
	if (w->rc || interrupted || (w->batch && terminal(w->batch)))
		return 0;
	return -1;                    /* the stream ended: poll for the rest */
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (!interrupted && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int watch_run(struct http_client *c, const char *id, const struct watch_opts *o, cJSON **final)
{
	struct watcher w;
	struct sigaction sa, old;
	int rc;

	memset(&w, 0, sizeof(w));
	w.c = c;
	w.id = id;
	w.o = o;
	w.t_start = now_s();
	interrupted = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigaction(SIGINT, &sa, &old);
	if (refresh(&w, c) < 0)
		goto out;
	if (!o->quiet && !o->json) {
		printf("batch %s  %s\n", id, str(w.batch, "name"));
		if (strcmp(str(w.batch, "state"), "draft") == 0)
			printf("a draft: waiting for it to be started (kiln start %s)\n", id);
	}
	show(&w, 1);
	if (!terminal(w.batch) && follow_events(&w) < 0 && !w.rc) {
		while (!interrupted && !terminal(w.batch)) {
			sleep_ms(WATCH_POLL_MS);
			if (interrupted || refresh(&w, c) < 0)
				break;
			show(&w, 0);
		}
	}
out:
	sigaction(SIGINT, &old, NULL);
	if (w.side_ok)
		http_client_free(&w.side);
	free(w.sse);
	if (w.rc) {
		rc = w.rc;
	} else if (interrupted) {
		if (o->tty && !o->quiet && !o->json)
			printf("\n");
		fprintf(stderr, "kiln: interrupted; the batch goes on (kiln watch %s)\n", id);
		rc = 130;
	} else {
		double took = now_s() - w.t_start;
		char d[32];

		show(&w, 1);
		fmt_duration(took, d, sizeof(d));
		if (!o->quiet && !o->json) {
			const char *s = str(w.batch, "state");

			if (o->tty)
				printf("\n");
			printf("%s: %d images made, %d failed, of %d (watched %s)\n", s,
			       num(w.batch, "images_done"), num(w.batch, "images_failed"),
			       num(w.batch, "images_total"), d);
			if (strcmp(s, "stopped") == 0)
				printf("resume it with: kiln resume %s\n", id);
			else if (strcmp(s, "failed") == 0 && *str(w.batch, "error"))
				printf("why: %s\n", str(w.batch, "error"));
		}
		rc = watch_batch_exit(w.batch);
	}
	if (final && !w.rc)
		*final = w.batch;
	else
		cJSON_Delete(w.batch);
	return rc;
}
