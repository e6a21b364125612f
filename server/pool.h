/* The worker pool: a bounded FIFO of jobs and one dispatcher thread that owns
 * every worker process, writes run frames, reads result frames, enforces
 * deadlines and replaces workers that die. HTTP threads only submit jobs and
 * wait for them without blocking (see job_park). */
#ifndef SCOPEBOX_POOL_H
#define SCOPEBOX_POOL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "request.h"

struct pool;

enum job_kind {
    JOB_RUN,            /* a stateless run on any pool worker */
    JOB_SESSION_CREATE, /* a new session (from nothing, a scope, or an exported image) */
    JOB_SESSION_RUN,    /* a run in a session's state */
    JOB_SESSION_GET,    /* a session's scope */
    JOB_SESSION_DELETE, /* end a session */
    JOB_SESSION_LIST,   /* the caller's sessions, a page of them */
    JOB_SESSION_FORK,   /* a new session with another's state */
    JOB_SESSION_EXPORT, /* a session's signed image */
};

/* One run request, shared by the HTTP side and the dispatcher: reference
 * counted, freed by whichever lets go last. */
struct job {
    /* Set by the submitter before pool_submit, never changed after. */
    void (*suspend)(void *arg); /* called with the job lock held, see job_park */
    void (*resume)(void *arg);  /* called from the dispatcher, same lock */
    void *arg;
    enum job_kind kind;                 /* set by pool_submit */
    char session[SESSION_ID_MAX + 1];   /* the session it is about (CREATE: once done) */
    char owner[65];                     /* who asks ("" = anyone): sessions are theirs */
    unsigned owner_sessions;            /* API keys: the most live sessions `owner` may hold */
    /* Called on the dispatcher thread once the job is done (result or error
     * set), before its waiter is resumed: the HTTP side's accounting (a
     * key's run count, the crash limiter). Must be quick. NULL for none. */
    void (*on_done)(struct job *job);
    void *done_arg;
    char list_after[SESSION_ID_MAX + 1]; /* LIST: the page after this id */
    unsigned list_limit;                /* LIST: at most this many */
    /* Runs: the client's connection, watched by the dispatcher while the
     * run is queued or running so that a client that went away cancels its
     * run (-1: none; job_new's default). */
    int client_fd;

    /* Runs: stream its output as it is written (SSE, http.c): the worker
     * sends `output` frames, handed to on_output on the dispatcher thread
     * while the run is in flight (never after the job is done). */
    bool stream;
    void (*on_output)(void *arg, const char *stream, const char *text, size_t len);
    void *output_arg;

    /* Runs: the limits that apply (set by pool_submit): the request's,
     * capped by the server's, which they are when the request said none. */
    unsigned memory_mb, output_cap;
    bool memory_capped, output_capped;

    /* Runs: its id (the request's `run_id`, or made by pool_submit); set
     * before pool_submit returns, never changed after. */
    char run_id[RUN_ID_MAX + 1];
    /* Set once by pool_cancel_job (any thread); the dispatcher acts on it. */
    atomic_bool cancel;
    bool client_gone;       /* ... because its client disconnected */

    /* Written by the dispatcher before the job is done; read by the
     * submitter after job_park said it is done (the job lock orders it). */
    json_t *result;         /* the answer's body, or NULL ... */
    char *raw;              /* with a result from a worker: its answer as it wrote it,
                             * forwarded as is (http.c, rawjson.h); NULL otherwise */
    size_t raw_len;
    struct api_error error; /* ... and then this says why */
    int status;             /* with a result: 200, or 201 for a new session */
    bool timed;             /* with a result: it gets the host's timing */
    double queue_ms, run_ms;
    pid_t worker_pid;       /* 0 if it never reached a worker */
    bool worker_lost;       /* its worker died of it: crashed, broke the protocol, or was
                             * killed past the time limit (the crash limiter's input) */

    /* Private to pool.c. */
    struct pool *pool;
    uint64_t id;
    unsigned timeout_ms;    /* the run's limit, capped by the server's */
    uint8_t *frame;
    size_t frame_len;
    json_t *msg;            /* session jobs: the worker message, framed at dispatch */
    uint8_t *import;        /* CREATE from an export: the signed image */
    size_t import_len;
    json_t *pending;        /* a session run's answer, until its image is stored */
    uint64_t base_version;  /* the session's image version the run started from */
    bool capture, holds_line;
    bool cancel_sent;       /* the worker was told to stop it (a `cancel` frame) */
    struct job *cancel_next; /* the pool's list of cancels to act on */
    char lease[48];         /* its session's lease token, while held (shared stores) */
    unsigned attempts;
    double enqueued_at, started_at;
    struct job *next;
    pthread_mutex_t lock;
    bool done, parked;
    atomic_int refs;
};

struct job *job_new(void); /* one reference, the caller's */
void job_release(struct job *job);

/* The HTTP side, after a successful pool_submit: if the job is not done yet,
 * calls job->suspend under the job lock and returns true; the dispatcher
 * will call job->resume exactly once, later. If the job finished already,
 * returns false and the caller answers right away. Deciding under one lock
 * closes the window in which the job completes between submit and suspend. */
bool job_park(struct job *job);

/* The waiter is going away: never resume it. Returns whether the job is
 * done, i.e. whether its results may be read. */
bool job_abandon(struct job *job);

/* Queues a job of `kind` (encodes its worker message from `req`, which can be
 * freed after; NULL for the kinds without a body). `session` names the session for
 * the session kinds; a JOB_RUN whose request names a session becomes a
 * JOB_SESSION_RUN. On success the pool holds its own reference until the
 * job is done. On failure (queue full, shutting down, ...) fills `err`. */
bool pool_submit(struct pool *pool, struct job *job, enum job_kind kind, const char *session,
                 const struct run_request *req, struct api_error *err);

/* Cancels the run (owner "" with keys off) named `run_id`: queued, it is
 * dropped and answered 499 `cancelled`; running, its worker is told to
 * interrupt it (and killed after --timeout-grace-ms if it does not stop);
 * done already, nothing happens. False when `owner` has no such live run. */
bool pool_cancel(struct pool *pool, const char *owner, const char *run_id);
/* The same for a job the caller holds (a client that went away). */
void pool_cancel_job(struct pool *pool, struct job *job, bool client_gone);

#define POOL_STATS_MAX_PIDS 512 /* 256 workers, and those still exiting */

struct pool_stats {
    int ready; /* booted and idle */
    int busy;  /* running a job */
    int total; /* worker slots */
    int queued;
    int sessions; /* sessions in the store */
    size_t session_bytes; /* their images' bytes */
    pid_t pids[POOL_STATS_MAX_PIDS]; /* live workers */
    size_t n_pids;
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
