/* The worker pool: a bounded FIFO of jobs and one dispatcher thread that owns
 * every worker process, writes run frames, reads result frames, enforces
 * deadlines and replaces workers that die. HTTP threads only submit jobs and
 * wait for them without blocking (job.h, job_park). This is the whole public
 * API; pool_private.h says how the files behind it divide the work. */
#ifndef SCOPEBOX_POOL_H
#define SCOPEBOX_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "job.h"
#include "request.h"

struct pool;

/* Queues a job of `kind` (encodes its worker message from `req`, which can be
 * freed after; NULL for the kinds without a body). `session` names the session for
 * the session kinds; a JOB_RUN whose request names a session becomes a
 * JOB_SESSION_RUN. On success the pool holds its own reference until the
 * job is done. On failure (queue full, shutting down, ...) fills `err`. */
bool pool_submit(struct pool *pool, struct job *job, enum job_kind kind, const char *session,
                 const struct run_request *req, struct api_error *err);

/* Whether a stateless run submitted now would be refused for a full queue
 * (pool_submit's bound): http.c asks from a request's headers, so that a
 * flood is refused before its bodies are read. */
bool pool_queue_full(struct pool *pool);
/* The message of that refusal, the same for every one (--queue-size N): a
 * refusal needs no text of its own. */
void pool_queue_full_message(const struct config *cfg, char *buf, size_t len);

/* Cancels the run (owner "" with keys off) named `run_id`: queued, it is
 * dropped and answered 499 `cancelled`; running, its worker is told to
 * interrupt it (and killed after --timeout-grace-ms if it does not stop);
 * done already, nothing happens. False when `owner` has no such live run. */
bool pool_cancel(struct pool *pool, const char *owner, const char *run_id);
/* The same for a job the caller holds (a client that went away). */
void pool_cancel_job(struct pool *pool, struct job *job, bool client_gone);

/* Every worker slot's process, and as many again still exiting. */
#define POOL_STATS_MAX_PIDS (2 * CONFIG_MAX_WORKERS)

struct pool_stats {
    int ready; /* booted and idle */
    int busy;  /* running a job */
    int total; /* worker slots */
    int queued;
    int sessions;                    /* sessions in the store */
    size_t session_bytes;            /* their images' bytes */
    pid_t pids[POOL_STATS_MAX_PIDS]; /* live workers */
    size_t n_pids;
    size_t runs;          /* runs submitted and not yet done (runs.h) */
    double oldest_run_ms; /* since the oldest of them was submitted */
};
void pool_stats(struct pool *pool, struct pool_stats *out);

/* argv for a worker: node [node args] <runtime-dir>/worker.mjs. The
 * announce callback runs on the dispatcher thread once every slot has a
 * ready worker for the first time. */
struct pool *pool_create(const struct config *cfg, const char *node_path,
                         void (*announce)(void *arg), void *announce_arg);
bool pool_start(struct pool *pool);

/* Stops taking jobs, fails queued ones (503 shutting_down), gives running
 * ones up to drain_ms, ends the workers and joins the dispatcher. Every
 * submitted job is done when this returns. */
void pool_shutdown(struct pool *pool, unsigned drain_ms);
void pool_destroy(struct pool *pool);

#endif
