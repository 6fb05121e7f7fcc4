/*
 * log.h — one line per event on stderr.
 *
 * DESIGN
 * Each line is "TIME LEVEL [req=ID] message": a UTC timestamp with
 * milliseconds, the level, the id of the HTTP request being answered when
 * the line is written on its behalf, and the message.  When stderr is the
 * systemd journal (JOURNAL_STREAM names stderr's device and inode, as
 * systemd.exec(5) documents), the timestamp is left out (the journal keeps
 * its own) and the line starts with its sd-daemon(3) priority: <7> debug,
 * <6> info, <4> warn, <3> error.  The level threshold and the journal test
 * are the process-wide state of logging (set once, read everywhere, as in
 * Redis's serverLog()); the request id is per thread, set by the HTTP layer
 * around each call into a handler.
 */
#ifndef KILN_LOG_H
#define KILN_LOG_H

#include <stdarg.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Parses "debug", "info", "warn", "error"; returns -1 for anything else. */
int log_level_parse(const char *s);

void log_set_level(enum log_level level);

/* Sets the calling thread's request id (NULL clears it); lines then carry req=ID. */
void log_set_request(const char *id);

/* 1 when lines go to the systemd journal (priority prefixes, no timestamps). */
int log_to_journal(void);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* log_msg() with a va_list (for libraries' log callbacks). */
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
