/*
 * store_images.c — rows and images: reading them for the API, and the
 * scheduler's side of their life (claim, stage, done, retry, fail, requeue,
 * recover after a crash).
 *
 * DESIGN
 * An image goes pending → running (claimed by one worker) → done or failed,
 * or back to pending (retry, cancel, crash).  "done" is only ever set on an
 * image that was staged: its file was written and fsynced and its size and
 * CRC recorded (store_image_stage()) before the worker renamed it into
 * place.  So after a crash an image found running is either adopted (staged,
 * and its file is there: no engine call is made again) or made again (its
 * file never reached its name) — never counted without its file, never
 * charged twice.  Each settling function moves the image's credit in the same
 * transaction: charge on done, release on failure, release on a cancel when
 * its batch is no longer active.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "store/store_int.h"

/* Reads the IMAGE_COLS of the current row of s; pointers valid until the next step. */
static void image_from_row(sqlite3_stmt *s, struct store_image *img)
{
	memset(img, 0, sizeof(*img));
	img->seq = sqlite3_column_int64(s, 0);
	store_col_copy(s, 1, img->id, sizeof(img->id));
	store_col_copy(s, 2, img->batch_id, sizeof(img->batch_id));
	store_col_copy(s, 3, img->account_id, sizeof(img->account_id));
	img->batch_seq = sqlite3_column_int64(s, 4);
	img->row = (unsigned)sqlite3_column_int(s, 5);
	img->idx = (unsigned)sqlite3_column_int(s, 6);
	store_col_copy(s, 7, img->state, sizeof(img->state));
	img->attempts = (unsigned)sqlite3_column_int(s, 8);
	img->error = store_col_text(s, 9);
	img->seed = sqlite3_column_type(s, 10) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 10);
	img->width = (unsigned)sqlite3_column_int(s, 11);
	img->height = (unsigned)sqlite3_column_int(s, 12);
	img->bytes = sqlite3_column_int64(s, 13);
	img->crc32 = (uint32_t)sqlite3_column_int64(s, 14);
	store_col_copy(s, 15, img->mime, sizeof(img->mime));
	store_col_copy(s, 16, img->ext, sizeof(img->ext));
	img->ignored = store_col_text(s, 17);
	img->created_at = sqlite3_column_int64(s, 18);
	store_col_copy(s, 19, img->engine, sizeof(img->engine));
	store_read_fields(s, 20, &img->f, 0);
}

/* Steps s (bound by the caller) and calls cb for every image; counts them in *n. */
static int each_image(struct store *st, sqlite3_stmt *s,
		      int (*cb)(void *cls, const struct store_image *img), void *cls,
		      unsigned limit, unsigned *n, int *more)
{
	struct store_image img;
	int rc, ret = STORE_OK;

	*n = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (limit && *n == limit) {
			if (more)
				*more = 1;
			break;
		}
		image_from_row(s, &img);
		(*n)++;
		if (cb(cls, &img) != 0) {
			ret = STORE_ERROR;
			break;
		}
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = store_fail(st, "images");
	store_done(s);
	return ret;
}

int store_images_of_batch(struct store *st, int64_t batch_seq,
			  int (*cb)(void *cls, const struct store_image *img), void *cls)
{
	sqlite3_stmt *s = store_q(st, Q_IMAGES_OF_BATCH);
	unsigned n;

	if (!s)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, batch_seq);
	return each_image(st, s, cb, cls, 0, &n, NULL);
}

int store_image_get(struct store *st, const char *account_id, const char *image_id,
		    int (*cb)(void *cls, const struct store_image *img), void *cls)
{
	sqlite3_stmt *s = store_q(st, account_id ? Q_IMAGE_BY_ID : Q_IMAGE_BY_ID_ANY);
	unsigned n;
	int rc;

	if (!s)
		return STORE_ERROR;
	store_bind_text(s, 1, image_id);
	if (account_id)
		store_bind_text(s, 2, account_id);
	rc = each_image(st, s, cb, cls, 1, &n, NULL);
	if (rc == STORE_OK && n == 0)
		return STORE_NOT_FOUND;
	return rc;
}

int store_images_list(struct store *st, const char *account_id, int64_t before_seq,
		      unsigned limit, int (*cb)(void *cls, const struct store_image *img),
		      void *cls, int *more)
{
	sqlite3_stmt *s = store_q(st, account_id ? Q_IMAGES_LIST : Q_IMAGES_PUBLIC);
	unsigned n;

	*more = 0;
	if (!s)
		return STORE_ERROR;
	if (account_id)
		store_bind_text(s, 1, account_id);
	/* the first page: from the newest (the cursor is a range bound, so an index serves it) */
	sqlite3_bind_int64(s, 2, before_seq > 0 ? before_seq : INT64_MAX);
	sqlite3_bind_int(s, 3, (int)limit + 1);
	return each_image(st, s, cb, cls, limit, &n, more);
}

/* The state of a row from its images' states. */
static void row_state(struct store *st, int64_t batch_seq, struct store_row *r,
		      char **first_error, int *ret)
{
	sqlite3_stmt *s = store_q(st, Q_ROW_IMAGES);
	unsigned pending = 0, running = 0, done = 0, failed = 0, n = 0;
	struct store_image img;
	int rc;

	*first_error = NULL;
	if (!s) {
		*ret = STORE_ERROR;
		return;
	}
	sqlite3_bind_int64(s, 1, batch_seq);
	sqlite3_bind_int(s, 2, (int)r->row);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		image_from_row(s, &img);
		n++;
		if (strcmp(img.state, "pending") == 0)
			pending++;
		else if (strcmp(img.state, "running") == 0)
			running++;
		else if (strcmp(img.state, "done") == 0)
			done++;
		else
			failed++;
		if (img.attempts > r->attempts)
			r->attempts = img.attempts;
		if (img.error && !*first_error)
			*first_error = strdup(img.error);
	}
	if (rc != SQLITE_DONE)
		*ret = store_fail(st, "row images");
	store_done(s);
	if (running)
		strcpy(r->state, "running");
	else if (n > 0 && done == n)
		strcpy(r->state, "done");
	else if (failed && !pending)
		strcpy(r->state, "failed");
	else
		strcpy(r->state, "pending");
}

int store_rows_page(struct store *st, int64_t batch_seq, unsigned after_row, unsigned limit,
		    int (*cb_row)(void *cls, const struct store_row *r),
		    int (*cb_image)(void *cls, const struct store_image *img),
		    void *cls, int *more)
{
	sqlite3_stmt *s = store_q(st, Q_ROWS_PAGE);
	struct store_row *rows;
	unsigned n = 0;
	int rc, ret = STORE_OK, read_txn;

	*more = 0;
	if (!s)
		return STORE_ERROR;
	rows = calloc(limit + 1, sizeof(*rows));
	if (!rows)
		return STORE_ERROR;
	/*
	 * A page is 1 + 2 x limit statements: one read transaction for all of
	 * them (one snapshot, so the rows' states and their images agree, and one
	 * WAL read lock instead of one per statement).
	 */
	read_txn = sqlite3_get_autocommit(st->db) && store_exec(st, Q_BEGIN_READ) == STORE_OK;
	sqlite3_bind_int64(s, 1, batch_seq);
	sqlite3_bind_int(s, 2, (int)after_row);
	sqlite3_bind_int(s, 3, (int)limit + 1);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == limit) {
			*more = 1;
			break;
		}
		rows[n].row = (unsigned)sqlite3_column_int(s, 0);
		rows[n].cost = sqlite3_column_int64(s, 12);
		if (store_read_fields(s, 1, &rows[n].f, 1) < 0) {
			ret = STORE_ERROR;
			break;
		}
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = store_fail(st, "rows page");
	store_done(s);
	for (unsigned i = 0; i < n; i++) {
		char *err = NULL;

		if (ret == STORE_OK)
			row_state(st, batch_seq, &rows[i], &err, &ret);
		rows[i].error = err;
		if (ret == STORE_OK && cb_row(cls, &rows[i]) != 0)
			ret = STORE_ERROR;
		if (ret == STORE_OK) {
			sqlite3_stmt *si = store_q(st, Q_ROW_IMAGES);
			unsigned k;

			if (!si) {
				ret = STORE_ERROR;
			} else {
				sqlite3_bind_int64(si, 1, batch_seq);
				sqlite3_bind_int(si, 2, (int)rows[i].row);
				ret = each_image(st, si, cb_image, cls, 0, &k, NULL);
			}
		}
		free(err);
		sheet_fields_free(&rows[i].f);
	}
	free(rows);
	if (read_txn && store_exec(st, Q_COMMIT) != STORE_OK)
		store_rollback(st);
	return ret;
}

/* ---- the scheduler's side -------------------------------------------------- */

int store_claim(struct store *st, int64_t after_seq, int64_t now, struct store_job *job)
{
	sqlite3_stmt *s;
	int rc;

	memset(job, 0, sizeof(*job));
	if (store_begin(st) != STORE_OK)
		return STORE_ERROR;
	for (int pass = 0; pass < 2 && job->batch_seq == 0; pass++) {
		s = store_q(st, Q_CLAIM_BATCH);
		if (!s)
			goto fail;
		sqlite3_bind_int64(s, 1, pass == 0 ? after_seq : 0);
		sqlite3_bind_int64(s, 2, now);
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			job->batch_seq = sqlite3_column_int64(s, 0);
			store_col_copy(s, 1, job->batch_id, sizeof(job->batch_id));
		}
		store_done(s);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			goto fail;
	}
	if (job->batch_seq == 0) {
		store_rollback(st);
		return STORE_NONE;
	}
	s = store_q(st, Q_CLAIM_IMAGE);
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, job->batch_seq);
	sqlite3_bind_int64(s, 2, now);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		store_done(s);
		goto fail;
	}
	job->image_seq = sqlite3_column_int64(s, 0);
	store_col_copy(s, 1, job->image_id, sizeof(job->image_id));
	job->row = (unsigned)sqlite3_column_int(s, 2);
	job->idx = (unsigned)sqlite3_column_int(s, 3);
	job->attempts = (unsigned)sqlite3_column_int(s, 4) + 1;
	store_done(s);
	s = store_q(st, Q_CLAIM_MARK);
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, job->image_seq);
	if (store_step_done(st, s, "claim mark") != STORE_OK)
		goto fail;
	s = store_q(st, Q_CLAIM_BATCH_RUN);
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, job->batch_seq);
	sqlite3_bind_int64(s, 2, now);
	if (store_step_done(st, s, "claim batch") != STORE_OK)
		goto fail;
	if (sqlite3_changes(st->db) > 0 &&
	    store_event_emit(st, job->batch_seq, "batch.progress", now) != STORE_OK)
		goto fail;
	s = store_q(st, Q_ROW_FIELDS);
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, job->batch_seq);
	sqlite3_bind_int(s, 2, (int)job->row);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW || store_read_fields(s, 0, &job->f, 1) < 0) {
		store_done(s);
		goto fail;
	}
	store_done(s);
	if (store_commit(st) != STORE_OK) {
		sheet_fields_free(&job->f);
		return STORE_ERROR;
	}
	return STORE_OK;
fail:
	store_fail(st, "claim");
	sheet_fields_free(&job->f);
	store_rollback(st);
	return STORE_ERROR;
}

int store_claim_row_more(struct store *st, const struct store_job *job, int64_t now,
			 unsigned max, struct store_job_image *out, unsigned *n)
{
	sqlite3_stmt *s;
	unsigned i, got = 0;
	int rc;

	*n = 0;
	if (!max)
		return STORE_OK;
	if (store_begin(st) != STORE_OK)
		return STORE_ERROR;
	s = store_q(st, Q_CLAIM_ROW_MORE);
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, job->batch_seq);
	sqlite3_bind_int(s, 2, (int)job->row);
	sqlite3_bind_int64(s, 3, now);
	sqlite3_bind_int(s, 4, (int)max);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && got < max) {
		out[got].image_seq = sqlite3_column_int64(s, 0);
		store_col_copy(s, 1, out[got].image_id, sizeof(out[got].image_id));
		out[got].idx = (unsigned)sqlite3_column_int(s, 2);
		out[got].attempts = (unsigned)sqlite3_column_int(s, 3) + 1;
		got++;
	}
	store_done(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto fail;
	for (i = 0; i < got; i++) {
		s = store_q(st, Q_CLAIM_MARK);
		if (!s)
			goto fail;
		sqlite3_bind_int64(s, 1, out[i].image_seq);
		if (store_step_done(st, s, "claim mark") != STORE_OK)
			goto fail;
	}
	if (store_commit(st) != STORE_OK)
		return STORE_ERROR;
	*n = got;
	return STORE_OK;
fail:
	store_fail(st, "claim row");
	store_rollback(st);
	return STORE_ERROR;
}

int store_image_stage(struct store *st, int64_t image_seq, const struct store_result *r)
{
	sqlite3_stmt *s = store_q(st, Q_IMAGE_STAGE);

	if (!s)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, image_seq);
	if (r->seed >= 0)
		sqlite3_bind_int64(s, 2, r->seed);
	sqlite3_bind_int(s, 3, (int)r->width);
	sqlite3_bind_int(s, 4, (int)r->height);
	sqlite3_bind_int64(s, 5, r->bytes);
	sqlite3_bind_int64(s, 6, r->crc32);
	store_bind_text(s, 7, r->mime);
	store_bind_text(s, 8, r->ext);
	store_bind_text(s, 9, r->ignored && r->ignored[0] ? r->ignored : NULL);
	return store_step_done(st, s, "image stage");
}

/* What settling an image needs to know about it and its batch. */
struct image_ctx {
	int64_t batch_seq;
	char state[8];
	int staged;
	int64_t cost;
	char account_id[33];
	char batch_id[33];
	char image_id[33];
	char batch_state[12];
};

static int image_ctx(struct store *st, int64_t image_seq, struct image_ctx *c)
{
	sqlite3_stmt *s = store_q(st, Q_IMAGE_CTX);
	int rc;

	if (!s)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, image_seq);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		c->batch_seq = sqlite3_column_int64(s, 0);
		store_col_copy(s, 1, c->state, sizeof(c->state));
		c->staged = sqlite3_column_int(s, 2);
		c->cost = sqlite3_column_int64(s, 3);
		store_col_copy(s, 4, c->account_id, sizeof(c->account_id));
		store_col_copy(s, 5, c->batch_id, sizeof(c->batch_id));
		store_col_copy(s, 6, c->image_id, sizeof(c->image_id));
		store_col_copy(s, 7, c->batch_state, sizeof(c->batch_state));
	}
	store_done(s);
	if (rc == SQLITE_ROW)
		return STORE_OK;
	if (rc == SQLITE_DONE)
		return STORE_NOT_FOUND;
	return store_fail(st, "image ctx");
}

/* Inside a transaction: a running, staged image becomes done and is charged. */
static int done_locked(struct store *st, int64_t image_seq, int64_t now, char *state_out)
{
	struct image_ctx c;
	sqlite3_stmt *s;
	int rc = image_ctx(st, image_seq, &c);

	if (rc != STORE_OK)
		return rc;
	if (strcmp(c.state, "running") != 0 || !c.staged)
		return STORE_CONFLICT;
	s = store_q(st, Q_IMAGE_DONE);
	if (!s)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, image_seq);
	sqlite3_bind_int64(s, 2, now);
	if (store_step_done(st, s, "image done") != STORE_OK)
		return STORE_ERROR;
	s = store_q(st, Q_BATCH_IMAGE_DONE);
	if (!s)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, c.batch_seq);
	sqlite3_bind_int64(s, 2, c.cost);
	if (store_step_done(st, s, "batch done") != STORE_OK)
		return STORE_ERROR;
	if (store_credit_move(st, c.account_id, STORE_CHARGE, c.cost, c.batch_id, c.image_id,
			      now) != STORE_OK)
		return STORE_ERROR;
	return store_settle_batch_ev(st, c.batch_seq, now, state_out, 1);
}

int store_image_done(struct store *st, int64_t image_seq, int64_t now, char *state_out)
{
	int rc;

	if (store_begin(st) != STORE_OK)
		return STORE_ERROR;
	rc = done_locked(st, image_seq, now, state_out);
	if (rc != STORE_OK) {
		store_rollback(st);
		return rc;
	}
	return store_commit(st);
}

int store_image_fail(struct store *st, int64_t image_seq, const char *error, int64_t now,
		     char *state_out)
{
	struct image_ctx c;
	sqlite3_stmt *s;
	int rc;

	if (store_begin(st) != STORE_OK)
		return STORE_ERROR;
	rc = image_ctx(st, image_seq, &c);
	if (rc != STORE_OK)
		goto out;
	rc = STORE_CONFLICT;
	if (strcmp(c.state, "running") != 0)
		goto out;
	rc = STORE_ERROR;
	s = store_q(st, Q_IMAGE_FAIL);
	if (!s)
		goto out;
	sqlite3_bind_int64(s, 1, image_seq);
	store_bind_text(s, 2, error);
	sqlite3_bind_int64(s, 3, now);
	if (store_step_done(st, s, "image fail") != STORE_OK)
		goto out;
	s = store_q(st, Q_BATCH_IMAGE_FAIL);
	if (!s)
		goto out;
	sqlite3_bind_int64(s, 1, c.batch_seq);
	sqlite3_bind_int64(s, 2, c.cost);
	if (store_step_done(st, s, "batch fail image") != STORE_OK)
		goto out;
	if (store_credit_move(st, c.account_id, STORE_RELEASE, c.cost, c.batch_id, c.image_id,
			      now) != STORE_OK)
		goto out;
	if (store_settle_batch_ev(st, c.batch_seq, now, state_out, 1) != STORE_OK)
		goto out;
	return store_commit(st);
out:
	store_rollback(st);
	return rc;
}

/*
 * Inside a transaction: a running image back to pending (attempts changed by
 * delta), releasing its credit when its batch is not active any more.
 */
static int pending_locked(struct store *st, int64_t image_seq, int attempts_delta,
			  int64_t not_before, const char *error, int64_t now, char *state_out)
{
	struct image_ctx c;
	sqlite3_stmt *s;
	int rc = image_ctx(st, image_seq, &c);

	if (rc != STORE_OK)
		return rc;
	if (strcmp(c.state, "running") != 0)
		return STORE_CONFLICT;
	s = store_q(st, Q_IMAGE_PENDING);
	if (!s)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, image_seq);
	sqlite3_bind_int(s, 2, attempts_delta);
	sqlite3_bind_int64(s, 3, not_before);
	store_bind_text(s, 4, error);
	if (store_step_done(st, s, "image pending") != STORE_OK)
		return STORE_ERROR;
	if (strcmp(c.batch_state, "queued") != 0 && strcmp(c.batch_state, "running") != 0) {
		s = store_q(st, Q_BATCH_RESERVE);
		if (!s)
			return STORE_ERROR;
		sqlite3_bind_int64(s, 1, c.batch_seq);
		sqlite3_bind_int64(s, 2, -c.cost);
		if (store_step_done(st, s, "batch release") != STORE_OK)
			return STORE_ERROR;
		if (store_credit_move(st, c.account_id, STORE_RELEASE, c.cost, c.batch_id,
				      c.image_id, now) != STORE_OK)
			return STORE_ERROR;
	}
	return store_settle_batch(st, c.batch_seq, now, state_out);
}

int store_image_retry(struct store *st, int64_t image_seq, int64_t not_before, const char *error)
{
	int rc;

	if (store_begin(st) != STORE_OK)
		return STORE_ERROR;
	rc = pending_locked(st, image_seq, 0, not_before, error, not_before, NULL);
	if (rc != STORE_OK) {
		store_rollback(st);
		return rc;
	}
	return store_commit(st);
}

int store_image_requeue(struct store *st, int64_t image_seq, int64_t now, char *state_out)
{
	int rc;

	if (store_begin(st) != STORE_OK)
		return STORE_ERROR;
	rc = pending_locked(st, image_seq, -1, 0, NULL, now, state_out);
	if (rc != STORE_OK) {
		store_rollback(st);
		return rc;
	}
	return store_commit(st);
}

struct running_image {
	int64_t seq;
	char id[33];
	char batch_id[33];
	int staged;
	char ext[8];
	int64_t bytes;
};

int store_recover(struct store *st, int64_t now,
		  int (*file_ok)(void *cls, const char *batch_id, const char *image_id,
				 const char *ext, int64_t bytes),
		  void *cls, unsigned *adopted, unsigned *requeued)
{
	struct running_image *v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *s;
	int64_t *active = NULL;
	size_t nactive = 0, capactive = 0;
	int rc, ret = STORE_ERROR;

	*adopted = *requeued = 0;
	if (store_begin(st) != STORE_OK)
		return STORE_ERROR;
	s = store_q(st, Q_RUNNING_IMAGES);
	if (!s)
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct running_image *nv = realloc(v, ncap * sizeof(*v));

			if (!nv) {
				store_done(s);
				goto out;
			}
			v = nv;
			cap = ncap;
		}
		v[n].seq = sqlite3_column_int64(s, 0);
		store_col_copy(s, 1, v[n].id, sizeof(v[n].id));
		store_col_copy(s, 2, v[n].batch_id, sizeof(v[n].batch_id));
		v[n].staged = sqlite3_column_int(s, 3);
		store_col_copy(s, 4, v[n].ext, sizeof(v[n].ext));
		v[n].bytes = sqlite3_column_int64(s, 5);
		n++;
	}
	store_done(s);
	if (rc != SQLITE_DONE)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (v[i].staged && file_ok(cls, v[i].batch_id, v[i].id, v[i].ext, v[i].bytes)) {
			if (done_locked(st, v[i].seq, now, NULL) != STORE_OK)
				goto out;
			(*adopted)++;
		} else {
			if (pending_locked(st, v[i].seq, -1, 0, NULL, now, NULL) != STORE_OK)
				goto out;
			(*requeued)++;
		}
	}
	/* settle what a crash may have left between two states */
	s = store_q(st, Q_ACTIVE_BATCHES);
	if (!s)
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (nactive == capactive) {
			size_t ncap = capactive ? capactive * 2 : 16;
			int64_t *na = realloc(active, ncap * sizeof(*active));

			if (!na) {
				store_done(s);
				goto out;
			}
			active = na;
			capactive = ncap;
		}
		active[nactive++] = sqlite3_column_int64(s, 0);
	}
	store_done(s);
	for (size_t i = 0; i < nactive; i++) {
		if (store_settle_batch(st, active[i], now, NULL) != STORE_OK)
			goto out;
	}
	ret = store_commit(st);
	free(v);
	free(active);
	return ret;
out:
	free(v);
	free(active);
	store_rollback(st);
	return STORE_ERROR;
}
