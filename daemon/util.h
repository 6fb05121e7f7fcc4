/*
 * util.h — the small helpers every module uses: clocks, ids, hashes, files.
 *
 * DESIGN
 * Nothing here keeps state.  Ids and tokens come from getrandom(2); hashes
 * from OpenSSL's EVP interface; durable files are written the one way kiln
 * trusts: a temporary file in the same directory, fsync, rename, fsync of the
 * directory (util_write_durable()).
 */
#ifndef KILN_UTIL_H
#define KILN_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the epoch (wall clock). */
int64_t util_now_ms(void);

/* Monotonic milliseconds, for timeouts. */
int64_t util_mono_ms(void);

/* Formats ms since the epoch as RFC 3339 UTC ("2026-11-24T18:37:49Z") into buf[32]. */
void util_time_rfc3339(int64_t ms, char *buf, size_t len);

/* Writes 2*nbytes lower-case hex digits of randomness and a NUL into out. Returns 0 or -1. */
int util_random_hex(char *out, size_t nbytes);

/* SHA-256 of data as 64 hex digits and a NUL in out[65]. */
void util_sha256_hex(const void *data, size_t len, char *out);

/* 1 when s is exactly len lower-case hex digits, else 0 (ids from clients). */
int util_is_hex(const char *s, size_t len);

/* mkdir -p with the given mode; 0 or -1 (errno set). */
int util_mkdir_p(const char *path, unsigned mode);

/*
 * Writes data to dir/name durably: dir/.name.tmp, fsync, rename, fsync(dir).
 * mode is the file's permission bits.  Returns 0 or -1 (errno set); on
 * failure no file named name is left half-written.
 */
int util_write_durable(const char *dir, const char *name, const void *data, size_t len,
		       unsigned mode);

/* Writes data to path and fsyncs it (no rename); 0 or -1, the file removed on failure. */
int util_write_synced(const char *path, const void *data, size_t len, unsigned mode);

/* rename(from, to), then fsync of dir so that the rename itself is durable. 0 or -1. */
int util_rename_durable(const char *from, const char *to, const char *dir);

/* Reads a whole file of at most max bytes; *buf is malloc'd and NUL-terminated. 0 or -1. */
int util_read_file(const char *path, size_t max, char **buf, size_t *len);

/* 1 when errno value e says a filesystem is full (ENOSPC, EDQUOT), else 0. */
int util_errno_full(int e);

/* The bytes an unprivileged process may still write on path's filesystem; 0 or -1. */
int util_free_bytes(const char *path, uint64_t *out);

/* Writes all of buf to fd, retrying short writes and EINTR; 0 or -1 (errno set). */
int util_write_all(int fd, const void *buf, size_t len);

#endif
