/* server/request.c: every error code, its status, that the message names the
 * field, and the edges (sizes, encodings, media types). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "request.h"

/* Parses a NUL-terminated body; on failure returns the error code, else
 * "ok" (and frees the request unless `keep` is given). */
static const char *parse_n(const char *body, size_t len, struct api_error *err,
                           struct run_request *keep) {
    struct run_request req;
    memset(err, 0, sizeof *err);
    if (!request_parse_run(body, len, &req, err))
        return err->code;
    if (keep)
        *keep = req;
    else
        request_free(&req);
    return "ok";
}

static const char *parse(const char *body, struct api_error *err) {
    return parse_n(body, strlen(body), err, NULL);
}

static int mentions(const struct api_error *err, const char *text) {
    return strstr(err->message, text) != NULL;
}

static void test_valid(void) {
    struct api_error err;
    struct run_request req;

    CHECK_STR(parse_n("{\"code\":\"x\"}", 12, &err, &req), "ok");
    CHECK(req.mode == RUN_EXEC);
    CHECK(json_is_object(req.scope) && json_object_size(req.scope) == 0);
    CHECK_STR(json_string_value(req.code), "x");
    request_free(&req);
    CHECK(req.root == NULL);

    const char *full =
        "{\"code\":\"x*2\",\"mode\":\"eval\",\"scope\":{\"x\":21,\"s\":\"\\u0000\"}}";
    CHECK_STR(parse_n(full, strlen(full), &err, &req), "ok");
    CHECK(req.mode == RUN_EVAL);
    CHECK(json_integer_value(json_object_get(req.scope, "x")) == 21);
    CHECK(json_string_length(json_object_get(req.scope, "s")) == 1); /* NUL allowed in scope */
    request_free(&req);

    CHECK_STR(parse("{\"mode\":\"exec\",\"code\":\"pass\"}", &err), "ok");
    CHECK_STR(parse("  \n{ \"code\" : \"x\" }\n", &err), "ok");
    CHECK_STR(parse("{\"code\":\"print('h\xc3\xa9llo \xf0\x9f\x98\x80')\"}", &err), "ok");
    CHECK_STR(parse("{\"code\":\"   \"}", &err), "ok"); /* non-empty is all we ask */
    CHECK_STR(parse("{\"code\":\"x\",\"scope\":{}}", &err), "ok");

    /* The body is a length, not a C string: bytes after it are not read. */
    CHECK_STR(parse_n("{\"code\":\"x\"}GARBAGE", 12, &err, NULL), "ok");
    CHECK_STR(parse_n("{\"code\":\"x\"}\0{", 12, &err, NULL), "ok");
}

static void test_invalid_json(void) {
    static const char *bodies[] = {
        "",
        " ",
        "{",
        "}",
        "{\"code\":\"x\"",
        "{\"code\":\"x\"} {}",
        "{\"code\":\"x\"}x",
        "{'code':'x'}",
        "{code:\"x\"}",
        "{\"code\":\"x\",}",
        "nul",
        "{\"code\":\"\\ud800\"}",
        "{\"code\":\"x\",\"code\":\"y\"}", /* duplicate keys are ambiguous */
        "{\"code\":\"\x01\"}",
        "{\"code\":\"x\",\"scope\":{\"a\\u0000b\":1}}", /* NUL in a key */
        "\xef\xbb\xbf{\"code\":\"x\"}",                 /* BOM */
    };
    struct api_error err;
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        CHECK_STR(parse(bodies[i], &err), ERR_INVALID_JSON);
        CHECK(err.status == 400);
    }
    CHECK_STR(parse_n("{\"code\":\"x\"\0}", 13, &err, NULL), ERR_INVALID_JSON);
    /* Numbers jansson cannot hold: the client is told how to send them. */
    CHECK_STR(parse("{\"code\":\"x\",\"scope\":{\"n\":123456789012345678901234567890}}", &err),
              ERR_INVALID_VALUE);
    CHECK(err.status == 400 && mentions(&err, "\"$type\": \"int\""));
    CHECK_STR(parse("{\"code\":\"x\",\"scope\":{\"n\":1e999}}", &err), ERR_INVALID_VALUE);
    CHECK_STR(parse("", &err), ERR_INVALID_JSON);
    CHECK(mentions(&err, "empty"));
    CHECK_STR(parse("{\"code\":\"1\",\"code\":\"2\"}", &err), ERR_INVALID_JSON);
    CHECK(mentions(&err, "duplicate") && mentions(&err, "code"));

    /* Deeper than jansson's limit: a parse error, not a stack overflow. */
    size_t depth = 100000, n = 0;
    char *deep = malloc(depth * 2 + 64);
    n += (size_t)sprintf(deep, "{\"code\":\"x\",\"scope\":{\"a\":");
    for (size_t i = 0; i < depth; i++)
        deep[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        deep[n++] = ']';
    n += (size_t)sprintf(deep + n, "}}");
    CHECK_STR(parse_n(deep, n, &err, NULL), ERR_INVALID_JSON);
    free(deep);
}

static void test_invalid_encoding(void) {
    static const char *bodies[] = {
        "{\"code\":\"\xff\"}",             /* never valid */
        "{\"code\":\"\xc0\x80\"}",         /* overlong NUL */
        "{\"code\":\"\xe0\x80\xaf\"}",     /* overlong '/' */
        "{\"code\":\"\xed\xa0\x80\"}",     /* UTF-16 surrogate */
        "{\"code\":\"\xf4\x90\x80\x80\"}", /* above U+10FFFF */
        "{\"code\":\"\xc3\"}",             /* cut sequence */
        "{\"code\":\"\x80\"}",             /* lone continuation */
        "{\"c\xffode\":\"x\"}",            /* in a key */
        "\xff{\"code\":\"x\"}",            /* outside any string */
    };
    struct api_error err;
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        CHECK_STR(parse(bodies[i], &err), ERR_INVALID_ENCODING);
        CHECK(err.status == 400);
    }
    CHECK_STR(parse_n("{\"code\":\"\xe2\x82", 12, &err, NULL), ERR_INVALID_ENCODING);
    CHECK(mentions(&err, "offset 9"));
}

static void test_invalid_request(void) {
    static const char *bodies[] = {"[]", "[{\"code\":\"x\"}]", "\"x\"", "1", "null", "true"};
    struct api_error err;
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        CHECK_STR(parse(bodies[i], &err), ERR_INVALID_REQUEST);
        CHECK(err.status == 400);
        CHECK(mentions(&err, "object"));
    }
}

static void test_missing_field(void) {
    struct api_error err;
    CHECK_STR(parse("{}", &err), ERR_MISSING_FIELD);
    CHECK(err.status == 400 && mentions(&err, "'code'"));
    CHECK_STR(parse("{\"mode\":\"eval\",\"scope\":{}}", &err), ERR_MISSING_FIELD);
    CHECK(mentions(&err, "'code'"));
}

static void test_invalid_type(void) {
    static const struct {
        const char *body, *field;
    } cases[] = {
        {"{\"code\":1}", "'code'"},
        {"{\"code\":null}", "'code'"},
        {"{\"code\":[\"x\"]}", "'code'"},
        {"{\"code\":{}}", "'code'"},
        {"{\"code\":true}", "'code'"},
        {"{\"code\":\"x\",\"mode\":1}", "'mode'"},
        {"{\"code\":\"x\",\"mode\":null}", "'mode'"},
        {"{\"code\":\"x\",\"mode\":[\"exec\"]}", "'mode'"},
        {"{\"code\":\"x\",\"scope\":[]}", "'scope'"},
        {"{\"code\":\"x\",\"scope\":null}", "'scope'"},
        {"{\"code\":\"x\",\"scope\":\"x=1\"}", "'scope'"},
        {"{\"code\":\"x\",\"scope\":0}", "'scope'"},
    };
    struct api_error err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_STR(parse(cases[i].body, &err), ERR_INVALID_TYPE);
        CHECK(err.status == 400);
        CHECK(mentions(&err, cases[i].field));
    }
    parse("{\"code\":1}", &err);
    CHECK(mentions(&err, "string"));
    parse("{\"code\":\"x\",\"scope\":[]}", &err);
    CHECK(mentions(&err, "object"));
}

static void test_invalid_value(void) {
    static const struct {
        const char *body, *field;
    } cases[] = {
        {"{\"code\":\"\"}", "'code'"},
        {"{\"code\":\"\\u0000\"}", "'code'"},
        {"{\"code\":\"x = 1\\u0000\"}", "'code'"},
        {"{\"code\":\"x\",\"mode\":\"run\"}", "'mode'"},
        {"{\"code\":\"x\",\"mode\":\"\"}", "'mode'"},
        {"{\"code\":\"x\",\"mode\":\"EXEC\"}", "'mode'"},
        {"{\"code\":\"x\",\"mode\":\"exec \"}", "'mode'"},
        {"{\"code\":\"x\",\"mode\":\"exe\"}", "'mode'"},
        {"{\"code\":\"x\",\"mode\":\"eval\\u0000\"}", "'mode'"},
    };
    struct api_error err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_STR(parse(cases[i].body, &err), ERR_INVALID_VALUE);
        CHECK(err.status == 400);
        CHECK(mentions(&err, cases[i].field));
    }
    parse("{\"code\":\"\"}", &err);
    CHECK(mentions(&err, "empty"));
    parse("{\"code\":\"a\\u0000\"}", &err);
    CHECK(mentions(&err, "NUL"));
}

static void test_unknown_field(void) {
    struct api_error err;
    CHECK_STR(parse("{\"code\":\"x\",\"foo\":1}", &err), ERR_UNKNOWN_FIELD);
    CHECK(err.status == 400 && mentions(&err, "'foo'"));
    /* Reported before anything about the known fields. */
    CHECK_STR(parse("{\"foo\":1}", &err), ERR_UNKNOWN_FIELD);
    CHECK_STR(parse("{\"code\":1,\"Code\":\"x\"}", &err), ERR_UNKNOWN_FIELD);
    CHECK(mentions(&err, "'Code'"));
    /* The first unknown one in body order. */
    CHECK_STR(parse("{\"b\":1,\"a\":2,\"code\":\"x\"}", &err), ERR_UNKNOWN_FIELD);
    CHECK(mentions(&err, "'b'"));
    /* Each route has its own fields. */
    struct run_request req;
    const char *with_session = "{\"code\":\"x\",\"session\":\"a\"}";
    CHECK(!request_parse(REQ_SESSION_RUN, with_session, strlen(with_session), &req, &err));
    CHECK_STR(err.code, ERR_UNKNOWN_FIELD);
    CHECK(mentions(&err, "'session'"));
    CHECK(!request_parse(REQ_SESSION_CREATE, "{\"code\":\"x\"}", 12, &req, &err));
    CHECK_STR(err.code, ERR_UNKNOWN_FIELD);

    /* A long non-ASCII key is echoed cut short, still valid UTF-8. */
    char body[1024];
    size_t n = (size_t)sprintf(body, "{\"code\":\"x\",\"");
    for (int i = 0; i < 200; i++) {
        body[n++] = '\xc3';
        body[n++] = '\xa9';
    }
    n += (size_t)sprintf(body + n, "\":1}");
    CHECK_STR(parse_n(body, n, &err, NULL), ERR_UNKNOWN_FIELD);
    CHECK(strlen(err.message) < 120);
    CHECK(utf8_valid(err.message, strlen(err.message), NULL));
    json_t *j = api_error_json(&err);
    CHECK(j != NULL);
    json_decref(j);

    /* A control character in a key cannot break the message. */
    CHECK_STR(parse("{\"code\":\"x\",\"a\\nb\":1}", &err), ERR_UNKNOWN_FIELD);
    CHECK(strchr(err.message, '\n') == NULL);
}

static void test_large_code(void) {
    /* A megabyte of code is fine for the parser; the size limit is HTTP's. */
    size_t len = 1 << 20, n = 0;
    char *body = malloc(len + 32);
    struct api_error err;
    struct run_request req;
    n += (size_t)sprintf(body, "{\"code\":\"");
    memset(body + n, 'a', len);
    n += len;
    n += (size_t)sprintf(body + n, "\"}");
    CHECK_STR(parse_n(body, n, &err, &req), "ok");
    CHECK(json_string_length(req.code) == len);
    request_free(&req);
    free(body);
}

static void test_media_type(void) {
    static const char *accepted[] = {
        NULL,
        "",
        "  ",
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "application/json; charset=\"utf-8\"",
        "application/json ; charset=utf8",
        "application/json; foo=bar",
    };
    static const char *refused[] = {
        "text/plain",
        "application/jsonx",
        "application/xml",
        "multipart/form-data; boundary=x",
        "json",
        "application/json; charset=latin1",
        "application/json; charset=utf-16",
        "text/plain; charset=utf-8",
        "*/*",
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
    };
    struct api_error err;
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++)
        CHECK(request_check_media_type(accepted[i], &err));
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        memset(&err, 0, sizeof err);
        CHECK(!request_check_media_type(refused[i], &err));
        CHECK(err.status == 415);
        CHECK_STR(err.code, ERR_UNSUPPORTED_MEDIA);
        CHECK(mentions(&err, "Content-Type"));
    }
}

static void test_size(void) {
    struct api_error err;
    CHECK(request_check_size(0, 1048576, &err));
    CHECK(request_check_size(1048576, 1048576, &err));
    CHECK(!request_check_size(1048577, 1048576, &err));
    CHECK(err.status == 413);
    CHECK_STR(err.code, ERR_BODY_TOO_LARGE);
    CHECK(mentions(&err, "1048576"));
    CHECK(!request_check_size(~0ULL, 1048576, &err));
}

static void test_utf8(void) {
    static const struct {
        const char *s;
        int ok;
        size_t bad;
    } cases[] = {
        {"\x7f", 1, 0},
        {"\xc2\x80", 1, 0},
        {"\xdf\xbf", 1, 0},
        {"\xe0\xa0\x80", 1, 0},
        {"\xef\xbf\xbf", 1, 0},
        {"\xf0\x90\x80\x80", 1, 0},
        {"\xf4\x8f\xbf\xbf", 1, 0},
        {"\xed\x9f\xbf", 1, 0},
        {"\xee\x80\x80", 1, 0},
        {"\xc1\xbf", 0, 0},
        {"\xe0\x9f\xbf", 0, 0},
        {"\xf0\x8f\xbf\xbf", 0, 0},
        {"\xed\xa0\x80", 0, 0},
        {"\xed\xbf\xbf", 0, 0},
        {"\xf4\x90\x80\x80", 0, 0},
        {"\xf5\x80\x80\x80", 0, 0},
        {"ab\xfe", 0, 2},
        {"abc\xe2\x82", 0, 3},
        {"a\xc3\x28", 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t bad = 999;
        int ok = utf8_valid(cases[i].s, strlen(cases[i].s), &bad);
        CHECK(ok == cases[i].ok);
        if (!cases[i].ok)
            CHECK(bad == cases[i].bad);
    }
    CHECK(utf8_valid("", 0, NULL));
    CHECK(utf8_valid("a\0b", 3, NULL)); /* NUL is valid UTF-8; JSON rules it out */
}

static void test_error_json(void) {
    struct api_error err;
    api_error_set(&err, 404, ERR_NOT_FOUND, "no such resource: %s", "/x");
    json_t *j = api_error_json(&err);
    char *s = json_dumps(j, JSON_COMPACT);
    CHECK_STR(
        s,
        "{\"ok\":false,\"error\":{\"code\":\"not_found\",\"message\":\"no such resource: /x\"}}");
    free(s);
    json_decref(j);
    CHECK_STR(run_mode_name(RUN_EXEC), "exec");
    CHECK_STR(run_mode_name(RUN_EVAL), "eval");
}

/* dynamic, return, timeout_ms, session, and the per-route field sets. */
static void test_run_fields(void) {
    struct api_error err;
    struct run_request req;
    const char *full = "{\"code\":\"x\",\"dynamic\":{\"u\":1},\"return\":[\"a\",\"b\"],"
                       "\"timeout_ms\":250,\"session\":\"r1-abc_DEF\"}";

    CHECK_STR(parse_n(full, strlen(full), &err, &req), "ok");
    CHECK(json_integer_value(json_object_get(req.dynamic, "u")) == 1);
    CHECK(json_array_size(req.ret) == 2);
    CHECK(req.timeout_ms == 250);
    CHECK_STR(json_string_value(req.session), "r1-abc_DEF");
    request_free(&req);

    /* Defaults are filled in, so the body can be forwarded as is. */
    CHECK_STR(parse_n("{\"code\":\"x\"}", 12, &err, &req), "ok");
    CHECK(json_is_object(json_object_get(req.root, "dynamic")));
    CHECK_STR(json_string_value(json_object_get(req.root, "return")), "data");
    CHECK(req.timeout_ms == 0 && req.session == NULL);
    request_free(&req);

    CHECK_STR(parse("{\"code\":\"x\",\"return\":\"all\"}", &err), "ok");
    CHECK_STR(parse("{\"code\":\"x\",\"return\":[]}", &err), "ok");
    CHECK_STR(parse("{\"code\":\"x\",\"return\":\"some\"}", &err), ERR_INVALID_VALUE);
    CHECK(mentions(&err, "'return'"));
    CHECK_STR(parse("{\"code\":\"x\",\"return\":3}", &err), ERR_INVALID_TYPE);
    CHECK_STR(parse("{\"code\":\"x\",\"return\":[\"a\",1]}", &err), ERR_INVALID_TYPE);
    CHECK(mentions(&err, "item 1"));
    CHECK_STR(parse("{\"code\":\"x\",\"dynamic\":[]}", &err), ERR_INVALID_TYPE);
    CHECK(mentions(&err, "'dynamic'"));
    CHECK_STR(parse("{\"code\":\"x\",\"timeout_ms\":0}", &err), ERR_INVALID_VALUE);
    CHECK_STR(parse("{\"code\":\"x\",\"timeout_ms\":-1}", &err), ERR_INVALID_VALUE);
    CHECK_STR(parse("{\"code\":\"x\",\"timeout_ms\":1.5}", &err), ERR_INVALID_TYPE);
    CHECK_STR(parse("{\"code\":\"x\",\"timeout_ms\":\"5\"}", &err), ERR_INVALID_TYPE);
    CHECK(mentions(&err, "'timeout_ms'"));
    CHECK_STR(parse("{\"code\":\"x\",\"timeout_ms\":99999999999}", &err), "ok"); /* capped later */
    CHECK_STR(parse("{\"code\":\"x\",\"session\":5}", &err), ERR_INVALID_TYPE);
    /* An id that cannot exist is an unknown session. */
    CHECK_STR(parse("{\"code\":\"x\",\"session\":\"a/b\"}", &err), ERR_SESSION_NOT_FOUND);
    CHECK(err.status == 404);
    CHECK_STR(parse("{\"code\":\"x\",\"session\":\"\"}", &err), ERR_SESSION_NOT_FOUND);

    /* Session creation: only a scope, and the body may be empty. */
    CHECK(request_parse(REQ_SESSION_CREATE, "", 0, &req, &err));
    CHECK(json_is_object(req.scope) && req.code == NULL);
    request_free(&req);
    CHECK(request_parse(REQ_SESSION_CREATE, "{\"scope\":{\"a\":1}}", 17, &req, &err));
    request_free(&req);
    CHECK(!request_parse(REQ_SESSION_CREATE, "{\"scope\":[]}", 12, &req, &err));
    CHECK_STR(err.code, ERR_INVALID_TYPE);
    CHECK(!request_parse(REQ_SESSION_RUN, "{}", 2, &req, &err));
    CHECK_STR(err.code, ERR_MISSING_FIELD);

    CHECK(session_id_valid("abc-DEF_09", 10));
    CHECK(!session_id_valid("", 0));
    CHECK(!session_id_valid("a.b", 3));
    char longid[SESSION_ID_MAX + 2];
    memset(longid, 'a', sizeof longid);
    CHECK(session_id_valid(longid, SESSION_ID_MAX));
    CHECK(!session_id_valid(longid, SESSION_ID_MAX + 1));
}

/* request_parse_kept gives request_parse's answer for every body, and takes
 * the large members on their bytes only where it is sure (stand_ins). */
static char *big_body(const char *before, const char *after) {
    size_t n = 2000, len = strlen(before) + n + strlen(after) + 1;
    char *b = malloc(len);
    snprintf(b, len, "%s", before);
    memset(b + strlen(before), 'x', n);
    snprintf(b + strlen(before) + n, len - strlen(before) - n, "%s", after);
    return b;
}

static void check_kept(const char *before, const char *after, const char *want, bool stand_ins) {
    char *body = big_body(before, after);
    size_t len = strlen(body);
    struct run_request a, b;
    struct api_error ea, eb;
    bool oka, okb;

    memset(&ea, 0, sizeof ea);
    memset(&eb, 0, sizeof eb);
    oka = request_parse(REQ_RUN, body, len, &a, &ea);
    okb = request_parse_kept(body, len, &b, &eb);
    CHECK(oka == okb);
    CHECK_STR(okb ? "ok" : eb.code, want);
    if (!oka && !okb)
        CHECK_STR(eb.message, ea.message);
    if (oka && okb) {
        CHECK(b.body == body && b.body_len == len);
        CHECK(b.stand_ins == stand_ins);
        CHECK(a.mode == b.mode && a.timeout_ms == b.timeout_ms && a.memory_mb == b.memory_mb &&
              a.output_cap == b.output_cap);
        CHECK(json_equal(a.code, b.code) && json_equal(a.ret, b.ret));
        if (!stand_ins)
            CHECK(json_equal(a.root, b.root));
    }
    if (oka)
        request_free(&a);
    if (okb)
        request_free(&b);
    free(body);
}

static void test_kept_body(void) {
    /* Taken on its bytes: a large scope, a large dynamic. */
    check_kept("{\"code\":\"len(b)\",\"mode\":\"eval\",\"timeout_ms\":50,\"scope\":{\"b\":\"",
               "\"}}", "ok", true);
    check_kept("{\"code\":\"x\",\"dynamic\":{\"d\":[{\"a\":1,\"b\":{\"a\":2}},\"",
               "\"]},\"memory_mb\":9}", "ok", true);
    /* Large, but the large part is not an object member: parsed. */
    check_kept("{\"code\":\"#", "\",\"return\":[\"a\"]}", "ok", false);
    /* Left to request_parse, with its errors: a key twice deep inside, a key
     * written with escapes, a top-level key twice, unknown, a session, a
     * bad value beside the scope, a value jansson refuses, not JSON. */
    check_kept("{\"code\":\"x\",\"scope\":{\"b\":{\"k\":1,\"k\":2},\"c\":\"", "\"}}",
               "invalid_json", false);
    check_kept("{\"code\":\"x\",\"scope\":{\"\\u0062\":1,\"b\":\"", "\"}}", "invalid_json", false);
    check_kept("{\"code\":\"x\",\"scope\":{\"\\u0062\":1,\"c\":\"", "\"}}", "ok", false);
    check_kept("{\"code\":\"x\",\"code\":\"y\",\"scope\":{\"c\":\"", "\"}}", "invalid_json", false);
    check_kept("{\"code\":\"x\",\"cope\":1,\"scope\":{\"c\":\"", "\"}}", "unknown_field", false);
    check_kept("{\"code\":\"x\",\"session\":\"s1\",\"scope\":{\"c\":\"", "\"}}", "ok", false);
    check_kept("{\"code\":\"x\",\"mode\":\"run\",\"scope\":{\"c\":\"", "\"}}", "invalid_value",
               false);
    check_kept("{\"code\":\"\",\"scope\":{\"c\":\"", "\"}}", "invalid_value", false);
    check_kept("{\"code\":\"x\",\"scope\":{\"n\":123456789012345678901234,\"c\":\"", "\"}}",
               "invalid_value", false);
    check_kept("{\"code\":\"x\",\"scope\":{\"n\":NaN,\"c\":\"", "\"}}", "invalid_json", false);
    check_kept("{\"code\":\"x\",\"scope\":[\"", "\"]}", "invalid_type", false);
    check_kept("{\"scope\":{\"c\":\"", "\"}}", "missing_field", false);
    check_kept("{\"code\":\"x\",\"scope\":{\"c\":\"\xff", "\"}}", "invalid_encoding", false);
}

int main(void) {
    test_valid();
    test_invalid_json();
    test_invalid_encoding();
    test_invalid_request();
    test_missing_field();
    test_invalid_type();
    test_invalid_value();
    test_unknown_field();
    test_run_fields();
    test_large_code();
    test_media_type();
    test_size();
    test_utf8();
    test_error_json();
    test_kept_body();
    return check_report();
}
