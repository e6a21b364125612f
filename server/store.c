#include "store_index.h"

#include <stdlib.h>
#include <string.h>

#define INITIAL_BUCKETS 1024

static size_t hash(const char *id) {
    size_t h = 14695981039346656037ull;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 1099511628211ull;
    return h;
}

bool store_init(struct store *st, const struct store_ops *ops, size_t max_sessions,
                size_t max_bytes) {
    st->ops = ops;
    st->n_buckets = INITIAL_BUCKETS;
    st->buckets = calloc(st->n_buckets, sizeof *st->buckets);
    st->max_sessions = max_sessions;
    st->max_bytes = max_bytes;
    atomic_init(&st->count, 0);
    atomic_init(&st->bytes, 0);
    return st->buckets != NULL;
}

static struct store_entry **slot_of(struct store *st, const char *id) {
    struct store_entry **e = &st->buckets[hash(id) % st->n_buckets];
    while (*e && strcmp((*e)->meta.id, id) != 0)
        e = &(*e)->next;
    return e;
}

/* Keeps chains short as sessions accumulate (10,000 idle ones are normal). */
static void grow(struct store *st) {
    size_t n = st->n_buckets * 2;
    struct store_entry **b = calloc(n, sizeof *b);
    if (b == NULL)
        return;
    for (size_t i = 0; i < st->n_buckets; i++) {
        struct store_entry *e = st->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            e->next = b[hash(e->meta.id) % n];
            b[hash(e->meta.id) % n] = e;
        }
    }
    free(st->buckets);
    st->buckets = b;
    st->n_buckets = n;
}

bool store_index_add(struct store *st, const struct session_meta *meta) {
    struct store_entry **at = slot_of(st, meta->id), *e;
    if (*at != NULL)
        return false;
    e = calloc(1, sizeof *e);
    if (e == NULL)
        return false;
    e->meta = *meta;
    *at = e;
    atomic_fetch_add(&st->count, 1);
    atomic_fetch_add(&st->bytes, meta->image_len);
    if (atomic_load(&st->count) > st->n_buckets)
        grow(st);
    return true;
}

enum store_result store_get(struct store *st, const char *id, struct session_meta *meta,
                            uint8_t **image) {
    struct store_entry *e;
    if (st->ops->get)
        return st->ops->get(st, id, meta, image);
    e = *slot_of(st, id);
    if (e == NULL)
        return STORE_NOT_FOUND;
    *meta = e->meta;
    if (image == NULL)
        return STORE_OK;
    *image = NULL;
    if (e->meta.image_len == 0)
        return STORE_OK;
    if (st->ops->read)
        return st->ops->read(st, &e->meta, image) ? STORE_OK : STORE_ERROR;
    *image = malloc(e->meta.image_len);
    if (*image == NULL)
        return STORE_ERROR;
    memcpy(*image, e->image, e->meta.image_len);
    return STORE_OK;
}

enum store_result store_put(struct store *st, struct session_meta *meta, const uint8_t *image,
                            size_t len, bool create) {
    struct store_entry **at, *e;
    size_t old;
    uint8_t *copy = NULL;

    if (st->ops->put)
        return st->ops->put(st, meta, image, len, create);
    at = slot_of(st, meta->id);
    e = *at;
    old = e ? e->meta.image_len : 0;

    if (create ? e != NULL : e == NULL)
        return create ? STORE_CONFLICT : STORE_NOT_FOUND;
    if (!create && e->meta.version != meta->version)
        return STORE_CONFLICT;
    if (create && atomic_load(&st->count) >= st->max_sessions)
        return STORE_FULL;
    if (st->max_bytes && atomic_load(&st->bytes) - old + len > st->max_bytes)
        return STORE_FULL;
    meta->version = create ? 1 : meta->version + 1;
    meta->image_len = len;
    if (st->ops->write) {
        if (!st->ops->write(st, meta, image, len))
            return STORE_ERROR;
    } else if (len > 0) {
        copy = malloc(len);
        if (copy == NULL)
            return STORE_ERROR;
        memcpy(copy, image, len);
    }
    if (create) {
        e = calloc(1, sizeof *e);
        if (e == NULL) {
            free(copy);
            return STORE_ERROR;
        }
        *at = e;
        atomic_fetch_add(&st->count, 1);
    }
    free(e->image);
    e->image = copy;
    e->meta = *meta;
    atomic_fetch_add(&st->bytes, len);
    atomic_fetch_sub(&st->bytes, old);
    if (atomic_load(&st->count) > st->n_buckets)
        grow(st);
    return STORE_OK;
}

void store_touch(struct store *st, const char *id, double used_ms) {
    struct store_entry *e;
    if (st->ops->touch) {
        st->ops->touch(st, id, used_ms);
        return;
    }
    e = *slot_of(st, id);
    if (e != NULL)
        e->meta.used_ms = used_ms;
}

enum store_result store_delete(struct store *st, const char *id) {
    struct store_entry **at, *e;
    if (st->ops->delete)
        return st->ops->delete (st, id);
    at = slot_of(st, id);
    e = *at;
    if (e == NULL)
        return STORE_NOT_FOUND;
    if (st->ops->remove && !st->ops->remove(st, id))
        return STORE_ERROR;
    *at = e->next;
    atomic_fetch_sub(&st->count, 1);
    atomic_fetch_sub(&st->bytes, e->meta.image_len);
    free(e->image);
    free(e);
    return STORE_OK;
}

static int by_id(const void *a, const void *b) {
    return strcmp(((const struct session_meta *)a)->id, ((const struct session_meta *)b)->id);
}

size_t store_list(struct store *st, const char *owner, const char *after, struct session_meta *out,
                  size_t max) {
    /* The `max` smallest ids above `after`: one pass, kept sorted in `out`
     * (pages are small, the store may be large). */
    size_t n = 0;
    if (st->ops->list)
        return st->ops->list(st, owner, after, out, max);
    for (size_t i = 0; i < st->n_buckets; i++) {
        for (struct store_entry *e = st->buckets[i]; e; e = e->next) {
            size_t at;
            if (*owner && strcmp(e->meta.owner, owner) != 0)
                continue;
            if (*after && strcmp(e->meta.id, after) <= 0)
                continue;
            if (n == max && (max == 0 || strcmp(e->meta.id, out[n - 1].id) >= 0))
                continue;
            at = n < max ? n++ : n - 1;
            out[at] = e->meta;
            while (at > 0 && by_id(&out[at - 1], &out[at]) > 0) {
                struct session_meta t = out[at - 1];
                out[at - 1] = out[at];
                out[at] = t;
                at--;
            }
        }
    }
    return n;
}

size_t store_idle(struct store *st, double before_ms, char (*ids)[SESSION_ID_MAX + 1], size_t max) {
    size_t n = 0;
    if (st->ops->idle)
        return st->ops->idle(st, before_ms, ids, max);
    for (size_t i = 0; i < st->n_buckets && n < max; i++)
        for (struct store_entry *e = st->buckets[i]; e && n < max; e = e->next)
            if (e->meta.used_ms < before_ms)
                memcpy(ids[n++], e->meta.id, sizeof ids[0]);
    return n;
}

void store_stats(struct store *st, size_t *sessions, size_t *bytes) {
    *sessions = atomic_load(&st->count);
    *bytes = atomic_load(&st->bytes);
}

bool store_lease(struct store *st, const char *id, const char *token, unsigned ms, bool take) {
    /* One process: the dispatcher's session lines already serialise runs. */
    return st->ops->lease ? st->ops->lease(st, id, token, ms, take) : true;
}

bool store_shared(const struct store *st) {
    return st->ops->lease != NULL;
}

const char *store_kind(const struct store *st) {
    return st->ops->kind;
}

void store_close(struct store *st) {
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->n_buckets; i++) {
        struct store_entry *e = st->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            free(e->image);
            free(e);
        }
    }
    free(st->buckets);
    if (st->ops->close)
        st->ops->close(st);
    free(st);
}
