/* The API's error codes: the one list of the codes the server answers with
 * (server/openapi.yaml's ApiError.code is the contract; tests/docs/
 * test_error_codes.py checks that every code here, and every code the worker
 * runtime rejects a request with, is in it), each with the HTTP status it
 * answers with. Clients match on the names, so they never change meaning.
 * A few answers use a code with another status (invalid_request as 403 or
 * 406 at /mcp, invalid_image as 409 for a stored image): api_error_set
 * says so where it happens. */
#ifndef SCOPEBOX_ERRORS_H
#define SCOPEBOX_ERRORS_H

#include <stdbool.h>

#define API_CODES(X)                                                                               \
    X(INVALID_JSON, "invalid_json", 400)                                                           \
    X(INVALID_ENCODING, "invalid_encoding", 400)                                                   \
    X(INVALID_REQUEST, "invalid_request", 400)                                                     \
    X(MISSING_FIELD, "missing_field", 400)                                                         \
    X(INVALID_TYPE, "invalid_type", 400)                                                           \
    X(INVALID_VALUE, "invalid_value", 400)                                                         \
    X(UNKNOWN_FIELD, "unknown_field", 400)                                                         \
    X(INVALID_NAME, "invalid_name", 400)                                                           \
    X(SESSION_NOT_FOUND, "session_not_found", 404)                                                 \
    X(TOO_MANY_SESSIONS, "too_many_sessions", 503)                                                 \
    X(BODY_TOO_LARGE, "body_too_large", 413)                                                       \
    X(UNSUPPORTED_MEDIA, "unsupported_media_type", 415)                                            \
    X(NOT_FOUND, "not_found", 404)                                                                 \
    X(METHOD_NOT_ALLOWED, "method_not_allowed", 405)                                               \
    X(QUEUE_FULL, "queue_full", 503)                                                               \
    X(QUEUE_TIMEOUT, "queue_timeout", 503)                                                         \
    X(SHUTTING_DOWN, "shutting_down", 503)                                                         \
    X(TIMEOUT, "timeout", 504)                                                                     \
    X(WORKER_CRASHED, "worker_crashed", 500)                                                       \
    X(WORKER_PROTOCOL, "worker_protocol_error", 500)                                               \
    X(INTERNAL, "internal_error", 500)                                                             \
    X(SESSION_INCOMPATIBLE, "session_incompatible", 409)                                           \
    X(INVALID_IMAGE, "invalid_image", 400)                                                         \
    X(SESSION_CONFLICT, "session_conflict", 409)                                                   \
    X(SESSION_BUSY, "session_busy", 503)                                                           \
    X(UNAUTHORIZED, "unauthorized", 401)                                                           \
    X(KEY_RUN_LIMIT, "key_run_limit", 429)                                                         \
    X(KEY_SESSION_LIMIT, "key_session_limit", 429)                                                 \
    X(CRASH_RATE_LIMITED, "crash_rate_limited", 429)                                               \
    X(CANCELLED, "cancelled", 499)                                                                 \
    X(RUN_NOT_FOUND, "run_not_found", 404)                                                         \
    X(RUN_ID_IN_USE, "run_id_in_use", 409)                                                         \
    /* a run's input and output fields (runio.h) */                                                \
    X(STDIN_TOO_LARGE, "stdin_too_large", 400)                                                     \
    X(TOO_MANY_FILES, "too_many_files", 400)                                                       \
    X(FILES_TOO_LARGE, "files_too_large", 400)                                                     \
    X(INVALID_PATH, "invalid_path", 400)                                                           \
    X(INVALID_GLOB, "invalid_glob", 400)

enum api_code {
#define API_CODE_ENUM(id, name, status) API_##id,
    API_CODES(API_CODE_ENUM)
#undef API_CODE_ENUM
        API_CODE_COUNT
};

struct api_code_info {
    const char *name; /* as clients see it */
    int status;       /* the HTTP status it answers with */
};

extern const struct api_code_info api_codes[API_CODE_COUNT];

/* The code named `name`; false when there is none. */
bool api_code_parse(const char *name, enum api_code *out);

/* The names as C spells them where a string is wanted (logs, tests). */
#define API_NAME(id) (api_codes[API_##id].name)
#define ERR_INVALID_JSON API_NAME(INVALID_JSON)
#define ERR_INVALID_ENCODING API_NAME(INVALID_ENCODING)
#define ERR_INVALID_REQUEST API_NAME(INVALID_REQUEST)
#define ERR_MISSING_FIELD API_NAME(MISSING_FIELD)
#define ERR_INVALID_TYPE API_NAME(INVALID_TYPE)
#define ERR_INVALID_VALUE API_NAME(INVALID_VALUE)
#define ERR_UNKNOWN_FIELD API_NAME(UNKNOWN_FIELD)
#define ERR_INVALID_NAME API_NAME(INVALID_NAME)
#define ERR_SESSION_NOT_FOUND API_NAME(SESSION_NOT_FOUND)
#define ERR_TOO_MANY_SESSIONS API_NAME(TOO_MANY_SESSIONS)
#define ERR_BODY_TOO_LARGE API_NAME(BODY_TOO_LARGE)
#define ERR_UNSUPPORTED_MEDIA API_NAME(UNSUPPORTED_MEDIA)
#define ERR_NOT_FOUND API_NAME(NOT_FOUND)
#define ERR_METHOD_NOT_ALLOWED API_NAME(METHOD_NOT_ALLOWED)
#define ERR_QUEUE_FULL API_NAME(QUEUE_FULL)
#define ERR_QUEUE_TIMEOUT API_NAME(QUEUE_TIMEOUT)
#define ERR_SHUTTING_DOWN API_NAME(SHUTTING_DOWN)
#define ERR_TIMEOUT API_NAME(TIMEOUT)
#define ERR_WORKER_CRASHED API_NAME(WORKER_CRASHED)
#define ERR_WORKER_PROTOCOL API_NAME(WORKER_PROTOCOL)
#define ERR_INTERNAL API_NAME(INTERNAL)
#define ERR_SESSION_INCOMPATIBLE API_NAME(SESSION_INCOMPATIBLE)
#define ERR_INVALID_IMAGE API_NAME(INVALID_IMAGE)
#define ERR_SESSION_CONFLICT API_NAME(SESSION_CONFLICT)
#define ERR_SESSION_BUSY API_NAME(SESSION_BUSY)
#define ERR_UNAUTHORIZED API_NAME(UNAUTHORIZED)
#define ERR_KEY_RUN_LIMIT API_NAME(KEY_RUN_LIMIT)
#define ERR_KEY_SESSION_LIMIT API_NAME(KEY_SESSION_LIMIT)
#define ERR_CRASH_RATE_LIMITED API_NAME(CRASH_RATE_LIMITED)
#define ERR_CANCELLED API_NAME(CANCELLED)
#define ERR_RUN_NOT_FOUND API_NAME(RUN_NOT_FOUND)
#define ERR_RUN_ID_IN_USE API_NAME(RUN_ID_IN_USE)
#define ERR_STDIN_TOO_LARGE API_NAME(STDIN_TOO_LARGE)
#define ERR_TOO_MANY_FILES API_NAME(TOO_MANY_FILES)
#define ERR_FILES_TOO_LARGE API_NAME(FILES_TOO_LARGE)
#define ERR_INVALID_PATH API_NAME(INVALID_PATH)
#define ERR_INVALID_GLOB API_NAME(INVALID_GLOB)

#endif
