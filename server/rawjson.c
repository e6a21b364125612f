#include "rawjson.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static size_t skip_ws(const char *t, size_t i, size_t len) {
    while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
        i++;
    return i;
}

/* t[i] is the opening quote; returns the index just past the closing one,
 * or len if there is none. A quote closes the string unless an odd run of
 * backslashes comes right before it; memchr finds the quotes, so a large
 * string (a scope's blob) is crossed at memchr's speed, not a byte a turn. */
static size_t skip_string(const char *t, size_t i, size_t len) {
    size_t start = ++i;
    while (i < len) {
        const char *q = memchr(t + i, '"', len - i);
        size_t j, run = 0;
        if (q == NULL)
            return len;
        j = (size_t)(q - t);
        while (j - run > start && t[j - run - 1] == '\\')
            run++;
        if (run % 2 == 0)
            return j + 1;
        i = j + 1;
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

/* ---- rawjson_valid ---------------------------------------------------------
 * Each scanner gets t[i] at the start of its token and returns the index just
 * past it, or 0 (never a valid end: the object's '{' is at 0 or later) when
 * it is not certainly valid. */

#define VALID_DEPTH_MAX 256

static int hex4(const char *t, size_t i, size_t len) {
    int v = 0;
    if (len - i < 4)
        return -1;
    for (size_t k = i; k < i + 4; k++) {
        char c = t[k];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

/* One UTF-8 sequence at t[i] (a byte >= 0x80), as jansson's utf.c checks
 * it: no overlong forms, no surrogates, nothing past U+10FFFF. */
static size_t valid_utf8(const unsigned char *t, size_t i, size_t len) {
    unsigned c = t[i];
    size_t n;
    unsigned long cp;
    if (c >= 0xC2 && c <= 0xDF)
        n = 1, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 2, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 3, cp = c & 0x07;
    else
        return 0;
    if (len - i <= n)
        return 0;
    for (size_t k = 1; k <= n; k++) {
        if ((t[i + k] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (t[i + k] & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return i + n + 1;
}

/* The index of the first byte at or after u[i] that a string cannot hold as
 * it is: '"', '\\', a control byte or one >= 0x80 (UTF-8 to check); len if
 * none. A scope's blob is mostly such plain bytes, and a byte a turn made
 * this scan most of the host's CPU for a 100 KB request (perf: valid_string
 * 7% of the machine under wrk, the request's and the answer's passes). */
static size_t plain_run(const unsigned char *u, size_t i, size_t len) {
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'),
                  space = _mm_set1_epi8(0x20);
    while (len - i >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(u + i));
        /* A signed compare: bytes >= 0x80 are negative, so below 0x20 too. */
        __m128i odd =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                         _mm_cmplt_epi8(v, space));
        unsigned mask = (unsigned)_mm_movemask_epi8(odd);
        if (mask != 0)
            return i + (size_t)__builtin_ctz(mask);
        i += 16;
    }
#endif
    while (i < len && u[i] >= 0x20 && u[i] < 0x80 && u[i] != '"' && u[i] != '\\')
        i++;
    return i;
}

static size_t valid_string(const char *t, size_t i, size_t len) {
    const unsigned char *u = (const unsigned char *)t;
    for (i++; (i = plain_run(u, i, len)) < len;) {
        unsigned char c = u[i];
        if (c == '"')
            return i + 1;
        if (c < 0x20)
            return 0;
        if (c >= 0x80) {
            if ((i = valid_utf8(u, i, len)) == 0)
                return 0;
            continue;
        }
        /* plain_run stopped here, so it is a backslash. */
        if (++i >= len)
            return 0;
        if (strchr("\"\\/bfnrt", t[i]) != NULL && t[i] != '\0') {
            i++;
            continue;
        }
        if (t[i] != 'u')
            return 0;
        {
            int cp = hex4(t, i + 1, len), lo;
            if (cp <= 0 || (cp >= 0xDC00 && cp <= 0xDFFF)) /* \u0000 or a lone low half */
                return 0;
            i += 5;
            if (cp >= 0xD800 && cp <= 0xDBFF) { /* a high half needs its low one */
                if (len - i < 6 || t[i] != '\\' || t[i + 1] != 'u')
                    return 0;
                lo = hex4(t, i + 2, len);
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return 0;
                i += 6;
            }
        }
    }
    return 0;
}

static size_t digits(const char *t, size_t i, size_t len) {
    while (i < len && t[i] >= '0' && t[i] <= '9')
        i++;
    return i;
}

/* jansson's number grammar; an integer must fit 64 bits and a real must
 * stay finite, which only short forms are taken to do. */
static size_t valid_number(const char *t, size_t i, size_t len) {
    size_t int_start, int_end, exp_start, exp_end;
    bool real = false;
    long exp = 0;
    if (t[i] == '-')
        i++;
    int_start = i;
    if (i < len && t[i] == '0')
        int_end = i + 1;
    else if (i < len && t[i] >= '1' && t[i] <= '9')
        int_end = digits(t, i, len);
    else
        return 0;
    i = int_end;
    if (i < len && t[i] >= '0' && t[i] <= '9') /* a leading zero */
        return 0;
    if (i < len && t[i] == '.') {
        size_t f = digits(t, i + 1, len);
        if (f == i + 1)
            return 0;
        i = f;
        real = true;
    }
    if (i < len && (t[i] == 'e' || t[i] == 'E')) {
        bool neg = false;
        i++;
        if (i < len && (t[i] == '+' || t[i] == '-'))
            neg = t[i++] == '-';
        exp_start = i;
        exp_end = digits(t, i, len);
        if (exp_end == exp_start || exp_end - exp_start > 3)
            return 0;
        for (size_t k = exp_start; k < exp_end; k++)
            exp = exp * 10 + (t[k] - '0');
        if (neg)
            exp = -exp;
        i = exp_end;
        real = true;
    }
    if (!real)
        return int_end - int_start <= 18 ? i : 0;
    /* Below 10^(digits + exp) <= 10^300: finite (underflow is accepted). */
    return (long)(int_end - int_start) + exp <= 300 ? i : 0;
}

static size_t valid_literal(const char *t, size_t i, size_t len) {
    static const char *const words[] = {"true", "false", "null"};
    for (size_t k = 0; k < 3; k++) {
        size_t n = strlen(words[k]);
        if (len - i >= n && memcmp(t + i, words[k], n) == 0)
            return i + n;
    }
    return 0;
}

bool rawjson_valid(const char *t, size_t len) {
    enum { WANT_VALUE, WANT_KEY, WANT_KEY_OR_CLOSE, WANT_VALUE_OR_CLOSE, AFTER_VALUE } st;
    char stack[VALID_DEPTH_MAX];
    size_t depth = 0, i = skip_ws(t, 0, len);

    if (i >= len || t[i] != '{')
        return false;
    stack[depth++] = '}';
    st = WANT_KEY_OR_CLOSE;
    i++;
    for (;;) {
        char c;
        i = skip_ws(t, i, len);
        if (i >= len)
            return false;
        c = t[i];
        /* The closer of the innermost container, where one may come. */
        if ((st == WANT_KEY_OR_CLOSE || st == WANT_VALUE_OR_CLOSE || st == AFTER_VALUE) &&
            c == stack[depth - 1]) {
            i++;
            if (--depth == 0)
                return skip_ws(t, i, len) == len;
            st = AFTER_VALUE;
            continue;
        }
        switch (st) {
        case WANT_KEY_OR_CLOSE:
        case WANT_KEY:
            if (c != '"' || (i = valid_string(t, i, len)) == 0)
                return false;
            i = skip_ws(t, i, len);
            if (i >= len || t[i] != ':')
                return false;
            i++;
            st = WANT_VALUE;
            break;
        case WANT_VALUE_OR_CLOSE:
        case WANT_VALUE:
            if (c == '{' || c == '[') {
                if (depth == VALID_DEPTH_MAX)
                    return false;
                stack[depth++] = c == '{' ? '}' : ']';
                st = c == '{' ? WANT_KEY_OR_CLOSE : WANT_VALUE_OR_CLOSE;
                i++;
                break;
            }
            if (c == '"')
                i = valid_string(t, i, len);
            else if (c == '-' || (c >= '0' && c <= '9'))
                i = valid_number(t, i, len);
            else
                i = valid_literal(t, i, len);
            if (i == 0)
                return false;
            st = AFTER_VALUE;
            break;
        case AFTER_VALUE:
            if (c != ',')
                return false;
            i++;
            st = stack[depth - 1] == '}' ? WANT_KEY : WANT_VALUE;
            break;
        }
    }
}

#define UNIQUE_KEYS_MAX 32
#define UNIQUE_DEPTH_MAX 32

bool rawjson_unique_keys(const char *t, size_t len) {
    struct {
        const char *key[UNIQUE_KEYS_MAX];
        size_t len[UNIQUE_KEYS_MAX];
        unsigned n;
    } objects[UNIQUE_DEPTH_MAX];
    size_t depth = 0, i = 0;

    while (i < len) {
        char c = t[i];
        if (c == '"') {
            size_t end = skip_string(t, i, len), k = i + 1, n, after;
            if (end < i + 2)
                return false;
            n = end - i - 2;
            after = skip_ws(t, end, len);
            /* In valid JSON a string followed by ':' is a key. */
            if (after < len && t[after] == ':') {
                if (depth == 0 || memchr(t + k, '\\', n) != NULL ||
                    objects[depth - 1].n == UNIQUE_KEYS_MAX)
                    return false;
                for (unsigned j = 0; j < objects[depth - 1].n; j++)
                    if (objects[depth - 1].len[j] == n &&
                        memcmp(objects[depth - 1].key[j], t + k, n) == 0)
                        return false;
                objects[depth - 1].key[objects[depth - 1].n] = t + k;
                objects[depth - 1].len[objects[depth - 1].n++] = n;
            }
            i = end;
            continue;
        }
        if (c == '{') {
            if (depth == UNIQUE_DEPTH_MAX)
                return false;
            objects[depth++].n = 0;
        } else if (c == '}') {
            if (depth == 0)
                return false;
            depth--;
        }
        i++;
    }
    return depth == 0;
}

bool rawjson_key_is(const struct rawjson_member *m, const char *name) {
    return strlen(name) == m->key_len && memcmp(m->key, name, m->key_len) == 0;
}

struct pick {
    const char *const *names;
    size_t n;
    bool others_ok;
    struct rawjson_member *out;
};

static bool pick_member(void *arg, const struct rawjson_member *m) {
    struct pick *p = arg;
    if (memchr(m->key, '\\', m->key_len) != NULL)
        return false;
    for (size_t i = 0; i < p->n; i++) {
        if (rawjson_key_is(m, p->names[i])) {
            if (p->out[i].value != NULL)
                return false; /* twice */
            p->out[i] = *m;
            return true;
        }
    }
    return p->others_ok;
}

bool rawjson_pick(const char *text, size_t len, const char *const *names, size_t n, bool others_ok,
                  struct rawjson_member *out) {
    struct pick p = {names, n, others_ok, out};
    memset(out, 0, n * sizeof *out);
    return rawjson_members(text, len, pick_member, &p);
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
