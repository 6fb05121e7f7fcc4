/*
 * log.c — see log.h.  A line is formatted into a stack buffer and written
 * with one write(2), so lines from several threads never interleave.
 *
 * When stderr is the journal (systemd sets JOURNAL_STREAM to the device and
 * inode of the stream it connected, and they are stderr's), a line starts
 * with its syslog priority, "<6>", which journald turns into the entry's
 * priority, and carries no timestamp of its own (the journal has one).
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"

static atomic_int log_threshold = LOG_INFO;

static const char *const log_names[] = { "debug", "info", "warn", "error" };
static const int log_priorities[] = { 7, 6, 4, 3 };   /* LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR */

/* 1 when stderr is the journal (decided at the first line), 0 otherwise; -1 not yet known. */
static atomic_int log_journal = -1;

/* Is stderr the stream JOURNAL_STREAM names? */
static int to_journal(void)
{
	int j = atomic_load(&log_journal);

	if (j < 0) {
		const char *env = getenv("JOURNAL_STREAM");
		unsigned long long dev, ino;
		struct stat sb;

		j = env && sscanf(env, "%llu:%llu", &dev, &ino) == 2 &&
		    fstat(STDERR_FILENO, &sb) == 0 &&
		    (unsigned long long)sb.st_dev == dev && (unsigned long long)sb.st_ino == ino;
		atomic_store(&log_journal, j);
	}
	return j;
}

int log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, log_names[i]) == 0)
			return i;
	}
	return -1;
}

void log_set_level(enum log_level level)
{
	atomic_store(&log_threshold, (int)level);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[2048];
	struct timeval tv;
	struct tm tm;
	size_t n;
	va_list ap;
	int r;

	if ((int)level < atomic_load(&log_threshold))
		return;
	if (to_journal()) {
		n = 0;
		r = snprintf(line, sizeof(line), "<%d>%-5s ", log_priorities[level], log_names[level]);
	} else {
		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		r = snprintf(line + n, sizeof(line) - n, ".%03dZ %-5s ",
			     (int)(tv.tv_usec / 1000), log_names[level]);
	}
	if (r > 0)
		n += (size_t)r;
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n - 1 ? (size_t)r : sizeof(line) - n - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}
