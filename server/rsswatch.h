/* The memory backstop that does not depend on the worker: while a worker
 * runs a job, the dispatcher looks at its resident size every
 * RSS_WATCH_INTERVAL_MS and kills it past --worker-rss-mb. The worker's own
 * caps (wasm heap and files, wasm/runtime/fsquota.mjs) are what normally
 * holds; this catches whatever they miss (a JS-side leak, a bug) before the
 * host runs out of memory. RLIMIT_AS does not fit: V8 reserves far more
 * address space for wasm than it uses. */
#ifndef SCOPEBOX_RSSWATCH_H
#define SCOPEBOX_RSSWATCH_H

#include <stdbool.h>
#include <sys/types.h>

#define RSS_WATCH_INTERVAL_MS 50

struct rss_watch {
    double next; /* when to look next */
};

/* A job starts: the first look is one interval away. */
void rss_watch_arm(struct rss_watch *w, double now);

/* Called on every dispatcher turn of a busy worker: true when it is time to
 * look and the worker is past `ceiling_mb` (its size in *rss_mb). A
 * ceiling of 0 never trips. */
bool rss_watch_tripped(struct rss_watch *w, pid_t pid, unsigned ceiling_mb, double now,
                       long long *rss_mb);

/* The earlier of `next` and the next look (for the dispatcher's poll). */
double rss_watch_next(const struct rss_watch *w, unsigned ceiling_mb, double next);

#endif
