/* Rate limit on worker crashes per caller (issue 12 s5): a caller (an API
 * key, or a client address when keys are off) whose runs killed their
 * worker `limit` times within `window_ms` is refused runs (429
 * crash_rate_limited) until the oldest of those crashes leaves the window.
 * A crash costs everyone a worker boot (~1 s of CPU), so one caller must
 * not be able to keep the pool rebooting.
 *
 * Pure and thread-safe: time is passed in, so it is unit-tested alone. A
 * bounded table; when it is full the caller whose last crash is oldest is
 * forgotten. */
#ifndef SCOPEBOX_CRASHLIMIT_H
#define SCOPEBOX_CRASHLIMIT_H

#include <stddef.h>

#define CRASHLIMIT_CALLER_MAX 80 /* "key:<name>" or "ip:<address>" */
#define CRASHLIMIT_CALLERS 1024
#define CRASHLIMIT_LIMIT_MAX 1000

struct crashlimit;

/* NULL if out of memory; limit 0 never refuses anyone. */
struct crashlimit *crashlimit_new(unsigned limit, unsigned window_ms);
void crashlimit_free(struct crashlimit *cl);

/* How long `caller` must wait before it may run again, 0 if it may now. */
double crashlimit_wait_ms(struct crashlimit *cl, const char *caller, double now_ms);

/* A run of `caller` ended its worker at `now_ms`. */
void crashlimit_record(struct crashlimit *cl, const char *caller, double now_ms);

#endif
