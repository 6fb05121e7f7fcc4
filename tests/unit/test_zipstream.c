/*
 * test_zipstream.c — unit tests of the streaming zip writer.
 *
 * DESIGN
 * Every test builds an archive from temporary files and in-memory entries,
 * pulls it out of zipstream_read() in chunks of some size (1 byte, 7 bytes,
 * 32 KiB, or a changing mix), writes it to a file, and hands that file to an
 * independent reader: libzip, opened with ZIP_CHECKCONS so that local and
 * central headers must agree, reading every entry to its end so that its
 * CRC-32 is checked, and, when /usr/bin/unzip exists, `unzip -t`.  The
 * failure cases (a file that vanished, changed size before or while being
 * sent, a failing entry list, a bad name) must make zipstream_read() return
 * -1 and keep returning it.  The ZIP64 paths are exercised with 65 535+
 * small entries (cheap) and, when KILN_TEST_ZIP64_LARGE=1, with a sparse
 * file of 4 GiB.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zip.h>
#include <zlib.h>

#include "api/zipstream.h"

#define MTIME 1700000000        /* 2023-11-14, an even second */
#define MAX_ITEMS 16

struct item {
	const char *name;
	char path[256];          /* "" for an in-memory entry */
	unsigned char *data;     /* the expected bytes (also the in-memory data) */
	uint64_t size;
	int has_crc;
	uint32_t crc;
};

/* The entry list next() walks; fail_at makes it fail at that index. */
struct list {
	struct item *items;
	size_t n, i;
	size_t fail_at;
	int (*gen)(size_t i, struct zipstream_entry *e, void *arg);
	void *gen_arg;
	size_t gen_n;
};

struct fixture {
	char dir[64];
	struct item items[MAX_ITEMS];
	size_t n;
	char out[128];
};

/* ---- helpers ------------------------------------------------------------ */

/* Deterministic bytes that do not repeat in short cycles. */
static unsigned char *pattern(uint64_t len, uint32_t seed)
{
	unsigned char *p = malloc(len ? (size_t)len : 1);
	uint32_t x = seed * 2654435761u + 1;
	uint64_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
	return p;
}

static void write_file(const char *path, const unsigned char *data, uint64_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, (size_t)len), (ssize_t)len);
	close(fd);
}

/* Adds a file entry (written now) or an in-memory entry to the fixture. */
static struct item *add_item(struct fixture *fx, const char *name, uint64_t len, int in_memory)
{
	struct item *it = &fx->items[fx->n];

	assert_true(fx->n < MAX_ITEMS);
	memset(it, 0, sizeof(*it));
	it->name = name;
	it->size = len;
	it->data = pattern(len, (uint32_t)fx->n + 1);
	if (!in_memory) {
		char dir[sizeof(fx->dir)];

		memcpy(dir, fx->dir, sizeof(dir));   /* (GCC's -Wrestrict sees an overlap) */
		snprintf(it->path, sizeof(it->path), "%s/f%zu", dir, fx->n);
		write_file(it->path, it->data, len);
	}
	fx->n++;
	return it;
}

/* next() over a struct list: items first, then gen_n generated entries. */
static int list_next(void *cls, struct zipstream_entry *e)
{
	struct list *l = cls;
	const struct item *it;

	if (l->i == l->fail_at)
		return -1;
	if (l->i >= l->n) {
		if (l->gen && l->i - l->n < l->gen_n) {
			l->i++;
			return l->gen(l->i - 1 - l->n, e, l->gen_arg);
		}
		return 0;
	}
	it = &l->items[l->i++];
	snprintf(e->name, sizeof(e->name), "%s", it->name);
	e->path = it->path[0] ? it->path : NULL;
	e->data = it->path[0] ? NULL : it->data;
	e->size = it->size;
	e->has_crc = it->has_crc;
	e->crc32 = it->crc;
	e->mtime = MTIME;
	return 1;
}

static void list_init(struct list *l, struct fixture *fx)
{
	memset(l, 0, sizeof(*l));
	l->items = fx->items;
	l->n = fx->n;
	l->fail_at = (size_t)-1;
}

/*
 * Pulls the whole archive in chunks of the sizes given (cycled) and writes it
 * to path.  Checks that every call but the last data one fills its buffer.
 * Returns 0, or -1 when zipstream_read() failed.  *total gets the bytes.
 */
static int pull(struct zipstream *z, const char *path, const size_t *chunks, size_t nchunks,
		uint64_t *total)
{
	size_t maxc = 0, k = 0, i;
	char *buf;
	int fd, short_seen = 0, rc = 0;

	for (i = 0; i < nchunks; i++)
		maxc = chunks[i] > maxc ? chunks[i] : maxc;
	buf = malloc(maxc);
	assert_non_null(buf);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	*total = 0;
	for (;;) {
		size_t want = chunks[k++ % nchunks];
		ssize_t n = zipstream_read(z, buf, want);

		if (n < 0) {
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		assert_true((size_t)n <= want);
		/* only the very last piece of the archive may be short */
		assert_false(short_seen);
		if ((size_t)n < want)
			short_seen = 1;
		assert_int_equal(write(fd, buf, (size_t)n), n);
		*total += (uint64_t)n;
	}
	close(fd);
	free(buf);
	return rc;
}

/* Opens path with libzip, checking local and central headers agree. */
static zip_t *open_zip(const char *path)
{
	int zerr = 0;
	zip_t *za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);

	if (!za) {
		zip_error_t ze;

		zip_error_init_with_code(&ze, zerr);
		fail_msg("libzip cannot open %s: %s", path, zip_error_strerror(&ze));
	}
	return za;
}

/* Reads entry i fully through libzip (which checks its CRC); caller frees. */
static unsigned char *read_entry(zip_t *za, zip_uint64_t i, uint64_t size)
{
	zip_file_t *zf = zip_fopen_index(za, i, 0);
	unsigned char *buf = malloc((size_t)size + 1);
	uint64_t got = 0;

	assert_non_null(zf);
	assert_non_null(buf);
	for (;;) {
		zip_int64_t n = zip_fread(zf, buf + got, (zip_uint64_t)(size + 1 - got));

		if (n < 0)
			fail_msg("libzip read of entry %llu failed: %s", (unsigned long long)i,
				 zip_error_strerror(zip_file_get_error(zf)));
		if (n == 0)
			break;
		got += (uint64_t)n;
		assert_true(got <= size);
	}
	assert_int_equal(got, size);
	assert_int_equal(zip_fclose(zf), 0);
	return buf;
}

/* Checks every item of fx is in the archive at path, in order, intact. */
static void check_archive(const char *path, const struct fixture *fx)
{
	zip_t *za = open_zip(path);
	size_t i;

	assert_int_equal(zip_get_num_entries(za, 0), (zip_int64_t)fx->n);
	for (i = 0; i < fx->n; i++) {
		const struct item *it = &fx->items[i];
		zip_stat_t st;
		unsigned char *got;

		zip_stat_init(&st);
		assert_int_equal(zip_stat_index(za, i, ZIP_FL_ENC_STRICT, &st), 0);
		assert_string_equal(st.name, it->name);
		assert_int_equal(st.size, it->size);
		assert_int_equal(st.comp_size, it->size);
		assert_int_equal(st.comp_method, ZIP_CM_STORE);
		assert_int_equal(st.crc, (uint32_t)crc32(0, it->data, (uInt)it->size));
		assert_int_equal(st.mtime, MTIME);
		got = read_entry(za, i, it->size);
		assert_memory_equal(got, it->data, (size_t)it->size);
		free(got);
	}
	zip_close(za);
}

/* Runs `unzip -tq path`; returns its exit status, or -1 when unzip is absent. */
static int unzip_test(const char *path)
{
	char cmd[512];
	int rc;

	if (access("/usr/bin/unzip", X_OK))
		return -1;
	snprintf(cmd, sizeof(cmd), "/usr/bin/unzip -tq '%s' >/dev/null 2>&1", path);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/kiln-zipstream-XXXXXX");
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	snprintf(fx->out, sizeof(fx->out), "%s/out.zip", fx->dir);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];
	size_t i;

	for (i = 0; i < fx->n; i++)
		free(fx->items[i].data);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	if (system(cmd) != 0)
		return -1;
	free(fx);
	return 0;
}

/* The usual archive: files of several sizes around buffer edges, and a manifest. */
static void usual_items(struct fixture *fx)
{
	struct item *it;

	add_item(fx, "row-0001-1.png", 100000, 0);
	add_item(fx, "row-0001-2.png", 0, 0);
	add_item(fx, "row-0002-1.png", 1, 0);
	it = add_item(fx, "row-0002-2.png", 32768, 0);
	it->has_crc = 1;
	it->crc = (uint32_t)crc32(0, it->data, (uInt)it->size);
	add_item(fx, "photos/caf\xc3\xa9 \xe2\x98\x95.png", 70001, 0);
	add_item(fx, "manifest.csv", 4321, 1);
	add_item(fx, "empty.txt", 0, 1);
}

/* ---- tests -------------------------------------------------------------- */

static void test_chunk_sizes(void **state)
{
	static const size_t one[] = { 1 }, seven[] = { 7 }, big[] = { 32768 };
	static const size_t mix[] = { 1, 7, 4096, 32768, 3, 65536, 29 };
	static const struct {
		const size_t *c;
		size_t n;
	} runs[] = { { one, 1 }, { seven, 1 }, { big, 1 }, { mix, 7 } };
	struct fixture *fx = *state;
	unsigned char *first = NULL;
	uint64_t first_len = 0;
	size_t r;

	usual_items(fx);
	for (r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
		struct list l;
		struct zipstream *z;
		uint64_t total;
		int rc;

		list_init(&l, fx);
		z = zipstream_new(list_next, &l);
		assert_non_null(z);
		assert_int_equal(pull(z, fx->out, runs[r].c, runs[r].n, &total), 0);
		assert_int_equal(zipstream_entries(z), fx->n);
		assert_string_equal(zipstream_error(z), "");
		/* the end stays the end */
		{
			char b[8];

			assert_int_equal(zipstream_read(z, b, sizeof(b)), 0);
		}
		zipstream_free(z);
		check_archive(fx->out, fx);
		rc = unzip_test(fx->out);
		if (rc >= 0)
			assert_int_equal(rc, 0);
		/* the same archive whatever the chunk size */
		if (!first) {
			int fd = open(fx->out, O_RDONLY);

			first = malloc((size_t)total);
			assert_non_null(first);
			assert_int_equal(read(fd, first, (size_t)total), (ssize_t)total);
			close(fd);
			first_len = total;
		}
		else {
			unsigned char *now = malloc((size_t)total);
			int fd = open(fx->out, O_RDONLY);

			assert_non_null(now);
			assert_int_equal(total, first_len);
			assert_int_equal(read(fd, now, (size_t)total), (ssize_t)total);
			close(fd);
			assert_memory_equal(now, first, (size_t)total);
			free(now);
		}
	}
	free(first);
	if (access("/usr/bin/unzip", X_OK))
		print_message("unzip -t skipped: /usr/bin/unzip is not installed\n");
}

/* The archive's size is exactly what the zip format says it must be. */
static void test_exact_size(void **state)
{
	static const size_t c[] = { 32768 };
	struct fixture *fx = *state;
	struct list l;
	struct zipstream *z;
	uint64_t total, want = 22;
	size_t i;

	usual_items(fx);
	for (i = 0; i < fx->n; i++) {
		size_t nl = strlen(fx->items[i].name);

		want += 30 + nl + 9 + fx->items[i].size;  /* local header + UT + data */
		want += 46 + nl + 9;                       /* central record + UT */
	}
	list_init(&l, fx);
	z = zipstream_new(list_next, &l);
	assert_non_null(z);
	assert_int_equal(pull(z, fx->out, c, 1, &total), 0);
	assert_int_equal(total, want);
	zipstream_free(z);
}

static void test_empty_archive(void **state)
{
	static const size_t one[] = { 1 };
	static const unsigned char end[22] = { 'P', 'K', 5, 6 };
	struct fixture *fx = *state;
	unsigned char got[64];
	struct list l;
	struct zipstream *z;
	uint64_t total;
	zip_t *za;
	int fd;

	list_init(&l, fx);
	z = zipstream_new(list_next, &l);
	assert_non_null(z);
	assert_int_equal(pull(z, fx->out, one, 1, &total), 0);
	assert_int_equal(total, 22);
	assert_int_equal(zipstream_entries(z), 0);
	zipstream_free(z);
	fd = open(fx->out, O_RDONLY);
	assert_int_equal(read(fd, got, sizeof(got)), 22);
	close(fd);
	assert_memory_equal(got, end, 22);
	za = open_zip(fx->out);
	assert_int_equal(zip_get_num_entries(za, 0), 0);
	zip_close(za);
}

/* A wrong CRC given by the caller is caught by libzip: the check is real. */
static void test_wrong_crc_detected(void **state)
{
	static const size_t c[] = { 32768 };
	struct fixture *fx = *state;
	struct item *it;
	struct list l;
	struct zipstream *z;
	uint64_t total;
	zip_t *za;
	zip_file_t *zf;
	char buf[8192];
	zip_int64_t n;

	it = add_item(fx, "bad.bin", 5000, 1);
	it->has_crc = 1;
	it->crc = 0x12345678;
	list_init(&l, fx);
	z = zipstream_new(list_next, &l);
	assert_non_null(z);
	assert_int_equal(pull(z, fx->out, c, 1, &total), 0);
	zipstream_free(z);
	za = open_zip(fx->out);
	zf = zip_fopen_index(za, 0, 0);
	assert_non_null(zf);
	do
		n = zip_fread(zf, buf, sizeof(buf));
	while (n > 0);
	assert_int_equal(n, -1);
	assert_int_equal(zip_error_code_zip(zip_file_get_error(zf)), ZIP_ER_CRC);
	zip_fclose(zf);
	zip_close(za);
}

/* Pulls until -1; checks that it stays -1 and that the error names what. */
static void expect_failure(struct zipstream *z, const char *out, const char *needle)
{
	static const size_t c[] = { 32768 };
	uint64_t total;
	char b[16];

	assert_int_equal(pull(z, out, c, 1, &total), -1);
	assert_int_equal(zipstream_read(z, b, sizeof(b)), -1);
	if (!strstr(zipstream_error(z), needle))
		fail_msg("error \"%s\" does not mention \"%s\"", zipstream_error(z), needle);
}

static void test_vanished_file(void **state)
{
	struct fixture *fx = *state;
	struct item *it;
	struct list l;
	struct zipstream *z;

	add_item(fx, "a.png", 1000, 0);
	it = add_item(fx, "b.png", 1000, 0);
	assert_int_equal(unlink(it->path), 0);
	list_init(&l, fx);
	z = zipstream_new(list_next, &l);
	assert_non_null(z);
	expect_failure(z, fx->out, it->path);
	assert_int_equal(zipstream_entries(z), 1);
	zipstream_free(z);
}

static void test_size_differs_at_open(void **state)
{
	struct fixture *fx = *state;
	struct item *it;
	struct list l;
	struct zipstream *z;

	it = add_item(fx, "a.png", 1000, 0);
	it->size = 999;          /* the store's record disagrees with the disk */
	list_init(&l, fx);
	z = zipstream_new(list_next, &l);
	assert_non_null(z);
	expect_failure(z, fx->out, it->path);
	zipstream_free(z);
}

/* The file shrinks (or grows) after its header went out. */
static void changed_midway(void **state, int grow)
{
	struct fixture *fx = *state;
	struct item *it;
	struct list l;
	struct zipstream *z;
	char buf[32768];
	uint64_t got = 0;
	ssize_t n;
	int fd;

	it = add_item(fx, "big.png", 200000, 0);
	add_item(fx, "after.png", 10, 0);
	list_init(&l, fx);
	z = zipstream_new(list_next, &l);
	assert_non_null(z);
	n = zipstream_read(z, buf, sizeof(buf));
	assert_int_equal(n, (ssize_t)sizeof(buf));
	if (grow) {
		fd = open(it->path, O_WRONLY | O_APPEND);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "more", 4), 4);
		close(fd);
	}
	else
		assert_int_equal(truncate(it->path, 50000), 0);
	for (;;) {
		n = zipstream_read(z, buf, sizeof(buf));
		if (n <= 0)
			break;
		got += (uint64_t)n;
		assert_true(got < 300000);
	}
	assert_int_equal(n, -1);
	assert_int_equal(zipstream_read(z, buf, 1), -1);
	assert_non_null(strstr(zipstream_error(z), it->path));
	assert_int_equal(zipstream_entries(z), 0);
	zipstream_free(z);
}

static void test_shrunk_midway(void **state)
{
	changed_midway(state, 0);
}

static void test_grew_midway(void **state)
{
	changed_midway(state, 1);
}

/* A file changed after the archive started, before the writer reached it. */
static void test_changed_before_reached(void **state)
{
	struct fixture *fx = *state;
	struct item *it;
	struct list l;
	struct zipstream *z;
	char buf[7];
	ssize_t n;

	add_item(fx, "first.bin", 10, 1);
	it = add_item(fx, "second.png", 1000, 0);
	list_init(&l, fx);
	z = zipstream_new(list_next, &l);
	assert_non_null(z);
	n = zipstream_read(z, buf, sizeof(buf));
	assert_int_equal(n, 7);
	assert_int_equal(truncate(it->path, 10), 0);
	expect_failure(z, fx->out, it->path);
	zipstream_free(z);
}

static void test_next_fails(void **state)
{
	struct fixture *fx = *state;
	struct list l;
	struct zipstream *z;

	add_item(fx, "a.png", 100, 0);
	add_item(fx, "b.png", 100, 0);
	list_init(&l, fx);
	l.fail_at = 1;
	z = zipstream_new(list_next, &l);
	assert_non_null(z);
	expect_failure(z, fx->out, "entries");
	zipstream_free(z);
}

static void test_bad_names(void **state)
{
	static const char *const bad[] = { "", "/etc/passwd", "../up.png", "a/../../b", "a\\b" };
	struct fixture *fx = *state;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct item it;
		struct list l;
		struct zipstream *z;

		memset(&it, 0, sizeof(it));
		it.name = bad[i];
		it.data = (unsigned char *)"x";
		it.size = 1;
		memset(&l, 0, sizeof(l));
		l.items = &it;
		l.n = 1;
		l.fail_at = (size_t)-1;
		z = zipstream_new(list_next, &l);
		assert_non_null(z);
		expect_failure(z, fx->out, "name");
		zipstream_free(z);
	}
	/* names that merely look odd are fine */
	{
		static const size_t c[] = { 32768 };
		struct list l;
		struct zipstream *z;
		uint64_t total;

		add_item(fx, "a..b/..c/d..", 3, 1);
		list_init(&l, fx);
		z = zipstream_new(list_next, &l);
		assert_int_equal(pull(z, fx->out, c, 1, &total), 0);
		zipstream_free(z);
		check_archive(fx->out, fx);
	}
}

static void test_zero_max(void **state)
{
	struct fixture *fx = *state;
	struct list l;
	struct zipstream *z;
	char b[4];

	list_init(&l, fx);
	z = zipstream_new(list_next, &l);
	assert_non_null(z);
	assert_int_equal(zipstream_read(z, b, 0), -1);
	/* not an error of the stream: it goes on */
	assert_int_equal(zipstream_read(z, b, sizeof(b)), 4);
	zipstream_free(z);
	assert_null(zipstream_new(NULL, NULL));
	zipstream_free(NULL);
}

/* Generated entries "e/NNNNN" holding their own number as text. */
static int gen_small(size_t i, struct zipstream_entry *e, void *arg)
{
	char *slots = arg;       /* 16 bytes per entry, alive until the next call */
	char *s = slots + 16 * (i % 2);

	snprintf(e->name, sizeof(e->name), "e/%05zu", i);
	snprintf(s, 16, "%zu", i);
	e->path = NULL;
	e->data = (const unsigned char *)s;
	e->size = strlen(s);
	e->has_crc = 0;
	e->mtime = MTIME;
	return 1;
}

/* Reads the whole file at path; caller frees. */
static unsigned char *slurp(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *buf;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/* Builds an archive of n generated entries and checks it; returns whether it has ZIP64 records. */
static int many_entries(struct fixture *fx, size_t n)
{
	static const size_t c[] = { 32768 };
	char slots[32];
	struct list l;
	struct zipstream *z;
	uint64_t total;
	unsigned char *all;
	size_t len;
	zip_t *za;
	size_t probe[] = { 0, 1, 4242, n - 2, n - 1 };
	size_t i;
	int zip64, rc;

	memset(&l, 0, sizeof(l));
	l.fail_at = (size_t)-1;
	l.gen = gen_small;
	l.gen_arg = slots;
	l.gen_n = n;
	z = zipstream_new(list_next, &l);
	assert_non_null(z);
	assert_int_equal(pull(z, fx->out, c, 1, &total), 0);
	assert_int_equal(zipstream_entries(z), n);
	zipstream_free(z);

	all = slurp(fx->out, &len);
	zip64 = len >= 98 && !memcmp(all + len - 42, "PK\x06\x07", 4)
		&& !memcmp(all + len - 98, "PK\x06\x06", 4);
	free(all);

	za = open_zip(fx->out);
	assert_int_equal(zip_get_num_entries(za, 0), (zip_int64_t)n);
	for (i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
		char name[32], text[16];
		unsigned char *got;
		zip_stat_t st;

		snprintf(name, sizeof(name), "e/%05zu", probe[i]);
		snprintf(text, sizeof(text), "%zu", probe[i]);
		assert_int_equal(zip_name_locate(za, name, 0), (zip_int64_t)probe[i]);
		assert_int_equal(zip_stat_index(za, probe[i], 0, &st), 0);
		assert_int_equal(st.size, strlen(text));
		got = read_entry(za, probe[i], st.size);
		assert_memory_equal(got, text, strlen(text));
		free(got);
	}
	zip_close(za);
	rc = unzip_test(fx->out);
	if (rc >= 0)
		assert_int_equal(rc, 0);
	return zip64;
}

/* 65 534 entries fit the classic end record; 65 535 and more need ZIP64. */
static void test_many_entries(void **state)
{
	struct fixture *fx = *state;

	assert_false(many_entries(fx, 65534));
	assert_true(many_entries(fx, 65535));
	assert_true(many_entries(fx, 70000));
}

/* Copies src to dst, leaving holes where whole blocks are zero. */
static int pull_sparse(struct zipstream *z, const char *path, uint64_t *total)
{
	const size_t bs = 1 << 20;
	char *buf = malloc(bs);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int rc = 0;

	assert_non_null(buf);
	assert_true(fd >= 0);
	*total = 0;
	for (;;) {
		ssize_t n = zipstream_read(z, buf, bs);
		ssize_t k;

		if (n <= 0) {
			rc = (int)n;
			break;
		}
		for (k = 0; k < n && !buf[k]; k++)
			;
		if (k == n)
			assert_true(lseek(fd, n, SEEK_CUR) >= 0);
		else
			assert_int_equal(write(fd, buf, (size_t)n), n);
		*total += (uint64_t)n;
	}
	assert_int_equal(ftruncate(fd, (off_t)*total), 0);
	close(fd);
	free(buf);
	return rc;
}

/* CRC-32 of n zero bytes, by doubling with crc32_combine. */
static uint32_t crc_zeros(uint64_t n)
{
	static unsigned char z[65536];
	uLong crc = crc32(0, Z_NULL, 0), blk = crc32(0, z, sizeof(z));
	uint64_t left = n;

	while (left >= sizeof(z)) {
		crc = crc32_combine(crc, blk, sizeof(z));
		left -= sizeof(z);
	}
	return (uint32_t)crc32(crc, z, (uInt)left);
}

/* An entry of 4 GiB (sparse file): ZIP64 sizes and a ZIP64 offset after it. */
static void test_zip64_large(void **state)
{
	struct fixture *fx = *state;
	struct item *big, *tail;
	struct list l;
	struct zipstream *z;
	uint64_t total, size = 0x100000000ULL + 123;
	zip_t *za;
	zip_stat_t st;
	zip_file_t *zf;
	unsigned char last[200];
	unsigned char *got;
	char dir[sizeof(fx->dir)];
	size_t i;
	int fd;

	if (!getenv("KILN_TEST_ZIP64_LARGE") || strcmp(getenv("KILN_TEST_ZIP64_LARGE"), "1")) {
		print_message("test_zip64_large skipped: set KILN_TEST_ZIP64_LARGE=1 "
			      "(streams a 4 GiB sparse file)\n");
		skip();
	}
	big = &fx->items[fx->n++];
	memset(big, 0, sizeof(*big));
	big->name = "huge.bin";
	memcpy(dir, fx->dir, sizeof(dir));
	snprintf(big->path, sizeof(big->path), "%s/huge", dir);
	big->size = size;
	big->has_crc = 1;
	big->crc = crc_zeros(size);
	fd = open(big->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
	tail = add_item(fx, "tail.png", 5000, 0);

	list_init(&l, fx);
	z = zipstream_new(list_next, &l);
	assert_non_null(z);
	assert_int_equal(pull_sparse(z, fx->out, &total), 0);
	zipstream_free(z);

	za = open_zip(fx->out);
	assert_int_equal(zip_get_num_entries(za, 0), 2);
	assert_int_equal(zip_stat_index(za, 0, 0, &st), 0);
	assert_int_equal(st.size, size);
	assert_int_equal(st.crc, big->crc);
	/* the end of the big entry, through libzip's seek on a stored entry */
	zf = zip_fopen_index(za, 0, 0);
	assert_non_null(zf);
	assert_int_equal(zip_fseek(zf, (zip_int64_t)(size - sizeof(last)), SEEK_SET), 0);
	assert_int_equal(zip_fread(zf, last, sizeof(last)), (zip_int64_t)sizeof(last));
	zip_fclose(zf);
	for (i = 0; i < sizeof(last); i++)
		assert_int_equal(last[i], 0);
	/* the entry after it sits beyond 4 GiB and reads back with its CRC */
	assert_int_equal(zip_stat_index(za, 1, 0, &st), 0);
	assert_int_equal(st.size, tail->size);
	got = read_entry(za, 1, tail->size);
	assert_memory_equal(got, tail->data, (size_t)tail->size);
	free(got);
	zip_close(za);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chunk_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exact_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_archive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_crc_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vanished_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_differs_at_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shrunk_midway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grew_midway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_before_reached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_max, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zip64_large, setup, teardown),
	};

	return cmocka_run_group_tests_name("zipstream", tests, NULL, NULL);
}
