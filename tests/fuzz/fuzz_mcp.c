/* libFuzzer target: the JSON-RPC side of POST /mcp (server/mcp.c). The first
 * byte picks the MCP-Protocol-Version header (none, supported, unsupported);
 * the rest is the body as it would arrive. Beyond "no crash, no leak, no
 * undefined behaviour": every body gets exactly one outcome; a reply is a
 * JSON-RPC 2.0 object with a result or an error (or, for a batch, a non-empty
 * array of them); a tool call is a pool job with its id, and turning a
 * job's answer (or an API error) into a tool result always works, for
 * single calls and a batch's. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mcp.h"

static void check_reply(const json_t *reply) {
    if (!json_is_object(reply))
        abort();
    if (strcmp(json_string_value(json_object_get(reply, "jsonrpc")), "2.0") != 0)
        abort();
    if ((json_object_get(reply, "result") == NULL) == (json_object_get(reply, "error") == NULL))
        abort();
}

/* libFuzzer's entry point; libFuzzer has no header that declares it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const versions[] = {NULL, "2025-06-18", "2099-01-01"};
    struct mcp_call call;
    struct mcp_batch *batch = NULL;
    json_t *reply = NULL;
    int status = 0;

    if (size == 0)
        return 0;
    const char *version = versions[data[0] % 3];
    data++;
    size--;

    switch (mcp_handle((const char *)data, size, version, &reply, &status, &call, &batch)) {
    case MCP_REPLY:
        if (json_is_array(reply)) { /* a batch answered at once */
            size_t i;
            json_t *one;
            if (json_array_size(reply) == 0 || status != 200)
                abort();
            json_array_foreach(reply, i, one) check_reply(one);
        } else {
            check_reply(reply);
        }
        if (status != 200 && status != 400)
            abort();
        break;
    case MCP_ACCEPTED:
        if (reply != NULL)
            abort();
        mcp_call_free(&call); /* a notifications/cancelled's request id */
        break;
    case MCP_CALL: {
        if (reply != NULL || call.id == NULL)
            abort();
        if (call.job_kind != JOB_SESSION_DELETE && !json_is_object(call.req.scope))
            abort();
        json_t *answer = json_pack("{s:b, s:n, s:s, s:s, s:{s:s, s:s, s:n, s:n, s:[]}}", "ok", 0,
                                   "result", "stdout", "", "stderr", "", "error", "type", "E",
                                   "message", "m", "line", "source", "traceback");
        json_t *r = mcp_call_reply(&call, answer, NULL, true, 1, 2);
        check_reply(r);
        json_decref(r);
        json_decref(answer);
        struct api_error err;
        api_error_set(&err, 504, ERR_TIMEOUT, "late");
        r = mcp_call_reply(&call, NULL, &err, false, 0, 0);
        check_reply(r);
        json_decref(r);
        mcp_call_free(&call);
        break;
    }
    case MCP_BATCH: {
        struct mcp_call *c;
        size_t answered = 0;
        if (batch == NULL || reply != NULL)
            abort();
        while ((c = mcp_batch_next(batch)) != NULL) {
            struct api_error err;
            api_error_set(&err, 503, ERR_QUEUE_FULL, "busy");
            mcp_batch_answer(batch, mcp_call_reply(c, NULL, &err, false, 0, 0));
            answered++;
        }
        json_t *all = mcp_batch_reply(batch);
        size_t i;
        json_t *one;
        if (answered == 0 || !json_is_array(all))
            abort();
        json_array_foreach(all, i, one) check_reply(one);
        json_decref(all);
        mcp_batch_free(batch);
        break;
    }
    }
    json_decref(reply);
    return 0;
}
