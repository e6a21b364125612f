#define _GNU_SOURCE
#include "pool.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "rsswatch.h"
#include "runs.h"
#include "session.h"
#include "worker.h"

/* A worker that closed its stdout, sent `fatal`, or was asked to finish gets
 * this long to exit on its own before SIGKILL. */
#define EXIT_GRACE_MS 1000.0
#define STOP_GRACE_MS 2000.0
/* Failed starts are retried after 0.25 s, 0.5 s, 1 s, ... up to 30 s, so a
 * broken runtime does not turn into a fork loop. */
#define BACKOFF_BASE_MS 250.0
#define BACKOFF_MAX_MS 30000.0
/* A job whose worker died before reading it is retried, at most this often. */
#define MAX_ATTEMPTS 3
/* While a worker is exiting it is reaped by polling waitpid this often. */
#define REAP_POLL_MS 10.0
/* Upper bound on one poll() so timers never depend on an event arriving. */
#define MAX_SLEEP_MS 1000.0
/* Reads per descriptor per loop turn: one chatty worker cannot starve the
 * others. */
#define READS_PER_TURN 16
#define READ_CHUNK 65536
/* Runs that may wait in one session's line; more get 503. */
#define SESSION_QUEUE_MAX 16
/* A worker gets this long past a run's deadline to send the run's image. */
#define CAPTURE_GRACE_MS 5000.0
/* Idle sessions are looked for this often. */
#define EXPIRY_EVERY_MS 1000.0
#define EXPIRY_BATCH 256
#define LIST_MAX 1000

/* RESETTING: the run is answered, the worker is still wiping it (it says
 * `idle` when done; PROTOCOL.md); it gets no job until then. */
enum slot_state { SLOT_EMPTY, SLOT_BOOTING, SLOT_IDLE, SLOT_BUSY, SLOT_RESETTING, SLOT_EXITING };

struct pool;

struct slot {
    struct pool *pool;
    int index;
    enum slot_state state;
    struct worker_proc proc;
    struct frame_decoder dec;
    struct job *job;       /* SLOT_BUSY only */
    size_t written;        /* bytes of job->frame already in the pipe */
    double spawned_at;
    double deadline;       /* BOOTING: boot, BUSY: run, RESETTING: reset, EXITING: kill */
    double respawn_at;     /* EMPTY */
    double idle_since;     /* IDLE: when it last became idle */
    unsigned failures;     /* consecutive failed starts */
    enum worker_exit exit_why; /* for metrics, once it is gone */
    /* The session whose state the worker holds after that session's run
     * (image version too): its next run needs no image, and no reset. */
    char resident[SESSION_ID_MAX + 1];
    uint64_t resident_version;
    bool awaiting_image;   /* BUSY: the answer is in, its image is not */
    bool booted, killed, out_eof, err_eof, reap_warned;
    bool recycle;          /* it asked to be replaced once idle (sandbox) */
    unsigned runs;         /* jobs it has run, for --recycle-after-runs */
    struct rss_watch rss;  /* BUSY: the memory backstop (rsswatch.h) */
    char line[1024];       /* stderr bytes not yet ending in a newline */
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
    struct job_queue ctl; /* session jobs, for the dispatcher to route */
    struct job *cancels;  /* runs to cancel, through job->cancel_next, each with a reference */
    int ready, busy;
    bool stopping;
    double drain_deadline;
};

/* ---- thread identity -------------------------------------------------------
 * The dispatcher alone touches the slots, the session lines and the store,
 * and ends jobs; HTTP threads only submit, park and abandon. The asserts say
 * so where it matters (they are checked in Debug and sanitizer builds, see
 * cmake/sanitize.cmake). Before the dispatcher starts and after it is joined
 * the thread shutting the pool down is the only one left, and may end jobs. */
static _Thread_local bool on_dispatcher_thread;
#define ASSERT_DISPATCHER(p) assert(on_dispatcher_thread || !(p)->thread_started)
#define ASSERT_NOT_DISPATCHER() assert(!on_dispatcher_thread)

/* ---- jobs ----------------------------------------------------------------- */

struct job *job_new(void) {
    struct job *job = calloc(1, sizeof *job);
    if (job == NULL)
        return NULL;
    pthread_mutex_init(&job->lock, NULL);
    atomic_init(&job->refs, 1);
    atomic_init(&job->cancel, false);
    job->client_fd = -1;
    return job;
}

void job_release(struct job *job) {
    if (job == NULL || atomic_fetch_sub(&job->refs, 1) != 1)
        return;
    json_decref(job->result);
    free(job->raw);
    json_decref(job->msg);
    json_decref(job->pending);
    free(job->import);
    free(job->frame);
    pthread_mutex_destroy(&job->lock);
    free(job);
}

bool job_park(struct job *job) {
    bool wait;
    ASSERT_NOT_DISPATCHER();
    pthread_mutex_lock(&job->lock);
    wait = !job->done;
    if (wait) {
        job->parked = true;
        job->suspend(job->arg);
    }
    pthread_mutex_unlock(&job->lock);
    return wait;
}

bool job_abandon(struct job *job) {
    bool done;
    ASSERT_NOT_DISPATCHER();
    pthread_mutex_lock(&job->lock);
    job->parked = false;
    done = job->done;
    pthread_mutex_unlock(&job->lock);
    return done;
}

/* The one way a job ends. The result is published and the waiter resumed
 * under the job lock, so job_park sees either "not done" (and will be
 * resumed) or "done" (and answers itself), never a lost wake-up. */
static enum run_outcome outcome_of(const json_t *result, const struct api_error *err) {
    if (result != NULL)
        return json_is_true(json_object_get(result, "ok")) ? OUTCOME_OK : OUTCOME_ERROR;
    if (err == NULL)
        return OUTCOME_CRASHED;
    if (strcmp(err->code, ERR_TIMEOUT) == 0)
        return OUTCOME_TIMEOUT;
    if (strcmp(err->code, ERR_CANCELLED) == 0)
        return OUTCOME_CANCELLED;
    if (strcmp(err->code, ERR_WORKER_CRASHED) == 0 || strcmp(err->code, ERR_WORKER_PROTOCOL) == 0)
        return OUTCOME_CRASHED;
    if (err->status == 400)
        return OUTCOME_REJECTED;
    return OUTCOME_UNSERVED;
}

static void session_job_done(struct pool *p, struct job *job, bool answered);

static bool is_run(const struct job *job) {
    return job->kind == JOB_RUN || job->kind == JOB_SESSION_RUN;
}

static void job_complete(struct job *job, json_t *result, const struct api_error *err) {
    ASSERT_DISPATCHER(job->pool);
    assert(!job->done); /* a job ends once: it holds the pool's reference until then */
    if (is_run(job)) {
        enum run_outcome o = outcome_of(result, err);
        if (result != NULL && job->status == 504)
            o = OUTCOME_TIMEOUT;
        else if (result != NULL && job->status == 499)
            o = OUTCOME_CANCELLED;
        metrics_run(o, job->queue_ms, job->run_ms);
        /* Done: no cancel can find it any more, and its client is no
         * longer watched. */
        runs_remove(job->pool->runs, job);
    }
    if (job->holds_line)
        session_job_done(job->pool, job, result != NULL);
    pthread_mutex_lock(&job->lock);
    job->result = result;
    if (result == NULL && err != NULL)
        job->error = *err;
    else if (result == NULL)
        api_error_set(&job->error, 500, ERR_INTERNAL, "the job ended without an answer");
    job->done = true;
    if (job->on_done)
        job->on_done(job);
    if (job->parked) {
        job->parked = false;
        job->resume(job->arg);
    }
    pthread_mutex_unlock(&job->lock);
    job_release(job); /* the pool's reference */
}

static void job_fail(struct job *job, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void job_fail(struct job *job, int status, const char *code, const char *fmt, ...) {
    struct api_error err;
    va_list ap;
    err.status = status;
    err.code = code;
    va_start(ap, fmt);
    vsnprintf(err.message, sizeof err.message, fmt, ap);
    va_end(ap);
    job_complete(job, NULL, &err);
}

static void fail_cancelled(struct job *job, double now);

/* ---- submission (HTTP threads) --------------------------------------------- */

static void wake(struct pool *p) {
    uint64_t one = 1;
    /* Fails only when the counter is saturated, and then it is awake anyway. */
    (void)!write(p->wake_fd, &one, sizeof one);
}

/* A run's input and output fields go to the worker as the client sent
 * them (request.c checked them); absent ones stay absent. */
static json_t *with_run_io(json_t *msg, const struct run_request *req) {
    if (msg != NULL && ((req->stdin_text && json_object_set(msg, "stdin", (json_t *)req->stdin_text)) ||
                        (req->files && json_object_set(msg, "files", (json_t *)req->files)) ||
                        (req->collect && json_object_set(msg, "collect", (json_t *)req->collect)))) {
        json_decref(msg);
        return NULL;
    }
    return msg;
}

/* The worker message for a job (PROTOCOL.md, "Messages"); NULL for the
 * session jobs no worker sees. Session messages get their `image` (or
 * `persist`) when a worker is picked (start_session_job). */
static json_t *job_message(const struct pool *p, const struct job *job,
                           const struct run_request *req) {
    (void)p;
    switch (job->kind) {
    case JOB_RUN:
    case JOB_SESSION_RUN: {
        json_t *msg = with_run_io(
            json_pack("{s:s, s:I, s:O, s:s, s:O, s:O, s:O, s:I, s:I}", "type", "run",
                      "id", (json_int_t)job->id, "code", (json_t *)req->code, "mode",
                      run_mode_name(req->mode), "scope", (json_t *)req->scope, "dynamic",
                      (json_t *)req->dynamic, "return", (json_t *)req->ret, "timeout_ms",
                      (json_int_t)job->timeout_ms, "output_cap", (json_int_t)job->output_cap),
            req);
        /* Only when asked: otherwise the worker's own cap is the whole limit. */
        if (msg != NULL && req->memory_mb > 0)
            json_object_set_new(msg, "memory_mb", json_integer(job->memory_mb));
        if (msg != NULL && job->stream)
            json_object_set_new(msg, "stream", json_true());
        return msg;
    }
    case JOB_SESSION_CREATE:
        return json_pack("{s:s, s:I, s:O, s:I}", "type", "inspect", "id", (json_int_t)job->id,
                         "scope", (json_t *)req->scope, "timeout_ms", (json_int_t)job->timeout_ms);
    case JOB_SESSION_GET:
        return json_pack("{s:s, s:I, s:I}", "type", "inspect", "id", (json_int_t)job->id,
                         "timeout_ms", (json_int_t)job->timeout_ms);
    default:
        break;
    }
    return NULL;
}

static unsigned job_timeout(const struct config *cfg, const struct run_request *req) {
    unsigned ms = req && req->timeout_ms ? req->timeout_ms : cfg->timeout_ms;
    return ms < cfg->max_timeout_ms ? ms : cfg->max_timeout_ms;
}

/* A session creation from an export carries the signed image, decoded here
 * (on the HTTP thread) so that the dispatcher only checks it. */
static bool take_import(struct job *job, const struct run_request *req, struct api_error *err) {
    if (req == NULL || req->image == NULL)
        return true;
    job->import = base64_decode(json_string_value(req->image), json_string_length(req->image),
                                &job->import_len);
    if (job->import == NULL) {
        api_error_set(err, 400, ERR_INVALID_IMAGE, "field 'image' is not base64");
        return false;
    }
    return true;
}

bool pool_submit(struct pool *p, struct job *job, enum job_kind kind, const char *session,
                 const struct run_request *req, struct api_error *err) {
    char why[160];
    bool ok;

    ASSERT_NOT_DISPATCHER(); /* jobs come from HTTP threads, never from the loop */

    if (kind == JOB_RUN && req->session != NULL) {
        kind = JOB_SESSION_RUN;
        session = json_string_value(req->session);
    }
    job->kind = kind;
    job->pool = p;
    snprintf(job->session, sizeof job->session, "%s", session ? session : "");
    job->id = (uint64_t)atomic_fetch_add(&p->next_id, 1) + 1;
    job->timeout_ms = job_timeout(p->cfg, req);
    if (is_run(job)) {
        unsigned mem_cap = p->cfg->worker_heap_mb;
        long long out_cap = (long long)p->cfg->output_cap_bytes;
        job->memory_mb = req->memory_mb > 0 && req->memory_mb < mem_cap ? req->memory_mb : mem_cap;
        job->memory_capped = req->memory_mb > mem_cap;
        job->output_cap = (unsigned)(req->output_cap >= 0 && req->output_cap < out_cap ? req->output_cap : out_cap);
        job->output_capped = req->output_cap > out_cap;
        if (req->run_id != NULL)
            snprintf(job->run_id, sizeof job->run_id, "%s", json_string_value(req->run_id));
        else
            session_new_id(&(struct config){0}, job->run_id, sizeof job->run_id);
    }
    if (kind == JOB_SESSION_CREATE && !take_import(job, req, err))
        return false;
    if (kind == JOB_RUN || kind == JOB_SESSION_RUN || kind == JOB_SESSION_CREATE ||
        kind == JOB_SESSION_GET) {
        job->msg = job_message(p, job, req);
        if (job->msg == NULL) {
            api_error_set(err, 500, ERR_INTERNAL, "cannot build the worker message");
            return false;
        }
    }
    if (kind == JOB_RUN) {
        ok = frame_encode(job->msg, &job->frame, &job->frame_len, why, sizeof why);
        json_decref(job->msg);
        job->msg = NULL;
        if (!ok) {
            api_error_set(err, 413, ERR_BODY_TOO_LARGE,
                          "request does not fit in a worker frame: %s", why);
            return false;
        }
    }

    /* Registered before it is queued, so that a cancel can never miss it. */
    if (is_run(job) && !runs_add(p->runs, job)) {
        api_error_set(err, 409, ERR_RUN_ID_IN_USE,
                      "run_id '%s' names a run of yours that is still in progress", job->run_id);
        free(job->frame);
        job->frame = NULL;
        return false;
    }
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        api_error_set(err, 503, ERR_SHUTTING_DOWN, "the server is shutting down");
        goto fail;
    }
    job->enqueued_at = clock_ms();
    job->next = NULL;
    if (kind != JOB_RUN) {
        /* Sessions are the dispatcher's to look up; it bounds their lines. */
        atomic_fetch_add(&job->refs, 1);
        queue_push(&p->ctl, job);
        pthread_mutex_unlock(&p->lock);
        wake(p);
        return true;
    }
    /* Idle workers take jobs straight off the queue: the bound is on jobs
     * that would have to wait. */
    if (p->queue.n >= (int)p->cfg->queue_size + p->ready) {
        int queued = p->queue.n;
        pthread_mutex_unlock(&p->lock);
        api_error_set(err, 503, ERR_QUEUE_FULL,
                      "all workers are busy and %d requests are already waiting", queued);
        goto fail;
    }
    atomic_fetch_add(&job->refs, 1); /* the pool's, dropped in job_complete */
    queue_push(&p->queue, job);
    pthread_mutex_unlock(&p->lock);
    wake(p);
    return true;

fail:
    if (is_run(job))
        runs_remove(p->runs, job);
    free(job->frame);
    job->frame = NULL;
    return false;
}

void pool_cancel_job(struct pool *p, struct job *job, bool client_gone) {
    if (atomic_exchange(&job->cancel, true))
        return; /* asked already */
    job->client_gone = client_gone;
    atomic_fetch_add(&job->refs, 1); /* the cancel list's */
    pthread_mutex_lock(&p->lock);
    job->cancel_next = p->cancels;
    p->cancels = job;
    pthread_mutex_unlock(&p->lock);
    wake(p);
}

bool pool_cancel(struct pool *p, const char *owner, const char *run_id) {
    struct job *job = runs_find(p->runs, owner, run_id);
    if (job == NULL)
        return false;
    pool_cancel_job(p, job, false);
    job_release(job);
    return true;
}

void pool_stats(struct pool *p, struct pool_stats *out) {
    size_t sessions, bytes;
    store_stats(sessions_store(p->sessions), &sessions, &bytes);
    pthread_mutex_lock(&p->lock);
    out->ready = p->ready;
    out->busy = p->busy;
    out->total = p->n_pool;
    out->queued = p->queue.n;
    out->sessions = (int)sessions;
    out->session_bytes = bytes;
    out->n_pids = p->n_pids < POOL_STATS_MAX_PIDS ? p->n_pids : POOL_STATS_MAX_PIDS;
    memcpy(out->pids, p->pids, out->n_pids * sizeof *out->pids);
    pthread_mutex_unlock(&p->lock);
}

/* ---- worker life cycle (dispatcher thread only) ---------------------------- */

static void flush_stderr_line(struct slot *s) {
    char clean[sizeof s->line + 1];
    if (s->line_len == 0)
        return;
    log_sanitize(clean, sizeof clean, s->line, s->line_len);
    log_msg("worker %d: %s", (int)s->proc.pid, clean);
    s->line_len = 0;
}

static void read_stderr(struct slot *s) {
    char buf[8192];
    for (int turn = 0; turn < READS_PER_TURN && !s->err_eof; turn++) {
        ssize_t n = read(s->proc.err_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            s->err_eof = true;
            flush_stderr_line(s);
            return;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                flush_stderr_line(s);
            } else {
                if (s->line_len == sizeof s->line)
                    flush_stderr_line(s); /* an endless line: log it in pieces */
                s->line[s->line_len++] = buf[i];
            }
        }
    }
}

static double backoff_ms(unsigned failures) {
    double d = BACKOFF_BASE_MS;
    for (unsigned i = 1; i < failures && d < BACKOFF_MAX_MS; i++)
        d *= 2;
    return d < BACKOFF_MAX_MS ? d : BACKOFF_MAX_MS;
}

/* A run starts only once the worker has read its whole frame; bytes still
 * in the pipe (FIONREAD works on the write end too) were never read. This
 * is what makes a worker killed while idle harmless: the job that was
 * handed to it in the meantime is provably untouched and can go elsewhere. */
static bool job_untouched(const struct slot *s) {
    int unread = 0;
    if (s->written < s->job->frame_len)
        return true;
    return s->proc.in_fd >= 0 && ioctl(s->proc.in_fd, FIONREAD, &unread) == 0 && unread > 0;
}

static void requeue_front(struct pool *p, struct job *job) {
    pthread_mutex_lock(&p->lock);
    queue_push_front(&p->queue, job);
    pthread_mutex_unlock(&p->lock);
}

/* Ends a worker: fails its job, if any, with `err` (or, if the worker died
 * or misbehaved before reading it, puts it back at the head of the queue),
 * and either kills the worker now or asks it to finish by closing its
 * stdin. It stays in the slot until reaped, so its pid and stderr remain
 * accounted for. */
static void retire(struct slot *s, double now, bool kill_now, const struct api_error *err) {
    if (s->job) {
        struct job *job = s->job;
        /* Never for timeouts or shutdown: those are about the client's time. */
        bool retry = err != NULL && (strcmp(err->code, ERR_WORKER_CRASHED) == 0 ||
                                     strcmp(err->code, ERR_WORKER_PROTOCOL) == 0);
        retry = retry && job->attempts < MAX_ATTEMPTS && job_untouched(s);
        s->job = NULL;
        s->resident[0] = '\0';
        s->awaiting_image = false;
        if (retry) {
            log_msg("worker %d: gone before reading run %llu; it goes back to the queue",
                    (int)s->proc.pid, (unsigned long long)job->id);
            job->worker_pid = 0;
            requeue_front(s->pool, job);
        } else {
            job->run_ms = now - job->started_at;
            /* Timeouts get here only when the worker had to be killed. */
            job->worker_lost = err != NULL && (strcmp(err->code, ERR_WORKER_CRASHED) == 0 ||
                                               strcmp(err->code, ERR_WORKER_PROTOCOL) == 0 ||
                                               strcmp(err->code, ERR_TIMEOUT) == 0);
            job_complete(job, NULL, err);
        }
    }
    if (kill_now) {
        worker_kill(&s->proc);
        s->killed = true;
        s->deadline = now + 5000; /* only to warn if it will not go */
    } else {
        s->deadline = now + EXIT_GRACE_MS;
    }
    worker_close_stdin(&s->proc);
    s->state = SLOT_EXITING;
}

/* ---- sessions (dispatcher thread only) ------------------------------------
 * A session is its signed image in the store (session.c, store.c); its runs
 * are served by the pool's workers like stateless ones, one at a time and in
 * order (each session's line), with the image applied before the run and
 * captured after it. A worker keeps the state of the session it just ran
 * (slot->resident) until it must serve someone else, so consecutive runs of
 * one session skip the apply and the reset. */

static double wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void fail_unknown_session(struct pool *p, struct job *job) {
    const char *why = sessions_why(p->sessions, job->session);
    if (why != NULL)
        job_fail(job, 404, ERR_SESSION_NOT_FOUND, "session '%s' %s", job->session, why);
    else
        job_fail(job, 404, ERR_SESSION_NOT_FOUND, "no session '%s' (never created, or ended long ago)",
                 job->session);
}

/* A session the caller may use: it exists and is theirs. */
static bool session_lookup(struct pool *p, struct job *job, struct session_meta *meta) {
    if (store_get(sessions_store(p->sessions), job->session, meta, NULL) != STORE_OK ||
        (job->owner[0] && strcmp(meta->owner, job->owner) != 0)) {
        fail_unknown_session(p, job);
        return false;
    }
    return true;
}

static void fail_store(struct job *job, enum store_result r, const char *what) {
    if (r == STORE_FULL)
        job_fail(job, 503, ERR_TOO_MANY_SESSIONS,
                 "the session store is full (sessions or bytes): end one (DELETE) or retry later");
    else if (r == STORE_NOT_FOUND)
        job_fail(job, 404, ERR_SESSION_NOT_FOUND, "session '%s' was deleted while %s",
                 job->session, what);
    else
        job_fail(job, 500, ERR_INTERNAL, "the session store failed while %s", what);
}

static json_t *session_summary(const struct pool *p, const struct session_meta *m) {
    char created[32], used[32];
    time_t t;
    struct tm tm;
    t = (time_t)(m->created_ms / 1000);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    t = (time_t)(m->used_ms / 1000);
    strftime(used, sizeof used, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "id", m->id, "created", created,
                     "last_used", used, "runs", (json_int_t)m->runs, "image_bytes",
                     (json_int_t)m->image_len, "idle_ttl_ms", (json_int_t)p->cfg->session_ttl_ms);
}

static void answer(struct job *job, int status, json_t *body) {
    if (body == NULL) {
        job_fail(job, 500, ERR_INTERNAL, "out of memory");
        return;
    }
    job->status = status;
    job_complete(job, body, NULL);
}

/* The session's next waiting job goes to the pool's queue, unless one of
 * its jobs is already there or running. */
static void line_advance(struct pool *p, struct session_line *line) {
    struct job *job;
    if (line->running || (job = queue_pop(&line->waiting)) == NULL) {
        sessions_line_release(p->sessions, line);
        return;
    }
    line->running = true;
    job->holds_line = true;
    pthread_mutex_lock(&p->lock);
    queue_push(&p->queue, job);
    pthread_mutex_unlock(&p->lock);
}

static void line_push(struct pool *p, struct job *job) {
    struct session_line *line = sessions_line(p->sessions, job->session, true);
    if (line == NULL) {
        job_fail(job, 500, ERR_INTERNAL, "out of memory");
        return;
    }
    if (line->waiting.n >= SESSION_QUEUE_MAX) {
        job_fail(job, 503, ERR_QUEUE_FULL, "session '%s' already has %d runs waiting",
                 job->session, line->waiting.n);
        sessions_line_release(p->sessions, line);
        return;
    }
    queue_push(&line->waiting, job);
    line_advance(p, line);
}

/* From job_complete: the session may take its next job. A creation that did
 * not answer leaves no session behind: the client never saw its id. */
static void session_job_done(struct pool *p, struct job *job, bool answered) {
    struct session_line *line = sessions_line(p->sessions, job->session, false);
    job->holds_line = false;
    if (job->lease[0]) {
        store_lease(sessions_store(p->sessions), job->session, job->lease, 0, false);
        job->lease[0] = '\0';
    }
    if (job->kind == JOB_SESSION_CREATE && !answered)
        store_delete(sessions_store(p->sessions), job->session);
    if (line != NULL) {
        line->running = false;
        line_advance(p, line);
    }
}

/* API keys: a key at its session limit gets 429 (its own limit, not the
 * server's). With keys off owner_sessions is 0 and nothing is counted. */
static bool owner_at_limit(struct pool *p, struct job *job) {
    struct session_meta *page;
    size_t n;
    if (job->owner[0] == '\0')
        return false;
    page = calloc((size_t)job->owner_sessions + 1, sizeof *page);
    if (page == NULL)
        return false;
    n = store_list(sessions_store(p->sessions), job->owner, "", page, job->owner_sessions + 1);
    free(page);
    if (n < job->owner_sessions)
        return false;
    job_fail(job, 429, ERR_KEY_SESSION_LIMIT,
             "key '%s' has %zu live sessions, its limit: end one (DELETE) first", job->owner, n);
    return true;
}

static void session_create(struct pool *p, struct job *job) {
    struct store *st = sessions_store(p->sessions);
    struct session_meta meta;
    const uint8_t *image = NULL;
    size_t image_len = 0;
    enum store_result r;

    if (job->import != NULL) {
        image = session_verify(p->sessions, job->import, job->import_len, &image_len);
        if (image == NULL) {
            job_fail(job, 400, ERR_INVALID_IMAGE,
                     "the image's signature does not match: it was not exported by a server "
                     "with this session key, or it was changed");
            return;
        }
        if (!sessions_image_compatible(p->sessions, image, image_len)) {
            job_fail(job, 409, ERR_SESSION_INCOMPATIBLE,
                     "the image was taken on another build of the interpreter; it cannot be "
                     "resumed here");
            return;
        }
    }
    if (owner_at_limit(p, job))
        return;
    memset(&meta, 0, sizeof meta);
    session_new_id(p->cfg, meta.id, sizeof meta.id);
    snprintf(meta.owner, sizeof meta.owner, "%s", job->owner);
    meta.created_ms = meta.used_ms = wall_ms();
    /* An empty image is a new session's: pristine, seeded at its first run. */
    r = store_put(st, &meta, job->import, job->import ? job->import_len : 0, true);
    if (r != STORE_OK) {
        fail_store(job, r, "creating it");
        return;
    }
    snprintf(job->session, sizeof job->session, "%s", meta.id);
    /* Nothing to run: answered at once, no worker involved. */
    if (job->import == NULL && json_object_size(json_object_get(job->msg, "scope")) == 0) {
        json_t *body = json_pack("{s:s, s:{}, s:{}, s:I, s:i}", "id", meta.id, "scope",
                                 "definitions", "idle_ttl_ms",
                                 (json_int_t)p->cfg->session_ttl_ms, "runs", 0);
        answer(job, 201, body);
        return;
    }
    /* A scope to decode (Python's business), or an import to describe. */
    job->capture = job->import == NULL;
    line_push(p, job);
}

static void session_delete(struct pool *p, struct job *job) {
    struct session_meta meta;
    struct session_line *line;
    struct job *waiting;

    if (!session_lookup(p, job, &meta))
        return;
    if (store_delete(sessions_store(p->sessions), job->session) != STORE_OK) {
        job_fail(job, 500, ERR_INTERNAL, "the session store failed while deleting it");
        return;
    }
    sessions_ended(p->sessions, job->session, "was deleted");
    line = sessions_line(p->sessions, job->session, false);
    if (line != NULL) {
        waiting = queue_take_all(&line->waiting);
        while (waiting != NULL) {
            struct job *next = waiting->next;
            job_fail(waiting, 404, ERR_SESSION_NOT_FOUND, "session '%s' was deleted", job->session);
            waiting = next;
        }
        sessions_line_release(p->sessions, line);
    }
    answer(job, 200, json_pack("{s:b, s:s}", "ok", 1, "id", job->session));
}

static void session_list(struct pool *p, struct job *job) {
    unsigned limit = job->list_limit ? job->list_limit : 100;
    struct session_meta *page;
    json_t *items, *body;
    size_t n;

    if (limit > LIST_MAX)
        limit = LIST_MAX;
    page = calloc((size_t)limit + 1, sizeof *page);
    items = json_array();
    if (page == NULL || items == NULL) {
        free(page);
        json_decref(items);
        job_fail(job, 500, ERR_INTERNAL, "out of memory");
        return;
    }
    n = store_list(sessions_store(p->sessions), job->owner, job->list_after, page, limit + 1);
    for (size_t i = 0; i < n && i < limit; i++)
        json_array_append_new(items, session_summary(p, &page[i]));
    body = json_pack("{s:o, s:o}", "sessions", items, "next",
                     n > limit ? json_string(page[limit - 1].id) : json_null());
    free(page);
    answer(job, 200, body);
}

/* The session's signed image, checked: an image edited in the store is never
 * handed on (nor to a worker, start_session_job). */
static bool session_image(struct pool *p, struct job *job, struct session_meta *meta,
                          uint8_t **signed_image) {
    size_t len;
    enum store_result r = store_get(sessions_store(p->sessions), job->session, meta, signed_image);
    if (r != STORE_OK) {
        fail_store(job, r, "reading it");
        return false;
    }
    if (meta->image_len > 0 &&
        session_verify(p->sessions, *signed_image, meta->image_len, &len) == NULL) {
        free(*signed_image);
        *signed_image = NULL;
        job_fail(job, 409, ERR_INVALID_IMAGE,
                 "session '%s': its stored image fails its signature check (changed in the "
                 "store?) and is refused", job->session);
        return false;
    }
    return true;
}

static void session_fork(struct pool *p, struct job *job) {
    struct session_meta meta, copy;
    uint8_t *image = NULL;
    enum store_result r;
    json_t *body;

    if (!session_lookup(p, job, &meta) || !session_image(p, job, &meta, &image))
        return;
    copy = meta;
    session_new_id(p->cfg, copy.id, sizeof copy.id);
    copy.created_ms = copy.used_ms = wall_ms();
    r = store_put(sessions_store(p->sessions), &copy, image, meta.image_len, true);
    free(image);
    if (r != STORE_OK) {
        fail_store(job, r, "forking it");
        return;
    }
    body = session_summary(p, &copy);
    if (body)
        json_object_set_new(body, "forked_from", json_string(meta.id));
    snprintf(job->session, sizeof job->session, "%s", copy.id);
    answer(job, 201, body);
}

static void session_export(struct pool *p, struct job *job) {
    struct session_meta meta;
    uint8_t *image = NULL;
    char *text;
    size_t len = 0;
    json_t *body;

    if (!session_lookup(p, job, &meta) || !session_image(p, job, &meta, &image))
        return;
    if (meta.image_len == 0) {
        /* Never run: there is no state to carry yet. */
        job_fail(job, 409, ERR_INVALID_IMAGE,
                 "session '%s' has not run yet: there is no image to export", job->session);
        return;
    }
    text = base64_encode(image, meta.image_len, &len);
    free(image);
    body = text ? session_summary(p, &meta) : NULL;
    if (body)
        json_object_set_new(body, "image", json_stringn(text, len));
    free(text);
    answer(job, 200, body);
}

/* Session jobs arrive on the control queue; routing them is the only place
 * session ids are looked up, so no lock guards the sessions themselves. */
static void route_session_jobs(struct pool *p, bool stopping) {
    struct job *job, *list;
    struct session_meta meta;

    ASSERT_DISPATCHER(p);

    pthread_mutex_lock(&p->lock);
    list = queue_take_all(&p->ctl);
    pthread_mutex_unlock(&p->lock);

    while ((job = list) != NULL) {
        list = job->next;
        job->next = NULL;
        if (stopping) {
            job_fail(job, 503, ERR_SHUTTING_DOWN, "the server is shutting down");
            continue;
        }
        switch (job->kind) {
        case JOB_SESSION_CREATE:
            session_create(p, job);
            break;
        case JOB_SESSION_DELETE:
            session_delete(p, job);
            break;
        case JOB_SESSION_LIST:
            session_list(p, job);
            break;
        case JOB_SESSION_FORK:
            session_fork(p, job);
            break;
        case JOB_SESSION_EXPORT:
            session_export(p, job);
            break;
        default: /* runs and GET: on a worker, in the session's line */
            if (atomic_load(&job->cancel))
                fail_cancelled(job, clock_ms());
            else if (session_lookup(p, job, &meta)) {
                store_touch(sessions_store(p->sessions), job->session, wall_ms());
                job->capture = job->kind == JOB_SESSION_RUN;
                line_push(p, job);
            }
            break;
        }
    }
}

/* Sessions idle past --session-ttl-ms end (not those with requests). */
static void expire_sessions(struct pool *p, double now) {
    char (*ids)[SESSION_ID_MAX + 1];
    char why[96];
    size_t n;

    if (now < p->next_expiry)
        return;
    p->next_expiry = now + EXPIRY_EVERY_MS;
    ids = malloc(EXPIRY_BATCH * sizeof *ids);
    if (ids == NULL)
        return;
    n = store_idle(sessions_store(p->sessions), wall_ms() - p->cfg->session_ttl_ms, ids,
                   EXPIRY_BATCH);
    snprintf(why, sizeof why, "expired after %u ms idle", p->cfg->session_ttl_ms);
    for (size_t i = 0; i < n; i++) {
        if (sessions_line(p->sessions, ids[i], false) != NULL)
            continue;
        if (store_delete(sessions_store(p->sessions), ids[i]) == STORE_OK)
            sessions_ended(p->sessions, ids[i], why);
    }
    free(ids);
}

static void retire_with(struct slot *s, double now, bool kill_now, int status, const char *code,
                        const char *msg) {
    struct api_error err;
    api_error_set(&err, status, code, "%s", msg);
    retire(s, now, kill_now, &err);
}

static void protocol_error(struct slot *s, double now, const char *why) {
    log_msg("worker %d: protocol error: %s; killing it", (int)s->proc.pid, why);
    s->exit_why = EXIT_PROTOCOL;
    retire_with(s, now, true, 500, ERR_WORKER_PROTOCOL,
                "the worker broke the protocol and was replaced");
}

/* Called once waitpid has the worker: closes what is left and schedules the
 * slot's next worker. */
static void finish_exit(struct pool *p, struct slot *s, int status, double now) {
    char how[96];
    bool stopping;

    if (!s->err_eof)
        read_stderr(s); /* its last words, often the reason it died */
    flush_stderr_line(s);
    worker_close_fds(&s->proc);
    frame_decoder_free(&s->dec);
    log_msg("worker %d %s", (int)s->proc.pid, worker_describe_status(status, how, sizeof how));
    metrics_worker_exited(!s->booted && s->exit_why == EXIT_CRASH ? EXIT_BOOT : s->exit_why);

    pthread_mutex_lock(&p->lock);
    stopping = p->stopping;
    pthread_mutex_unlock(&p->lock);

    s->state = SLOT_EMPTY;
    s->proc.pid = 0;
    s->resident[0] = '\0';
    if (s->booted) {
        s->failures = 0;
        s->respawn_at = now;
    } else {
        s->failures++;
        s->respawn_at = now + backoff_ms(s->failures);
        if (!stopping)
            log_msg("worker slot %d: failed to start %u time(s) in a row; retrying in %.2f s",
                    s->index, s->failures, backoff_ms(s->failures) / 1000.0);
    }
    s->booted = false;
}

static void spawn(struct pool *p, struct slot *s, double now) {
    memset(&s->proc, 0, sizeof s->proc);
    s->proc.in_fd = s->proc.out_fd = s->proc.err_fd = s->proc.ctl_fd = -1;
    if (!worker_spawn(p->argv, &s->proc)) {
        s->failures++;
        s->respawn_at = now + backoff_ms(s->failures);
        log_msg("worker slot %d: cannot start %s: %s; retrying in %.2f s", s->index, p->argv[0],
                strerror(errno), backoff_ms(s->failures) / 1000.0);
        return;
    }
    frame_decoder_init(&s->dec);
    metrics_worker_started();
    s->exit_why = EXIT_CRASH; /* until a reason to end it is known */
    s->state = SLOT_BOOTING;
    s->spawned_at = now;
    s->deadline = now + p->cfg->boot_timeout_ms;
    s->job = NULL;
    s->written = 0;
    s->booted = s->killed = s->out_eof = s->err_eof = s->reap_warned = false;
    s->recycle = false;
    s->resident[0] = '\0';
    s->awaiting_image = false;
    s->runs = 0;
    s->line_len = 0;
    log_msg("worker slot %d: started pid %d", s->index, (int)s->proc.pid);
}

static const char *str_member(const json_t *msg, const char *key, char *buf, size_t len) {
    const json_t *v = json_object_get(msg, key);
    if (json_is_string(v))
        return log_sanitize(buf, len, json_string_value(v), json_string_length(v));
    if (json_is_number(v)) {
        snprintf(buf, len, "%.0f", json_number_value(v));
        return buf;
    }
    return "?";
}

static void on_ready(struct slot *s, const json_t *msg, double now) {
    char py[32], pyo[32], dyn[32], boot[32];
    sessions_set_fingerprint(s->pool->sessions, json_string_value(json_object_get(msg, "fingerprint")));
    s->state = SLOT_IDLE;
    s->idle_since = now;
    s->booted = true;
    s->failures = 0;
    log_msg("worker %d ready after %.0f ms (boot_ms %s, %s; python %s, pyodide %s, dynscope %s)",
            (int)s->proc.pid, now - s->spawned_at, str_member(msg, "boot_ms", boot, sizeof boot),
            json_is_true(json_object_get(msg, "snapshot")) ? "from snapshot" : "cold",
            str_member(msg, "python", py, sizeof py), str_member(msg, "pyodide", pyo, sizeof pyo),
            str_member(msg, "dynscope", dyn, sizeof dyn));
}

/* Keys the HTTP answer promises; a worker that leaves one out is broken. */
static const char *const result_keys[] = {"ok", "result", "stdout", "stderr", "error", "scope"};
static const char *const inspect_keys[] = {"scope", "definitions"};

static bool has_keys(struct slot *s, json_t *msg, const char *const *keys, size_t n, double now) {
    char why[160];
    for (size_t i = 0; i < n; i++) {
        if (json_object_get(msg, keys[i]) == NULL) {
            snprintf(why, sizeof why, "result without \"%s\"", keys[i]);
            json_decref(msg);
            protocol_error(s, now, why);
            return false;
        }
    }
    return true;
}

/* The answer to the job in flight must carry its id. */
static bool answers_job(struct slot *s, json_t *msg, double now) {
    const json_t *id = json_object_get(msg, "id");
    char why[160];
    if (json_is_integer(id) && (uint64_t)json_integer_value(id) == s->job->id)
        return true;
    if (json_is_integer(id))
        snprintf(why, sizeof why, "answer for id %" JSON_INTEGER_FORMAT " while running id %llu",
                 json_integer_value(id), (unsigned long long)s->job->id);
    else
        snprintf(why, sizeof why, "answer without an integer \"id\"");
    json_decref(msg);
    protocol_error(s, now, why);
    return false;
}

/* The job in flight is over and the worker is free again. */
/* A pool worker is replaced after so many runs or past an RSS ceiling: the
 * wasm heap never shrinks, and a long-lived process only accumulates.
 * Checked after each run, acted on while idle (tick). */
static void check_recycle(struct slot *s) {
    const struct config *cfg = s->pool->cfg;
    long long rss;
    if (s->recycle)
        return;
    if (cfg->recycle_after_runs > 0 && s->runs >= cfg->recycle_after_runs) {
        log_msg("worker %d: recycled after %u runs", (int)s->proc.pid, s->runs);
        s->recycle = true;
    } else if (cfg->recycle_rss_mb > 0 &&
               (rss = worker_rss_bytes(s->proc.pid) >> 20) > (long long)cfg->recycle_rss_mb) {
        log_msg("worker %d: recycled at %lld MiB resident (ceiling %u)", (int)s->proc.pid, rss,
                cfg->recycle_rss_mb);
        s->recycle = true;
    }
}

static struct job *take_job(struct slot *s, double now) {
    struct job *job = s->job;
    assert(s->state == SLOT_BUSY && job != NULL);
    s->job = NULL;
    s->state = SLOT_RESETTING;
    s->deadline = now + s->pool->cfg->timeout_grace_ms;
    job->run_ms = now - job->started_at;
    s->awaiting_image = false;
    s->runs++;
    check_recycle(s);
    return job;
}

/* A session's answer: the inspect of a GET or of a creation, or a run. */
static json_t *session_body(struct slot *s, struct job *job, json_t *msg, unsigned runs) {
    if (job->kind == JOB_SESSION_RUN) {
        json_object_del(msg, "type");
        json_object_del(msg, "id");
        json_object_del(msg, "timing");
        return json_incref(msg);
    }
    return json_pack("{s:s, s:O, s:O, s:I, s:I}", "id", job->session, "scope",
                     json_object_get(msg, "scope"), "definitions", json_object_get(msg, "definitions"),
                     "idle_ttl_ms", (json_int_t)s->pool->cfg->session_ttl_ms, "runs",
                     (json_int_t)runs);
}

/* `payload` is the frame's bytes: kept on the job (its floats as Python
 * wrote them) and taken, i.e. set to NULL, once the job has it. */
static void on_result(struct slot *s, json_t *msg, uint8_t **payload, size_t len, double now) {
    struct job *job;
    json_t *body;
    bool inspect;

    if (!answers_job(s, msg, now))
        return;
    inspect = s->job->kind == JOB_SESSION_CREATE || s->job->kind == JOB_SESSION_GET;
    if (inspect && !has_keys(s, msg, inspect_keys, 2, now))
        return;
    if (!inspect) {
        if (!has_keys(s, msg, result_keys, sizeof result_keys / sizeof result_keys[0], now))
            return;
        if (!json_is_boolean(json_object_get(msg, "ok"))) {
            json_decref(msg);
            protocol_error(s, now, "result member \"ok\" is not a boolean");
            return;
        }
    }
    s->job->raw = (char *)*payload;
    s->job->raw_len = len;
    *payload = NULL;
    if (s->job->capture) {
        /* Answered only once its image is stored (on_image). */
        s->job->pending = msg;
        s->awaiting_image = true;
        s->deadline += CAPTURE_GRACE_MS;
        return;
    }
    if (s->job->kind == JOB_SESSION_GET) {
        struct session_meta meta;
        job = take_job(s, now);
        /* The worker holds the session's state, as it was (inspect changes nothing). */
        snprintf(s->resident, sizeof s->resident, "%s", job->session);
        s->resident_version = job->base_version;
        meta.runs = 0;
        store_get(sessions_store(s->pool->sessions), job->session, &meta, NULL);
        body = session_body(s, job, msg, meta.runs);
        json_decref(msg);
        job->status = 200;
        job_complete(job, body, NULL);
        return;
    }
    if (s->job->kind == JOB_SESSION_CREATE) { /* from an export: described, not changed */
        job = take_job(s, now);
        snprintf(s->resident, sizeof s->resident, "%s", job->session);
        s->resident_version = job->base_version;
        body = session_body(s, job, msg, 0);
        json_decref(msg);
        job->status = 201;
        job_complete(job, body, NULL);
        return;
    }
    json_object_del(msg, "type");
    json_object_del(msg, "id");
    /* The host's timing is appended to the answer; a worker's own would
     * become a duplicate key. */
    json_object_del(msg, "timing");
    job = take_job(s, now);
    job->status = 200;
    job->timed = true;
    job_complete(job, msg, NULL);
}

/* The image after a session's run or creation: signed, stored if the
 * session is still at the version the run started from (compare-and-set),
 * and only then is the run answered. On any failure the session keeps the
 * image from before the run. */
static void on_image(struct slot *s, json_t *msg, double now) {
    struct pool *p = s->pool;
    struct store *st = sessions_store(p->sessions);
    const json_t *text = json_object_get(msg, "image");
    struct session_meta meta;
    struct job *job;
    uint8_t *raw = NULL, *signed_image = NULL;
    size_t raw_len = 0, signed_len = 0;
    enum store_result r;
    json_t *body;

    if (!answers_job(s, msg, now))
        return;
    job = take_job(s, now);
    /* The image is the run's last frame: a session's state stays as it is,
     * nothing is reset, so the worker is idle now (PROTOCOL.md, `capture`). */
    s->state = SLOT_IDLE;
    s->idle_since = now;
    if (!json_is_string(text)) {
        char why[200];
        log_msg("worker %d: no image of session %s: %s", (int)s->proc.pid, job->session,
                str_member(msg, "error", why, sizeof why));
        json_decref(msg);
        job_fail(job, 500, ERR_INTERNAL,
                 "the session's state after the run could not be saved; it keeps its state "
                 "from before the run");
        return;
    }
    metrics_session_capture(json_number_value(json_object_get(msg, "capture_ms")));
    raw = base64_decode(json_string_value(text), json_string_length(text), &raw_len);
    json_decref(msg);
    if (raw != NULL)
        signed_image = session_sign(p->sessions, raw, raw_len, &signed_len);
    free(raw);
    if (signed_image == NULL) {
        job_fail(job, 500, ERR_INTERNAL, "the session's image could not be read or signed");
        return;
    }
    r = store_get(st, job->session, &meta, NULL);
    if (r == STORE_OK && meta.version != job->base_version)
        r = STORE_CONFLICT;
    if (r == STORE_OK) {
        meta.runs += job->kind == JOB_SESSION_RUN;
        meta.used_ms = wall_ms();
        r = store_put(st, &meta, signed_image, signed_len, false);
    }
    free(signed_image);
    if (r != STORE_OK) {
        metrics_session_store_error();
        json_t *pending = job->pending;
        job->pending = NULL;
        json_decref(pending);
        if (r == STORE_CONFLICT)
            job_fail(job, 409, ERR_SESSION_CONFLICT,
                     "session '%s' changed while this run ran; the run's state was dropped",
                     job->session);
        else
            fail_store(job, r, "running");
        return;
    }
    snprintf(s->resident, sizeof s->resident, "%s", job->session);
    s->resident_version = meta.version;
    body = session_body(s, job, job->pending, meta.runs);
    json_decref(job->pending);
    job->pending = NULL;
    job->status = job->kind == JOB_SESSION_CREATE ? 201 : 200;
    job->timed = job->kind == JOB_SESSION_RUN;
    job_complete(job, body, NULL);
}

/* Python found the request invalid (a name, a tagged value): the client's
 * 400, and the worker is fine. Only codes the API documents pass through. */
static void on_rejected(struct slot *s, json_t *msg, double now) {
    static const char *const codes[] = {ERR_INVALID_NAME, ERR_INVALID_VALUE, ERR_INVALID_TYPE,
                                        ERR_SESSION_INCOMPATIBLE, ERR_INVALID_IMAGE,
                                        ERR_INVALID_PATH, ERR_FILES_TOO_LARGE};
    const json_t *e = json_object_get(msg, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const json_t *m = json_object_get(e, "message");
    const char *known = NULL;
    char text[sizeof ((struct api_error *)0)->message];
    struct job *job;

    if (!answers_job(s, msg, now))
        return;
    for (size_t i = 0; code && i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(code, codes[i]) == 0)
            known = codes[i];
    if (known == NULL || !json_is_string(m)) {
        json_decref(msg);
        protocol_error(s, now, "rejected without a known error code and message");
        return;
    }
    log_sanitize(text, sizeof text, json_string_value(m), json_string_length(m));
    json_decref(msg);
    job = take_job(s, now);
    /* The worker's state counts as unknown: it is reset before its next use. */
    s->resident[0] = '\0';
    if (strcmp(known, ERR_SESSION_INCOMPATIBLE) == 0 || strcmp(known, ERR_INVALID_IMAGE) == 0)
        job_fail(job, 409, known, "session '%s': %s", job->session, text);
    else
        job_fail(job, 400, known, "%s", text);
}

/* The 504 body (openapi.yaml, TimeoutResult) from what the worker said of
 * the run when it stopped (`msg`, taken; NULL when the worker was killed):
 * what is unknown is null, never made up. */
static json_t *stopped_body(json_t *msg, const char *code, const char *stopped_by,
                            const char *text) {
    static const char *const where[] = {"line", "column", "source", "traceback"};
    static const char *const kept[] = {"stdout", "stderr", "output", "files", "truncated", "scope",
                                       "definitions", "changes", "dynamic", "tasks_cancelled"};
    json_t *body = msg ? msg : json_object();
    json_t *said = json_object_get(body, "error");
    json_t *err = json_pack("{s:s, s:s, s:s}", "code", code, "message", text, "stopped_by",
                            stopped_by);

    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        json_t *v = json_is_object(said) ? json_object_get(said, where[i]) : NULL;
        json_object_set(err, where[i], v ? v : json_null());
    }
    json_object_del(body, "type");
    json_object_del(body, "id");
    json_object_del(body, "timing");
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        if (json_object_get(body, kept[i]) == NULL)
            json_object_set_new(body, kept[i], json_null());
    json_object_set_new(body, "ok", json_false());
    json_object_set_new(body, "result", json_null());
    json_object_set_new(body, "error", err);
    return body;
}

static json_t *timeout_body(json_t *msg, const char *stopped_by, const char *text) {
    return stopped_body(msg, ERR_TIMEOUT, stopped_by, text);
}

/* A cancelled run's 499 (openapi.yaml, CancelledResult): a TimeoutResult's
 * members, with error.code `cancelled`. */
static json_t *cancelled_body(json_t *msg, const char *stopped_by, const char *text) {
    return stopped_body(msg, ERR_CANCELLED, stopped_by, text);
}

/* The worker's own watchdog interrupted the run at its limit; the worker
 * survived and stays. The client gets the run as far as it got. */
static void on_timeout(struct slot *s, json_t *msg, double now) {
    struct job *job;
    char text[128];
    if (!answers_job(s, msg, now))
        return;
    job = take_job(s, now);
    /* A session's state after an interrupted run is not kept: the session
     * goes on from its image before that run. */
    s->resident[0] = '\0';
    snprintf(text, sizeof text, "the run passed its time limit of %u ms and was interrupted",
             job->timeout_ms);
    job->status = 504;
    job->timed = true;
    job_complete(job, timeout_body(msg, "interrupt", text), NULL);
}

/* A streamed run's output as it was written (PROTOCOL.md, `output`). */
static void on_output(struct slot *s, json_t *msg, double now) {
    const char *stream = json_string_value(json_object_get(msg, "stream"));
    const json_t *text = json_object_get(msg, "text");
    if (!answers_job(s, msg, now))
        return;
    if (!s->job->stream || stream == NULL || !json_is_string(text) ||
        (strcmp(stream, "stdout") != 0 && strcmp(stream, "stderr") != 0)) {
        json_decref(msg);
        protocol_error(s, now, "output frame of a run that does not stream, or without "
                               "stream and text");
        return;
    }
    if (s->job->on_output != NULL)
        s->job->on_output(s->job->output_arg, stream, json_string_value(text),
                          json_string_length(text));
    json_decref(msg);
}

/* The worker interrupted the run because its client cancelled it (a
 * `cancel` frame): like a timeout, the client gets the run as far as it got,
 * and a session keeps its image from before the run. */
static void on_cancelled(struct slot *s, json_t *msg, double now) {
    struct job *job;
    if (!answers_job(s, msg, now))
        return;
    job = take_job(s, now);
    s->resident[0] = '\0';
    job->status = 499;
    job->timed = true;
    job_complete(job, cancelled_body(msg, "interrupt", "the run was cancelled and interrupted"),
                 NULL);
}

static void on_message(struct slot *s, uint8_t **payload, size_t len, double now) {
    char why[192];
    const char *type;
    json_t *msg = frame_parse_message(*payload, len, &type, why, sizeof why);

    ASSERT_DISPATCHER(s->pool);
    if (msg == NULL) {
        protocol_error(s, now, why);
        return;
    }
    if (strcmp(type, "fatal") == 0) {
        char text[512];
        log_msg("worker %d: fatal: %s", (int)s->proc.pid,
                str_member(msg, "message", text, sizeof text));
        json_decref(msg);
        retire_with(s, now, false, 500, ERR_WORKER_CRASHED, "the worker failed and was replaced");
        return;
    }
    if (s->state == SLOT_BOOTING && strcmp(type, "ready") == 0) {
        on_ready(s, msg, now);
        json_decref(msg);
        return;
    }
    if (s->state == SLOT_BUSY && s->awaiting_image) {
        if (strcmp(type, "image") == 0) {
            on_image(s, msg, now);
            return;
        }
    } else if (s->state == SLOT_BUSY && strcmp(type, "result") == 0) {
        on_result(s, msg, payload, len, now); /* these take msg */
        return;
    }
    if (s->state == SLOT_BUSY && !s->awaiting_image && strcmp(type, "rejected") == 0) {
        on_rejected(s, msg, now);
        return;
    }
    if (s->state == SLOT_BUSY && !s->awaiting_image && strcmp(type, "timeout") == 0) {
        on_timeout(s, msg, now);
        return;
    }
    if (s->state == SLOT_BUSY && !s->awaiting_image && strcmp(type, "cancelled") == 0) {
        on_cancelled(s, msg, now);
        return;
    }
    if (s->state == SLOT_BUSY && !s->awaiting_image && strcmp(type, "output") == 0) {
        on_output(s, msg, now);
        return;
    }
    if (s->state == SLOT_RESETTING && strcmp(type, "idle") == 0) {
        json_decref(msg);
        s->state = SLOT_IDLE;
        s->idle_since = now;
        return;
    }
    if (s->state != SLOT_BOOTING && strcmp(type, "recycle") == 0) {
        /* sandbox: its state can no longer be reset cheaply; replace it
         * once it is idle (tick). */
        char text[256];
        log_msg("worker %d asks to be replaced: %s", (int)s->proc.pid,
                str_member(msg, "reason", text, sizeof text));
        json_decref(msg);
        s->recycle = true;
        return;
    }
    snprintf(why, sizeof why, "unexpected \"%.32s\" message while %s", type,
             s->state == SLOT_BOOTING ? "booting" : s->state == SLOT_IDLE ? "idle"
             : s->state == SLOT_RESETTING ? "resetting" : "running");
    json_decref(msg);
    protocol_error(s, now, why);
}

static void on_stdout_eof(struct slot *s, double now) {
    bool mid_frame = !frame_decoder_at_boundary(&s->dec);
    s->out_eof = true;
    if (s->state == SLOT_EXITING)
        return;
    if (mid_frame) {
        protocol_error(s, now, "end of file inside a frame");
        return;
    }
    log_msg("worker %d closed its stdout%s", (int)s->proc.pid,
            s->state == SLOT_BOOTING ? " before sending ready" : "");
    retire_with(s, now, false, 500, ERR_WORKER_CRASHED,
                "the worker exited during the run and was replaced");
}

static void read_stdout(struct slot *s, double now) {
    static uint8_t buf[READ_CHUNK]; /* dispatcher thread only */
    for (int turn = 0; turn < READS_PER_TURN && !s->out_eof; turn++) {
        ssize_t n = read(s->proc.out_fd, buf, sizeof buf);
        size_t off = 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            on_stdout_eof(s, now);
            return;
        }
        /* Once retired, anything it still says is drained and ignored. */
        while (off < (size_t)n && s->state != SLOT_EXITING) {
            size_t used;
            enum frame_status st = frame_decoder_feed(&s->dec, buf + off, (size_t)n - off, &used);
            off += used;
            if (st == FRAME_ERROR) {
                protocol_error(s, now, s->dec.error);
            } else if (st == FRAME_COMPLETE) {
                size_t len;
                uint8_t *payload = frame_decoder_take(&s->dec, &len);
                on_message(s, &payload, len, now); /* NULL after, if a job took it */
                free(payload);
            }
        }
    }
}

static void write_frame(struct slot *s, double now) {
    struct job *job = s->job;
    while (job && s->written < job->frame_len) {
        ssize_t n = write(s->proc.in_fd, job->frame + s->written, job->frame_len - s->written);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0) {
            log_msg("worker %d: cannot write to its stdin: %s; killing it", (int)s->proc.pid,
                    strerror(errno));
            retire_with(s, now, true, 500, ERR_WORKER_CRASHED,
                        "the worker stopped reading and was replaced");
            return;
        }
        s->written += (size_t)n;
    }
}

/* The worker interrupts a run at its limit itself; the host kills it only
 * if that did not work within the grace period. */
static void start_job(struct slot *s, struct job *job, double now) {
    ASSERT_DISPATCHER(s->pool);
    assert(s->state == SLOT_IDLE && s->job == NULL);
    s->job = job;
    s->written = 0;
    s->state = SLOT_BUSY;
    s->deadline = now + job->timeout_ms + s->pool->cfg->timeout_grace_ms;
    job->attempts++;
    job->started_at = now;
    job->queue_ms = now - job->enqueued_at;
    job->worker_pid = s->proc.pid;
    rss_watch_arm(&s->rss, now);
    write_frame(s, now);
}

/* A session's job on the worker picked for it: the session's image goes in
 * the message unless the worker holds that very state already. Fails the job
 * (and returns false) when the session is gone or its image is refused. */
static bool frame_session_job(struct slot *s, struct job *job) {
    struct pool *p = s->pool;
    struct session_meta meta;
    uint8_t *signed_image = NULL;
    const uint8_t *image;
    size_t image_len = 0;
    char why[160], *text = NULL;
    bool resident, ok;

    /* Replicas sharing the store: one run of a session at a time across all
     * of them. The lease outlives the longest the run can take, so it
     * expires on its own if this replica dies holding it. */
    if (store_shared(sessions_store(p->sessions)) && job->lease[0] == '\0') {
        snprintf(job->lease, sizeof job->lease, "%s-%llu", p->token, (unsigned long long)job->id);
        if (!store_lease(sessions_store(p->sessions), job->session, job->lease,
                         job->timeout_ms + p->cfg->timeout_grace_ms + (unsigned)CAPTURE_GRACE_MS + 5000,
                         true)) {
            job->lease[0] = '\0';
            metrics_session_lease_wait();
            job_fail(job, 503, ERR_SESSION_BUSY,
                     "session '%s' is running on another replica; retry after Retry-After",
                     job->session);
            return false;
        }
    }
    if (store_get(sessions_store(p->sessions), job->session, &meta, NULL) != STORE_OK) {
        fail_unknown_session(p, job);
        return false;
    }
    job->base_version = meta.version;
    resident = strcmp(s->resident, job->session) == 0 && s->resident_version == meta.version;
    metrics_session_resume(resident);
    s->resident[0] = '\0'; /* until the run's image is stored */
    if (resident) {
        json_object_set_new(job->msg, "persist", json_true());
    } else if (meta.image_len == 0) {
        json_object_set_new(job->msg, "image", json_string("")); /* a new session */
    } else {
        if (!session_image(p, job, &meta, &signed_image))
            return false;
        image = session_verify(p->sessions, signed_image, meta.image_len, &image_len);
        if (!sessions_image_compatible(p->sessions, image, image_len)) {
            free(signed_image);
            job_fail(job, 409, ERR_SESSION_INCOMPATIBLE,
                     "session '%s' was saved by another build of the interpreter and cannot be "
                     "resumed here", job->session);
            return false;
        }
        text = base64_encode(image, image_len, NULL);
        free(signed_image);
        if (text == NULL) {
            job_fail(job, 500, ERR_INTERNAL, "out of memory");
            return false;
        }
        json_object_set_new(job->msg, "image", json_string(text));
        free(text);
    }
    if (job->capture)
        json_object_set_new(job->msg, "capture", json_true());
    free(job->frame);
    job->frame = NULL;
    ok = frame_encode(job->msg, &job->frame, &job->frame_len, why, sizeof why);
    json_object_del(job->msg, "image");
    if (!ok) {
        job_fail(job, 500, ERR_INTERNAL, "session '%s' does not fit in a worker frame: %s",
                 job->session, why);
        return false;
    }
    return true;
}

/* ---- cancels (dispatcher thread) -------------------------------------------
 * A cancel (pool_cancel_job, any thread) sets job->cancel and lists the job;
 * the dispatcher finds where the job is: queued (the pool's queue or its
 * session's line), it is answered at once and never runs; on a worker, the
 * worker is told to interrupt it; not routed yet, the flag stops it there. */

static void fail_cancelled(struct job *job, double now) {
    job->queue_ms = now - job->enqueued_at;
    if (job->client_gone)
        job_fail(job, 499, ERR_CANCELLED, "the client went away before the run started; it never ran");
    else
        job_fail(job, 499, ERR_CANCELLED, "the run was cancelled before it started; it never ran");
}

/* The worker's controlling thread reads these from its fd 3 while the
 * interpreter thread runs the snippet (PROTOCOL.md, `cancel`). The frame
 * names the run, so one that arrives after its run ended touches nothing. */
static void send_cancel(struct slot *s, double now) {
    struct job *job = s->job;
    char payload[64];
    uint8_t frame[4 + sizeof payload];
    int n = snprintf(payload, sizeof payload, "{\"type\":\"cancel\",\"id\":%llu}",
                     (unsigned long long)job->id);
    double kill_at = now + s->pool->cfg->timeout_grace_ms;

    frame[0] = (uint8_t)(n >> 24);
    frame[1] = (uint8_t)(n >> 16);
    frame[2] = (uint8_t)(n >> 8);
    frame[3] = (uint8_t)n;
    memcpy(frame + 4, payload, (size_t)n);
    /* A few bytes into an empty pipe: a short write or EAGAIN means the
     * worker stopped reading, and the deadline below deals with it. */
    if (s->proc.ctl_fd < 0 || write(s->proc.ctl_fd, frame, 4 + (size_t)n) != 4 + n)
        log_msg("worker %d: cannot send it the cancel of run %llu; it is killed at the deadline",
                (int)s->proc.pid, (unsigned long long)job->id);
    job->cancel_sent = true;
    log_msg("worker %d: run %llu (%s) cancelled%s", (int)s->proc.pid,
            (unsigned long long)job->id, job->run_id, job->client_gone ? ": its client went away" : "");
    /* As at a timeout: interrupted now, killed if still going a grace period on. */
    if (kill_at < s->deadline)
        s->deadline = kill_at;
}

static void act_on_cancel(struct pool *p, struct job *job, double now) {
    struct session_line *line;
    bool removed;

    if (job->done)
        return;
    pthread_mutex_lock(&p->lock);
    removed = queue_remove(&p->queue, job);
    pthread_mutex_unlock(&p->lock);
    if (!removed && job->kind == JOB_SESSION_RUN &&
        (line = sessions_line(p->sessions, job->session, false)) != NULL) {
        removed = queue_remove(&line->waiting, job);
        sessions_line_release(p->sessions, line);
    }
    if (removed) {
        fail_cancelled(job, now);
        return;
    }
    for (int i = 0; i < p->n_slots; i++) {
        struct slot *s = &p->slots[i];
        if (s->state == SLOT_BUSY && s->job == job) {
            /* With its answer in (awaiting its image), the run is over. */
            if (!s->awaiting_image && !job->cancel_sent)
                send_cancel(s, now);
            return;
        }
    }
}

static void take_cancels(struct pool *p, double now) {
    struct job *list, *job;
    pthread_mutex_lock(&p->lock);
    list = p->cancels;
    p->cancels = NULL;
    pthread_mutex_unlock(&p->lock);
    while ((job = list) != NULL) {
        list = job->cancel_next;
        job->cancel_next = NULL;
        act_on_cancel(p, job, now);
        job_release(job);
    }
}

/* Clients of queued and running runs are watched for a hang-up (the peer
 * closed: POLLRDHUP): libmicrohttpd does not poll a suspended connection,
 * so without this a client that left would be noticed only once its run
 * was answered. A client that only half-closes its side counts as gone. */
struct watch {
    struct job **jobs;
    size_t n, cap;
};

static void watch_client(struct job *job, void *arg) {
    struct watch *w = arg;
    if (job->client_fd < 0 || atomic_load(&job->cancel) || w->n == w->cap)
        return;
    atomic_fetch_add(&job->refs, 1);
    w->jobs[w->n++] = job;
}

/* ---- the dispatcher loop ------------------------------------------------- */

static bool is_stopping(struct pool *p, double *drain_deadline) {
    bool stopping;
    pthread_mutex_lock(&p->lock);
    stopping = p->stopping;
    *drain_deadline = p->drain_deadline;
    pthread_mutex_unlock(&p->lock);
    return stopping;
}

/* Queued jobs past the queue timeout, or all of them once stopping, are
 * answered here. Collected under the lock, completed outside it: job
 * completion takes job locks and resumes connections. */
static void expire_queue(struct pool *p, double now, bool stopping) {
    struct job *expired = NULL, **tailp = &expired, *job;
    double limit = p->cfg->queue_timeout_ms;

    pthread_mutex_lock(&p->lock);
    while (p->queue.head &&
           (stopping || (limit > 0 && now - p->queue.head->enqueued_at >= limit))) {
        job = queue_pop(&p->queue);
        *tailp = job;
        tailp = &job->next;
    }
    pthread_mutex_unlock(&p->lock);

    while ((job = expired) != NULL) {
        expired = job->next;
        job->next = NULL;
        job->queue_ms = clock_ms() - job->enqueued_at; /* may postdate `now` */
        if (stopping)
            job_fail(job, 503, ERR_SHUTTING_DOWN, "the server is shutting down");
        else
            job_fail(job, 503, ERR_QUEUE_TIMEOUT, "no worker became free within %u ms",
                     p->cfg->queue_timeout_ms);
    }
}

/* The pool slot idle the longest: spreads runs over the workers (each
 * worker is idle only once it wiped its last run, see SLOT_RESETTING). */
static struct slot *longest_idle(struct pool *p) {
    struct slot *best = NULL;
    for (int i = 0; i < p->n_pool; i++) {
        struct slot *s = &p->slots[i];
        if (s->state == SLOT_IDLE && (best == NULL || s->idle_since < best->idle_since))
            best = s;
    }
    return best;
}

/* The worker for a job: for a session's, the one holding its state if it is
 * idle; otherwise the longest idle one that holds no session's state (a
 * resident state is kept until its worker must serve someone else). */
static struct slot *pick_slot(struct pool *p, const struct job *job) {
    struct slot *best = NULL, *any = longest_idle(p);
    if (job->kind != JOB_RUN)
        for (int i = 0; i < p->n_pool; i++)
            if (p->slots[i].state == SLOT_IDLE && strcmp(p->slots[i].resident, job->session) == 0)
                return &p->slots[i];
    for (int i = 0; i < p->n_pool; i++) {
        struct slot *s = &p->slots[i];
        if (s->state == SLOT_IDLE && s->resident[0] == '\0' &&
            (best == NULL || s->idle_since < best->idle_since))
            best = s;
    }
    return best ? best : any;
}

static void assign_jobs(struct pool *p) {
    ASSERT_DISPATCHER(p);
    for (;;) {
        struct slot *s = longest_idle(p);
        struct job *job;
        if (s == NULL)
            return;
        pthread_mutex_lock(&p->lock);
        job = queue_pop(&p->queue);
        if (job != NULL && p->ready > 0) { /* keep pool_submit's bound tight */
            p->ready--;
            p->busy++;
        }
        pthread_mutex_unlock(&p->lock);
        if (job == NULL)
            return;
        if (atomic_load(&job->cancel)) { /* a cancel not yet acted on: never started */
            fail_cancelled(job, clock_ms());
            continue;
        }
        s = pick_slot(p, job);
        if (job->kind != JOB_RUN && !frame_session_job(s, job))
            continue;
        if (job->kind == JOB_RUN)
            s->resident[0] = '\0';
        /* `now` predates jobs submitted during this turn. */
        start_job(s, job, clock_ms());
    }
}

/* Timers of one slot: spawning, boot and run deadlines, reaping. */
static void tick(struct pool *p, struct slot *s, double now, bool stopping,
                 double drain_deadline) {
    int status;

    ASSERT_DISPATCHER(p);
    /* A slot has a job exactly while it is busy (struct slot). */
    assert((s->state == SLOT_BUSY) == (s->job != NULL));
    switch (s->state) {
    case SLOT_EMPTY:
        if (!stopping && now >= s->respawn_at)
            spawn(p, s, now);
        break;
    case SLOT_BOOTING:
        if (stopping) {
            s->exit_why = EXIT_SHUTDOWN;
            retire(s, now, true, NULL);
        } else if (now >= s->deadline) {
            log_msg("worker %d sent no ready within %u ms; killing it", (int)s->proc.pid,
                    p->cfg->boot_timeout_ms);
            retire(s, now, true, NULL);
        }
        break;
    case SLOT_IDLE:
        if (stopping) {
            s->exit_why = EXIT_SHUTDOWN;
            retire(s, now, false, NULL);
            s->deadline = now + STOP_GRACE_MS;
        } else if (s->recycle) { /* sandbox */
            s->exit_why = EXIT_RECYCLED;
            retire(s, now, false, NULL);
        }
        break;
    case SLOT_BUSY: {
        long long rss_mb = 0;
        if (rss_watch_tripped(&s->rss, s->proc.pid, p->cfg->worker_rss_mb, now, &rss_mb)) {
            struct api_error err;
            log_msg("worker %d: run %llu took it to %lld MiB resident (ceiling %u); killing it",
                    (int)s->proc.pid, (unsigned long long)s->job->id, rss_mb, p->cfg->worker_rss_mb);
            api_error_set(&err, 500, ERR_WORKER_CRASHED,
                          "the run took its worker past %u MiB of resident memory: the worker "
                          "was killed", p->cfg->worker_rss_mb);
            s->exit_why = EXIT_CRASH;
            retire(s, now, true, &err);
        } else if (now >= s->deadline) {
            struct job *job = s->job;
            char text[160];
            if (job->cancel_sent)
                log_msg("worker %d: run %llu (%s) cancelled and not stopped within the grace "
                        "period; killing it", (int)s->proc.pid, (unsigned long long)job->id,
                        job->run_id);
            else
                log_msg("worker %d: run %llu passed %u ms and the grace period; killing it",
                        (int)s->proc.pid, (unsigned long long)job->id, job->timeout_ms);
            /* What the run printed and made died with the worker. */
            s->job = NULL;
            job->run_ms = now - job->started_at;
            job->timed = true;
            job->worker_lost = true; /* a reboot, like a crash: the crash limiter's */
            if (job->cancel_sent) {
                job->status = 499;
                job_complete(job, cancelled_body(NULL, "kill", "the run was cancelled and did "
                                                 "not stop when interrupted: its worker was killed"),
                             NULL);
            } else {
                snprintf(text, sizeof text,
                         "the run passed its time limit of %u ms and did not stop when "
                         "interrupted: its worker was killed", job->timeout_ms);
                job->status = 504;
                job_complete(job, timeout_body(NULL, "kill", text), NULL);
            }
            s->resident[0] = '\0'; /* the session goes on from its image before this run */
            s->exit_why = EXIT_TIMEOUT;
            retire(s, now, true, NULL);
        } else if (stopping && now >= drain_deadline) {
            log_msg("worker %d: run %llu still going at shutdown; killing it", (int)s->proc.pid,
                    (unsigned long long)s->job->id);
            s->exit_why = EXIT_SHUTDOWN;
            retire_with(s, now, true, 503, ERR_SHUTTING_DOWN,
                        "the server shut down before the run finished");
        }
        break;
    }
    case SLOT_RESETTING:
        /* The reset is the worker's own code, no snippet's: this is a
         * backstop for a worker that hangs in it. */
        if (now >= s->deadline) {
            log_msg("worker %d: no idle within %u ms of its answer; killing it", (int)s->proc.pid,
                    p->cfg->timeout_grace_ms);
            s->resident[0] = '\0';
            s->exit_why = EXIT_TIMEOUT;
            retire(s, now, true, NULL);
        }
        break;
    case SLOT_EXITING:
        if (worker_reap(&s->proc, &status)) {
            finish_exit(p, s, status, now);
        } else if (!s->killed && now >= s->deadline) {
            worker_kill(&s->proc);
            s->killed = true;
            s->deadline = now + 5000;
        } else if (s->killed && now >= s->deadline && !s->reap_warned) {
            log_msg("worker %d: still not gone 5 s after SIGKILL", (int)s->proc.pid);
            s->reap_warned = true;
        }
        break;
    }
}

static void publish_stats(struct pool *p) {
    int ready = 0, busy = 0;
    size_t n_pids = 0;
    for (int i = 0; i < p->n_pool; i++) {
        ready += p->slots[i].state == SLOT_IDLE;
        busy += p->slots[i].state == SLOT_BUSY || p->slots[i].state == SLOT_RESETTING;
    }
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->n_slots; i++)
        if (p->slots[i].state != SLOT_EMPTY && p->slots[i].proc.pid > 0)
            p->pids[n_pids++] = p->slots[i].proc.pid;
    p->n_pids = n_pids;
    p->ready = ready;
    p->busy = busy;
    pthread_mutex_unlock(&p->lock);
    if (!p->announced && ready + busy == p->n_pool) {
        p->announced = true;
        if (p->announce)
            p->announce(p->announce_arg);
    }
}

static int poll_timeout(struct pool *p, double now, bool stopping, double drain_deadline) {
    double next = now + MAX_SLEEP_MS;
    for (int i = 0; i < p->n_slots; i++) {
        const struct slot *s = &p->slots[i];
        switch (s->state) {
        case SLOT_EMPTY:
            if (!stopping && s->respawn_at < next)
                next = s->respawn_at;
            break;
        case SLOT_BUSY:
            next = rss_watch_next(&s->rss, p->cfg->worker_rss_mb, next);
            /* fall through */
        case SLOT_BOOTING:
        case SLOT_RESETTING:
            if (s->deadline < next)
                next = s->deadline;
            break;
        case SLOT_EXITING:
            if (now + REAP_POLL_MS < next)
                next = now + REAP_POLL_MS;
            break;
        case SLOT_IDLE:
            break;
        }
    }
    if (stopping && drain_deadline < next)
        next = drain_deadline;
    pthread_mutex_lock(&p->lock);
    if (p->queue.head && p->cfg->queue_timeout_ms > 0 &&
        p->queue.head->enqueued_at + p->cfg->queue_timeout_ms < next)
        next = p->queue.head->enqueued_at + p->cfg->queue_timeout_ms;
    if (!stopping && p->next_expiry < next)
        next = p->next_expiry;
    pthread_mutex_unlock(&p->lock);
    return next <= now ? 0 : (int)ceil(next - now);
}

enum fd_role { ROLE_WAKE, ROLE_OUT, ROLE_ERR, ROLE_IN, ROLE_CLIENT };
/* Clients watched at most (runs queued or running); the rest are noticed
 * once their run is answered. */
#define WATCH_MAX 4096

static void *dispatcher(void *arg) {
    struct pool *p = arg;
    size_t max_fds = (size_t)p->n_slots * 3 + 1 + WATCH_MAX;
    struct pollfd *fds = calloc(max_fds, sizeof *fds);
    struct { int slot; enum fd_role role; } *who = calloc(max_fds, sizeof *who);
    struct watch watch = {calloc(WATCH_MAX, sizeof *watch.jobs), 0, WATCH_MAX};

    on_dispatcher_thread = true;
    if (fds == NULL || who == NULL || watch.jobs == NULL) {
        log_msg("dispatcher: out of memory");
        abort();
    }
    for (;;) {
        double drain_deadline, now = clock_ms();
        bool stopping = is_stopping(p, &drain_deadline), all_empty = true;
        int nfds = 0, timeout;

        expire_queue(p, now, stopping);
        route_session_jobs(p, stopping);
        take_cancels(p, now);
        if (!stopping)
            expire_sessions(p, now);
        for (int i = 0; i < p->n_slots; i++)
            tick(p, &p->slots[i], now, stopping, drain_deadline);
        if (!stopping)
            assign_jobs(p);
        publish_stats(p);

        fds[nfds] = (struct pollfd){.fd = p->wake_fd, .events = POLLIN};
        who[nfds].role = ROLE_WAKE;
        nfds++;
        for (int i = 0; i < p->n_slots; i++) {
            struct slot *s = &p->slots[i];
            if (s->state == SLOT_EMPTY)
                continue;
            all_empty = false;
            if (!s->out_eof) {
                fds[nfds] = (struct pollfd){.fd = s->proc.out_fd, .events = POLLIN};
                who[nfds].slot = i;
                who[nfds++].role = ROLE_OUT;
            }
            if (!s->err_eof) {
                fds[nfds] = (struct pollfd){.fd = s->proc.err_fd, .events = POLLIN};
                who[nfds].slot = i;
                who[nfds++].role = ROLE_ERR;
            }
            if (s->state == SLOT_BUSY && s->written < s->job->frame_len && s->proc.in_fd >= 0) {
                fds[nfds] = (struct pollfd){.fd = s->proc.in_fd, .events = POLLOUT};
                who[nfds].slot = i;
                who[nfds++].role = ROLE_IN;
            }
        }
        if (stopping && all_empty)
            break;
        watch.n = 0;
        runs_each(p->runs, watch_client, &watch);
        for (size_t i = 0; i < watch.n; i++) {
            fds[nfds] = (struct pollfd){.fd = watch.jobs[i]->client_fd, .events = POLLRDHUP};
            who[nfds].slot = (int)i;
            who[nfds++].role = ROLE_CLIENT;
        }

        timeout = poll_timeout(p, now, stopping, drain_deadline);
        if (poll(fds, (nfds_t)nfds, timeout) < 0) {
            if (errno != EINTR)
                log_msg("dispatcher: poll: %s", strerror(errno));
            continue;
        }
        now = clock_ms();
        for (int k = 0; k < nfds; k++) {
            struct slot *s = who[k].role == ROLE_CLIENT ? NULL : &p->slots[who[k].slot];
            if (fds[k].revents == 0)
                continue;
            switch (who[k].role) {
            case ROLE_CLIENT:
                if (fds[k].revents & (POLLRDHUP | POLLHUP | POLLERR))
                    pool_cancel_job(p, watch.jobs[who[k].slot], true);
                break;
            case ROLE_WAKE: {
                uint64_t v;
                (void)!read(p->wake_fd, &v, sizeof v);
                break;
            }
            case ROLE_OUT:
                if (s->state != SLOT_EMPTY)
                    read_stdout(s, now);
                break;
            case ROLE_ERR:
                if (s->state != SLOT_EMPTY)
                    read_stderr(s);
                break;
            case ROLE_IN:
                /* Frames to write exist only while busy; the slot may have
                 * been retired by an earlier event this turn. */
                if (s->state == SLOT_BUSY)
                    write_frame(s, now);
                break;
            }
        }
        for (size_t i = 0; i < watch.n; i++)
            job_release(watch.jobs[i]);
    }
    /* Belt and braces: nothing may be left waiting once the loop ends. */
    expire_queue(p, clock_ms(), true);
    route_session_jobs(p, true);
    for (struct session_line *l = sessions_lines(p->sessions); l; l = l->next) {
        struct job *job = queue_take_all(&l->waiting);
        while (job != NULL) {
            struct job *next = job->next;
            job_fail(job, 503, ERR_SHUTTING_DOWN, "the server is shutting down");
            job = next;
        }
    }
    take_cancels(p, clock_ms());
    free(fds);
    free(who);
    free(watch.jobs);
    return NULL;
}

/* ---- set-up and tear-down ----------------------------------------------- */

struct pool *pool_create(const struct config *cfg, const char *node_path,
                         void (*announce)(void *arg), void *announce_arg) {
    struct pool *p = calloc(1, sizeof *p);
    size_t argc = 0, len;
    char err[256];

    if (p == NULL)
        return NULL;
    p->cfg = cfg;
    p->announce = announce;
    p->announce_arg = announce_arg;
    p->wake_fd = -1;
    pthread_mutex_init(&p->lock, NULL);
    atomic_init(&p->next_id, 0);

    session_new_id(&(struct config){0}, p->token, sizeof p->token);
    p->runs = runs_new();
    if (p->runs == NULL)
        goto fail;
    p->sessions = sessions_open(cfg, err, sizeof err);
    if (p->sessions == NULL) {
        fprintf(stderr, "scopebox-server: %s\n", err);
        goto fail;
    }
    p->argc = cfg->n_node_args + 2;
    p->argv = calloc(p->argc + 1, sizeof *p->argv);
    p->n_pool = (int)cfg->workers;
    p->n_slots = (int)cfg->workers;
    p->slots = calloc((size_t)p->n_slots, sizeof *p->slots);
    p->pids = calloc((size_t)p->n_slots, sizeof *p->pids);
    p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->argv == NULL || p->slots == NULL || p->pids == NULL || p->wake_fd < 0)
        goto fail;
    p->argv[argc++] = strdup(node_path);
    for (size_t i = 0; i < cfg->n_node_args; i++)
        p->argv[argc++] = strdup(cfg->node_args[i]);
    len = strlen(cfg->runtime_dir) + sizeof "/worker.mjs";
    p->argv[argc] = malloc(len);
    if (p->argv[argc] != NULL)
        snprintf(p->argv[argc], len, "%s/worker.mjs", cfg->runtime_dir);
    argc++;
    for (size_t i = 0; i < argc; i++)
        if (p->argv[i] == NULL)
            goto fail;
    for (int i = 0; i < p->n_slots; i++) {
        p->slots[i].pool = p;
        p->slots[i].index = i;
        p->slots[i].state = SLOT_EMPTY;
        p->slots[i].proc.pid = 0;
        p->slots[i].proc.in_fd = p->slots[i].proc.out_fd = p->slots[i].proc.err_fd = -1;
        p->slots[i].proc.ctl_fd = -1;
    }
    return p;
fail:
    pool_destroy(p);
    return NULL;
}

bool pool_start(struct pool *p) {
    int rc = pthread_create(&p->thread, NULL, dispatcher, p);
    if (rc != 0) {
        log_msg("cannot start the dispatcher thread: %s", strerror(rc));
        return false;
    }
    p->thread_started = true;
    return true;
}

void pool_shutdown(struct pool *p, unsigned drain_ms) {
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    p->drain_deadline = clock_ms() + drain_ms;
    pthread_mutex_unlock(&p->lock);
    if (p->thread_started) {
        wake(p);
        pthread_join(p->thread, NULL);
        p->thread_started = false;
    } else {
        expire_queue(p, clock_ms(), true);
    }
}

void pool_destroy(struct pool *p) {
    if (p == NULL)
        return;
    if (p->argv) {
        for (size_t i = 0; i < p->argc; i++)
            free(p->argv[i]);
        free(p->argv);
    }
    free(p->slots);
    free(p->pids);
    sessions_close(p->sessions);
    runs_free(p->runs);
    if (p->wake_fd >= 0)
        close(p->wake_fd);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
