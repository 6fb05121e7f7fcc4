/*
 * test_store_read.c — cmocka tests of store_read_begin()/store_read_end(),
 * the read transaction an API_READ request runs in (its token lookup and
 * its handler), on a real SQLite file with two connections.
 *
 * DESIGN
 * Connection a reads, connection b writes (as a worker would while a
 * request is answered).  Inside a read transaction a sees one snapshot: a
 * change b commits meanwhile is not seen until the transaction ends, and is
 * seen right after.  A second begin is refused, an end without a begin does
 * nothing, and a write attempted inside one fails cleanly instead of
 * upgrading the snapshot.
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

#include "store/store.h"

struct fixture {
	char dir[64];
	char path[128];
	struct store *a, *b;
	struct store_account admin;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];
	int created = 0;

	strcpy(f->dir, "/tmp/kiln-test-store-read-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/kiln.db", f->dir);
	assert_int_equal(store_open(f->path, &f->a, err, sizeof(err)), 0);
	assert_int_equal(store_migrate(f->a, err, sizeof(err)), 0);
	assert_int_equal(store_open(f->path, &f->b, err, sizeof(err)), 0);
	assert_int_equal(store_admin_ensure(f->a, "hash0", 1000, &f->admin, &created), STORE_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];

	store_close(f->a);
	store_close(f->b);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static int64_t available(struct store *st, const char *id)
{
	struct store_account acc;

	assert_int_equal(store_account_get(st, id, &acc), STORE_OK);
	return acc.available;
}

static void test_one_snapshot_until_the_end(void **state)
{
	struct fixture *f = *state;
	struct store_account acc, by_token;

	assert_int_equal(store_read_begin(f->a), STORE_OK);
	assert_int_equal(store_account_by_token(f->a, "hash0", &by_token), STORE_OK);
	assert_int_equal(by_token.available, 1000);
	/* a commit on another connection while the transaction is open */
	assert_int_equal(store_account_credit(f->b, f->admin.id, 5, 1, &acc), STORE_OK);
	assert_int_equal(acc.available, 1005);
	assert_int_equal(available(f->a, f->admin.id), 1000);
	store_read_end(f->a);
	/* seen as soon as it ends */
	assert_int_equal(available(f->a, f->admin.id), 1005);
	/* and without one, every statement sees the latest commit */
	assert_int_equal(store_account_credit(f->b, f->admin.id, 2, 2, &acc), STORE_OK);
	assert_int_equal(available(f->a, f->admin.id), 1007);
}

static void test_nested_refused_end_idempotent(void **state)
{
	struct fixture *f = *state;

	store_read_end(f->a);                      /* none open: nothing */
	assert_int_equal(store_read_begin(f->a), STORE_OK);
	assert_int_equal(store_read_begin(f->a), STORE_ERROR);
	assert_int_equal(available(f->a, f->admin.id), 1000);
	store_read_end(f->a);
	store_read_end(f->a);
	assert_int_equal(store_read_begin(f->a), STORE_OK);
	store_read_end(f->a);
}

static void test_write_inside_fails_cleanly(void **state)
{
	struct fixture *f = *state;
	struct store_account acc;

	assert_int_equal(store_read_begin(f->a), STORE_OK);
	assert_int_equal(available(f->a, f->admin.id), 1000);
	assert_int_equal(store_account_credit(f->a, f->admin.id, 1, 1, &acc), STORE_ERROR);
	store_read_end(f->a);
	/* nothing was written, and the connection works as before */
	assert_int_equal(available(f->b, f->admin.id), 1000);
	assert_int_equal(store_account_credit(f->a, f->admin.id, 1, 1, &acc), STORE_OK);
	assert_int_equal(available(f->b, f->admin.id), 1001);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_snapshot_until_the_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested_refused_end_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_inside_fails_cleanly, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
