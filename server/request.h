/* Validation of client requests, kept free of any HTTP library so that it can
 * be unit-tested and fuzzed on its own: bytes in, a validated request or an
 * API error out. */
#ifndef SCOPEBOX_REQUEST_H
#define SCOPEBOX_REQUEST_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "errors.h"

struct api_error {
    int status;        /* HTTP status to answer with */
    enum api_code id;  /* errors.h */
    const char *code;  /* its name, api_codes[id].name */
    char message[256]; /* for humans; names the offending field */
};

/* An error with its code's status (errors.h). */
void api_error_of(struct api_error *err, enum api_code id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An error with another status than its code's, or named by its string. */
void api_error_set(struct api_error *err, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same with a va_list, for wrappers (job_fail). */
void api_error_vset(struct api_error *err, int status, enum api_code id, const char *fmt,
                    va_list ap) __attribute__((format(printf, 4, 0)));

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

/* Run ids (`run_id`, POST /v1/runs/{id}/cancel): the same alphabet and
 * bound, so one can go in a URL path and a log line as it is. */
#define RUN_ID_MAX 64
bool run_id_valid(const char *id, size_t len);

struct run_request {
    json_t *root;          /* the parsed body; owns what the fields point to */
    const json_t *code;    /* string, non-empty, without NUL (runs only) */
    const json_t *scope;   /* object */
    const json_t *dynamic; /* object */
    const json_t *ret;     /* "data", "all" or an array of strings */
    const json_t *session; /* string, or NULL */
    const json_t *image;   /* session creation: an exported image (base64), or NULL */
    const json_t *run_id;  /* runs: the client's id for the run, or NULL (the server makes one) */
    const json_t *stdin_text; /* string within STDIN_MAX_BYTES, or NULL */
    const json_t *files;      /* array of checked {path, text|base64}, or NULL */
    const json_t *collect;    /* array of checked glob patterns, or NULL */
    unsigned timeout_ms;      /* 0: the server's default */
    unsigned memory_mb;       /* 0: the server's cap (--worker-heap-mb) */
    long long output_cap;     /* -1: the server's cap (--output-cap-bytes) */
    enum run_mode mode;
    /* The body's bytes, when the caller keeps them until pool_submit
     * returns (request_parse_kept sets them): a stateless run's worker
     * frame is then spliced from them (wire_run_frame) instead of being
     * dumped from `root` again. NULL: dumped. */
    const char *body;
    size_t body_len;
    /* request_parse_kept: some large member (`scope`, `dynamic`) is an
     * empty stand-in in `root`, its value only in `body`: the run can only
     * be framed from the body. */
    bool stand_ins;
};

/* Parses and validates a request body of the given kind. On success fills
 * `out` (release with request_free) and returns true; otherwise fills
 * `err`. The body is not NUL-terminated and may hold any bytes. Absent
 * optional fields are filled in with their defaults, so the body can be
 * forwarded as is. */
bool request_parse(enum request_kind kind, const char *body, size_t len, struct run_request *out,
                   struct api_error *err);
/* request_parse(REQ_RUN, ...) for a caller that keeps the body until the
 * run is submitted: the same answer, error or not, but a large body's big
 * members may be checked on their bytes instead of parsed (stand_ins). */
bool request_parse_kept(const char *body, size_t len, struct run_request *out,
                        struct api_error *err);
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
