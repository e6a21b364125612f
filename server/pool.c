/* The pool's public API (pool.h): submission and cancels from HTTP
 * threads, stats for /metrics, set-up and tear-down. The dispatcher's side
 * is in dispatch.c, slot.c and session_jobs.c (pool_private.h). */
#define _GNU_SOURCE
#include "pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "frame.h"
#include "log.h"
#include "pool_private.h"
#include "wire.h"

/* ---- submission (HTTP threads) --------------------------------------------- */

static void wake(struct pool *p) {
    uint64_t one = 1;
    /* Fails only when the counter is saturated, and then it is awake anyway. */
    (void)!write(p->wake_fd, &one, sizeof one);
}

/* The worker message for a job (PROTOCOL.md, "Messages"); NULL for the
 * session jobs no worker sees. Session messages get their `image` (or
 * `persist`) when a worker is picked (session_job_frame). */
static struct wire_run run_of(const struct job *job, const struct run_request *req) {
    /* memory_mb only when asked: otherwise the worker's own cap is the
     * whole limit. */
    return (struct wire_run){job->id, job->timeout_ms, job->output_cap,
                             req->memory_mb > 0 ? job->memory_mb : 0, job->stream};
}

static json_t *job_message_new(const struct job *job, const struct run_request *req) {
    switch (job->kind) {
    case JOB_RUN:
    case JOB_SESSION_RUN: {
        struct wire_run run = run_of(job, req);
        return wire_run_new(req, &run);
    }
    case JOB_SESSION_CREATE:
        return wire_inspect_new(job->id, req->scope, job->timeout_ms);
    case JOB_SESSION_GET:
        return wire_inspect_new(job->id, NULL, job->timeout_ms);
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
        api_error_of(err, API_INVALID_IMAGE, "field 'image' is not base64");
        return false;
    }
    return true;
}

/* Idle workers take jobs straight off the queue: the bound is on jobs that
 * would have to wait. Under the pool lock. */
static bool queue_full_locked(const struct pool *p) {
    return p->queue.n >= (int)p->cfg->queue_size + p->ready;
}

bool pool_queue_full(struct pool *p) {
    bool full;
    pthread_mutex_lock(&p->lock);
    full = !p->stopping && queue_full_locked(p);
    pthread_mutex_unlock(&p->lock);
    return full;
}

void pool_queue_full_message(const struct config *cfg, char *buf, size_t len) {
    snprintf(buf, len, "all workers are busy and the queue (%u runs) is full", cfg->queue_size);
}

bool pool_submit(struct pool *p, struct job *job, enum job_kind kind, const char *session,
                 const struct run_request *req, struct api_error *err) {
    char why[160];
    bool ok, spliced = false;

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
    if (job_is_run(job)) {
        unsigned mem_cap = p->cfg->worker_heap_mb;
        long long out_cap = (long long)p->cfg->output_cap_bytes;
        job->memory_mb = req->memory_mb > 0 && req->memory_mb < mem_cap ? req->memory_mb : mem_cap;
        job->memory_capped = req->memory_mb > mem_cap;
        job->output_cap =
            (unsigned)(req->output_cap >= 0 && req->output_cap < out_cap ? req->output_cap
                                                                         : out_cap);
        job->output_capped = req->output_cap > out_cap;
        if (req->run_id != NULL)
            snprintf(job->run_id, sizeof job->run_id, "%s", json_string_value(req->run_id));
        else
            session_new_id(&(struct config){0}, job->run_id, sizeof job->run_id);
    }
    if (kind == JOB_SESSION_CREATE && !take_import(job, req, err))
        return false;
    if (kind == JOB_RUN) {
        /* The client's bytes spliced into the frame: a large scope is not
         * dumped a second time (the message below is the fallback). */
        struct wire_run run = run_of(job, req);
        spliced = wire_run_frame(req, &run, &job->frame, &job->frame_len);
        if (!spliced && req->stand_ins) { /* its tree is not whole: nothing else to frame */
            api_error_of(err, API_INTERNAL, "cannot build the worker message");
            return false;
        }
    }
    if (!spliced && (kind == JOB_RUN || kind == JOB_SESSION_RUN || kind == JOB_SESSION_CREATE ||
                     kind == JOB_SESSION_GET)) {
        job->msg = job_message_new(job, req);
        if (job->msg == NULL) {
            api_error_of(err, API_INTERNAL, "cannot build the worker message");
            return false;
        }
    }
    if (kind == JOB_RUN && !spliced) {
        ok = frame_encode(job->msg, &job->frame, &job->frame_len, why, sizeof why);
        json_decref(job->msg);
        job->msg = NULL;
        if (!ok) {
            api_error_of(err, API_BODY_TOO_LARGE, "request does not fit in a worker frame: %s",
                         why);
            return false;
        }
    }

    /* Registered before it is queued, so that a cancel can never miss it. */
    job->submitted_at = clock_ms();
    if (job_is_run(job) && !runs_add(p->runs, job)) {
        api_error_of(err, API_RUN_ID_IN_USE,
                     "run_id '%s' names a run of yours that is still in progress", job->run_id);
        free(job->frame);
        job->frame = NULL;
        return false;
    }
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        api_error_of(err, API_SHUTTING_DOWN, "the server is shutting down");
        goto fail;
    }
    job->enqueued_at = clock_ms();
    job->next = NULL;
    if (kind != JOB_RUN) {
        /* Sessions are the dispatcher's to look up; it bounds their lines. */
        queue_push(&p->ctl, job_ref(job));
        pthread_mutex_unlock(&p->lock);
        wake(p);
        return true;
    }
    if (queue_full_locked(p)) {
        pthread_mutex_unlock(&p->lock);
        pool_queue_full_message(p->cfg, why, sizeof why);
        api_error_of(err, API_QUEUE_FULL, "%s", why);
        goto fail;
    }
    queue_push(&p->queue, job_ref(job)); /* the pool's, dropped in job_complete */
    pthread_mutex_unlock(&p->lock);
    wake(p);
    return true;

fail:
    if (job_is_run(job))
        runs_remove(p->runs, job);
    free(job->frame);
    job->frame = NULL;
    return false;
}

void pool_cancel_job(struct pool *p, struct job *job, bool client_gone) {
    if (atomic_exchange(&job->cancel, true))
        return; /* asked already */
    job->client_gone = client_gone;
    pthread_mutex_lock(&p->lock);
    cancels_push(&p->cancels, job_ref(job)); /* the cancel list's reference */
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
    runs_stats(p->runs, clock_ms(), &out->runs, &out->oldest_run_ms);
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
    for (int i = 0; i < p->n_slots; i++)
        slot_init(&p->slots[i], p, i);
    return p;
fail:
    pool_destroy(p);
    return NULL;
}

bool pool_start(struct pool *p) {
    int rc = pthread_create(&p->thread, NULL, pool_dispatch, p);
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
        dispatch_expire_queue(p, clock_ms(), true);
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
