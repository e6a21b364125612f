/* Everything the server says goes to stderr, one line per event, so that
 * a supervisor (docker, systemd, a test) can consume it line by line. */
#ifndef SCOPEBOX_LOG_H
#define SCOPEBOX_LOG_H

#include <stdarg.h>
#include <stddef.h>

#include <stdbool.h>

/* Levels as Redis has them (--log-level): a line is written when its level
 * is at least the server's. Every event is `info` unless it says something
 * went wrong (`warning`); access lines are `info`. */
enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARNING };

/* Before any thread starts (main.c). The default is LOG_INFO. */
void log_set_level(enum log_level level);
/* "debug", "info" or "warning". */
bool log_level_parse(const char *name, enum log_level *out);

/* "<UTC timestamp> <message>\n", at `level`. */
void log_at(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* log_at(LOG_INFO, ...) */
void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_vmsg(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* The line exactly as given, no timestamp: for lines other programs parse. */
void log_raw(const char *line);

/* Copies at most `max` bytes of untrusted text (URLs, worker output) into
 * `out`, replacing control characters so a log line stays one line and never
 * cutting a UTF-8 sequence in half. Returns `out`. */
char *log_sanitize(char *out, size_t outsize, const char *in, size_t inlen);

#endif
