/*
 * store.h — everything kiln keeps, behind one interface; all SQL lives in store/.
 *
 * DESIGN
 * A struct store is one SQLite connection (WAL mode, a busy timeout, foreign
 * keys on) with its prepared statements, made lazily and kept for the life
 * of the connection.  A connection is used by one thread at a time: each
 * worker owns one, and the HTTP threads borrow one from a struct store_pool
 * for the length of a request.  Every write that must be atomic (an image
 * done and its credit charged; a batch started and its credits reserved) is
 * one function here and one transaction (BEGIN IMMEDIATE) inside it.
 *
 * Credits: for every account, available + reserved + charged equals the sum
 * of its grants, and every movement is a line of the ledger.  For a batch,
 * credits_reserved is cost_per_image times the images that are pending or
 * running while it is queued or running, and times the images still running
 * once it is stopping, stopped or failed (those settle when they finish).
 *
 * Return values: STORE_OK (0), a positive enum store_rc for an outcome the
 * caller answers (not found, wrong state, no credits), or STORE_ERROR (-1)
 * for a failure of the database itself, already logged.
 */
#ifndef KILN_STORE_H
#define KILN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "sheet/sheet.h"

enum store_rc {
	STORE_ERROR = -1,
	STORE_OK = 0,
	STORE_NOT_FOUND,
	STORE_CONFLICT,          /* the batch is not in a state that allows it */
	STORE_NO_CREDITS,        /* the account cannot cover the reservation */
	STORE_EXISTS,            /* an Idempotency-Key seen before: *out is the first result */
	STORE_NONE               /* nothing to do (no work to claim) */
};

struct store_migration {
	int version;
	const char *name;
	const char *sql;
};

/* Generated from schema/ at build time (scripts/embed-schema.sh). */
extern const struct store_migration store_migrations[];
extern const unsigned store_migrations_count;

struct store;
struct store_pool;

/* Opens the database file (creating it); 0 or -1 with a message in err. */
int store_open(const char *path, struct store **out, char *err, size_t errlen);

/*
 * Applies the migrations the database has not seen, all in one transaction,
 * and records them in schema_migrations.  Refuses (-1) a database written by
 * a newer kilnd.
 */
int store_migrate(struct store *st, char *err, size_t errlen);

void store_close(struct store *st);

/* A pool of at most max connections to path, opened on demand. */
struct store_pool *store_pool_new(const char *path, unsigned max);
/* Borrows a connection (waits when all are lent); NULL if one cannot be opened. */
struct store *store_pool_get(struct store_pool *pool);
void store_pool_put(struct store_pool *pool, struct store *st);
void store_pool_free(struct store_pool *pool);

/* ---- accounts ------------------------------------------------------------ */

struct store_account {
	char id[33];
	char name[128];
	int is_admin;
	int64_t available, reserved, charged;
};

/*
 * Makes sure the admin account exists.  When it does not, creates it with the
 * given token hash and a grant of credits, and sets *created.  Fills *out.
 */
int store_admin_ensure(struct store *st, const char *token_hash, int64_t credits,
		       struct store_account *out, int *created);

/* The account whose token hashes to hash; STORE_NOT_FOUND if none. */
int store_account_by_token(struct store *st, const char *hash, struct store_account *out);

int store_account_get(struct store *st, const char *id, struct store_account *out);

/*
 * Recomputes every account's balances from the ledger and compares them with
 * the kept ones; returns STORE_OK when all agree, STORE_CONFLICT otherwise.
 */
int store_ledger_check(struct store *st);

/* ---- batches ------------------------------------------------------------- */

struct store_batch {
	int64_t seq;
	char id[33];
	char account_id[33];
	char *name;
	char state[12];
	char format[8];
	char engine[32];
	unsigned rows, images_total, images_done, images_failed, images_running;
	int64_t cost_per_image, credits_reserved, credits_charged;
	int64_t created_at, started_at, finished_at;   /* ms; 0 when not yet */
	int64_t run_started_at;
	unsigned run_done_base;
	char *warnings;          /* JSON array text */
	char *webhook_url;       /* or NULL */
	char *error;             /* or NULL */
	unsigned preview_row;    /* first row (0 if none) */
	struct sheet_fields preview;
};

void store_batch_free(struct store_batch *b);

/* What a new or replaced batch is made of. */
struct store_upload {
	const char *account_id;
	const char *name;
	const char *format;      /* "csv", ... */
	const char *engine;
	int64_t cost_per_image;
	const struct sheet_batch *sheet;
	const char *warnings;    /* JSON array text */
	const char *idempotency_key; /* or NULL */
};

/*
 * Creates a draft batch with its rows and pending images.  With an
 * idempotency key already used by the account, makes nothing and returns
 * STORE_EXISTS with that batch in *out.
 */
int store_batch_create(struct store *st, const struct store_upload *up, struct store_batch *out);

/* Replaces the rows of a draft; STORE_CONFLICT in any other state. */
int store_batch_replace(struct store *st, const char *batch_id, const struct store_upload *up,
			struct store_batch *out);

/* One batch of an account (any account when account_id is NULL). */
int store_batch_get(struct store *st, const char *account_id, const char *batch_id,
		    struct store_batch *out);

/*
 * Calls cb for up to limit batches of the account, newest first, older than
 * before_seq (0: from the newest), in the given state (NULL: any).  Sets
 * *more when there are more after the last one given.
 */
int store_batch_list(struct store *st, const char *account_id, const char *state,
		     int64_t before_seq, unsigned limit,
		     int (*cb)(void *cls, const struct store_batch *b), void *cls, int *more);

/*
 * draft → queued, reserving the cost of its pending images; a batch already
 * queued or running is left as it is (STORE_OK).  STORE_NO_CREDITS with
 * *required and *available filled when the account cannot cover it.
 */
int store_batch_start(struct store *st, const char *account_id, const char *batch_id,
		      const char *webhook_url, int64_t now, struct store_batch *out,
		      int64_t *required, int64_t *available);

/*
 * queued/running → stopping (images still running) or stopped, releasing
 * the credits of the images not begun.  Idempotent on stopping/stopped.
 */
int store_batch_stop(struct store *st, const char *account_id, const char *batch_id,
		     int64_t now, struct store_batch *out);

/* stopped → queued, reserving the cost of what is left; as start otherwise. */
int store_batch_resume(struct store *st, const char *account_id, const char *batch_id,
		       int64_t now, struct store_batch *out,
		       int64_t *required, int64_t *available);

/* Deletes a batch not queued/running/stopping, with its rows and images. */
int store_batch_delete(struct store *st, const char *account_id, const char *batch_id);

/* Fails a batch for a batch-level fault (engine unusable), releasing its reservation. */
int store_batch_fail(struct store *st, int64_t batch_seq, const char *error, int64_t now);

/* ---- rows and images ----------------------------------------------------- */

struct store_image {
	int64_t seq;
	char id[33];
	char batch_id[33];
	char account_id[33];
	int64_t batch_seq;
	unsigned row, idx;
	char state[8];
	unsigned attempts;
	const char *error;       /* or NULL */
	int64_t seed;            /* -1 when not known */
	unsigned width, height;
	int64_t bytes;
	uint32_t crc32;
	char mime[32];
	char ext[8];
	const char *ignored;     /* or NULL */
	int64_t created_at;
	char engine[32];
	struct sheet_fields f;   /* the row's fields (pointers valid during the callback) */
};

struct store_row {
	unsigned row;
	char state[8];           /* pending | running | done | failed, from its images */
	unsigned attempts;       /* the most any of its images took */
	const char *error;       /* the first image error, or NULL */
	struct sheet_fields f;
};

/*
 * Pages through a batch's rows after row after_row: cb_row once per row, then
 * cb_image for each of its images in index order.  *more as for batches.
 */
int store_rows_page(struct store *st, int64_t batch_seq, unsigned after_row, unsigned limit,
		    int (*cb_row)(void *cls, const struct store_row *r),
		    int (*cb_image)(void *cls, const struct store_image *img),
		    void *cls, int *more);

/* Every image of a batch in row and index order (for the archive). */
int store_images_of_batch(struct store *st, int64_t batch_seq,
			  int (*cb)(void *cls, const struct store_image *img), void *cls);

/* One image with its row's fields; account_id NULL for any account. */
int store_image_get(struct store *st, const char *account_id, const char *image_id,
		    int (*cb)(void *cls, const struct store_image *img), void *cls);

/*
 * Done images of an account (account_id NULL: the public images of every
 * account), newest first, older than before_seq (0: from the newest).
 */
int store_images_list(struct store *st, const char *account_id, int64_t before_seq,
		      unsigned limit, int (*cb)(void *cls, const struct store_image *img),
		      void *cls, int *more);

/* ---- the scheduler's side ------------------------------------------------ */

struct store_job {
	int64_t image_seq;
	char image_id[33];
	int64_t batch_seq;
	char batch_id[33];
	unsigned row, idx;
	unsigned attempts;       /* including this one */
	struct sheet_fields f;   /* owned; sheet_fields_free() */
};

/*
 * Claims the next image to make, fairly: the first pending image (in row
 * order) of the first active batch after after_seq that has one due at now,
 * wrapping around.  Marks it running and its batch running.  STORE_NONE when
 * there is nothing to do.
 */
int store_claim(struct store *st, int64_t after_seq, int64_t now, struct store_job *job);

/* One more image of a claimed row, for an engine that makes several per call. */
struct store_job_image {
	int64_t image_seq;
	char image_id[33];
	unsigned idx;
	unsigned attempts;       /* including this one */
};

/*
 * Claims up to max more images of the job's row that are pending and due
 * at now, in index order, marking them running, in one transaction and
 * only while the batch is queued or running.  *n gets how many (0 is fine).
 */
int store_claim_row_more(struct store *st, const struct store_job *job, int64_t now,
			 unsigned max, struct store_job_image *out, unsigned *n);

/* What an engine made, as written to disk. */
struct store_result {
	int64_t seed;
	unsigned width, height;
	int64_t bytes;
	uint32_t crc32;
	const char *mime, *ext, *ignored;
};

/* Records the result of a running image whose file is written but not yet renamed. */
int store_image_stage(struct store *st, int64_t image_seq, const struct store_result *r);

/*
 * Marks a staged image done and charges its credit, in one transaction;
 * completes or stops its batch when it was the last.  *state_out (12 bytes)
 * gets the batch's state afterwards.
 */
int store_image_done(struct store *st, int64_t image_seq, int64_t now, char *state_out);

/* Puts a running image back to pending, due at not_before, keeping its attempt. */
int store_image_retry(struct store *st, int64_t image_seq, int64_t not_before, const char *error);

/* A running image that cannot be made: failed, its credit released. */
int store_image_fail(struct store *st, int64_t image_seq, const char *error, int64_t now,
		     char *state_out);

/*
 * A running image whose engine call was cancelled (stop or shutdown): pending
 * again, the attempt not counted; its credit released if its batch is no
 * longer active; a stopping batch with nothing left running becomes stopped.
 */
int store_image_requeue(struct store *st, int64_t image_seq, int64_t now, char *state_out);

/*
 * After a crash: every image left running is finished if its file was
 * written and staged (file_ok says whether the final file exists with the
 * staged size), else put back to pending; stopping batches with nothing
 * running become stopped.  Returns the number of images recovered as done
 * in *adopted and requeued in *requeued.
 */
int store_recover(struct store *st, int64_t now,
		  int (*file_ok)(void *cls, const char *batch_id, const char *image_id,
				 const char *ext, int64_t bytes),
		  void *cls, unsigned *adopted, unsigned *requeued);

/* Runs PRAGMA integrity_check; STORE_OK when it says ok. */
int store_integrity_check(struct store *st);

#endif
