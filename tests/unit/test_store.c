/*
 * test_store.c — cmocka tests of the store on a real SQLite file: migrations,
 * the admin account, batches through every state, fair claims, the credit
 * rules of store.h, and crash recovery.
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

#include "store/store.h"

struct fixture {
	char dir[64];
	char path[128];
	struct store *st;
	struct store_account admin;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];
	int created = 0;

	strcpy(f->dir, "/tmp/kiln-test-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/kiln.db", f->dir);
	assert_int_equal(store_open(f->path, &f->st, err, sizeof(err)), 0);
	assert_int_equal(store_migrate(f->st, err, sizeof(err)), 0);
	assert_int_equal(store_admin_ensure(f->st, "hash0", 1000, &f->admin, &created), STORE_OK);
	assert_true(created);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];

	store_close(f->st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* A sheet of n rows, each with k images. */
static struct sheet_batch make_sheet(unsigned n, int k)
{
	struct sheet_batch b;

	memset(&b, 0, sizeof(b));
	b.rows = calloc(n, sizeof(*b.rows));
	b.nrows = n;
	for (unsigned i = 0; i < n; i++) {
		struct sheet_fields *fl = &b.rows[i].f;

		b.rows[i].row = i + 2;
		fl->prompt = strdup("a prompt");
		strcpy(fl->visibility, "public");
		strcpy(fl->aspect_ratio, "1:1");
		strcpy(fl->magic_prompt, "on");
		strcpy(fl->model, "2.0");
		fl->seed = i == 0 ? 42 : -1;
		strcpy(fl->rendering, "default");
		fl->negative_prompt = strdup("");
		strcpy(fl->style, "auto");
		fl->num_images = k;
		b.images_total += (unsigned)k;
	}
	return b;
}

static void free_sheet(struct sheet_batch *b)
{
	for (size_t i = 0; i < b->nrows; i++)
		sheet_fields_free(&b->rows[i].f);
	free(b->rows);
}

/* Creates a draft of n rows × k images for the admin. */
static void create(struct fixture *f, unsigned n, int k, const char *key, struct store_batch *out,
		   int want)
{
	struct sheet_batch sb = make_sheet(n, k);
	struct store_upload up;

	memset(&up, 0, sizeof(up));
	up.account_id = f->admin.id;
	up.name = "test.csv";
	up.format = "csv";
	up.engine = "builtin";
	up.cost_per_image = 2;
	up.sheet = &sb;
	up.warnings = "[]";
	up.idempotency_key = key;
	assert_int_equal(store_batch_create(f->st, &up, out), want);
	free_sheet(&sb);
}

static void account(struct fixture *f, struct store_account *a)
{
	assert_int_equal(store_account_get(f->st, f->admin.id, a), STORE_OK);
	assert_int_equal(a->available + a->reserved + a->charged, 1000);
	assert_int_equal(store_ledger_check(f->st), STORE_OK);
}

/* Claims one image and makes it done (stage + done). */
static void make_one(struct fixture *f, struct store_job *job, char *state)
{
	struct store_result r = { 7, 16, 16, 100, 0xdeadbeef, "image/png", "png", "" };

	assert_int_equal(store_claim(f->st, 0, 0, job), STORE_OK);
	assert_int_equal(store_image_stage(f->st, job->image_seq, &r), STORE_OK);
	assert_int_equal(store_image_done(f->st, job->image_seq, 1, state), STORE_OK);
	sheet_fields_free(&job->f);
}

static void test_migrate_twice_and_refuse_newer(void **state)
{
	struct fixture *f = *state;
	char err[256];
	sqlite3 *db;

	assert_int_equal(store_migrate(f->st, err, sizeof(err)), 0);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO schema_migrations VALUES (9999, 'future', 0)",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_migrate(f->st, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "newer kilnd"));
	assert_int_equal(store_integrity_check(f->st), STORE_OK);
}

static void test_admin_once(void **state)
{
	struct fixture *f = *state;
	struct store_account a, t;
	int created = 1;

	assert_int_equal(store_admin_ensure(f->st, "other", 5, &a, &created), STORE_OK);
	assert_false(created);
	assert_string_equal(a.id, f->admin.id);
	assert_int_equal(a.available, 1000);
	assert_int_equal(store_account_by_token(f->st, "hash0", &t), STORE_OK);
	assert_true(t.is_admin);
	assert_int_equal(store_account_by_token(f->st, "other", &t), STORE_NOT_FOUND);
}

static void test_create_preview_idempotent(void **state)
{
	struct fixture *f = *state;
	struct store_batch a, b, c;

	create(f, 3, 4, "k1", &a, STORE_OK);
	assert_string_equal(a.state, "draft");
	assert_int_equal(a.rows, 3);
	assert_int_equal(a.images_total, 12);
	assert_int_equal(a.preview_row, 2);
	assert_int_equal(a.preview.seed, 42);
	assert_string_equal(a.preview.prompt, "a prompt");
	create(f, 5, 1, "k1", &b, STORE_EXISTS);
	assert_string_equal(a.id, b.id);
	assert_int_equal(b.images_total, 12);
	create(f, 5, 1, "k2", &c, STORE_OK);
	assert_string_not_equal(a.id, c.id);
	store_batch_free(&a);
	store_batch_free(&b);
	store_batch_free(&c);
}

static void test_start_reserves_and_done_charges(void **state)
{
	struct fixture *f = *state;
	struct store_batch b, s;
	struct store_account a;
	struct store_job job;
	int64_t req, av;
	char st[12];

	create(f, 2, 2, NULL, &b, STORE_OK);
	assert_int_equal(store_batch_start(f->st, f->admin.id, b.id, NULL, 1, NULL, &s, &req, &av), STORE_OK);
	assert_string_equal(s.state, "queued");
	assert_int_equal(s.credits_reserved, 8);
	account(f, &a);
	assert_int_equal(a.available, 992);
	assert_int_equal(a.reserved, 8);
	store_batch_free(&s);
	for (int i = 0; i < 4; i++) {
		make_one(f, &job, st);
		assert_string_equal(st, i < 3 ? "running" : "completed");
	}
	assert_int_equal(store_claim(f->st, 0, 0, &job), STORE_NONE);
	account(f, &a);
	assert_int_equal(a.charged, 8);
	assert_int_equal(a.reserved, 0);
	assert_int_equal(store_batch_get(f->st, f->admin.id, b.id, &s), STORE_OK);
	assert_int_equal(s.images_done, 4);
	assert_int_equal(s.credits_charged, 8);
	assert_int_equal(s.credits_reserved, 0);
	store_batch_free(&s);
	store_batch_free(&b);
}

static void test_not_enough_credits(void **state)
{
	struct fixture *f = *state;
	struct store_batch b, s;
	int64_t req = 0, av = 0;

	create(f, 200, 4, NULL, &b, STORE_OK);   /* 1600 credits */
	assert_int_equal(store_batch_start(f->st, f->admin.id, b.id, NULL, 1, NULL, &s, &req, &av),
			 STORE_NO_CREDITS);
	assert_int_equal(req, 1600);
	assert_int_equal(av, 1000);
	assert_string_equal(s.state, "draft");
	store_batch_free(&s);
	store_batch_free(&b);
}

static void test_claims_are_fair(void **state)
{
	struct fixture *f = *state;
	struct store_batch big, small, s;
	struct store_job job;
	int64_t req, av, after = 0;
	int got_small = 0;

	create(f, 50, 4, NULL, &big, STORE_OK);
	create(f, 1, 2, NULL, &small, STORE_OK);
	assert_int_equal(store_batch_start(f->st, f->admin.id, big.id, NULL, 1, NULL, &s, &req, &av),
			 STORE_OK);
	store_batch_free(&s);
	assert_int_equal(store_batch_start(f->st, f->admin.id, small.id, NULL, 1, NULL, &s, &req, &av),
			 STORE_OK);
	store_batch_free(&s);
	/* claims alternate: the small batch's two images come within four claims */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(store_claim(f->st, after, 0, &job), STORE_OK);
		after = job.batch_seq;
		got_small += strcmp(job.batch_id, small.id) == 0;
		sheet_fields_free(&job.f);
	}
	assert_int_equal(got_small, 2);
	store_batch_free(&big);
	store_batch_free(&small);
}

static void test_stop_releases_and_settles(void **state)
{
	struct fixture *f = *state;
	struct store_batch b, s;
	struct store_account a;
	struct store_job j1, j2;
	int64_t req, av;
	char st[12];

	create(f, 3, 2, NULL, &b, STORE_OK);   /* 6 images, 12 credits */
	assert_int_equal(store_batch_start(f->st, f->admin.id, b.id, NULL, 1, NULL, &s, &req, &av), STORE_OK);
	store_batch_free(&s);
	make_one(f, &j1, st);                            /* 1 done */
	assert_int_equal(store_claim(f->st, 0, 0, &j1), STORE_OK);   /* 1 running */
	assert_int_equal(store_claim(f->st, 0, 0, &j2), STORE_OK);   /* 2 running */
	assert_int_equal(store_batch_stop(f->st, f->admin.id, b.id, 2, &s), STORE_OK);
	assert_string_equal(s.state, "stopping");
	assert_int_equal(s.credits_reserved, 4);          /* the two in flight */
	store_batch_free(&s);
	account(f, &a);
	assert_int_equal(a.reserved, 4);
	assert_int_equal(a.charged, 2);
	sheet_fields_free(&j2.f);
	assert_int_equal(store_claim(f->st, 0, 0, &j2), STORE_NONE);
	/* one finishes, one is cancelled: then the batch is stopped with nothing reserved */
	{
		struct store_result r = { 1, 8, 8, 10, 1, "image/png", "png", NULL };

		assert_int_equal(store_image_stage(f->st, j1.image_seq, &r), STORE_OK);
		assert_int_equal(store_image_done(f->st, j1.image_seq, 3, st), STORE_OK);
		assert_string_equal(st, "stopping");
	}
	assert_int_equal(store_batch_get(f->st, f->admin.id, b.id, &s), STORE_OK);
	assert_int_equal(s.images_running, 1);
	store_batch_free(&s);
	sheet_fields_free(&j1.f);
	/* find the other running image: requeue it through recovery-free path */
	{
		sqlite3 *db;
		sqlite3_stmt *q;
		int64_t seq = 0;

		assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "SELECT seq FROM images WHERE state = 'running'",
						    -1, &q, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(q), SQLITE_ROW);
		seq = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
		sqlite3_close(db);
		assert_int_equal(store_image_requeue(f->st, seq, 4, st), STORE_OK);
		assert_string_equal(st, "stopped");
	}
	account(f, &a);
	assert_int_equal(a.reserved, 0);
	assert_int_equal(a.charged, 4);
	assert_int_equal(store_batch_resume(f->st, f->admin.id, b.id, 5, NULL, &s, &req, &av), STORE_OK);
	assert_string_equal(s.state, "queued");
	assert_int_equal(s.credits_reserved, 8);          /* the four left */
	store_batch_free(&s);
	account(f, &a);
	store_batch_free(&b);
}

static void test_fail_releases(void **state)
{
	struct fixture *f = *state;
	struct store_batch b, s;
	struct store_account a;
	struct store_job job;
	int64_t req, av;
	char st[12];

	create(f, 1, 1, NULL, &b, STORE_OK);
	assert_int_equal(store_batch_start(f->st, f->admin.id, b.id, NULL, 1, NULL, &s, &req, &av), STORE_OK);
	store_batch_free(&s);
	assert_int_equal(store_claim(f->st, 0, 0, &job), STORE_OK);
	assert_int_equal(store_image_retry(f->st, job.image_seq, 1000, "busy"), STORE_OK);
	sheet_fields_free(&job.f);
	assert_int_equal(store_claim(f->st, 0, 999, &job), STORE_NONE);   /* not due yet */
	assert_int_equal(store_claim(f->st, 0, 1000, &job), STORE_OK);
	assert_int_equal(job.attempts, 2);
	assert_int_equal(store_image_fail(f->st, job.image_seq, "no", 2, st), STORE_OK);
	assert_string_equal(st, "completed");
	sheet_fields_free(&job.f);
	account(f, &a);
	assert_int_equal(a.available, 1000);
	assert_int_equal(store_batch_get(f->st, f->admin.id, b.id, &s), STORE_OK);
	assert_int_equal(s.images_failed, 1);
	store_batch_free(&s);
	store_batch_free(&b);
}

static int file_ok_even(void *cls, const char *batch_id, const char *image_id, const char *ext,
			int64_t bytes)
{
	int *calls = cls;

	(void)batch_id;
	(void)image_id;
	(void)ext;
	assert_int_equal(bytes, 100);
	(*calls)++;
	return 1;
}

static void test_recover(void **state)
{
	struct fixture *f = *state;
	struct store_batch b, s;
	struct store_account a;
	struct store_job j1, j2;
	struct store_result r = { 7, 16, 16, 100, 1, "image/png", "png", NULL };
	unsigned adopted, requeued;
	int64_t req, av;
	int calls = 0;

	create(f, 1, 3, NULL, &b, STORE_OK);
	assert_int_equal(store_batch_start(f->st, f->admin.id, b.id, NULL, 1, NULL, &s, &req, &av), STORE_OK);
	store_batch_free(&s);
	assert_int_equal(store_claim(f->st, 0, 0, &j1), STORE_OK);
	assert_int_equal(store_claim(f->st, 0, 0, &j2), STORE_OK);
	assert_int_equal(store_image_stage(f->st, j1.image_seq, &r), STORE_OK);
	/* "crash": j1 staged with its file, j2 in the engine */
	assert_int_equal(store_recover(f->st, 5, file_ok_even, &calls, &adopted, &requeued), STORE_OK);
	assert_int_equal(adopted, 1);
	assert_int_equal(requeued, 1);
	assert_int_equal(calls, 1);
	assert_int_equal(store_batch_get(f->st, f->admin.id, b.id, &s), STORE_OK);
	assert_int_equal(s.images_done, 1);
	assert_int_equal(s.images_running, 0);
	assert_int_equal(s.credits_charged, 2);
	assert_int_equal(s.credits_reserved, 4);
	store_batch_free(&s);
	account(f, &a);
	sheet_fields_free(&j1.f);
	sheet_fields_free(&j2.f);
	store_batch_free(&b);
}

static void test_delete_only_when_idle(void **state)
{
	struct fixture *f = *state;
	struct store_batch b, s;
	int64_t req, av;

	create(f, 1, 1, NULL, &b, STORE_OK);
	assert_int_equal(store_batch_start(f->st, f->admin.id, b.id, NULL, 1, NULL, &s, &req, &av), STORE_OK);
	store_batch_free(&s);
	assert_int_equal(store_batch_delete(f->st, f->admin.id, b.id), STORE_CONFLICT);
	assert_int_equal(store_batch_stop(f->st, f->admin.id, b.id, 2, &s), STORE_OK);
	assert_string_equal(s.state, "stopped");
	store_batch_free(&s);
	assert_int_equal(store_batch_delete(f->st, f->admin.id, b.id), STORE_OK);
	assert_int_equal(store_batch_get(f->st, f->admin.id, b.id, &s), STORE_NOT_FOUND);
	assert_int_equal(store_batch_delete(f->st, f->admin.id, b.id), STORE_NOT_FOUND);
	assert_int_equal(store_batch_get(f->st, "someone-else", "x", &s), STORE_NOT_FOUND);
	store_batch_free(&b);
}

/* A full disk pauses a batch: stopped with its error, what is not begun released; resume clears it. */
static void test_pause_for_a_full_disk(void **state)
{
	struct fixture *f = *state;
	struct store_batch b, s;
	struct store_job j;
	struct store_account a;
	int64_t req, av;
	char st[12];

	create(f, 2, 2, NULL, &b, STORE_OK);
	/* a draft is left as it is */
	assert_int_equal(store_batch_pause(f->st, b.seq, "disk full: x", 1), STORE_OK);
	assert_int_equal(store_batch_get(f->st, f->admin.id, b.id, &s), STORE_OK);
	assert_string_equal(s.state, "draft");
	assert_null(s.error);
	store_batch_free(&s);
	assert_int_equal(store_batch_start(f->st, f->admin.id, b.id, NULL, 1, NULL, &s, &req, &av), STORE_OK);
	store_batch_free(&s);
	make_one(f, &j, st);                             /* 1 done */
	assert_int_equal(store_claim(f->st, 0, 0, &j), STORE_OK);    /* 1 running */
	assert_int_equal(store_batch_pause(f->st, b.seq, "disk full: free space", 2), STORE_OK);
	assert_int_equal(store_batch_get(f->st, f->admin.id, b.id, &s), STORE_OK);
	assert_string_equal(s.state, "stopping");
	assert_string_equal(s.error, "disk full: free space");
	assert_int_equal(s.credits_reserved, 2);          /* the one in flight */
	store_batch_free(&s);
	/* the image refused for want of space goes back: stopped, nothing reserved */
	assert_int_equal(store_image_requeue(f->st, j.image_seq, 3, st), STORE_OK);
	assert_string_equal(st, "stopped");
	sheet_fields_free(&j.f);
	account(f, &a);
	assert_int_equal(a.reserved, 0);
	assert_int_equal(a.charged, 2);
	assert_int_equal(store_ledger_check(f->st), STORE_OK);
	assert_int_equal(store_disk_full(f->st), 0);
	assert_int_equal(store_batch_resume(f->st, f->admin.id, b.id, 4, NULL, &s, &req, &av), STORE_OK);
	assert_string_equal(s.state, "queued");
	assert_null(s.error);
	assert_int_equal(s.credits_reserved, 6);
	store_batch_free(&s);
	store_batch_free(&b);
}

/* Creates a draft of n rows x k images for an account, with a cost per row. */
static void create_costed(struct fixture *f, const char *account_id, unsigned n, int k,
			  const int64_t *costs, struct store_batch *out)
{
	struct sheet_batch sb = make_sheet(n, k);
	struct store_upload up;

	memset(&up, 0, sizeof(up));
	up.account_id = account_id;
	up.name = "costed.csv";
	up.format = "csv";
	up.engine = "builtin";
	up.cost_per_image = 2;
	up.row_costs = costs;
	up.sheet = &sb;
	up.warnings = "[]";
	assert_int_equal(store_batch_create(f->st, &up, out), STORE_OK);
	free_sheet(&sb);
}

static int count_one(void *cls, const struct store_account *a)
{
	(void)a;
	(*(int *)cls)++;
	return 0;
}

static void test_accounts_credit_and_token(void **state)
{
	struct fixture *f = *state;
	struct store_account a, b, t;
	int n = 0;

	assert_int_equal(store_account_create(f->st, "alice", "h1", 50, 1, &a), STORE_OK);
	assert_false(a.is_admin);
	assert_int_equal(a.available, 50);
	assert_int_equal(store_account_create(f->st, "alice", "h9", 5, 1, &b), STORE_EXISTS);
	assert_int_equal(store_account_by_token(f->st, "h1", &t), STORE_OK);
	assert_string_equal(t.id, a.id);
	assert_int_equal(store_account_by_token(f->st, "h", &t), STORE_NOT_FOUND);
	assert_int_equal(store_account_credit(f->st, a.id, -51, 2, &t), STORE_NO_CREDITS);
	assert_int_equal(t.available, 50);
	assert_int_equal(store_account_credit(f->st, a.id, -20, 2, &t), STORE_OK);
	assert_int_equal(store_account_credit(f->st, a.id, 70, 3, &t), STORE_OK);
	assert_int_equal(t.available, 100);
	assert_int_equal(store_account_credit(f->st, "nobody", 1, 3, &t), STORE_NOT_FOUND);
	assert_int_equal(store_account_set_token(f->st, a.id, "h2", 4, &t), STORE_OK);
	assert_int_equal(store_account_by_token(f->st, "h1", &t), STORE_NOT_FOUND);
	assert_int_equal(store_account_by_token(f->st, "h2", &t), STORE_OK);
	assert_int_equal(store_account_find(f->st, "alice", &t), STORE_OK);
	assert_string_equal(t.id, a.id);
	assert_int_equal(store_account_find(f->st, a.id, &t), STORE_OK);
	assert_int_equal(store_account_find(f->st, "bob", &t), STORE_NOT_FOUND);
	assert_int_equal(store_account_list(f->st, count_one, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(t.max_active_batches, -1);
	assert_int_equal(store_account_set_limits(f->st, a.id, 2, -2, 4096, &t), STORE_OK);
	assert_int_equal(t.max_active_batches, 2);
	assert_int_equal(t.max_queued_images, -1);
	assert_int_equal(t.max_upload_bytes, 4096);
	assert_int_equal(store_account_set_limits(f->st, a.id, -2, 0, -1, &t), STORE_OK);
	assert_int_equal(t.max_active_batches, 2);
	assert_int_equal(t.max_queued_images, 0);
	assert_int_equal(t.max_upload_bytes, -1);
	assert_int_equal(store_account_set_limits(f->st, "nobody", 1, 1, 1, &t), STORE_NOT_FOUND);
	assert_int_equal(store_ledger_check(f->st), STORE_OK);
}

/* A data dir made by the first schema: its batches keep their cost through 0002. */
static void test_migration_keeps_costs(void **state)
{
	char dir[] = "/tmp/kiln-test-migrate-XXXXXX", path[96], err[256], cmd[128];
	struct store_batch b;
	struct store *st;
	sqlite3 *db;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/kiln.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(store_migrations[0].version, 1);
	assert_int_equal(sqlite3_exec(db, store_migrations[0].sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
		"CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
		" applied_at INTEGER NOT NULL);"
		"INSERT INTO schema_migrations VALUES (1, '0001_init', 0);"
		"INSERT INTO accounts (id, name, token_hash, is_admin, created_at)"
		" VALUES ('a1', 'admin', 'h', 1, 0);"
		"INSERT INTO batches (id, account_id, name, format, engine, nrows, images_total,"
		" cost_per_image, created_at, state) VALUES ('b1', 'a1', 'old.csv', 'csv', 'builtin',"
		" 1, 3, 7, 0, 'draft');"
		"INSERT INTO batch_rows (batch_seq, row, prompt, visibility, aspect_ratio, magic_prompt,"
		" model, rendering, negative_prompt, style, num_images) VALUES (1, 2, 'p', 'public',"
		" '1:1', 'on', '2.0', 'default', '', 'auto', 3);", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(path, &st, err, sizeof(err)), 0);
	assert_int_equal(store_migrate(st, err, sizeof(err)), 0);
	assert_int_equal(store_batch_get(st, "a1", "b1", &b), STORE_OK);
	assert_int_equal(b.credits_required, 21);
	store_batch_free(&b);
	assert_int_equal(store_integrity_check(st), STORE_OK);
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_row_costs(void **state)
{
	struct fixture *f = *state;
	static const int64_t costs[] = { 1, 5 };
	struct store_batch b, s;
	struct store_account a;
	struct store_job job;
	int64_t req, av;
	char st[12];

	create_costed(f, f->admin.id, 2, 2, costs, &b);
	assert_int_equal(b.credits_required, 12);
	assert_int_equal(store_batch_start(f->st, f->admin.id, b.id, NULL, 1, NULL, &s, &req, &av),
			 STORE_OK);
	assert_int_equal(s.credits_reserved, 12);
	store_batch_free(&s);
	make_one(f, &job, st);                   /* row 2: 1 credit */
	make_one(f, &job, st);
	make_one(f, &job, st);                   /* row 3: 5 credits */
	assert_int_equal(store_batch_stop(f->st, f->admin.id, b.id, 2, &s), STORE_OK);
	assert_int_equal(s.credits_charged, 7);
	assert_int_equal(s.credits_reserved, 0);
	store_batch_free(&s);
	account(f, &a);
	assert_int_equal(a.charged, 7);
	assert_int_equal(a.available, 993);
	/* resume reserves the one image left, at its row's cost */
	assert_int_equal(store_batch_resume(f->st, f->admin.id, b.id, 3, NULL, &s, &req, &av),
			 STORE_OK);
	assert_int_equal(s.credits_reserved, 5);
	store_batch_free(&s);
	store_batch_free(&b);
}

static void test_limits(void **state)
{
	struct fixture *f = *state;
	struct store_limits lim = { 1, 0, 0, 0 };
	struct store_batch a, b, s;
	int64_t req, av;

	create(f, 1, 4, NULL, &a, STORE_OK);
	create(f, 1, 4, NULL, &b, STORE_OK);
	assert_int_equal(store_batch_start(f->st, f->admin.id, a.id, NULL, 1, &lim, &s, &req, &av),
			 STORE_OK);
	store_batch_free(&s);
	assert_int_equal(store_batch_start(f->st, f->admin.id, b.id, NULL, 1, &lim, &s, &req, &av),
			 STORE_LIMIT);
	assert_int_equal(lim.hit, STORE_LIMIT_BATCHES);
	assert_int_equal(lim.current, 2);
	assert_string_equal(s.state, "draft");
	store_batch_free(&s);
	lim.max_active_batches = 0;
	lim.max_queued_images = 7;
	assert_int_equal(store_batch_start(f->st, f->admin.id, b.id, NULL, 1, &lim, &s, &req, &av),
			 STORE_LIMIT);
	assert_int_equal(lim.hit, STORE_LIMIT_IMAGES);
	assert_int_equal(lim.current, 8);
	store_batch_free(&s);
	lim.max_queued_images = 8;
	assert_int_equal(store_batch_start(f->st, f->admin.id, b.id, NULL, 1, &lim, &s, &req, &av),
			 STORE_OK);
	store_batch_free(&s);
	store_batch_free(&a);
	store_batch_free(&b);
	assert_int_equal(store_ledger_check(f->st), STORE_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrate_twice_and_refuse_newer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_preview_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_reserves_and_done_charges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_enough_credits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claims_are_fair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_releases_and_settles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_releases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_only_when_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accounts_credit_and_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_row_costs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test(test_migration_keeps_costs),
		cmocka_unit_test_setup_teardown(test_pause_for_a_full_disk, setup, teardown),
	};

	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
