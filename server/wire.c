#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "log.h"
#include "rawjson.h"

#define N_OF(a) (sizeof(a) / sizeof(a)[0])

/* Keys the HTTP answer promises; a worker that leaves one out is broken. */
static const char *const result_keys[] = {"ok", "result", "stdout", "stderr", "error", "scope"};
static const char *const inspect_keys[] = {"scope", "definitions"};

/* Codes Python may reject a request with (a name, a tagged value, an image,
 * a file); only these pass through to the client. */
static const enum api_code rejected_codes[] = {
    API_INVALID_NAME,  API_INVALID_VALUE, API_INVALID_TYPE,   API_SESSION_INCOMPATIBLE,
    API_INVALID_IMAGE, API_INVALID_PATH,  API_FILES_TOO_LARGE};

/* The input and output fields are set only when the client sent them. */
static json_t *with_run_io_steal(json_t *msg, const struct run_request *req) {
    if (msg != NULL &&
        ((req->stdin_text && json_object_set(msg, "stdin", (json_t *)req->stdin_text)) ||
         (req->files && json_object_set(msg, "files", (json_t *)req->files)) ||
         (req->collect && json_object_set(msg, "collect", (json_t *)req->collect)))) {
        json_decref(msg);
        return NULL;
    }
    return msg;
}

json_t *wire_run_new(const struct run_request *req, const struct wire_run *run) {
    json_t *msg = with_run_io_steal(
        json_pack("{s:s, s:I, s:O, s:s, s:O, s:O, s:O, s:I, s:I}", "type", "run", "id",
                  (json_int_t)run->id, "code", (json_t *)req->code, "mode",
                  run_mode_name(req->mode), "scope", (json_t *)req->scope, "dynamic",
                  (json_t *)req->dynamic, "return", (json_t *)req->ret, "timeout_ms",
                  (json_int_t)run->timeout_ms, "output_cap", (json_int_t)run->output_cap),
        req);
    if (msg != NULL && run->memory_mb > 0)
        json_object_set_new(msg, "memory_mb", json_integer(run->memory_mb));
    if (msg != NULL && run->stream)
        json_object_set_new(msg, "stream", json_true());
    return msg;
}

/* The body's members the worker gets as they are; the others (limits, ids)
 * it gets from the host. */
enum { RAW_CODE, RAW_SCOPE, RAW_DYNAMIC, RAW_RETURN, RAW_STDIN, RAW_FILES, RAW_COLLECT, N_RAW };
static const char *const raw_names[N_RAW] = {"code",  "scope", "dynamic", "return",
                                             "stdin", "files", "collect"};

static void add_raw(struct rawjson_buf *b, const struct rawjson_member *m, int i,
                    const char *dflt) {
    rawjson_buf_add(b, ",\"", 2);
    rawjson_buf_str(b, raw_names[i]);
    rawjson_buf_add(b, "\":", 2);
    if (m[i].value != NULL)
        rawjson_buf_add(b, m[i].value, m[i].value_len);
    else
        rawjson_buf_str(b, dflt);
}

bool wire_run_frame(const struct run_request *req, const struct wire_run *run, uint8_t **out,
                    size_t *out_len) {
    struct rawjson_member m[N_RAW];
    struct rawjson_buf b = {0};
    size_t len, need = 256;
    char *data;

    *out = NULL;
    /* The body passed request_parse, so its members are exactly the known
     * fields, each once (no duplicates), and the scan sees them all; a key
     * written with escapes leaves the frame to jansson (wire_run_new). */
    if (req->body == NULL || !rawjson_pick(req->body, req->body_len, raw_names, N_RAW, true, m) ||
        m[RAW_CODE].value == NULL)
        return false;
    for (int i = 0; i < N_RAW; i++)
        need += m[i].value != NULL ? m[i].value_len + 16 : 0;
    rawjson_buf_reserve(&b, need);
    rawjson_buf_add(&b, "\0\0\0\0", FRAME_HEADER_SIZE);
    rawjson_buf_printf(&b, "{\"type\":\"run\",\"id\":%llu", (unsigned long long)run->id);
    add_raw(&b, m, RAW_CODE, NULL);
    rawjson_buf_printf(&b, ",\"mode\":\"%s\"", run_mode_name(req->mode));
    add_raw(&b, m, RAW_SCOPE, "{}");
    add_raw(&b, m, RAW_DYNAMIC, "{}");
    add_raw(&b, m, RAW_RETURN, "\"data\"");
    rawjson_buf_printf(&b, ",\"timeout_ms\":%u,\"output_cap\":%u", run->timeout_ms,
                       run->output_cap);
    for (int i = RAW_STDIN; i <= RAW_COLLECT; i++)
        if (m[i].value != NULL)
            add_raw(&b, m, i, NULL);
    if (run->memory_mb > 0)
        rawjson_buf_printf(&b, ",\"memory_mb\":%u", run->memory_mb);
    if (run->stream)
        rawjson_buf_str(&b, ",\"stream\":true");
    rawjson_buf_add(&b, "}", 1);
    data = rawjson_buf_take(&b, &len);
    if (data == NULL)
        return false;
    len -= FRAME_HEADER_SIZE;
    if (len > FRAME_MAX_PAYLOAD) {
        free(data);
        return false;
    }
    data[0] = (char)(len >> 24);
    data[1] = (char)(len >> 16);
    data[2] = (char)(len >> 8);
    data[3] = (char)len;
    *out = (uint8_t *)data;
    *out_len = FRAME_HEADER_SIZE + len;
    return true;
}

json_t *wire_inspect_new(uint64_t id, const json_t *scope, unsigned timeout_ms) {
    if (scope != NULL)
        return json_pack("{s:s, s:I, s:O, s:I}", "type", "inspect", "id", (json_int_t)id, "scope",
                         (json_t *)scope, "timeout_ms", (json_int_t)timeout_ms);
    return json_pack("{s:s, s:I, s:I}", "type", "inspect", "id", (json_int_t)id, "timeout_ms",
                     (json_int_t)timeout_ms);
}

size_t wire_cancel_frame(uint64_t id, uint8_t *out, size_t cap) {
    char payload[WIRE_CANCEL_FRAME_MAX];
    int n = snprintf(payload, sizeof payload, "{\"type\":\"cancel\",\"id\":%llu}",
                     (unsigned long long)id);
    if (n < 0 || (size_t)n >= sizeof payload || cap < 4 + (size_t)n)
        return 0;
    out[0] = (uint8_t)(n >> 24);
    out[1] = (uint8_t)(n >> 16);
    out[2] = (uint8_t)(n >> 8);
    out[3] = (uint8_t)n;
    memcpy(out + 4, payload, (size_t)n);
    return 4 + (size_t)n;
}

bool wire_answers(const json_t *msg, uint64_t id, char *why, size_t why_len) {
    const json_t *v = json_object_get(msg, "id");
    if (json_is_integer(v) && (uint64_t)json_integer_value(v) == id)
        return true;
    if (json_is_integer(v))
        snprintf(why, why_len, "answer for id %" JSON_INTEGER_FORMAT " while running id %llu",
                 json_integer_value(v), (unsigned long long)id);
    else
        snprintf(why, why_len, "answer without an integer \"id\"");
    return false;
}

static bool has_keys(const json_t *msg, const char *const *keys, size_t n, char *why,
                     size_t why_len) {
    for (size_t i = 0; i < n; i++) {
        if (json_object_get(msg, keys[i]) == NULL) {
            snprintf(why, why_len, "result without \"%s\"", keys[i]);
            return false;
        }
    }
    return true;
}

bool wire_check_result(const json_t *msg, char *why, size_t why_len) {
    if (!has_keys(msg, result_keys, N_OF(result_keys), why, why_len))
        return false;
    if (!json_is_boolean(json_object_get(msg, "ok"))) {
        snprintf(why, why_len, "result member \"ok\" is not a boolean");
        return false;
    }
    return true;
}

struct raw_result {
    unsigned n_type, n_id, n_ok, n_keys[N_OF(result_keys)];
    struct rawjson_member type, id, ok;
    bool escaped;
};

static bool count_member(void *arg, const struct rawjson_member *m) {
    struct raw_result *r = arg;
    if (memchr(m->key, '\\', m->key_len) != NULL) { /* jansson's key may be any of these */
        r->escaped = true;
        return false;
    }
    if (rawjson_key_is(m, "type"))
        r->n_type++, r->type = *m;
    else if (rawjson_key_is(m, "id"))
        r->n_id++, r->id = *m;
    if (rawjson_key_is(m, "ok"))
        r->n_ok++, r->ok = *m;
    for (size_t i = 0; i < N_OF(result_keys); i++)
        r->n_keys[i] += rawjson_key_is(m, result_keys[i]);
    return true;
}

static bool raw_is(const struct rawjson_member *m, const char *text) {
    return m->value_len == strlen(text) && memcmp(m->value, text, m->value_len) == 0;
}

bool wire_raw_result(const char *payload, size_t len, uint64_t id, bool *ok) {
    struct raw_result r = {0};
    uint64_t got = 0;

    /* The members first (memchr-fast, and any frame but a result stops
     * there), the whole validation last. */
    if (!rawjson_members(payload, len, count_member, &r) || r.escaped || r.n_type != 1 ||
        r.n_id != 1 || r.n_ok != 1 || !raw_is(&r.type, "\"result\""))
        return false;
    for (size_t i = 0; i < N_OF(result_keys); i++)
        if (r.n_keys[i] == 0)
            return false;
    /* A plain decimal of at most 18 digits (rawjson_valid: no sign issues). */
    if (r.id.value_len == 0 || r.id.value_len > 18)
        return false;
    for (size_t i = 0; i < r.id.value_len; i++) {
        if (r.id.value[i] < '0' || r.id.value[i] > '9')
            return false;
        got = got * 10 + (uint64_t)(r.id.value[i] - '0');
    }
    if (got != id)
        return false;
    if (raw_is(&r.ok, "true"))
        *ok = true;
    else if (raw_is(&r.ok, "false"))
        *ok = false;
    else
        return false;
    return rawjson_valid(payload, len);
}

bool wire_check_inspect(const json_t *msg, char *why, size_t why_len) {
    return has_keys(msg, inspect_keys, N_OF(inspect_keys), why, why_len);
}

bool wire_rejected(const json_t *msg, enum api_code *code, char *text, size_t text_len) {
    const json_t *e = json_object_get(msg, "error");
    const json_t *m = json_object_get(e, "message");
    bool known = false;
    if (!api_code_parse(json_string_value(json_object_get(e, "code")), code) || !json_is_string(m))
        return false;
    for (size_t i = 0; i < N_OF(rejected_codes); i++)
        known = known || rejected_codes[i] == *code;
    if (known)
        log_sanitize(text, text_len, json_string_value(m), json_string_length(m));
    return known;
}

bool wire_output(const json_t *msg, const char **stream, const char **text, size_t *len) {
    const char *s = json_string_value(json_object_get(msg, "stream"));
    const json_t *t = json_object_get(msg, "text");
    if (s == NULL || !json_is_string(t) || (strcmp(s, "stdout") != 0 && strcmp(s, "stderr") != 0))
        return false;
    *stream = s;
    *text = json_string_value(t);
    *len = json_string_length(t);
    return true;
}

json_t *wire_answer_steal(json_t *msg) {
    json_object_del(msg, "type");
    json_object_del(msg, "id");
    json_object_del(msg, "timing");
    return msg;
}

json_t *wire_stopped_steal(json_t *msg, enum api_code code, const char *stopped_by,
                           const char *text) {
    static const char *const where[] = {"line", "column", "source", "traceback"};
    static const char *const kept[] = {"stdout",    "stderr",         "output",      "files",
                                       "truncated", "scope",          "definitions", "changes",
                                       "dynamic",   "tasks_cancelled"};
    json_t *body = msg ? msg : json_object();
    json_t *said = json_object_get(body, "error");
    json_t *err = json_pack("{s:s, s:s, s:s}", "code", api_codes[code].name, "message", text,
                            "stopped_by", stopped_by);

    for (size_t i = 0; i < N_OF(where); i++) {
        json_t *v = json_is_object(said) ? json_object_get(said, where[i]) : NULL;
        json_object_set(err, where[i], v ? v : json_null());
    }
    wire_answer_steal(body);
    for (size_t i = 0; i < N_OF(kept); i++)
        if (json_object_get(body, kept[i]) == NULL)
            json_object_set_new(body, kept[i], json_null());
    json_object_set_new(body, "ok", json_false());
    json_object_set_new(body, "result", json_null());
    json_object_set_new(body, "error", err);
    return body;
}

json_t *wire_session_new(const char *session, const json_t *inspect, unsigned idle_ttl_ms,
                         unsigned runs) {
    return json_pack("{s:s, s:O, s:O, s:I, s:I}", "id", session, "scope",
                     json_object_get(inspect, "scope"), "definitions",
                     json_object_get(inspect, "definitions"), "idle_ttl_ms",
                     (json_int_t)idle_ttl_ms, "runs", (json_int_t)runs);
}

const char *wire_member(const json_t *msg, const char *key, char *buf, size_t len) {
    const json_t *v = json_object_get(msg, key);
    if (json_is_string(v))
        return log_sanitize(buf, len, json_string_value(v), json_string_length(v));
    if (json_is_number(v)) {
        snprintf(buf, len, "%.0f", json_number_value(v));
        return buf;
    }
    return "?";
}
