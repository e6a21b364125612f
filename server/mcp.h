/* POST /mcp: the Model Context Protocol over its Streamable HTTP transport,
 * stateless (the Mcp-Session-Id it issues is only a name, see below),
 * answers as application/json, or as text/event-stream for a run whose
 * caller asked for progress. This file is
 * the JSON-RPC part, free of any HTTP library so that it can be unit-tested
 * and fuzzed: a body in, either an answer or a tool call for the pool out.
 * The tools are the REST operations (their schemas are generated from
 * server/openapi.yaml by gen_mcp_tools.py). */
#ifndef SCOPEBOX_MCP_H
#define SCOPEBOX_MCP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "pool.h"
#include "request.h"

/* What initialize answers when the client asks for a revision we do not
 * speak (the client then decides whether to go on). */
#define MCP_PROTOCOL_LATEST "2025-11-25"

/* JSON-RPC 2.0 error codes. */
#define MCP_PARSE_ERROR (-32700)
#define MCP_INVALID_REQUEST (-32600)
#define MCP_METHOD_NOT_FOUND (-32601)
#define MCP_INVALID_PARAMS (-32602)
#define MCP_INTERNAL_ERROR (-32603)

bool mcp_version_supported(const char *version);

/* DNS rebinding: a browser page on another site must not reach a server on
 * loopback. A request with no Origin (not a browser) or a loopback one
 * (http://localhost, 127.0.0.1, [::1], any port) passes; any other only if
 * listed in `allowed` (comma-separated origins, or "*"; NULL for none). */
bool mcp_origin_allowed(const char *origin, const char *allowed);

/* Whether an Accept header (NULL when absent) takes application/json. */
bool mcp_accepts_json(const char *accept);

enum mcp_tool {
    MCP_RUN_PYTHON,
    MCP_SESSION_START,
    MCP_SESSION_RUN,
    MCP_SESSION_FORK,
    MCP_SESSION_LIST,
    MCP_SESSION_END
};

/* Mcp-Session-Id. initialize answers with a new random one, which the
 * server never stores: it only scopes the JSON-RPC ids of one client, so
 * that its notifications/cancelled can name its own run (ids are small
 * integers that every client reuses; the session id is unguessable). A
 * request without one is served all the same; it just cannot be cancelled
 * by notification (closing its connection still cancels it). */
#define MCP_SESSION_ID_MAX 64
void mcp_session_id_new(char out[MCP_SESSION_ID_MAX + 1]);
/* Visible ASCII (0x21-0x7E), 1 to MCP_SESSION_ID_MAX bytes, as the spec says. */
bool mcp_session_id_valid(const char *id);
/* The run id a tools/call of JSON-RPC id `request_id` gets under
 * `session` (a hash of both: "mcp-" and 40 hex digits). Runs are found by
 * (owner, run id), so with API keys on a key only ever reaches its own. */
void mcp_run_id(const char *session, const json_t *request_id, char out[RUN_ID_MAX + 1]);

/* A tools/call that goes to the pool, as the matching REST request would. */
struct mcp_call {
    json_t *id;             /* the JSON-RPC id, owned */
    json_t *progress_token; /* params._meta.progressToken, owned, or NULL */
    enum mcp_tool tool;
    enum job_kind job_kind;
    char session[SESSION_ID_MAX + 1]; /* session_run, _fork, _end */
    struct run_request req;           /* req.root is NULL but for runs and session_start */
    unsigned list_limit;              /* session_list: GET /v1/sessions?limit=&after= */
    char list_after[SESSION_ID_MAX + 1];
    /* Not tool calls: set by mcp_handle on the outcomes that say so. */
    json_t *cancel_id; /* MCP_ACCEPTED: notifications/cancelled's requestId, owned */
    bool initialize;   /* MCP_REPLY: an initialize answered (issue a session id) */
};

enum mcp_outcome {
    MCP_REPLY,    /* *reply is the answer, with HTTP status *status */
    MCP_ACCEPTED, /* notifications or responses only: 202, no body */
    MCP_CALL,     /* submit *call, then answer with mcp_call_reply */
    MCP_BATCH,    /* a batch with tool calls: see struct mcp_batch */
};

/* A batch (revisions up to 2025-03-26) holding tool calls. They run one
 * after the other: for each call mcp_batch_next gives, submit it and hand
 * its mcp_call_reply to mcp_batch_answer; once mcp_batch_next is NULL,
 * mcp_batch_reply is the answer (status 200). */
#define MCP_BATCH_MAX 32
struct mcp_batch {
    json_t *replies; /* the answer array; tool calls' slots are null until answered */
    struct mcp_call *calls;
    size_t *slots; /* each call's index in replies */
    size_t n_calls, next;
};
struct mcp_call *mcp_batch_next(struct mcp_batch *batch);
void mcp_batch_answer(struct mcp_batch *batch, json_t *reply); /* takes the reference */
json_t *mcp_batch_reply(const struct mcp_batch *batch);        /* a new reference */
void mcp_batch_free(struct mcp_batch *batch);

/* One POSTed body. `version` is the MCP-Protocol-Version header (NULL when
 * absent). `call` is always filled in (zeroed but for what the outcome
 * sets) and the caller frees it (mcp_call_free) but on MCP_BATCH, where it
 * owns `*batch` instead (mcp_batch_free). On MCP_ACCEPTED, call->cancel_id
 * names the request a notifications/cancelled cancels (a batch's are
 * ignored: batches belong to revisions before progress streaming). */
enum mcp_outcome mcp_handle(const char *body, size_t len, const char *version, json_t **reply,
                            int *status, struct mcp_call *call, struct mcp_batch **batch);

/* The tools/call answer once the pool is done: `result` is the job's body
 * (NULL on an API error, then `err` says why). Timing is added as the REST
 * answer has it when `timed`. */
json_t *mcp_call_reply(const struct mcp_call *call, const json_t *result,
                       const struct api_error *err, bool timed, double queue_ms, double run_ms);

/* Whether the call's output goes out while it runs: a run (run_python,
 * session_run) whose caller sent a progress token. */
bool mcp_call_streams(const struct mcp_call *call);
/* Names the call's run mcp_run_id(session, call->id), unless its arguments
 * named it (`run_id`); false without memory. */
bool mcp_call_name_run(struct mcp_call *call, const char *session);

/* A streamed call's output as notifications/progress, one per output
 * event of the run: `progress` counts them (it must increase), `message`
 * is the text as written, `_meta` {"scopebox/stream": "stdout"|"stderr"}
 * says where. `send` gets each notification as compact JSON (no newline).
 * mcp_progress_output has job->on_output's signature (pool.h) and runs on
 * the dispatcher thread; the struct holds no reference to the call. */
struct mcp_progress;
struct mcp_progress *mcp_progress_new(const struct mcp_call *call,
                                      void (*send)(void *arg, const char *msg, size_t len),
                                      void *arg);
void mcp_progress_output(void *progress, const char *stream, const char *text, size_t len);
void mcp_progress_free(struct mcp_progress *progress);

/* An HTTP-level refusal of /mcp (405, 403, 413, ...) as a JSON-RPC error
 * with no id. */
json_t *mcp_error_json(int code, const char *message);

void mcp_call_free(struct mcp_call *call);

#endif
