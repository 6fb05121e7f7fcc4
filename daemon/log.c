/*
 * log.c — see log.h.  A line is formatted into a stack buffer and written
 * with one write(2), so lines from several threads never interleave.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"

static atomic_int log_threshold = LOG_INFO;

static const char *const log_names[] = { "debug", "info", "warn", "error" };

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
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03dZ %-5s ",
		     (int)(tv.tv_usec / 1000), log_names[level]);
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
