/*
 * util.c — see util.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "daemon/util.h"

int64_t util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t util_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void util_time_rfc3339(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int util_random_hex(char *out, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[64];
	size_t got = 0;

	if (nbytes > sizeof(raw))
		return -1;
	while (got < nbytes) {
		ssize_t r = getrandom(raw + got, nbytes - got, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)r;
	}
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * nbytes] = '\0';
	return 0;
}

static EVP_MD *util_sha256_md;

/* SHA-256 fetched from OpenSSL's provider once, not looked up again on every digest. */
static void util_sha256_fetch(void)
{
	util_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void util_sha256_hex(const void *data, size_t len, char *out)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	pthread_once(&once, util_sha256_fetch);
	EVP_Digest(data, len, md, &mdlen, util_sha256_md ? util_sha256_md : EVP_sha256(), NULL);
	for (unsigned int i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * mdlen] = '\0';
}

int util_is_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	return s[i] == '\0';
}

int util_mkdir_p(const char *path, unsigned mode)
{
	char tmp[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, (mode_t)mode) < 0 && errno != EEXIST)
			return -1;
		if (i < n)
			tmp[i] = '/';
	}
	return 0;
}

/* Writes all of buf to fd, retrying short writes; 0 or -1. */
static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int util_write_synced(const char *path, const void *data, size_t len, unsigned mode)
{
	int fd, saved;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
	if (fd < 0)
		return -1;
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		saved = errno;
		close(fd);
		unlink(path);
		errno = saved;
		return -1;
	}
	if (close(fd) < 0) {
		saved = errno;
		unlink(path);
		errno = saved;
		return -1;
	}
	return 0;
}

int util_rename_durable(const char *from, const char *to, const char *dir)
{
	int dfd;

	if (rename(from, to) < 0)
		return -1;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	if (fsync(dfd) < 0) {
		close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
}

int util_write_durable(const char *dir, const char *name, const void *data, size_t len,
		       unsigned mode)
{
	char tmp[4096], dst[4096];
	int saved;

	if (snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >= (int)sizeof(tmp) ||
	    snprintf(dst, sizeof(dst), "%s/%s", dir, name) >= (int)sizeof(dst)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (util_write_synced(tmp, data, len, mode) < 0)
		return -1;
	if (util_rename_durable(tmp, dst, dir) < 0) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}

int util_read_file(const char *path, size_t max, char **buf, size_t *len)
{
	struct stat st;
	char *p;
	size_t got = 0;
	int fd;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size > max) {
		close(fd);
		errno = EFBIG;
		return -1;
	}
	p = malloc((size_t)st.st_size + 1);
	if (!p) {
		close(fd);
		return -1;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, p + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	p[got] = '\0';
	*buf = p;
	*len = got;
	return 0;
}

int util_write_all(int fd, const void *buf, size_t len)
{
	return write_all(fd, buf, len);
}

int util_errno_full(int e)
{
	return e == ENOSPC || e == EDQUOT;
}

int util_free_bytes(const char *path, uint64_t *out)
{
	struct statvfs sv;

	if (statvfs(path, &sv) < 0)
		return -1;
	*out = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	return 0;
}
