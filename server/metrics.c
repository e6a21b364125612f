#define _GNU_SOURCE
#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker.h"

/* Upper bounds in seconds: from a trivial eval (~0.3 ms) to the default
 * time limit (5 s) and beyond. */
static const double bucket_le[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05,
                                   0.1,    0.25,  0.5,   1,     2.5,  5,     10};
#define N_BUCKETS (sizeof bucket_le / sizeof bucket_le[0])

struct histogram {
    atomic_ullong buckets[N_BUCKETS]; /* not cumulative; summed when rendered */
    atomic_ullong count;
    atomic_ullong sum_us; /* microseconds: integer atomics */
};

static const char *const outcome_names[N_OUTCOMES] = {"ok",      "error",    "rejected", "timeout",
                                                      "crashed", "unserved", "cancelled"};
static const char *const exit_names[N_WORKER_EXITS] = {"crash", "protocol", "timeout", "recycled",
                                                       "boot",  "session",  "shutdown"};

/* HTTP statuses we answer: 200 201 202 400 404 405 413 415 499 500 503 504,
 * plus a bucket for anything else. */
static const unsigned statuses[] = {200, 201, 202, 400, 404, 405, 413, 415, 499, 500, 503, 504};
#define N_STATUSES (sizeof statuses / sizeof statuses[0])

static atomic_ullong http_by_status[N_STATUSES + 1];
static atomic_ullong runs_by_outcome[N_OUTCOMES];
static atomic_ullong exits_by_reason[N_WORKER_EXITS];
static atomic_ullong workers_started;
static struct histogram queue_hist, run_hist, capture_hist;
static atomic_ullong session_resumes[2]; /* [0]: image applied, [1]: state was resident */
static atomic_ullong session_store_errors, session_lease_waits;

void metrics_http(unsigned status) {
    size_t i = 0;
    while (i < N_STATUSES && statuses[i] != status)
        i++;
    atomic_fetch_add_explicit(&http_by_status[i], 1, memory_order_relaxed);
}

static void observe(struct histogram *h, double ms) {
    double s = ms / 1000.0;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        if (s <= bucket_le[i]) {
            atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
            break;
        }
    }
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (unsigned long long)(ms * 1000.0 + 0.5),
                              memory_order_relaxed);
}

void metrics_run(enum run_outcome outcome, double queue_ms, double run_ms) {
    atomic_fetch_add_explicit(&runs_by_outcome[outcome], 1, memory_order_relaxed);
    observe(&queue_hist, queue_ms);
    if (outcome != OUTCOME_UNSERVED)
        observe(&run_hist, run_ms);
}

void metrics_session_capture(double ms) {
    observe(&capture_hist, ms);
}

void metrics_session_resume(int resident) {
    atomic_fetch_add_explicit(&session_resumes[resident != 0], 1, memory_order_relaxed);
}

void metrics_session_store_error(void) {
    atomic_fetch_add_explicit(&session_store_errors, 1, memory_order_relaxed);
}

void metrics_session_lease_wait(void) {
    atomic_fetch_add_explicit(&session_lease_waits, 1, memory_order_relaxed);
}

void metrics_worker_started(void) {
    atomic_fetch_add_explicit(&workers_started, 1, memory_order_relaxed);
}

void metrics_worker_exited(enum worker_exit why) {
    atomic_fetch_add_explicit(&exits_by_reason[why], 1, memory_order_relaxed);
}

/* ---- rendering ------------------------------------------------------------ */

struct out {
    char *buf;
    size_t len, cap;
    bool failed;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...) {
    va_list ap;
    int n;
    if (o->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = true;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        char *grown = realloc(o->buf, o->cap * 2 + (size_t)n);
        if (grown == NULL) {
            o->failed = true;
            return;
        }
        o->buf = grown;
        o->cap = o->cap * 2 + (size_t)n;
    }
}

static unsigned long long get(atomic_ullong *v) {
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void render_histogram(struct out *o, const char *name, const char *help,
                             struct histogram *h) {
    unsigned long long cumulative = 0;
    put(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (size_t i = 0; i < N_BUCKETS; i++) {
        cumulative += get(&h->buckets[i]);
        put(o, "%s_bucket{le=\"%g\"} %llu\n", name, bucket_le[i], cumulative);
    }
    put(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, get(&h->count));
    put(o, "%s_sum %.6f\n%s_count %llu\n", name, (double)get(&h->sum_us) / 1e6, name,
        get(&h->count));
}

char *metrics_render(const struct metrics_gauges *g, size_t *len) {
    struct out o = {malloc(8192), 0, 8192, false};
    if (o.buf == NULL)
        return NULL;

    put(&o, "# HELP scopebox_http_requests_total HTTP answers by status.\n"
            "# TYPE scopebox_http_requests_total counter\n");
    for (size_t i = 0; i <= N_STATUSES; i++) {
        if (i < N_STATUSES)
            put(&o, "scopebox_http_requests_total{status=\"%u\"} %llu\n", statuses[i],
                get(&http_by_status[i]));
        else
            put(&o, "scopebox_http_requests_total{status=\"other\"} %llu\n",
                get(&http_by_status[i]));
    }
    put(&o, "# HELP scopebox_runs_total Runs by outcome (stateless and session runs).\n"
            "# TYPE scopebox_runs_total counter\n");
    for (size_t i = 0; i < N_OUTCOMES; i++)
        put(&o, "scopebox_runs_total{outcome=\"%s\"} %llu\n", outcome_names[i],
            get(&runs_by_outcome[i]));
    put(&o,
        "# HELP scopebox_timeouts_total Runs stopped at their time limit.\n"
        "# TYPE scopebox_timeouts_total counter\n"
        "scopebox_timeouts_total %llu\n",
        get(&runs_by_outcome[OUTCOME_TIMEOUT]));
    render_histogram(&o, "scopebox_queue_seconds", "Time a run waited for a worker.", &queue_hist);
    render_histogram(&o, "scopebox_run_seconds", "Time a run took on its worker.", &run_hist);

    put(&o,
        "# HELP scopebox_workers Pool workers by state.\n# TYPE scopebox_workers gauge\n"
        "scopebox_workers{state=\"ready\"} %d\nscopebox_workers{state=\"busy\"} %d\n"
        "scopebox_workers{state=\"slots\"} %d\n",
        g->ready, g->busy, g->total);
    put(&o,
        "# HELP scopebox_queue_length Runs waiting for a pool worker.\n"
        "# TYPE scopebox_queue_length gauge\nscopebox_queue_length %d\n",
        g->queued);
    put(&o,
        "# HELP scopebox_http_requests_in_progress HTTP requests begun and not yet answered "
        "(this one left out).\n"
        "# TYPE scopebox_http_requests_in_progress gauge\nscopebox_http_requests_in_progress %d\n",
        g->http_in_progress);
    put(&o,
        "# HELP scopebox_runs_in_flight Runs submitted to the pool and not yet done (queued, "
        "running, or being answered).\n"
        "# TYPE scopebox_runs_in_flight gauge\nscopebox_runs_in_flight %zu\n",
        g->runs);
    put(&o,
        "# HELP scopebox_oldest_run_seconds Since the oldest run in flight was submitted (0 with "
        "none).\n"
        "# TYPE scopebox_oldest_run_seconds gauge\nscopebox_oldest_run_seconds %.3f\n",
        g->oldest_run_ms / 1000.0);
    put(&o,
        "# HELP scopebox_sessions Sessions in the store.\n# TYPE scopebox_sessions gauge\n"
        "scopebox_sessions %d\n",
        g->sessions);
    put(&o,
        "# HELP scopebox_session_image_bytes Bytes of the stored session images.\n"
        "# TYPE scopebox_session_image_bytes gauge\nscopebox_session_image_bytes %zu\n",
        g->session_bytes);
    render_histogram(&o, "scopebox_session_capture_seconds",
                     "Time a worker took to capture a session's image after its run.",
                     &capture_hist);
    put(&o,
        "# HELP scopebox_session_resumes_total Session jobs by how the worker got the state: "
        "an image applied, or still resident from the session's last run.\n"
        "# TYPE scopebox_session_resumes_total counter\n"
        "scopebox_session_resumes_total{how=\"image\"} %llu\n"
        "scopebox_session_resumes_total{how=\"resident\"} %llu\n",
        get(&session_resumes[0]), get(&session_resumes[1]));
    put(&o,
        "# HELP scopebox_session_store_errors_total Session images that could not be stored.\n"
        "# TYPE scopebox_session_store_errors_total counter\n"
        "scopebox_session_store_errors_total %llu\n",
        get(&session_store_errors));
    put(&o,
        "# HELP scopebox_session_lease_waits_total Session runs refused (503 session_busy) "
        "because another replica held the session's lease.\n"
        "# TYPE scopebox_session_lease_waits_total counter\n"
        "scopebox_session_lease_waits_total %llu\n",
        get(&session_lease_waits));
    put(&o,
        "# HELP scopebox_workers_started_total Worker processes started.\n"
        "# TYPE scopebox_workers_started_total counter\n"
        "scopebox_workers_started_total %llu\n",
        get(&workers_started));
    put(&o, "# HELP scopebox_workers_exited_total Worker processes gone, by reason.\n"
            "# TYPE scopebox_workers_exited_total counter\n");
    for (size_t i = 0; i < N_WORKER_EXITS; i++)
        put(&o, "scopebox_workers_exited_total{reason=\"%s\"} %llu\n", exit_names[i],
            get(&exits_by_reason[i]));
    put(&o, "# HELP scopebox_worker_rss_bytes Resident memory of each live worker.\n"
            "# TYPE scopebox_worker_rss_bytes gauge\n");
    for (size_t i = 0; i < g->n_pids; i++) {
        long long rss = worker_rss_bytes(g->pids[i]);
        if (rss >= 0)
            put(&o, "scopebox_worker_rss_bytes{pid=\"%d\"} %lld\n", (int)g->pids[i], rss);
    }
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    *len = o.len;
    return o.buf;
}
