#include "rsswatch.h"

#include "worker.h"

void rss_watch_arm(struct rss_watch *w, double now) {
    w->next = now + RSS_WATCH_INTERVAL_MS;
}

bool rss_watch_tripped(struct rss_watch *w, pid_t pid, unsigned ceiling_mb, double now,
                       long long *rss_mb) {
    long long bytes;
    if (ceiling_mb == 0 || now < w->next)
        return false;
    w->next = now + RSS_WATCH_INTERVAL_MS;
    bytes = worker_rss_bytes(pid);
    if (bytes < 0)
        return false; /* gone already: reaped as any exit */
    *rss_mb = bytes >> 20;
    return *rss_mb > (long long)ceiling_mb;
}

double rss_watch_next(const struct rss_watch *w, unsigned ceiling_mb, double next) {
    return ceiling_mb > 0 && w->next < next ? w->next : next;
}
