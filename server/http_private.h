/* What http.c and mcp_http.c share and nothing else sees (the
 * pool_private.h pattern): the server's state, one request's exchange, a
 * run's ticket, and the calls between
 *
 *   http.c      libmicrohttpd's callbacks, the routes, admission, answers
 *   mcp_http.c  POST /mcp over the same exchange (the JSON-RPC is mcp.c's)
 *
 * All of it runs on libmicrohttpd's threads, but for a ticket's job_done
 * and a stream's events (the dispatcher's, see job.h). */
#ifndef SCOPEBOX_HTTP_PRIVATE_H
#define SCOPEBOX_HTTP_PRIVATE_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "crashlimit.h"
#include "http.h"
#include "keys.h"
#include "mcp.h"
#include "sse.h"
#include "tarpit.h"

struct conn; /* http.c's: a connection's request deadline */

struct http {
    const struct config *cfg;
    struct pool *pool;
    struct MHD_Daemon *daemon;
    MHD_socket quiesced_fd;
    unsigned port;
    bool ipv6;
    atomic_int active;          /* requests between first callback and completion */
    pthread_mutex_t conns_lock; /* guards the list and every deadline */
    struct conn *conns;
    struct keystore *keys;      /* NULL: no keys, every route open */
    struct crashlimit *crashes; /* NULL: no crash limit */
    /* The answer to a run refused for a full queue, built once: in a flood
     * most answers are this one, and it costs no JSON and no allocation. */
    struct MHD_Response *busy;
    size_t busy_len;
    /* Those refusals are logged as one line a second, not one each
     * (http_reap): a line is most of what a refusal costs the host, and in a
     * flood they would be most of the log. */
    atomic_long busy_refused; /* since busy_since */
    /* Refusals held back until the Retry-After of the connection's last
     * refusal has passed (http.c, refuse_busy). */
    struct tarpit *tarpit;
    double busy_since; /* http_reap's (the main thread's) */
};

/* ROUTE_BODY: answered once a JSON body is in (runs, session creation);
 * ROUTE_SESSION: a session GET or DELETE, answered by the pool. */
enum route {
    ROUTE_BODY,
    ROUTE_SESSION,
    ROUTE_OPENAPI,
    ROUTE_HEALTH,
    ROUTE_METRICS,
    ROUTE_STATIC,
    ROUTE_CANCEL,
    ROUTE_REFUSE,
    ROUTE_BUSY /* a run refused from its headers: the queue is full */
};

/* Per request, from the first access-handler call to the completion
 * callback (libmicrohttpd's *req_cls). */
struct exchange {
    struct http *http;
    struct MHD_Connection *conn;
    double started;
    char method[16];
    char path[160];
    enum route route;
    bool busy_refusal; /* answered with http->busy */
    bool held;         /* that answer held back (tarpit.h) */
    struct tarpit_item hold;
    struct api_error refusal;            /* ROUTE_REFUSE: the answer, decided early */
    const char *allow;                   /* its Allow header, for 405 */
    const char *challenge;               /* its WWW-Authenticate header, for 401 */
    bool public_route;                   /* /healthz and the playground: no key needed */
    struct keyring *ring;                /* with keys on: the keys as of this request */
    const struct api_key *key;           /* the caller's, once authorized */
    enum request_kind req_kind;          /* ROUTE_BODY */
    enum job_kind job_kind;              /* ROUTE_BODY, ROUTE_SESSION */
    char session[SESSION_ID_MAX + 1];    /* from the path, if any */
    char list_after[SESSION_ID_MAX + 1]; /* GET /v1/sessions */
    unsigned list_limit;
    char *body;
    size_t len, cap;
    unsigned long long seen; /* body bytes received, kept or not */
    bool too_large;
    struct job *job;
    struct sse *sse;             /* a run asked for as text/event-stream (sse.h) */
    char run_id[RUN_ID_MAX + 1]; /* a run's id once submitted (the Scopebox-Run-Id
                                  * header); ROUTE_CANCEL: the one to cancel */
    unsigned limit_ms;           /* a run's time limit as applied ... */
    bool capped;                 /* ... and whether the request asked for more */
    unsigned status;
    size_t bytes;
    bool is_mcp;             /* POST /mcp: JSON-RPC answers (see mcp.h) */
    struct mcp_call *mcp;    /* its tools/call, while the pool runs it ... */
    struct mcp_batch *batch; /* ... and the batch that owns it, if any */
    /* A batch's answered jobs, held until the exchange ends: mcp.c's replies
     * share their results' values (shallow copies) and the batch's reply is
     * written after them, so the last use of a result on this thread comes
     * before the last reference to its job goes (job.h), wherever that is. */
    struct job **answered;
    size_t n_answered;
};

/* What a run holds until it is done (job_done): a slot of its key's runs,
 * and the name the crash limiter charges if its worker dies. */
struct ticket {
    struct http *http;
    struct sse *sse;               /* a streamed run's events: told when it is done */
    struct mcp_progress *progress; /* ... as MCP progress notifications, for /mcp */
    struct key_usage *usage;       /* NULL with keys off */
    char caller[CRASHLIMIT_CALLER_MAX + 1];
};

/* ---- http.c ----------------------------------------------------------------- */

/* Queues an answer of `body` (taken), with one extra header if hname is set. */
enum MHD_Result http_respond(struct exchange *ex, unsigned status, char *body, size_t len,
                             const char *content_type, const char *hname, const char *hval);
/* The same for `obj` (taken) as one line of compact JSON. */
enum MHD_Result http_respond_json_new(struct exchange *ex, unsigned status, json_t *obj,
                                      const char *hname, const char *hval);
/* 405 with `allow` as the Allow header. */
void http_refuse_method(struct exchange *ex, const char *allow);
/* A route that takes a JSON body, if the headers allow it. */
void http_expect_body(struct exchange *ex, enum request_kind req_kind, enum job_kind job_kind);
/* Hands the exchange's job to the pool (req: NULL for the kinds without a
 * body) and answers it once done, without blocking. */
enum MHD_Result http_submit(struct exchange *ex, const struct run_request *req);
/* Whether the client asked for an event stream, on a route that streams. */
bool http_wants_events(const struct exchange *ex);
const char *http_header(const struct exchange *ex, const char *name);

/* ---- mcp_http.c ------------------------------------------------------------- */

/* /mcp's headers: POST, the origin, Accept; then a body like any run's. */
void mcp_http_route(struct exchange *ex);
/* The whole body is in: answered, or its tool calls submitted. */
enum MHD_Result mcp_http_serve(struct exchange *ex);
/* A refusal decided from the headers, as a JSON-RPC error. */
enum MHD_Result mcp_http_refusal(struct exchange *ex);
/* The job of a tool call is done: its reply, or the batch's next call. */
enum MHD_Result mcp_http_answer(struct exchange *ex);
/* A tool call the pool refused (`err`), answered as the pool's own failures. */
enum MHD_Result mcp_http_failed(struct exchange *ex, const struct api_error *err);
/* A streamed tool call: the job's output as progress notifications. */
bool mcp_http_stream_output(struct exchange *ex, struct ticket *t, struct job *job);

#endif
