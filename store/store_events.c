/*
 * store_events.c — batch events, the webhook outbox and the gauges of
 * /metrics.
 *
 * DESIGN
 * store_event_emit() is called by the batch and image functions inside their
 * own transactions, right after the change an event reports: it copies the
 * batch's row as it is then into the event's JSON (made by SQLite's
 * json_object(), so the store needs no JSON library) and, for a terminal
 * event of a batch that has a webhook_url, adds the delivery to the outbox
 * in the same statement set.  The connection remembers that it wrote
 * events; store_commit() then calls the pool's notifier, which wakes the
 * event streams and the webhook thread.  Readers never need the notifier
 * for correctness: they read everything after the last id they saw.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "store/store_int.h"

const char *const store_batch_states[7] = {
	"draft", "queued", "running", "stopping", "stopped", "completed", "failed"
};

int store_event_emit(struct store *st, int64_t batch_seq, const char *type, int64_t now)
{
	sqlite3_stmt *s = store_q(st, Q_EVENT_INSERT);
	int64_t id;

	if (!s)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, batch_seq);
	sqlite3_bind_text(s, 2, type, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now);
	if (store_step_done(st, s, "event insert") != STORE_OK)
		return STORE_ERROR;
	if (sqlite3_changes(st->db) == 0)
		return STORE_OK;          /* no such batch: nothing to report */
	id = sqlite3_last_insert_rowid(st->db);
	st->notify |= STORE_NOTIFY_EVENT;
	s = store_q(st, Q_OUTBOX_INSERT);
	if (!s)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, now);
	if (store_step_done(st, s, "outbox insert") != STORE_OK)
		return STORE_ERROR;
	if (sqlite3_changes(st->db) > 0)
		st->notify |= STORE_NOTIFY_WEBHOOK;
	return STORE_OK;
}

int store_events_after(struct store *st, const char *account_id, int64_t after_id, unsigned limit,
		       int (*cb)(void *cls, const struct store_event *ev), void *cls, int64_t *last)
{
	sqlite3_stmt *s = store_q(st, account_id ? Q_EVENTS_AFTER_ACCOUNT : Q_EVENTS_AFTER_ALL);
	struct store_event ev;
	int rc, ret = STORE_OK;

	*last = after_id;
	if (!s)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, after_id);
	if (account_id)
		store_bind_text(s, 2, account_id);
	sqlite3_bind_int(s, 3, (int)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		ev.id = sqlite3_column_int64(s, 0);
		ev.type = store_col_text(s, 1);
		ev.data = store_col_text(s, 2);
		if (!ev.type || !ev.data)
			continue;
		if (cb(cls, &ev) != 0) {
			ret = STORE_ERROR;
			break;
		}
		*last = ev.id;
	}
	if (ret == STORE_OK && rc != SQLITE_DONE)
		ret = store_fail(st, "events after");
	store_done(s);
	return ret;
}

/* Runs a statement that answers one integer (bound by the caller) into *out. */
static int one_int(struct store *st, sqlite3_stmt *s, int64_t *out, const char *what)
{
	int rc;

	*out = 0;
	if (!s)
		return STORE_ERROR;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(s, 0);
	store_done(s);
	if (rc != SQLITE_ROW)
		return store_fail(st, what);
	return STORE_OK;
}

int store_events_last(struct store *st, int64_t *id)
{
	return one_int(st, store_q(st, Q_EVENTS_LAST), id, "events last");
}

void store_delivery_free(struct store_delivery *d)
{
	free(d->url);
	free(d->body);
	d->url = d->body = NULL;
}

int store_outbox_due(struct store *st, int64_t now, unsigned lane, unsigned lanes,
		     struct store_delivery *v, unsigned max, unsigned *n, int64_t *next_at)
{
	sqlite3_stmt *s = store_q(st, Q_OUTBOX_DUE);
	int rc;

	*n = 0;
	*next_at = 0;
	if (!s)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int(s, 2, (int)max);
	sqlite3_bind_int(s, 3, (int)lanes);
	sqlite3_bind_int(s, 4, (int)lane);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_delivery *d = &v[*n];

		memset(d, 0, sizeof(*d));
		d->seq = sqlite3_column_int64(s, 0);
		d->event_id = sqlite3_column_int64(s, 1);
		store_col_copy(s, 2, d->batch_id, sizeof(d->batch_id));
		store_col_copy(s, 3, d->type, sizeof(d->type));
		d->url = store_col_dup(s, 4);
		d->body = store_col_dup(s, 5);
		d->attempts = (unsigned)sqlite3_column_int(s, 6);
		d->created_at = sqlite3_column_int64(s, 7);
		if (!d->url || !d->body) {
			store_delivery_free(d);
			continue;
		}
		(*n)++;
	}
	store_done(s);
	if (rc != SQLITE_DONE) {
		for (unsigned i = 0; i < *n; i++)
			store_delivery_free(&v[i]);
		*n = 0;
		return store_fail(st, "outbox due");
	}
	if (*n < max) {
		s = store_q(st, Q_OUTBOX_NEXT);
		if (s) {
			sqlite3_bind_int(s, 3, (int)lanes);
			sqlite3_bind_int(s, 4, (int)lane);
		}
		if (one_int(st, s, next_at, "outbox next") != STORE_OK)
			return STORE_ERROR;
	}
	return STORE_OK;
}

int store_outbox_attempt(struct store *st, int64_t seq, const char *state, int status,
			 const char *error, int64_t next_at, int64_t now)
{
	sqlite3_stmt *s = store_q(st, Q_OUTBOX_SET);

	if (!s)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, seq);
	sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, status);
	store_bind_text(s, 4, error);
	sqlite3_bind_int64(s, 5, next_at);
	sqlite3_bind_int64(s, 6, now);
	if (store_begin(st) != STORE_OK)
		return STORE_ERROR;
	if (store_step_done(st, s, "outbox attempt") != STORE_OK) {
		store_rollback(st);
		return STORE_ERROR;
	}
	return store_commit(st);
}

int store_events_prune(struct store *st, int64_t before, unsigned *events, unsigned *deliveries)
{
	sqlite3_stmt *s;

	*events = *deliveries = 0;
	if (store_begin(st) != STORE_OK)
		return STORE_ERROR;
	s = store_q(st, Q_EVENTS_PRUNE);
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, before);
	if (store_step_done(st, s, "events prune") != STORE_OK)
		goto fail;
	*events = (unsigned)sqlite3_changes(st->db);
	s = store_q(st, Q_OUTBOX_PRUNE);
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, before);
	if (store_step_done(st, s, "outbox prune") != STORE_OK)
		goto fail;
	*deliveries = (unsigned)sqlite3_changes(st->db);
	return store_commit(st);
fail:
	store_rollback(st);
	return STORE_ERROR;
}

int store_metrics_read(struct store *st, struct store_metrics *m)
{
	sqlite3_stmt *s = store_q(st, Q_METRICS_BATCHES);
	int rc;

	memset(m, 0, sizeof(*m));
	if (!s)
		return STORE_ERROR;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *state = store_col_text(s, 0);

		for (int i = 0; i < 7; i++) {
			if (state && strcmp(state, store_batch_states[i]) == 0)
				m->batches[i] = sqlite3_column_int64(s, 1);
		}
		m->images_done += sqlite3_column_int64(s, 2);
		m->images_failed += sqlite3_column_int64(s, 3);
	}
	store_done(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, "metrics batches");
	s = store_q(st, Q_METRICS_IMAGES);
	if (!s)
		return STORE_ERROR;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		m->queue_depth = sqlite3_column_int64(s, 0);
		m->images_running = sqlite3_column_int64(s, 1);
	}
	store_done(s);
	if (rc != SQLITE_ROW)
		return store_fail(st, "metrics images");
	if (one_int(st, store_q(st, Q_METRICS_CREDITS), &m->credits_charged, "metrics credits") != 0 ||
	    one_int(st, store_q(st, Q_METRICS_OUTBOX), &m->webhooks_pending, "metrics outbox") != 0 ||
	    store_events_last(st, &m->last_event_id) != STORE_OK)
		return STORE_ERROR;
	return STORE_OK;
}
