/* What the pool's files share and nothing else sees (the pycore_*.h
 * pattern): the pool and its worker slots, the thread-identity asserts, and
 * the calls between
 *
 *   job.c           a job's life and its one ending (job_complete)
 *   pool.c          the public API: submit, cancel, stats, set-up, tear-down
 *   dispatch.c      the dispatcher thread's loop: queues, cancels, polling
 *   slot.c          one worker's state machine: spawn, frames, timers, exit
 *   session_jobs.c  the session requests the dispatcher serves itself, and
 *                   the images before and after a session's run
 *   wire.c          the worker messages as pure functions (wire.h)
 *
 * Threads: the dispatcher alone touches the slots, the session lines and the
 * store, and ends jobs; HTTP threads only submit, park, abandon and cancel.
 * The pool lock guards the fields of struct pool marked so; job fields follow
 * job.h's rules. */
#ifndef SCOPEBOX_POOL_PRIVATE_H
#define SCOPEBOX_POOL_PRIVATE_H

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "frame.h"
#include "job.h"
#include "metrics.h"
#include "pool.h"
#include "rsswatch.h"
#include "runs.h"
#include "session.h"
#include "worker.h"

/* A worker gets this long past a run's deadline to send the run's image. */
#define CAPTURE_GRACE_MS 5000.0
/* A worker killed with SIGKILL that has not been reaped this long after is
 * logged (once): only to warn, it stays in its slot until it goes. */
#define KILL_WARN_MS 5000.0
/* A session's lease outlives the longest its run can take by this much. */
#define LEASE_SLACK_MS 5000u

/* RESETTING: the run is answered, the worker is still wiping it (it says
 * `idle` when done; PROTOCOL.md); it gets no job until then. */
enum slot_state { SLOT_EMPTY, SLOT_BOOTING, SLOT_IDLE, SLOT_BUSY, SLOT_RESETTING, SLOT_EXITING };

struct slot {
    struct pool *pool;
    int index;
    enum slot_state state;
    struct worker_proc proc;
    struct frame_decoder dec;
    struct job *job; /* SLOT_BUSY only */
    /* SLOT_RESETTING only: the next stateless run, written behind the answer
     * of the last one and read by the worker only after its `idle`
     * (PROTOCOL.md, "idle"); it starts, and becomes `job`, at that `idle`. */
    struct job *next;
    size_t written; /* bytes of job->frame (or next->frame) already in the pipe */
    bool pipelines; /* RESETTING: it answered a stateless run (`next` may be written) */
    double spawned_at;
    double deadline;           /* BOOTING: boot, BUSY: run, RESETTING: reset, EXITING: kill */
    unsigned boot_ms;          /* BOOTING: its time to send ready (slot.c) */
    double respawn_at;         /* EMPTY */
    double idle_since;         /* IDLE: when it last became idle */
    unsigned failures;         /* consecutive failed starts */
    enum worker_exit exit_why; /* for metrics, once it is gone */
    /* The session whose state the worker holds after that session's run
     * (image version too): its next run needs no image, and no reset. */
    char resident[SESSION_ID_MAX + 1];
    uint64_t resident_version;
    unsigned ahead;      /* resident runs taken ahead of the queue in a row (dispatch.c) */
    bool awaiting_image; /* BUSY: the answer is in, its image is not */
    bool booted, killed, out_eof, err_eof, reap_warned;
    bool recycle;         /* it asked to be replaced once idle (sandbox) */
    unsigned runs;        /* jobs it has run, for --recycle-after-runs */
    double rss_read_at;   /* when --recycle-rss-mb last looked (slot.c) */
    struct rss_watch rss; /* BUSY: the memory backstop (rsswatch.h) */
    char line[1024];      /* stderr bytes not yet ending in a newline */
    size_t line_len;
};

struct pool {
    const struct config *cfg;
    char **argv;
    size_t argc;
    void (*announce)(void *arg);
    void *announce_arg;
    bool announced;
    int wake_fd;
    pthread_t thread;
    bool thread_started;
    struct slot *slots;
    int n_slots;
    int n_pool;
    atomic_uint_fast64_t next_id;
    struct sessions *sessions; /* dispatcher only, but for the store's stats */
    struct runs *runs;         /* the runs in progress, by id (runs.h) */
    char token[33];            /* this process, in lease tokens */
    double next_expiry;

    pthread_mutex_t lock; /* guards the fields below */
    pid_t *pids;          /* live workers, published for /metrics */
    size_t n_pids;
    struct job_queue queue;
    struct job_queue ctl;       /* session jobs, for the dispatcher to route */
    struct cancel_list cancels; /* runs to cancel, each with a reference */
    int ready, busy;
    bool stopping;
    double drain_deadline;
};

/* ---- thread identity -------------------------------------------------------
 * The asserts say who may call what where it matters (they are checked in
 * Debug and sanitizer builds, see cmake/sanitize.cmake). Before the
 * dispatcher starts and after it is joined the thread shutting the pool down
 * is the only one left, and may end jobs. */
extern _Thread_local bool pool_on_dispatcher_thread;
#define ASSERT_DISPATCHER(p) assert(pool_on_dispatcher_thread || !(p)->thread_started)
#define ASSERT_NOT_DISPATCHER() assert(!pool_on_dispatcher_thread)

/* ---- job.c (dispatcher thread) ---------------------------------------------- */

bool job_is_run(const struct job *job);
/* The one way a job ends: `result` (taken: the job owns it) with job->status
 * set, or NULL and `err` says why. Drops the pool's reference. */
void job_complete(struct job *job, json_t *result, const struct api_error *err);
/* job_complete with an error of `code`, answered with its status (errors.h) ... */
void job_fail(struct job *job, enum api_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* ... or with another. */
void job_fail_status(struct job *job, int status, enum api_code code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 499 for a run cancelled before it reached a worker. */
void job_fail_cancelled(struct job *job, double now);

/* ---- dispatch.c -------------------------------------------------------------- */

void *pool_dispatch(void *pool);
/* Answers queued jobs past the queue timeout, or all of them when stopping. */
void dispatch_expire_queue(struct pool *p, double now, bool stopping);

/* ---- slot.c (dispatcher thread) ---------------------------------------------- */

void slot_init(struct slot *s, struct pool *p, int index);
/* Timers of one slot: spawning, boot and run deadlines, reaping. */
void slot_tick(struct slot *s, double now, bool stopping, double drain_deadline);
void slot_read_stdout(struct slot *s, double now);
void slot_read_stderr(struct slot *s);
void slot_write_frame(struct slot *s, double now);
/* Hands an idle slot its job (framed already) and starts writing it. */
void slot_start_job(struct slot *s, struct job *job, double now);
/* A resetting worker that can take the next stateless run now (`next`). */
bool slot_takes_next(const struct slot *s);
/* Writes a stateless run behind the last one's answer; it starts at `idle`. */
void slot_queue_job(struct slot *s, struct job *job, double now);
/* Tells the worker to interrupt `job`, its run or its next one (a `cancel`
 * frame on fd 3). */
void slot_send_cancel(struct slot *s, struct job *job, double now);

/* ---- session_jobs.c (dispatcher thread) -------------------------------------- */

/* Routes the jobs of the control queue: answers those no worker is needed
 * for, puts the others in their session's line. */
void session_jobs_route(struct pool *p, bool stopping);
/* Ends sessions idle past --session-ttl-ms. */
void session_jobs_expire(struct pool *p, double now);
/* From job_complete: the session may take its next job. */
void session_job_done(struct pool *p, struct job *job, bool answered);
/* Frames a session's job for the worker in `s` (with its image unless the
 * worker holds that state). False when the job failed instead. */
bool session_job_frame(struct slot *s, struct job *job);
/* A GET's or an import's inspect answer (`msg`, borrowed): answers the job. */
void session_job_inspected(struct pool *p, struct job *job, const json_t *msg);
/* The image after a session's run or creation (`msg`, borrowed; `raw`, the
 * image it carried, decoded, taken): stores it and answers the job with
 * job->pending; once stored, the worker in `s` holds the session's state
 * (s->resident), set before the job ends. */
void session_job_captured(struct slot *s, struct job *job, const json_t *msg, uint8_t *raw,
                          size_t raw_len);

#endif
