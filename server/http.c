#define _GNU_SOURCE /* strcasestr */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "openapi.h"
#include "request.h"
#include "static.h"

/* Idle keep-alive connections are closed after this long. Suspended ones
 * (waiting for a worker) never time out in libmicrohttpd: the run and queue
 * deadlines bound them instead. */
#define CONNECTION_TIMEOUT_S 60

/* A body over --max-body-bytes is still read (and dropped) up to this many
 * bytes before the 413 goes out. Answering at once and closing makes the
 * kernel reset the connection under a client still sending, and clients
 * that write the whole body before reading (Python's http.client) then see
 * a broken pipe instead of the 413. Past this, or when the client asked
 * "Expect: 100-continue" and so is waiting for a word from us, the answer
 * goes out at once and the connection is closed. */
#define DRAIN_LIMIT (16ULL << 20)

struct http {
    const struct config *cfg;
    struct pool *pool;
    struct MHD_Daemon *daemon;
    MHD_socket quiesced_fd;
    unsigned port;
    bool ipv6;
    atomic_int active; /* requests between first callback and completion */
};

/* ROUTE_BODY: answered once a JSON body is in (runs, session creation);
 * ROUTE_SESSION: a session GET or DELETE, answered by the pool. */
enum route { ROUTE_BODY, ROUTE_SESSION, ROUTE_OPENAPI, ROUTE_HEALTH, ROUTE_METRICS, ROUTE_STATIC,
             ROUTE_REFUSE };

/* Per request, from the first access-handler call to the completion
 * callback (libmicrohttpd's *req_cls). */
struct exchange {
    struct http *http;
    struct MHD_Connection *conn;
    double started;
    char method[16];
    char path[160];
    enum route route;
    struct api_error refusal; /* ROUTE_REFUSE: the answer, decided early */
    const char *allow;        /* its Allow header, for 405 */
    enum request_kind req_kind;           /* ROUTE_BODY */
    enum job_kind job_kind;               /* ROUTE_BODY, ROUTE_SESSION */
    char session[SESSION_ID_MAX + 1];     /* from the path, if any */
    char list_after[SESSION_ID_MAX + 1];  /* GET /v1/sessions */
    unsigned list_limit;
    char *body;
    size_t len, cap;
    unsigned long long seen; /* body bytes received, kept or not */
    bool too_large;
    struct job *job;
    unsigned status;
    size_t bytes;
};

/* ---- responses ------------------------------------------------------------ */

static enum MHD_Result respond(struct exchange *ex, unsigned status, char *body, size_t len,
                               const char *content_type, const char *hname, const char *hval) {
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (hname != NULL)
        MHD_add_response_header(r, hname, hval);
    ret = MHD_queue_response(ex->conn, status, r);
    MHD_destroy_response(r);
    ex->status = status;
    ex->bytes = len;
    return ret;
}

/* Compact JSON plus a newline, so that curl output ends cleanly. */
static char *dump_line(const json_t *obj, size_t *len) {
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL, *grown;
    size_t n;
    if (text == NULL)
        return NULL;
    n = strlen(text); /* NUL inside strings is escaped, never raw */
    grown = realloc(text, n + 2);
    if (grown == NULL) {
        free(text);
        return NULL;
    }
    grown[n] = '\n';
    grown[n + 1] = '\0';
    *len = n + 1;
    return grown;
}

static enum MHD_Result respond_json(struct exchange *ex, unsigned status, json_t *obj,
                                    const char *hname, const char *hval) {
    size_t len;
    char *body = dump_line(obj, &len);
    json_decref(obj);
    if (body == NULL)
        return MHD_NO;
    return respond(ex, status, body, len, "application/json", hname, hval);
}

static enum MHD_Result respond_error(struct exchange *ex, const struct api_error *err,
                                     const char *hname, const char *hval) {
    /* Back-pressure errors tell the client when to come back. */
    if (hname == NULL && err->status == 503) {
        hname = "Retry-After";
        hval = "1";
    }
    return respond_json(ex, (unsigned)err->status, api_error_json(err), hname, hval);
}

/* The worker's object is dumped as is and the host's timing appended as
 * text: re-encoding the timing through jansson would print 0.123 as
 * 0.12300000000000000, and the worker's own numbers must not be touched. */
static enum MHD_Result respond_result(struct exchange *ex, const struct job *job) {
    char *text = json_dumps(job->result, JSON_COMPACT), *body;
    char timing[128], location[sizeof "/v1/sessions/" + SESSION_ID_MAX];
    size_t n, t = 0;

    if (text == NULL)
        return MHD_NO;
    n = strlen(text);
    if (job->timed)
        t = (size_t)snprintf(timing, sizeof timing, "%s\"timing\":{\"queue_ms\":%.3f,\"run_ms\":%.3f}",
                             n > 2 ? "," : "", job->queue_ms, job->run_ms);
    body = realloc(text, n + t + 2);
    if (body == NULL) {
        free(text);
        return MHD_NO;
    }
    memcpy(body + n - 1, timing, t);  /* over the closing brace */
    memcpy(body + n - 1 + t, "}\n", 3);
    if (job->status == 201) {
        snprintf(location, sizeof location, "/v1/sessions/%s", job->session);
        return respond(ex, 201, body, n + t + 1, "application/json", MHD_HTTP_HEADER_LOCATION,
                       location);
    }
    return respond(ex, (unsigned)job->status, body, n + t + 1, "application/json", NULL, NULL);
}

/* ---- routes --------------------------------------------------------------- */

static bool is_method(const struct exchange *ex, const char *m) {
    return strcmp(ex->method, m) == 0;
}

static void refuse_not_found(struct exchange *ex) {
    ex->route = ROUTE_REFUSE;
    api_error_set(&ex->refusal, 404, ERR_NOT_FOUND, "no such resource: %s", ex->path);
}

static void refuse_method(struct exchange *ex, const char *allow) {
    ex->route = ROUTE_REFUSE;
    ex->allow = allow;
    api_error_set(&ex->refusal, 405, ERR_METHOD_NOT_ALLOWED, "%s does not accept %s (allowed: %s)",
                  ex->path, ex->method, allow);
}

static enum MHD_Result respond_refusal(struct exchange *ex) {
    return respond_error(ex, &ex->refusal, ex->allow ? MHD_HTTP_HEADER_ALLOW : NULL, ex->allow);
}

static unsigned long long drain_limit(const struct exchange *ex) {
    unsigned long long twice = 2ULL * ex->http->cfg->max_body_bytes;
    return twice > DRAIN_LIMIT ? twice : DRAIN_LIMIT;
}

static bool expects_continue(const struct exchange *ex) {
    const char *expect =
        MHD_lookup_connection_value(ex->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    return expect != NULL && strcasestr(expect, "100-continue") != NULL;
}

/* 0 when absent (chunked bodies are policed as they arrive). */
static unsigned long long declared_length(const struct exchange *ex) {
    const char *cl = MHD_lookup_connection_value(ex->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    return cl ? strtoull(cl, NULL, 10) : 0;
}

static bool has_body(const struct exchange *ex) {
    return declared_length(ex) > 0 ||
           MHD_lookup_connection_value(ex->conn, MHD_HEADER_KIND,
                                       MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
}

static enum MHD_Result health(struct exchange *ex) {
    struct pool_stats st;
    bool ok;

    pool_stats(ex->http->pool, &st);
    /* A booted worker that is busy still serves: load is not ill health. */
    ok = st.ready + st.busy > 0;
    return respond_json(ex, ok ? 200 : 503,
                        json_pack("{s:b, s:{s:i, s:i, s:i}}", "ok", ok, "workers", "ready",
                                  st.ready, "busy", st.busy, "total", st.total),
                        NULL, NULL);
}

static enum MHD_Result metrics(struct exchange *ex) {
    struct pool_stats st;
    struct metrics_gauges g;
    size_t len;
    char *body;

    pool_stats(ex->http->pool, &st);
    g = (struct metrics_gauges){st.ready, st.busy, st.total, st.queued, st.sessions,
                                st.session_bytes, st.pids, st.n_pids};
    body = metrics_render(&g, &len);
    if (body == NULL)
        return MHD_NO;
    return respond(ex, 200, body, len, "text/plain; version=0.0.4; charset=utf-8", NULL, NULL);
}

static enum MHD_Result openapi(struct exchange *ex) {
    char *body = malloc(openapi_json_len);
    if (body == NULL)
        return MHD_NO;
    memcpy(body, openapi_json, openapi_json_len);
    return respond(ex, 200, body, openapi_json_len, "application/json", NULL, NULL);
}

/* Headers and validators come from static.c: a precompressed ".gz" copy
 * when the client takes gzip, and 304 when its If-None-Match still holds. */
static enum MHD_Result serve_static(struct exchange *ex, const char *url) {
    struct static_file f;
    struct MHD_Response *r;
    enum MHD_Result ret;
    unsigned status = MHD_HTTP_OK;

    if (!static_open_negotiated(ex->http->cfg->web_dir, url,
                                MHD_lookup_connection_value(ex->conn, MHD_HEADER_KIND,
                                                            MHD_HTTP_HEADER_ACCEPT_ENCODING),
                                &f)) {
        refuse_not_found(ex);
        return respond_refusal(ex);
    }
    if (static_not_modified(&f, MHD_lookup_connection_value(ex->conn, MHD_HEADER_KIND,
                                                            MHD_HTTP_HEADER_IF_NONE_MATCH))) {
        close(f.fd);
        f.size = 0;
        status = MHD_HTTP_NOT_MODIFIED;
        r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    } else {
        r = MHD_create_response_from_fd(f.size, f.fd); /* owns the fd now */
        if (r == NULL)
            close(f.fd);
    }
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, f.content_type);
    for (size_t i = 0; static_headers[i][0] != NULL; i++)
        MHD_add_response_header(r, static_headers[i][0], static_headers[i][1]);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, f.etag);
    if (f.last_modified[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_LAST_MODIFIED, f.last_modified);
    if (f.content_encoding)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, f.content_encoding);
    if (f.varies)
        MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    ret = MHD_queue_response(ex->conn, status, r);
    MHD_destroy_response(r);
    ex->status = status;
    ex->bytes = (size_t)f.size;
    return ret;
}

static enum MHD_Result submit(struct exchange *ex, const struct run_request *req);

/* Every route but those with a JSON body is answered from the headers. */
static enum MHD_Result answer_now(struct exchange *ex, const char *url) {
    switch (ex->route) {
    case ROUTE_HEALTH:
        return health(ex);
    case ROUTE_OPENAPI:
        return openapi(ex);
    case ROUTE_METRICS:
        return metrics(ex);
    case ROUTE_SESSION:
        return submit(ex, NULL);
    case ROUTE_STATIC:
        return serve_static(ex, url);
    case ROUTE_REFUSE:
        return respond_refusal(ex);
    case ROUTE_BODY:
        break;
    }
    return MHD_NO;
}

/* A route that takes a JSON body, if the headers allow it. */
static void expect_body(struct exchange *ex, enum request_kind req_kind, enum job_kind job_kind) {
    if (!request_check_media_type(
            MHD_lookup_connection_value(ex->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
            &ex->refusal) ||
        !request_check_size(declared_length(ex), ex->http->cfg->max_body_bytes, &ex->refusal)) {
        ex->route = ROUTE_REFUSE;
        return;
    }
    ex->route = ROUTE_BODY;
    ex->req_kind = req_kind;
    ex->job_kind = job_kind;
}

/* GET /v1/sessions?limit=N&after=ID: a page of the caller's sessions. */
static void route_list(struct exchange *ex) {
    const char *limit = MHD_lookup_connection_value(ex->conn, MHD_GET_ARGUMENT_KIND, "limit");
    const char *after = MHD_lookup_connection_value(ex->conn, MHD_GET_ARGUMENT_KIND, "after");
    char *end = NULL;
    unsigned long n = 100;

    if (limit != NULL) {
        n = strtoul(limit, &end, 10);
        if (*limit < '0' || *limit > '9' || *end != '\0' || n < 1 || n > 1000) {
            ex->route = ROUTE_REFUSE;
            api_error_set(&ex->refusal, 400, ERR_INVALID_VALUE,
                          "query parameter 'limit' must be a whole number from 1 to 1000");
            return;
        }
    }
    if (after != NULL && *after != '\0' && !session_id_valid(after, strlen(after))) {
        ex->route = ROUTE_REFUSE;
        api_error_set(&ex->refusal, 400, ERR_INVALID_VALUE,
                      "query parameter 'after' must be a session id (the 'next' of a page)");
        return;
    }
    ex->route = ROUTE_SESSION;
    ex->job_kind = JOB_SESSION_LIST;
    ex->list_limit = (unsigned)n;
    snprintf(ex->list_after, sizeof ex->list_after, "%s", after ? after : "");
}

/* /v1/sessions/{id}[/run|/fork|/export]: the id, checked before anything else, since a
 * malformed one names no session whatever the method. */
static void route_session(struct exchange *ex, const char *rest) {
    const char *slash = strchr(rest, '/');
    size_t len = slash ? (size_t)(slash - rest) : strlen(rest);

    if (!session_id_valid(rest, len)) {
        char shown[SESSION_ID_MAX + 1];
        log_sanitize(shown, sizeof shown, rest, len);
        ex->route = ROUTE_REFUSE;
        api_error_set(&ex->refusal, 404, ERR_SESSION_NOT_FOUND, "no session '%s'", shown);
        return;
    }
    memcpy(ex->session, rest, len);
    ex->session[len] = '\0';
    if (slash == NULL) {
        ex->route = ROUTE_SESSION;
        if (is_method(ex, MHD_HTTP_METHOD_GET) || is_method(ex, MHD_HTTP_METHOD_HEAD))
            ex->job_kind = JOB_SESSION_GET;
        else if (is_method(ex, MHD_HTTP_METHOD_DELETE))
            ex->job_kind = JOB_SESSION_DELETE;
        else
            refuse_method(ex, "GET, HEAD, DELETE");
    } else if (strcmp(slash, "/run") == 0) {
        if (is_method(ex, MHD_HTTP_METHOD_POST))
            expect_body(ex, REQ_SESSION_RUN, JOB_SESSION_RUN);
        else
            refuse_method(ex, "POST");
    } else if (strcmp(slash, "/fork") == 0) {
        ex->route = ROUTE_SESSION;
        ex->job_kind = JOB_SESSION_FORK;
        if (!is_method(ex, MHD_HTTP_METHOD_POST))
            refuse_method(ex, "POST");
    } else if (strcmp(slash, "/export") == 0) {
        ex->route = ROUTE_SESSION;
        ex->job_kind = JOB_SESSION_EXPORT;
        if (!is_method(ex, MHD_HTTP_METHOD_GET) && !is_method(ex, MHD_HTTP_METHOD_HEAD))
            refuse_method(ex, "GET, HEAD");
    } else {
        refuse_not_found(ex);
    }
}

/* First call, headers only: picks the route, and refuses what can be refused
 * from the headers. The answer normally goes out in the last call, once any
 * unwanted body has been read and dropped (see DRAIN_LIMIT), which also
 * keeps the connection alive. Only a client waiting on Expect:
 * 100-continue, or one announcing a body past the drain limit, is answered
 * at once; libmicrohttpd then skips the body and closes the connection. */
static enum MHD_Result begin(struct exchange *ex, const char *url) {
    if (strcmp(url, "/v1/run") == 0) {
        if (is_method(ex, MHD_HTTP_METHOD_POST))
            expect_body(ex, REQ_RUN, JOB_RUN);
        else
            refuse_method(ex, "POST");
    } else if (strcmp(url, "/v1/sessions") == 0) {
        if (is_method(ex, MHD_HTTP_METHOD_POST))
            expect_body(ex, REQ_SESSION_CREATE, JOB_SESSION_CREATE);
        else if (is_method(ex, MHD_HTTP_METHOD_GET) || is_method(ex, MHD_HTTP_METHOD_HEAD))
            route_list(ex);
        else
            refuse_method(ex, "GET, HEAD, POST");
    } else if (strncmp(url, "/v1/sessions/", 13) == 0) {
        route_session(ex, url + 13);
    } else if (strcmp(url, "/v1/openapi.json") == 0) {
        if (is_method(ex, MHD_HTTP_METHOD_GET) || is_method(ex, MHD_HTTP_METHOD_HEAD))
            ex->route = ROUTE_OPENAPI;
        else
            refuse_method(ex, "GET, HEAD");
    } else if (strcmp(url, "/metrics") == 0) {
        if (is_method(ex, MHD_HTTP_METHOD_GET) || is_method(ex, MHD_HTTP_METHOD_HEAD))
            ex->route = ROUTE_METRICS;
        else
            refuse_method(ex, "GET, HEAD");
    } else if (strcmp(url, "/healthz") == 0) {
        if (is_method(ex, MHD_HTTP_METHOD_GET) || is_method(ex, MHD_HTTP_METHOD_HEAD))
            ex->route = ROUTE_HEALTH;
        else
            refuse_method(ex, "GET, HEAD");
    } else if (strcmp(url, "/v1") == 0 || strncmp(url, "/v1/", 4) == 0) {
        refuse_not_found(ex);
    } else if (is_method(ex, MHD_HTTP_METHOD_GET) || is_method(ex, MHD_HTTP_METHOD_HEAD)) {
        ex->route = ROUTE_STATIC;
    } else {
        struct static_file f;
        if (static_open(ex->http->cfg->web_dir, url, &f)) {
            close(f.fd);
            refuse_method(ex, "GET, HEAD");
        } else {
            refuse_not_found(ex);
        }
    }
    if (ex->route != ROUTE_BODY && has_body(ex) &&
        (expects_continue(ex) || declared_length(ex) > drain_limit(ex)))
        return answer_now(ex, url);
    return MHD_YES; /* answered in the last call, after the body */
}

/* Upload chunks. Bodies nobody will use, and a chunked run body past the
 * limit, are dropped as they come (a 413 follows for the latter); a client
 * still sending past the drain limit is cut off. */
static bool take_body(struct exchange *ex, const char *data, size_t n) {
    size_t max = ex->http->cfg->max_body_bytes;

    ex->seen += n;
    if (ex->seen > drain_limit(ex))
        return false;
    if (ex->route != ROUTE_BODY || ex->too_large)
        return true; /* dropped */
    if (ex->len + n > max) {
        ex->too_large = true;
        free(ex->body);
        ex->body = NULL;
        ex->len = ex->cap = 0;
        return true;
    }
    if (ex->len + n > ex->cap) {
        size_t cap = ex->cap ? ex->cap : 4096;
        char *p;
        while (cap < ex->len + n)
            cap *= 2;
        if (cap > max)
            cap = max;
        p = realloc(ex->body, cap);
        if (p == NULL)
            return false;
        ex->body = p;
        ex->cap = cap;
    }
    memcpy(ex->body + ex->len, data, n);
    ex->len += n;
    return true;
}

static void suspend_exchange(void *arg) {
    struct exchange *ex = arg;
    MHD_suspend_connection(ex->conn);
}

static void resume_exchange(void *arg) {
    struct exchange *ex = arg;
    MHD_resume_connection(ex->conn);
}

static enum MHD_Result answer_job(struct exchange *ex) {
    const struct job *job = ex->job;
    if (job_park(ex->job))
        return MHD_YES; /* not done: suspended again until it is */
    if (job->result != NULL)
        return respond_result(ex, job);
    return respond_error(ex, &job->error, NULL, NULL);
}

/* Hands a job to the pool and waits for it without blocking. `req` is NULL
 * for session GET and DELETE. */
static enum MHD_Result submit(struct exchange *ex, const struct run_request *req) {
    struct api_error err;
    struct job *job = job_new();

    if (job == NULL)
        return MHD_NO;
    job->suspend = suspend_exchange;
    job->resume = resume_exchange;
    job->arg = ex;
    job->list_limit = ex->list_limit;
    snprintf(job->list_after, sizeof job->list_after, "%s", ex->list_after);
    if (!pool_submit(ex->http->pool, job, ex->job_kind, ex->session, req, &err)) {
        job_release(job);
        return respond_error(ex, &err, NULL, NULL);
    }
    ex->job = job;
    return answer_job(ex);
}

/* Last call: the whole body is in. */
static enum MHD_Result run(struct exchange *ex) {
    struct run_request req;
    struct api_error err;
    enum MHD_Result ret;
    bool ok;

    if (ex->too_large) {
        request_check_size(ex->seen, ex->http->cfg->max_body_bytes, &err);
        return respond_error(ex, &err, NULL, NULL);
    }
    ok = request_parse(ex->req_kind, ex->body ? ex->body : "", ex->len, &req, &err);
    free(ex->body);
    ex->body = NULL;
    ex->len = ex->cap = 0;
    if (!ok)
        return respond_error(ex, &err, NULL, NULL);
    ret = submit(ex, &req);
    request_free(&req);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls) {
    struct http *h = cls;
    struct exchange *ex = *req_cls;
    (void)version;

    if (ex == NULL) {
        ex = calloc(1, sizeof *ex);
        if (ex == NULL)
            return MHD_NO;
        ex->http = h;
        ex->conn = conn;
        ex->started = clock_ms();
        log_sanitize(ex->method, sizeof ex->method, method, strlen(method));
        log_sanitize(ex->path, sizeof ex->path, url, strlen(url));
        atomic_fetch_add(&h->active, 1);
        *req_cls = ex;
        return begin(ex, url);
    }
    if (*upload_data_size != 0) {
        bool ok = take_body(ex, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return ok ? MHD_YES : MHD_NO;
    }
    if (ex->job != NULL) /* resumed */
        return answer_job(ex);
    if (ex->route == ROUTE_BODY)
        return run(ex);
    return answer_now(ex, url);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
    struct http *h = cls;
    struct exchange *ex = *req_cls;
    char queue[32] = "-", runms[32] = "-", pid[16] = "-";
    (void)conn;

    if (ex == NULL)
        return;
    metrics_http(ex->status);
    /* Normally done long ago; if not (the daemon tore the connection down),
     * the dispatcher must not resume it, nor may we read its results. */
    if (ex->job != NULL && job_abandon(ex->job)) {
        const struct job *job = ex->job;
        snprintf(queue, sizeof queue, "%.3f", job->queue_ms);
        snprintf(runms, sizeof runms, "%.3f", job->run_ms);
        if (job->worker_pid > 0)
            snprintf(pid, sizeof pid, "%d", (int)job->worker_pid);
    }
    log_msg("%s %s %u %zu queue_ms=%s run_ms=%s worker=%s total_ms=%.3f%s", ex->method, ex->path,
            ex->status, ex->bytes, queue, runms, pid, clock_ms() - ex->started,
            toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection lost)");
    job_release(ex->job);
    free(ex->body);
    free(ex);
    *req_cls = NULL;
    atomic_fetch_sub(&h->active, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    char buf[512];
    size_t n;
    (void)cls;
    vsnprintf(buf, sizeof buf, fmt, ap);
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    log_msg("http: %s", buf);
}

/* ---- life cycle ----------------------------------------------------------- */

struct http *http_start(const struct config *cfg, struct pool *pool, char *err, size_t err_len) {
    struct addrinfo hints, *ai = NULL;
    struct sockaddr_storage addr;
    const union MHD_DaemonInfo *info;
    struct http *h;
    char port[8];
    int rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof port, "%u", cfg->port);
    rc = getaddrinfo(cfg->host, port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, err_len, "--host %s: %s", cfg->host, gai_strerror(rc));
        return NULL;
    }
    memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
    h = calloc(1, sizeof *h);
    if (h == NULL) {
        freeaddrinfo(ai);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    h->cfg = cfg;
    h->pool = pool;
    h->quiesced_fd = MHD_INVALID_SOCKET;
    h->ipv6 = ai->ai_family == AF_INET6;
    atomic_init(&h->active, 0);
    freeaddrinfo(ai);

    h->daemon = MHD_start_daemon(
        MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
            (h->ipv6 ? MHD_USE_IPv6 : 0),
        (uint16_t)cfg->port, NULL, NULL, on_request, h,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, /* first, to catch option errors */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
        MHD_OPTION_END);
    if (h->daemon == NULL) {
        snprintf(err, err_len, "cannot listen on %s port %u (in use, or bad address?)",
                 cfg->host, cfg->port);
        free(h);
        return NULL;
    }
    info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : cfg->port;
    return h;
}

unsigned http_port(const struct http *h) {
    return h->port;
}

void http_url(const struct http *h, char *buf, size_t len) {
    bool literal6 = strchr(h->cfg->host, ':') != NULL;
    snprintf(buf, len, literal6 ? "http://[%s]:%u" : "http://%s:%u", h->cfg->host, h->port);
}

void http_quiesce(struct http *h) {
    h->quiesced_fd = MHD_quiesce_daemon(h->daemon);
    /* Quiescing only takes the socket out of libmicrohttpd's polling: the
     * kernel would go on completing handshakes into the backlog, and those
     * clients would hang until http_stop. Shut down, the socket stops
     * listening, so new connections are refused at once and a load
     * balancer moves on. The descriptor stays open until http_stop, as
     * libmicrohttpd's threads may still look at it. */
    if (h->quiesced_fd != MHD_INVALID_SOCKET)
        shutdown(h->quiesced_fd, SHUT_RDWR);
}

void http_wait_idle(struct http *h, unsigned ms) {
    double deadline = clock_ms() + ms;
    struct timespec tick = {0, 10 * 1000 * 1000};
    while (atomic_load(&h->active) > 0 && clock_ms() < deadline)
        nanosleep(&tick, NULL);
}

void http_stop(struct http *h) {
    if (h == NULL)
        return;
    MHD_stop_daemon(h->daemon);
    /* Not closed by libmicrohttpd once handed out by quiesce. */
    if (h->quiesced_fd != MHD_INVALID_SOCKET)
        close(h->quiesced_fd);
    free(h);
}
