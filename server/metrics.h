/* Counters and histograms for GET /metrics (Prometheus text format 0.0.4).
 * Updated from any thread with relaxed atomics: a scrape may see a run
 * counted a moment before its histogram sample, never a torn value. */
#ifndef SCOPEBOX_METRICS_H
#define SCOPEBOX_METRICS_H

#include <stddef.h>
#include <sys/types.h>

enum run_outcome {
    OUTCOME_OK,        /* the snippet ran and did not raise */
    OUTCOME_ERROR,     /* the snippet raised: data, HTTP 200 */
    OUTCOME_REJECTED,  /* the worker found the request invalid (400) */
    OUTCOME_TIMEOUT,   /* past its limit, interrupted or killed (504) */
    OUTCOME_CRASHED,   /* the worker died or broke the protocol (500) */
    OUTCOME_UNSERVED,  /* never ran: queue full or timed out, shutdown, ... */
    OUTCOME_CANCELLED, /* cancelled by its client (POST /v1/runs/{id}/cancel, or gone): 499 */
    N_OUTCOMES
};

enum worker_exit {
    EXIT_CRASH,    /* died, or sent fatal, on its own */
    EXIT_PROTOCOL, /* killed for breaking the protocol */
    EXIT_TIMEOUT,  /* killed: a run did not stop at its limit */
    EXIT_RECYCLED, /* replaced on purpose (runs or memory ceiling) */
    EXIT_BOOT,     /* never became ready */
    EXIT_SESSION,  /* its session ended */
    EXIT_SHUTDOWN, /* the server stopped */
    N_WORKER_EXITS
};

void metrics_http(unsigned status);
void metrics_run(enum run_outcome outcome, double queue_ms, double run_ms);
void metrics_worker_started(void);
void metrics_worker_exited(enum worker_exit why);

/* Sessions (session_jobs.c): a capture's time on the worker (ms), whether a run found
 * its session's state already on the worker, a store write that failed. */
void metrics_session_capture(double ms);
void metrics_session_resume(int resident);
void metrics_session_store_error(void);
void metrics_session_lease_wait(void); /* a run found its session leased elsewhere */

struct metrics_gauges {
    int ready, busy, total, queued, sessions;
    size_t session_bytes;
    const pid_t *pids; /* workers alive now, pool and sessions */
    size_t n_pids;
    /* Where a request is, when one goes unanswered: HTTP requests begun and
     * not yet answered (the scrape itself left out), and the runs among
     * them the pool holds (queued, running, or answered and not yet done),
     * with the age of the oldest. */
    int http_in_progress;
    size_t runs;
    double oldest_run_ms;
};

/* The exposition text; malloc'd, *len set. NULL when out of memory. */
char *metrics_render(const struct metrics_gauges *g, size_t *len);

#endif
