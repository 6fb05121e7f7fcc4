/*
 * store_int.h — what the files of store/ share and nobody else sees: the
 * connection struct, the statement ids and the small step/bind helpers.
 * Every SQL text is in the one table of store.c, indexed by enum store_q.
 */
#ifndef KILN_STORE_INT_H
#define KILN_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "store/store.h"

enum store_q {
	Q_BEGIN, Q_COMMIT, Q_ROLLBACK,
	Q_ACCOUNT_BY_TOKEN, Q_ACCOUNT_BY_ID, Q_ADMIN_GET, Q_ACCOUNT_INSERT, Q_ACCOUNT_MOVE,
	Q_LEDGER_INSERT, Q_LEDGER_CHECK,
	/* batches */
	Q_BATCH_BY_ID, Q_BATCH_BY_ID_ANY, Q_BATCH_BY_SEQ, Q_BATCH_BY_KEY, Q_BATCH_LIST,
	Q_BATCH_INSERT, Q_BATCH_REPLACE, Q_BATCH_PREVIEW, Q_ROW_INSERT, Q_IMAGE_INSERT,
	Q_ROWS_DELETE, Q_IMAGES_DELETE, Q_BATCH_DELETE, Q_BATCH_SET_STATE, Q_BATCH_START,
	Q_BATCH_RESERVE, Q_BATCH_COUNT_STATE, Q_BATCH_HAS_STATE, Q_BATCH_FAIL, Q_BATCH_STATE_OF,
	/* rows and images */
	Q_ROWS_PAGE, Q_ROW_IMAGES, Q_IMAGES_OF_BATCH, Q_IMAGE_BY_ID, Q_IMAGE_BY_ID_ANY,
	Q_IMAGES_LIST, Q_IMAGES_PUBLIC,
	/* the scheduler */
	Q_CLAIM_BATCH, Q_CLAIM_IMAGE, Q_CLAIM_MARK, Q_CLAIM_BATCH_RUN, Q_ROW_FIELDS,
	Q_IMAGE_STAGE, Q_IMAGE_CTX, Q_IMAGE_DONE, Q_IMAGE_FAIL, Q_IMAGE_PENDING,
	Q_BATCH_IMAGE_DONE, Q_BATCH_IMAGE_FAIL, Q_RUNNING_IMAGES, Q_ACTIVE_BATCHES,
	/* operations: backups, meta (store_ops.c) */
	Q_OPS_DONE_IMAGES, Q_OPS_META_SET,
	/* accounts made by the admin, costs per row, limits per account */
	Q_ACCOUNT_BY_NAME, Q_ACCOUNT_LIST, Q_ACCOUNT_SET_TOKEN, Q_ACCOUNT_ACTIVE_BATCHES,
	Q_ACCOUNT_QUEUED_IMAGES, Q_BATCH_PENDING_COST, Q_BATCH_SET_REQUIRED, Q_ACCOUNT_SET_LIMITS,
	/* events, the webhook outbox, metrics */
	Q_EVENT_INSERT, Q_OUTBOX_INSERT, Q_EVENTS_AFTER_ACCOUNT, Q_EVENTS_AFTER_ALL, Q_EVENTS_LAST,
	Q_OUTBOX_DUE, Q_OUTBOX_NEXT, Q_OUTBOX_SET, Q_EVENTS_PRUNE, Q_OUTBOX_PRUNE,
	Q_METRICS_BATCHES, Q_METRICS_IMAGES, Q_METRICS_CREDITS, Q_METRICS_OUTBOX,
	/* several images of a row in one engine call */
	Q_CLAIM_ROW_MORE,
	/* a read of many statements in one snapshot (the rows page) */
	Q_BEGIN_READ,
	/* a batch paused by a full disk */
	Q_BATCH_SET_ERROR,
	Q_COUNT
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[Q_COUNT];
	pthread_mutex_t *wlock;  /* the pool's writer lock, or NULL for a lone connection */
	int locked;              /* this connection holds *wlock */
	struct store_pool *pool; /* the pool it came from, or NULL */
	unsigned notify;         /* STORE_NOTIFY_* bits of the open transaction */
	int full;                /* the last failure was a full disk (SQLITE_FULL) */
};

enum store_credit { STORE_GRANT, STORE_RESERVE, STORE_CHARGE, STORE_RELEASE };

/* The statement id, reset and unbound; NULL (logged) if it cannot be prepared. */
sqlite3_stmt *store_q(struct store *st, enum store_q id);
/* Resets and unbinds a statement after use. */
void store_done(sqlite3_stmt *s);
/* Logs the connection's last error with what failed; returns STORE_ERROR. */
int store_fail(struct store *st, const char *what);
/* Steps a statement that returns no row, then store_done(); STORE_OK or STORE_ERROR. */
int store_step_done(struct store *st, sqlite3_stmt *s, const char *what);
/* Runs the table's statement id (one without parameters or rows); STORE_OK or STORE_ERROR. */
int store_exec(struct store *st, enum store_q id);
int store_begin(struct store *st);
int store_commit(struct store *st);
void store_rollback(struct store *st);
void store_bind_text(sqlite3_stmt *s, int i, const char *v);
const char *store_col_text(sqlite3_stmt *s, int i);
void store_col_copy(sqlite3_stmt *s, int i, char *dst, size_t len);
char *store_col_dup(sqlite3_stmt *s, int i);

/*
 * Moves credits of an account and writes the ledger line, inside the
 * caller's transaction.  amount 0 does nothing.
 */
int store_credit_move(struct store *st, const char *account_id, enum store_credit kind,
		      int64_t amount, const char *batch_id, const char *image_id, int64_t now);

/*
 * Reads the 11 row-field columns starting at column col into f.  With copy,
 * strings are malloc'd (free with sheet_fields_free()); without, they point
 * into the statement's row and live until its next step or reset.
 */
int store_read_fields(sqlite3_stmt *s, int col, struct sheet_fields *f, int copy);

/*
 * Completes or stops a batch that has nothing left to do: active with no
 * image pending or running → completed; stopping with none running →
 * stopped.  Inside the caller's transaction; the state after goes to
 * state_out (12 bytes) when not NULL.
 */
int store_settle_batch(struct store *st, int64_t batch_seq, int64_t now, char *state_out);

/*
 * store_settle_batch() that also writes the batch's events: batch.completed
 * or batch.stopped when it settles, else batch.progress when progress is
 * set (an image of it was just settled).
 */
int store_settle_batch_ev(struct store *st, int64_t batch_seq, int64_t now, char *state_out,
			  int progress);

/*
 * Writes an event of the batch (type "batch.created", ...) with its JSON data
 * made from the batch's row as it is now, inside the caller's transaction;
 * a terminal event of a batch with a webhook_url also gets its outbox row.
 * The pool's notifier is told after the commit.
 */
int store_event_emit(struct store *st, int64_t batch_seq, const char *type, int64_t now);

#endif
