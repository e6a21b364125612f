/* The host's side of the worker protocol's messages (wasm/runtime/
 * PROTOCOL.md, "Messages"), above the framing of frame.h: the messages the
 * host sends, the checks on what a worker answers, and the HTTP bodies
 * made from those answers. Pure: no I/O, no clock, no state, so it is
 * unit-tested (tests/unit/test_wire.c) and fuzzed (tests/fuzz/fuzz_wire.c)
 * alone; slot.c does the rest.
 *
 * Ownership, jansson's rule made visible in the names: a function ending in
 * _new returns a new reference (NULL when out of memory); one ending in
 * _steal takes the reference it is given on every path, success or not;
 * every other function borrows its arguments. */
#ifndef SCOPEBOX_WIRE_H
#define SCOPEBOX_WIRE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "request.h"

/* What a `run` message says beside the request's own fields. */
struct wire_run {
    uint64_t id;
    unsigned timeout_ms;
    unsigned output_cap;
    unsigned memory_mb; /* 0: not sent, the worker's own cap is the limit */
    bool stream;        /* `output` frames while it runs */
};

/* `run`: the request's code, mode, scope, dynamic, return and input/output
 * fields as the client sent them (request.c checked them); absent ones stay
 * absent. */
json_t *wire_run_new(const struct run_request *req, const struct wire_run *run);
/* The same message for a stateless run, framed (frame.h), spliced from the
 * client's body (req->body, which request_parse accepted): its values go to
 * the worker as the client wrote them, with no second encoding of a large
 * scope. False when it cannot be (no body, a top-level key written with
 * escapes, out of memory, past the frame bounds): the caller then encodes
 * wire_run_new's message, which says what is wrong, if anything. */
bool wire_run_frame(const struct run_request *req, const struct wire_run *run, uint8_t **out,
                    size_t *out_len);
/* `inspect`: of `scope` (a session's creation; NULL: of the state the worker
 * is given, a GET). */
json_t *wire_inspect_new(uint64_t id, const json_t *scope, unsigned timeout_ms);

/* `cancel` of run `id`, framed (frame.h) into `out` without allocating: the
 * dispatcher writes it to a worker's control pipe as is. Returns its length,
 * 0 when `cap` is too small. */
#define WIRE_CANCEL_FRAME_MAX 64
size_t wire_cancel_frame(uint64_t id, uint8_t *out, size_t cap);

/* Whether `msg` answers the job `id` (an integer member "id"); else why not. */
bool wire_answers(const json_t *msg, uint64_t id, char *why, size_t why_len);
/* A `result` of a run: every member the HTTP answer promises, "ok" a boolean. */
/* A `result` answer to run `id`, checked on its bytes: true when it is
 * certainly a JSON object jansson would parse (rawjson_valid) that passes
 * wire_answers and wire_check_result, with *ok its "ok"; false when it
 * must be parsed to know (it may still pass). */
bool wire_raw_result(const char *payload, size_t len, uint64_t id, bool *ok);
bool wire_check_result(const json_t *msg, char *why, size_t why_len);
/* A `result` of an inspect: "scope" and "definitions". */
bool wire_check_inspect(const json_t *msg, char *why, size_t why_len);
/* A `rejected`: its error code, when the API documents it as one Python may
 * reject a request with, and its message sanitized into `text`; else false. */
bool wire_rejected(const json_t *msg, enum api_code *code, char *text, size_t text_len);
/* An `output`: its stream ("stdout" or "stderr") and text, or false. */
bool wire_output(const json_t *msg, const char **stream, const char **text, size_t *len);

/* The HTTP body of a worker's answer: `msg` without the protocol's "type"
 * and "id", nor the worker's "timing" (the host appends its own, which
 * would become a duplicate key). */
json_t *wire_answer_steal(json_t *msg);
/* The body of a run that was stopped (openapi.yaml, TimeoutResult and
 * CancelledResult): error `code` stopped by `stopped_by` ("interrupt" or
 * "kill"), with what the worker said of the run as it stopped (`msg`; NULL
 * when the worker was killed): what is unknown is null, never made up. */
json_t *wire_stopped_steal(json_t *msg, enum api_code code, const char *stopped_by,
                           const char *text);
/* A session's body (openapi.yaml, Session) from an inspect answer. */
json_t *wire_session_new(const char *session, const json_t *inspect, unsigned idle_ttl_ms,
                         unsigned runs);

/* A string or number member of a worker message, sanitized for a log line
 * ("?" when absent or of another type). */
const char *wire_member(const json_t *msg, const char *key, char *buf, size_t len);

#endif
