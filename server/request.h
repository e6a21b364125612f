/* Validation of client requests, kept free of any HTTP library so that it can
 * be unit-tested and fuzzed on its own: bytes in, a validated request or an
 * API error out. */
#ifndef SCOPEBOX_REQUEST_H
#define SCOPEBOX_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Stable error codes: clients match on these, so they never change meaning. */
#define ERR_INVALID_JSON          "invalid_json"
#define ERR_INVALID_ENCODING      "invalid_encoding"
#define ERR_INVALID_REQUEST       "invalid_request"
#define ERR_MISSING_FIELD         "missing_field"
#define ERR_INVALID_TYPE          "invalid_type"
#define ERR_INVALID_VALUE         "invalid_value"
#define ERR_UNKNOWN_FIELD         "unknown_field"
#define ERR_INVALID_NAME          "invalid_name"
#define ERR_SESSION_NOT_FOUND     "session_not_found"
#define ERR_TOO_MANY_SESSIONS     "too_many_sessions"
#define ERR_BODY_TOO_LARGE        "body_too_large"
#define ERR_UNSUPPORTED_MEDIA     "unsupported_media_type"
#define ERR_NOT_FOUND             "not_found"
#define ERR_METHOD_NOT_ALLOWED    "method_not_allowed"
#define ERR_QUEUE_FULL            "queue_full"
#define ERR_QUEUE_TIMEOUT         "queue_timeout"
#define ERR_SHUTTING_DOWN         "shutting_down"
#define ERR_TIMEOUT               "timeout"
#define ERR_WORKER_CRASHED        "worker_crashed"
#define ERR_WORKER_PROTOCOL       "worker_protocol_error"
#define ERR_INTERNAL              "internal_error"
#define ERR_SESSION_INCOMPATIBLE  "session_incompatible"
#define ERR_INVALID_IMAGE         "invalid_image"
#define ERR_SESSION_CONFLICT      "session_conflict"
#define ERR_SESSION_BUSY          "session_busy"
#define ERR_UNAUTHORIZED          "unauthorized"
#define ERR_KEY_RUN_LIMIT         "key_run_limit"
#define ERR_KEY_SESSION_LIMIT     "key_session_limit"
#define ERR_CRASH_RATE_LIMITED    "crash_rate_limited"
/* A run's input and output fields (runio.h) */
#define ERR_STDIN_TOO_LARGE       "stdin_too_large"
#define ERR_TOO_MANY_FILES        "too_many_files"
#define ERR_FILES_TOO_LARGE       "files_too_large"
#define ERR_INVALID_PATH          "invalid_path"
#define ERR_INVALID_GLOB          "invalid_glob"

struct api_error {
    int status;          /* HTTP status to answer with */
    const char *code;    /* one of the ERR_* strings */
    char message[256];   /* for humans; names the offending field */
};

void api_error_set(struct api_error *err, int status, const char *code,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* {"ok": false, "error": {"code": ..., "message": ...}} */
json_t *api_error_json(const struct api_error *err);

enum run_mode { RUN_EXEC, RUN_EVAL };

const char *run_mode_name(enum run_mode mode);

/* Which body is being parsed: each accepts its own set of fields. */
enum request_kind {
    REQ_RUN,            /* POST /v1/run */
    REQ_SESSION_RUN,    /* POST /v1/sessions/{id}/run: no `session` field */
    REQ_SESSION_CREATE, /* POST /v1/sessions: `scope` or `image`; may be empty */
};

/* Session ids as the API documents them; longer or other characters can
 * never name a session. */
#define SESSION_ID_MAX 64
bool session_id_valid(const char *id, size_t len);

struct run_request {
    json_t *root;          /* the parsed body; owns what the fields point to */
    const json_t *code;    /* string, non-empty, without NUL (runs only) */
    const json_t *scope;   /* object */
    const json_t *dynamic; /* object */
    const json_t *ret;     /* "data", "all" or an array of strings */
    const json_t *session; /* string, or NULL */
    const json_t *image;   /* session creation: an exported image (base64), or NULL */
    const json_t *stdin_text; /* string within STDIN_MAX_BYTES, or NULL */
    const json_t *files;   /* array of checked {path, text|base64}, or NULL */
    const json_t *collect; /* array of checked glob patterns, or NULL */
    unsigned timeout_ms;   /* 0: the server's default */
    enum run_mode mode;
};

/* Parses and validates a request body of the given kind. On success fills
 * `out` (release with request_free) and returns true; otherwise fills
 * `err`. The body is not NUL-terminated and may hold any bytes. Absent
 * optional fields are filled in with their defaults, so the body can be
 * forwarded as is. */
bool request_parse(enum request_kind kind, const char *body, size_t len,
                   struct run_request *out, struct api_error *err);
/* request_parse(REQ_RUN, ...) */
bool request_parse_run(const char *body, size_t len, struct run_request *out,
                       struct api_error *err);
void request_free(struct run_request *req);

/* Whether a body with this Content-Type header (NULL when absent) is taken
 * as JSON. */
bool request_check_media_type(const char *content_type, struct api_error *err);

/* 413 once a body is known to exceed `max` bytes. */
bool request_check_size(unsigned long long len, size_t max, struct api_error *err);

/* Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF), the
 * same rules jansson applies. On failure *bad_offset is the first bad byte. */
bool utf8_valid(const char *s, size_t len, size_t *bad_offset);

#endif
