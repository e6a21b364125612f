/* Where sessions live between their runs: each one's signed image
 * (session.c) and a little metadata. Backends: in the server's memory (the
 * default), one file per session under --session-dir (survives a restart),
 * both with their index in memory; Redis (store_redis.c), shared by
 * replicas. Used from the dispatcher thread only; store_stats may be called
 * from any thread. */
#ifndef SCOPEBOX_STORE_H
#define SCOPEBOX_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "request.h"

#define SESSION_OWNER_MAX 64

struct session_meta {
    char id[SESSION_ID_MAX + 1];
    char owner[SESSION_OWNER_MAX + 1]; /* who made it ("" = anyone) */
    double created_ms, used_ms;        /* wall clock, ms since the epoch */
    unsigned runs;
    uint64_t version; /* +1 per image written */
    size_t image_len; /* the signed image's bytes */
};

enum store_result { STORE_OK, STORE_NOT_FOUND, STORE_CONFLICT, STORE_FULL, STORE_ERROR };

struct store;

/* `max_sessions` and `max_bytes` bound what it holds (0 = no bound). */
struct store *store_mem_open(size_t max_sessions, size_t max_bytes);
struct store *store_disk_open(const char *dir, size_t max_sessions, char *err, size_t err_len);
/* --session-store redis://HOST:PORT[/DB]: shared by replicas. */
struct store *store_redis_open(const char *url, size_t max_sessions, char *err, size_t err_len);

/* The metadata, and when `image` is not NULL a malloc'd copy of the image. */
enum store_result store_get(struct store *st, const char *id, struct session_meta *meta,
                            uint8_t **image);
/* Writes a session. `create`: it must not exist yet. Otherwise it is written
 * only if its version is still `meta->version` (compare-and-set); on
 * success meta->version is the new one. */
enum store_result store_put(struct store *st, struct session_meta *meta, const uint8_t *image,
                            size_t len, bool create);
/* Records a use without a new image (not made durable on its own). */
void store_touch(struct store *st, const char *id, double used_ms);
enum store_result store_delete(struct store *st, const char *id);
/* Up to `max` sessions of `owner` ("" = all) with ids after `after` ("" =
 * from the start), in id order. */
size_t store_list(struct store *st, const char *owner, const char *after, struct session_meta *out,
                  size_t max);
/* Ids of sessions last used before `before_ms`, up to `max`. */
size_t store_idle(struct store *st, double before_ms, char (*ids)[SESSION_ID_MAX + 1], size_t max);
void store_stats(struct store *st, size_t *sessions, size_t *bytes);
/* A session's lease, for stores that replicas share: taken (`take`) before a
 * run, for `ms` (the run's longest possible life, so that it expires if its
 * holder dies), released (!take) with the answer. False: another holder. */
bool store_lease(struct store *st, const char *id, const char *token, unsigned ms, bool take);
bool store_shared(const struct store *st);
const char *store_kind(const struct store *st);
void store_close(struct store *st);

#endif
