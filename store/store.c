/*
 * store.c — the SQLite store: connections, migrations, accounts and credits.
 *
 * DESIGN
 * Statements are named by an enum and prepared on first use with
 * SQLITE_PREPARE_PERSISTENT; q() hands one out reset and unbound, so a
 * function binds, steps and resets it (done()) and nothing is parsed twice.
 * Every transaction is BEGIN IMMEDIATE, so a writer never fails to upgrade a
 * read lock.  The connections of one pool (all of kilnd's) also take the
 * pool's writer mutex around each transaction: writers in one process then
 * queue on a mutex instead of in SQLite's busy handler, which sleeps for
 * milliseconds at a time; the 10 s busy timeout remains for other processes
 * (the sqlite3 shell, a backup).  The file
 * runs in WAL mode with synchronous=NORMAL: a commit survives any crash of
 * the process (kill -9); after a power cut the last commits may be lost, but
 * never half-applied, and an image's file is fsynced before it is counted,
 * so at worst an image is made again — never counted without its file.
 *
 * Every SQL text of kiln is in the table below.  The batch functions live
 * in store_batches.c, the image and scheduler ones in store_images.c; they
 * share this file's machinery through store_int.h.
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "daemon/log.h"
#include "daemon/util.h"
#include "store/store.h"
#include "store/store_int.h"

static const char *const store_sql[Q_COUNT] = {
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
#define ACCOUNT_COLS "SELECT id, name, is_admin, credits_available, credits_reserved," \
	" credits_charged, created_at, token_hash, COALESCE(max_active_batches, -1)," \
	" COALESCE(max_queued_images, -1), COALESCE(max_upload_bytes, -1) FROM accounts"
	[Q_ACCOUNT_BY_TOKEN] = ACCOUNT_COLS " WHERE token_hash = ?1",
	[Q_ACCOUNT_BY_ID] = ACCOUNT_COLS " WHERE id = ?1",
	[Q_ADMIN_GET] = ACCOUNT_COLS " WHERE is_admin = 1 ORDER BY created_at LIMIT 1",
	[Q_ACCOUNT_INSERT] =
		"INSERT INTO accounts (id, name, token_hash, is_admin, created_at, token_set_at)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
	[Q_ACCOUNT_MOVE] =
		"UPDATE accounts SET credits_available = credits_available + ?2,"
		" credits_reserved = credits_reserved + ?3, credits_charged = credits_charged + ?4"
		" WHERE id = ?1",
	[Q_LEDGER_INSERT] =
		"INSERT INTO ledger (account_id, kind, amount, batch_id, image_id, at)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[Q_LEDGER_CHECK] =
		"SELECT count(*) FROM (SELECT a.id,"
		" a.credits_available AS av, a.credits_reserved AS rs, a.credits_charged AS ch,"
		" COALESCE(SUM(CASE l.kind WHEN 'grant' THEN l.amount WHEN 'reserve' THEN -l.amount"
		"   WHEN 'release' THEN l.amount ELSE 0 END), 0) AS lav,"
		" COALESCE(SUM(CASE l.kind WHEN 'reserve' THEN l.amount WHEN 'charge' THEN -l.amount"
		"   WHEN 'release' THEN -l.amount ELSE 0 END), 0) AS lrs,"
		" COALESCE(SUM(CASE l.kind WHEN 'charge' THEN l.amount ELSE 0 END), 0) AS lch"
		" FROM accounts a LEFT JOIN ledger l ON l.account_id = a.id GROUP BY a.id)"
		" WHERE av != lav OR rs != lrs OR ch != lch OR av < 0 OR rs < 0",
	/* batches */
#define ROW_FIELDS "r.prompt, r.visibility, r.aspect_ratio, r.magic_prompt, r.model, r.seed," \
	" r.rendering, r.negative_prompt, r.style, r.color_palette, r.num_images"
#define BATCH_COLS "SELECT b.seq, b.id, b.account_id, b.name, b.state, b.format, b.engine," \
	" b.nrows, b.images_total, b.images_done, b.images_failed, b.cost_per_image," \
	" b.credits_reserved, b.credits_charged, b.created_at, b.started_at, b.finished_at," \
	" b.run_started_at, b.run_done_base, b.warnings, b.webhook_url, b.error," \
	" (SELECT count(*) FROM images i WHERE i.batch_seq = b.seq AND i.state = 'running')," \
	" b.credits_required FROM batches b"
	[Q_BATCH_BY_ID] = BATCH_COLS " WHERE b.id = ?1 AND b.account_id = ?2",
	[Q_BATCH_BY_ID_ANY] = BATCH_COLS " WHERE b.id = ?1",
	[Q_BATCH_BY_SEQ] = BATCH_COLS " WHERE b.seq = ?1",
	[Q_BATCH_BY_KEY] = "SELECT id FROM batches WHERE account_id = ?1 AND idempotency_key = ?2",
	[Q_BATCH_LIST] = BATCH_COLS " WHERE b.account_id = ?1 AND (?2 IS NULL OR b.state = ?2)"
		" AND b.seq < ?3 ORDER BY b.seq DESC LIMIT ?4",
	[Q_BATCH_INSERT] =
		"INSERT INTO batches (id, account_id, name, format, engine, nrows, images_total,"
		" cost_per_image, warnings, idempotency_key, created_at, state)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'draft')",
	[Q_BATCH_REPLACE] =
		"UPDATE batches SET name = ?2, format = ?3, nrows = ?4, images_total = ?5,"
		" warnings = ?6, cost_per_image = ?7, engine = ?8 WHERE seq = ?1",
	[Q_BATCH_PREVIEW] = "SELECT r.row, " ROW_FIELDS " FROM batch_rows r"
		" WHERE r.batch_seq = ?1 ORDER BY r.row LIMIT 1",
	[Q_ROW_INSERT] =
		"INSERT INTO batch_rows (batch_seq, row, prompt, visibility, aspect_ratio,"
		" magic_prompt, model, seed, rendering, negative_prompt, style, color_palette,"
		" num_images, cost) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
	[Q_IMAGE_INSERT] =
		"INSERT INTO images (id, batch_seq, row, idx, state) VALUES (?1, ?2, ?3, ?4, 'pending')",
	[Q_ROWS_DELETE] = "DELETE FROM batch_rows WHERE batch_seq = ?1",
	[Q_IMAGES_DELETE] = "DELETE FROM images WHERE batch_seq = ?1",
	[Q_BATCH_DELETE] = "DELETE FROM batches WHERE seq = ?1",
	[Q_BATCH_SET_STATE] =
		"UPDATE batches SET state = ?2, finished_at = CASE WHEN ?2 IN ('completed', 'failed')"
		" THEN ?3 ELSE NULL END WHERE seq = ?1",
	[Q_BATCH_START] =
		"UPDATE batches SET state = 'queued', webhook_url = COALESCE(?2, webhook_url),"
		" run_started_at = ?3, run_done_base = images_done + images_failed, finished_at = NULL,"
		" error = NULL"
		" WHERE seq = ?1",
	[Q_BATCH_RESERVE] = "UPDATE batches SET credits_reserved = credits_reserved + ?2 WHERE seq = ?1",
	[Q_BATCH_COUNT_STATE] = "SELECT count(*) FROM images WHERE batch_seq = ?1 AND state = ?2",
	[Q_BATCH_HAS_STATE] =
		"SELECT EXISTS (SELECT 1 FROM images WHERE batch_seq = ?1 AND state = ?2)",
	[Q_BATCH_FAIL] =
		"UPDATE batches SET state = 'failed', error = ?2, finished_at = ?3 WHERE seq = ?1",
	[Q_BATCH_STATE_OF] = "SELECT state FROM batches WHERE seq = ?1",
	/* rows and images */
#define IMAGE_COLS "SELECT i.seq, i.id, b.id, b.account_id, i.batch_seq, i.row, i.idx, i.state," \
	" i.attempts, i.error, i.seed, i.width, i.height, i.bytes, i.crc32, i.mime, i.ext," \
	" i.ignored, i.created_at, b.engine, " ROW_FIELDS \
	" FROM images i JOIN batches b ON b.seq = i.batch_seq" \
	" JOIN batch_rows r ON r.batch_seq = i.batch_seq AND r.row = i.row"
	[Q_ROWS_PAGE] = "SELECT r.row, " ROW_FIELDS ", r.cost FROM batch_rows r"
		" WHERE r.batch_seq = ?1 AND r.row > ?2 ORDER BY r.row LIMIT ?3",
	[Q_ROW_IMAGES] = IMAGE_COLS " WHERE i.batch_seq = ?1 AND i.row = ?2 ORDER BY i.idx",
	[Q_IMAGES_OF_BATCH] = IMAGE_COLS " WHERE i.batch_seq = ?1 ORDER BY i.row, i.idx",
	[Q_IMAGE_BY_ID] = IMAGE_COLS " WHERE i.id = ?1 AND b.account_id = ?2",
	[Q_IMAGE_BY_ID_ANY] = IMAGE_COLS " WHERE i.id = ?1",
	/*
	 * Newest first, from the cursor down (?2: INT64_MAX for the first page):
	 * images is the outer loop (CROSS JOIN), walked by seq from ?2 and
	 * stopped after ?3, rather than every image of the account's batches
	 * gathered and sorted (seconds with a million images).
	 */
#define IMAGE_COLS_BY_SEQ "SELECT i.seq, i.id, b.id, b.account_id, i.batch_seq, i.row, i.idx," \
	" i.state, i.attempts, i.error, i.seed, i.width, i.height, i.bytes, i.crc32, i.mime, i.ext," \
	" i.ignored, i.created_at, b.engine, " ROW_FIELDS \
	" FROM images i CROSS JOIN batches b ON b.seq = i.batch_seq" \
	" CROSS JOIN batch_rows r ON r.batch_seq = i.batch_seq AND r.row = i.row"
	[Q_IMAGES_LIST] = IMAGE_COLS_BY_SEQ " WHERE i.seq < ?2 AND i.state = 'done'"
		" AND b.account_id = ?1 ORDER BY i.seq DESC LIMIT ?3",
	[Q_IMAGES_PUBLIC] = IMAGE_COLS_BY_SEQ " WHERE i.seq < ?2 AND i.state = 'done'"
		" AND r.visibility = 'public' ORDER BY i.seq DESC LIMIT ?3",
	/* the scheduler */
	[Q_CLAIM_BATCH] =
		"SELECT b.seq, b.id FROM batches b WHERE b.state IN ('queued', 'running')"
		" AND b.seq > ?1 AND EXISTS (SELECT 1 FROM images i WHERE i.batch_seq = b.seq"
		" AND i.state = 'pending' AND i.not_before <= ?2) ORDER BY b.seq LIMIT 1",
	[Q_CLAIM_IMAGE] =
		"SELECT seq, id, row, idx, attempts FROM images WHERE batch_seq = ?1"
		" AND state = 'pending' AND not_before <= ?2 ORDER BY row, idx LIMIT 1",
	[Q_CLAIM_MARK] =
		"UPDATE images SET state = 'running', attempts = attempts + 1, staged = 0 WHERE seq = ?1",
	[Q_CLAIM_BATCH_RUN] =
		"UPDATE batches SET state = 'running', started_at = COALESCE(started_at, ?2)"
		" WHERE seq = ?1 AND state = 'queued'",
	[Q_ROW_FIELDS] = "SELECT " ROW_FIELDS " FROM batch_rows r WHERE r.batch_seq = ?1 AND r.row = ?2",
	[Q_IMAGE_STAGE] =
		"UPDATE images SET staged = 1, seed = ?2, width = ?3, height = ?4, bytes = ?5,"
		" crc32 = ?6, mime = ?7, ext = ?8, ignored = ?9 WHERE seq = ?1 AND state = 'running'",
	[Q_IMAGE_CTX] =
		"SELECT i.batch_seq, i.state, i.staged, r.cost, b.account_id, b.id, i.id,"
		" b.state FROM images i JOIN batches b ON b.seq = i.batch_seq"
		" JOIN batch_rows r ON r.batch_seq = i.batch_seq AND r.row = i.row WHERE i.seq = ?1",
	[Q_IMAGE_DONE] = "UPDATE images SET state = 'done', created_at = ?2, error = NULL WHERE seq = ?1",
	[Q_IMAGE_FAIL] = "UPDATE images SET state = 'failed', error = ?2, created_at = ?3 WHERE seq = ?1",
	[Q_IMAGE_PENDING] =
		"UPDATE images SET state = 'pending', attempts = MAX(attempts + ?2, 0),"
		" not_before = ?3, error = COALESCE(?4, error), staged = 0 WHERE seq = ?1",
	[Q_BATCH_IMAGE_DONE] =
		"UPDATE batches SET images_done = images_done + 1, credits_reserved = credits_reserved - ?2,"
		" credits_charged = credits_charged + ?2 WHERE seq = ?1",
	[Q_BATCH_IMAGE_FAIL] =
		"UPDATE batches SET images_failed = images_failed + 1,"
		" credits_reserved = credits_reserved - ?2 WHERE seq = ?1",
	[Q_RUNNING_IMAGES] =
		"SELECT i.seq, i.id, b.id, i.staged, i.ext, i.bytes FROM images i"
		" JOIN batches b ON b.seq = i.batch_seq WHERE i.state = 'running'",
	[Q_ACTIVE_BATCHES] = "SELECT seq FROM batches WHERE state IN ('queued', 'running', 'stopping')",
	/* operations: backups, meta (store_ops.c) */
	[Q_OPS_DONE_IMAGES] =
		"SELECT b.id, i.id, i.ext, i.bytes, i.crc32 FROM images i"
		" JOIN batches b ON b.seq = i.batch_seq WHERE i.state = 'done' ORDER BY i.seq",
	[Q_OPS_META_SET] =
		"INSERT INTO meta (key, value) VALUES (?1, ?2)"
		" ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	/* accounts made by the admin, costs per row, limits per account */
	[Q_ACCOUNT_BY_NAME] = ACCOUNT_COLS " WHERE name = ?1",
	[Q_ACCOUNT_LIST] = ACCOUNT_COLS " ORDER BY created_at, id",
	[Q_ACCOUNT_SET_TOKEN] = "UPDATE accounts SET token_hash = ?2, token_set_at = ?3 WHERE id = ?1",
	[Q_ACCOUNT_ACTIVE_BATCHES] =
		"SELECT count(*) FROM batches WHERE account_id = ?1 AND state IN ('queued', 'running')",
	[Q_ACCOUNT_QUEUED_IMAGES] =
		"SELECT count(*) FROM images i JOIN batches b ON b.seq = i.batch_seq"
		" WHERE b.account_id = ?1 AND b.state IN ('queued', 'running')"
		" AND i.state IN ('pending', 'running')",
	[Q_BATCH_PENDING_COST] =
		"SELECT count(*), COALESCE(SUM(r.cost), 0) FROM images i"
		" JOIN batch_rows r ON r.batch_seq = i.batch_seq AND r.row = i.row"
		" WHERE i.batch_seq = ?1 AND i.state = 'pending'",
	[Q_ACCOUNT_SET_LIMITS] =
		"UPDATE accounts SET max_active_batches = CASE WHEN ?2 = -2 THEN max_active_batches"
		"   WHEN ?2 < 0 THEN NULL ELSE ?2 END,"
		" max_queued_images = CASE WHEN ?3 = -2 THEN max_queued_images"
		"   WHEN ?3 < 0 THEN NULL ELSE ?3 END,"
		" max_upload_bytes = CASE WHEN ?4 = -2 THEN max_upload_bytes"
		"   WHEN ?4 < 0 THEN NULL ELSE ?4 END WHERE id = ?1",
	[Q_BATCH_SET_REQUIRED] =
		"UPDATE batches SET credits_required = (SELECT COALESCE(SUM(r.cost * r.num_images), 0)"
		" FROM batch_rows r WHERE r.batch_seq = ?1) WHERE seq = ?1",
	/* events, the webhook outbox, metrics */
	[Q_EVENT_INSERT] =
		"INSERT INTO events (account_id, batch_id, type, data, at)"
		" SELECT account_id, id, ?2, json_object('type', ?2, 'id', id, 'name', name,"
		" 'state', state, 'images_total', images_total, 'images_done', images_done,"
		" 'images_failed', images_failed, 'progress', CASE WHEN images_total > 0 THEN"
		" round(CAST(images_done + images_failed AS REAL) / images_total, 4) ELSE 0 END,"
		" 'credits_charged', credits_charged, 'error', error,"
		" 'at', strftime('%Y-%m-%dT%H:%M:%SZ', ?3 / 1000, 'unixepoch')), ?3"
		" FROM batches WHERE seq = ?1",
	[Q_OUTBOX_INSERT] =
		"INSERT INTO webhook_outbox (event_id, batch_id, type, url, body, next_at, created_at)"
		" SELECT e.id, e.batch_id, e.type, b.webhook_url, e.data, ?2, ?2 FROM events e"
		" JOIN batches b ON b.id = e.batch_id WHERE e.id = ?1 AND b.webhook_url IS NOT NULL"
		" AND e.type IN ('batch.completed', 'batch.stopped', 'batch.failed')",
	[Q_EVENTS_AFTER_ACCOUNT] =
		"SELECT id, type, data FROM events WHERE account_id = ?2 AND id > ?1 ORDER BY id LIMIT ?3",
	[Q_EVENTS_AFTER_ALL] = "SELECT id, type, data FROM events WHERE id > ?1 ORDER BY id LIMIT ?3",
	[Q_EVENTS_LAST] = "SELECT COALESCE(MAX(id), 0) FROM events",
	[Q_OUTBOX_DUE] =
		"SELECT seq, event_id, batch_id, type, url, body, attempts, created_at FROM webhook_outbox"
		" WHERE state = 'pending' AND next_at <= ?1 AND seq % ?3 = ?4 ORDER BY next_at, seq"
		" LIMIT ?2",
	[Q_OUTBOX_NEXT] =
		"SELECT MIN(next_at) FROM webhook_outbox WHERE state = 'pending' AND seq % ?3 = ?4",
	[Q_OUTBOX_SET] =
		"UPDATE webhook_outbox SET state = ?2, attempts = attempts + 1, last_status = ?3,"
		" last_error = ?4, next_at = ?5, delivered_at = CASE WHEN ?2 = 'delivered' THEN ?6"
		" ELSE delivered_at END WHERE seq = ?1",
	[Q_EVENTS_PRUNE] =
		"DELETE FROM events WHERE at < ?1 AND id NOT IN"
		" (SELECT event_id FROM webhook_outbox WHERE state = 'pending')",
	[Q_OUTBOX_PRUNE] = "DELETE FROM webhook_outbox WHERE state != 'pending' AND created_at < ?1",
	[Q_METRICS_BATCHES] =
		"SELECT state, count(*), COALESCE(SUM(images_done), 0), COALESCE(SUM(images_failed), 0)"
		" FROM batches GROUP BY state",
	[Q_METRICS_IMAGES] =
		"SELECT COALESCE(SUM(i.state = 'pending' AND b.state IN ('queued', 'running')), 0),"
		" COALESCE(SUM(i.state = 'running'), 0) FROM images i JOIN batches b ON b.seq = i.batch_seq"
		" WHERE i.state IN ('pending', 'running')",
	[Q_METRICS_CREDITS] = "SELECT COALESCE(SUM(credits_charged), 0) FROM accounts",
	[Q_METRICS_OUTBOX] = "SELECT count(*) FROM webhook_outbox WHERE state = 'pending'",
	/* several images of a row in one engine call */
	[Q_CLAIM_ROW_MORE] =
		"SELECT seq, id, idx, attempts FROM images WHERE batch_seq = ?1 AND row = ?2"
		" AND state = 'pending' AND not_before <= ?3 AND EXISTS (SELECT 1 FROM batches b"
		" WHERE b.seq = ?1 AND b.state IN ('queued', 'running')) ORDER BY idx LIMIT ?4",
	/* a read-only transaction: no writer mutex, no write lock */
	[Q_BEGIN_READ] = "BEGIN DEFERRED",
	/* a batch paused by a full disk */
	[Q_BATCH_SET_ERROR] = "UPDATE batches SET error = ?2 WHERE seq = ?1",
};

struct store_pool {
	pthread_mutex_t wlock;   /* one writer at a time (see the design note) */
	void (*notify)(void *cls, unsigned what); /* after a commit that wrote events */
	void *notify_cls;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *path;
	unsigned max, opened, nidle;
	struct store **idle;
};

/*
 * SQLite's process-wide settings, made once before its first connection:
 * no memory statistics (kiln reads none), so that SQLite's every allocation
 * does not take a global mutex — which the HTTP threads and the workers
 * would otherwise contend for on every statement.
 */
static void sqlite_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int store_open(const char *path, struct store **out, char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct store *st;
	char *msg = NULL;
	int rc;

	pthread_once(&once, sqlite_setup);
	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = sqlite3_open_v2(path, &st->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", path,
			 st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		sqlite3_close(st->db);
		free(st);
		return -1;
	}
	sqlite3_busy_timeout(st->db, 10000);
	rc = sqlite3_exec(st->db,
			  "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
			  " PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;"
			  " PRAGMA cache_size = " STORE_CACHE_KIB ";",
			  NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot set up %s: %s", path, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		sqlite3_close(st->db);
		free(st);
		return -1;
	}
	*out = st;
	return 0;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	free(st);
}

sqlite3_stmt *store_q(struct store *st, enum store_q id)
{
	if (!st->stmt[id]) {
		int rc = sqlite3_prepare_v3(st->db, store_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					    &st->stmt[id], NULL);

		if (rc != SQLITE_OK) {
			log_error("store: cannot prepare statement %d: %s", (int)id,
				  sqlite3_errmsg(st->db));
			return NULL;
		}
	}
	return st->stmt[id];
}

void store_done(sqlite3_stmt *s)
{
	if (s) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	}
}

int store_fail(struct store *st, const char *what)
{
	int code = sqlite3_errcode(st->db);

	if (code == SQLITE_FULL || util_errno_full(sqlite3_system_errno(st->db)))
		st->full = 1;
	log_error("store: %s: %s", what, sqlite3_errmsg(st->db));
	return STORE_ERROR;
}

int store_disk_full(const struct store *st)
{
	return st && st->full;
}

int store_exec(struct store *st, enum store_q id)
{
	sqlite3_stmt *s = store_q(st, id);
	int rc;

	if (!s)
		return STORE_ERROR;
	rc = sqlite3_step(s);
	store_done(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, store_sql[id]);
	return STORE_OK;
}

/* Releases the writer mutex when this connection holds it. */
static void unlock_writer(struct store *st)
{
	if (st->locked) {
		st->locked = 0;
		pthread_mutex_unlock(st->wlock);
	}
}

int store_begin(struct store *st)
{
	assert(!st->locked);
	st->full = 0;
	if (st->wlock) {
		pthread_mutex_lock(st->wlock);
		st->locked = 1;
	}
	if (store_exec(st, Q_BEGIN) != STORE_OK) {
		unlock_writer(st);
		return STORE_ERROR;
	}
	return STORE_OK;
}

int store_commit(struct store *st)
{
	unsigned what = st->notify;

	st->notify = 0;
	if (store_exec(st, Q_COMMIT) != STORE_OK) {
		store_rollback(st);
		return STORE_ERROR;
	}
	unlock_writer(st);
	if (what && st->pool && st->pool->notify)
		st->pool->notify(st->pool->notify_cls, what);
	return STORE_OK;
}

void store_rollback(struct store *st)
{
	st->notify = 0;
	if (!sqlite3_get_autocommit(st->db))
		store_exec(st, Q_ROLLBACK);
	unlock_writer(st);
}

int store_read_begin(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		return STORE_ERROR;
	return store_exec(st, Q_BEGIN_READ);
}

void store_read_end(struct store *st)
{
	/* a read transaction wrote nothing: its end cannot fail in a way worth keeping it */
	if (!sqlite3_get_autocommit(st->db) && store_exec(st, Q_COMMIT) != STORE_OK)
		store_rollback(st);
}

int store_step_done(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc;

	if (!s)
		return STORE_ERROR;
	rc = sqlite3_step(s);
	store_done(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, what);
	return STORE_OK;
}

void store_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

const char *store_col_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

void store_col_copy(sqlite3_stmt *s, int i, char *dst, size_t len)
{
	const char *v = store_col_text(s, i);
	size_t n = v ? (size_t)sqlite3_column_bytes(s, i) : 0;

	/* as snprintf("%s") would, without its cost: cut to len - 1 bytes */
	if (len == 0)
		return;
	if (n >= len)
		n = len - 1;
	if (n)
		memcpy(dst, v, n);
	dst[n] = '\0';
}

char *store_col_dup(sqlite3_stmt *s, int i)
{
	const char *v = store_col_text(s, i);

	return v ? strdup(v) : NULL;
}

/* ---- migrations ----------------------------------------------------------- */

/*
 * The kilnd version a newer data dir names in its meta table (0004), into
 * buf; "" when it has none.  Ad hoc SQL: the table may not exist.
 */
static void meta_version(struct store *st, char *buf, size_t len)
{
	sqlite3_stmt *s = NULL;

	buf[0] = '\0';
	if (sqlite3_prepare_v2(st->db, "SELECT value FROM meta WHERE key = 'kilnd_version'",
			       -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		store_col_copy(s, 0, buf, len);
	sqlite3_finalize(s);
}

int store_migrate(struct store *st, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL, *seen = NULL;
	char *msg = NULL;
	int have = 0, latest = 0, rc;

	for (unsigned i = 0; i < store_migrations_count; i++) {
		if (store_migrations[i].version > latest)
			latest = store_migrations[i].version;
	}
	rc = sqlite3_exec(st->db,
			  "CREATE TABLE IF NOT EXISTS schema_migrations ("
			  " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);"
			  " BEGIN IMMEDIATE;", NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		goto fail;
	rc = sqlite3_prepare_v2(st->db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
				-1, &s, NULL);
	if (rc != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW)
		goto fail;
	have = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	s = NULL;
	if (have > latest) {
		char version[64], by[96] = "a newer kilnd";

		meta_version(st, version, sizeof(version));
		if (version[0])
			snprintf(by, sizeof(by), "kilnd %s", version);
		snprintf(err, errlen, "the data dir was written by %s (schema version %d; this kilnd"
			 " knows up to %d): migrations only go forward, so run that kilnd or a newer"
			 " one, or restore a backup made by this version", by, have, latest);
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	/* each migration not recorded yet, in order (numbers may have gaps) */
	rc = sqlite3_prepare_v2(st->db, "SELECT 1 FROM schema_migrations WHERE version = ?1",
				-1, &seen, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	rc = sqlite3_prepare_v2(st->db,
				"INSERT INTO schema_migrations (version, name, applied_at)"
				" VALUES (?1, ?2, ?3)",
				-1, &s, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	for (unsigned i = 0; i < store_migrations_count; i++) {
		const struct store_migration *m = &store_migrations[i];

		sqlite3_bind_int(seen, 1, m->version);
		rc = sqlite3_step(seen);
		sqlite3_reset(seen);
		if (rc == SQLITE_ROW)
			continue;
		if (rc != SQLITE_DONE)
			goto fail;
		rc = sqlite3_exec(st->db, m->sql, NULL, NULL, &msg);
		if (rc != SQLITE_OK)
			goto fail;
		sqlite3_bind_int(s, 1, m->version);
		sqlite3_bind_text(s, 2, m->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, util_now_ms());
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		if (rc != SQLITE_DONE)
			goto fail;
		log_info("store: applied migration %s", m->name);
	}
	sqlite3_finalize(s);
	sqlite3_finalize(seen);
	s = seen = NULL;
	rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "migration failed (nothing was changed): %s",
		 msg ? msg : sqlite3_errmsg(st->db));
	sqlite3_free(msg);
	sqlite3_finalize(s);
	sqlite3_finalize(seen);
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int store_integrity_check(struct store *st)
{
	sqlite3_stmt *s = NULL;
	int ok = 0;

	if (sqlite3_prepare_v2(st->db, "PRAGMA integrity_check", -1, &s, NULL) != SQLITE_OK)
		return store_fail(st, "integrity_check");
	if (sqlite3_step(s) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(s, 0);

		ok = v && strcmp(v, "ok") == 0;
	}
	sqlite3_finalize(s);
	return ok ? STORE_OK : STORE_CONFLICT;
}

/* ---- the pool ------------------------------------------------------------- */

struct store_pool *store_pool_new(const char *path, unsigned max)
{
	struct store_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->path = strdup(path);
	p->idle = calloc(max ? max : 1, sizeof(*p->idle));
	if (!p->path || !p->idle) {
		free(p->path);
		free(p->idle);
		free(p);
		return NULL;
	}
	p->max = max ? max : 1;
	pthread_mutex_init(&p->wlock, NULL);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	return p;
}

struct store *store_pool_get(struct store_pool *p)
{
	struct store *st = NULL;
	char err[256];

	pthread_mutex_lock(&p->mu);
	while (p->nidle == 0 && p->opened >= p->max)
		pthread_cond_wait(&p->cv, &p->mu);
	if (p->nidle > 0) {
		st = p->idle[--p->nidle];
		pthread_mutex_unlock(&p->mu);
		return st;
	}
	p->opened++;
	pthread_mutex_unlock(&p->mu);
	if (store_open(p->path, &st, err, sizeof(err)) < 0) {
		log_error("store: %s", err);
		pthread_mutex_lock(&p->mu);
		p->opened--;
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
		return NULL;
	}
	st->wlock = &p->wlock;
	st->pool = p;
	return st;
}

void store_pool_set_notify(struct store_pool *p, void (*fn)(void *cls, unsigned what), void *cls)
{
	pthread_mutex_lock(&p->wlock);
	p->notify = fn;
	p->notify_cls = cls;
	pthread_mutex_unlock(&p->wlock);
}

void store_pool_put(struct store_pool *p, struct store *st)
{
	if (!st)
		return;
	store_rollback(st);
	pthread_mutex_lock(&p->mu);
	p->idle[p->nidle++] = st;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void store_pool_free(struct store_pool *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->nidle; i++)
		store_close(p->idle[i]);
	pthread_mutex_destroy(&p->wlock);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->idle);
	free(p->path);
	free(p);
}

/* ---- accounts and credits ------------------------------------------------- */

/* Reads the ACCOUNT_COLS of the current row of s. */
static void account_from_row(sqlite3_stmt *s, struct store_account *out)
{
	memset(out, 0, sizeof(*out));
	store_col_copy(s, 0, out->id, sizeof(out->id));
	store_col_copy(s, 1, out->name, sizeof(out->name));
	out->is_admin = sqlite3_column_int(s, 2);
	out->available = sqlite3_column_int64(s, 3);
	out->reserved = sqlite3_column_int64(s, 4);
	out->charged = sqlite3_column_int64(s, 5);
	out->created_at = sqlite3_column_int64(s, 6);
	out->max_active_batches = sqlite3_column_int64(s, 8);
	out->max_queued_images = sqlite3_column_int64(s, 9);
	out->max_upload_bytes = sqlite3_column_int64(s, 10);
}

/*
 * Steps s (bound by the caller) for one account.  With hash, the row's
 * token_hash must also equal it, compared in constant time.
 */
static int account_row_hash(struct store *st, sqlite3_stmt *s, struct store_account *out,
			    const char *hash)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW) {
		const char *stored = store_col_text(s, 7);

		account_from_row(s, out);
		if (hash && (!stored || strlen(stored) != strlen(hash) ||
			     CRYPTO_memcmp(stored, hash, strlen(hash)) != 0)) {
			store_done(s);
			return STORE_NOT_FOUND;
		}
		store_done(s);
		return STORE_OK;
	}
	store_done(s);
	if (rc == SQLITE_DONE)
		return STORE_NOT_FOUND;
	return store_fail(st, "account");
}

static int account_row(struct store *st, sqlite3_stmt *s, struct store_account *out)
{
	return account_row_hash(st, s, out, NULL);
}

int store_account_by_token(struct store *st, const char *hash, struct store_account *out)
{
	sqlite3_stmt *s = store_q(st, Q_ACCOUNT_BY_TOKEN);

	if (!s)
		return STORE_ERROR;
	store_bind_text(s, 1, hash);
	return account_row_hash(st, s, out, hash);
}

int store_account_get(struct store *st, const char *id, struct store_account *out)
{
	sqlite3_stmt *s = store_q(st, Q_ACCOUNT_BY_ID);

	if (!s)
		return STORE_ERROR;
	store_bind_text(s, 1, id);
	return account_row(st, s, out);
}

int store_credit_move(struct store *st, const char *account_id, enum store_credit kind,
		      int64_t amount, const char *batch_id, const char *image_id, int64_t now)
{
	static const char *const names[] = { "grant", "reserve", "charge", "release" };
	int64_t av = 0, rs = 0, ch = 0;
	sqlite3_stmt *s;

	if (amount == 0)
		return STORE_OK;
	switch (kind) {
	case STORE_GRANT: av = amount; break;
	case STORE_RESERVE: av = -amount; rs = amount; break;
	case STORE_CHARGE: rs = -amount; ch = amount; break;
	case STORE_RELEASE: rs = -amount; av = amount; break;
	}
	s = store_q(st, Q_ACCOUNT_MOVE);
	if (!s)
		return STORE_ERROR;
	store_bind_text(s, 1, account_id);
	sqlite3_bind_int64(s, 2, av);
	sqlite3_bind_int64(s, 3, rs);
	sqlite3_bind_int64(s, 4, ch);
	if (store_step_done(st, s, "credit move") != STORE_OK)
		return STORE_ERROR;
	s = store_q(st, Q_LEDGER_INSERT);
	if (!s)
		return STORE_ERROR;
	store_bind_text(s, 1, account_id);
	sqlite3_bind_text(s, 2, names[kind], -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, amount);
	store_bind_text(s, 4, batch_id);
	store_bind_text(s, 5, image_id);
	sqlite3_bind_int64(s, 6, now);
	return store_step_done(st, s, "ledger insert");
}

/*
 * Inside a transaction: inserts an account with a new id and its first
 * grant, and reads it back into *out.
 */
static int account_insert(struct store *st, const char *name, const char *token_hash,
			  int is_admin, int64_t credits, int64_t now, struct store_account *out)
{
	sqlite3_stmt *s;
	char id[33];

	if (util_random_hex(id, 12) < 0)
		return STORE_ERROR;
	s = store_q(st, Q_ACCOUNT_INSERT);
	if (!s)
		return STORE_ERROR;
	store_bind_text(s, 1, id);
	store_bind_text(s, 2, name);
	store_bind_text(s, 3, token_hash);
	sqlite3_bind_int(s, 4, is_admin);
	sqlite3_bind_int64(s, 5, now);
	if (store_step_done(st, s, "account insert") != STORE_OK)
		return STORE_ERROR;
	if (store_credit_move(st, id, STORE_GRANT, credits, NULL, NULL, now) != STORE_OK)
		return STORE_ERROR;
	return store_account_get(st, id, out) == STORE_OK ? STORE_OK : STORE_ERROR;
}

int store_admin_ensure(struct store *st, const char *token_hash, int64_t credits,
		       struct store_account *out, int *created)
{
	sqlite3_stmt *s;
	int rc;

	*created = 0;
	if (store_begin(st) != STORE_OK)
		return STORE_ERROR;
	s = store_q(st, Q_ADMIN_GET);
	if (!s)
		goto fail;
	rc = account_row(st, s, out);
	if (rc == STORE_OK)
		return store_commit(st);
	if (rc != STORE_NOT_FOUND ||
	    account_insert(st, "admin", token_hash, 1, credits, util_now_ms(), out) != STORE_OK)
		goto fail;
	*created = 1;
	return store_commit(st);
fail:
	store_rollback(st);
	return STORE_ERROR;
}

int store_ledger_check(struct store *st)
{
	sqlite3_stmt *s = store_q(st, Q_LEDGER_CHECK);
	int bad;

	if (!s)
		return STORE_ERROR;
	if (sqlite3_step(s) != SQLITE_ROW) {
		store_done(s);
		return store_fail(st, "ledger check");
	}
	bad = sqlite3_column_int(s, 0);
	store_done(s);
	return bad == 0 ? STORE_OK : STORE_CONFLICT;
}

int store_account_create(struct store *st, const char *name, const char *token_hash,
			 int64_t credits, int64_t now, struct store_account *out)
{
	struct store_account other;
	sqlite3_stmt *s;
	int rc;

	if (store_begin(st) != STORE_OK)
		return STORE_ERROR;
	s = store_q(st, Q_ACCOUNT_BY_NAME);
	if (!s)
		goto fail;
	store_bind_text(s, 1, name);
	rc = account_row(st, s, &other);
	if (rc == STORE_OK) {
		store_rollback(st);
		return STORE_EXISTS;
	}
	if (rc != STORE_NOT_FOUND || account_insert(st, name, token_hash, 0, credits, now, out) != STORE_OK)
		goto fail;
	return store_commit(st);
fail:
	store_rollback(st);
	return STORE_ERROR;
}

int store_account_find(struct store *st, const char *id_or_name, struct store_account *out)
{
	sqlite3_stmt *s;
	int rc = store_account_get(st, id_or_name, out);

	if (rc != STORE_NOT_FOUND)
		return rc;
	s = store_q(st, Q_ACCOUNT_BY_NAME);
	if (!s)
		return STORE_ERROR;
	store_bind_text(s, 1, id_or_name);
	return account_row(st, s, out);
}

int store_account_list(struct store *st, int (*cb)(void *cls, const struct store_account *a),
		       void *cls)
{
	sqlite3_stmt *s = store_q(st, Q_ACCOUNT_LIST);
	struct store_account a;
	int rc, ret = STORE_OK;

	if (!s)
		return STORE_ERROR;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		account_from_row(s, &a);
		if (cb(cls, &a) != 0) {
			ret = STORE_ERROR;
			break;
		}
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = store_fail(st, "account list");
	store_done(s);
	return ret;
}

int store_account_credit(struct store *st, const char *id, int64_t delta, int64_t now,
			 struct store_account *out)
{
	int rc;

	if (store_begin(st) != STORE_OK)
		return STORE_ERROR;
	rc = store_account_get(st, id, out);
	if (rc != STORE_OK) {
		store_rollback(st);
		return rc;
	}
	if (out->available + delta < 0) {
		store_rollback(st);
		return STORE_NO_CREDITS;
	}
	/* a negative grant is a grant line with a negative amount */
	if (store_credit_move(st, id, STORE_GRANT, delta, NULL, NULL, now) != STORE_OK ||
	    store_account_get(st, id, out) != STORE_OK) {
		store_rollback(st);
		return STORE_ERROR;
	}
	return store_commit(st);
}

/*
 * Begins the update of an account: NULL with *rc set when it cannot (the
 * transaction undone), else the statement q with ?1 bound to the id.
 */
static sqlite3_stmt *account_update_begin(struct store *st, const char *id, enum store_q q,
					  struct store_account *out, int *rc)
{
	sqlite3_stmt *s;

	*rc = STORE_ERROR;
	if (store_begin(st) != STORE_OK)
		return NULL;
	*rc = store_account_get(st, id, out);
	s = *rc == STORE_OK ? store_q(st, q) : NULL;
	if (!s) {
		if (*rc == STORE_OK)
			*rc = STORE_ERROR;
		store_rollback(st);
		return NULL;
	}
	store_bind_text(s, 1, id);
	return s;
}

/* Runs the update begun by account_update_begin(), reads the account again, commits. */
static int account_update_end(struct store *st, sqlite3_stmt *s, const char *id,
			      struct store_account *out)
{
	if (store_step_done(st, s, "account update") != STORE_OK ||
	    store_account_get(st, id, out) != STORE_OK) {
		store_rollback(st);
		return STORE_ERROR;
	}
	return store_commit(st);
}

int store_account_set_token(struct store *st, const char *id, const char *token_hash,
			    int64_t now, struct store_account *out)
{
	int rc;
	sqlite3_stmt *s = account_update_begin(st, id, Q_ACCOUNT_SET_TOKEN, out, &rc);

	if (!s)
		return rc;
	store_bind_text(s, 2, token_hash);
	sqlite3_bind_int64(s, 3, now);
	return account_update_end(st, s, id, out);
}

int store_account_set_limits(struct store *st, const char *id, int64_t max_active_batches,
			     int64_t max_queued_images, int64_t max_upload_bytes,
			     struct store_account *out)
{
	int rc;
	sqlite3_stmt *s = account_update_begin(st, id, Q_ACCOUNT_SET_LIMITS, out, &rc);

	if (!s)
		return rc;
	sqlite3_bind_int64(s, 2, max_active_batches);
	sqlite3_bind_int64(s, 3, max_queued_images);
	sqlite3_bind_int64(s, 4, max_upload_bytes);
	return account_update_end(st, s, id, out);
}
