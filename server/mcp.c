#include "mcp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "hmac.h"
#include "log.h"

/* Generated from openapi.yaml (gen_mcp_tools.py): the tools/list array. */
extern const char mcp_tools_json[];
extern const size_t mcp_tools_json_len;

/* Newest first: the revisions the official TypeScript SDK negotiates
 * (SUPPORTED_PROTOCOL_VERSIONS in @modelcontextprotocol/sdk 1.32). Nothing
 * this server does differs between them but batches (see mcp_handle). */
static const char *const versions[] = {MCP_PROTOCOL_LATEST, "2025-06-18", "2025-03-26",
                                       "2024-11-05", "2024-10-07"};

#define SERVER_VERSION "0.1.0"

/* The text rendering of an answer shows this much of each output stream;
 * all of it is in structuredContent. */
#define TEXT_PART_MAX 16384

bool mcp_version_supported(const char *v) {
    if (v == NULL)
        return false;
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++)
        if (strcmp(v, versions[i]) == 0)
            return true;
    return false;
}

/* ---- headers --------------------------------------------------------------- */

static bool loopback_origin(const char *o) {
    static const char *const hosts[] = {"localhost", "127.0.0.1", "[::1]"};
    const char *rest;
    if (strncasecmp(o, "http://", 7) == 0)
        o += 7;
    else if (strncasecmp(o, "https://", 8) == 0)
        o += 8;
    else
        return false;
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        size_t n = strlen(hosts[i]);
        if (strncasecmp(o, hosts[i], n) != 0)
            continue;
        rest = o + n;
        if (*rest == '\0')
            return true;
        if (*rest != ':' || rest[1] == '\0')
            return false;
        for (rest++; *rest; rest++)
            if (*rest < '0' || *rest > '9')
                return false;
        return true;
    }
    return false;
}

bool mcp_origin_allowed(const char *origin, const char *allowed) {
    const char *p;
    size_t n = origin ? strlen(origin) : 0;

    if (origin == NULL || loopback_origin(origin))
        return true;
    for (p = allowed; p != NULL && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if ((len == 1 && *p == '*') || (len == n && len > 0 && strncasecmp(p, origin, n) == 0))
            return true;
    }
    return false;
}

bool mcp_accepts_json(const char *accept) {
    const char *p;
    if (accept == NULL)
        return true;
    for (p = accept; p != NULL; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        size_t len;
        while (*p == ' ' || *p == '\t')
            p++;
        len = strcspn(p, ",;");
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if ((len == 16 && strncasecmp(p, "application/json", 16) == 0) ||
            (len == 13 && strncasecmp(p, "application/*", 13) == 0) ||
            (len == 3 && strncmp(p, "*/*", 3) == 0))
            return true;
    }
    return false;
}

/* ---- JSON-RPC envelopes ------------------------------------------------------ */

json_t *mcp_error_json(int code, const char *message) {
    char msg[512];
    log_sanitize(msg, sizeof msg, message, strlen(message));
    return json_pack("{s:s, s:n, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", "error", "code", code,
                     "message", msg);
}

static json_t *error_reply(const json_t *id, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static json_t *error_reply(const json_t *id, int code, const char *fmt, ...) {
    char raw[512], msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    log_sanitize(msg, sizeof msg, raw, strlen(raw));
    return json_pack("{s:s, s:O?, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(),
                     "error", "code", code, "message", msg);
}

static json_t *result_reply(const json_t *id, json_t *result) {
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result);
}

/* ---- methods ---------------------------------------------------------------- */

static json_t *initialize(const json_t *id, const json_t *params) {
    const json_t *asked = json_object_get(params, "protocolVersion");
    const char *version;

    if (!json_is_string(asked))
        return error_reply(id, MCP_INVALID_PARAMS,
                           "initialize: params.protocolVersion must be a string");
    version = json_string_value(asked);
    if (!mcp_version_supported(version))
        version = MCP_PROTOCOL_LATEST;
    return result_reply(
        id, json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s, s:s}, s:s}", "protocolVersion", version,
                      "capabilities", "tools", "listChanged", 0, "serverInfo", "name", "scopebox",
                      "title", "scopebox", "version", SERVER_VERSION, "instructions",
                      "Runs Python snippets in a sandbox (CPython in WebAssembly, no network). "
                      "run_python for one-off runs; session_start/session_run/session_end to "
                      "keep variables between runs. Pass inputs as `scope` variables rather than "
                      "pasting them into code."));
}

static json_t *tools_list(const json_t *id) {
    json_error_t jerr;
    json_t *tools = json_loadb(mcp_tools_json, mcp_tools_json_len, 0, &jerr);
    if (tools == NULL)
        return error_reply(id, MCP_INTERNAL_ERROR, "tool list is corrupt: %s", jerr.text);
    return result_reply(id, json_pack("{s:o}", "tools", tools));
}

static const struct tool_row {
    const char *name;
    enum mcp_tool tool;
    enum job_kind job_kind;
    int parse; /* the REST body it parses as; -1: none (session_end) */
    bool session;
} tool_rows[] = {
    /* run_python has no `session` field: parsed as a session run's body,
     * which has none, and run statelessly. */
    {"run_python", MCP_RUN_PYTHON, JOB_RUN, REQ_SESSION_RUN, false},
    {"session_start", MCP_SESSION_START, JOB_SESSION_CREATE, REQ_SESSION_CREATE, false},
    {"session_run", MCP_SESSION_RUN, JOB_SESSION_RUN, REQ_SESSION_RUN, true},
    {"session_fork", MCP_SESSION_FORK, JOB_SESSION_FORK, -1, true},
    {"session_list", MCP_SESSION_LIST, JOB_SESSION_LIST, -1, false},
    {"session_end", MCP_SESSION_END, JOB_SESSION_DELETE, -1, true},
};

#define LIST_LIMIT_DEFAULT 100 /* GET /v1/sessions's */
#define LIST_LIMIT_MAX 1000

/* session_list's arguments, checked as GET /v1/sessions checks its query. */
static bool list_args(json_t *body, struct mcp_call *call, struct api_error *err) {
    const json_t *limit = json_object_get(body, "limit"), *after = json_object_get(body, "after");
    call->list_limit = LIST_LIMIT_DEFAULT;
    if (limit != NULL) {
        if (!json_is_integer(limit) || json_integer_value(limit) < 1 ||
            json_integer_value(limit) > LIST_LIMIT_MAX) {
            api_error_set(err, 400, ERR_INVALID_VALUE,
                          "field 'limit' must be a whole number from 1 to %d", LIST_LIMIT_MAX);
            return false;
        }
        call->list_limit = (unsigned)json_integer_value(limit);
        json_object_del(body, "limit");
    }
    if (after != NULL) {
        if (!json_is_string(after) ||
            !session_id_valid(json_string_value(after), json_string_length(after))) {
            api_error_set(err, 400, ERR_INVALID_VALUE,
                          "field 'after' must be a session id (the 'next' of a page)");
            return false;
        }
        memcpy(call->list_after, json_string_value(after), json_string_length(after) + 1);
        json_object_del(body, "after");
    }
    return true;
}

static json_t *failure_json(const struct api_error *err) {
    return api_error_json(err);
}

/* A tool's own failure (bad arguments, an API error from the pool): a tool
 * result with isError, so that the model sees it, not a protocol error. */
static json_t *tool_failure(const json_t *id, const struct api_error *err) {
    char text[sizeof err->message + 64];
    snprintf(text, sizeof text, "error %s: %s", err->code, err->message);
    char clean[sizeof text];
    log_sanitize(clean, sizeof clean, text, strlen(text));
    return result_reply(id,
                        json_pack("{s:[{s:s, s:s}], s:o, s:b}", "content", "type", "text", "text",
                                  clean, "structuredContent", failure_json(err), "isError", 1));
}

/* Fills `call` from tools/call params, or returns the answer to send. */
static json_t *tools_call(const json_t *id, const json_t *params, struct mcp_call *call) {
    const json_t *name = json_object_get(params, "name");
    const json_t *args = json_object_get(params, "arguments");
    const struct tool_row *row = NULL;
    struct api_error err;
    json_t *body;
    char *text;
    bool ok;

    if (!json_is_string(name))
        return error_reply(id, MCP_INVALID_PARAMS, "tools/call: params.name must be a string");
    for (size_t i = 0; i < sizeof tool_rows / sizeof tool_rows[0]; i++)
        if (strcmp(json_string_value(name), tool_rows[i].name) == 0)
            row = &tool_rows[i];
    if (row == NULL) {
        char shown[65];
        log_sanitize(shown, sizeof shown, json_string_value(name), json_string_length(name));
        return error_reply(id, MCP_INVALID_PARAMS, "unknown tool '%s'", shown);
    }
    if (args != NULL && !json_is_object(args) && !json_is_null(args))
        return error_reply(id, MCP_INVALID_PARAMS,
                           "tools/call: params.arguments must be an object");

    memset(call, 0, sizeof *call);
    call->tool = row->tool;
    call->job_kind = row->job_kind;
    {
        /* Another type is no token: the call is answered, just not streamed. */
        const json_t *token = json_object_get(json_object_get(params, "_meta"), "progressToken");
        if (json_is_string(token) || json_is_integer(token))
            call->progress_token = json_deep_copy(token);
    }
    body = json_is_object(args) ? json_copy((json_t *)args) : json_object();
    if (body == NULL)
        return error_reply(id, MCP_INTERNAL_ERROR, "out of memory");
    if (row->session) {
        const json_t *s = json_object_get(body, "session");
        if (!json_is_string(s)) {
            api_error_set(&err, 400, s ? ERR_INVALID_TYPE : ERR_MISSING_FIELD,
                          s ? "field 'session' must be a string" : "field 'session' is required");
            json_decref(body);
            return tool_failure(id, &err);
        }
        if (!session_id_valid(json_string_value(s), json_string_length(s))) {
            char shown[SESSION_ID_MAX + 1];
            log_sanitize(shown, sizeof shown, json_string_value(s), json_string_length(s));
            api_error_set(&err, 404, ERR_SESSION_NOT_FOUND, "no session '%s'", shown);
            json_decref(body);
            return tool_failure(id, &err);
        }
        memcpy(call->session, json_string_value(s), json_string_length(s) + 1);
        json_object_del(body, "session");
    }
    if (row->tool == MCP_SESSION_LIST && !list_args(body, call, &err)) {
        json_decref(body);
        return tool_failure(id, &err);
    }
    if (row->parse < 0) {
        const char *key;
        json_t *v;
        json_object_foreach(body, key, v) {
            char shown[65];
            log_sanitize(shown, sizeof shown, key, strlen(key));
            api_error_set(&err, 400, ERR_UNKNOWN_FIELD, "unknown field '%s'", shown);
            json_decref(body);
            return tool_failure(id, &err);
        }
        json_decref(body);
    } else {
        /* Through the REST parser, so that a tool call is validated exactly
         * as the matching request body would be. */
        text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (text == NULL)
            return error_reply(id, MCP_INTERNAL_ERROR, "out of memory");
        ok = request_parse((enum request_kind)row->parse, text, strlen(text), &call->req, &err);
        free(text);
        if (!ok)
            return tool_failure(id, &err);
    }
    call->id = json_incref((json_t *)id);
    return NULL;
}

/* notifications/cancelled: its requestId, if it names one. */
static void cancelled(const json_t *params, struct mcp_call *call) {
    const json_t *rid = json_object_get(params, "requestId");
    if (json_is_string(rid) || json_is_integer(rid))
        call->cancel_id = json_incref((json_t *)rid);
}

/* One message (an element of a batch, or the whole body). */
static enum mcp_outcome handle_message(const json_t *msg, json_t **reply, int *status,
                                       struct mcp_call *call) {
    const json_t *id, *method, *params, *jsonrpc;
    json_t *answer;
    const char *m;

    memset(call, 0, sizeof *call);
    *status = 400; /* until the message is known to be a well-formed request */
    if (!json_is_object(msg)) {
        *reply = error_reply(NULL, MCP_INVALID_REQUEST, "a JSON-RPC message must be an object");
        return MCP_REPLY;
    }
    id = json_object_get(msg, "id");
    method = json_object_get(msg, "method");
    params = json_object_get(msg, "params");
    jsonrpc = json_object_get(msg, "jsonrpc");
    /* An id that is neither a string nor an integer is not echoed. */
    if (id != NULL && !json_is_string(id) && !json_is_integer(id)) {
        *reply = error_reply(NULL, MCP_INVALID_REQUEST, "id must be a string or an integer");
        return MCP_REPLY;
    }
    if (!json_is_string(jsonrpc) || strcmp(json_string_value(jsonrpc), "2.0") != 0) {
        *reply = error_reply(id, MCP_INVALID_REQUEST, "jsonrpc must be \"2.0\"");
        return MCP_REPLY;
    }
    if (method == NULL && id != NULL &&
        (json_object_get(msg, "result") != NULL || json_object_get(msg, "error") != NULL))
        return MCP_ACCEPTED; /* a response to a request we never make */
    if (!json_is_string(method)) {
        *reply = error_reply(id, MCP_INVALID_REQUEST, "method must be a string");
        return MCP_REPLY;
    }
    if (id == NULL) { /* notifications need no answer; cancelled names a run to stop */
        if (strcmp(json_string_value(method), "notifications/cancelled") == 0 &&
            json_is_object(params))
            cancelled(params, call);
        return MCP_ACCEPTED;
    }
    *status = 200;
    m = json_string_value(method);
    if (params != NULL && !json_is_object(params))
        answer = error_reply(id, MCP_INVALID_PARAMS, "%s: params must be an object", m);
    else if (strcmp(m, "initialize") == 0) {
        answer = params ? initialize(id, params)
                        : error_reply(id, MCP_INVALID_PARAMS, "initialize: params are required");
        call->initialize = json_object_get(answer, "result") != NULL;
    } else if (strcmp(m, "ping") == 0)
        answer = result_reply(id, json_object());
    else if (strcmp(m, "tools/list") == 0)
        answer = tools_list(id);
    else if (strcmp(m, "tools/call") == 0) {
        answer = params ? tools_call(id, params, call)
                        : error_reply(id, MCP_INVALID_PARAMS, "tools/call: params are required");
        if (answer == NULL)
            return MCP_CALL;
    } else {
        char shown[65];
        log_sanitize(shown, sizeof shown, m, json_string_length(method));
        answer = error_reply(id, MCP_METHOD_NOT_FOUND, "method '%s' not found", shown);
    }
    *reply = answer;
    return MCP_REPLY;
}

/* Batches are JSON-RPC's, kept by revisions up to 2025-03-26 and removed in
 * 2025-06-18. Clients of 2025-06-18 and later name their revision in the
 * MCP-Protocol-Version header; one that sends none is taken to speak
 * 2025-03-26, as the transport says. */
static bool batches_allowed(const char *version) {
    return version == NULL || strcmp(version, "2025-06-18") < 0; /* ISO dates sort as text */
}

/* The members in order: answers right away, tool calls as null slots that
 * mcp_batch_answer fills in. */
static enum mcp_outcome handle_batch(const json_t *msgs, json_t **reply, int *status,
                                     struct mcp_batch **out) {
    struct mcp_batch *b;
    const json_t *msg;
    size_t i, n = json_array_size(msgs);

    if (n == 0 || n > MCP_BATCH_MAX) {
        *status = 400;
        if (n == 0)
            *reply = error_reply(NULL, MCP_INVALID_REQUEST, "an empty batch is not a request");
        else
            *reply = error_reply(NULL, MCP_INVALID_REQUEST, "a batch holds at most %d messages",
                                 MCP_BATCH_MAX);
        return MCP_REPLY;
    }
    b = calloc(1, sizeof *b);
    if (b == NULL || (b->replies = json_array()) == NULL ||
        (b->calls = calloc(n, sizeof *b->calls)) == NULL ||
        (b->slots = calloc(n, sizeof *b->slots)) == NULL)
        goto oom;
    json_array_foreach(msgs, i, msg) {
        json_t *one = NULL;
        int ignored;
        switch (handle_message(msg, &one, &ignored, &b->calls[b->n_calls])) {
        case MCP_ACCEPTED:
            mcp_call_free(&b->calls[b->n_calls]); /* a cancel in a batch: ignored */
            break;
        case MCP_REPLY:
            mcp_call_free(&b->calls[b->n_calls]);
            if (one == NULL || json_array_append_new(b->replies, one) != 0)
                goto oom;
            break;
        case MCP_CALL:
            b->slots[b->n_calls++] = json_array_size(b->replies);
            if (json_array_append_new(b->replies, json_null()) != 0)
                goto oom;
            break;
        case MCP_BATCH:
            break; /* not from handle_message */
        }
    }
    *status = 200;
    if (b->n_calls > 0) {
        *out = b;
        return MCP_BATCH;
    }
    if (json_array_size(b->replies) == 0) {
        mcp_batch_free(b);
        return MCP_ACCEPTED; /* notifications only */
    }
    *reply = json_incref(b->replies);
    mcp_batch_free(b);
    return MCP_REPLY;
oom:
    mcp_batch_free(b);
    *status = 500;
    *reply = error_reply(NULL, MCP_INTERNAL_ERROR, "out of memory");
    return MCP_REPLY;
}

struct mcp_call *mcp_batch_next(struct mcp_batch *b) {
    return b->next < b->n_calls ? &b->calls[b->next] : NULL;
}

void mcp_batch_answer(struct mcp_batch *b, json_t *reply) {
    if (b->next < b->n_calls) {
        json_array_set_new(
            b->replies, b->slots[b->next],
            reply ? reply : error_reply(b->calls[b->next].id, MCP_INTERNAL_ERROR, "no answer"));
        b->next++;
    } else {
        json_decref(reply);
    }
}

json_t *mcp_batch_reply(const struct mcp_batch *b) {
    return json_incref(b->replies);
}

void mcp_batch_free(struct mcp_batch *b) {
    if (b == NULL)
        return;
    for (size_t i = 0; b->calls != NULL && i < b->n_calls; i++)
        mcp_call_free(&b->calls[i]);
    free(b->calls);
    free(b->slots);
    json_decref(b->replies);
    free(b);
}

enum mcp_outcome mcp_handle(const char *body, size_t len, const char *version, json_t **reply,
                            int *status, struct mcp_call *call, struct mcp_batch **batch) {
    json_error_t jerr;
    json_t *msg;
    enum mcp_outcome out;
    size_t bad;

    *reply = NULL;
    *status = 200;
    *batch = NULL;
    memset(call, 0, sizeof *call);
    if (version != NULL && !mcp_version_supported(version)) {
        char shown[65];
        log_sanitize(shown, sizeof shown, version, strlen(version));
        *status = 400;
        *reply =
            error_reply(NULL, MCP_INVALID_REQUEST,
                        "unsupported MCP-Protocol-Version '%s' (supported: %s, %s, %s, %s, %s)",
                        shown, versions[0], versions[1], versions[2], versions[3], versions[4]);
        return MCP_REPLY;
    }
    if (!utf8_valid(body, len, &bad)) {
        *status = 400;
        *reply =
            error_reply(NULL, MCP_PARSE_ERROR, "body is not valid UTF-8 (byte offset %zu)", bad);
        return MCP_REPLY;
    }
    msg = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
    if (msg == NULL) {
        *status = 400;
        *reply =
            error_reply(NULL, MCP_PARSE_ERROR, "body is not valid JSON: %s (line %d, column %d)",
                        jerr.text, jerr.line, jerr.column);
        return MCP_REPLY;
    }
    if (json_is_array(msg) && !batches_allowed(version)) {
        *status = 400;
        *reply = error_reply(NULL, MCP_INVALID_REQUEST,
                             "JSON-RPC batches were removed in protocol revision 2025-06-18: "
                             "send one message per request");
        out = MCP_REPLY;
    } else if (json_is_array(msg)) {
        out = handle_batch(msg, reply, status, batch);
    } else {
        out = handle_message(msg, reply, status, call);
        if (out != MCP_REPLY)
            *status = 200;
    }
    json_decref(msg);
    return out;
}

/* ---- tool answers ------------------------------------------------------------ */

struct text {
    char *s;
    size_t len, cap;
    bool failed;
};

static void put(struct text *t, const char *s, size_t n) {
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 1024;
        char *p;
        while (cap < t->len + n + 1)
            cap *= 2;
        p = realloc(t->s, cap);
        if (p == NULL) {
            t->failed = true;
            return;
        }
        t->s = p;
        t->cap = cap;
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

static void puts_(struct text *t, const char *s) {
    put(t, s, strlen(s));
}

/* At most TEXT_PART_MAX bytes of s, cut on a character boundary. */
static void put_part(struct text *t, const char *label, const char *s, size_t n) {
    char note[96];
    size_t shown = n;
    if (n == 0)
        return;
    if (shown > TEXT_PART_MAX) {
        shown = TEXT_PART_MAX;
        while (shown > 0 && ((unsigned char)s[shown] & 0xC0) == 0x80)
            shown--;
    }
    if (label)
        puts_(t, label);
    put(t, s, shown);
    if (shown < n) {
        snprintf(note, sizeof note, "\n[... %zu more bytes in structuredContent]", n - shown);
        puts_(t, note);
    }
    if (shown > 0 && s[shown - 1] != '\n')
        puts_(t, "\n");
}

static void put_json(struct text *t, const char *label, const json_t *v) {
    char *dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (dump == NULL) {
        t->failed = true;
        return;
    }
    put_part(t, label, dump, strlen(dump));
    free(dump);
}

static void put_str_field(struct text *t, const char *label, const json_t *obj, const char *key) {
    const json_t *v = json_object_get(obj, key);
    if (json_is_string(v))
        put_part(t, label, json_string_value(v), json_string_length(v));
}

/* Like Python prints it: frames outermost first, then "Type: message". */
static void put_error(struct text *t, const json_t *error) {
    const json_t *tb = json_object_get(error, "traceback"), *frame;
    const json_t *type = json_object_get(error, "type"),
                 *message = json_object_get(error, "message");
    char line[96];
    size_t i;

    if (json_array_size(tb) > 0)
        puts_(t, "Traceback (most recent call last):\n");
    json_array_foreach(tb, i, frame) {
        const json_t *fn = json_object_get(frame, "function"),
                     *src = json_object_get(frame, "source");
        const json_t *ln = json_object_get(frame, "line"),
                     *omitted = json_object_get(frame, "omitted");
        if (json_is_integer(omitted)) {
            snprintf(line, sizeof line, "  [... %lld frames omitted]\n",
                     (long long)json_integer_value(omitted));
            puts_(t, line);
        }
        if (json_is_integer(ln))
            snprintf(line, sizeof line, "  line %lld, in ", (long long)json_integer_value(ln));
        else
            snprintf(line, sizeof line, "  in ");
        puts_(t, line);
        puts_(t, json_is_string(fn) ? json_string_value(fn) : "?");
        puts_(t, "\n");
        if (json_is_string(src)) { /* dedented, as Python prints it */
            const char *code = json_string_value(src);
            size_t n = json_string_length(src);
            while (n > 0 && (*code == ' ' || *code == '\t')) {
                code++;
                n--;
            }
            puts_(t, "    ");
            put_part(t, NULL, code, n);
        }
    }
    if (json_array_size(tb) == 0 && json_is_integer(json_object_get(error, "line"))) {
        snprintf(line, sizeof line,
                 "line %lld: ", (long long)json_integer_value(json_object_get(error, "line")));
        puts_(t, line);
    }
    puts_(t, json_is_string(type) ? json_string_value(type) : "Error");
    if (json_is_string(message) && json_string_length(message) > 0) {
        puts_(t, ": ");
        put_part(t, NULL, json_string_value(message), json_string_length(message));
    } else {
        puts_(t, "\n");
    }
}

static void render_run(struct text *t, const json_t *r) {
    put_str_field(t, NULL, r, "stdout");
    put_str_field(t, "stderr:\n", r, "stderr");
    if (json_is_true(json_object_get(r, "ok"))) {
        const json_t *value = json_object_get(r, "result");
        if (value != NULL && !json_is_null(value)) /* like a REPL, None says nothing */
            put_json(t, "result: ", value);
        if (t->len == 0)
            puts_(t, "(no output, result None)\n");
    } else
        put_error(t, json_object_get(r, "error"));
}

/* The REST answer prints timing to the microsecond: the same numbers. */
static double ms3(double ms) {
    return (double)(long long)(ms * 1000 + 0.5) / 1000;
}

json_t *mcp_call_reply(const struct mcp_call *call, const json_t *result,
                       const struct api_error *err, bool timed, double queue_ms, double run_ms) {
    struct text t = {0};
    json_t *structured, *answer;
    bool is_error = false;
    char line[160];

    if (result == NULL)
        return tool_failure(call->id, err);
    structured = json_copy((json_t *)result); /* shallow: only the top level is added to */
    if (structured == NULL)
        return error_reply(call->id, MCP_INTERNAL_ERROR, "out of memory");
    if (timed)
        json_object_set_new(
            structured, "timing",
            json_pack("{s:f, s:f}", "queue_ms", ms3(queue_ms), "run_ms", ms3(run_ms)));
    switch (call->tool) {
    case MCP_RUN_PYTHON:
    case MCP_SESSION_RUN:
        is_error = !json_is_true(json_object_get(result, "ok"));
        render_run(&t, result);
        break;
    case MCP_SESSION_START: {
        const json_t *sid = json_object_get(result, "id");
        snprintf(line, sizeof line, "session %s started; it ends after %lld ms idle\n",
                 json_is_string(sid) ? json_string_value(sid) : "?",
                 (long long)json_integer_value(json_object_get(result, "idle_ttl_ms")));
        puts_(&t, line);
        put_json(&t, "scope: ", json_object_get(result, "scope"));
        break;
    }
    case MCP_SESSION_FORK: {
        const json_t *sid = json_object_get(result, "id");
        snprintf(line, sizeof line, "session %s forked from %s\n",
                 json_is_string(sid) ? json_string_value(sid) : "?", call->session);
        puts_(&t, line);
        break;
    }
    case MCP_SESSION_LIST: {
        const json_t *list = json_object_get(result, "sessions"), *one;
        const json_t *next = json_object_get(result, "next");
        size_t i;
        snprintf(line, sizeof line, "%zu sessions%s\n", json_array_size(list),
                 json_is_string(next) ? " (more: pass next as after)" : "");
        puts_(&t, line);
        json_array_foreach(list, i, one) {
            const json_t *sid = json_object_get(one, "id");
            snprintf(line, sizeof line, "%s  runs %lld\n",
                     json_is_string(sid) ? json_string_value(sid) : "?",
                     (long long)json_integer_value(json_object_get(one, "runs")));
            puts_(&t, line);
        }
        if (json_is_string(next)) {
            puts_(&t, "next: ");
            puts_(&t, json_string_value(next));
            puts_(&t, "\n");
        }
        break;
    }
    case MCP_SESSION_END:
        snprintf(line, sizeof line, "session %s ended\n", call->session);
        puts_(&t, line);
        break;
    }
    if (t.failed || t.s == NULL) {
        free(t.s);
        json_decref(structured);
        return error_reply(call->id, MCP_INTERNAL_ERROR, "out of memory");
    }
    answer = result_reply(call->id,
                          json_pack("{s:[{s:s, s:s}], s:o, s:b}", "content", "type", "text", "text",
                                    t.s, "structuredContent", structured, "isError", is_error));
    free(t.s);
    if (answer == NULL) /* the text was not UTF-8: cannot happen with a worker's strings */
        return error_reply(call->id, MCP_INTERNAL_ERROR, "cannot render the tool's answer");
    return answer;
}

void mcp_call_free(struct mcp_call *call) {
    json_decref(call->id);
    json_decref(call->progress_token);
    json_decref(call->cancel_id);
    request_free(&call->req);
    memset(call, 0, sizeof *call);
}

/* ---- cancellation by request id ------------------------------------------------ */

static const char hex_digits[] = "0123456789abcdef";

void mcp_session_id_new(char out[MCP_SESSION_ID_MAX + 1]) {
    unsigned char raw[16];
    size_t got = 0;
    /* getrandom blocks only before the kernel's pool is seeded, long before
     * we run. */
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n > 0)
            got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof raw; i++) {
        out[2 * i] = hex_digits[raw[i] >> 4];
        out[2 * i + 1] = hex_digits[raw[i] & 15];
    }
    out[2 * sizeof raw] = '\0';
}

bool mcp_session_id_valid(const char *id) {
    size_t n = 0;
    if (id == NULL)
        return false;
    for (; id[n] != '\0'; n++)
        if ((unsigned char)id[n] < 0x21 || (unsigned char)id[n] > 0x7e || n >= MCP_SESSION_ID_MAX)
            return false;
    return n > 0;
}

void mcp_run_id(const char *session, const json_t *request_id, char out[RUN_ID_MAX + 1]) {
    struct sha256 h;
    uint8_t digest[SHA256_LEN];
    char *rid = json_dumps(request_id, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t i;

    sha256_init(&h);
    sha256_update(&h, session, strlen(session) + 1); /* with its NUL: no two pairs hash alike */
    if (rid != NULL)
        sha256_update(&h, rid, strlen(rid));
    free(rid);
    sha256_final(&h, digest);
    memcpy(out, "mcp-", 4);
    for (i = 0; i < 20; i++) {
        out[4 + 2 * i] = hex_digits[digest[i] >> 4];
        out[4 + 2 * i + 1] = hex_digits[digest[i] & 15];
    }
    out[4 + 2 * i] = '\0';
}

static bool is_run(const struct mcp_call *call) {
    return call->tool == MCP_RUN_PYTHON || call->tool == MCP_SESSION_RUN;
}

bool mcp_call_streams(const struct mcp_call *call) {
    return is_run(call) && call->progress_token != NULL;
}

bool mcp_call_name_run(struct mcp_call *call, const char *session) {
    char run_id[RUN_ID_MAX + 1];
    json_t *root = call->req.root;

    if (!is_run(call) || root == NULL || json_object_get(root, "run_id") != NULL)
        return true;
    mcp_run_id(session, call->id, run_id);
    if (json_object_set_new(root, "run_id", json_string(run_id)) != 0)
        return false;
    call->req.run_id = json_object_get(root, "run_id");
    return true;
}

/* ---- streamed output ------------------------------------------------------------ */

struct mcp_progress {
    json_t *token; /* a copy: only the dispatcher's thread touches it once made */
    json_int_t sent;
    void (*send)(void *arg, const char *msg, size_t len);
    void *arg;
};

struct mcp_progress *mcp_progress_new(const struct mcp_call *call,
                                      void (*send)(void *arg, const char *msg, size_t len),
                                      void *arg) {
    struct mcp_progress *p = calloc(1, sizeof *p);
    if (p == NULL || call->progress_token == NULL ||
        (p->token = json_deep_copy(call->progress_token)) == NULL) {
        free(p);
        return NULL;
    }
    p->send = send;
    p->arg = arg;
    return p;
}

void mcp_progress_output(void *arg, const char *stream, const char *text, size_t len) {
    struct mcp_progress *p = arg;
    json_t *note;
    char *data;

    /* A worker's output is UTF-8 (its runner decodes it): s% fails only
     * without memory, and then this piece is dropped; the result has it. */
    note = json_pack("{s:s, s:s, s:{s:O, s:I, s:s%, s:{s:s}}}", "jsonrpc", "2.0", "method",
                     "notifications/progress", "params", "progressToken", p->token, "progress",
                     p->sent + 1, "message", text, len, "_meta", "scopebox/stream", stream);
    data = note ? json_dumps(note, JSON_COMPACT) : NULL;
    json_decref(note);
    if (data != NULL) {
        p->sent++;
        p->send(p->arg, data, strlen(data));
    }
    free(data);
}

void mcp_progress_free(struct mcp_progress *p) {
    if (p == NULL)
        return;
    json_decref(p->token);
    free(p);
}
