/* libFuzzer target: the server's parsing and validation of client bodies
 * (server/request.c). The first byte picks the request kind; the rest is the
 * body, exactly as it would arrive over HTTP. Checks, beyond "no crash, no
 * leak, no undefined behaviour" (ASan/UBSan):
 *   - an accepted body has the fields the pool relies on, well typed;
 *   - a rejected one has a status, a code and a NUL-terminated message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "request.h"

/* request_parse_kept's answer is request_parse's: accepted alike, refused
 * with the same code and message. */
static void same_as_kept(const char *body, size_t len) {
    struct run_request a, b;
    struct api_error ea, eb;
    bool oka = request_parse(REQ_RUN, body, len, &a, &ea);
    bool okb = request_parse_kept(body, len, &b, &eb);
    if (oka != okb)
        abort();
    if (!oka && (ea.id != eb.id || strcmp(ea.message, eb.message) != 0))
        abort();
    if (oka && (a.mode != b.mode || a.timeout_ms != b.timeout_ms || !json_equal(a.code, b.code) ||
                (!b.stand_ins && !json_equal(a.root, b.root))))
        abort();
    if (oka) {
        request_free(&a);
        request_free(&b);
    }
}

/* libFuzzer's entry point; libFuzzer has no header that declares it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const enum request_kind kinds[] = {REQ_RUN, REQ_SESSION_RUN, REQ_SESSION_CREATE};
    struct run_request req;
    struct api_error err;
    enum request_kind kind;
    size_t bad;

    if (size == 0)
        return 0;
    kind = kinds[data[0] % 3];
    data++;
    size--;

    memset(&err, 0, sizeof err);
    if (request_parse(kind, (const char *)data, size, &req, &err)) {
        if (kind != REQ_SESSION_CREATE) {
            if (!json_is_string(req.code) || json_string_length(req.code) == 0)
                abort();
            if (memchr(json_string_value(req.code), 0, json_string_length(req.code)) != NULL)
                abort();
            if (!json_is_object(req.dynamic))
                abort();
            if (req.mode != RUN_EXEC && req.mode != RUN_EVAL)
                abort();
            if (run_mode_name(req.mode) == NULL)
                abort();
        }
        if (!json_is_object(req.scope))
            abort();
        /* What the pool does next: encode it for a worker. */
        char *dump = json_dumps(req.root, JSON_COMPACT);
        free(dump);
        request_free(&req);
    } else {
        if (err.status < 400 || err.status > 599 || err.code == NULL)
            abort();
        if (memchr(err.message, 0, sizeof err.message) == NULL)
            abort();
        json_t *j = api_error_json(&err);
        json_decref(j);
    }
    /* request_parse_kept answers as request_parse does, on the input and on
     * the input inside a scope large enough for its fast path. */
    if (kind == REQ_RUN) {
        static const char head[] = "{\"code\":\"x\",\"scope\":{\"v\":";
        static const char pad[] = ",\"pad\":\"";
        size_t cap = sizeof head + size + sizeof pad + 1100 + 8, n = 0;
        char *wrapped = malloc(cap);
        if (wrapped == NULL)
            return 0;
        memcpy(wrapped + n, head, sizeof head - 1), n += sizeof head - 1;
        memcpy(wrapped + n, data, size), n += size;
        memcpy(wrapped + n, pad, sizeof pad - 1), n += sizeof pad - 1;
        memset(wrapped + n, 'p', 1100), n += 1100;
        memcpy(wrapped + n, "\"}}", 3), n += 3;
        same_as_kept((const char *)data, size);
        same_as_kept(wrapped, n);
        free(wrapped);
    }
    /* The other pure helpers on the same bytes. */
    (void)utf8_valid((const char *)data, size, &bad);
    {
        char header[128];
        size_t n = size < sizeof header - 1 ? size : sizeof header - 1;
        memcpy(header, data, n);
        header[n] = '\0';
        (void)request_check_media_type(header, &err);
    }
    (void)session_id_valid((const char *)data, size);
    return 0;
}
