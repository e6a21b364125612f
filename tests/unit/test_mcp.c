/* server/mcp.c: the JSON-RPC side of /mcp, without HTTP or workers: which
 * body gets which answer, which tool call becomes which pool job, and how a
 * job's answer becomes a tool result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mcp.h"

static json_t *reply;
static int status;
static struct mcp_call call;
static struct mcp_batch *batch;

static enum mcp_outcome handle(const char *body, const char *version) {
    json_decref(reply);
    reply = NULL;
    return mcp_handle(body, strlen(body), version, &reply, &status, &call, &batch);
}

static int error_code(void) {
    return (int)json_integer_value(json_object_get(json_object_get(reply, "error"), "code"));
}

static const json_t *result(void) {
    return json_object_get(reply, "result");
}

static const char *structured_code(void) {
    return json_string_value(json_object_get(
        json_object_get(json_object_get(result(), "structuredContent"), "error"), "code"));
}

static void test_headers(void) {
    CHECK(mcp_origin_allowed(NULL, NULL));
    CHECK(mcp_origin_allowed("http://localhost", NULL));
    CHECK(mcp_origin_allowed("http://localhost:6274", NULL));
    CHECK(mcp_origin_allowed("http://127.0.0.1:8080", NULL));
    CHECK(mcp_origin_allowed("https://[::1]:1", NULL));
    CHECK(!mcp_origin_allowed("http://localhost.evil.example", NULL));
    CHECK(!mcp_origin_allowed("http://127.0.0.1.evil.example:80", NULL));
    CHECK(!mcp_origin_allowed("http://localhost:", NULL));
    CHECK(!mcp_origin_allowed("http://evil.example", NULL));
    CHECK(!mcp_origin_allowed("null", NULL));
    CHECK(!mcp_origin_allowed("http://evil.example", "https://app.example"));
    CHECK(mcp_origin_allowed("https://app.example", "https://other.example, https://app.example"));
    CHECK(!mcp_origin_allowed("https://app.example.evil", "https://app.example"));
    CHECK(mcp_origin_allowed("http://evil.example", "*"));

    CHECK(mcp_accepts_json(NULL));
    CHECK(mcp_accepts_json("application/json, text/event-stream"));
    CHECK(mcp_accepts_json("text/event-stream;q=0.9, application/json;q=1"));
    CHECK(mcp_accepts_json("*/*"));
    CHECK(!mcp_accepts_json("text/event-stream"));
    CHECK(!mcp_accepts_json("application/jsonx"));

    CHECK(mcp_version_supported("2025-11-25"));
    CHECK(mcp_version_supported("2025-06-18"));
    CHECK(mcp_version_supported("2025-03-26"));
    CHECK(mcp_version_supported("2024-11-05"));
    CHECK(!mcp_version_supported("2099-01-01"));
}

static void test_protocol(void) {
    CHECK(handle("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
                 "{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},"
                 "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}",
                 NULL) == MCP_REPLY);
    CHECK(status == 200);
    CHECK_STR(json_string_value(json_object_get(result(), "protocolVersion")), "2025-06-18");
    CHECK(json_object_get(json_object_get(result(), "capabilities"), "tools") != NULL);
    CHECK(json_integer_value(json_object_get(reply, "id")) == 1);

    /* A revision we do not speak: we answer with ours. */
    handle("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"initialize\",\"params\":"
           "{\"protocolVersion\":\"1999-01-01\"}}",
           NULL);
    CHECK_STR(json_string_value(json_object_get(result(), "protocolVersion")), MCP_PROTOCOL_LATEST);
    CHECK_STR(json_string_value(json_object_get(reply, "id")), "a");

    handle("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}", "2025-11-25");
    CHECK(json_is_object(result()) && json_object_size(result()) == 0);

    handle("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\",\"params\":{}}", NULL);
    {
        const json_t *tools = json_object_get(result(), "tools"), *t;
        size_t i;
        CHECK(json_array_size(tools) == 6);
        json_array_foreach(tools, i, t) {
            CHECK_STR(json_string_value(json_object_get(json_object_get(t, "inputSchema"), "type")),
                      "object");
            CHECK_STR(
                json_string_value(json_object_get(json_object_get(t, "outputSchema"), "type")),
                "object");
        }
        CHECK_STR(json_string_value(json_object_get(json_array_get(tools, 0), "name")),
                  "run_python");
    }

    CHECK(handle("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", NULL) ==
          MCP_ACCEPTED);
    CHECK(handle("{\"jsonrpc\":\"2.0\",\"method\":\"no/such/notification\"}", NULL) ==
          MCP_ACCEPTED);
    CHECK(handle("{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{}}", NULL) == MCP_ACCEPTED);
}

static void test_bad_messages(void) {
    handle("{\"jsonrpc\":", NULL);
    CHECK(status == 400 && error_code() == MCP_PARSE_ERROR);
    CHECK(json_is_null(json_object_get(reply, "id")));
    handle("\xff", NULL);
    CHECK(status == 400 && error_code() == MCP_PARSE_ERROR);
    handle("", NULL);
    CHECK(status == 400 && error_code() == MCP_PARSE_ERROR);
    /* Batches: gone since 2025-06-18, kept for older clients. */
    handle("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", "2025-06-18");
    CHECK(status == 400 && error_code() == MCP_INVALID_REQUEST);
    handle("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", "2025-11-25");
    CHECK(status == 400 && error_code() == MCP_INVALID_REQUEST);
    handle("[]", NULL);
    CHECK(status == 400 && error_code() == MCP_INVALID_REQUEST);
    handle("42", NULL);
    CHECK(status == 400 && error_code() == MCP_INVALID_REQUEST);
    handle("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", NULL);
    CHECK(status == 400 && error_code() == MCP_INVALID_REQUEST);
    CHECK(json_integer_value(json_object_get(reply, "id")) == 1);
    handle("{\"id\":1,\"method\":\"ping\"}", NULL);
    CHECK(error_code() == MCP_INVALID_REQUEST);
    handle("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", NULL);
    CHECK(error_code() == MCP_INVALID_REQUEST);
    handle("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", NULL);
    CHECK(error_code() == MCP_INVALID_REQUEST);
    handle("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", NULL);
    CHECK(error_code() == MCP_INVALID_REQUEST);
    handle("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/list\"}", NULL);
    CHECK(status == 200 && error_code() == MCP_METHOD_NOT_FOUND);
    handle("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}", NULL);
    CHECK(error_code() == MCP_INVALID_PARAMS);
    handle("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":[1]}", NULL);
    CHECK(error_code() == MCP_INVALID_PARAMS);
    handle("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\"}", NULL);
    CHECK(error_code() == MCP_INVALID_PARAMS);
    handle(
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"nope\"}}",
        NULL);
    CHECK(error_code() == MCP_INVALID_PARAMS);
    handle("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
           "{\"name\":\"run_python\",\"arguments\":[]}}",
           NULL);
    CHECK(error_code() == MCP_INVALID_PARAMS);
    handle("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", "2099-01-01");
    CHECK(status == 400 && error_code() == MCP_INVALID_REQUEST);
}

static void test_tool_calls(void) {
    /* Arguments go through the REST parser: same checks, same codes, as a
     * tool error the model can read. */
    CHECK(handle("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"run_python\",\"arguments\":{}}}",
                 NULL) == MCP_REPLY);
    CHECK(json_is_true(json_object_get(result(), "isError")));
    CHECK_STR(structured_code(), "missing_field");
    handle("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
           "{\"name\":\"run_python\",\"arguments\":{\"code\":\"1\",\"session\":\"s\"}}}",
           NULL);
    CHECK_STR(structured_code(), "unknown_field");
    handle("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
           "{\"name\":\"run_python\",\"arguments\":{\"code\":\"1\",\"mode\":\"x\"}}}",
           NULL);
    CHECK_STR(structured_code(), "invalid_value");
    handle("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
           "{\"name\":\"session_run\",\"arguments\":{\"code\":\"1\"}}}",
           NULL);
    CHECK_STR(structured_code(), "missing_field");
    handle("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
           "{\"name\":\"session_end\",\"arguments\":{\"session\":\"../x\"}}}",
           NULL);
    CHECK_STR(structured_code(), "session_not_found");
    handle("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
           "{\"name\":\"session_end\",\"arguments\":{\"session\":\"abc\",\"x\":1}}}",
           NULL);
    CHECK_STR(structured_code(), "unknown_field");

    CHECK(handle("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"run_python\",\"arguments\":{\"code\":\"x*2\",\"mode\":\"eval\","
                 "\"scope\":{\"x\":21},\"timeout_ms\":100}}}",
                 NULL) == MCP_CALL);
    CHECK(call.job_kind == JOB_RUN && call.tool == MCP_RUN_PYTHON);
    CHECK(call.req.mode == RUN_EVAL && call.req.timeout_ms == 100);
    CHECK(json_integer_value(json_object_get(call.req.scope, "x")) == 21);
    {
        /* What a worker answers, made a tool result. */
        json_t *r =
            json_loads("{\"ok\":true,\"result\":42,\"stdout\":\"hi\\n\",\"stderr\":\"\"}", 0, NULL);
        json_t *a = mcp_call_reply(&call, r, NULL, true, 1.5, 2.25);
        const json_t *res = json_object_get(a, "result"),
                     *sc = json_object_get(res, "structuredContent");
        CHECK(json_integer_value(json_object_get(a, "id")) == 5);
        CHECK(json_is_false(json_object_get(res, "isError")));
        CHECK(json_integer_value(json_object_get(sc, "result")) == 42);
        CHECK(json_real_value(json_object_get(json_object_get(sc, "timing"), "run_ms")) == 2.25);
        CHECK(json_object_get(r, "timing") == NULL); /* the job's object is not touched */
        CHECK_STR(json_string_value(
                      json_object_get(json_array_get(json_object_get(res, "content"), 0), "text")),
                  "hi\nresult: 42\n");
        json_decref(a);
        json_decref(r);

        r = json_loads(
            "{\"ok\":false,\"result\":null,\"stdout\":\"\",\"stderr\":\"\",\"error\":"
            "{\"type\":\"ZeroDivisionError\",\"message\":\"division by zero\",\"line\":2,"
            "\"source\":\"1/0\",\"traceback\":[{\"function\":\"<module>\",\"line\":2,"
            "\"source\":\"1/0\"}]}}",
            0, NULL);
        a = mcp_call_reply(&call, r, NULL, false, 0, 0);
        res = json_object_get(a, "result");
        CHECK(json_is_true(json_object_get(res, "isError")));
        CHECK(json_object_get(json_object_get(res, "structuredContent"), "timing") == NULL);
        CHECK_STR(json_string_value(
                      json_object_get(json_array_get(json_object_get(res, "content"), 0), "text")),
                  "Traceback (most recent call last):\n  line 2, in <module>\n    1/0\n"
                  "ZeroDivisionError: division by zero\n");
        json_decref(a);
        json_decref(r);
    }
    {
        struct api_error err;
        json_t *a;
        api_error_set(&err, 504, ERR_TIMEOUT, "the run took longer than %d ms", 100);
        a = mcp_call_reply(&call, NULL, &err, false, 0, 0);
        CHECK(json_is_true(json_object_get(json_object_get(a, "result"), "isError")));
        json_decref(reply);
        reply = a;
        CHECK_STR(structured_code(), "timeout");
    }
    mcp_call_free(&call);

    CHECK(
        handle("{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":"
               "{\"name\":\"session_run\",\"arguments\":{\"session\":\"r1-abc\",\"code\":\"1\"}}}",
               NULL) == MCP_CALL);
    CHECK(call.job_kind == JOB_SESSION_RUN);
    CHECK_STR(call.session, "r1-abc");
    CHECK(json_object_get(call.req.root, "session") == NULL);
    mcp_call_free(&call);

    CHECK(handle("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"session_end\",\"arguments\":{\"session\":\"abc\"}}}",
                 NULL) == MCP_CALL);
    CHECK(call.job_kind == JOB_SESSION_DELETE && call.req.root == NULL);
    mcp_call_free(&call);

    CHECK(handle("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"session_fork\",\"arguments\":{\"session\":\"abc\"}}}",
                 NULL) == MCP_CALL);
    CHECK(call.job_kind == JOB_SESSION_FORK && call.req.root == NULL);
    CHECK_STR(call.session, "abc");
    mcp_call_free(&call);

    /* session_list: GET /v1/sessions's query, as arguments. */
    CHECK(handle("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"session_list\"}}",
                 NULL) == MCP_CALL);
    CHECK(call.job_kind == JOB_SESSION_LIST && call.list_limit == 100 &&
          call.list_after[0] == '\0');
    mcp_call_free(&call);
    CHECK(handle("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"session_list\",\"arguments\":{\"limit\":2,\"after\":\"r1-x\"}}}",
                 NULL) == MCP_CALL);
    CHECK(call.list_limit == 2);
    CHECK_STR(call.list_after, "r1-x");
    mcp_call_free(&call);
    handle("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":"
           "{\"name\":\"session_list\",\"arguments\":{\"limit\":0}}}",
           NULL);
    CHECK_STR(structured_code(), "invalid_value");
    handle("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":"
           "{\"name\":\"session_list\",\"arguments\":{\"after\":\"../\"}}}",
           NULL);
    CHECK_STR(structured_code(), "invalid_value");
    handle("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":"
           "{\"name\":\"session_list\",\"arguments\":{\"page\":1}}}",
           NULL);
    CHECK_STR(structured_code(), "unknown_field");

    CHECK(handle("{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"session_start\"}}",
                 NULL) == MCP_CALL);
    CHECK(call.job_kind == JOB_SESSION_CREATE && json_is_object(call.req.scope));
    mcp_call_free(&call);
}

static void test_batches(void) {
    json_t *r;
    CHECK(handle("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
                 "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"},"
                 "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"}, 7]",
                 "2025-03-26") == MCP_REPLY);
    CHECK(status == 200 && json_array_size(reply) == 3);
    CHECK(json_integer_value(json_object_get(json_array_get(reply, 0), "id")) == 1);
    CHECK(json_integer_value(json_object_get(json_object_get(json_array_get(reply, 1), "error"),
                                             "code")) == MCP_METHOD_NOT_FOUND);
    CHECK(json_integer_value(json_object_get(json_object_get(json_array_get(reply, 2), "error"),
                                             "code")) == MCP_INVALID_REQUEST);
    CHECK(handle("[{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}]", NULL) ==
          MCP_ACCEPTED);

    /* Tool calls keep their places; they are answered one after the other. */
    CHECK(handle("[{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"run_python\",\"arguments\":{\"code\":\"1\"}}},"
                 "{\"jsonrpc\":\"2.0\",\"id\":\"b\",\"method\":\"ping\"},"
                 "{\"jsonrpc\":\"2.0\",\"id\":\"c\",\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"session_end\",\"arguments\":{\"session\":\"abc\"}}}]",
                 NULL) == MCP_BATCH);
    CHECK(batch != NULL && batch->n_calls == 2);
    CHECK(mcp_batch_next(batch)->job_kind == JOB_RUN);
    r = json_loads("{\"ok\":true,\"result\":1,\"stdout\":\"\",\"stderr\":\"\"}", 0, NULL);
    mcp_batch_answer(batch, mcp_call_reply(mcp_batch_next(batch), r, NULL, false, 0, 0));
    json_decref(r);
    CHECK(mcp_batch_next(batch)->job_kind == JOB_SESSION_DELETE);
    CHECK_STR(mcp_batch_next(batch)->session, "abc");
    r = json_loads("{\"ok\":true,\"id\":\"abc\"}", 0, NULL);
    mcp_batch_answer(batch, mcp_call_reply(mcp_batch_next(batch), r, NULL, false, 0, 0));
    json_decref(r);
    CHECK(mcp_batch_next(batch) == NULL);
    r = mcp_batch_reply(batch);
    CHECK(json_array_size(r) == 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(r, 0), "id")), "a");
    CHECK_STR(json_string_value(json_object_get(json_array_get(r, 1), "id")), "b");
    CHECK_STR(json_string_value(json_object_get(json_array_get(r, 2), "id")), "c");
    CHECK(json_integer_value(json_object_get(
              json_object_get(json_object_get(json_array_get(r, 0), "result"), "structuredContent"),
              "result")) == 1);
    json_decref(r);
    mcp_batch_free(batch);
    batch = NULL;
}

static char sent[1024];
static int n_sent;

static void keep(void *arg, const char *msg, size_t len) {
    (void)arg;
    snprintf(sent, sizeof sent, "%.*s", (int)len, msg);
    n_sent++;
}

/* Progress tokens, notifications/cancelled, and the run ids they meet at. */
static void test_streaming_and_cancel(void) {
    char a[RUN_ID_MAX + 1], b[RUN_ID_MAX + 1], sid[MCP_SESSION_ID_MAX + 1],
        sid2[MCP_SESSION_ID_MAX + 1];
    json_t *one = json_integer(1), *one_text = json_string("1");
    struct mcp_progress *p;

    CHECK(handle("{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"run_python\",\"arguments\":{\"code\":\"print(1)\"},"
                 "\"_meta\":{\"progressToken\":\"tok\"}}}",
                 NULL) == MCP_CALL);
    CHECK(mcp_call_streams(&call));
    CHECK_STR(json_string_value(call.progress_token), "tok");
    /* Named from the session and the request id, unless the call named it. */
    CHECK(mcp_call_name_run(&call, "s1"));
    mcp_run_id("s1", call.id, a);
    CHECK_STR(json_string_value(call.req.run_id), a);
    CHECK(strncmp(a, "mcp-", 4) == 0 && strlen(a) == 44 && run_id_valid(a, strlen(a)));
    p = mcp_progress_new(&call, keep, NULL);
    mcp_progress_output(p, "stderr", "oops\n", 5);
    mcp_progress_output(p, "stdout", "x", 1);
    CHECK(n_sent == 2);
    CHECK_STR(sent, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":"
                    "{\"progressToken\":\"tok\",\"progress\":2,\"message\":\"x\","
                    "\"_meta\":{\"scopebox/stream\":\"stdout\"}}}");
    mcp_progress_free(p);
    mcp_call_free(&call);

    CHECK(handle("{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"run_python\",\"arguments\":{\"code\":\"1\",\"run_id\":\"mine\"},"
                 "\"_meta\":{\"progressToken\":[1]}}}",
                 NULL) == MCP_CALL);
    CHECK(!mcp_call_streams(&call)); /* not a token: answered, not streamed */
    CHECK(mcp_call_name_run(&call, "s1"));
    CHECK_STR(json_string_value(call.req.run_id), "mine");
    mcp_call_free(&call);
    CHECK(handle("{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"session_start\",\"_meta\":{\"progressToken\":1}}}",
                 NULL) == MCP_CALL);
    CHECK(!mcp_call_streams(&call)); /* only runs stream */
    mcp_call_free(&call);

    /* Another session's id 9, or id "9", is another run. */
    {
        json_t *nine = json_integer(9);
        mcp_run_id("s2", nine, b);
        CHECK(strcmp(a, b) != 0);
        mcp_run_id("s1", nine, b);
        CHECK(strcmp(a, b) == 0);
        json_decref(nine);
    }
    mcp_run_id("s1", one, a);
    mcp_run_id("s1", one_text, b);
    CHECK(strcmp(a, b) != 0);
    mcp_run_id("s", one, a);
    mcp_run_id("s1", one, b);
    CHECK(strcmp(a, b) != 0);

    CHECK(handle("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":"
                 "{\"requestId\":9,\"reason\":\"user\"}}",
                 NULL) == MCP_ACCEPTED);
    CHECK(json_integer_value(call.cancel_id) == 9 && reply == NULL);
    mcp_call_free(&call);
    CHECK(handle("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":"
                 "{\"requestId\":null}}",
                 NULL) == MCP_ACCEPTED);
    CHECK(call.cancel_id == NULL);
    CHECK(handle("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", NULL) ==
          MCP_ACCEPTED);
    CHECK(call.cancel_id == NULL);
    /* In a batch (old revisions), ignored and not leaked. */
    CHECK(handle("[{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":"
                 "{\"requestId\":9}},{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]",
                 NULL) == MCP_REPLY);

    CHECK(handle("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
                 "{\"protocolVersion\":\"2025-11-25\"}}",
                 NULL) == MCP_REPLY);
    CHECK(call.initialize);
    CHECK(handle("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}", NULL) == MCP_REPLY);
    CHECK(!call.initialize); /* an error answer starts nothing */

    mcp_session_id_new(sid);
    mcp_session_id_new(sid2);
    CHECK(strlen(sid) == 32 && strcmp(sid, sid2) != 0 && mcp_session_id_valid(sid));
    CHECK(!mcp_session_id_valid(NULL) && !mcp_session_id_valid("") && !mcp_session_id_valid("a b"));
    CHECK(mcp_session_id_valid("~!x") && !mcp_session_id_valid("caf\xc3\xa9"));
    memset(sid, 'a', MCP_SESSION_ID_MAX);
    sid[MCP_SESSION_ID_MAX] = '\0';
    CHECK(mcp_session_id_valid(sid));
    {
        char longer[MCP_SESSION_ID_MAX + 2];
        memset(longer, 'a', sizeof longer - 1);
        longer[sizeof longer - 1] = '\0';
        CHECK(!mcp_session_id_valid(longer));
    }
    json_decref(one);
    json_decref(one_text);
}

int main(void) {
    test_headers();
    test_protocol();
    test_bad_messages();
    test_tool_calls();
    test_batches();
    test_streaming_and_cancel();
    json_decref(reply);
    return check_report();
}
