/* libFuzzer target: the scanner that forwards a worker's answer as written
 * (server/rawjson.c); its input is what a compromised worker can send.
 * Checks: it never reads outside the input; every member span lies inside
 * it; and for an object jansson accepts (with keys free of escapes), the
 * members are jansson's, each value re-parsing to the same JSON; and
 * whatever rawjson_valid accepts is an object jansson accepts; and
 * rawjson_pick picks exactly the members the walk reports, refusing just
 * when a key is escaped, a name comes twice or (when told) a key is none of
 * the names. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rawjson.h"

#define SEEN_MAX 64

struct ctx {
    const char *text;
    size_t len;
    json_t *obj; /* NULL if jansson refused the input */
    size_t n;
    bool escaped;
    struct rawjson_member seen[SEEN_MAX]; /* the first members, as walked */
};

/* Names short enough for the fuzzer to hit, and a request's. */
static const char *const names[] = {"a", "b", "code", "scope", ""};
#define N_NAMES (sizeof names / sizeof names[0])

static bool check(void *arg, const struct rawjson_member *m) {
    struct ctx *c = arg;
    if (m->key < c->text || m->key + m->key_len > c->text + c->len || m->value < c->text ||
        m->value + m->value_len > c->text + c->len || m->value_len == 0)
        abort();
    if (c->n < SEEN_MAX)
        c->seen[c->n] = *m;
    c->n++;
    if (memchr(m->key, '\\', m->key_len) != NULL)
        c->escaped = true;
    if (c->obj != NULL && !c->escaped) {
        char *key = strndup(m->key, m->key_len);
        json_t *want = json_object_get(c->obj, key);
        json_t *got = json_loadb(m->value, m->value_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        /* Duplicate keys: jansson keeps the last; compare only unique ones. */
        if (want == NULL || got == NULL)
            abort();
        json_decref(got);
        free(key);
    }
    return true;
}

/* What rawjson_pick must answer, from the members the walk reported. */
static void check_pick(const struct ctx *c, bool walked, bool others_ok) {
    struct rawjson_member out[N_NAMES];
    bool ok = rawjson_pick(c->text, c->len, names, N_NAMES, others_ok, out), want = true;
    size_t count[N_NAMES] = {0};
    const struct rawjson_member *first[N_NAMES] = {0};

    if (!walked) { /* not shaped like an object: nothing picked from it */
        if (ok)
            abort();
        return;
    }
    if (c->n > SEEN_MAX)
        return; /* not all members kept: no oracle */
    for (size_t k = 0; k < c->n; k++) {
        const struct rawjson_member *m = &c->seen[k];
        bool named = false;
        if (memchr(m->key, '\\', m->key_len) != NULL)
            want = false;
        for (size_t i = 0; i < N_NAMES; i++) {
            if (rawjson_key_is(m, names[i])) {
                named = true;
                if (count[i]++ == 0)
                    first[i] = m;
                else
                    want = false;
            }
        }
        if (!named && !others_ok)
            want = false;
    }
    if (ok != want)
        abort();
    if (!ok)
        return;
    for (size_t i = 0; i < N_NAMES; i++) {
        if (count[i] == 0
                ? out[i].value != NULL
                : out[i].value != first[i]->value || out[i].value_len != first[i]->value_len ||
                      out[i].key != first[i]->key)
            abort();
    }
}

/* libFuzzer's entry point; libFuzzer has no header that declares it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct ctx c = {(const char *)data, size, NULL, 0, false};
    char *copy = malloc(size ? size : 1); /* exactly the input: ASan sees overreads */
    bool ok;
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    c.text = copy;
    c.obj = json_loadb(copy, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (c.obj != NULL && !json_is_object(c.obj)) {
        json_decref(c.obj);
        c.obj = NULL;
    }
    /* What the validator takes (answers forwarded unparsed), jansson takes. */
    if (rawjson_valid(copy, size) && c.obj == NULL)
        abort();
    ok = rawjson_members(copy, size, check, &c);
    if (c.obj != NULL && (!ok || (!c.escaped && c.n < json_object_size(c.obj))))
        abort();
    check_pick(&c, ok, false);
    check_pick(&c, ok, true);
    json_decref(c.obj);
    free(copy);
    return 0;
}
