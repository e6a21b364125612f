/* A job's life: its references, the waiter's park and abandon, and the one
 * way it ends (job_complete). The rules are job.h's. */
#include "job.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "pool_private.h"

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

struct job *job_ref(struct job *job) {
    atomic_fetch_add(&job->refs, 1);
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

bool job_is_run(const struct job *job) {
    return job->kind == JOB_RUN || job->kind == JOB_SESSION_RUN;
}

static enum run_outcome outcome_of(const json_t *result, const struct api_error *err) {
    if (result != NULL)
        return json_is_true(json_object_get(result, "ok")) ? OUTCOME_OK : OUTCOME_ERROR;
    if (err == NULL)
        return OUTCOME_CRASHED;
    switch (err->id) {
    case API_TIMEOUT:
        return OUTCOME_TIMEOUT;
    case API_CANCELLED:
        return OUTCOME_CANCELLED;
    case API_WORKER_CRASHED:
    case API_WORKER_PROTOCOL:
        return OUTCOME_CRASHED;
    default:
        break;
    }
    if (err->status == 400)
        return OUTCOME_REJECTED;
    return OUTCOME_UNSERVED;
}

/* The result is published and the waiter resumed under the job lock, so
 * job_park sees either "not done" (and will be resumed) or "done" (and
 * answers itself), never a lost wake-up. */
void job_complete(struct job *job, json_t *result, const struct api_error *err) {
    ASSERT_DISPATCHER(job->pool);
    assert(!job->done); /* a job ends once: it holds the pool's reference until then */
    if (job_is_run(job)) {
        enum run_outcome o = outcome_of(result, err);
        if (result != NULL && job->status == api_codes[API_TIMEOUT].status)
            o = OUTCOME_TIMEOUT;
        else if (result != NULL && job->status == api_codes[API_CANCELLED].status)
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
        api_error_of(&job->error, API_INTERNAL, "the job ended without an answer");
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

void job_fail(struct job *job, enum api_code code, const char *fmt, ...) {
    struct api_error err;
    va_list ap;
    va_start(ap, fmt);
    api_error_vset(&err, api_codes[code].status, code, fmt, ap);
    va_end(ap);
    job_complete(job, NULL, &err);
}

void job_fail_status(struct job *job, int status, enum api_code code, const char *fmt, ...) {
    struct api_error err;
    va_list ap;
    va_start(ap, fmt);
    api_error_vset(&err, status, code, fmt, ap);
    va_end(ap);
    job_complete(job, NULL, &err);
}

void job_fail_cancelled(struct job *job, double now) {
    job->queue_ms = now - job->enqueued_at;
    if (job->client_gone)
        job_fail(job, API_CANCELLED, "the client went away before the run started; it never ran");
    else
        job_fail(job, API_CANCELLED, "the run was cancelled before it started; it never ran");
}
