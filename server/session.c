#define _GNU_SOURCE
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"

/* Ended sessions remembered, so a late request learns why its id is gone. */
#define ENDED_MEMORY 64
#define KEY_MIN 16
#define KEY_MAX 256

struct ended {
    char id[SESSION_ID_MAX + 1];
    char why[96];
};

struct sessions {
    struct store *store;
    uint8_t key[KEY_MAX];
    size_t key_len;
    uint8_t fingerprint[IMAGE_FP_LEN];
    bool have_fingerprint;
    struct session_line *lines;
    struct ended ended[ENDED_MEMORY];
    unsigned n_ended;
};

static void random_bytes(uint8_t *out, size_t len) {
    /* getrandom blocks only before the kernel's pool is seeded, long before
     * we run. */
    while (len > 0) {
        ssize_t n = getrandom(out, len, 0);
        if (n > 0)
            out += n, len -= (size_t)n;
    }
}

void session_new_id(const struct config *cfg, char *out, size_t len) {
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[16];
    char text[sizeof raw * 2 + 1];
    /* Unguessable: an id is the only key to a session's data. */
    random_bytes(raw, sizeof raw);
    for (size_t i = 0; i < sizeof raw; i++) {
        text[2 * i] = hex[raw[i] >> 4];
        text[2 * i + 1] = hex[raw[i] & 15];
    }
    text[sizeof text - 1] = '\0';
    if (cfg->replica_id != NULL)
        snprintf(out, len, "%s-%s", cfg->replica_id, text);
    else
        snprintf(out, len, "%s", text);
}

/* The key: read from `path`, or made up and written there when the file
 * does not exist (so that a restarted server, or a replica given the same
 * file, still accepts the images it signed). */
static bool load_key(struct sessions *ss, const char *path, char *err, size_t err_len) {
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        random_bytes(ss->key, 32);
        ss->key_len = 32;
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, ss->key, 32) != 32 || fsync(fd) != 0) {
            snprintf(err, err_len, "session key %s: cannot create it: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            return false;
        }
        close(fd);
        log_msg("session key: made a new one in %s", path);
        return true;
    }
    if (fd < 0) {
        snprintf(err, err_len, "session key %s: %s", path, strerror(errno));
        return false;
    }
    n = read(fd, ss->key, sizeof ss->key);
    close(fd);
    if (n < KEY_MIN) {
        snprintf(err, err_len, "session key %s: needs at least %d bytes", path, KEY_MIN);
        return false;
    }
    ss->key_len = (size_t)n;
    return true;
}

struct sessions *sessions_open(const struct config *cfg, char *err, size_t err_len) {
    struct sessions *ss = calloc(1, sizeof *ss);
    char path[4096];

    if (ss == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    if (cfg->session_store != NULL && cfg->session_key_file == NULL) {
        /* Replicas must share one key, so none is made up. */
        snprintf(err, err_len,
                 "--session-store needs --session-key-file (the key every replica shares)");
        free(ss);
        return NULL;
    }
    if (cfg->session_store != NULL)
        ss->store = store_redis_open(cfg->session_store, cfg->max_sessions, err, err_len);
    else if (cfg->session_dir != NULL)
        ss->store = store_disk_open(cfg->session_dir, cfg->max_sessions, err, err_len);
    else if ((ss->store = store_mem_open(cfg->max_sessions, cfg->session_store_bytes)) == NULL)
        snprintf(err, err_len, "out of memory");
    if (ss->store == NULL) {
        free(ss);
        return NULL;
    }
    if (cfg->session_key_file != NULL) {
        if (!load_key(ss, cfg->session_key_file, err, err_len))
            goto fail;
    } else if (cfg->session_dir != NULL) {
        snprintf(path, sizeof path, "%s/.key", cfg->session_dir);
        if (!load_key(ss, path, err, err_len))
            goto fail;
    } else {
        /* Memory only: the images die with the process, so may the key. */
        random_bytes(ss->key, 32);
        ss->key_len = 32;
    }
    return ss;
fail:
    store_close(ss->store);
    free(ss);
    return NULL;
}

void sessions_close(struct sessions *ss) {
    if (ss == NULL)
        return;
    while (ss->lines) {
        struct session_line *l = ss->lines;
        ss->lines = l->next;
        free(l);
    }
    store_close(ss->store);
    free(ss);
}

struct store *sessions_store(struct sessions *ss) {
    return ss->store;
}

struct session_line *sessions_line(struct sessions *ss, const char *id, bool create) {
    struct session_line *l;
    for (l = ss->lines; l; l = l->next)
        if (strcmp(l->id, id) == 0)
            return l;
    if (!create || (l = calloc(1, sizeof *l)) == NULL)
        return NULL;
    snprintf(l->id, sizeof l->id, "%s", id);
    l->next = ss->lines;
    ss->lines = l;
    return l;
}

void sessions_line_release(struct sessions *ss, struct session_line *line) {
    if (line == NULL || line->running || line->waiting.n > 0)
        return;
    for (struct session_line **at = &ss->lines; *at; at = &(*at)->next) {
        if (*at == line) {
            *at = line->next;
            free(line);
            return;
        }
    }
}

struct session_line *sessions_lines(struct sessions *ss) {
    return ss->lines;
}

uint8_t *session_sign(struct sessions *ss, const uint8_t *image, size_t len, size_t *out_len) {
    uint8_t *out = malloc(SHA256_LEN + len);
    if (out == NULL)
        return NULL;
    hmac_sha256(ss->key, ss->key_len, image, len, out);
    memcpy(out + SHA256_LEN, image, len);
    *out_len = SHA256_LEN + len;
    return out;
}

const uint8_t *session_verify(struct sessions *ss, const uint8_t *signed_image, size_t len,
                              size_t *image_len) {
    uint8_t tag[SHA256_LEN];
    if (len < SHA256_LEN)
        return NULL;
    hmac_sha256(ss->key, ss->key_len, signed_image + SHA256_LEN, len - SHA256_LEN, tag);
    if (!hmac_equal(tag, signed_image, SHA256_LEN))
        return NULL;
    *image_len = len - SHA256_LEN;
    return signed_image + SHA256_LEN;
}

void sessions_set_fingerprint(struct sessions *ss, const char *hex) {
    uint8_t fp[IMAGE_FP_LEN];
    if (hex == NULL || strlen(hex) != 2 * IMAGE_FP_LEN)
        return;
    for (size_t i = 0; i < IMAGE_FP_LEN; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return;
        fp[i] = (uint8_t)v;
    }
    if (ss->have_fingerprint && memcmp(fp, ss->fingerprint, sizeof fp) != 0)
        log_msg("sessions: a worker reports another pristine fingerprint (%.16s...): "
                "workers of one server should run one build",
                hex);
    memcpy(ss->fingerprint, fp, sizeof fp);
    ss->have_fingerprint = true;
}

bool sessions_image_compatible(struct sessions *ss, const uint8_t *image, size_t len) {
    if (len < IMAGE_FP_AT + IMAGE_FP_LEN || memcmp(image, IMAGE_MAGIC, 8) != 0)
        return false;
    return !ss->have_fingerprint || memcmp(image + IMAGE_FP_AT, ss->fingerprint, IMAGE_FP_LEN) == 0;
}

void sessions_ended(struct sessions *ss, const char *id, const char *why) {
    struct ended *e = &ss->ended[ss->n_ended++ % ENDED_MEMORY];
    snprintf(e->id, sizeof e->id, "%s", id);
    snprintf(e->why, sizeof e->why, "%s", why);
    log_msg("session %s %s", id, why);
}

const char *sessions_why(struct sessions *ss, const char *id) {
    for (unsigned i = 0; i < ENDED_MEMORY && i < ss->n_ended; i++) {
        const struct ended *e = &ss->ended[(ss->n_ended - 1 - i) % ENDED_MEMORY];
        if (strcmp(e->id, id) == 0)
            return e->why;
    }
    return NULL;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const uint8_t *d, size_t len, size_t *out_len) {
    char *out = malloc(BASE64_LEN(len) + 1);
    if (out == NULL)
        return NULL;
    base64_encode_to(d, len, out);
    out[BASE64_LEN(len)] = '\0';
    if (out_len)
        *out_len = BASE64_LEN(len);
    return out;
}

void base64_encode_to(const uint8_t *d, size_t len, char *out) {
    size_t o = 0, i;
    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        out[o++] = B64[v >> 18], out[o++] = B64[(v >> 12) & 63];
        out[o++] = B64[(v >> 6) & 63], out[o++] = B64[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < len ? (uint32_t)d[i + 1] << 8 : 0);
        out[o++] = B64[v >> 18], out[o++] = B64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? B64[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
}

uint8_t *base64_decode(const char *t, size_t len, size_t *out_len) {
    static int8_t rev[256];
    static bool ready;
    uint8_t *out;
    size_t o = 0, pad = 0;

    if (!ready) { /* idempotent: racing initialisations write the same bytes */
        memset(rev, -1, sizeof rev);
        for (int i = 0; i < 64; i++)
            rev[(unsigned char)B64[i]] = (int8_t)i;
        ready = true;
    }
    if (len % 4 != 0)
        return NULL;
    if (len >= 1 && t[len - 1] == '=')
        pad++;
    if (len >= 2 && t[len - 2] == '=')
        pad++;
    out = malloc(len / 4 * 3 + 1);
    if (out == NULL)
        return NULL;
    /* Padding is only in the last quad: the others decode without a check
     * per character (a session's image, ~60 KiB, is decoded before every
     * session run's answer). */
    for (size_t i = 0; i < len; i += 4) {
        const unsigned char *q = (const unsigned char *)t + i;
        bool last = i + 4 == len;
        int a = rev[q[0]], b = rev[q[1]];
        int c = last && pad == 2 ? 0 : rev[q[2]], d = last && pad > 0 ? 0 : rev[q[3]];
        if ((a | b | c | d) < 0) {
            free(out);
            return NULL;
        }
        uint32_t w = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        out[o++] = (uint8_t)(w >> 16), out[o++] = (uint8_t)(w >> 8), out[o++] = (uint8_t)w;
    }
    *out_len = o - pad;
    return out;
}
