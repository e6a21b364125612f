/* POST /mcp over the HTTP exchange (http_private.h): the transport's rules
 * (methods, origins, Accept), batches, cancels and streamed tool calls. The
 * JSON-RPC itself, tools and replies, is mcp.c's; a tool call runs as a job
 * on the REST routes' path (http_submit). */
#include <stdlib.h>
#include <string.h>

#include "http_private.h"
#include "log.h"

enum MHD_Result mcp_http_refusal(struct exchange *ex) {
    return http_respond_json_new(
        ex, (unsigned)ex->refusal.status,
        mcp_error_json(ex->refusal.status == 405 || ex->refusal.status == 403 ? -32000
                                                                              : MCP_INVALID_REQUEST,
                       ex->refusal.message),
        ex->allow ? MHD_HTTP_HEADER_ALLOW : NULL, ex->allow);
}

/* Streamable HTTP without server-initiated messages: POST only (a GET for
 * an event stream is 405, which the transport allows); browsers' requests
 * from other origins are refused (DNS rebinding). */
void mcp_http_route(struct exchange *ex) {
    ex->is_mcp = true;
    if (strcmp(ex->method, MHD_HTTP_METHOD_POST) != 0) {
        http_refuse_method(ex, "POST");
    } else if (!mcp_origin_allowed(http_header(ex, "Origin"), ex->http->cfg->mcp_allowed_origins)) {
        ex->route = ROUTE_REFUSE;
        api_error_set(&ex->refusal, 403, ERR_INVALID_REQUEST,
                      "Origin not allowed (see --mcp-allowed-origins)");
    } else if (!mcp_accepts_json(http_header(ex, MHD_HTTP_HEADER_ACCEPT))) {
        ex->route = ROUTE_REFUSE;
        api_error_set(&ex->refusal, 406, ERR_INVALID_REQUEST,
                      "Accept must include application/json");
    } else {
        http_expect_body(ex, REQ_RUN, JOB_RUN); /* the kinds are mcp.c's to pick */
    }
}

/* The reply to ex->mcp: of its job once done, or of `err` when the pool
 * refused it (no timing then), as mcp.c builds both. */
static json_t *mcp_reply_of(const struct exchange *ex, const struct job *job,
                            const struct api_error *err) {
    if (job == NULL)
        return mcp_call_reply(ex->mcp, NULL, err, false, 0, 0);
    return mcp_call_reply(ex->mcp, job->result, &job->error, job->timed, job->queue_ms,
                          job->run_ms);
}

/* The same path as the REST routes: queued, answered on resume. */
static enum MHD_Result submit_call(struct exchange *ex) {
    ex->job_kind = ex->mcp->job_kind;
    memcpy(ex->session, ex->mcp->session, sizeof ex->session);
    ex->list_limit = ex->mcp->list_limit;
    memcpy(ex->list_after, ex->mcp->list_after, sizeof ex->list_after);
    return http_submit(ex, ex->mcp->req.root ? &ex->mcp->req : NULL);
}

/* A batch's tool calls run one after the other, each on the usual path. */
static enum MHD_Result next_in_batch(struct exchange *ex) {
    ex->mcp = mcp_batch_next(ex->batch);
    if (ex->mcp == NULL)
        return http_respond_json_new(ex, 200, mcp_batch_reply(ex->batch), NULL, NULL);
    return submit_call(ex);
}

/* A tool call's answer: the response, or the next call of its batch. */
static enum MHD_Result mcp_http_answered_new(struct exchange *ex, json_t *reply) {
    if (ex->batch == NULL)
        return reply ? http_respond_json_new(ex, 200, reply, NULL, NULL) : MHD_NO;
    mcp_batch_answer(ex->batch, reply);
    if (ex->job != NULL) {
        struct job **grown = realloc(ex->answered, (ex->n_answered + 1) * sizeof *grown);
        if (grown == NULL)
            return MHD_NO;
        ex->answered = grown;
        ex->answered[ex->n_answered++] = ex->job;
    }
    ex->job = NULL;
    return next_in_batch(ex);
}

/* notifications/cancelled: the run its requestId names under the caller's
 * Mcp-Session-Id and key (mcp.h), if live. Nothing to answer either way. */
static void mcp_cancel(struct exchange *ex, const json_t *request_id) {
    const char *sid = http_header(ex, "Mcp-Session-Id");
    char run_id[RUN_ID_MAX + 1];
    if (request_id == NULL || !mcp_session_id_valid(sid))
        return;
    mcp_run_id(sid, request_id, run_id);
    if (pool_cancel(ex->http->pool, ex->key ? ex->key->name : "", run_id))
        log_msg("mcp: request %s cancelled by its client", run_id);
}

/* A streamed tool call (mcp_call_streams): its output as progress
 * notifications on the event stream, then its answer as the last one. */
static void mcp_sse_send(void *sse, const char *msg, size_t len) {
    sse_event(sse, NULL, "message", msg, len);
}

bool mcp_http_stream_output(struct exchange *ex, struct ticket *t, struct job *job) {
    t->progress = mcp_progress_new(ex->mcp, mcp_sse_send, ex->sse);
    job->on_output = mcp_progress_output;
    job->output_arg = t->progress;
    return t->progress != NULL;
}

static void mcp_sse_finish(void *arg, struct sse *sse) {
    struct exchange *ex = arg;
    const struct job *job = ex->job;
    json_t *reply = mcp_reply_of(ex, job, NULL);
    char *data = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
    json_decref(reply);
    if (data != NULL)
        sse_event(sse, NULL, "message", data, strlen(data));
    ex->status = 200;
    ex->bytes = data ? strlen(data) : 0;
    free(data);
}

enum MHD_Result mcp_http_serve(struct exchange *ex) {
    struct mcp_call call;
    struct mcp_batch *batch;
    json_t *reply;
    int status;
    enum mcp_outcome out;

    if (ex->too_large) {
        request_check_size(ex->seen, ex->http->cfg->max_body_bytes, &ex->refusal);
        return mcp_http_refusal(ex);
    }
    out = mcp_handle(ex->body ? ex->body : "", ex->len, http_header(ex, "MCP-Protocol-Version"),
                     &reply, &status, &call, &batch);
    free(ex->body);
    ex->body = NULL;
    ex->len = ex->cap = 0;
    if (out == MCP_ACCEPTED) {
        mcp_cancel(ex, call.cancel_id);
        mcp_call_free(&call);
        return http_respond(ex, 202, NULL, 0, "application/json", NULL, NULL);
    }
    if (out == MCP_REPLY) {
        char sid[MCP_SESSION_ID_MAX + 1] = "";
        bool issue = call.initialize;
        if (issue)
            mcp_session_id_new(sid);
        mcp_call_free(&call);
        return reply ? http_respond_json_new(ex, (unsigned)status, reply,
                                             issue ? "Mcp-Session-Id" : NULL, sid)
                     : MHD_NO;
    }
    if (out == MCP_BATCH) {
        ex->batch = batch;
        return next_in_batch(ex);
    }
    ex->mcp = malloc(sizeof *ex->mcp);
    if (ex->mcp == NULL) {
        mcp_call_free(&call);
        return MHD_NO;
    }
    *ex->mcp = call;
    if (mcp_session_id_valid(http_header(ex, "Mcp-Session-Id")) &&
        !mcp_call_name_run(ex->mcp, http_header(ex, "Mcp-Session-Id")))
        return MHD_NO;
    if (mcp_call_streams(ex->mcp) && http_wants_events(ex) &&
        (ex->sse = sse_new(ex->conn, mcp_sse_finish, ex)) == NULL)
        return MHD_NO;
    return submit_call(ex);
}

enum MHD_Result mcp_http_answer(struct exchange *ex) {
    return mcp_http_answered_new(ex, mcp_reply_of(ex, ex->job, NULL));
}

enum MHD_Result mcp_http_failed(struct exchange *ex, const struct api_error *err) {
    return mcp_http_answered_new(ex, mcp_reply_of(ex, NULL, err));
}
