/* A job: one request the pool serves (a run, or a session operation), and
 * the one object that three threads share: the HTTP thread that submits and
 * answers it, the dispatcher that runs it, and any thread that cancels it.
 * Every rule about who may touch which part of it, and under which lock, is
 * here and nowhere else:
 *
 * - Lifetime: reference counted (`refs`, atomic), freed by whichever holder
 *   lets go last (job_release). Holders: the submitter (job_new's
 *   reference), the pool from pool_submit until the job is done
 *   (job_complete drops it), the runs registry while the run is live
 *   (runs.h), the cancel list until the dispatcher has acted on the cancel,
 *   the dispatcher's client watch for one loop turn, and runs_find's caller.
 * - The request part (callbacks, kind, session, owner, limits, run_id) is
 *   written by the submitter and pool_submit before the job is queued, and
 *   never after: any thread may read it.
 * - The answer part (result, raw, error, status, timing, worker_pid, ...) is
 *   written by the dispatcher before it marks the job done, and read by the
 *   submitter only once job_park or job_abandon said it is done: `done` and
 *   `parked` are read and written under `lock` only, which orders the two.
 * - `cancel` is set once, by any thread (pool_cancel_job; atomic); the
 *   dispatcher acts on it. `client_gone` is written by the thread that set
 *   `cancel`, before it lists the job for the dispatcher.
 * - The link fields belong to the list that holds the job: `next` to the
 *   pool's queue and control queue (pool lock) or to a session's line
 *   (dispatcher only); `cancel_next` to the cancel list (pool lock).
 * - The rest of the pool's part is the dispatcher's once the job is queued.
 * - job_complete, job->resume and job->on_done run on the dispatcher thread
 *   only (or on the thread shutting the pool down once the dispatcher has
 *   been joined); job_park and job_abandon never do. */
#ifndef SCOPEBOX_JOB_H
#define SCOPEBOX_JOB_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fifo.h"
#include "request.h"
#include "store.h"

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

struct job {
    /* The request part: set by the submitter before pool_submit. */
    void (*suspend)(void *arg); /* called with the job lock held, see job_park */
    void (*resume)(void *arg);  /* called from the dispatcher, same lock */
    void *arg;
    enum job_kind kind;                /* set by pool_submit */
    char session[SESSION_ID_MAX + 1];  /* the session it is about (CREATE: once done) */
    char owner[SESSION_OWNER_MAX + 1]; /* who asks ("" = anyone): sessions are theirs */
    unsigned owner_sessions;           /* API keys: the most live sessions `owner` may hold */
    /* Called on the dispatcher thread once the job is done (result or error
     * set), before its waiter is resumed: the HTTP side's accounting (a
     * key's run count, the crash limiter). Must be quick. NULL for none. */
    void (*on_done)(struct job *job);
    void *done_arg;
    char list_after[SESSION_ID_MAX + 1]; /* LIST: the page after this id */
    unsigned list_limit;                 /* LIST: at most this many */
    /* Runs: the client's connection, watched by the dispatcher while the
     * run is queued or running so that a client that went away cancels its
     * run (-1: none; job_new's default). */
    int client_fd;
    bool watched; /* its client is in the dispatcher's epoll set (dispatch.c; dispatcher only) */

    /* Runs: the submitter reads a result only as the worker's bytes (raw,
     * below; http.c's REST routes, not MCP): a stateless run's `result`
     * frame is then checked on its bytes and not parsed, and `result` holds
     * its "ok" alone. */
    bool raw_answer;

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
    /* Runs: when pool_submit took it, before it is registered (runs.h). */
    double submitted_at;
    /* Set once by pool_cancel_job (any thread); the dispatcher acts on it. */
    atomic_bool cancel;
    bool client_gone; /* ... because its client disconnected */

    /* The answer part: written by the dispatcher before the job is done. */
    json_t *result; /* the answer's body, or NULL ... */
    char *raw;      /* with a result from a worker: its answer as it wrote it,
                             * forwarded as is (http.c, rawjson.h); NULL otherwise */
    size_t raw_len;
    struct api_error error; /* ... and then this says why */
    int status;             /* with a result: 200, or 201 for a new session */
    bool timed;             /* with a result: it gets the host's timing */
    double queue_ms, run_ms;
    pid_t worker_pid; /* 0 if it never reached a worker */
    bool worker_lost; /* its worker died of it: crashed, broke the protocol, or was
                             * killed past the time limit (the crash limiter's input) */

    /* The pool's part (pool_private.h): the dispatcher's once queued. */
    struct pool *pool;
    uint64_t id;
    unsigned timeout_ms; /* the run's limit, capped by the server's */
    uint8_t *frame;
    size_t frame_len;
    json_t *msg;     /* session jobs: the worker message, framed at dispatch */
    uint8_t *import; /* CREATE from an export: the signed image */
    size_t import_len;
    json_t *pending;       /* a session run's answer, until its image is stored */
    uint64_t base_version; /* the session's image version the run started from */
    bool capture, holds_line;
    bool cancel_sent; /* the worker was told to stop it (a `cancel` frame) */
    char lease[48];   /* its session's lease token, while held (shared stores) */
    unsigned attempts;
    double enqueued_at, started_at;

    /* Links (see above for whose). */
    struct job *next;
    struct job *cancel_next;

    pthread_mutex_t lock; /* guards done and parked */
    bool done, parked;
    atomic_int refs;
};

/* The pool's queue, its control queue and each session's line. */
FIFO_DEFINE(job_queue, queue, struct job, next)
/* Runs to cancel, for the dispatcher to act on. */
FIFO_DEFINE(cancel_list, cancels, struct job, cancel_next)

struct job *job_new(void); /* one reference, the caller's */
/* Another reference to a job the caller holds one of. */
struct job *job_ref(struct job *job);
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

#endif
