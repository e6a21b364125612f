/* server/keys.c: the keys file format, every error naming its line and never
 * a key, the bearer header, the lookup, and usage carried across reloads. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "keys.h"

#define A "alice-0123456789abcdef"
#define B "bob+/~._-0123456789=="

static struct keyring *parse(const char *text, char *err) {
    return keyring_parse(text, strlen(text), 3, 2, err, 256);
}

static void test_parse(void) {
    char err[256];
    struct keyring *r = parse("# comment\n\n  alice " A " runs=1 sessions=0\r\nbob\t" B "\n", err);
    CHECK(r != NULL);
    if (r == NULL)
        return;
    CHECK(r->n == 2);
    CHECK_STR(r->keys[0].name, "alice");
    CHECK(r->keys[0].max_runs == 1 && r->keys[0].max_sessions == 0);
    CHECK_STR(r->keys[1].name, "bob");
    CHECK(r->keys[1].max_runs == 3 && r->keys[1].max_sessions == 2); /* the defaults */
    CHECK(r->keys[1].secret_len == strlen(B));
    CHECK(keyring_find(r, A, strlen(A)) == &r->keys[0]);
    CHECK(keyring_find(r, B, strlen(B)) == &r->keys[1]);
    CHECK(keyring_find(r, A, strlen(A) - 1) == NULL);
    CHECK(keyring_find(r, A "x", strlen(A) + 1) == NULL);
    CHECK(keyring_find(r, "", 0) == NULL);
    CHECK(keyring_find(r, "alice-0123456789abcdeF", strlen(A)) == NULL);
    keyring_release(r);
    r = parse("last " A, err); /* no newline at the end */
    CHECK(r != NULL && r->n == 1);
    keyring_release(r);
}

static void test_errors(void) {
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"", "no keys"},
        {"# nothing\n   \n", "no keys"},
        {"alice\n", "line 1"},
        {"alice short\n", "line 1"},
        {"ok " A "\nalice " B " runs=x\n", "line 2"},
        {"alice " A " runs=1000001\n", "runs=N"},
        {"alice " A " color=red\n", "runs=N"},
        {"alice " A " runs\n", "runs=N"},
        {"alice " A "\nalice " B "\n", "listed twice"},
        {"alice " A "\nbob " A "\n", "same key"},
        {"al/ice " A "\n", "name"},
        {"alice alice-0123456789abcdef!\n", "line 1"},
        {"alice alice-01234=56789abcdef\n", "line 1"},
        {"a b c d e f g h i\n", "too many"},
    };
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK(parse(bad[i].text, err) == NULL);
        if (strstr(err, bad[i].why) == NULL)
            fprintf(stderr, "case %zu: '%s' lacks '%s'\n", i, err, bad[i].why);
        CHECK(strstr(err, bad[i].why) != NULL);
        CHECK(strstr(err, A) == NULL && strstr(err, B) == NULL); /* never echoes a key */
    }
    CHECK(keyring_parse("alice " A "\0x", strlen(A) + 8, 1, 1, err, sizeof err) == NULL);
    CHECK(strstr(err, "NUL") != NULL);
    {
        char name[80], text[200];
        memset(name, 'n', 65);
        name[65] = '\0';
        snprintf(text, sizeof text, "%s %s\n", name, A);
        CHECK(parse(text, err) == NULL);
        name[64] = '\0';
        snprintf(text, sizeof text, "%s %s\n", name, A);
        struct keyring *r = parse(text, err);
        CHECK(r != NULL);
        keyring_release(r);
    }
}

static void test_bearer(void) {
    const char *tok;
    size_t len;
    CHECK(keys_bearer_token("Bearer abc", &tok, &len) && len == 3 && memcmp(tok, "abc", 3) == 0);
    CHECK(keys_bearer_token("  bearer \t abc  ", &tok, &len) && len == 3);
    CHECK(keys_bearer_token("BEARER x", &tok, &len) && len == 1);
    CHECK(!keys_bearer_token(NULL, &tok, &len));
    CHECK(!keys_bearer_token("", &tok, &len));
    CHECK(!keys_bearer_token("Bearer", &tok, &len));
    CHECK(!keys_bearer_token("Bearer   ", &tok, &len));
    CHECK(!keys_bearer_token("Basic abc", &tok, &len));
    CHECK(!keys_bearer_token("Bearerabc", &tok, &len));
}

static void test_reload_carries_usage(void) {
    char err[256];
    struct keyring *old = parse("alice " A "\nbob " B "\n", err);
    struct keyring *next = parse("bob " B " runs=9\ncarol carol-0123456789abcdef\n", err);
    CHECK(old != NULL && next != NULL);
    if (old == NULL || next == NULL)
        return;
    atomic_store(&old->keys[1].usage->runs, 2);
    keyring_carry_usage(next, old);
    CHECK(next->keys[0].usage == old->keys[1].usage);
    CHECK(atomic_load(&next->keys[0].usage->runs) == 2);
    CHECK(next->keys[0].max_runs == 9);
    CHECK(atomic_load(&next->keys[1].usage->runs) == 0);
    keyring_release(old); /* bob's usage lives on in `next` */
    CHECK(atomic_load(&next->keys[0].usage->runs) == 2);
    keyring_release(next);
}

int main(void) {
    test_parse();
    test_errors();
    test_bearer();
    test_reload_carries_usage();
    return check_report();
}
