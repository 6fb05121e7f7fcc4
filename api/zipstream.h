/*
 * zipstream.h — a zip archive written as a stream, a buffer at a time.
 *
 * DESIGN
 * The archive download must start at once and never hold the whole archive
 * in memory, while libzip only writes to a seekable target.  PNG files do not
 * shrink under deflate, so the archive stores its entries uncompressed
 * (method 0), and the sizes and CRC-32 of every entry are known before its
 * bytes are sent (the store records them when an image is written; an
 * in-memory entry such as manifest.csv is computed here).  Each local header
 * therefore carries final values, no data descriptors are needed, and the
 * central directory is emitted from a small array of offsets at the end.
 * ZIP64 records are written only when offsets, sizes or the entry count
 * exceed the classic limits.
 *
 * The writer pulls: zipstream_read() asks the caller's next() for the next
 * entry whenever it has finished the previous one, and copies file bytes
 * with read(2) straight into the caller's buffer — the shape of
 * libmicrohttpd's content-reader callback.
 */
#ifndef KILN_ZIPSTREAM_H
#define KILN_ZIPSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct zipstream_entry {
	char name[256];          /* path inside the archive, UTF-8 */
	const char *path;        /* file to copy, or NULL for data below */
	const unsigned char *data; /* in-memory bytes, alive until the next call to next() */
	uint64_t size;           /* bytes of the file or of data */
	uint32_t crc32;          /* CRC-32 of those bytes; computed here when has_crc is 0 */
	int has_crc;
	time_t mtime;
};

/*
 * Fills *e with the next entry and returns 1, returns 0 when there are no
 * more, or -1 on error (the stream then fails).
 */
typedef int (*zipstream_next_fn)(void *cls, struct zipstream_entry *e);

struct zipstream;

struct zipstream *zipstream_new(zipstream_next_fn next, void *cls);

/*
 * Writes up to max bytes of the archive into buf.  Returns the number of
 * bytes written (> 0), 0 at the end of the archive, or -1 on error (a file
 * that vanished or changed size, a read error, next() failing).
 */
ssize_t zipstream_read(struct zipstream *z, char *buf, size_t max);

/* Entries written so far (for logs and tests). */
uint64_t zipstream_entries(const struct zipstream *z);

/*
 * Why zipstream_read() returned -1 (the file, what went wrong), or "" while
 * the stream has not failed.  Valid until zipstream_free().
 */
const char *zipstream_error(const struct zipstream *z);

void zipstream_free(struct zipstream *z);

#endif
