/*
 * log.c — see log.h.  A line is formatted into a stack buffer and written
 * with one write(2), so lines from several threads never interleave.
 *
 * When stderr is the journal (systemd sets JOURNAL_STREAM to the device and
 * inode of the stream it connected, and they are stderr's), a line starts
 * with its syslog priority, "<6>", which journald turns into the entry's
 * priority, and carries no timestamp of its own (the journal has one).
 */
#include <pthread.h>
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
static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static int log_journal;                       /* set once, by log_detect() */
static _Thread_local char log_request[40];    /* the request this thread answers */

static const char *const log_names[] = { "debug", "info", "warn", "error" };
static const int log_priorities[] = { 7, 6, 4, 3 };   /* sd-daemon(3) */

/* Is stderr the journal?  JOURNAL_STREAM is "device:inode" of the stream systemd gave us. */
static void log_detect(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat sb;

	if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &sb) == 0 &&
	    (unsigned long long)sb.st_dev == dev && (unsigned long long)sb.st_ino == ino)
		log_journal = 1;
}

int log_to_journal(void)
{
	pthread_once(&log_once, log_detect);
	return log_journal;
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

void log_set_request(const char *id)
{
	size_t n = id ? strnlen(id, sizeof(log_request) - 1) : 0;

	memcpy(log_request, id ? id : "", n);     /* four times a request: no snprintf */
	log_request[n] = '\0';
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char line[2048];
	struct timeval tv;
	struct tm tm;
	size_t n = 0;
	int r;

	if ((int)level < atomic_load(&log_threshold))
		return;
	if (log_to_journal()) {
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
	if (log_request[0]) {
		r = snprintf(line + n, sizeof(line) - n, "req=%s ", log_request);
		if (r > 0)
			n += (size_t)r;
	}
	r = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n - 1 ? (size_t)r : sizeof(line) - n - 2;
	/* one event, one line: a message never breaks the line (MHD's end with \n) */
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	for (size_t i = 0; i < n; i++) {
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	}
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}
