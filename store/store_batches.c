/*
 * store_batches.c — batches: create from a validated sheet, replace, read,
 * list, and the state changes a user asks for (start, stop, resume, delete).
 *
 * DESIGN
 * A batch is created whole in one transaction: its row, one batch_rows line
 * per spreadsheet row and one pending images line per image to make, so the
 * scheduler never needs the spreadsheet again.  Each state change checks the
 * state it starts from inside its transaction and moves the credits that go
 * with it (see the credit rules in store.h), so a change is either entirely
 * done or not at all.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/util.h"
#include "store/store.h"
#include "store/store_int.h"

void store_batch_free(struct store_batch *b)
{
	if (!b)
		return;
	free(b->name);
	free(b->warnings);
	free(b->webhook_url);
	free(b->error);
	sheet_fields_free(&b->preview);
	memset(b, 0, sizeof(*b));
}

int store_read_fields(sqlite3_stmt *s, int col, struct sheet_fields *f, int copy)
{
	const char *prompt = store_col_text(s, col);
	const char *neg = store_col_text(s, col + 7);
	const char *pal = store_col_text(s, col + 9);

	memset(f, 0, sizeof(*f));
	store_col_copy(s, col + 1, f->visibility, sizeof(f->visibility));
	store_col_copy(s, col + 2, f->aspect_ratio, sizeof(f->aspect_ratio));
	store_col_copy(s, col + 3, f->magic_prompt, sizeof(f->magic_prompt));
	store_col_copy(s, col + 4, f->model, sizeof(f->model));
	f->seed = sqlite3_column_type(s, col + 5) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, col + 5);
	store_col_copy(s, col + 6, f->rendering, sizeof(f->rendering));
	store_col_copy(s, col + 8, f->style, sizeof(f->style));
	f->num_images = sqlite3_column_int(s, col + 10);
	if (!copy) {
		f->prompt = (char *)(prompt ? prompt : "");
		f->negative_prompt = (char *)(neg ? neg : "");
		f->color_palette = (char *)pal;
		return 0;
	}
	f->prompt = strdup(prompt ? prompt : "");
	f->negative_prompt = strdup(neg ? neg : "");
	f->color_palette = pal ? strdup(pal) : NULL;
	if (!f->prompt || !f->negative_prompt || (pal && !f->color_palette)) {
		sheet_fields_free(f);
		return -1;
	}
	return 0;
}

/* Reads the batch columns of the current row of s (BATCH_COLS) into *b. */
static int batch_from_row(sqlite3_stmt *s, struct store_batch *b)
{
	memset(b, 0, sizeof(*b));
	b->seq = sqlite3_column_int64(s, 0);
	store_col_copy(s, 1, b->id, sizeof(b->id));
	store_col_copy(s, 2, b->account_id, sizeof(b->account_id));
	b->name = store_col_dup(s, 3);
	store_col_copy(s, 4, b->state, sizeof(b->state));
	store_col_copy(s, 5, b->format, sizeof(b->format));
	store_col_copy(s, 6, b->engine, sizeof(b->engine));
	b->rows = (unsigned)sqlite3_column_int(s, 7);
	b->images_total = (unsigned)sqlite3_column_int(s, 8);
	b->images_done = (unsigned)sqlite3_column_int(s, 9);
	b->images_failed = (unsigned)sqlite3_column_int(s, 10);
	b->cost_per_image = sqlite3_column_int64(s, 11);
	b->credits_reserved = sqlite3_column_int64(s, 12);
	b->credits_charged = sqlite3_column_int64(s, 13);
	b->created_at = sqlite3_column_int64(s, 14);
	b->started_at = sqlite3_column_int64(s, 15);
	b->finished_at = sqlite3_column_int64(s, 16);
	b->run_started_at = sqlite3_column_int64(s, 17);
	b->run_done_base = (unsigned)sqlite3_column_int(s, 18);
	b->warnings = store_col_dup(s, 19);
	b->webhook_url = store_col_dup(s, 20);
	b->error = store_col_dup(s, 21);
	b->images_running = (unsigned)sqlite3_column_int(s, 22);
	b->credits_required = sqlite3_column_int64(s, 23);
	if (!b->name || !b->warnings)
		return -1;
	return 0;
}

/* Fills the preview (first row) of *b. */
static int batch_preview(struct store *st, struct store_batch *b)
{
	sqlite3_stmt *s = store_q(st, Q_BATCH_PREVIEW);
	int rc;

	if (!s)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, b->seq);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		b->preview_row = (unsigned)sqlite3_column_int(s, 0);
		if (store_read_fields(s, 1, &b->preview, 1) < 0) {
			store_done(s);
			return STORE_ERROR;
		}
	}
	store_done(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(st, "batch preview");
	return STORE_OK;
}

/* Runs a batch query bound by the caller and reads its one row with preview. */
static int batch_fetch(struct store *st, sqlite3_stmt *s, struct store_batch *out)
{
	int rc = sqlite3_step(s);

	if (rc != SQLITE_ROW) {
		store_done(s);
		if (rc == SQLITE_DONE)
			return STORE_NOT_FOUND;
		return store_fail(st, "batch");
	}
	if (batch_from_row(s, out) < 0) {
		store_done(s);
		store_batch_free(out);
		return STORE_ERROR;
	}
	store_done(s);
	if (batch_preview(st, out) != STORE_OK) {
		store_batch_free(out);
		return STORE_ERROR;
	}
	return STORE_OK;
}

int store_batch_get(struct store *st, const char *account_id, const char *batch_id,
		    struct store_batch *out)
{
	sqlite3_stmt *s = store_q(st, account_id ? Q_BATCH_BY_ID : Q_BATCH_BY_ID_ANY);

	memset(out, 0, sizeof(*out));
	if (!s)
		return STORE_ERROR;
	store_bind_text(s, 1, batch_id);
	if (account_id)
		store_bind_text(s, 2, account_id);
	return batch_fetch(st, s, out);
}

/* The batch with this seq, for use inside a transaction. */
static int batch_by_seq(struct store *st, int64_t seq, struct store_batch *out)
{
	sqlite3_stmt *s = store_q(st, Q_BATCH_BY_SEQ);

	memset(out, 0, sizeof(*out));
	if (!s)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, seq);
	return batch_fetch(st, s, out);
}

int store_batch_list(struct store *st, const char *account_id, const char *state,
		     int64_t before_seq, unsigned limit,
		     int (*cb)(void *cls, const struct store_batch *b), void *cls, int *more)
{
	sqlite3_stmt *s = store_q(st, Q_BATCH_LIST);
	struct store_batch *v;
	unsigned n = 0;
	int rc, ret = STORE_OK;

	*more = 0;
	if (!s)
		return STORE_ERROR;
	v = calloc(limit + 1, sizeof(*v));
	if (!v)
		return STORE_ERROR;
	store_bind_text(s, 1, account_id);
	store_bind_text(s, 2, state);
	/* the first page: from the newest (the cursor is a range bound, so an index serves it) */
	sqlite3_bind_int64(s, 3, before_seq > 0 ? before_seq : INT64_MAX);
	sqlite3_bind_int(s, 4, (int)limit + 1);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == limit) {
			*more = 1;
			break;
		}
		if (batch_from_row(s, &v[n++]) < 0) {
			ret = STORE_ERROR;
			break;
		}
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = store_fail(st, "batch list");
	store_done(s);
	for (unsigned i = 0; i < n; i++) {
		if (ret == STORE_OK)
			ret = batch_preview(st, &v[i]);
		if (ret == STORE_OK && cb(cls, &v[i]) != 0)
			ret = STORE_ERROR;
		store_batch_free(&v[i]);
	}
	free(v);
	return ret;
}

/*
 * Inserts the rows and pending images of a sheet for batch seq, each row
 * with its cost, and records the batch's total.
 */
static int insert_rows(struct store *st, int64_t seq, const struct store_upload *up)
{
	const struct sheet_batch *sb = up->sheet;
	sqlite3_stmt *s;

	for (size_t i = 0; i < sb->nrows; i++) {
		const struct sheet_row *r = &sb->rows[i];

		s = store_q(st, Q_ROW_INSERT);

		if (!s)
			return STORE_ERROR;
		sqlite3_bind_int64(s, 1, seq);
		sqlite3_bind_int(s, 2, (int)r->row);
		store_bind_text(s, 3, r->f.prompt);
		store_bind_text(s, 4, r->f.visibility);
		store_bind_text(s, 5, r->f.aspect_ratio);
		store_bind_text(s, 6, r->f.magic_prompt);
		store_bind_text(s, 7, r->f.model);
		if (r->f.seed >= 0)
			sqlite3_bind_int64(s, 8, r->f.seed);
		store_bind_text(s, 9, r->f.rendering);
		store_bind_text(s, 10, r->f.negative_prompt ? r->f.negative_prompt : "");
		store_bind_text(s, 11, r->f.style);
		store_bind_text(s, 12, r->f.color_palette);
		sqlite3_bind_int(s, 13, r->f.num_images);
		sqlite3_bind_int64(s, 14, up->row_costs ? up->row_costs[i] : up->cost_per_image);
		if (store_step_done(st, s, "row insert") != STORE_OK)
			return STORE_ERROR;
		for (int k = 1; k <= r->f.num_images; k++) {
			char id[33];

			if (util_random_hex(id, 12) < 0)
				return STORE_ERROR;
			s = store_q(st, Q_IMAGE_INSERT);
			if (!s)
				return STORE_ERROR;
			store_bind_text(s, 1, id);
			sqlite3_bind_int64(s, 2, seq);
			sqlite3_bind_int(s, 3, (int)r->row);
			sqlite3_bind_int(s, 4, k);
			if (store_step_done(st, s, "image insert") != STORE_OK)
				return STORE_ERROR;
		}
	}
	s = store_q(st, Q_BATCH_SET_REQUIRED);
	if (!s)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, seq);
	return store_step_done(st, s, "batch required");
}

int store_batch_create(struct store *st, const struct store_upload *up, struct store_batch *out)
{
	sqlite3_stmt *s;
	int64_t seq;
	char id[33];
	int rc;

	memset(out, 0, sizeof(*out));
	if (store_begin(st) != STORE_OK)
		return STORE_ERROR;
	if (up->idempotency_key) {
		s = store_q(st, Q_BATCH_BY_KEY);
		if (!s)
			goto fail;
		store_bind_text(s, 1, up->account_id);
		store_bind_text(s, 2, up->idempotency_key);
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			store_col_copy(s, 0, id, sizeof(id));
			store_done(s);
			rc = store_batch_get(st, up->account_id, id, out);
			store_rollback(st);
			return rc == STORE_OK ? STORE_EXISTS : rc;
		}
		store_done(s);
		if (rc != SQLITE_DONE)
			goto fail;
	}
	if (util_random_hex(id, 12) < 0)
		goto fail;
	s = store_q(st, Q_BATCH_INSERT);
	if (!s)
		goto fail;
	store_bind_text(s, 1, id);
	store_bind_text(s, 2, up->account_id);
	store_bind_text(s, 3, up->name);
	store_bind_text(s, 4, up->format);
	store_bind_text(s, 5, up->engine);
	sqlite3_bind_int64(s, 6, (int64_t)up->sheet->nrows);
	sqlite3_bind_int64(s, 7, up->sheet->images_total);
	sqlite3_bind_int64(s, 8, up->cost_per_image);
	store_bind_text(s, 9, up->warnings ? up->warnings : "[]");
	store_bind_text(s, 10, up->idempotency_key);
	sqlite3_bind_int64(s, 11, util_now_ms());
	if (store_step_done(st, s, "batch insert") != STORE_OK)
		goto fail;
	seq = sqlite3_last_insert_rowid(st->db);
	if (insert_rows(st, seq, up) != STORE_OK)
		goto fail;
	if (store_event_emit(st, seq, "batch.created", util_now_ms()) != STORE_OK)
		goto fail;
	if (store_batch_get(st, up->account_id, id, out) != STORE_OK)
		goto fail;
	if (store_commit(st) != STORE_OK) {
		store_batch_free(out);
		return STORE_ERROR;
	}
	return STORE_OK;
fail:
	store_rollback(st);
	return STORE_ERROR;
}

int store_batch_replace(struct store *st, const char *batch_id, const struct store_upload *up,
			struct store_batch *out)
{
	struct store_batch b;
	sqlite3_stmt *s;
	int rc;

	memset(out, 0, sizeof(*out));
	if (store_begin(st) != STORE_OK)
		return STORE_ERROR;
	rc = store_batch_get(st, up->account_id, batch_id, &b);
	if (rc != STORE_OK) {
		store_rollback(st);
		return rc;
	}
	if (strcmp(b.state, "draft") != 0) {
		store_batch_free(&b);
		store_rollback(st);
		return STORE_CONFLICT;
	}
	s = store_q(st, Q_IMAGES_DELETE);
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, b.seq);
	if (store_step_done(st, s, "images delete") != STORE_OK)
		goto fail;
	s = store_q(st, Q_ROWS_DELETE);
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, b.seq);
	if (store_step_done(st, s, "rows delete") != STORE_OK)
		goto fail;
	s = store_q(st, Q_BATCH_REPLACE);
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, b.seq);
	store_bind_text(s, 2, up->name);
	store_bind_text(s, 3, up->format);
	sqlite3_bind_int64(s, 4, (int64_t)up->sheet->nrows);
	sqlite3_bind_int64(s, 5, up->sheet->images_total);
	store_bind_text(s, 6, up->warnings ? up->warnings : "[]");
	sqlite3_bind_int64(s, 7, up->cost_per_image);
	store_bind_text(s, 8, up->engine);
	if (store_step_done(st, s, "batch replace") != STORE_OK)
		goto fail;
	if (insert_rows(st, b.seq, up) != STORE_OK)
		goto fail;
	if (batch_by_seq(st, b.seq, out) != STORE_OK)
		goto fail;
	store_batch_free(&b);
	return store_commit(st);
fail:
	store_batch_free(&b);
	store_rollback(st);
	return STORE_ERROR;
}

/* Counts the images of a batch in a state (or, with any, 1 if there is one). */
static int64_t count_or_any(struct store *st, int64_t seq, const char *state, int any)
{
	sqlite3_stmt *s = store_q(st, any ? Q_BATCH_HAS_STATE : Q_BATCH_COUNT_STATE);
	int64_t n = -1;

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, seq);
	sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	store_done(s);
	return n;
}

static int64_t count_images(struct store *st, int64_t seq, const char *state)
{
	return count_or_any(st, seq, state, 0);
}

/* The cost of a batch's pending images (-1 on error); their number in *n when not NULL. */
static int64_t pending_cost(struct store *st, int64_t seq, int64_t *n)
{
	sqlite3_stmt *s = store_q(st, Q_BATCH_PENDING_COST);
	int64_t cost = -1;

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, seq);
	if (sqlite3_step(s) == SQLITE_ROW) {
		if (n)
			*n = sqlite3_column_int64(s, 0);
		cost = sqlite3_column_int64(s, 1);
	}
	store_done(s);
	return cost;
}

/* One count of an account (a statement with ?1 = the account), or -1. */
static int64_t account_count(struct store *st, enum store_q q, const char *account_id)
{
	sqlite3_stmt *s = store_q(st, q);
	int64_t n = -1;

	if (!s)
		return -1;
	store_bind_text(s, 1, account_id);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	store_done(s);
	return n;
}

/*
 * Inside a transaction: 0 when queueing a batch of `images` pending images
 * keeps the account within lim, 1 (lim->hit and lim->current set) when it
 * does not, -1 on error.
 */
static int over_limit(struct store *st, const char *account_id, int64_t images,
		      struct store_limits *lim)
{
	int64_t n;

	if (!lim)
		return 0;
	if (lim->max_active_batches) {
		n = account_count(st, Q_ACCOUNT_ACTIVE_BATCHES, account_id);
		if (n < 0)
			return -1;
		if (n + 1 > lim->max_active_batches) {
			lim->hit = STORE_LIMIT_BATCHES;
			lim->current = n + 1;
			return 1;
		}
	}
	if (lim->max_queued_images) {
		n = account_count(st, Q_ACCOUNT_QUEUED_IMAGES, account_id);
		if (n < 0)
			return -1;
		if (n + images > lim->max_queued_images) {
			lim->hit = STORE_LIMIT_IMAGES;
			lim->current = n + images;
			return 1;
		}
	}
	return 0;
}

/* Sets a batch's state (and finished_at for the terminal ones). */
static int set_state(struct store *st, int64_t seq, const char *state, int64_t now)
{
	sqlite3_stmt *s = store_q(st, Q_BATCH_SET_STATE);

	if (!s)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, seq);
	sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now);
	return store_step_done(st, s, "batch state");
}

/* Adds delta (negative: releases) to a batch's reservation and moves the account's credits. */
static int reserve(struct store *st, const struct store_batch *b, int64_t delta, int64_t now)
{
	sqlite3_stmt *s;

	if (delta == 0)
		return STORE_OK;
	s = store_q(st, Q_BATCH_RESERVE);
	if (!s)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, b->seq);
	sqlite3_bind_int64(s, 2, delta);
	if (store_step_done(st, s, "batch reserve") != STORE_OK)
		return STORE_ERROR;
	if (delta > 0)
		return store_credit_move(st, b->account_id, STORE_RESERVE, delta, b->id, NULL, now);
	return store_credit_move(st, b->account_id, STORE_RELEASE, -delta, b->id, NULL, now);
}

int store_settle_batch(struct store *st, int64_t batch_seq, int64_t now, char *state_out)
{
	return store_settle_batch_ev(st, batch_seq, now, state_out, 0);
}

int store_settle_batch_ev(struct store *st, int64_t batch_seq, int64_t now, char *state_out,
			  int progress)
{
	sqlite3_stmt *s = store_q(st, Q_BATCH_STATE_OF);
	char state[12] = "";
	int64_t pending, running;

	if (!s)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, batch_seq);
	if (sqlite3_step(s) == SQLITE_ROW)
		store_col_copy(s, 0, state, sizeof(state));
	store_done(s);
	/* settling runs after every image: ask whether there are any, not how many */
	running = count_or_any(st, batch_seq, "running", 1);
	pending = count_or_any(st, batch_seq, "pending", 1);
	if (running < 0 || pending < 0)
		return STORE_ERROR;
	if ((strcmp(state, "queued") == 0 || strcmp(state, "running") == 0) &&
	    pending == 0 && running == 0) {
		if (set_state(st, batch_seq, "completed", now) != STORE_OK ||
		    store_event_emit(st, batch_seq, "batch.completed", now) != STORE_OK)
			return STORE_ERROR;
		strcpy(state, "completed");
	} else if (strcmp(state, "stopping") == 0 && running == 0) {
		if (set_state(st, batch_seq, "stopped", now) != STORE_OK ||
		    store_event_emit(st, batch_seq, "batch.stopped", now) != STORE_OK)
			return STORE_ERROR;
		strcpy(state, "stopped");
	} else if (progress && store_event_emit(st, batch_seq, "batch.progress", now) != STORE_OK) {
		return STORE_ERROR;
	}
	if (state_out)
		memcpy(state_out, state, sizeof(state));
	return STORE_OK;
}

/*
 * The common shape of start and resume: from `from` to queued, reserving the
 * cost of the pending images.  Already queued or running: nothing to do.
 */
static int to_queued(struct store *st, const char *account_id, const char *batch_id,
		     const char *from, const char *webhook_url, int64_t now, struct store_limits *lim,
		     struct store_batch *out, int64_t *required, int64_t *available)
{
	struct store_account acct;
	struct store_batch b;
	sqlite3_stmt *s;
	int64_t pending = 0, need;
	int rc;

	memset(out, 0, sizeof(*out));
	*required = *available = 0;
	if (store_begin(st) != STORE_OK)
		return STORE_ERROR;
	rc = store_batch_get(st, account_id, batch_id, &b);
	if (rc != STORE_OK) {
		store_rollback(st);
		return rc;
	}
	if (strcmp(b.state, "queued") == 0 || strcmp(b.state, "running") == 0) {
		store_rollback(st);
		*out = b;
		return STORE_OK;
	}
	if (strcmp(b.state, from) != 0) {
		store_rollback(st);
		*out = b;
		return STORE_CONFLICT;
	}
	need = pending_cost(st, b.seq, &pending);
	if (need < 0 || store_account_get(st, b.account_id, &acct) != STORE_OK)
		goto fail;
	rc = over_limit(st, b.account_id, pending, lim);
	if (rc < 0)
		goto fail;
	if (rc > 0) {
		store_rollback(st);
		*out = b;
		return STORE_LIMIT;
	}
	if (acct.available < need) {
		*required = need;
		*available = acct.available;
		store_rollback(st);
		*out = b;
		return STORE_NO_CREDITS;
	}
	if (reserve(st, &b, need, now) != STORE_OK)
		goto fail;
	s = store_q(st, Q_BATCH_START);
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, b.seq);
	store_bind_text(s, 2, webhook_url);
	sqlite3_bind_int64(s, 3, now);
	if (store_step_done(st, s, "batch start") != STORE_OK)
		goto fail;
	if (store_event_emit(st, b.seq, "batch.started", now) != STORE_OK)
		goto fail;
	if (store_settle_batch(st, b.seq, now, NULL) != STORE_OK)
		goto fail;
	if (batch_by_seq(st, b.seq, out) != STORE_OK)
		goto fail;
	store_batch_free(&b);
	return store_commit(st);
fail:
	store_batch_free(&b);
	store_rollback(st);
	return STORE_ERROR;
}

int store_batch_start(struct store *st, const char *account_id, const char *batch_id,
		      const char *webhook_url, int64_t now, struct store_limits *lim,
		      struct store_batch *out, int64_t *required, int64_t *available)
{
	return to_queued(st, account_id, batch_id, "draft", webhook_url, now, lim, out,
			 required, available);
}

int store_batch_resume(struct store *st, const char *account_id, const char *batch_id,
		       int64_t now, struct store_limits *lim, struct store_batch *out,
		       int64_t *required, int64_t *available)
{
	return to_queued(st, account_id, batch_id, "stopped", NULL, now, lim, out, required,
			 available);
}

/*
 * Inside a transaction: a queued or running batch b to stopping (images
 * still running) or stopped, the credits of what is not begun released, and
 * error (NULL: none) recorded.  STORE_OK or STORE_ERROR.
 */
static int stop_locked(struct store *st, const struct store_batch *b, const char *error, int64_t now)
{
	int64_t unbegun = pending_cost(st, b->seq, NULL);
	int64_t running = count_images(st, b->seq, "running");

	if (unbegun < 0 || running < 0)
		return STORE_ERROR;
	if (reserve(st, b, -unbegun, now) != STORE_OK)
		return STORE_ERROR;
	if (error) {
		sqlite3_stmt *s = store_q(st, Q_BATCH_SET_ERROR);

		if (!s)
			return STORE_ERROR;
		sqlite3_bind_int64(s, 1, b->seq);
		store_bind_text(s, 2, error);
		if (store_step_done(st, s, "batch error") != STORE_OK)
			return STORE_ERROR;
	}
	if (set_state(st, b->seq, running > 0 ? "stopping" : "stopped", now) != STORE_OK)
		return STORE_ERROR;
	return store_event_emit(st, b->seq, running > 0 ? "batch.progress" : "batch.stopped", now);
}

int store_batch_pause(struct store *st, int64_t batch_seq, const char *error, int64_t now)
{
	struct store_batch b;

	if (store_begin(st) != STORE_OK)
		return STORE_ERROR;
	if (batch_by_seq(st, batch_seq, &b) != STORE_OK) {
		store_rollback(st);
		return STORE_ERROR;
	}
	if (strcmp(b.state, "queued") != 0 && strcmp(b.state, "running") != 0) {
		store_batch_free(&b);
		store_rollback(st);
		return STORE_OK;
	}
	if (stop_locked(st, &b, error, now) != STORE_OK) {
		store_batch_free(&b);
		store_rollback(st);
		return STORE_ERROR;
	}
	store_batch_free(&b);
	return store_commit(st);
}

int store_batch_stop(struct store *st, const char *account_id, const char *batch_id,
		     int64_t now, struct store_batch *out)
{
	struct store_batch b;
	int rc;

	memset(out, 0, sizeof(*out));
	if (store_begin(st) != STORE_OK)
		return STORE_ERROR;
	rc = store_batch_get(st, account_id, batch_id, &b);
	if (rc != STORE_OK) {
		store_rollback(st);
		return rc;
	}
	if (strcmp(b.state, "stopping") == 0 || strcmp(b.state, "stopped") == 0) {
		store_rollback(st);
		*out = b;
		return STORE_OK;
	}
	if (strcmp(b.state, "queued") != 0 && strcmp(b.state, "running") != 0) {
		store_rollback(st);
		*out = b;
		return STORE_CONFLICT;
	}
	if (stop_locked(st, &b, NULL, now) != STORE_OK)
		goto fail;
	if (batch_by_seq(st, b.seq, out) != STORE_OK)
		goto fail;
	store_batch_free(&b);
	return store_commit(st);
fail:
	store_batch_free(&b);
	store_rollback(st);
	return STORE_ERROR;
}

int store_batch_fail(struct store *st, int64_t batch_seq, const char *error, int64_t now)
{
	struct store_batch b;
	sqlite3_stmt *s;
	int64_t unbegun;

	if (store_begin(st) != STORE_OK)
		return STORE_ERROR;
	if (batch_by_seq(st, batch_seq, &b) != STORE_OK) {
		store_rollback(st);
		return STORE_ERROR;
	}
	if (strcmp(b.state, "completed") == 0 || strcmp(b.state, "failed") == 0 ||
	    strcmp(b.state, "draft") == 0) {
		store_batch_free(&b);
		store_rollback(st);
		return STORE_OK;
	}
	unbegun = pending_cost(st, b.seq, NULL);
	if (unbegun < 0)
		goto fail;
	/* a stopped or stopping batch has already released its pending images */
	if ((strcmp(b.state, "queued") == 0 || strcmp(b.state, "running") == 0) &&
	    reserve(st, &b, -unbegun, now) != STORE_OK)
		goto fail;
	s = store_q(st, Q_BATCH_FAIL);
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, b.seq);
	store_bind_text(s, 2, error);
	sqlite3_bind_int64(s, 3, now);
	if (store_step_done(st, s, "batch fail") != STORE_OK)
		goto fail;
	if (store_event_emit(st, b.seq, "batch.failed", now) != STORE_OK)
		goto fail;
	store_batch_free(&b);
	return store_commit(st);
fail:
	store_batch_free(&b);
	store_rollback(st);
	return STORE_ERROR;
}

int store_batch_delete(struct store *st, const char *account_id, const char *batch_id)
{
	struct store_batch b;
	sqlite3_stmt *s;
	int rc;

	if (store_begin(st) != STORE_OK)
		return STORE_ERROR;
	rc = store_batch_get(st, account_id, batch_id, &b);
	if (rc != STORE_OK) {
		store_rollback(st);
		return rc;
	}
	if (strcmp(b.state, "queued") == 0 || strcmp(b.state, "running") == 0 ||
	    strcmp(b.state, "stopping") == 0) {
		store_batch_free(&b);
		store_rollback(st);
		return STORE_CONFLICT;
	}
	s = store_q(st, Q_IMAGES_DELETE);
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, b.seq);
	if (store_step_done(st, s, "images delete") != STORE_OK)
		goto fail;
	s = store_q(st, Q_ROWS_DELETE);
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, b.seq);
	if (store_step_done(st, s, "rows delete") != STORE_OK)
		goto fail;
	s = store_q(st, Q_BATCH_DELETE);
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, b.seq);
	if (store_step_done(st, s, "batch delete") != STORE_OK)
		goto fail;
	store_batch_free(&b);
	return store_commit(st);
fail:
	store_batch_free(&b);
	store_rollback(st);
	return STORE_ERROR;
}
