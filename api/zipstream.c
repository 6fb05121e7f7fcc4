/*
 * zipstream.c — writes a zip archive as a stream, a buffer at a time.
 *
 * DESIGN
 * See zipstream.h for why: the archive route must start sending at once and
 * never hold the archive in memory.  The writer is a small state machine
 * pulled by zipstream_read():
 *
 *   NEXT     ask next() for an entry; open its file, check its size, compute
 *            its CRC-32 when the caller has none (one extra read of the
 *            file), and queue its local header                -> DATA
 *            no more entries                                  -> CENTRAL
 *   DATA     copy the entry's bytes with read(2) (or memcpy) straight into
 *            the caller's buffer; at the end check that the file still has
 *            the size announced, close it                     -> NEXT
 *   CENTRAL  queue one central directory record per entry, then the end
 *            records (ZIP64 end record and locator only when needed) -> END
 *
 * Headers are built into a small pending buffer that is drained before the
 * machine moves on, so one call fills the whole of the caller's buffer with
 * headers and data mixed, and a buffer of a single byte works as well as one
 * of 32 KiB.  Entries are stored (method 0) with their final sizes and CRC in
 * the local header, so no data descriptors are needed; names are flagged as
 * UTF-8 (bit 11).  Each entry also carries an "UT" extra field with its
 * modification time in UTC, beside the DOS local time every reader knows.
 * ZIP64 extra fields are added to an entry only when its size or offset
 * reaches 0xFFFFFFFF, and the ZIP64 end records only when the entry count
 * reaches 0xFFFF or the directory's size or offset reaches 0xFFFFFFFF.
 *
 * Memory: the pending buffer, a 64 KiB scratch buffer for CRC computation
 * (allocated on first use) and, per entry, its name and a few numbers for
 * the central directory.  Any error (next() failing, a file that vanished or
 * changed size, a read error, a bad name) is final: every later call returns
 * -1 and zipstream_error() says what happened.
 */
#include "zipstream.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_END 0x06054b50u
#define SIG_END64 0x06064b50u
#define SIG_LOCATOR64 0x07064b50u

#define LOCAL_LEN 30
#define CENTRAL_LEN 46
#define END_LEN 22
#define END64_LEN 56
#define LOCATOR64_LEN 20

#define FLAG_UTF8 0x0800u
#define MADE_BY_UNIX 3u
#define VERSION_STORED 10u       /* 1.0: stored entries */
#define VERSION_ZIP64 45u        /* 4.5: ZIP64 extensions */
#define VERSION_MADE 45u         /* the spec version this writer follows */
#define EXT_ATTR_FILE (0100644u << 16) /* a regular file, rw-r--r-- */

#define EXTRA_ZIP64 0x0001u
#define EXTRA_UT 0x5455u

#define MAX16 0xFFFFu
#define MAX32 0xFFFFFFFFu

#define PEND_MAX 512
#define SCRATCH_LEN 65536

enum zs_state {
	ZS_NEXT,
	ZS_DATA,
	ZS_CENTRAL,
	ZS_END,
	ZS_ERROR
};

/* What the central directory needs of an entry already written. */
struct zs_entry {
	char *name;
	size_t namelen;
	uint64_t size;
	uint64_t offset;         /* of its local header */
	uint32_t crc;
	uint16_t dos_time, dos_date;
	int has_ut;
	uint32_t ut;             /* modification time, Unix seconds */
};

struct zipstream {
	zipstream_next_fn next;
	void *cls;
	enum zs_state st;

	unsigned char pend[PEND_MAX]; /* header bytes queued for the caller */
	size_t pend_len, pend_pos;
	uint64_t offset;         /* bytes of archive produced so far */

	struct zs_entry *ents;
	size_t nents, cap;
	uint64_t done;           /* entries whose data is complete */

	/* the entry being copied */
	int fd;
	char *path;
	const unsigned char *mem;
	uint64_t size, left;

	size_t cd_next;          /* next central record to queue */
	uint64_t cd_start;

	unsigned char *scratch;
	char err[512];
};

/* ---- little helpers ----------------------------------------------------- */

/* Records the first error and makes the stream fail from now on. */
static ssize_t fail(struct zipstream *z, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static ssize_t fail(struct zipstream *z, const char *fmt, ...)
{
	va_list ap;

	if (z->st != ZS_ERROR) {
		va_start(ap, fmt);
		vsnprintf(z->err, sizeof(z->err), fmt, ap);
		va_end(ap);
		z->st = ZS_ERROR;
	}
	if (z->fd >= 0) {
		close(z->fd);
		z->fd = -1;
	}
	return -1;
}

static unsigned char *put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	return p + 2;
}

static unsigned char *put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
	return p + 4;
}

static unsigned char *put64(unsigned char *p, uint64_t v)
{
	p = put32(p, (uint32_t)v);
	return put32(p, (uint32_t)(v >> 32));
}

/* A 32-bit field: the value, or 0xFFFFFFFF when it needs ZIP64. */
static uint32_t clamp32(uint64_t v)
{
	return v >= MAX32 ? MAX32 : (uint32_t)v;
}

/*
 * MS-DOS time and date (local time, two-second steps) for t, clamped to
 * the years DOS can hold, 1980 to 2107.
 */
static void dos_datetime(time_t t, uint16_t *dtime, uint16_t *ddate)
{
	struct tm lt;

	if (!localtime_r(&t, &lt) || lt.tm_year < 80) {
		*dtime = 0;
		*ddate = (uint16_t)((1 << 5) | 1);               /* 1980-01-01 00:00:00 */
		return;
	}
	if (lt.tm_year > 207) {
		*dtime = (uint16_t)((23 << 11) | (59 << 5) | 29); /* 2107-12-31 23:59:58 */
		*ddate = (uint16_t)((127 << 9) | (12 << 5) | 31);
		return;
	}
	*dtime = (uint16_t)((lt.tm_hour << 11) | (lt.tm_min << 5) | (lt.tm_sec / 2));
	*ddate = (uint16_t)(((lt.tm_year - 80) << 9) | ((lt.tm_mon + 1) << 5) | lt.tm_mday);
}

/*
 * Is name acceptable inside an archive: not empty, not absolute, no ".."
 * component, no backslash (which Windows tools read as a separator)?
 */
static int name_ok(const char *name, size_t len)
{
	size_t i = 0;

	if (!len || name[0] == '/' || memchr(name, '\\', len))
		return 0;
	while (i < len) {
		size_t j = i;

		while (j < len && name[j] != '/')
			j++;
		if (j - i == 2 && name[i] == '.' && name[i + 1] == '.')
			return 0;
		i = j + 1;
	}
	return 1;
}

/* ---- entries ------------------------------------------------------------ */

/*
 * Reads the open file z->fd to its end once to compute its CRC-32 into
 * *crc, checking that it holds exactly z->size bytes, then rewinds it.
 * Returns 0, or -1 after fail().
 */
static int file_crc(struct zipstream *z, uint32_t *crc)
{
	uLong c = crc32(0L, Z_NULL, 0);
	uint64_t total = 0;

	if (!z->scratch) {
		z->scratch = malloc(SCRATCH_LEN);
		if (!z->scratch)
			return (int)fail(z, "out of memory computing the CRC of %s", z->path);
	}
	for (;;) {
		ssize_t n = read(z->fd, z->scratch, SCRATCH_LEN);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return (int)fail(z, "cannot read %s: %s", z->path, strerror(errno));
		if (n == 0)
			break;
		c = crc32_z(c, z->scratch, (z_size_t)n);
		total += (uint64_t)n;
		if (total > z->size)
			break;
	}
	if (total != z->size)
		return (int)fail(z, "%s changed size while being read (%llu bytes expected)",
				 z->path, (unsigned long long)z->size);
	if (lseek(z->fd, 0, SEEK_SET) != 0)
		return (int)fail(z, "cannot rewind %s: %s", z->path, strerror(errno));
	*crc = (uint32_t)c;
	return 0;
}

/* CRC-32 of an in-memory entry (crc32_z takes any length). */
static uint32_t mem_crc(const unsigned char *p, uint64_t len)
{
	uLong c = crc32(0L, Z_NULL, 0);

	if (len)
		c = crc32_z(c, p, (z_size_t)len);
	return (uint32_t)c;
}

/* Queues the local header of entry ent. */
static void queue_local(struct zipstream *z, const struct zs_entry *ent)
{
	int zip64 = ent->size >= MAX32;
	unsigned extra = (zip64 ? 20u : 0u) + (ent->has_ut ? 9u : 0u);
	unsigned char *p = z->pend;

	p = put32(p, SIG_LOCAL);
	p = put16(p, zip64 ? VERSION_ZIP64 : VERSION_STORED);
	p = put16(p, FLAG_UTF8);
	p = put16(p, 0);                         /* stored */
	p = put16(p, ent->dos_time);
	p = put16(p, ent->dos_date);
	p = put32(p, ent->crc);
	p = put32(p, clamp32(ent->size));        /* compressed size */
	p = put32(p, clamp32(ent->size));        /* uncompressed size */
	p = put16(p, (unsigned)ent->namelen);
	p = put16(p, extra);
	memcpy(p, ent->name, ent->namelen);
	p += ent->namelen;
	if (zip64) {
		p = put16(p, EXTRA_ZIP64);
		p = put16(p, 16);
		p = put64(p, ent->size);         /* uncompressed */
		p = put64(p, ent->size);         /* compressed */
	}
	if (ent->has_ut) {
		p = put16(p, EXTRA_UT);
		p = put16(p, 5);
		*p++ = 1;                        /* modification time present */
		p = put32(p, ent->ut);
	}
	z->pend_len = (size_t)(p - z->pend);
	z->pend_pos = 0;
}

/* Queues the central directory record of entry ent. */
static void queue_central(struct zipstream *z, const struct zs_entry *ent)
{
	int big_size = ent->size >= MAX32, big_off = ent->offset >= MAX32;
	unsigned z64len = (big_size ? 16u : 0u) + (big_off ? 8u : 0u);
	unsigned extra = (z64len ? 4u + z64len : 0u) + (ent->has_ut ? 9u : 0u);
	unsigned char *p = z->pend;

	p = put32(p, SIG_CENTRAL);
	p = put16(p, (MADE_BY_UNIX << 8) | VERSION_MADE);
	p = put16(p, z64len ? VERSION_ZIP64 : VERSION_STORED);
	p = put16(p, FLAG_UTF8);
	p = put16(p, 0);                         /* stored */
	p = put16(p, ent->dos_time);
	p = put16(p, ent->dos_date);
	p = put32(p, ent->crc);
	p = put32(p, clamp32(ent->size));
	p = put32(p, clamp32(ent->size));
	p = put16(p, (unsigned)ent->namelen);
	p = put16(p, extra);
	p = put16(p, 0);                         /* comment length */
	p = put16(p, 0);                         /* disk number start */
	p = put16(p, 0);                         /* internal attributes */
	p = put32(p, EXT_ATTR_FILE);
	p = put32(p, clamp32(ent->offset));
	memcpy(p, ent->name, ent->namelen);
	p += ent->namelen;
	if (z64len) {
		p = put16(p, EXTRA_ZIP64);
		p = put16(p, z64len);
		if (big_size) {
			p = put64(p, ent->size);
			p = put64(p, ent->size);
		}
		if (big_off)
			p = put64(p, ent->offset);
	}
	if (ent->has_ut) {
		p = put16(p, EXTRA_UT);
		p = put16(p, 5);
		*p++ = 1;
		p = put32(p, ent->ut);
	}
	z->pend_len = (size_t)(p - z->pend);
	z->pend_pos = 0;
}

/* Queues the end records; the ZIP64 ones only when a field overflows. */
static void queue_end(struct zipstream *z)
{
	uint64_t n = z->nents;
	uint64_t cd_size = z->offset - z->cd_start;
	int zip64 = n >= MAX16 || cd_size >= MAX32 || z->cd_start >= MAX32;
	unsigned char *p = z->pend;

	if (zip64) {
		uint64_t end64 = z->offset;

		p = put32(p, SIG_END64);
		p = put64(p, END64_LEN - 12);    /* size of the rest of the record */
		p = put16(p, (MADE_BY_UNIX << 8) | VERSION_MADE);
		p = put16(p, VERSION_ZIP64);
		p = put32(p, 0);                 /* this disk */
		p = put32(p, 0);                 /* disk of the central directory */
		p = put64(p, n);                 /* entries on this disk */
		p = put64(p, n);                 /* entries */
		p = put64(p, cd_size);
		p = put64(p, z->cd_start);
		p = put32(p, SIG_LOCATOR64);
		p = put32(p, 0);                 /* disk of the ZIP64 end record */
		p = put64(p, end64);
		p = put32(p, 1);                 /* disks */
	}
	p = put32(p, SIG_END);
	p = put16(p, 0);
	p = put16(p, 0);
	p = put16(p, n >= MAX16 ? MAX16 : (unsigned)n);
	p = put16(p, n >= MAX16 ? MAX16 : (unsigned)n);
	p = put32(p, clamp32(cd_size));
	p = put32(p, clamp32(z->cd_start));
	p = put16(p, 0);                         /* comment length */
	z->pend_len = (size_t)(p - z->pend);
	z->pend_pos = 0;
}

/*
 * Asks next() for the next entry.  For a file: opens it, checks it is a
 * regular file of the announced size and computes its CRC when needed.
 * Records the entry for the central directory and queues its local header
 * (state DATA), or, when there are no more entries, moves to CENTRAL.
 * Returns 0, or -1 after fail().
 */
static int begin_entry(struct zipstream *z)
{
	struct zipstream_entry e;
	struct zs_entry *ent;
	struct stat st;
	size_t namelen;
	uint32_t crc;
	int r;

	memset(&e, 0, sizeof(e));
	r = z->next(z->cls, &e);
	if (r < 0)
		return (int)fail(z, "the list of entries failed after %llu entries",
				 (unsigned long long)z->done);
	if (r == 0) {
		z->cd_start = z->offset;
		z->cd_next = 0;
		z->st = ZS_CENTRAL;
		return 0;
	}
	namelen = strnlen(e.name, sizeof(e.name));
	if (namelen == sizeof(e.name))
		return (int)fail(z, "an entry name is not terminated");
	if (!name_ok(e.name, namelen))
		return (int)fail(z, "bad entry name \"%s\" (empty, absolute, '..' or '\\')", e.name);
	if (!e.path && !e.data && e.size)
		return (int)fail(z, "%s: %llu bytes announced but no file or data given", e.name,
				 (unsigned long long)e.size);
	if (z->nents == z->cap) {
		size_t cap = z->cap ? z->cap * 2 : 64;
		struct zs_entry *v = realloc(z->ents, cap * sizeof(*v));

		if (!v)
			return (int)fail(z, "out of memory after %zu entries", z->nents);
		z->ents = v;
		z->cap = cap;
	}

	free(z->path);
	z->path = NULL;
	z->mem = NULL;
	z->size = e.size;
	z->left = e.size;
	crc = e.crc32;
	if (e.path) {
		z->path = strdup(e.path);
		if (!z->path)
			return (int)fail(z, "out of memory");
		z->fd = open(e.path, O_RDONLY | O_CLOEXEC);
		if (z->fd < 0)
			return (int)fail(z, "cannot open %s for %s: %s", e.path, e.name, strerror(errno));
		if (fstat(z->fd, &st))
			return (int)fail(z, "cannot stat %s: %s", e.path, strerror(errno));
		if (!S_ISREG(st.st_mode))
			return (int)fail(z, "%s is not a regular file", e.path);
		if ((uint64_t)st.st_size != e.size)
			return (int)fail(z, "%s has %llu bytes, %llu expected", e.path,
					 (unsigned long long)st.st_size, (unsigned long long)e.size);
		if (!e.has_crc && file_crc(z, &crc))
			return -1;
	}
	else {
		z->mem = e.data;
		if (!e.has_crc)
			crc = mem_crc(e.data, e.size);
	}

	ent = &z->ents[z->nents];
	memset(ent, 0, sizeof(*ent));
	ent->name = malloc(namelen + 1);
	if (!ent->name)
		return (int)fail(z, "out of memory");
	memcpy(ent->name, e.name, namelen + 1);
	ent->namelen = namelen;
	ent->size = e.size;
	ent->offset = z->offset;
	ent->crc = crc;
	dos_datetime(e.mtime, &ent->dos_time, &ent->dos_date);
	if (e.mtime >= 0 && (uint64_t)e.mtime <= 0x7FFFFFFFu) {
		ent->has_ut = 1;
		ent->ut = (uint32_t)e.mtime;
	}
	z->nents++;
	queue_local(z, ent);
	z->st = ZS_DATA;
	return 0;
}

/*
 * Ends the current entry: a file must still have the size announced (it
 * could have grown while it was copied).  Returns 0, or -1 after fail().
 */
static int end_entry(struct zipstream *z)
{
	struct stat st;

	if (z->fd >= 0) {
		if (fstat(z->fd, &st))
			return (int)fail(z, "cannot stat %s: %s", z->path, strerror(errno));
		if ((uint64_t)st.st_size != z->size)
			return (int)fail(z, "%s changed size while being sent (%llu bytes, %llu expected)",
					 z->path, (unsigned long long)st.st_size,
					 (unsigned long long)z->size);
		close(z->fd);
		z->fd = -1;
	}
	free(z->path);
	z->path = NULL;
	z->mem = NULL;
	z->done++;
	z->st = ZS_NEXT;
	return 0;
}

/*
 * Copies up to room bytes of the current entry's data into dst.  Returns
 * the number copied (> 0), or -1 after fail() (a read error, or a file that
 * ended early).
 */
static ssize_t copy_data(struct zipstream *z, char *dst, size_t room)
{
	size_t want = z->left < room ? (size_t)z->left : room;
	ssize_t n;

	if (!z->path) {
		memcpy(dst, z->mem + (z->size - z->left), want);
		z->left -= want;
		return (ssize_t)want;
	}
	do
		n = read(z->fd, dst, want);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return fail(z, "cannot read %s: %s", z->path, strerror(errno));
	if (n == 0)
		return fail(z, "%s ended after %llu of %llu bytes (it changed while being sent)",
			    z->path, (unsigned long long)(z->size - z->left),
			    (unsigned long long)z->size);
	z->left -= (uint64_t)n;
	return n;
}

/* ---- the interface ------------------------------------------------------ */

/*
 * Makes a writer that pulls its entries from next(cls, entry).  Returns
 * NULL when out of memory or when next is NULL.
 */
struct zipstream *zipstream_new(zipstream_next_fn next, void *cls)
{
	struct zipstream *z;

	if (!next)
		return NULL;
	z = calloc(1, sizeof(*z));
	if (!z)
		return NULL;
	z->next = next;
	z->cls = cls;
	z->fd = -1;
	z->st = ZS_NEXT;
	return z;
}

/*
 * Writes up to max bytes of the archive into buf, filling it whole unless
 * the archive ends first.  Returns the count (> 0), 0 once the archive is
 * complete, or -1 on error (see zipstream_error()); after an error every
 * call returns -1.
 */
ssize_t zipstream_read(struct zipstream *z, char *buf, size_t max)
{
	size_t filled = 0;

	if (!z || !buf)
		return -1;
	if (z->st == ZS_ERROR)
		return -1;
	if (max > SSIZE_MAX)
		max = SSIZE_MAX;
	if (!max)
		return -1;              /* 0 would read as the end of the archive */
	while (filled < max) {
		if (z->pend_pos < z->pend_len) {
			size_t n = z->pend_len - z->pend_pos;

			if (n > max - filled)
				n = max - filled;
			memcpy(buf + filled, z->pend + z->pend_pos, n);
			z->pend_pos += n;
			filled += n;
			z->offset += n;
			continue;
		}
		switch (z->st) {
		case ZS_NEXT:
			if (begin_entry(z))
				return -1;
			break;
		case ZS_DATA:
			if (!z->left) {
				if (end_entry(z))
					return -1;
			}
			else {
				ssize_t n = copy_data(z, buf + filled, max - filled);

				if (n < 0)
					return -1;
				filled += (size_t)n;
				z->offset += (uint64_t)n;
			}
			break;
		case ZS_CENTRAL:
			if (z->cd_next < z->nents) {
				queue_central(z, &z->ents[z->cd_next]);
				z->cd_next++;
			}
			else {
				queue_end(z);
				z->st = ZS_END;
			}
			break;
		case ZS_END:
			return (ssize_t)filled;
		case ZS_ERROR:
			return -1;
		}
	}
	return (ssize_t)filled;
}

/* Entries whose data has been written completely. */
uint64_t zipstream_entries(const struct zipstream *z)
{
	return z ? z->done : 0;
}

/* Why the stream failed, or "" while it has not. */
const char *zipstream_error(const struct zipstream *z)
{
	return z ? z->err : "";
}

/* Closes any open file and frees the writer; NULL is allowed. */
void zipstream_free(struct zipstream *z)
{
	size_t i;

	if (!z)
		return;
	if (z->fd >= 0)
		close(z->fd);
	for (i = 0; i < z->nents; i++)
		free(z->ents[i].name);
	free(z->ents);
	free(z->path);
	free(z->scratch);
	free(z);
}
