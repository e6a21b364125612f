/* server/rawjson.c: top-level members of a JSON object as written, with
 * nested strings, escapes and containers skipped whole. */
#include <stdlib.h>
#include <string.h>

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
    const char *t =
        " { \"a\" : 0.1 , \"b\":\"x,}\\\"]\", \"c\":{\"d\":[1,{\"e\":\"}\"}]},\"\\u0074\":-0.0 } ";
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

int main(void) {
    test_members();
    test_malformed();
    test_buf();
    return check_report();
}
