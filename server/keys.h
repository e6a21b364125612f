/* Optional API keys (--api-keys-file): who may use the service, and how much
 * of it one caller may take.
 *
 * The file: one key per line, fields separated by spaces or tabs,
 *
 *     # name   key                               limits (optional)
 *     alice    4f1c2a9e0b7d6c5a4f1c2a9e0b7d6c5a  runs=2 sessions=1
 *     ci       Zm9vYmFyYmF6cXV4cXV1eA==
 *
 * name: 1-64 of A-Z a-z 0-9 _ . -, unique; it names the caller in logs and
 * owns its sessions. key: 16-128 characters of a bearer token (RFC 6750's
 * b64token: A-Z a-z 0-9 - . _ ~ + / then any '='), unique. runs=N: runs of
 * this key at once, queued ones included; sessions=N: its live sessions.
 * Blank lines and lines starting with '#' are ignored. Anything else is an
 * error naming the line (never echoing a key).
 *
 * The parser and the lookup are pure (unit-tested, fuzzed); the store reads
 * the file and swaps in a new ring on reload. */
#ifndef SCOPEBOX_KEYS_H
#define SCOPEBOX_KEYS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#define KEY_NAME_MAX 64
#define KEY_SECRET_MIN 16
#define KEY_SECRET_MAX 128
#define KEYS_MAX 4096
#define KEYS_FILE_MAX (1u << 20)
#define KEY_LIMIT_MAX 1000000u

/* A key's live counts, shared by the rings of successive reloads so that a
 * reload does not forget what a key is running. */
struct key_usage {
    atomic_int runs;
    atomic_int refs;
};

struct api_key {
    char name[KEY_NAME_MAX + 1];
    unsigned char secret[KEY_SECRET_MAX]; /* zero-padded */
    size_t secret_len;
    unsigned max_runs, max_sessions;
    struct key_usage *usage;
};

/* One version of the file: immutable once parsed, reference counted. */
struct keyring {
    struct api_key *keys;
    size_t n;
    atomic_int refs;
};

/* Parses the file's text. Limits a line leaves out are the defaults given.
 * NULL with a one-line reason in err on any error, or if no key is listed. */
struct keyring *keyring_parse(const char *text, size_t len, unsigned default_runs,
                              unsigned default_sessions, char *err, size_t err_len);

/* Keys of `next` named like keys of `prev` take over their usage. */
void keyring_carry_usage(struct keyring *next, const struct keyring *prev);

/* The key whose secret is token[0, len), or NULL. Takes the same time
 * whichever key matches and however much of a wrong token is right. */
const struct api_key *keyring_find(const struct keyring *r, const char *token, size_t len);

struct keyring *keyring_ref(struct keyring *r);
void keyring_release(struct keyring *r);

void key_usage_ref(struct key_usage *u);
void key_usage_release(struct key_usage *u);

/* The token of an "Authorization: Bearer <token>" header value (the scheme
 * case-insensitive). False if absent or another scheme. */
bool keys_bearer_token(const char *header, const char **token, size_t *len);

/* The file behind a keyring, for reloads (SIGHUP). Thread-safe. */
struct keystore;

struct keystore *keystore_open(const char *path, unsigned default_runs, unsigned default_sessions,
                               char *err, size_t err_len);
/* Reads the file again; on any error keeps the keys it had, and says why. */
bool keystore_reload(struct keystore *ks, char *err, size_t err_len);
/* The current ring, with a reference for the caller (keyring_release). */
struct keyring *keystore_current(struct keystore *ks);
size_t keystore_count(struct keystore *ks);
void keystore_close(struct keystore *ks);

#endif
