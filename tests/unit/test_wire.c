/* server/wire.c against wasm/runtime/PROTOCOL.md and openapi.yaml: the
 * messages the host sends, the checks on what a worker answers, and the
 * bodies made from those answers. Every function here borrows or steals as
 * its name says; the run ends with no reference leaked (ASan checks it in
 * the sanitize label). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "frame.h"
#include "wire.h"

static json_t *parse(const char *text) {
    json_t *v = json_loads(text, JSON_ALLOW_NUL, NULL);
    if (v == NULL)
        abort();
    return v;
}

static const char *str(const json_t *o, const char *key) {
    return json_string_value(json_object_get(o, key));
}

static void test_run_message_carries_the_request_and_only_the_fields_sent(void) {
    struct run_request req;
    struct api_error err;
    const char *body = "{\"code\":\"x = 1\",\"scope\":{\"a\":1},\"stdin\":\"in\"}";
    struct wire_run run = {7, 5000, 1024, 0, false};
    json_t *msg;

    CHECK(request_parse(REQ_RUN, body, strlen(body), &req, &err));
    msg = wire_run_new(&req, &run);
    CHECK(msg != NULL);
    CHECK_STR(str(msg, "type"), "run");
    CHECK(json_integer_value(json_object_get(msg, "id")) == 7);
    CHECK_STR(str(msg, "code"), "x = 1");
    CHECK_STR(str(msg, "mode"), "exec");
    CHECK(json_integer_value(json_object_get(json_object_get(msg, "scope"), "a")) == 1);
    CHECK_STR(str(msg, "stdin"), "in");
    CHECK(json_integer_value(json_object_get(msg, "timeout_ms")) == 5000);
    CHECK(json_integer_value(json_object_get(msg, "output_cap")) == 1024);
    /* Not asked for: the worker's own cap and no streaming. */
    CHECK(json_object_get(msg, "memory_mb") == NULL);
    CHECK(json_object_get(msg, "stream") == NULL);
    CHECK(json_object_get(msg, "files") == NULL);
    CHECK(json_object_get(msg, "collect") == NULL);
    json_decref(msg);

    run.memory_mb = 128;
    run.stream = true;
    msg = wire_run_new(&req, &run);
    CHECK(json_integer_value(json_object_get(msg, "memory_mb")) == 128);
    CHECK(json_is_true(json_object_get(msg, "stream")));
    json_decref(msg);
    request_free(&req);
}

/* The spliced frame of a stateless run (wire_run_frame) is the message
 * wire_run_new builds, value for value, whatever the body's layout: escapes,
 * spacing, defaults, the optional members. */
static void check_frame_is_the_message(const char *body, const struct wire_run *run) {
    struct run_request req;
    struct api_error err;
    uint8_t *frame = NULL;
    size_t len = 0, n;
    json_t *msg, *framed;

    CHECK(request_parse(REQ_RUN, body, strlen(body), &req, &err));
    req.body = body;
    req.body_len = strlen(body);
    msg = wire_run_new(&req, run);
    CHECK(wire_run_frame(&req, run, &frame, &len));
    if (frame == NULL) {
        fprintf(stderr, "  not spliced: %s\n", body);
        json_decref(msg);
        request_free(&req);
        return;
    }
    n = (size_t)frame[0] << 24 | (size_t)frame[1] << 16 | (size_t)frame[2] << 8 | frame[3];
    CHECK(n + FRAME_HEADER_SIZE == len);
    framed = json_loadb((const char *)frame + FRAME_HEADER_SIZE, n, JSON_ALLOW_NUL, NULL);
    CHECK(framed != NULL && json_equal(framed, msg));
    if (framed == NULL || !json_equal(framed, msg))
        fprintf(stderr, "  differs: %.*s\n", (int)n, (const char *)frame + FRAME_HEADER_SIZE);
    json_decref(framed);
    json_decref(msg);
    free(frame);
    request_free(&req);
}

static void test_run_frame_is_spliced_from_the_body_as_the_message_would_be(void) {
    struct wire_run plain = {7, 5000, 1024, 0, false}, asked = {8, 100, 3, 64, true};
    static const char *const bodies[] = {
        "{\"code\":\"x\"}",
        "{\"code\":\"x*2\",\"mode\":\"eval\",\"scope\":{\"x\":21}}",
        " {\n \"scope\" : { \"a\" : [1, 2.5, -0, 1e3, \"\\u00e9\\n\"] } "
        ",\t\"code\" : \"a\" }\r\n",
        "{\"code\":\"print(1)\",\"mode\":\"ex\\u0065c\",\"dynamic\":{\"d\":null},"
        "\"return\":[\"a\"]}",
        "{\"code\":\"x\",\"return\":\"all\",\"stdin\":\"in\\u0000put\",\"files\":"
        "[{\"path\":\"a.txt\","
        "\"text\":\"hi\"}],\"collect\":[\"*.txt\"],\"timeout_ms\":9,\"memory_"
        "mb\":64,"
        "\"output_cap_bytes\":3,\"run_id\":\"r-1\"}",
        "{\"code\":\"s = '\\\"}{,'\",\"scope\":{\"k\\\"}\":\"{[\"}}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        check_frame_is_the_message(bodies[i], &plain);
        check_frame_is_the_message(bodies[i], &asked);
    }
}

/* A large scope taken on its bytes (request_parse_kept's stand-in) reaches
 * the worker whole: the frame is the message of the fully parsed request. */
static void test_run_frame_of_a_kept_body_carries_the_large_scope(void) {
    struct wire_run run = {9, 5000, 1024, 0, false};
    struct run_request full, kept;
    struct api_error err;
    size_t n = 5000, len;
    char *body = malloc(n + 64);
    uint8_t *frame = NULL;
    size_t frame_len = 0;
    json_t *msg, *framed;

    len = (size_t)sprintf(body, "{\"code\":\"len(b)\",\"scope\":{\"b\":\"");
    memset(body + len, 'y', n);
    len += n;
    len += (size_t)sprintf(body + len, "\",\"n\":[1,{\"m\":0.1}]}}");
    CHECK(request_parse(REQ_RUN, body, len, &full, &err));
    CHECK(request_parse_kept(body, len, &kept, &err));
    CHECK(kept.stand_ins);
    CHECK(wire_run_frame(&kept, &run, &frame, &frame_len));
    msg = wire_run_new(&full, &run);
    framed = frame ? json_loadb((const char *)frame + FRAME_HEADER_SIZE,
                                frame_len - FRAME_HEADER_SIZE, 0, NULL)
                   : NULL;
    CHECK(framed != NULL && json_equal(framed, msg));
    json_decref(framed);
    json_decref(msg);
    free(frame);
    request_free(&full);
    request_free(&kept);
    free(body);
}

static void test_run_frame_is_not_spliced_when_a_key_is_escaped_or_no_body_is_kept(void) {
    struct run_request req;
    struct api_error err;
    struct wire_run run = {7, 5000, 1024, 0, false};
    const char *body = "{\"c\\u006fde\":\"x\",\"scope\":{}}";
    uint8_t *frame = NULL;
    size_t len = 0;

    CHECK(request_parse(REQ_RUN, body, strlen(body), &req, &err));
    CHECK(!wire_run_frame(&req, &run, &frame, &len) && frame == NULL); /* body not kept */
    req.body = body;
    req.body_len = strlen(body);
    CHECK(!wire_run_frame(&req, &run, &frame, &len) && frame == NULL); /* jansson's key */
    request_free(&req);
}

static void test_inspect_message_has_a_scope_only_for_a_creation(void) {
    json_t *scope = parse("{\"x\": 2}");
    json_t *msg = wire_inspect_new(3, scope, 100);
    CHECK_STR(str(msg, "type"), "inspect");
    CHECK(json_integer_value(json_object_get(msg, "id")) == 3);
    CHECK(json_equal(json_object_get(msg, "scope"), scope));
    CHECK(json_integer_value(json_object_get(msg, "timeout_ms")) == 100);
    json_decref(msg);
    msg = wire_inspect_new(4, NULL, 100);
    CHECK(json_object_get(msg, "scope") == NULL);
    json_decref(msg);
    json_decref(scope);
}

static void test_cancel_frame_is_a_frame_naming_the_run(void) {
    uint8_t out[4 + WIRE_CANCEL_FRAME_MAX];
    struct frame_decoder d;
    size_t n = wire_cancel_frame(1234567890123ULL, out, sizeof out), used, len;
    const char *type;
    char why[128];

    CHECK(n > 4);
    frame_decoder_init(&d);
    CHECK(frame_decoder_feed(&d, out, n, &used) == FRAME_COMPLETE && used == n);
    uint8_t *payload = frame_decoder_take(&d, &len);
    json_t *msg = frame_parse_message(payload, len, &type, why, sizeof why);
    CHECK(msg != NULL);
    CHECK_STR(type, "cancel");
    CHECK(wire_answers(msg, 1234567890123ULL, why, sizeof why));
    json_decref(msg);
    free(payload);
    frame_decoder_free(&d);
    /* Too small a buffer: nothing written, never a partial frame. */
    CHECK(wire_cancel_frame(1, out, 8) == 0);
}

static void test_answers_need_the_id_of_the_job_in_flight(void) {
    char why[160];
    json_t *ok = parse("{\"type\":\"result\",\"id\":5}");
    json_t *other = parse("{\"type\":\"result\",\"id\":6}");
    json_t *none = parse("{\"type\":\"result\",\"id\":\"5\"}");
    CHECK(wire_answers(ok, 5, why, sizeof why));
    CHECK(!wire_answers(other, 5, why, sizeof why));
    CHECK_STR(why, "answer for id 6 while running id 5");
    CHECK(!wire_answers(none, 5, why, sizeof why));
    CHECK_STR(why, "answer without an integer \"id\"");
    json_decref(ok);
    json_decref(other);
    json_decref(none);
}

static void test_results_must_carry_every_member_the_api_promises(void) {
    char why[160];
    json_t *full = parse("{\"ok\":true,\"result\":null,\"stdout\":\"\",\"stderr\":\"\","
                         "\"error\":null,\"scope\":{}}");
    json_t *short_ = parse("{\"ok\":true,\"result\":null,\"stdout\":\"\",\"stderr\":\"\","
                           "\"error\":null}");
    json_t *bad_ok = parse("{\"ok\":1,\"result\":null,\"stdout\":\"\",\"stderr\":\"\","
                           "\"error\":null,\"scope\":{}}");
    json_t *inspect = parse("{\"scope\":{},\"definitions\":{}}");
    CHECK(wire_check_result(full, why, sizeof why));
    CHECK(!wire_check_result(short_, why, sizeof why));
    CHECK_STR(why, "result without \"scope\"");
    CHECK(!wire_check_result(bad_ok, why, sizeof why));
    CHECK_STR(why, "result member \"ok\" is not a boolean");
    CHECK(wire_check_inspect(inspect, why, sizeof why));
    CHECK(!wire_check_inspect(full, why, sizeof why));
    CHECK_STR(why, "result without \"definitions\"");
    json_decref(full);
    json_decref(short_);
    json_decref(bad_ok);
    json_decref(inspect);
}

/* wire_raw_result takes only what the parsed checks take; the rest it leaves
 * to them (false is "parse it", so every false here is also a safe answer). */
static void test_raw_result_takes_only_answers_the_parsed_checks_take(void) {
    static const char *const taken[] = {
        "{\"type\":\"result\",\"id\":7,\"ok\":true,\"result\":42,\"stdout\":\"\","
        "\"stderr\":\"\","
        "\"error\":null,\"scope\":{\"x\":0.1}}",
        " { \"ok\" : false , \"id\" : 7 , \"type\" : \"result\", "
        "\"result\":null,\"stdout\":\"a\","
        "\"stderr\":\"\",\"error\":{\"type\":\"ValueError\"},\"scope\":{},"
        "\"files\":[] } ",
    };
    static const char *const left[] = {
        /* wrong id, missing member, "ok" not a boolean, another type, not JSON */
        "{\"type\":\"result\",\"id\":8,\"ok\":true,\"result\":1,\"stdout\":\"\","
        "\"stderr\":\"\","
        "\"error\":null,\"scope\":{}}",
        "{\"type\":\"result\",\"id\":7,\"ok\":true,\"result\":1,\"stdout\":\"\","
        "\"stderr\":\"\","
        "\"error\":null}",
        "{\"type\":\"result\",\"id\":7,\"ok\":1,\"result\":1,\"stdout\":\"\","
        "\"stderr\":\"\","
        "\"error\":null,\"scope\":{}}",
        "{\"type\":\"timeout\",\"id\":7,\"ok\":false,\"result\":1,\"stdout\":"
        "\"\",\"stderr\":\"\","
        "\"error\":null,\"scope\":{}}",
        "{\"type\":\"result\",\"id\":7,\"ok\":true,\"result\":1,\"stdout\":\"\","
        "\"stderr\":\"\","
        "\"error\":null,\"scope\":{}",
        /* forms jansson decides: a second "ok", a key written with escapes, 7.0
       */
        "{\"type\":\"result\",\"id\":7,\"ok\":true,\"ok\":false,\"result\":1,"
        "\"stdout\":\"\","
        "\"stderr\":\"\",\"error\":null,\"scope\":{}}",
        "{\"type\":\"result\",\"id\":7,\"\\u006fk\":true,\"ok\":false,\"result\":"
        "1,\"stdout\":\"\","
        "\"stderr\":\"\",\"error\":null,\"scope\":{}}",
        "{\"type\":\"result\",\"id\":7.0,\"ok\":true,\"result\":1,\"stdout\":"
        "\"\",\"stderr\":\"\","
        "\"error\":null,\"scope\":{}}",
    };
    char why[160];
    bool ok = false;
    for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++) {
        json_t *msg = parse(taken[i]);
        CHECK(wire_raw_result(taken[i], strlen(taken[i]), 7, &ok));
        CHECK(ok == json_is_true(json_object_get(msg, "ok")));
        CHECK(wire_answers(msg, 7, why, sizeof why) && wire_check_result(msg, why, sizeof why));
        json_decref(msg);
    }
    for (size_t i = 0; i < sizeof left / sizeof left[0]; i++)
        CHECK(!wire_raw_result(left[i], strlen(left[i]), 7, &ok));
}

static void test_rejected_passes_only_documented_codes(void) {
    char text[64];
    enum api_code code;
    json_t *ok = parse("{\"error\":{\"code\":\"invalid_name\",\"message\":\"bad\\nname\"}}");
    json_t *unknown = parse("{\"error\":{\"code\":\"internal_error\",\"message\":\"x\"}}");
    json_t *no_message = parse("{\"error\":{\"code\":\"invalid_name\"}}");
    CHECK(wire_rejected(ok, &code, text, sizeof text) && code == API_INVALID_NAME);
    CHECK(strchr(text, '\n') == NULL); /* sanitized for the log and the answer */
    CHECK(!wire_rejected(unknown, &code, text, sizeof text));
    CHECK(!wire_rejected(no_message, &code, text, sizeof text));
    json_decref(ok);
    json_decref(unknown);
    json_decref(no_message);
}

static void test_output_names_stdout_or_stderr_and_has_text(void) {
    const char *stream, *text;
    size_t len;
    json_t *ok = parse("{\"stream\":\"stderr\",\"text\":\"a\\u0000b\"}");
    json_t *other = parse("{\"stream\":\"stdin\",\"text\":\"x\"}");
    json_t *no_text = parse("{\"stream\":\"stdout\"}");
    CHECK(wire_output(ok, &stream, &text, &len));
    CHECK_STR(stream, "stderr");
    CHECK(len == 3 && memcmp(text, "a\0b", 3) == 0);
    CHECK(!wire_output(other, &stream, &text, &len));
    CHECK(!wire_output(no_text, &stream, &text, &len));
    json_decref(ok);
    json_decref(other);
    json_decref(no_text);
}

static void test_answer_loses_the_protocol_members(void) {
    json_t *msg = parse("{\"type\":\"result\",\"id\":1,\"timing\":{},\"ok\":true}");
    json_t *body = wire_answer_steal(msg);
    CHECK(json_object_size(body) == 1 && json_is_true(json_object_get(body, "ok")));
    json_decref(body);
}

static void test_stopped_body_keeps_what_the_worker_said_and_nulls_the_rest(void) {
    static const char *const members[] = {"stdout",    "stderr",          "output",      "files",
                                          "truncated", "scope",           "definitions", "changes",
                                          "dynamic",   "tasks_cancelled", "result"};
    json_t *said = parse("{\"type\":\"timeout\",\"id\":1,\"timing\":{},\"stdout\":\"so far\","
                         "\"error\":{\"line\":3,\"traceback\":\"tb\",\"code\":\"x\"}}");
    json_t *body = wire_stopped_steal(said, API_TIMEOUT, "interrupt", "too long");
    json_t *err = json_object_get(body, "error");
    CHECK(json_is_false(json_object_get(body, "ok")));
    CHECK_STR(str(body, "stdout"), "so far");
    CHECK(json_object_get(body, "type") == NULL && json_object_get(body, "id") == NULL &&
          json_object_get(body, "timing") == NULL);
    CHECK_STR(str(err, "code"), "timeout");
    CHECK_STR(str(err, "stopped_by"), "interrupt");
    CHECK_STR(str(err, "message"), "too long");
    CHECK(json_integer_value(json_object_get(err, "line")) == 3);
    CHECK(json_is_null(json_object_get(err, "column")));
    CHECK_STR(str(err, "traceback"), "tb");
    json_decref(body);

    /* Killed: the worker said nothing, and nothing is made up. */
    body = wire_stopped_steal(NULL, API_CANCELLED, "kill", "killed");
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++)
        CHECK(json_is_null(json_object_get(body, members[i])));
    CHECK_STR(str(json_object_get(body, "error"), "code"), "cancelled");
    CHECK(json_is_null(json_object_get(json_object_get(body, "error"), "source")));
    json_decref(body);
}

static void test_session_body_from_an_inspect(void) {
    json_t *inspect = parse("{\"scope\":{\"x\":1},\"definitions\":{\"f\":\"def f(): ...\"}}");
    json_t *body = wire_session_new("abc", inspect, 600000, 4);
    CHECK_STR(str(body, "id"), "abc");
    CHECK(json_equal(json_object_get(body, "scope"), json_object_get(inspect, "scope")));
    CHECK(json_object_get(body, "definitions") != NULL);
    CHECK(json_integer_value(json_object_get(body, "idle_ttl_ms")) == 600000);
    CHECK(json_integer_value(json_object_get(body, "runs")) == 4);
    json_decref(body);
    json_decref(inspect);
}

static void test_member_for_the_log(void) {
    char buf[16];
    json_t *msg = parse("{\"s\":\"a\\nb\",\"n\":12.4,\"o\":{}}");
    CHECK(strchr(wire_member(msg, "s", buf, sizeof buf), '\n') == NULL);
    CHECK_STR(wire_member(msg, "n", buf, sizeof buf), "12");
    CHECK_STR(wire_member(msg, "o", buf, sizeof buf), "?");
    CHECK_STR(wire_member(msg, "absent", buf, sizeof buf), "?");
    json_decref(msg);
}

int main(void) {
    test_run_message_carries_the_request_and_only_the_fields_sent();
    test_run_frame_is_spliced_from_the_body_as_the_message_would_be();
    test_run_frame_is_not_spliced_when_a_key_is_escaped_or_no_body_is_kept();
    test_run_frame_of_a_kept_body_carries_the_large_scope();
    test_inspect_message_has_a_scope_only_for_a_creation();
    test_cancel_frame_is_a_frame_naming_the_run();
    test_answers_need_the_id_of_the_job_in_flight();
    test_results_must_carry_every_member_the_api_promises();
    test_raw_result_takes_only_answers_the_parsed_checks_take();
    test_rejected_passes_only_documented_codes();
    test_output_names_stdout_or_stderr_and_has_text();
    test_answer_loses_the_protocol_members();
    test_stopped_body_keeps_what_the_worker_said_and_nulls_the_rest();
    test_session_body_from_an_inspect();
    test_member_for_the_log();
    return check_report();
}
