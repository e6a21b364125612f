#include "rawjson.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t skip_ws(const char *t, size_t i, size_t len) {
    while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
        i++;
    return i;
}

/* t[i] is the opening quote; returns the index just past the closing one,
 * or len if there is none. */
static size_t skip_string(const char *t, size_t i, size_t len) {
    for (i++; i < len; i++) {
        if (t[i] == '\\')
            i++;
        else if (t[i] == '"')
            return i + 1;
    }
    return len;
}

/* A value starting at t[i]: returns the index of the ',' or '}' that ends
 * it at depth 0, or len if it does not end. */
static size_t skip_value(const char *t, size_t i, size_t len) {
    size_t depth = 0;
    while (i < len) {
        char c = t[i];
        if (c == '"') {
            i = skip_string(t, i, len);
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return c == '}' ? i : len;
            depth--;
        } else if (c == ',' && depth == 0) {
            return i;
        }
        i++;
    }
    return len;
}

bool rawjson_members(const char *t, size_t len,
                     bool (*fn)(void *arg, const struct rawjson_member *m), void *arg) {
    size_t i = skip_ws(t, 0, len);
    struct rawjson_member m;

    if (i >= len || t[i] != '{')
        return false;
    i = skip_ws(t, i + 1, len);
    if (i < len && t[i] == '}')
        return true;
    for (;;) {
        size_t key_end, end, v;
        if (i >= len || t[i] != '"')
            return false;
        key_end = skip_string(t, i, len);
        if (key_end >= len)
            return false;
        m.key = t + i + 1;
        m.key_len = key_end - i - 2;
        i = skip_ws(t, key_end, len);
        if (i >= len || t[i] != ':')
            return false;
        v = skip_ws(t, i + 1, len);
        end = skip_value(t, v, len);
        if (end >= len || end == v)
            return false;
        i = end;
        while (end > v && (t[end - 1] == ' ' || t[end - 1] == '\t' || t[end - 1] == '\n' ||
                           t[end - 1] == '\r'))
            end--;
        m.value = t + v;
        m.value_len = end - v;
        if (!fn(arg, &m))
            return false;
        if (t[i] == '}')
            return true;
        i = skip_ws(t, i + 1, len); /* past the comma */
    }
}

bool rawjson_key_is(const struct rawjson_member *m, const char *name) {
    return strlen(name) == m->key_len && memcmp(m->key, name, m->key_len) == 0;
}

void rawjson_buf_reserve(struct rawjson_buf *b, size_t n) {
    char *p;
    if (b->failed || b->len + n + 1 <= b->cap)
        return;
    p = realloc(b->data, b->len + n + 1);
    if (p == NULL) {
        b->failed = true;
        return;
    }
    b->data = p;
    b->cap = b->len + n + 1;
}

void rawjson_buf_add(struct rawjson_buf *b, const char *bytes, size_t n) {
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;
        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->data, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void rawjson_buf_str(struct rawjson_buf *b, const char *s) {
    rawjson_buf_add(b, s, strlen(s));
}

void rawjson_buf_printf(struct rawjson_buf *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof small) {
        b->failed = true; /* only short host fields are printed */
        return;
    }
    rawjson_buf_add(b, small, (size_t)n);
}

void rawjson_buf_member(struct rawjson_buf *b, bool *first, const struct rawjson_member *m) {
    if (!*first)
        rawjson_buf_add(b, ",", 1);
    *first = false;
    rawjson_buf_add(b, "\"", 1);
    rawjson_buf_add(b, m->key, m->key_len);
    rawjson_buf_add(b, "\":", 2);
    rawjson_buf_add(b, m->value, m->value_len);
}

char *rawjson_buf_take(struct rawjson_buf *b, size_t *len) {
    char *p;
    if (b->failed || b->data == NULL) {
        rawjson_buf_free(b);
        return NULL;
    }
    p = b->data;
    *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void rawjson_buf_free(struct rawjson_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}
