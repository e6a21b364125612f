#define _GNU_SOURCE
#include "request.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "rawjson.h"
#include "runio.h"

/* Field names echoed back in messages come from the client: keep them short. */
#define NAME_ECHO_MAX 64

void api_error_vset(struct api_error *err, int status, enum api_code id, const char *fmt,
                    va_list ap) {
    err->status = status;
    err->id = id;
    err->code = api_codes[id].name;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
}

void api_error_of(struct api_error *err, enum api_code id, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    api_error_vset(err, api_codes[id].status, id, fmt, ap);
    va_end(ap);
}

void api_error_set(struct api_error *err, int status, const char *code, const char *fmt, ...) {
    enum api_code id = API_INTERNAL;
    va_list ap;
    /* Every caller names a code of errors.h: an unknown one is a bug. */
    if (!api_code_parse(code, &id))
        assert(!"an error code errors.h does not list");
    va_start(ap, fmt);
    api_error_vset(err, status, id, fmt, ap);
    va_end(ap);
}

json_t *api_error_json(const struct api_error *err) {
    /* The message may have been truncated by vsnprintf mid-sequence; the
     * sanitizer drops a broken tail so that json_string accepts it. */
    char msg[sizeof err->message];
    log_sanitize(msg, sizeof msg, err->message, strlen(err->message));
    return json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code", err->code, "message", msg);
}

const char *run_mode_name(enum run_mode mode) {
    return mode == RUN_EVAL ? "eval" : "exec";
}

bool utf8_valid(const char *s, size_t len, size_t *bad_offset) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t n, k;
        unsigned long cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            n = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            cp = c & 0x07;
        } else
            goto bad; /* continuation byte, C0/C1 overlong lead, F5..FF */
        if (i + n > len)
            goto bad;
        for (k = 1; k < n; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                goto bad;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            goto bad;
        i += n;
    }
    return true;
bad:
    if (bad_offset)
        *bad_offset = i;
    return false;
}

/* ---- Content-Type ------------------------------------------------------ */

static const char *skip_ws(const char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Case-insensitive comparison of [s, s+n) with a literal, ignoring trailing
 * whitespace in s. */
static bool token_is(const char *s, size_t n, const char *lit) {
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return n == strlen(lit) && strncasecmp(s, lit, n) == 0;
}

/* The contract (openapi.yaml) takes application/json bodies only:
 *  - application/json, with an optional UTF-8 charset: the real thing;
 *  - no Content-Type at all: a bare client that did not label its body
 *    (HTTP lets the server decide); it is parsed as JSON;
 *  - anything else, application/x-www-form-urlencoded (what `curl -d`
 *    sends unless told otherwise) included, is a client that meant
 *    something we do not do: 415, rather than quietly reading a form as
 *    JSON or a confusing invalid_json. */
bool request_check_media_type(const char *ct, struct api_error *err) {
    const char *semi, *p;
    char shown[NAME_ECHO_MAX + 1];

    if (ct == NULL)
        return true;
    ct = skip_ws(ct);
    if (*ct == '\0')
        return true;
    semi = strchr(ct, ';');
    size_t n = semi ? (size_t)(semi - ct) : strlen(ct);
    if (!token_is(ct, n, "application/json")) {
        log_sanitize(shown, sizeof shown, ct, n);
        api_error_of(err, API_UNSUPPORTED_MEDIA,
                     "Content-Type '%s' is not supported: send application/json", shown);
        return false;
    }
    for (p = semi; p != NULL; p = strchr(p + 1, ';')) {
        const char *name = skip_ws(p + 1), *eq = strchr(name, '='), *end;
        const char *value;
        size_t vlen;
        if (eq == NULL)
            continue;
        end = strchr(name, ';');
        if (end != NULL && end < eq)
            continue;
        if (!token_is(name, (size_t)(eq - name), "charset"))
            continue;
        value = skip_ws(eq + 1);
        vlen = end ? (size_t)(end - value) : strlen(value);
        while (vlen > 0 && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
            vlen--;
        if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
            value++;
            vlen -= 2;
        }
        if (!token_is(value, vlen, "utf-8") && !token_is(value, vlen, "utf8")) {
            log_sanitize(shown, sizeof shown, value, vlen);
            api_error_of(err, API_UNSUPPORTED_MEDIA,
                         "Content-Type charset '%s' is not supported: send UTF-8", shown);
            return false;
        }
    }
    return true;
}

bool request_check_size(unsigned long long len, size_t max, struct api_error *err) {
    if (len <= max)
        return true;
    api_error_of(err, API_BODY_TOO_LARGE, "request body is larger than the limit of %zu bytes",
                 max);
    return false;
}

/* ---- POST /v1/run ------------------------------------------------------ */

/* Each accepted field is one row: a JSON kind, the request kinds that
 * accept it and those that require it, and a check that also stores it.
 * New fields are new rows. */
enum field_kind { KIND_STRING, KIND_OBJECT, KIND_BOOL, KIND_INTEGER, KIND_ARRAY, KIND_ANY };

#define IN(kind) (1u << (kind))
#define RUNS (IN(REQ_RUN) | IN(REQ_SESSION_RUN))

struct field {
    const char *name;
    enum field_kind kind;
    unsigned accepted; /* IN(...) of request kinds */
    unsigned required;
    bool (*store)(const struct field *f, const json_t *v, struct run_request *out,
                  struct api_error *err);
};

static const char *kind_name(enum field_kind kind) {
    switch (kind) {
    case KIND_STRING:
        return "a string";
    case KIND_OBJECT:
        return "an object";
    case KIND_BOOL:
        return "a boolean";
    case KIND_INTEGER:
        return "an integer";
    case KIND_ARRAY:
        return "an array";
    case KIND_ANY:
        return "a value";
    }
    return "?";
}

static bool kind_matches(enum field_kind kind, const json_t *v) {
    switch (kind) {
    case KIND_STRING:
        return json_is_string(v);
    case KIND_OBJECT:
        return json_is_object(v);
    case KIND_BOOL:
        return json_is_boolean(v);
    case KIND_INTEGER:
        return json_is_integer(v);
    case KIND_ARRAY:
        return json_is_array(v);
    case KIND_ANY:
        return true;
    }
    return false;
}

static bool store_code(const struct field *f, const json_t *v, struct run_request *out,
                       struct api_error *err) {
    size_t len = json_string_length(v);
    if (len == 0) {
        api_error_of(err, API_INVALID_VALUE, "field '%s' must not be empty", f->name);
        return false;
    }
    /* Parsed with JSON_ALLOW_NUL so that this case gets its own message
     * instead of a generic parse error. */
    if (memchr(json_string_value(v), '\0', len) != NULL) {
        api_error_of(err, API_INVALID_VALUE, "field '%s' must not contain NUL characters", f->name);
        return false;
    }
    out->code = v;
    return true;
}

static bool store_mode(const struct field *f, const json_t *v, struct run_request *out,
                       struct api_error *err) {
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 4 && memcmp(s, "exec", 4) == 0)
        out->mode = RUN_EXEC;
    else if (len == 4 && memcmp(s, "eval", 4) == 0)
        out->mode = RUN_EVAL;
    else {
        api_error_of(err, API_INVALID_VALUE, "field '%s' must be \"exec\" or \"eval\"", f->name);
        return false;
    }
    return true;
}

/* Names and values inside are Python's business: the worker checks them
 * (identifiers, tagged values) and answers `rejected` when they are wrong. */
static bool store_scope(const struct field *f, const json_t *v, struct run_request *out,
                        struct api_error *err) {
    (void)f;
    (void)err;
    out->scope = v;
    return true;
}

static bool store_dynamic(const struct field *f, const json_t *v, struct run_request *out,
                          struct api_error *err) {
    (void)f;
    (void)err;
    out->dynamic = v;
    return true;
}

#define RETURN_NAMES_MAX 1000

static bool store_return(const struct field *f, const json_t *v, struct run_request *out,
                         struct api_error *err) {
    size_t i;
    const json_t *item;

    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "data") != 0 && strcmp(s, "all") != 0) {
            api_error_of(err, API_INVALID_VALUE,
                         "field '%s' must be \"data\", \"all\" or a list of names", f->name);
            return false;
        }
    } else if (json_is_array(v)) {
        if (json_array_size(v) > RETURN_NAMES_MAX) {
            api_error_of(err, API_INVALID_VALUE, "field '%s' lists more than %d names", f->name,
                         RETURN_NAMES_MAX);
            return false;
        }
        json_array_foreach(v, i, item) {
            if (!json_is_string(item)) {
                api_error_of(err, API_INVALID_TYPE,
                             "field '%s' must list names as strings (item %zu is not)", f->name, i);
                return false;
            }
        }
    } else {
        api_error_of(err, API_INVALID_TYPE,
                     "field '%s' must be \"data\", \"all\" or a list of names", f->name);
        return false;
    }
    out->ret = v;
    return true;
}

static bool store_timeout(const struct field *f, const json_t *v, struct run_request *out,
                          struct api_error *err) {
    json_int_t ms = json_integer_value(v);
    if (ms < 1) {
        api_error_of(err, API_INVALID_VALUE, "field '%s' must be at least 1 (milliseconds)",
                     f->name);
        return false;
    }
    /* The server caps it to its maximum; anything above fits that cap. */
    out->timeout_ms = ms > 0x7fffffff ? 0x7fffffff : (unsigned)ms;
    return true;
}

/* Per-run limits (issue 15, section 7): the server caps both to its own;
 * anything larger only says "as much as allowed". */
static bool store_memory(const struct field *f, const json_t *v, struct run_request *out,
                         struct api_error *err) {
    json_int_t mb = json_integer_value(v);
    if (mb < 1) {
        api_error_of(err, API_INVALID_VALUE, "field '%s' must be at least 1 (MiB)", f->name);
        return false;
    }
    out->memory_mb = mb > 0x7fffffff ? 0x7fffffff : (unsigned)mb;
    return true;
}

static bool store_output_cap(const struct field *f, const json_t *v, struct run_request *out,
                             struct api_error *err) {
    json_int_t n = json_integer_value(v);
    if (n < 0) {
        api_error_of(err, API_INVALID_VALUE, "field '%s' must be at least 0 (bytes)", f->name);
        return false;
    }
    out->output_cap = n > 0x7fffffff ? 0x7fffffff : (long long)n;
    return true;
}

bool session_id_valid(const char *id, size_t len) {
    static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
    if (len == 0 || len > SESSION_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (id[i] == '\0' || strchr(ok, id[i]) == NULL)
            return false;
    return true;
}

/* A well-typed id that cannot exist is the same as an unknown one: 404. */
static bool store_session(const struct field *f, const json_t *v, struct run_request *out,
                          struct api_error *err) {
    char shown[NAME_ECHO_MAX + 1];
    (void)f;
    if (!session_id_valid(json_string_value(v), json_string_length(v))) {
        log_sanitize(shown, sizeof shown, json_string_value(v), json_string_length(v));
        api_error_of(err, API_SESSION_NOT_FOUND, "no session '%s'", shown);
        return false;
    }
    out->session = v;
    return true;
}

/* An exported session image (GET /v1/sessions/{id}/export): checked by the
 * pool, which knows the key. */
static bool store_image(const struct field *f, const json_t *v, struct run_request *out,
                        struct api_error *err) {
    if (json_string_length(v) == 0) {
        api_error_of(err, API_INVALID_VALUE, "field '%s' must not be empty", f->name);
        return false;
    }
    out->image = v;
    return true;
}

bool run_id_valid(const char *id, size_t len) {
    return session_id_valid(id, len);
}

/* The client names its run so that it can cancel it before the answer (or
 * the first streamed event) tells it the server's id. */
static bool store_run_id(const struct field *f, const json_t *v, struct run_request *out,
                         struct api_error *err) {
    if (!run_id_valid(json_string_value(v), json_string_length(v))) {
        api_error_of(err, API_INVALID_VALUE, "field '%s' must be 1 to %d of A-Z a-z 0-9 _ -",
                     f->name, RUN_ID_MAX);
        return false;
    }
    out->run_id = v;
    return true;
}

/* A run's input and output (runio.c has the bounds and the path rules). */
static bool store_stdin(const struct field *f, const json_t *v, struct run_request *out,
                        struct api_error *err) {
    (void)f;
    if (!runio_check_stdin(v, err))
        return false;
    out->stdin_text = v;
    return true;
}

static bool store_files(const struct field *f, const json_t *v, struct run_request *out,
                        struct api_error *err) {
    (void)f;
    if (!runio_check_files(v, err))
        return false;
    out->files = v;
    return true;
}

static bool store_collect(const struct field *f, const json_t *v, struct run_request *out,
                          struct api_error *err) {
    (void)f;
    if (!runio_check_collect(v, err))
        return false;
    out->collect = v;
    return true;
}

static const struct field fields[] = {
    {"code", KIND_STRING, RUNS, RUNS, store_code},
    {"mode", KIND_STRING, RUNS, 0, store_mode},                            /* default: exec */
    {"scope", KIND_OBJECT, RUNS | IN(REQ_SESSION_CREATE), 0, store_scope}, /* default: {} */
    {"dynamic", KIND_OBJECT, RUNS, 0, store_dynamic},                      /* default: {} */
    {"return", KIND_ANY, RUNS, 0, store_return},                           /* default: "data" */
    {"timeout_ms", KIND_INTEGER, RUNS, 0, store_timeout},
    {"session", KIND_STRING, IN(REQ_RUN), 0, store_session},
    {"image", KIND_STRING, IN(REQ_SESSION_CREATE), 0, store_image},
    {"run_id", KIND_STRING, RUNS, 0, store_run_id}, /* default: one the server makes */
    {"memory_mb", KIND_INTEGER, RUNS, 0, store_memory},
    {"output_cap_bytes", KIND_INTEGER, RUNS, 0, store_output_cap},
    {"stdin", KIND_STRING, RUNS, 0, store_stdin},    /* default: empty */
    {"files", KIND_ARRAY, RUNS, 0, store_files},     /* default: none */
    {"collect", KIND_ARRAY, RUNS, 0, store_collect}, /* default: none */
};

#define N_FIELDS (sizeof fields / sizeof fields[0])

static const struct field *find_field(enum request_kind kind, const char *name, size_t len) {
    for (size_t i = 0; i < N_FIELDS; i++)
        if ((fields[i].accepted & IN(kind)) && strlen(fields[i].name) == len &&
            memcmp(fields[i].name, name, len) == 0)
            return &fields[i];
    return NULL;
}

static bool set_default(json_t *root, const char *name, json_t *value, const json_t **slot,
                        struct api_error *err) {
    if (value == NULL || json_object_set_new(root, name, value) != 0) {
        api_error_of(err, API_INTERNAL, "out of memory");
        return false;
    }
    *slot = value;
    return true;
}

/* Unknown keys (in body order), then each known field in table order. */
static bool check_fields(enum request_kind kind, struct run_request *out, struct api_error *err) {
    const char *key;
    json_t *value;

    json_object_foreach(out->root, key, value) {
        /* Keys can hold NUL (escaped) and be long: echo a safe prefix. */
        size_t klen = strlen(key);
        char shown[NAME_ECHO_MAX + 1];
        if (find_field(kind, key, klen) != NULL)
            continue;
        log_sanitize(shown, sizeof shown, key, klen);
        api_error_of(err, API_UNKNOWN_FIELD, "unknown field '%s'", shown);
        return false;
    }
    for (size_t i = 0; i < N_FIELDS; i++) {
        const struct field *f = &fields[i];
        const json_t *v;
        if (!(f->accepted & IN(kind)))
            continue;
        v = json_object_get(out->root, f->name);
        if (v == NULL) {
            if (f->required & IN(kind)) {
                api_error_of(err, API_MISSING_FIELD, "field '%s' is required", f->name);
                return false;
            }
            continue;
        }
        if (!kind_matches(f->kind, v)) {
            api_error_of(err, API_INVALID_TYPE, "field '%s' must be %s", f->name,
                         kind_name(f->kind));
            return false;
        }
        if (!f->store(f, v, out, err))
            return false;
    }
    return true;
}

/* The checks across fields, and the defaults of those left out. */
static bool finish(enum request_kind kind, struct run_request *out, struct api_error *err) {
    if (out->image != NULL && out->scope != NULL) {
        api_error_of(err, API_INVALID_REQUEST,
                     "a session starts from 'scope' or from an exported 'image', not both");
        return false;
    }
    if (out->scope == NULL && !set_default(out->root, "scope", json_object(), &out->scope, err))
        return false;
    if (kind != REQ_SESSION_CREATE) {
        if (out->dynamic == NULL &&
            !set_default(out->root, "dynamic", json_object(), &out->dynamic, err))
            return false;
        if (out->ret == NULL &&
            !set_default(out->root, "return", json_string("data"), &out->ret, err))
            return false;
    }
    return true;
}

/* Checks, in a fixed order so that one body always yields the same error:
 * size is the caller's; then encoding, syntax, top-level shape, unknown keys
 * (in body order), then each known field in table order. */
bool request_parse(enum request_kind kind, const char *body, size_t len, struct run_request *out,
                   struct api_error *err) {
    json_error_t jerr;
    size_t bad;

    memset(out, 0, sizeof *out);
    out->mode = RUN_EXEC;
    out->output_cap = -1;

    if (len == 0 && kind == REQ_SESSION_CREATE) {
        body = "{}"; /* a session needs nothing to start */
        len = 2;
    }
    if (len == 0) {
        api_error_of(err, API_INVALID_JSON, "request body is empty: expected a JSON object");
        return false;
    }
    if (!utf8_valid(body, len, &bad)) {
        api_error_of(err, API_INVALID_ENCODING, "request body is not valid UTF-8 (byte offset %zu)",
                     bad);
        return false;
    }
    /* DECODE_ANY: a valid non-object body ("1", "null") is a shape error
     * (invalid_request), not a syntax error. */
    out->root =
        json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
    if (out->root == NULL) {
        if (json_error_code(&jerr) == json_error_invalid_utf8) /* belt and braces */
            api_error_of(err, API_INVALID_ENCODING,
                         "request body is not valid UTF-8 (byte offset %d)", jerr.position);
        else if (json_error_code(&jerr) == json_error_numeric_overflow)
            api_error_of(err, API_INVALID_VALUE,
                         "the number at line %d, column %d is too large; integers beyond 64 "
                         "bits are sent as {\"$type\": \"int\", \"value\": \"<digits>\"}",
                         jerr.line, jerr.column);
        else
            api_error_of(err, API_INVALID_JSON,
                         "request body is not valid JSON: %s (line %d, column %d)", jerr.text,
                         jerr.line, jerr.column);
        return false;
    }
    if (!json_is_object(out->root)) {
        api_error_of(err, API_INVALID_REQUEST, "request body must be a JSON object");
        goto fail;
    }
    if (!check_fields(kind, out, err) || !finish(kind, out, err))
        goto fail;
    return true;
fail:
    request_free(out);
    return false;
}

/* ---- a body kept by its caller ---------------------------------------------
 * A large run body's big members (a scope of 100 KB) need no tree when the
 * worker frame is spliced from the body: what validation asks of them is
 * only valid JSON, an object, and no key twice in any object, all of which
 * the bytes can show. The fast path takes a body only when it is sure of
 * every check; on any doubt or error it leaves the body to request_parse,
 * so every answer, error or not, is request_parse's. */

/* Members of at least this size are not parsed (smaller: a jansson parse
 * costs about what the scans do). */
#define STAND_IN_MIN 1024

static bool parse_kept_fast(const char *body, size_t len, struct run_request *out,
                            struct api_error *err) {
    const char *names[N_FIELDS];
    struct rawjson_member m[N_FIELDS];

    for (size_t i = 0; i < N_FIELDS; i++)
        names[i] = fields[i].name;
    /* rawjson_valid: jansson would parse it (UTF-8 included); and then
     * every member is a known field, seen once. */
    if (!rawjson_valid(body, len) || !rawjson_pick(body, len, names, N_FIELDS, false, m))
        return false;
    for (size_t i = 0; i < N_FIELDS; i++)
        /* Another kind's field is request_parse's to refuse; a session's
         * run is framed from the tree. */
        if (m[i].value != NULL &&
            (!(fields[i].accepted & IN(REQ_RUN)) || fields[i].store == store_session))
            return false;
    out->root = json_object();
    if (out->root == NULL)
        return false;
    for (size_t i = 0; i < N_FIELDS; i++) {
        bool object = fields[i].kind == KIND_OBJECT;
        json_t *v;
        if (m[i].value == NULL)
            continue;
        if (object && m[i].value_len >= STAND_IN_MIN && m[i].value[0] == '{') {
            /* An object jansson would take: a stand-in, the bytes are the value. */
            if (!rawjson_unique_keys(m[i].value, m[i].value_len))
                return false;
            v = json_object();
            out->stand_ins = true;
        } else {
            v = json_loadb(m[i].value, m[i].value_len,
                           JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL);
        }
        if (v == NULL || json_object_set_new(out->root, fields[i].name, v) != 0)
            return false;
    }
    return check_fields(REQ_RUN, out, err) && finish(REQ_RUN, out, err);
}

bool request_parse_kept(const char *body, size_t len, struct run_request *out,
                        struct api_error *err) {
    struct api_error ignored;
    if (len >= STAND_IN_MIN) {
        memset(out, 0, sizeof *out);
        out->mode = RUN_EXEC;
        out->output_cap = -1;
        if (parse_kept_fast(body, len, out, &ignored)) {
            out->body = body;
            out->body_len = len;
            return true;
        }
        request_free(out);
    }
    if (!request_parse(REQ_RUN, body, len, out, err))
        return false;
    out->body = body;
    out->body_len = len;
    return true;
}

bool request_parse_run(const char *body, size_t len, struct run_request *out,
                       struct api_error *err) {
    return request_parse(REQ_RUN, body, len, out, err);
}

void request_free(struct run_request *req) {
    json_decref(req->root);
    memset(req, 0, sizeof *req);
}
