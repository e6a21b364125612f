#include "runs.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "pool.h"

/* A flat array: live runs are bounded by the connections (a few hundred at
 * most), and a lookup is rare (a cancel, a submit's duplicate check). */
struct runs {
    pthread_mutex_t lock;
    struct job **jobs;
    size_t n, cap;
};

struct runs *runs_new(void) {
    struct runs *r = calloc(1, sizeof *r);
    if (r != NULL)
        pthread_mutex_init(&r->lock, NULL);
    return r;
}

void runs_free(struct runs *r) {
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        job_release(r->jobs[i]);
    free(r->jobs);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static struct job *find_locked(struct runs *r, const char *owner, const char *id) {
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->jobs[i]->run_id, id) == 0 && strcmp(r->jobs[i]->owner, owner) == 0)
            return r->jobs[i];
    return NULL;
}

bool runs_add(struct runs *r, struct job *job) {
    bool ok = false;
    pthread_mutex_lock(&r->lock);
    if (find_locked(r, job->owner, job->run_id) != NULL)
        goto out;
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64;
        struct job **grown = realloc(r->jobs, cap * sizeof *grown);
        if (grown == NULL)
            goto out;
        r->jobs = grown;
        r->cap = cap;
    }
    atomic_fetch_add(&job->refs, 1);
    r->jobs[r->n++] = job;
    ok = true;
out:
    pthread_mutex_unlock(&r->lock);
    return ok;
}

void runs_remove(struct runs *r, struct job *job) {
    bool found = false;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n; i++) {
        if (r->jobs[i] == job) {
            r->jobs[i] = r->jobs[--r->n];
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&r->lock);
    if (found)
        job_release(job);
}

struct job *runs_find(struct runs *r, const char *owner, const char *id) {
    struct job *job;
    pthread_mutex_lock(&r->lock);
    job = find_locked(r, owner, id);
    if (job != NULL)
        atomic_fetch_add(&job->refs, 1);
    pthread_mutex_unlock(&r->lock);
    return job;
}

void runs_each(struct runs *r, void (*fn)(struct job *job, void *arg), void *arg) {
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n; i++)
        fn(r->jobs[i], arg);
    pthread_mutex_unlock(&r->lock);
}

void runs_stats(struct runs *r, double now, size_t *n, double *oldest_ms) {
    double oldest = now;
    pthread_mutex_lock(&r->lock);
    *n = r->n;
    for (size_t i = 0; i < r->n; i++)
        if (r->jobs[i]->submitted_at < oldest)
            oldest = r->jobs[i]->submitted_at;
    pthread_mutex_unlock(&r->lock);
    *oldest_ms = now - oldest;
}
