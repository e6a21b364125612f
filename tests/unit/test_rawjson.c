/* server/rawjson.c: top-level members of a JSON object as written, with
 * nested strings, escapes and containers skipped whole. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "rawjson.h"

struct seen {
    char keys[16][32], values[16][64];
    int n;
};

static bool collect(void *arg, const struct rawjson_member *m) {
    struct seen *s = arg;
    if (s->n == 16)
        return false;
    snprintf(s->keys[s->n], 32, "%.*s", (int)m->key_len, m->key);
    snprintf(s->values[s->n], 64, "%.*s", (int)m->value_len, m->value);
    s->n++;
    return true;
}

static void test_members(void) {
    struct seen s = {0};
    const char *t = " { \"a\" : 0.1 , \"b\":\"x,}\\\"]\", "
                    "\"c\":{\"d\":[1,{\"e\":\"}\"}]},\"\\u0074\":-0.0 } ";
    CHECK(rawjson_members(t, strlen(t), collect, &s));
    CHECK(s.n == 4);
    CHECK_STR(s.keys[0], "a");
    CHECK_STR(s.values[0], "0.1");
    CHECK_STR(s.values[1], "\"x,}\\\"]\"");
    CHECK_STR(s.values[2], "{\"d\":[1,{\"e\":\"}\"}]}");
    CHECK_STR(s.keys[3], "\\u0074");
    CHECK_STR(s.values[3], "-0.0");
    memset(&s, 0, sizeof s);
    CHECK(rawjson_members("{}", 2, collect, &s) && s.n == 0);
}

static void test_malformed(void) {
    static const char *bad[] = {"",        "[]",         "{",           "{\"a\"",
                                "{\"a\":", "{\"a\":}",   "{\"a\":1",    "{\"a\":1,",
                                "{a:1}",   "{\"a\":[1}", "{\"a\":\"1}", "1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct seen s = {0};
        CHECK(!rawjson_members(bad[i], strlen(bad[i]), collect, &s));
    }
}

static void test_buf(void) {
    struct rawjson_buf b = {0};
    struct rawjson_member m = {"k", 1, "1e-07", 5};
    bool first = true;
    size_t len;
    char *p;
    rawjson_buf_add(&b, "{", 1);
    rawjson_buf_member(&b, &first, &m);
    rawjson_buf_member(&b, &first, &m);
    rawjson_buf_printf(&b, ",\"n\":%d}", 7);
    p = rawjson_buf_take(&b, &len);
    CHECK_STR(p, "{\"k\":1e-07,\"k\":1e-07,\"n\":7}");
    CHECK(len == strlen(p));
    free(p);
}

/* rawjson_valid: what it takes, jansson takes too; what it leaves, it leaves
 * for one of jansson's errors or for a form it does not decide itself. */
static void check_valid(const char *text, size_t len, bool want) {
    bool got = rawjson_valid(text, len);
    json_t *j = json_loadb(text, len, JSON_ALLOW_NUL, NULL);
    CHECK(got == want);
    if (got != want)
        fprintf(stderr, "  rawjson_valid(%.*s) = %d\n", (int)len, text, got);
    if (got)
        CHECK(json_is_object(j));
    json_decref(j);
}

static void test_valid(void) {
    static const char *const yes[] = {
        "{}",
        " {\n}\r\n\t",
        "{\"a\":1}",
        "{\"a\":[1,-2,0,-0,3.25,1e5,1E+2,2e-400,-0.0e0]}",
        "{\"a\":{\"b\":{\"c\":[[],{},[{}]]}},\"a\":null}",
        "{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"}",
        "{\"s\":\"\\ud83d\\ude00 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}",
        "{\"t\":true,\"f\":false,\"n\":null,\"i\":999999999999999999}",
        "{\"type\":\"result\",\"id\":7,\"ok\":true,\"scope\":{\"x\":\"x]}\"}}",
    };
    static const char *const no[] = {
        "",
        " ",
        "[]",
        "1",
        "\"s\"",
        "{",
        "}",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{,}",
        "{\"a\":1 \"b\":2}",
        "{\"a\":[1,]}",
        "{\"a\":[1 2]}",
        "{\"a\":1]",
        "{\"a\":[1}",
        "{} {}",
        "{}x",
        "{a:1}",
        "{'a':1}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":1e}",
        "{\"a\":+1}",
        "{\"a\":-}",
        "{\"a\":0x1}",
        "{\"a\":tru}",
        "{\"a\":nul}",
        "{\"a\":True}",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
        "{\"a\":\"\t\"}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\udc00\"}",
        "{\"a\":\"\\ud800\\u0041\"}",
        "{\"a\":\"\xc0\xaf\"}",
        "{\"a\":\"\xed\xa0\x80\"}",
        "{\"a\":\"\xf4\x90\x80\x80\"}",
        "{\"a\":\"\xe2\x82\"}",
        "{\"a\":\"\x80\"}",
        "{\"a\":\"unterminated}",
        /* jansson's to decide: past 64 bits, maybe past DBL_MAX, a NUL */
        "{\"a\":9223372036854775807}",
        "{\"a\":1e400}",
        "{\"a\":1e9999}",
        "{\"a\":\"\\u0000\"}",
        "{\"\\u0000\":1}",
    };
    char deep[700];
    size_t n = 0;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        check_valid(yes[i], strlen(yes[i]), true);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        check_valid(no[i], strlen(no[i]), false);
    check_valid("{\"a\":\"\0\"}", 8, false); /* a raw NUL byte */
    deep[n++] = '{';
    deep[n++] = '"', deep[n++] = 'a', deep[n++] = '"', deep[n++] = ':';
    for (int i = 0; i < 300; i++)
        deep[n++] = '[';
    for (int i = 0; i < 300; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    check_valid(deep, n, false); /* deeper than it follows */
}

/* Strings long enough for the 16-byte steps (plain_run): each kind of byte
 * a string must look at, at every offset across two steps and the tail. */
static void test_valid_long(void) {
    static const struct {
        const char *bytes;
        bool ok;
    } inner[] = {
        {"\\n", true},
        {"\\\"", true},
        {"\\u00e9", true},
        {"\xc3\xa9", true},
        {"\xf0\x9f\x98\x80", true},
        {"\t", false},
        {"\x1f", false},
        {"\x7f", true},
        {"\x80", false},
        {"\xc0\xaf", false},
        {"\\x", false},
        {"\"", false}, /* ends the string: then junk */
    };
    char text[128];
    for (size_t k = 0; k < sizeof inner / sizeof inner[0]; k++) {
        for (size_t at = 0; at <= 40; at++) {
            size_t n = 0, m = strlen(inner[k].bytes);
            n += (size_t)sprintf(text, "{\"s\":\"");
            memset(text + n, 'x', at), n += at;
            memcpy(text + n, inner[k].bytes, m), n += m;
            memset(text + n, 'y', 40 - at), n += 40 - at;
            n += (size_t)sprintf(text + n, "\"}");
            check_valid(text, n, inner[k].ok);
            /* Unterminated at every length: never valid, never read past. */
            check_valid(text, 6 + at, false);
        }
    }
}

static const char *const pick_names[] = {"code", "scope", "mode"};

static bool pick(const char *t, bool others_ok, struct rawjson_member *m) {
    return rawjson_pick(t, strlen(t), pick_names, 3, others_ok, m);
}

static void test_pick(void) {
    struct rawjson_member m[3];
    const char *t = "{\"scope\": {\"code\": 1} , \"code\":\"x,\\\"}\"}";
    CHECK(pick(t, false, m));
    CHECK(m[0].value != NULL && m[0].value_len == 7 && memcmp(m[0].value, "\"x,\\\"}\"", 7) == 0);
    CHECK(m[1].value != NULL && m[1].value_len == 11 &&
          memcmp(m[1].value, "{\"code\": 1}", 11) == 0);
    CHECK(m[2].value == NULL); /* absent */
    CHECK(pick("{}", false, m) && !m[0].value && !m[1].value && !m[2].value);
    /* A key that is none of the names: only when others are allowed. */
    CHECK(!pick("{\"code\":1,\"other\":2}", false, m));
    CHECK(pick("{\"code\":1,\"other\":2}", true, m) && m[0].value_len == 1);
    /* A name twice: the bytes cannot say which one jansson keeps. */
    CHECK(!pick("{\"code\":1,\"code\":2}", true, m));
    /* Escapes in any key: "\u0063ode" is "code" once decoded. */
    CHECK(!pick("{\"\\u0063ode\":1}", true, m));
    CHECK(!pick("{\"code\":1,\"o\\nther\":2}", true, m));
    /* Not an object. */
    CHECK(!pick("[1]", true, m));
    CHECK(!pick("{\"code\":", true, m));
}

int main(void) {
    test_pick();
    test_members();
    test_malformed();
    test_buf();
    test_valid();
    test_valid_long();
    return check_report();
}
