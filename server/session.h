/* Sessions as data (issue 14): a session is its image in the store
 * (store.h), signed here with HMAC-SHA256 so that an image edited in the
 * store, or handed in by a client, is refused before any worker sees it.
 * This file also keeps what the dispatcher knows about sessions that are in
 * use right now: each one's line of waiting requests (one run of a session
 * at a time, in order), and why recently ended ones are gone. Dispatcher
 * thread only, but for sessions_store's stats. */
#ifndef SCOPEBOX_SESSION_H
#define SCOPEBOX_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "hmac.h"
#include "job.h"
#include "store.h"

/* Image bytes as the worker makes them (wasm/runtime/image.mjs): magic,
 * then the fingerprint of the pristine image they are relative to. */
#define IMAGE_MAGIC "SBXIMG01"
#define IMAGE_FP_AT 8
#define IMAGE_FP_LEN 32

struct sessions;

/* A session with requests waiting or running. */
struct session_line {
    char id[SESSION_ID_MAX + 1];
    struct job_queue waiting;
    bool running; /* one of its jobs is in the pool's queue or on a worker */
    struct session_line *next;
};

struct sessions *sessions_open(const struct config *cfg, char *err, size_t err_len);
void sessions_close(struct sessions *ss);
struct store *sessions_store(struct sessions *ss);

void session_new_id(const struct config *cfg, char *out, size_t len);

/* The line of `id`; created when `create`. NULL when absent (or no memory). */
struct session_line *sessions_line(struct sessions *ss, const char *id, bool create);
/* Drops a line with nothing waiting or running. */
void sessions_line_release(struct sessions *ss, struct session_line *line);
/* Every line, for shutdown and expiry. */
struct session_line *sessions_lines(struct sessions *ss);

/* Signed form of an image: HMAC-SHA256 tag, then the image. malloc'd. */
uint8_t *session_sign(struct sessions *ss, const uint8_t *image, size_t len, size_t *out_len);
/* The image inside a signed one, or NULL when the tag does not match. */
const uint8_t *session_verify(struct sessions *ss, const uint8_t *signed_image, size_t len,
                              size_t *image_len);

/* The pool's pristine fingerprint, from the workers' ready frames. */
void sessions_set_fingerprint(struct sessions *ss, const char *hex);
/* Whether an image (unsigned) names this build's pristine image; true while
 * no worker has said which that is (the worker then checks). */
bool sessions_image_compatible(struct sessions *ss, const uint8_t *image, size_t len);

/* Why a session that no longer exists is gone, for a later request. */
void sessions_ended(struct sessions *ss, const char *id, const char *why);
const char *sessions_why(struct sessions *ss, const char *id);

/* Base64 (RFC 4648, with padding). Encoding: malloc'd, NUL-terminated. */
char *base64_encode(const uint8_t *data, size_t len, size_t *out_len);
/* ... or into `out`, which has room for BASE64_LEN(len) bytes (no NUL). */
#define BASE64_LEN(len) (4 * (((size_t)(len) + 2) / 3))
void base64_encode_to(const uint8_t *data, size_t len, char *out);
/* NULL on a character outside the alphabet or a bad length. */
uint8_t *base64_decode(const char *text, size_t len, size_t *out_len);

#endif
