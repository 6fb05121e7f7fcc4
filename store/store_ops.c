/*
 * store_ops.c — what operations need from the store: the WAL checkpoint at
 * shutdown, the online backup, the list of image files a backup carries,
 * and the meta table.
 *
 * DESIGN
 * A backup is sqlite3_backup_step(-1): every page copied under one read
 * transaction, so the copy is a single snapshot of the database whatever
 * kilnd writes meanwhile (in WAL mode readers do not block writers, so a
 * running kilnd is not held up).  The copy keeps WAL mode in its header;
 * it is closed before it is read, so it holds no -wal file.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"
#include "store/store.h"
#include "store/store_int.h"

int store_checkpoint(struct store *st, int *frames)
{
	int nlog = 0, nckpt = 0;
	int rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &nlog, &nckpt);

	if (frames)
		*frames = nckpt;
	if (rc != SQLITE_OK)
		return store_fail(st, "wal checkpoint");
	return STORE_OK;
}

int store_backup(struct store *st, const char *dest_path, char *err, size_t errlen)
{
	sqlite3 *dest = NULL;
	sqlite3_backup *b;
	int rc;

	unlink(dest_path);
	rc = sqlite3_open_v2(dest_path, &dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot create %s: %s", dest_path,
			 dest ? sqlite3_errmsg(dest) : sqlite3_errstr(rc));
		sqlite3_close(dest);
		return -1;
	}
	b = sqlite3_backup_init(dest, "main", st->db, "main");
	if (!b) {
		snprintf(err, errlen, "cannot start the backup: %s", sqlite3_errmsg(dest));
		sqlite3_close(dest);
		unlink(dest_path);
		return -1;
	}
	/* -1: all pages in one step, under one read transaction of the source */
	rc = sqlite3_backup_step(b, -1);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "the backup failed: %s", sqlite3_errstr(rc));
		sqlite3_close(dest);
		unlink(dest_path);
		return -1;
	}
	rc = sqlite3_close(dest);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot close %s: %s", dest_path, sqlite3_errstr(rc));
		unlink(dest_path);
		return -1;
	}
	return 0;
}

int store_done_images(struct store *st, int (*cb)(void *cls, const struct store_image_file *f),
		      void *cls)
{
	sqlite3_stmt *s = store_q(st, Q_OPS_DONE_IMAGES);
	int rc, stop = 0;

	if (!s)
		return STORE_ERROR;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_image_file f;

		f.batch_id = store_col_text(s, 0);
		f.image_id = store_col_text(s, 1);
		f.ext = store_col_text(s, 2);
		f.bytes = sqlite3_column_int64(s, 3);
		f.crc32 = (uint32_t)sqlite3_column_int64(s, 4);
		if (!f.batch_id || !f.image_id || !f.ext)
			continue;
		stop = cb(cls, &f);
		if (stop)
			break;
	}
	store_done(s);
	if (stop)
		return stop;
	if (rc != SQLITE_DONE)
		return store_fail(st, "listing the images");
	return STORE_OK;
}

int store_meta_set(struct store *st, const char *key, const char *value)
{
	sqlite3_stmt *s = store_q(st, Q_OPS_META_SET);

	if (!s)
		return STORE_ERROR;
	store_bind_text(s, 1, key);
	store_bind_text(s, 2, value);
	return store_step_done(st, s, "setting meta");
}
