#define _GNU_SOURCE /* strcasestr */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "crashlimit.h"
#include "keys.h"
#include "scopebox_limits.h"
#include "log.h"
#include "http_private.h"
#include "mcp.h"
#include "metrics.h"
#include "openapi.h"
#include "rawjson.h"
#include "request.h"
#include "response.h"
#include "sse.h"
#include "static.h"

/* A connection with no traffic is closed after this long (a client that
 * stops reading its answer). A request that is still arriving has its own,
 * shorter deadline (--request-timeout-ms, http_reap), which also ends idle
 * keep-alive connections. Suspended ones (waiting for a worker) never time
 * out in libmicrohttpd: the run and queue deadlines bound them instead. */
#define CONNECTION_TIMEOUT_S 60

/* A body over --max-body-bytes is still read (and dropped) up to this many
 * bytes before the 413 goes out. Answering at once and closing makes the
 * kernel reset the connection under a client still sending, and clients
 * that write the whole body before reading (Python's http.client) then see
 * a broken pipe instead of the 413. Past this, or when the client asked
 * "Expect: 100-continue" and so is waiting for a word from us, the answer
 * goes out at once and the connection is closed. */
#define DRAIN_LIMIT (16ULL << 20)

/* One per open connection (libmicrohttpd's socket_context): a request must
 * have arrived whole by `deadline`, counted from the connection's start or
 * from the end of its previous answer. libmicrohttpd's own timeout is about
 * inactivity, which a client sending a byte now and then never trips; these
 * deadlines are enforced by http_reap. */
struct conn {
    struct conn *prev, *next;
    MHD_socket fd;
    double deadline;   /* 0 while a request that arrived whole is answered */
    double refused_at; /* its last run refused for a full queue (libmicrohttpd's thread) */
};

/* Every answer to a run carries its id (openapi.yaml), so that a client can
 * cancel it or find it in the log even when the body is not JSON to it. */

_Static_assert(sizeof((struct job *)0)->owner == KEY_NAME_MAX + 1,
               "pool.h: owner holds a key name");

/* ---- responses ------------------------------------------------------------ */

enum MHD_Result http_respond(struct exchange *ex, unsigned status, char *body, size_t len,
                             const char *content_type, const char *hname, const char *hval) {
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    response_headers(r, content_type, ex->is_mcp ? NULL : ex->run_id);
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

enum MHD_Result http_respond_json_new(struct exchange *ex, unsigned status, json_t *obj,
                                      const char *hname, const char *hval) {
    size_t len;
    char *body = dump_line(obj, &len);
    json_decref(obj);
    if (body == NULL)
        return MHD_NO;
    return http_respond(ex, status, body, len, "application/json", hname, hval);
}

static enum MHD_Result respond_error(struct exchange *ex, const struct api_error *err,
                                     const char *hname, const char *hval) {
    /* Back-pressure errors tell the client when to come back. */
    if (hname == NULL && (err->status == 503 || err->status == 429)) {
        hname = "Retry-After";
        hval = "1";
    }
    return http_respond_json_new(ex, (unsigned)err->status, api_error_json(err), hname, hval);
}

/* Top-level members of a worker's answer that the host owns: never
 * forwarded from a run's answer (a worker's own would become duplicates). */
static const char *const host_members[] = {"type", "id", "run_id", "timing", "limits", NULL};
/* Of a session inspect answer only these are the worker's. */
static const char *const session_members[] = {"scope", "definitions", NULL};
static const char *const no_members[] = {NULL};

static bool listed(const struct rawjson_member *m, const char *const *names) {
    for (size_t i = 0; names[i] != NULL; i++)
        if (rawjson_key_is(m, names[i]))
            return true;
    return false;
}

struct splice {
    struct rawjson_buf *out;
    bool first;
    const char *const *names; /* dropped (runs) or kept (sessions) */
    bool keep;
};

static bool splice_member(void *arg, const struct rawjson_member *m) {
    struct splice *sp = arg;
    if (listed(m, sp->names) == sp->keep)
        rawjson_buf_member(sp->out, &sp->first, m);
    return true;
}

/* The host's own members of job->result (a session's id, ttl and runs). */
static void splice_host(struct splice *sp, const json_t *host) {
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)host, key, value) {
        struct rawjson_member m = {key, strlen(key), NULL, 0};
        char *text;
        if (listed(&m, session_members))
            continue;
        text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text == NULL) {
            sp->out->failed = true;
            return;
        }
        m.value = text;
        m.value_len = strlen(text);
        rawjson_buf_member(sp->out, &sp->first, &m);
        free(text);
    }
}

/* The worker's answer goes out byte for byte as it wrote it (floats in
 * Python's shortest repr, and no re-encoding cost), minus the members the
 * host owns, plus the host's: timing and the limits that applied for a run,
 * id/ttl/runs for a session. Answers the host made itself are dumped. */
static char *result_body(struct exchange *ex, const struct job *job, size_t *len) {
    struct rawjson_buf b = {0};
    struct splice sp = {&b, true, host_members, false};
    char *dumped = NULL;
    const char *src = job->raw;
    size_t src_len = job->raw_len;
    bool session = job->kind == JOB_SESSION_CREATE || job->kind == JOB_SESSION_GET, ok;

    if (src == NULL) { /* an answer the host made: all of it is the host's */
        dumped = json_dumps(job->result, JSON_COMPACT);
        if (dumped == NULL)
            return NULL;
        src = dumped;
        src_len = strlen(dumped);
        session = false;
        sp.names = no_members;
    }
    rawjson_buf_reserve(&b, src_len + 512); /* the host's members: one allocation */
    rawjson_buf_add(&b, "{", 1);
    if (session) {
        splice_host(&sp, job->result);
        sp.names = session_members;
        sp.keep = true;
    }
    ok = rawjson_members(src, src_len, splice_member, &sp);
    free(dumped);
    if (!ok) {
        rawjson_buf_free(&b);
        return NULL; /* cannot happen: jansson parsed these bytes */
    }
    if (job->timed) {
        /* run ids are [A-Za-z0-9_-]: nothing to escape. */
        rawjson_buf_printf(&b, "%s\"run_id\":\"%s\"", sp.first ? "" : ",", job->run_id);
        sp.first = false;
        rawjson_buf_printf(&b, "%s\"timing\":{\"queue_ms\":%.3f,\"run_ms\":%.3f}",
                           sp.first ? "" : ",", job->queue_ms, job->run_ms);
        rawjson_buf_printf(&b,
                           ",\"limits\":{\"timeout_ms\":%u,\"capped\":%s,\"memory_mb\":%u,"
                           "\"memory_capped\":%s,\"output_cap_bytes\":%u,\"output_capped\":%s}",
                           ex->limit_ms, ex->capped ? "true" : "false", job->memory_mb,
                           job->memory_capped ? "true" : "false", job->output_cap,
                           job->output_capped ? "true" : "false");
    }
    rawjson_buf_add(&b, "}\n", 2);
    return rawjson_buf_take(&b, len);
}

static enum MHD_Result respond_result(struct exchange *ex, const struct job *job) {
    char location[sizeof "/v1/sessions/" + SESSION_ID_MAX];
    size_t len;
    char *body = result_body(ex, job, &len);
    if (body == NULL)
        return MHD_NO;
    if (job->status == 201) {
        snprintf(location, sizeof location, "/v1/sessions/%s", job->session);
        return http_respond(ex, 201, body, len, "application/json", MHD_HTTP_HEADER_LOCATION,
                            location);
    }
    return http_respond(ex, (unsigned)job->status, body, len, "application/json", NULL, NULL);
}

/* ---- routes --------------------------------------------------------------- */

static bool is_method(const struct exchange *ex, const char *m) {
    return strcmp(ex->method, m) == 0;
}

static void refuse_not_found(struct exchange *ex) {
    ex->route = ROUTE_REFUSE;
    api_error_of(&ex->refusal, API_NOT_FOUND, "no such resource: %s", ex->path);
}

void http_refuse_method(struct exchange *ex, const char *allow) {
    ex->route = ROUTE_REFUSE;
    ex->allow = allow;
    api_error_of(&ex->refusal, API_METHOD_NOT_ALLOWED, "%s does not accept %s (allowed: %s)",
                 ex->path, ex->method, allow);
}

static enum MHD_Result respond_refusal(struct exchange *ex) {
    if (ex->challenge != NULL)
        return respond_error(ex, &ex->refusal, MHD_HTTP_HEADER_WWW_AUTHENTICATE, ex->challenge);
    if (ex->is_mcp)
        return mcp_http_refusal(ex);
    return respond_error(ex, &ex->refusal, ex->allow ? MHD_HTTP_HEADER_ALLOW : NULL, ex->allow);
}

static struct conn *conn_of(struct MHD_Connection *mc) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

static enum MHD_Result respond_busy(struct exchange *ex) {
    struct conn *c = conn_of(ex->conn);
    if (c != NULL)
        c->refused_at = clock_ms();
    ex->busy_refusal = true;
    ex->status = MHD_HTTP_SERVICE_UNAVAILABLE;
    ex->bytes = ex->http->busy_len;
    return MHD_queue_response(ex->conn, MHD_HTTP_SERVICE_UNAVAILABLE, ex->http->busy);
}

/* What the busy answer's Retry-After asks for (busy_response_new). */
#define BUSY_RETRY_AFTER_MS 1000.0

static void release_held(struct tarpit_item *item) {
    struct exchange *ex = (struct exchange *)((char *)item - offsetof(struct exchange, hold));
    MHD_resume_connection(ex->conn);
}

/* A run refused for a full queue, the last call. A client that asks again
 * on the same connection before the Retry-After of its last refusal has
 * passed (a flood of retries) gets this refusal when that time is up, not
 * at once: answered at once, such clients turn each 503 into another
 * request as fast as the server can refuse, and that loop takes the cores
 * the workers need and makes every accepted answer wait behind a round of
 * refusals. A client that honours Retry-After never waits here. The body
 * was dropped already; the connection is suspended, so nothing more is
 * read from it meanwhile. */
static enum MHD_Result refuse_busy(struct exchange *ex) {
    struct conn *c = conn_of(ex->conn);
    double now = clock_ms();
    if (!ex->held && c != NULL && c->refused_at > 0 && now - c->refused_at < BUSY_RETRY_AFTER_MS) {
        ex->held = true;
        MHD_suspend_connection(ex->conn);
        if (tarpit_hold(ex->http->tarpit, &ex->hold, c->refused_at + BUSY_RETRY_AFTER_MS,
                        release_held))
            return MHD_YES;              /* answered once resumed */
        MHD_resume_connection(ex->conn); /* stopping: at once */
        return MHD_YES;
    }
    return respond_busy(ex);
}

/* Exactly what respond_error would send for the refusal pool_submit makes
 * (Retry-After included), so that where a run is refused does not show. */
static struct MHD_Response *busy_response_new(const struct config *cfg, size_t *len) {
    struct api_error err;
    char msg[sizeof err.message];
    json_t *obj;
    char *body;
    struct MHD_Response *r;

    pool_queue_full_message(cfg, msg, sizeof msg);
    api_error_of(&err, API_QUEUE_FULL, "%s", msg);
    obj = api_error_json(&err);
    body = dump_line(obj, len);
    json_decref(obj);
    if (body == NULL)
        return NULL;
    r = MHD_create_response_from_buffer(*len, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return NULL;
    }
    response_headers(r, "application/json", NULL);
    MHD_add_response_header(r, "Retry-After", "1");
    return r;
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
    const char *cl =
        MHD_lookup_connection_value(ex->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
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
    return http_respond_json_new(ex, ok ? 200 : 503,
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
    g = (struct metrics_gauges){.ready = st.ready,
                                .busy = st.busy,
                                .total = st.total,
                                .queued = st.queued,
                                .sessions = st.sessions,
                                .session_bytes = st.session_bytes,
                                .pids = st.pids,
                                .n_pids = st.n_pids,
                                /* this scrape left out */
                                .http_in_progress = atomic_load(&ex->http->active) - 1,
                                .runs = st.runs,
                                .oldest_run_ms = st.oldest_run_ms};
    body = metrics_render(&g, &len);
    if (body == NULL)
        return MHD_NO;
    return http_respond(ex, 200, body, len, "text/plain; version=0.0.4; charset=utf-8", NULL, NULL);
}

static enum MHD_Result openapi(struct exchange *ex) {
    char *body = malloc(openapi_json_len);
    if (body == NULL)
        return MHD_NO;
    memcpy(body, openapi_json, openapi_json_len);
    return http_respond(ex, 200, body, openapi_json_len, "application/json", NULL, NULL);
}

/* Headers and validators come from static.c: a precompressed ".gz" copy
 * when the client takes gzip, and 304 when its If-None-Match still holds. */
static enum MHD_Result serve_static(struct exchange *ex, const char *url) {
    struct static_file f;
    struct MHD_Response *r;
    enum MHD_Result ret;
    unsigned status = MHD_HTTP_OK;

    if (!static_open_negotiated(
            ex->http->cfg->web_dir, url,
            MHD_lookup_connection_value(ex->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING),
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

/* POST /v1/runs/{id}/cancel. Only the key that started a run finds it
 * (pool_cancel matches the owner): to any other, it does not exist, the
 * same 404 as an id never used, so ids leak nothing. The cancel is
 * asynchronous: the run's own request gets the run's `cancelled` answer. */
static enum MHD_Result cancel(struct exchange *ex) {
    struct api_error err;
    char id[RUN_ID_MAX + 1];
    if (!pool_cancel(ex->http->pool, ex->key ? ex->key->name : "", ex->run_id)) {
        api_error_of(&err, API_RUN_NOT_FOUND,
                     "no run '%s' in progress (never started, already answered, or not yours)",
                     ex->run_id);
        ex->run_id[0] = '\0';
        return respond_error(ex, &err, NULL, NULL);
    }
    memcpy(id, ex->run_id, sizeof id);
    return http_respond_json_new(ex, 202, json_pack("{s:b, s:s}", "ok", 1, "run_id", id), NULL,
                                 NULL);
}

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
        return http_submit(ex, NULL);
    case ROUTE_STATIC:
        return serve_static(ex, url);
    case ROUTE_CANCEL:
        return cancel(ex);
    case ROUTE_REFUSE:
        return respond_refusal(ex);
    case ROUTE_BUSY:
        return respond_busy(ex);
    case ROUTE_BODY:
        break;
    }
    return MHD_NO;
}

/* A route that takes a JSON body, if the headers allow it. */
void http_expect_body(struct exchange *ex, enum request_kind req_kind, enum job_kind job_kind) {
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
    unsigned long n = LIMIT_SESSIONS_PAGE_DEFAULT;

    if (limit != NULL) {
        n = strtoul(limit, &end, 10);
        if (*limit < '0' || *limit > '9' || *end != '\0' || n < LIMIT_SESSIONS_PAGE_MIN ||
            n > LIMIT_SESSIONS_PAGE_MAX) {
            ex->route = ROUTE_REFUSE;
            api_error_of(&ex->refusal, API_INVALID_VALUE,
                         "query parameter 'limit' must be a whole number from %u to %u",
                         LIMIT_SESSIONS_PAGE_MIN, LIMIT_SESSIONS_PAGE_MAX);
            return;
        }
    }
    if (after != NULL && *after != '\0' && !session_id_valid(after, strlen(after))) {
        ex->route = ROUTE_REFUSE;
        api_error_of(&ex->refusal, API_INVALID_VALUE,
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
        api_error_of(&ex->refusal, API_SESSION_NOT_FOUND, "no session '%s'", shown);
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
            http_refuse_method(ex, "GET, HEAD, DELETE");
    } else if (strcmp(slash, "/run") == 0) {
        if (is_method(ex, MHD_HTTP_METHOD_POST))
            http_expect_body(ex, REQ_SESSION_RUN, JOB_SESSION_RUN);
        else
            http_refuse_method(ex, "POST");
    } else if (strcmp(slash, "/fork") == 0) {
        ex->route = ROUTE_SESSION;
        ex->job_kind = JOB_SESSION_FORK;
        if (!is_method(ex, MHD_HTTP_METHOD_POST))
            http_refuse_method(ex, "POST");
    } else if (strcmp(slash, "/export") == 0) {
        ex->route = ROUTE_SESSION;
        ex->job_kind = JOB_SESSION_EXPORT;
        if (!is_method(ex, MHD_HTTP_METHOD_GET) && !is_method(ex, MHD_HTTP_METHOD_HEAD))
            http_refuse_method(ex, "GET, HEAD");
    } else {
        refuse_not_found(ex);
    }
}

/* /v1/runs/{id}/cancel. A malformed id names no run: 404 like an unknown one. */
static void route_run(struct exchange *ex, const char *rest) {
    const char *slash = strchr(rest, '/');
    size_t len = slash ? (size_t)(slash - rest) : strlen(rest);

    if (slash == NULL || strcmp(slash, "/cancel") != 0) {
        refuse_not_found(ex);
    } else if (!run_id_valid(rest, len)) {
        char shown[RUN_ID_MAX + 1];
        log_sanitize(shown, sizeof shown, rest, len);
        ex->route = ROUTE_REFUSE;
        api_error_of(&ex->refusal, API_RUN_NOT_FOUND, "no run '%s'", shown);
    } else if (!is_method(ex, MHD_HTTP_METHOD_POST)) {
        http_refuse_method(ex, "POST");
    } else {
        memcpy(ex->run_id, rest, len);
        ex->run_id[len] = '\0';
        ex->route = ROUTE_CANCEL;
    }
}

/* With keys on, every route but the public ones needs "Authorization:
 * Bearer <key>"; without a valid one the answer is 401, whatever else the
 * request got wrong, so nothing about the API is told to a stranger. */
static void authorize(struct exchange *ex) {
    const char *header =
        MHD_lookup_connection_value(ex->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *token;
    size_t len;

    ex->ring = keystore_current(ex->http->keys);
    if (keys_bearer_token(header, &token, &len))
        ex->key = keyring_find(ex->ring, token, len);
    if (ex->key != NULL)
        return;
    ex->route = ROUTE_REFUSE;
    ex->allow = NULL;
    if (header == NULL) {
        ex->challenge = "Bearer realm=\"scopebox\"";
        api_error_of(&ex->refusal, API_UNAUTHORIZED,
                     "this server needs an API key: send 'Authorization: Bearer <key>'");
    } else {
        ex->challenge = "Bearer realm=\"scopebox\", error=\"invalid_token\"";
        api_error_of(&ex->refusal, API_UNAUTHORIZED,
                     "the Authorization header holds no valid API key (expected 'Bearer <key>')");
    }
}

/* Routes whose method decides little more than that they are allowed. */
static void pick_run(struct exchange *ex, const char *rest) {
    (void)rest;
    http_expect_body(ex, REQ_RUN, JOB_RUN);
}

static void pick_sessions(struct exchange *ex, const char *rest) {
    (void)rest;
    if (is_method(ex, MHD_HTTP_METHOD_POST))
        http_expect_body(ex, REQ_SESSION_CREATE, JOB_SESSION_CREATE);
    else
        route_list(ex);
}

static void pick_mcp(struct exchange *ex, const char *rest) {
    (void)rest;
    mcp_http_route(ex);
}

static void pick_not_found(struct exchange *ex, const char *rest) {
    (void)rest;
    refuse_not_found(ex);
}

/* The API's routes, first match wins (libmicrohttpd's pages[] in its
 * examples): `path` matched whole, or as a prefix whose rest (an id) goes to
 * `pick`; a method not in `allow` gets 405 with `allow` as its Allow header
 * (NULL: `pick` checks the method itself); then either `route` is the
 * route, or `pick` works it out. Anything else is the playground's. */
struct route_def {
    const char *path;
    bool prefix;
    bool is_public; /* no API key needed */
    const char *allow;
    enum route route; /* when pick is NULL */
    void (*pick)(struct exchange *ex, const char *rest);
};

static const struct route_def routes[] = {
    {"/v1/run", false, false, "POST", ROUTE_BODY, pick_run},
    {"/v1/sessions", false, false, "GET, HEAD, POST", ROUTE_BODY, pick_sessions},
    {"/v1/sessions/", true, false, NULL, ROUTE_SESSION, route_session},
    {"/v1/runs/", true, false, NULL, ROUTE_CANCEL, route_run},
    {"/mcp", false, false, NULL, ROUTE_BODY, pick_mcp},
    {"/v1/openapi.json", false, false, "GET, HEAD", ROUTE_OPENAPI, NULL},
    {"/metrics", false, false, "GET, HEAD", ROUTE_METRICS, NULL},
    {"/healthz", false, true, "GET, HEAD", ROUTE_HEALTH, NULL},
    {"/v1", false, false, NULL, ROUTE_REFUSE, pick_not_found},
    {"/v1/", true, false, NULL, ROUTE_REFUSE, pick_not_found},
};

/* Whether the request's method is one of `allow` ("GET, HEAD, POST"). */
static bool method_allowed(const struct exchange *ex, const char *allow) {
    size_t n = strlen(ex->method);
    if (n == 0)
        return false;
    for (const char *p = allow; (p = strstr(p, ex->method)) != NULL; p += n)
        if ((p == allow || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

/* Not an API route: the playground's files, GET and HEAD only. */
static void route_static(struct exchange *ex, const char *url) {
    ex->public_route = true; /* the playground's files: no data, no runs */
    if (is_method(ex, MHD_HTTP_METHOD_GET) || is_method(ex, MHD_HTTP_METHOD_HEAD)) {
        ex->route = ROUTE_STATIC;
    } else {
        struct static_file f;
        if (static_open(ex->http->cfg->web_dir, url, &f)) {
            close(f.fd);
            http_refuse_method(ex, "GET, HEAD");
        } else {
            refuse_not_found(ex);
        }
    }
}

/* First call, headers only: picks the route, and refuses what can be refused
 * from the headers. The answer normally goes out in the last call, once any
 * unwanted body has been read and dropped (see DRAIN_LIMIT), which also
 * keeps the connection alive. Only a client waiting on Expect:
 * 100-continue, or one announcing a body past the drain limit, is answered
 * at once; libmicrohttpd then skips the body and closes the connection. */
static enum MHD_Result begin(struct exchange *ex, const char *url) {
    const struct route_def *r = NULL;

    for (size_t i = 0; r == NULL && i < sizeof routes / sizeof routes[0]; i++) {
        size_t n = strlen(routes[i].path);
        if (routes[i].prefix ? strncmp(url, routes[i].path, n) == 0
                             : strcmp(url, routes[i].path) == 0)
            r = &routes[i];
    }
    if (r == NULL) {
        route_static(ex, url);
    } else {
        ex->public_route = r->is_public;
        if (r->allow != NULL && !method_allowed(ex, r->allow))
            http_refuse_method(ex, r->allow);
        else if (r->pick != NULL)
            r->pick(ex, url + strlen(r->path));
        else
            ex->route = r->route;
    }
    if (ex->http->keys != NULL && !ex->public_route)
        authorize(ex);
    /* A full queue refuses a stateless run whatever its body says, so the
     * body is dropped unread (unparsed, never buffered) as for any refusal,
     * and a client that waits on Expect: 100-continue never sends it. MCP's
     * tool calls get their JSON-RPC errors from the usual path. */
    if (ex->route == ROUTE_BODY && ex->req_kind == REQ_RUN && !ex->is_mcp &&
        pool_queue_full(ex->http->pool))
        ex->route = ROUTE_BUSY;
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
    if (ex->mcp != NULL)
        return mcp_http_answer(ex);
    if (job->result != NULL)
        return respond_result(ex, job);
    return respond_error(ex, &job->error, NULL, NULL);
}

/* Who a request counts against: its key, or with keys off its address. */
static void caller_of(const struct exchange *ex, char *out, size_t len) {
    const union MHD_ConnectionInfo *info;
    char addr[INET6_ADDRSTRLEN] = "?";

    if (ex->key != NULL) {
        snprintf(out, len, "key:%s", ex->key->name);
        return;
    }
    info = MHD_get_connection_info(ex->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (info != NULL && info->client_addr != NULL) {
        const struct sockaddr *sa = info->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, addr,
                      sizeof addr);
        else if (sa->sa_family == AF_INET6) {
            /* One IPv6 host gets a /64: charge the prefix, not an address
             * it can change at will (a v4-mapped address stays whole). */
            struct in6_addr a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
            bool mapped = IN6_IS_ADDR_V4MAPPED(&a);
            if (!mapped)
                memset(a.s6_addr + 8, 0, 8);
            inet_ntop(AF_INET6, &a, addr, sizeof addr);
            if (!mapped) {
                snprintf(out, len, "ip:%s/64", addr);
                return;
            }
        }
    }
    snprintf(out, len, "ip:%s", addr);
}

static void ticket_undo(struct ticket *t) {
    if (t == NULL)
        return;
    if (t->usage != NULL) {
        atomic_fetch_sub(&t->usage->runs, 1);
        key_usage_release(t->usage);
    }
    mcp_progress_free(t->progress);
    sse_release(t->sse);
    free(t);
}

static void job_done(struct job *job) {
    struct ticket *t = job->done_arg;
    /* A run that cost its worker (a crash, or a kill past its limit): what
     * did it was the caller's code, and everyone pays for the reboot. */
    if (job->worker_lost) {
        crashlimit_record(t->http->crashes, t->caller, clock_ms());
        log_msg("http: a run of %s ended its worker (%s)", t->caller, job->error.code);
    }
    if (t->sse != NULL) /* its last event can go out once the others have */
        sse_done(t->sse);
    ticket_undo(t);
    job->done_arg = NULL;
}

/* Before a run is queued: the caller's crash record and its key's runs. */
static bool admit_run(struct exchange *ex, struct ticket *t, struct api_error *err) {
    double wait = crashlimit_wait_ms(ex->http->crashes, t->caller, clock_ms());
    if (wait > 0) {
        api_error_of(err, API_CRASH_RATE_LIMITED,
                     "runs of this caller ended their worker %u times within %u ms: no runs "
                     "for %.0f s",
                     ex->http->cfg->crash_limit, ex->http->cfg->crash_window_ms,
                     wait / 1000.0 + 0.5);
        return false;
    }
    if (ex->key == NULL)
        return true;
    if (atomic_fetch_add(&ex->key->usage->runs, 1) >= (int)ex->key->max_runs) {
        atomic_fetch_sub(&ex->key->usage->runs, 1);
        api_error_of(err, API_KEY_RUN_LIMIT,
                     "key '%s' already has %u runs in progress or queued, its limit", ex->key->name,
                     ex->key->max_runs);
        return false;
    }
    t->usage = ex->key->usage;
    key_usage_ref(t->usage);
    return true;
}

/* ---- streamed runs (sse.h) ------------------------------------------------- */

/* The dispatcher's thread, while the run is in flight: one event per
 * output frame of the worker, its text as a JSON string (SSE data is
 * line-based; JSON keeps newlines and carriage returns out of it). */
static void sse_output(void *arg, const char *stream, const char *text, size_t len) {
    json_t *obj = json_pack("{s:s%}", "text", text, len);
    char *data = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (data != NULL)
        sse_event(arg, NULL, stream, data, strlen(data));
    free(data);
}

/* The last event: exactly the body the plain answer would have been, as
 * `result` (HTTP 200) or `error` (any other status, which the comment line
 * before it gives). libmicrohttpd's thread, the job done. */
static void sse_finish(void *arg, struct sse *sse) {
    struct exchange *ex = arg;
    const struct job *job = ex->job;
    unsigned status = job->result ? (unsigned)job->status : (unsigned)job->error.status;
    size_t len = 0;
    char *body =
        job->result ? result_body(ex, job, &len) : dump_line(api_error_json(&job->error), &len);
    char comment[32];
    json_t *fallback = NULL;

    if (body == NULL) { /* out of memory: still one last event */
        struct api_error err;
        api_error_of(&err, API_INTERNAL, "the answer could not be built");
        fallback = api_error_json(&err);
        body = dump_line(fallback, &len);
        status = 500;
    }
    json_decref(fallback);
    snprintf(comment, sizeof comment, "status %u", status);
    if (body != NULL)
        sse_event(sse, comment, status == 200 ? "result" : "error", body, len - 1);
    ex->status = status;
    ex->bytes = len;
    free(body);
}

const char *http_header(const struct exchange *ex, const char *name) {
    return MHD_lookup_connection_value(ex->conn, MHD_HEADER_KIND, name);
}

bool http_wants_events(const struct exchange *ex) {
    const char *accept = http_header(ex, MHD_HTTP_HEADER_ACCEPT);
    return accept != NULL && strcasestr(accept, "text/event-stream") != NULL &&
           (ex->is_mcp || ex->job_kind == JOB_RUN || ex->job_kind == JOB_SESSION_RUN);
}

static enum MHD_Result respond_events(struct exchange *ex) {
    struct MHD_Response *r = sse_response(ex->sse, ex->is_mcp ? NULL : ex->run_id);
    enum MHD_Result ret;
    if (r == NULL)
        return MHD_NO;
    ret = MHD_queue_response(ex->conn, 200, r);
    MHD_destroy_response(r);
    ex->status = 200;
    return ret;
}

/* Hands a job to the pool and waits for it without blocking. `req` is NULL
 * for session GET and DELETE. */
enum MHD_Result http_submit(struct exchange *ex, const struct run_request *req) {
    struct api_error err;
    struct job *job;
    struct ticket *t = NULL;
    char retry[16];
    bool ok;

    if (ex->job_kind == JOB_RUN || ex->job_kind == JOB_SESSION_RUN) {
        t = calloc(1, sizeof *t);
        if (t == NULL)
            return MHD_NO;
        t->http = ex->http;
        caller_of(ex, t->caller, sizeof t->caller);
        if (!admit_run(ex, t, &err)) {
            double wait = crashlimit_wait_ms(ex->http->crashes, t->caller, clock_ms());
            free(t);
            if (ex->mcp != NULL) /* a tool's failure, as the pool's own answers */
                return mcp_http_failed(ex, &err);
            snprintf(retry, sizeof retry, "%.0f", wait > 0 ? wait / 1000.0 + 0.999 : 1.0);
            return respond_error(ex, &err, "Retry-After", retry);
        }
    }
    job = job_new();
    if (job == NULL) {
        ticket_undo(t);
        return MHD_NO;
    }
    job->suspend = suspend_exchange;
    job->resume = resume_exchange;
    job->arg = ex;
    job->raw_answer = ex->mcp == NULL; /* MCP builds its reply from the parsed answer */
    if (t != NULL) {
        job->on_done = job_done;
        job->done_arg = t;
        if (ex->sse != NULL) {
            job->stream = true;
            job->on_output = sse_output;
            job->output_arg = ex->sse; /* t's reference keeps it while the job runs */
            sse_ref(ex->sse);
            t->sse = ex->sse;
            if (ex->mcp != NULL && !mcp_http_stream_output(ex, t, job)) {
                ticket_undo(t);
                job_release(job);
                return MHD_NO;
            }
        }
    }
    if (ex->key != NULL) {
        snprintf(job->owner, sizeof job->owner, "%s", ex->key->name);
        job->owner_sessions = ex->key->max_sessions;
    }
    job->list_limit = ex->list_limit;
    snprintf(job->list_after, sizeof job->list_after, "%s", ex->list_after);
    if (t != NULL) { /* a run: the dispatcher watches its client (pool.h) */
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(ex->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        job->client_fd = info ? info->connect_fd : -1;
    }
    ok = pool_submit(ex->http->pool, job, ex->job_kind, ex->session, req, &err);
    memcpy(ex->run_id, job->run_id, sizeof ex->run_id);
    if (!ok) {
        job->on_done = NULL; /* never done: the ticket is ours to undo */
        job_release(job);
        ticket_undo(t);
        if (ex->mcp != NULL) /* a tool's failure, as the pool's own answers */
            return mcp_http_failed(ex, &err);
        if (err.id == API_QUEUE_FULL) { /* filled since begin() looked: the same refusal */
            ex->run_id[0] = '\0';
            return respond_busy(ex);
        }
        return respond_error(ex, &err, NULL, NULL);
    }
    ex->job = job;
    if (ex->sse != NULL)
        return respond_events(ex);
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
    /* A run's body is kept until submitted: its worker frame is spliced
     * from these bytes, and its large members need no tree. */
    ok = ex->req_kind == REQ_RUN
             ? request_parse_kept(ex->body ? ex->body : "", ex->len, &req, &err)
             : request_parse(ex->req_kind, ex->body ? ex->body : "", ex->len, &req, &err);
    if (!ok) {
        free(ex->body);
        ex->body = NULL;
        ex->len = ex->cap = 0;
        return respond_error(ex, &err, NULL, NULL);
    }
    /* The same rule as the pool's (pool.c job_timeout), said in the answer. */
    ex->limit_ms = req.timeout_ms ? req.timeout_ms : ex->http->cfg->timeout_ms;
    ex->capped = ex->limit_ms > ex->http->cfg->max_timeout_ms;
    if (ex->capped)
        ex->limit_ms = ex->http->cfg->max_timeout_ms;
    if (http_wants_events(ex) && (ex->sse = sse_new(ex->conn, sse_finish, ex)) == NULL)
        ret = MHD_NO;
    else
        ret = http_submit(ex, &req);
    request_free(&req);
    free(ex->body);
    ex->body = NULL;
    ex->len = ex->cap = 0;
    return ret;
}

/* ---- connection deadlines ------------------------------------------------- */

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    struct http *h = cls;
    struct conn *c = *socket_context;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        c = calloc(1, sizeof *c);
        if (c == NULL || info == NULL) {
            free(c);
            return; /* untracked: libmicrohttpd's inactivity timeout still applies */
        }
        c->fd = info->connect_fd;
        pthread_mutex_lock(&h->conns_lock);
        c->deadline = clock_ms() + h->cfg->request_timeout_ms;
        c->next = h->conns;
        if (h->conns)
            h->conns->prev = c;
        h->conns = c;
        pthread_mutex_unlock(&h->conns_lock);
        *socket_context = c;
        return;
    }
    if (c == NULL)
        return;
    /* Called before libmicrohttpd closes the socket: once unlinked, the fd
     * is never touched again by http_reap, so a reused number is safe. */
    pthread_mutex_lock(&h->conns_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&h->conns_lock);
    free(c);
    *socket_context = NULL;
}

/* The request on `mc` has arrived whole (arrived) or been answered (the
 * next one's clock starts). */
static void set_deadline(struct http *h, struct MHD_Connection *mc, bool arrived) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn *c = info ? info->socket_context : NULL;
    if (c == NULL)
        return;
    pthread_mutex_lock(&h->conns_lock);
    c->deadline = arrived ? 0 : clock_ms() + h->cfg->request_timeout_ms;
    pthread_mutex_unlock(&h->conns_lock);
}

/* The runs a full queue refused since the last such line, in one line: at
 * most one a second, or whatever is left when the server stops. */
#define BUSY_LOG_MS 1000.0

static void log_busy_refusals(struct http *h, double now, bool last) {
    long n;
    if (!last && now - h->busy_since < BUSY_LOG_MS)
        return;
    n = atomic_exchange(&h->busy_refused, 0);
    if (n > 0)
        log_at(LOG_INFO,
               "POST /v1/run 503 x%ld in %.1f s: refused from their headers, the queue "
               "full (queue_full, one line for them all)",
               n, (now - h->busy_since) / 1000.0);
    h->busy_since = now;
}

void http_reap(struct http *h) {
    double now = clock_ms();
    int cut = 0;
    log_busy_refusals(h, now, false);
    pthread_mutex_lock(&h->conns_lock);
    for (struct conn *c = h->conns; c != NULL; c = c->next) {
        if (c->deadline > 0 && now >= c->deadline) {
            /* libmicrohttpd sees the end of the stream and closes the
             * connection itself, freeing what it holds. */
            shutdown(c->fd, SHUT_RDWR);
            c->deadline = 0;
            cut++;
        }
    }
    pthread_mutex_unlock(&h->conns_lock);
    if (cut > 0)
        log_msg("http: closed %d connection(s) that sent no whole request within %u ms", cut,
                h->cfg->request_timeout_ms);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls) {
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
    set_deadline(h, conn, true); /* the whole request is in */
    if (ex->route == ROUTE_BODY)
        return ex->is_mcp ? mcp_http_serve(ex) : run(ex);
    if (ex->route == ROUTE_BUSY)
        return refuse_busy(ex);
    return answer_now(ex, url);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
    struct http *h = cls;
    struct exchange *ex = *req_cls;
    char queue[32] = "-", runms[32] = "-", pid[16] = "-";

    if (ex == NULL)
        return;
    set_deadline(h, conn, false); /* the clock of the next request starts */
    metrics_http(ex->status);
    /* Normally done long ago; if not (the daemon tore the connection down),
     * the dispatcher must not resume it, nor may we read its results. */
    if (ex->job != NULL && !job_abandon(ex->job)) {
        /* Not answered and nobody left to answer: the run is cancelled
         * (dropped if queued, interrupted if running). */
        pool_cancel_job(h->pool, ex->job, true);
    } else if (ex->job != NULL) {
        const struct job *job = ex->job;
        snprintf(queue, sizeof queue, "%.3f", job->queue_ms);
        snprintf(runms, sizeof runms, "%.3f", job->run_ms);
        if (job->worker_pid > 0)
            snprintf(pid, sizeof pid, "%d", (int)job->worker_pid);
    }
    /* The access line: info, so --log-level warning leaves only what went
     * wrong. A full queue's refusals are counted instead (log_busy_refusals). */
    if (ex->busy_refusal && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        atomic_fetch_add(&h->busy_refused, 1);
    else
        log_at(LOG_INFO, "%s %s %u %zu run=%s queue_ms=%s run_ms=%s worker=%s total_ms=%.3f%s",
               ex->method, ex->path, ex->status, ex->bytes, ex->run_id[0] ? ex->run_id : "-", queue,
               runms, pid, clock_ms() - ex->started,
               toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection lost)");
    if (ex->sse != NULL) {
        sse_detach(ex->sse);
        sse_release(ex->sse);
    }
    job_release(ex->job);
    for (size_t i = 0; i < ex->n_answered; i++)
        job_release(ex->answered[i]);
    free(ex->answered);
    keyring_release(ex->ring);
    if (ex->batch != NULL) {
        mcp_batch_free(ex->batch); /* owns ex->mcp */
    } else if (ex->mcp != NULL) {
        mcp_call_free(ex->mcp);
        free(ex->mcp);
    }
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

struct http *http_start(const struct config *cfg, struct pool *pool, struct keystore *keys,
                        char *err, size_t err_len) {
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
    atomic_init(&h->busy_refused, 0);
    h->busy_since = clock_ms();
    pthread_mutex_init(&h->conns_lock, NULL);
    h->keys = keys;
    if (cfg->crash_limit > 0 &&
        (h->crashes = crashlimit_new(cfg->crash_limit, cfg->crash_window_ms)) == NULL) {
        snprintf(err, err_len, "out of memory");
        pthread_mutex_destroy(&h->conns_lock);
        free(h);
        return NULL;
    }
    freeaddrinfo(ai);
    h->busy = busy_response_new(cfg, &h->busy_len);
    h->tarpit = tarpit_new();
    if (h->busy == NULL || h->tarpit == NULL) {
        if (h->busy != NULL)
            MHD_destroy_response(h->busy);
        tarpit_free(h->tarpit);
        snprintf(err, err_len, "out of memory");
        pthread_mutex_destroy(&h->conns_lock);
        crashlimit_free(h->crashes);
        free(h);
        return NULL;
    }

    /* poll(), not the epoll that MHD_USE_AUTO_INTERNAL_THREAD picks: with
     * libmicrohttpd 0.9.75's edge-triggered epoll, keep-alive clients that
     * send their next request the moment an answer is in (a flood of
     * retries) sometimes all stopped being read, until --request-timeout-ms
     * cut them (tests/api/test_flood.py). Level-triggered poll cannot miss
     * a readiness. */
    h->daemon = MHD_start_daemon(
        MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
            (h->ipv6 ? MHD_USE_IPv6 : 0),
        (uint16_t)cfg->port, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
        NULL, /* first, to catch option errors */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        h, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
        /* Past these a new connection is accepted and closed at once, so one
         * address cannot hold every descriptor (main.c fits the total under
         * the fd limit). */
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)cfg->max_connections_per_ip,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_END);
    if (h->daemon == NULL) {
        snprintf(err, err_len, "cannot listen on %s port %u (in use, or bad address?)", cfg->host,
                 cfg->port);
        MHD_destroy_response(h->busy);
        tarpit_free(h->tarpit);
        pthread_mutex_destroy(&h->conns_lock);
        crashlimit_free(h->crashes);
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
    /* libmicrohttpd must find no connection suspended when it stops. */
    tarpit_stop(h->tarpit);
    MHD_stop_daemon(h->daemon);
    log_busy_refusals(h, clock_ms(), true);
    /* Not closed by libmicrohttpd once handed out by quiesce. */
    if (h->quiesced_fd != MHD_INVALID_SOCKET)
        close(h->quiesced_fd);
    MHD_destroy_response(h->busy);
    tarpit_free(h->tarpit);
    pthread_mutex_destroy(&h->conns_lock);
    crashlimit_free(h->crashes);
    free(h);
}
