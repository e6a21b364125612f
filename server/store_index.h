/* The in-memory index both embedded stores keep: id -> metadata (and, for
 * the memory store, the image). Private to store*.c. */
#ifndef SCOPEBOX_STORE_INDEX_H
#define SCOPEBOX_STORE_INDEX_H

#include <stdatomic.h>

#include "store.h"

struct store_entry {
    struct session_meta meta;
    uint8_t *image; /* the memory store only */
    struct store_entry *next;
};

struct store_ops {
    const char *kind;
    /* Make `image` durable for `meta` before the index changes (disk);
     * NULL: the index holds the image itself. */
    bool (*write)(struct store *st, const struct session_meta *meta, const uint8_t *image,
                  size_t len);
    bool (*read)(struct store *st, const struct session_meta *meta, uint8_t **image);
    bool (*remove)(struct store *st, const char *id);
    void (*close)(struct store *st);
    /* A store without the in-memory index (Redis) implements these. */
    enum store_result (*get)(struct store *st, const char *id, struct session_meta *meta,
                             uint8_t **image);
    enum store_result (*put)(struct store *st, struct session_meta *meta, const uint8_t *image,
                             size_t len, bool create);
    void (*touch)(struct store *st, const char *id, double used_ms);
    enum store_result (*delete)(struct store *st, const char *id);
    size_t (*list)(struct store *st, const char *owner, const char *after, struct session_meta *out,
                   size_t max);
    size_t (*idle)(struct store *st, double before_ms, char (*ids)[SESSION_ID_MAX + 1], size_t max);
    bool (*lease)(struct store *st, const char *id, const char *token, unsigned ms, bool take);
};

struct store {
    const struct store_ops *ops;
    struct store_entry **buckets;
    size_t n_buckets;
    size_t max_sessions, max_bytes;
    atomic_size_t count, bytes;
    void *backend;
};

bool store_init(struct store *st, const struct store_ops *ops, size_t max_sessions,
                size_t max_bytes);
/* Adds an entry as it is (loading a disk store at start). */
bool store_index_add(struct store *st, const struct session_meta *meta);

#endif
