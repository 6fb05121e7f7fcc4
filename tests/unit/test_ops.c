/*
 * test_ops.c — cmocka tests of what operations rely on outside the daemon's
 * process: config_diff() (what a SIGHUP changed, key by key, in table order),
 * and the store's backup, image list, meta and checkpoint on a real file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "daemon/config.h"
#include "store/store.h"

struct keys {
	char list[512];
};

static void add_key(void *cls, const char *key)
{
	struct keys *k = cls;
	size_t n = strlen(k->list);

	snprintf(k->list + n, sizeof(k->list) - n, "%s%s", n ? "," : "", key);
}

static void test_config_diff(void **state)
{
	struct config a, b;
	struct keys k = { "" };
	char err[256];

	(void)state;
	config_defaults(&a);
	config_defaults(&b);
	config_diff(&a, &b, add_key, &k);
	assert_string_equal(k.list, "");
	assert_int_equal(config_set(&b, "log_level", "debug", err, sizeof(err)), 0);
	assert_int_equal(config_set(&b, "workers", "9", err, sizeof(err)), 0);
	assert_int_equal(config_set(&b, "auth", "none", err, sizeof(err)), 0);
	assert_int_equal(config_set(&b, "max_upload_bytes", "2M", err, sizeof(err)), 0);
	assert_int_equal(config_set(&b, "builtin.call_log", "/tmp/x", err, sizeof(err)), 0);
	assert_int_equal(config_set(&b, "shutdown_timeout", "0", err, sizeof(err)), 0);
	config_diff(&a, &b, add_key, &k);
	assert_string_equal(k.list, "workers,auth,max_upload_bytes,log_level,builtin.call_log,"
			    "shutdown_timeout");
	/* the same value set again is no change */
	assert_int_equal(config_set(&a, "workers", "9", err, sizeof(err)), 0);
	k.list[0] = '\0';
	config_diff(&a, &b, add_key, &k);
	assert_null(strstr(k.list, "workers"));
}

static int count_images(void *cls, const struct store_image_file *f)
{
	(void)f;
	(*(int *)cls)++;
	return 0;
}

static void test_backup_meta_checkpoint(void **state)
{
	char dir[64], path[128], copy[128], err[256];
	struct store *st, *cp;
	sqlite3 *db;
	sqlite3_stmt *s;
	int frames = -1, n = 0;

	(void)state;
	strcpy(dir, "/tmp/kiln-test-ops-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/kiln.db", dir);
	snprintf(copy, sizeof(copy), "%s/copy.db", dir);
	assert_int_equal(store_open(path, &st, err, sizeof(err)), 0);
	assert_int_equal(store_migrate(st, err, sizeof(err)), 0);
	assert_int_equal(store_meta_set(st, "kilnd_version", "1.2.3"), STORE_OK);
	assert_int_equal(store_meta_set(st, "kilnd_version", "1.2.4"), STORE_OK);   /* upsert */
	assert_int_equal(store_backup(st, copy, err, sizeof(err)), 0);
	assert_int_equal(store_checkpoint(st, &frames), STORE_OK);
	assert_true(frames >= 0);
	/* the copy is a whole store: it opens, checks, migrates as nothing to do, has the meta */
	assert_int_equal(store_open(copy, &cp, err, sizeof(err)), 0);
	assert_int_equal(store_integrity_check(cp), STORE_OK);
	assert_int_equal(store_migrate(cp, err, sizeof(err)), 0);
	assert_int_equal(store_done_images(cp, count_images, &n), STORE_OK);
	assert_int_equal(n, 0);
	store_close(cp);
	assert_int_equal(sqlite3_open(copy, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'kilnd_version'",
					    -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "1.2.4");
	sqlite3_finalize(s);
	sqlite3_close(db);
	/* a backup to a place that cannot be written says so */
	assert_int_equal(store_backup(st, "/nonexistent-dir/x.db", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot"));
	store_close(st);
	unlink(copy);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_diff),
		cmocka_unit_test(test_backup_meta_checkpoint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
