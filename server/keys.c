#include "keys.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- usage and rings ---------------------------------------------------- */

static struct key_usage *usage_new(void) {
    struct key_usage *u = calloc(1, sizeof *u);
    if (u != NULL) {
        atomic_init(&u->runs, 0);
        atomic_init(&u->refs, 1);
    }
    return u;
}

void key_usage_ref(struct key_usage *u) {
    atomic_fetch_add(&u->refs, 1);
}

void key_usage_release(struct key_usage *u) {
    if (u != NULL && atomic_fetch_sub(&u->refs, 1) == 1)
        free(u);
}

struct keyring *keyring_ref(struct keyring *r) {
    atomic_fetch_add(&r->refs, 1);
    return r;
}

void keyring_release(struct keyring *r) {
    if (r == NULL || atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    for (size_t i = 0; i < r->n; i++) {
        key_usage_release(r->keys[i].usage);
        memset(r->keys[i].secret, 0, sizeof r->keys[i].secret);
    }
    free(r->keys);
    free(r);
}

void keyring_carry_usage(struct keyring *next, const struct keyring *prev) {
    for (size_t i = 0; i < next->n; i++) {
        for (size_t j = 0; j < prev->n; j++) {
            if (strcmp(next->keys[i].name, prev->keys[j].name) == 0) {
                key_usage_release(next->keys[i].usage);
                next->keys[i].usage = prev->keys[j].usage;
                key_usage_ref(next->keys[i].usage);
                break;
            }
        }
    }
}

/* ---- the file ------------------------------------------------------------- */

static bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

static bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

static bool token_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

/* b64token: token characters, then only '=' padding. */
static bool valid_secret(const char *s, size_t n) {
    size_t i = 0;
    while (i < n && token_char(s[i]))
        i++;
    if (i == 0)
        return false;
    while (i < n && s[i] == '=')
        i++;
    return i == n;
}

static bool parse_limit(const char *s, size_t n, unsigned *out) {
    unsigned long v = 0;
    if (n == 0 || n > 7)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > KEY_LIMIT_MAX)
        return false;
    *out = (unsigned)v;
    return true;
}

/* One non-comment line [s, s+n): fields in, one key out. */
static bool parse_line(const char *s, size_t n, struct api_key *k, char *why, size_t why_len) {
    const char *field[8];
    size_t flen[8], nf = 0, i = 0;

    while (i < n) {
        while (i < n && is_blank(s[i]))
            i++;
        if (i == n)
            break;
        if (nf == sizeof field / sizeof field[0]) {
            snprintf(why, why_len, "too many fields");
            return false;
        }
        field[nf] = s + i;
        while (i < n && !is_blank(s[i]))
            i++;
        flen[nf] = (size_t)(s + i - field[nf]);
        nf++;
    }
    if (nf < 2) {
        snprintf(why, why_len, "expected a name and a key");
        return false;
    }
    if (flen[0] > KEY_NAME_MAX) {
        snprintf(why, why_len, "the name is longer than %d characters", KEY_NAME_MAX);
        return false;
    }
    for (i = 0; i < flen[0]; i++) {
        if (!name_char(field[0][i])) {
            snprintf(why, why_len, "the name may hold only letters, digits, '_', '.' and '-'");
            return false;
        }
    }
    memcpy(k->name, field[0], flen[0]);
    k->name[flen[0]] = '\0';
    if (flen[1] < KEY_SECRET_MIN || flen[1] > KEY_SECRET_MAX || !valid_secret(field[1], flen[1])) {
        snprintf(why, why_len,
                 "key '%s': the key must be %d to %d characters of A-Z a-z 0-9 - . _ ~ + / "
                 "(then any '=')",
                 k->name, KEY_SECRET_MIN, KEY_SECRET_MAX);
        return false;
    }
    memset(k->secret, 0, sizeof k->secret);
    memcpy(k->secret, field[1], flen[1]);
    k->secret_len = flen[1];
    for (i = 2; i < nf; i++) {
        const char *eq = memchr(field[i], '=', flen[i]);
        size_t klen = eq ? (size_t)(eq - field[i]) : flen[i];
        unsigned *slot = NULL;
        if (klen == 4 && memcmp(field[i], "runs", 4) == 0)
            slot = &k->max_runs;
        else if (klen == 8 && memcmp(field[i], "sessions", 8) == 0)
            slot = &k->max_sessions;
        if (slot == NULL || eq == NULL || !parse_limit(eq + 1, flen[i] - klen - 1, slot)) {
            snprintf(why, why_len, "key '%s': limits are runs=N and sessions=N (N from 0 to %u)",
                     k->name, KEY_LIMIT_MAX);
            return false;
        }
    }
    return true;
}

struct keyring *keyring_parse(const char *text, size_t len, unsigned default_runs,
                              unsigned default_sessions, char *err, size_t err_len) {
    struct keyring *r;
    size_t pos = 0, line = 0, cap = 0;
    char why[192];

    if (len > KEYS_FILE_MAX) {
        snprintf(err, err_len, "the file is larger than %u bytes", KEYS_FILE_MAX);
        return NULL;
    }
    if (memchr(text, '\0', len) != NULL) {
        snprintf(err, err_len, "the file holds a NUL byte");
        return NULL;
    }
    r = calloc(1, sizeof *r);
    if (r == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    atomic_init(&r->refs, 1);
    while (pos < len) {
        const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        struct api_key *k;
        pos += n + (nl != NULL);
        line++;
        if (n > 0 && s[n - 1] == '\r')
            n--;
        while (n > 0 && is_blank(*s)) {
            s++;
            n--;
        }
        if (n == 0 || *s == '#')
            continue;
        if (r->n == KEYS_MAX) {
            snprintf(err, err_len, "line %zu: more than %d keys", line, KEYS_MAX);
            goto fail;
        }
        if (r->n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct api_key *p = realloc(r->keys, ncap * sizeof *p);
            if (p == NULL) {
                snprintf(err, err_len, "out of memory");
                goto fail;
            }
            r->keys = p;
            cap = ncap;
        }
        k = &r->keys[r->n];
        memset(k, 0, sizeof *k);
        k->max_runs = default_runs;
        k->max_sessions = default_sessions;
        if (!parse_line(s, n, k, why, sizeof why)) {
            snprintf(err, err_len, "line %zu: %s", line, why);
            goto fail;
        }
        for (size_t j = 0; j < r->n; j++) {
            if (strcmp(r->keys[j].name, k->name) == 0) {
                snprintf(err, err_len, "line %zu: the name '%s' is listed twice", line, k->name);
                goto fail;
            }
            if (r->keys[j].secret_len == k->secret_len &&
                memcmp(r->keys[j].secret, k->secret, k->secret_len) == 0) {
                snprintf(err, err_len, "line %zu: key '%s' has the same key as '%s'", line, k->name,
                         r->keys[j].name);
                goto fail;
            }
        }
        k->usage = usage_new();
        if (k->usage == NULL) {
            snprintf(err, err_len, "out of memory");
            goto fail;
        }
        r->n++;
    }
    if (r->n == 0) {
        snprintf(err, err_len, "no keys listed (a line is: NAME KEY [runs=N] [sessions=N])");
        goto fail;
    }
    return r;
fail:
    keyring_release(r);
    return NULL;
}

const struct api_key *keyring_find(const struct keyring *r, const char *token, size_t len) {
    unsigned char given[KEY_SECRET_MAX];
    const struct api_key *found = NULL;

    /* A token's length is the client's own, not a secret. */
    if (len == 0 || len > KEY_SECRET_MAX)
        return NULL;
    memset(given, 0, sizeof given);
    memcpy(given, token, len);
    /* Every byte of every key is compared, whatever matched earlier. */
    for (size_t i = 0; i < r->n; i++) {
        const struct api_key *k = &r->keys[i];
        volatile unsigned diff = (unsigned)(k->secret_len ^ len);
        for (size_t b = 0; b < KEY_SECRET_MAX; b++)
            diff |= (unsigned)(k->secret[b] ^ given[b]);
        if (diff == 0)
            found = k;
    }
    memset(given, 0, sizeof given);
    return found;
}

bool keys_bearer_token(const char *h, const char **token, size_t *len) {
    size_t n;
    if (h == NULL)
        return false;
    while (is_blank(*h))
        h++;
    if (strncasecmp(h, "Bearer", 6) != 0 || !is_blank(h[6]))
        return false;
    h += 6;
    while (is_blank(*h))
        h++;
    n = strlen(h);
    while (n > 0 && is_blank(h[n - 1]))
        n--;
    if (n == 0)
        return false;
    *token = h;
    *len = n;
    return true;
}

/* ---- the store ------------------------------------------------------------ */

struct keystore {
    char *path;
    unsigned default_runs, default_sessions;
    pthread_mutex_t lock;
    struct keyring *ring;
};

static struct keyring *load(const struct keystore *ks, char *err, size_t err_len) {
    FILE *f = fopen(ks->path, "rb");
    char *text;
    size_t n;
    struct keyring *r;

    if (f == NULL) {
        snprintf(err, err_len, "%s: %s", ks->path, strerror(errno));
        return NULL;
    }
    text = malloc(KEYS_FILE_MAX + 1);
    if (text == NULL) {
        fclose(f);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    n = fread(text, 1, KEYS_FILE_MAX + 1, f);
    if (ferror(f)) {
        snprintf(err, err_len, "%s: read error", ks->path);
        fclose(f);
        free(text);
        return NULL;
    }
    fclose(f);
    r = keyring_parse(text, n, ks->default_runs, ks->default_sessions, err, err_len);
    memset(text, 0, n);
    free(text);
    if (r == NULL) {
        char why[256];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, err_len, "%s: %s", ks->path, why);
    }
    return r;
}

struct keystore *keystore_open(const char *path, unsigned default_runs, unsigned default_sessions,
                               char *err, size_t err_len) {
    struct keystore *ks = calloc(1, sizeof *ks);
    if (ks == NULL || (ks->path = strdup(path)) == NULL) {
        free(ks);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    ks->default_runs = default_runs;
    ks->default_sessions = default_sessions;
    pthread_mutex_init(&ks->lock, NULL);
    ks->ring = load(ks, err, err_len);
    if (ks->ring == NULL) {
        keystore_close(ks);
        return NULL;
    }
    return ks;
}

bool keystore_reload(struct keystore *ks, char *err, size_t err_len) {
    struct keyring *next = load(ks, err, err_len), *prev;
    if (next == NULL)
        return false;
    pthread_mutex_lock(&ks->lock);
    prev = ks->ring;
    keyring_carry_usage(next, prev);
    ks->ring = next;
    pthread_mutex_unlock(&ks->lock);
    keyring_release(prev); /* freed once no request holds it */
    return true;
}

struct keyring *keystore_current(struct keystore *ks) {
    struct keyring *r;
    pthread_mutex_lock(&ks->lock);
    r = keyring_ref(ks->ring);
    pthread_mutex_unlock(&ks->lock);
    return r;
}

size_t keystore_count(struct keystore *ks) {
    size_t n;
    pthread_mutex_lock(&ks->lock);
    n = ks->ring ? ks->ring->n : 0;
    pthread_mutex_unlock(&ks->lock);
    return n;
}

void keystore_close(struct keystore *ks) {
    if (ks == NULL)
        return;
    keyring_release(ks->ring);
    pthread_mutex_destroy(&ks->lock);
    free(ks->path);
    free(ks);
}
