/*
 * log.h — one line per event on stderr.
 *
 * DESIGN
 * Each line is "LEVEL message" with a monotonic-free wall clock prefix when
 * stderr is not the journal.  The level threshold is the one piece of
 * process-wide state in kilnd (set once at start-up, read everywhere), as in
 * Redis's serverLog(); everything else travels in the daemon context.
 */
#ifndef KILN_LOG_H
#define KILN_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Parses "debug", "info", "warn", "error"; returns -1 for anything else. */
int log_level_parse(const char *s);

void log_set_level(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
