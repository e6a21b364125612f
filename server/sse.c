#include "sse.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "response.h"

/* Output events held for a client that reads slowly. A run's output is
 * capped anyway (--output-cap-bytes, each stream), so this only bounds the
 * JSON escaping on top of it; past it, output events are dropped (the last
 * event still carries the whole capped output). */
#define SSE_MAX_PENDING (16u << 20)

struct sse {
    pthread_mutex_t lock;        /* guards everything below */
    struct MHD_Connection *conn; /* NULL once detached */
    char *buf;
    size_t len, off, cap;
    bool suspended; /* by the reader, waiting for events */
    bool done;      /* the run is done: finish once drained */
    bool finishing, ended;
    void (*finish)(void *arg, struct sse *sse);
    void *arg;
    atomic_int refs;
};

struct sse *sse_new(struct MHD_Connection *conn, void (*finish)(void *arg, struct sse *sse),
                    void *arg) {
    struct sse *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    pthread_mutex_init(&e->lock, NULL);
    e->conn = conn;
    e->finish = finish;
    e->arg = arg;
    atomic_init(&e->refs, 1);
    return e;
}

void sse_ref(struct sse *e) {
    atomic_fetch_add(&e->refs, 1);
}

void sse_release(struct sse *e) {
    if (e == NULL || atomic_fetch_sub(&e->refs, 1) != 1)
        return;
    free(e->buf);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

/* With the lock held: the reader said "nothing yet" and suspended the
 * connection; something is there now. */
static void wake_locked(struct sse *e) {
    if (e->suspended && e->conn != NULL) {
        e->suspended = false;
        MHD_resume_connection(e->conn);
    }
}

static bool append_locked(struct sse *e, const char *a, size_t n) {
    if (e->len + n > e->cap) {
        size_t cap = e->cap ? e->cap : 4096;
        char *grown;
        while (cap < e->len + n)
            cap *= 2;
        grown = realloc(e->buf, cap);
        if (grown == NULL)
            return false;
        e->buf = grown;
        e->cap = cap;
    }
    memcpy(e->buf + e->len, a, n);
    e->len += n;
    return true;
}

bool sse_event(struct sse *e, const char *comment, const char *event, const char *data,
               size_t len) {
    char head[96];
    int n;
    bool ok;

    pthread_mutex_lock(&e->lock);
    /* The last event (finishing) always goes in. */
    if (!e->finishing && e->len - e->off + len > SSE_MAX_PENDING) {
        pthread_mutex_unlock(&e->lock);
        return false;
    }
    ok = true;
    if (comment != NULL) {
        n = snprintf(head, sizeof head, ": %s\n", comment);
        ok = append_locked(e, head, (size_t)n);
    }
    n = snprintf(head, sizeof head, "event: %s\ndata: ", event);
    ok = ok && append_locked(e, head, (size_t)n) && append_locked(e, data, len) &&
         append_locked(e, "\n\n", 2);
    wake_locked(e);
    pthread_mutex_unlock(&e->lock);
    return ok;
}

void sse_done(struct sse *e) {
    pthread_mutex_lock(&e->lock);
    e->done = true;
    wake_locked(e);
    pthread_mutex_unlock(&e->lock);
}

void sse_detach(struct sse *e) {
    pthread_mutex_lock(&e->lock);
    e->conn = NULL;
    pthread_mutex_unlock(&e->lock);
}

/* libmicrohttpd asks for the next bytes of the body. */
static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max) {
    struct sse *e = cls;
    (void)pos;
    pthread_mutex_lock(&e->lock);
    for (;;) {
        if (e->len > e->off) {
            size_t n = e->len - e->off < max ? e->len - e->off : max;
            memcpy(out, e->buf + e->off, n);
            e->off += n;
            if (e->off == e->len)
                e->off = e->len = 0;
            pthread_mutex_unlock(&e->lock);
            return (ssize_t)n;
        }
        if (e->ended) {
            pthread_mutex_unlock(&e->lock);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (e->done && !e->finishing) {
            e->finishing = true;
            pthread_mutex_unlock(&e->lock);
            e->finish(e->arg, e); /* appends the last event(s) */
            pthread_mutex_lock(&e->lock);
            e->ended = true;
            continue;
        }
        /* Nothing yet: libmicrohttpd must not call again until there is
         * (returning 0 without suspending would spin its thread). */
        e->suspended = true;
        if (e->conn != NULL)
            MHD_suspend_connection(e->conn);
        pthread_mutex_unlock(&e->lock);
        return 0;
    }
}

static void free_reader(void *cls) {
    sse_release(cls);
}

struct MHD_Response *sse_response(struct sse *e, const char *run_id) {
    struct MHD_Response *r;
    sse_ref(e);
    /* 16 KiB blocks: an output event is at most about that (the worker's
     * flush size), so one is seldom split. */
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, reader, e, free_reader);
    if (r == NULL) {
        sse_release(e);
        return NULL;
    }
    response_headers(r, "text/event-stream; charset=utf-8", run_id);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    /* nginx and similar proxies pass the events on as they come. */
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    return r;
}
