#define _GNU_SOURCE
#include "request.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"

/* Field names echoed back in messages come from the client: keep them short. */
#define NAME_ECHO_MAX 64

void api_error_set(struct api_error *err, int status, const char *code,
                   const char *fmt, ...) {
    va_list ap;
    err->status = status;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

json_t *api_error_json(const struct api_error *err) {
    /* The message may have been truncated by vsnprintf mid-sequence; the
     * sanitizer drops a broken tail so that json_string accepts it. */
    char msg[sizeof err->message];
    log_sanitize(msg, sizeof msg, err->message, strlen(err->message));
    return json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code", err->code,
                     "message", msg);
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
        if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; }
        else if ((c & 0xF0) == 0xE0) { n = 3; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; }
        else goto bad; /* continuation byte, C0/C1 overlong lead, F5..FF */
        if (i + n > len)
            goto bad;
        for (k = 1; k < n; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                goto bad;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
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

/* The body is JSON whatever the label, so the rule is about what a client
 * could reasonably have meant:
 *  - application/json: the real thing;
 *  - no Content-Type: a bare client that did not bother;
 *  - application/x-www-form-urlencoded: what `curl -d` sends by default, and
 *    the documented curl examples must work as written.
 * Anything else (text/plain, multipart/form-data, ...) is a client that meant
 * something we do not do: 415 rather than a confusing invalid_json. A charset
 * parameter, if any, must be UTF-8, since that is the only encoding parsed. */
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
    if (!token_is(ct, n, "application/json") &&
        !token_is(ct, n, "application/x-www-form-urlencoded")) {
        log_sanitize(shown, sizeof shown, ct, n);
        api_error_set(err, 415, ERR_UNSUPPORTED_MEDIA,
                      "Content-Type '%s' is not supported: send application/json",
                      shown);
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
            api_error_set(err, 415, ERR_UNSUPPORTED_MEDIA,
                          "Content-Type charset '%s' is not supported: send UTF-8",
                          shown);
            return false;
        }
    }
    return true;
}

bool request_check_size(unsigned long long len, size_t max, struct api_error *err) {
    if (len <= max)
        return true;
    api_error_set(err, 413, ERR_BODY_TOO_LARGE,
                  "request body is larger than the limit of %zu bytes", max);
    return false;
}

/* ---- POST /v1/run ------------------------------------------------------ */

/* Each accepted field is one row: a JSON kind, whether it must be present,
 * and a check that also stores it. New fields are new rows. */
enum field_kind { KIND_STRING, KIND_OBJECT, KIND_BOOL, KIND_INTEGER };

struct field {
    const char *name;
    enum field_kind kind;
    bool required;
    bool (*store)(const struct field *f, const json_t *v, struct run_request *out,
                  struct api_error *err);
};

static const char *kind_name(enum field_kind kind) {
    switch (kind) {
    case KIND_STRING: return "a string";
    case KIND_OBJECT: return "an object";
    case KIND_BOOL: return "a boolean";
    case KIND_INTEGER: return "an integer";
    }
    return "?";
}

static bool kind_matches(enum field_kind kind, const json_t *v) {
    switch (kind) {
    case KIND_STRING: return json_is_string(v);
    case KIND_OBJECT: return json_is_object(v);
    case KIND_BOOL: return json_is_boolean(v);
    case KIND_INTEGER: return json_is_integer(v);
    }
    return false;
}

static bool store_code(const struct field *f, const json_t *v, struct run_request *out,
                       struct api_error *err) {
    size_t len = json_string_length(v);
    if (len == 0) {
        api_error_set(err, 400, ERR_INVALID_VALUE, "field '%s' must not be empty", f->name);
        return false;
    }
    /* Parsed with JSON_ALLOW_NUL so that this case gets its own message
     * instead of a generic parse error. */
    if (memchr(json_string_value(v), '\0', len) != NULL) {
        api_error_set(err, 400, ERR_INVALID_VALUE,
                      "field '%s' must not contain NUL characters", f->name);
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
        api_error_set(err, 400, ERR_INVALID_VALUE,
                      "field '%s' must be \"exec\" or \"eval\"", f->name);
        return false;
    }
    return true;
}

static bool store_scope(const struct field *f, const json_t *v, struct run_request *out,
                        struct api_error *err) {
    (void)f;
    (void)err;
    out->scope = v;
    return true;
}

static const struct field run_fields[] = {
    {"code", KIND_STRING, true, store_code},
    {"mode", KIND_STRING, false, store_mode},   /* default: exec */
    {"scope", KIND_OBJECT, false, store_scope}, /* default: {} */
};

#define N_RUN_FIELDS (sizeof run_fields / sizeof run_fields[0])

static const struct field *find_field(const char *name, size_t len) {
    for (size_t i = 0; i < N_RUN_FIELDS; i++)
        if (strlen(run_fields[i].name) == len && memcmp(run_fields[i].name, name, len) == 0)
            return &run_fields[i];
    return NULL;
}

/* Checks, in a fixed order so that one body always yields the same error:
 * size is the caller's; then encoding, syntax, top-level shape, unknown keys
 * (in body order), then each known field in table order. */
bool request_parse_run(const char *body, size_t len, struct run_request *out,
                       struct api_error *err) {
    json_error_t jerr;
    size_t bad;
    const char *key;
    json_t *value;

    memset(out, 0, sizeof *out);
    out->mode = RUN_EXEC;

    if (len == 0) {
        api_error_set(err, 400, ERR_INVALID_JSON, "request body is empty: expected a JSON object");
        return false;
    }
    if (!utf8_valid(body, len, &bad)) {
        api_error_set(err, 400, ERR_INVALID_ENCODING,
                      "request body is not valid UTF-8 (byte offset %zu)", bad);
        return false;
    }
    /* DECODE_ANY: a valid non-object body ("1", "null") is a shape error
     * (invalid_request), not a syntax error. */
    out->root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY,
                           &jerr);
    if (out->root == NULL) {
        if (json_error_code(&jerr) == json_error_invalid_utf8) /* belt and braces */
            api_error_set(err, 400, ERR_INVALID_ENCODING,
                          "request body is not valid UTF-8 (byte offset %d)",
                          jerr.position);
        else
            api_error_set(err, 400, ERR_INVALID_JSON,
                          "request body is not valid JSON: %s (line %d, column %d)",
                          jerr.text, jerr.line, jerr.column);
        return false;
    }
    if (!json_is_object(out->root)) {
        api_error_set(err, 400, ERR_INVALID_REQUEST, "request body must be a JSON object");
        goto fail;
    }
    json_object_foreach(out->root, key, value) {
        /* Keys can hold NUL (escaped) and be long: echo a safe prefix. */
        size_t klen = strlen(key);
        char shown[NAME_ECHO_MAX + 1];
        if (find_field(key, klen) != NULL)
            continue;
        log_sanitize(shown, sizeof shown, key, klen);
        api_error_set(err, 400, ERR_UNKNOWN_FIELD, "unknown field '%s'", shown);
        goto fail;
    }
    for (size_t i = 0; i < N_RUN_FIELDS; i++) {
        const struct field *f = &run_fields[i];
        const json_t *v = json_object_get(out->root, f->name);
        if (v == NULL) {
            if (f->required) {
                api_error_set(err, 400, ERR_MISSING_FIELD, "field '%s' is required", f->name);
                goto fail;
            }
            continue;
        }
        if (!kind_matches(f->kind, v)) {
            api_error_set(err, 400, ERR_INVALID_TYPE, "field '%s' must be %s", f->name,
                          kind_name(f->kind));
            goto fail;
        }
        if (!f->store(f, v, out, err))
            goto fail;
    }
    if (out->scope == NULL) {
        json_t *empty = json_object();
        if (empty == NULL || json_object_set_new(out->root, "scope", empty) != 0) {
            api_error_set(err, 500, ERR_INTERNAL, "out of memory");
            goto fail;
        }
        out->scope = empty;
    }
    return true;
fail:
    request_free(out);
    return false;
}

void request_free(struct run_request *req) {
    json_decref(req->root);
    memset(req, 0, sizeof *req);
}
