/* The session requests the dispatcher serves (dispatcher thread only).
 * A session is its signed image in the store (session.c, store.c); its runs
 * are served by the pool's workers like stateless ones, one at a time and in
 * order (each session's line), with the image applied before the run and
 * captured after it. A worker keeps the state of the session it just ran
 * (slot->resident) until it must serve someone else, so consecutive runs of
 * one session skip the apply and the reset. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "scopebox_limits.h"
#include "log.h"
#include "metrics.h"
#include "pool_private.h"
#include "wire.h"

/* Runs that may wait in one session's line; more get 503. */
#define SESSION_QUEUE_MAX 16
/* Idle sessions are looked for this often. */
#define EXPIRY_EVERY_MS 1000.0
#define EXPIRY_BATCH 256
/* A page of GET /v1/sessions: this many when the request says none, at most
 * LIST_MAX (http.c refuses more). */
#define LIST_DEFAULT LIMIT_SESSIONS_PAGE_DEFAULT
#define LIST_MAX LIMIT_SESSIONS_PAGE_MAX

static double wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void fail_unknown_session(struct pool *p, struct job *job) {
    const char *why = sessions_why(p->sessions, job->session);
    if (why != NULL)
        job_fail(job, API_SESSION_NOT_FOUND, "session '%s' %s", job->session, why);
    else
        job_fail(job, API_SESSION_NOT_FOUND, "no session '%s' (never created, or ended long ago)",
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
        job_fail(job, API_TOO_MANY_SESSIONS,
                 "the session store is full (sessions or bytes): end one (DELETE) or retry later");
    else if (r == STORE_NOT_FOUND)
        job_fail(job, API_SESSION_NOT_FOUND, "session '%s' was deleted while %s", job->session,
                 what);
    else
        job_fail(job, API_INTERNAL, "the session store failed while %s", what);
}

static json_t *session_summary(const struct pool *p, const struct session_meta *m) {
    char created[32], used[32];
    time_t t;
    struct tm tm;
    t = (time_t)(m->created_ms / 1000);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    t = (time_t)(m->used_ms / 1000);
    strftime(used, sizeof used, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "id", m->id, "created", created, "last_used",
                     used, "runs", (json_int_t)m->runs, "image_bytes", (json_int_t)m->image_len,
                     "idle_ttl_ms", (json_int_t)p->cfg->session_ttl_ms);
}

static void answer_new(struct job *job, int status, json_t *body) {
    if (body == NULL) {
        job_fail(job, API_INTERNAL, "out of memory");
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
        job_fail(job, API_INTERNAL, "out of memory");
        return;
    }
    if (line->waiting.n >= SESSION_QUEUE_MAX) {
        job_fail(job, API_QUEUE_FULL, "session '%s' already has %d runs waiting", job->session,
                 line->waiting.n);
        sessions_line_release(p->sessions, line);
        return;
    }
    queue_push(&line->waiting, job);
    line_advance(p, line);
}

/* From job_complete: the session may take its next job. A creation that did
 * not answer leaves no session behind: the client never saw its id. */
void session_job_done(struct pool *p, struct job *job, bool answered) {
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
    job_fail(job, API_KEY_SESSION_LIMIT,
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
            job_fail(job, API_INVALID_IMAGE,
                     "the image's signature does not match: it was not exported by a server "
                     "with this session key, or it was changed");
            return;
        }
        if (!sessions_image_compatible(p->sessions, image, image_len)) {
            job_fail(job, API_SESSION_INCOMPATIBLE,
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
        json_t *body =
            json_pack("{s:s, s:{}, s:{}, s:I, s:i}", "id", meta.id, "scope", "definitions",
                      "idle_ttl_ms", (json_int_t)p->cfg->session_ttl_ms, "runs", 0);
        answer_new(job, 201, body);
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
        job_fail(job, API_INTERNAL, "the session store failed while deleting it");
        return;
    }
    sessions_ended(p->sessions, job->session, "was deleted");
    line = sessions_line(p->sessions, job->session, false);
    if (line != NULL) {
        while ((waiting = queue_pop(&line->waiting)) != NULL)
            job_fail(waiting, API_SESSION_NOT_FOUND, "session '%s' was deleted", job->session);
        sessions_line_release(p->sessions, line);
    }
    answer_new(job, 200, json_pack("{s:b, s:s}", "ok", 1, "id", job->session));
}

static void session_list(struct pool *p, struct job *job) {
    unsigned limit = job->list_limit ? job->list_limit : LIST_DEFAULT;
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
        job_fail(job, API_INTERNAL, "out of memory");
        return;
    }
    n = store_list(sessions_store(p->sessions), job->owner, job->list_after, page, limit + 1);
    for (size_t i = 0; i < n && i < limit; i++)
        json_array_append_new(items, session_summary(p, &page[i]));
    body = json_pack("{s:o, s:o}", "sessions", items, "next",
                     n > limit ? json_string(page[limit - 1].id) : json_null());
    free(page);
    answer_new(job, 200, body);
}

/* The session's signed image, checked: an image edited in the store is never
 * handed on (nor to a worker, session_job_frame). `image` and `image_len`,
 * when given, get the image inside the signed one. */
static bool session_image(struct pool *p, struct job *job, struct session_meta *meta,
                          uint8_t **signed_image, const uint8_t **image, size_t *image_len) {
    const uint8_t *inside = NULL;
    size_t len = 0;
    enum store_result r = store_get(sessions_store(p->sessions), job->session, meta, signed_image);
    if (r != STORE_OK) {
        fail_store(job, r, "reading it");
        return false;
    }
    if (image != NULL)
        *image = NULL, *image_len = 0;
    if (meta->image_len == 0)
        return true;
    inside = session_verify(p->sessions, *signed_image, meta->image_len, &len);
    if (inside == NULL) {
        free(*signed_image);
        *signed_image = NULL;
        job_fail_status(job, 409, API_INVALID_IMAGE,
                        "session '%s': its stored image fails its signature check (changed in the "
                        "store?) and is refused",
                        job->session);
        return false;
    }
    if (image != NULL)
        *image = inside, *image_len = len;
    return true;
}

static void session_fork(struct pool *p, struct job *job) {
    struct session_meta meta, copy;
    uint8_t *image = NULL;
    enum store_result r;
    json_t *body;

    if (!session_lookup(p, job, &meta) || !session_image(p, job, &meta, &image, NULL, NULL))
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
    answer_new(job, 201, body);
}

static void session_export(struct pool *p, struct job *job) {
    struct session_meta meta;
    uint8_t *image = NULL;
    char *text;
    size_t len = 0;
    json_t *body;

    if (!session_lookup(p, job, &meta) || !session_image(p, job, &meta, &image, NULL, NULL))
        return;
    if (meta.image_len == 0) {
        /* Never run: there is no state to carry yet. */
        job_fail_status(job, 409, API_INVALID_IMAGE,
                        "session '%s' has not run yet: there is no image to export", job->session);
        return;
    }
    text = base64_encode(image, meta.image_len, &len);
    free(image);
    body = text ? session_summary(p, &meta) : NULL;
    if (body)
        json_object_set_new(body, "image", json_stringn(text, len));
    free(text);
    answer_new(job, 200, body);
}

/* The session jobs the dispatcher answers itself, with no worker. */
static void (*const served_here[])(struct pool *p, struct job *job) = {
    [JOB_SESSION_CREATE] = session_create, [JOB_SESSION_DELETE] = session_delete,
    [JOB_SESSION_LIST] = session_list,     [JOB_SESSION_FORK] = session_fork,
    [JOB_SESSION_EXPORT] = session_export, [JOB_SESSION_GET] = NULL,
};

/* Session jobs arrive on the control queue; routing them is the only place
 * session ids are looked up, so no lock guards the sessions themselves. */
void session_jobs_route(struct pool *p, bool stopping) {
    struct job_queue list;
    struct job *job;
    struct session_meta meta;

    ASSERT_DISPATCHER(p);

    pthread_mutex_lock(&p->lock);
    list = queue_take(&p->ctl);
    pthread_mutex_unlock(&p->lock);

    while ((job = queue_pop(&list)) != NULL) {
        if (stopping) {
            job_fail(job, API_SHUTTING_DOWN, "the server is shutting down");
            continue;
        }
        if (served_here[job->kind] != NULL) {
            served_here[job->kind](p, job);
        } else if (atomic_load(&job->cancel)) {
            job_fail_cancelled(job, clock_ms());
        } else if (session_lookup(p, job, &meta)) {
            /* Runs and GET: on a worker, in the session's line. */
            store_touch(sessions_store(p->sessions), job->session, wall_ms());
            job->capture = job->kind == JOB_SESSION_RUN;
            line_push(p, job);
        }
    }
}

/* Sessions idle past --session-ttl-ms end (not those with requests). */
void session_jobs_expire(struct pool *p, double now) {
    char(*ids)[SESSION_ID_MAX + 1];
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

/* `msg` as a frame with `image` spliced in as its last member, base64
 * written straight into the frame: base64 needs no JSON escaping, so the
 * image is gone over once rather than encoded, copied into a JSON string and
 * dumped twice (this is the dispatcher's work before each resumed run). */
static bool frame_with_image(const json_t *msg, const uint8_t *image, size_t len, uint8_t **out,
                             size_t *out_len, char *why, size_t why_len) {
    static const char key[] = ",\"image\":\"";
    size_t plain, n;
    uint8_t *buf;

    if (!frame_encode(msg, out, out_len, why, why_len))
        return false;
    plain = *out_len - FRAME_HEADER_SIZE; /* "{...}" */
    n = plain - 1 + (sizeof key - 1) + BASE64_LEN(len) + 2;
    if (n > FRAME_MAX_PAYLOAD || (buf = realloc(*out, FRAME_HEADER_SIZE + n)) == NULL) {
        snprintf(why, why_len, "a %zu-byte image does not fit in a frame", len);
        free(*out);
        *out = NULL;
        return false;
    }
    memcpy(buf + FRAME_HEADER_SIZE + plain - 1, key, sizeof key - 1);
    base64_encode_to(image, len, (char *)buf + FRAME_HEADER_SIZE + plain - 1 + sizeof key - 1);
    memcpy(buf + FRAME_HEADER_SIZE + n - 2, "\"}", 2);
    buf[0] = (uint8_t)(n >> 24), buf[1] = (uint8_t)(n >> 16), buf[2] = (uint8_t)(n >> 8);
    buf[3] = (uint8_t)n;
    *out = buf;
    *out_len = FRAME_HEADER_SIZE + n;
    return true;
}

/* A session's job on the worker picked for it: the session's image goes in
 * the message unless the worker holds that very state already. Fails the job
 * (and returns false) when the session is gone or its image is refused. */
bool session_job_frame(struct slot *s, struct job *job) {
    struct pool *p = s->pool;
    struct session_meta meta;
    uint8_t *signed_image = NULL;
    const uint8_t *image = NULL;
    size_t image_len = 0;
    char why[160];
    bool resident, ok;

    /* Replicas sharing the store: one run of a session at a time across all
     * of them. The lease outlives the longest the run can take, so it
     * expires on its own if this replica dies holding it. */
    if (store_shared(sessions_store(p->sessions)) && job->lease[0] == '\0') {
        snprintf(job->lease, sizeof job->lease, "%s-%llu", p->token, (unsigned long long)job->id);
        unsigned ttl = job->timeout_ms + p->cfg->timeout_grace_ms + (unsigned)CAPTURE_GRACE_MS +
                       LEASE_SLACK_MS;
        if (!store_lease(sessions_store(p->sessions), job->session, job->lease, ttl, true)) {
            job->lease[0] = '\0';
            metrics_session_lease_wait();
            job_fail(job, API_SESSION_BUSY,
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
        if (!session_image(p, job, &meta, &signed_image, &image, &image_len))
            return false;
        if (!sessions_image_compatible(p->sessions, image, image_len)) {
            free(signed_image);
            job_fail(job, API_SESSION_INCOMPATIBLE,
                     "session '%s' was saved by another build of the interpreter and cannot be "
                     "resumed here",
                     job->session);
            return false;
        }
    }
    if (job->capture)
        json_object_set_new(job->msg, "capture", json_true());
    free(job->frame);
    job->frame = NULL;
    ok = image != NULL ? frame_with_image(job->msg, image, image_len, &job->frame, &job->frame_len,
                                          why, sizeof why)
                       : frame_encode(job->msg, &job->frame, &job->frame_len, why, sizeof why);
    free(signed_image);
    json_object_del(job->msg, "image");
    if (!ok) {
        job_fail(job, API_INTERNAL, "session '%s' does not fit in a worker frame: %s", job->session,
                 why);
        return false;
    }
    return true;
}

void session_job_inspected(struct pool *p, struct job *job, const json_t *msg) {
    struct session_meta meta;
    json_t *body;
    meta.runs = 0;
    if (job->kind == JOB_SESSION_GET)
        store_get(sessions_store(p->sessions), job->session, &meta, NULL);
    body = wire_session_new(job->session, msg, p->cfg->session_ttl_ms, meta.runs);
    job->status = job->kind == JOB_SESSION_GET ? 200 : 201;
    job_complete(job, body, NULL);
}

/* Signed, stored if the session is still at the version the run started
 * from (compare-and-set), and only then is the run answered. On any failure
 * the session keeps the image from before the run. `raw` (malloc'd, taken):
 * the image decoded from the frame `msg`, NULL when it has none or it is
 * not base64. */
void session_job_captured(struct slot *s, struct job *job, const json_t *msg, uint8_t *raw,
                          size_t raw_len) {
    struct pool *p = s->pool;
    struct store *st = sessions_store(p->sessions);
    struct session_meta meta;
    uint8_t *signed_image = NULL;
    size_t signed_len = 0;
    enum store_result r;
    json_t *pending, *body;

    if (!json_is_string(json_object_get(msg, "image"))) {
        char why[200];
        log_at(LOG_WARNING, "worker %d: no image of session %s: %s", (int)s->proc.pid, job->session,
               wire_member(msg, "error", why, sizeof why));
        free(raw);
        job_fail(job, API_INTERNAL,
                 "the session's state after the run could not be saved; it keeps its state "
                 "from before the run");
        return;
    }
    metrics_session_capture(json_number_value(json_object_get(msg, "capture_ms")));
    if (raw != NULL)
        signed_image = session_sign(p->sessions, raw, raw_len, &signed_len);
    free(raw);
    if (signed_image == NULL) {
        job_fail(job, API_INTERNAL, "the session's image could not be read or signed");
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
    pending = job->pending;
    job->pending = NULL;
    if (r != STORE_OK) {
        metrics_session_store_error();
        json_decref(pending);
        if (r == STORE_CONFLICT)
            job_fail(job, API_SESSION_CONFLICT,
                     "session '%s' changed while this run ran; the run's state was dropped",
                     job->session);
        else
            fail_store(job, r, "running");
        return;
    }
    /* Before the job ends: once it has, the job may be freed. */
    snprintf(s->resident, sizeof s->resident, "%s", job->session);
    s->resident_version = meta.version;
    /* A run's answer as it ran; a creation's, the session it made. */
    if (job->kind == JOB_SESSION_RUN) {
        body = wire_answer_steal(pending);
    } else {
        body = wire_session_new(job->session, pending, p->cfg->session_ttl_ms, meta.runs);
        json_decref(pending);
    }
    job->status = job->kind == JOB_SESSION_CREATE ? 201 : 200;
    job->timed = job->kind == JOB_SESSION_RUN;
    job_complete(job, body, NULL);
}
