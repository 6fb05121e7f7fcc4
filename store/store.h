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
 * of its grants, and every movement is a line of the ledger.  Each row keeps
 * the cost of one of its images (by model and rendering, fixed at upload).
 * For a batch, credits_reserved is the cost of the images that are pending or
 * running while it is queued or running, and of the images still running
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
	STORE_NONE,              /* nothing to do (no work to claim) */
	STORE_LIMIT              /* a per-account limit would be passed (struct store_limits) */
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

/*
 * Each connection's page cache, in KiB, as PRAGMA cache_size takes it
 * (negative: KiB, not pages): 256 KiB, not SQLite's 2 MB, so that the
 * pooled connections together stay small however large the store grows;
 * a page read again comes from the kernel's page cache.
 */
#define STORE_CACHE_KIB "-256"

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

/*
 * Opens a read transaction (BEGIN DEFERRED) on st, so that the statements
 * run next share one snapshot and take SQLite's WAL read lock once instead
 * of once each; store_read_end() ends it.  Only for reads: a function that
 * writes (its own BEGIN IMMEDIATE) fails inside one.  STORE_ERROR when a
 * transaction is open already (or on a database error).  A connection given
 * back to its pool has any open transaction ended.
 */
int store_read_begin(struct store *st);
/* Ends the read transaction store_read_begin() opened; nothing when none is open. */
void store_read_end(struct store *st);

/* ---- accounts ------------------------------------------------------------ */

struct store_account {
	char id[33];
	char name[128];
	int is_admin;
	int64_t available, reserved, charged;   /* granted = their sum */
	int64_t created_at;
	/* its own limits, or -1: the config's */
	int64_t max_active_batches, max_queued_images, max_upload_bytes;
};

/*
 * Makes sure the admin account exists.  When it does not, creates it with the
 * given token hash and a grant of credits, and sets *created.  Fills *out.
 */
int store_admin_ensure(struct store *st, const char *token_hash, int64_t credits,
		       struct store_account *out, int *created);

/*
 * The account whose token hashes to hash (hex SHA-256); STORE_NOT_FOUND if
 * none.  The stored hash is compared with CRYPTO_memcmp() once found.
 */
int store_account_by_token(struct store *st, const char *hash, struct store_account *out);

int store_account_get(struct store *st, const char *id, struct store_account *out);

/*
 * Creates an account (not an admin) with the hash of its token and a first
 * grant of credits (0: none).  STORE_EXISTS when the name is taken.
 */
int store_account_create(struct store *st, const char *name, const char *token_hash,
			 int64_t credits, int64_t now, struct store_account *out);

/* The account with this id, else with this name. */
int store_account_find(struct store *st, const char *id_or_name, struct store_account *out);

/* Calls cb for every account, oldest first. */
int store_account_list(struct store *st, int (*cb)(void *cls, const struct store_account *a),
		       void *cls);

/*
 * Grants delta credits (negative: takes them back) as one ledger line.
 * STORE_NO_CREDITS when the available credits would go below zero (reserved
 * and charged credits are never taken back); STORE_NOT_FOUND.
 */
int store_account_credit(struct store *st, const char *id, int64_t delta, int64_t now,
			 struct store_account *out);

/* Replaces an account's token hash: the old token stops working at once. */
int store_account_set_token(struct store *st, const char *id, const char *token_hash,
			    int64_t now, struct store_account *out);

/*
 * Sets an account's own limits: a value >= 0 sets it, -1 goes back to the
 * config's, -2 leaves it as it is.  Fills *out with the account after.
 */
int store_account_set_limits(struct store *st, const char *id, int64_t max_active_batches,
			     int64_t max_queued_images, int64_t max_upload_bytes,
			     struct store_account *out);

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
	int64_t credits_required;  /* the cost of all its images */
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
	int64_t cost_per_image;  /* the cost of an image of a row without its own */
	const int64_t *row_costs; /* one per sheet row, or NULL: cost_per_image for all */
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

/* Per-account limits checked by start and resume (0: no limit). */
struct store_limits {
	unsigned max_active_batches;   /* batches queued or running at once */
	unsigned max_queued_images;    /* images pending or running in those batches */
	/* filled when STORE_LIMIT is returned */
	int hit;                       /* STORE_LIMIT_BATCHES or STORE_LIMIT_IMAGES */
	int64_t current;               /* what the account would have with this batch */
};

enum { STORE_LIMIT_BATCHES = 1, STORE_LIMIT_IMAGES = 2 };

/*
 * draft → queued, reserving the cost of its pending images; a batch already
 * queued or running is left as it is (STORE_OK).  STORE_NO_CREDITS with
 * *required and *available filled when the account cannot cover it;
 * STORE_LIMIT with lim->hit and lim->current filled when it would pass one
 * of the limits (lim NULL: none).
 */
int store_batch_start(struct store *st, const char *account_id, const char *batch_id,
		      const char *webhook_url, int64_t now, struct store_limits *lim,
		      struct store_batch *out, int64_t *required, int64_t *available);

/*
 * queued/running → stopping (images still running) or stopped, releasing
 * the credits of the images not begun.  Idempotent on stopping/stopped.
 */
int store_batch_stop(struct store *st, const char *account_id, const char *batch_id,
		     int64_t now, struct store_batch *out);

/* stopped → queued, reserving the cost of what is left; as start otherwise. */
int store_batch_resume(struct store *st, const char *account_id, const char *batch_id,
		       int64_t now, struct store_limits *lim, struct store_batch *out,
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
	int64_t cost;            /* credits one of its images costs */
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

/* ---- events, the webhook outbox, metrics ------------------------- */

enum store_notify {
	STORE_NOTIFY_EVENT = 1,  /* a commit wrote events */
	STORE_NOTIFY_WEBHOOK = 2 /* ... and webhook deliveries */
};

/*
 * Sets the function a pool's connections call after a commit that wrote
 * events (what: STORE_NOTIFY_* bits), on the committing thread, with no lock
 * held.  Set it before the pool is used by other threads.
 */
void store_pool_set_notify(struct store_pool *p, void (*fn)(void *cls, unsigned what), void *cls);

struct store_event {
	int64_t id;
	const char *type;        /* "batch.progress", ... (valid during the callback) */
	const char *data;        /* the JSON object */
};

/*
 * Calls cb for up to limit events after after_id, oldest first: those of the
 * account's batches, or every account's with account_id NULL.  Returns
 * STORE_OK; *last gets the id of the last one given (after_id if none).
 */
int store_events_after(struct store *st, const char *account_id, int64_t after_id, unsigned limit,
		       int (*cb)(void *cls, const struct store_event *ev), void *cls, int64_t *last);

/* The id of the newest event (0 when there is none) into *id. */
int store_events_last(struct store *st, int64_t *id);

struct store_delivery {
	int64_t seq;
	int64_t event_id;
	char batch_id[33];
	char type[24];
	char *url;               /* malloc'd, as is body */
	char *body;
	unsigned attempts;       /* made so far */
	int64_t created_at;
};

/* Frees the strings of a delivery. */
void store_delivery_free(struct store_delivery *d);

/*
 * Fills up to max deliveries due at now into v (free each with
 * store_delivery_free()); *n gets how many.  *next_at gets when the earliest
 * pending one not returned is due (0: none).  Only the rows of one lane:
 * seq % lanes == lane, so that several threads never take the same row.
 */
int store_outbox_due(struct store *st, int64_t now, unsigned lane, unsigned lanes,
		     struct store_delivery *v, unsigned max, unsigned *n, int64_t *next_at);

/*
 * Records an attempt: state "delivered", "failed" (given up) or "pending"
 * (retry at next_at); status is the HTTP status (0 when there was none).
 */
int store_outbox_attempt(struct store *st, int64_t seq, const char *state, int status,
			 const char *error, int64_t next_at, int64_t now);

/* Deletes events and finished deliveries older than before (ms). */
int store_events_prune(struct store *st, int64_t before, unsigned *events, unsigned *deliveries);

/* The batch states, in the order of struct store_metrics's batches[]. */
extern const char *const store_batch_states[7];

struct store_metrics {
	int64_t batches[7];       /* per state, as store_batch_states */
	int64_t images_done, images_failed; /* over the batches in the store */
	int64_t queue_depth;      /* pending images of queued and running batches */
	int64_t images_running;
	int64_t credits_charged;  /* over every account */
	int64_t webhooks_pending;
	int64_t last_event_id;
};

/* The gauges /metrics reads from the store. */
int store_metrics_read(struct store *st, struct store_metrics *m);

/*
 * 1 when the connection's last failure since its last transaction began was
 * a full disk (SQLITE_FULL, or ENOSPC/EDQUOT underneath), else 0.
 */
int store_disk_full(const struct store *st);

/*
 * Pauses a queued or running batch for a fault its owner can fix (a full
 * disk): as a stop (stopping while images still run, else stopped; the
 * credits of what is not begun released), with error set until the next
 * resume.  Any other state is left as it is (STORE_OK).
 */
int store_batch_pause(struct store *st, int64_t batch_seq, const char *error, int64_t now);

/* Runs PRAGMA integrity_check; STORE_OK when it says ok. */
int store_integrity_check(struct store *st);

/* ---- operations: checkpoints, backups, meta (store_ops.c) --------------- */

/*
 * Copies the whole WAL into the database file and truncates the WAL
 * (at shutdown, when no other connection is busy).  *frames gets the number
 * of WAL frames checkpointed.  STORE_OK or STORE_ERROR.
 */
int store_checkpoint(struct store *st, int *frames);

/*
 * Writes a consistent copy of the database to the new file dest_path with
 * SQLite's online backup API, in one step, so the copy is one snapshot even
 * while kilnd writes.  Returns 0, or -1 with a message in err.
 */
int store_backup(struct store *st, const char *dest_path, char *err, size_t errlen);

/* What a backup needs to know about a finished image. */
struct store_image_file {
	const char *batch_id, *image_id, *ext;
	int64_t bytes;
	uint32_t crc32;
};

/*
 * Calls cb for every done image, oldest first; a non-zero return from cb
 * stops the walk and is returned.  STORE_ERROR on a database error.
 */
int store_done_images(struct store *st, int (*cb)(void *cls, const struct store_image_file *f),
		      void *cls);

/* Sets a key of the meta table (the data dir's facts, schema 0004). */
int store_meta_set(struct store *st, const char *key, const char *value);

#endif
