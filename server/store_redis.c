/* --session-store redis://HOST:PORT[/DB]: sessions in Redis, so that every
 * replica reads and writes the same ones. Keys (prefix "scopebox:"):
 *   s:<id>      hash: owner created used runs version len image
 *   ids         sorted set, score 0: every id (listing, in id order)
 *   used        sorted set, score = last use in ms (expiry)
 *   bytes       the images' bytes in all
 *   lease:<id>  the replica running the session now (SET NX PX)
 * A write is a compare-and-set (a Lua script): it happens only while the
 * session is still at the version the run started from. Blocking calls on
 * the dispatcher thread, over loopback or a LAN: a round trip is ~0.1 ms. */
#define _GNU_SOURCE
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_index.h"

#define P "scopebox:"

struct redis {
    char host[256];
    int port, db;
    redisContext *c;
};

/* KEYS: s:<id> ids used bytes. ARGV: create, version, owner, created, used,
 * runs, image, max sessions, id. -> new version, or -1 conflict, -2 gone,
 * -3 full. */
static const char PUT_SCRIPT[] =
    "local exists = redis.call('EXISTS', KEYS[1])\n"
    "if ARGV[1] == '1' then\n"
    "  if exists == 1 then return -1 end\n"
    "  if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[8]) then return -3 end\n"
    "else\n"
    "  if exists == 0 then return -2 end\n"
    "  if redis.call('HGET', KEYS[1], 'version') ~= ARGV[2] then return -1 end\n"
    "end\n"
    "local old = tonumber(redis.call('HGET', KEYS[1], 'len') or '0')\n"
    "local v = 1\n"
    "if ARGV[1] ~= '1' then v = tonumber(ARGV[2]) + 1 end\n"
    "redis.call('HSET', KEYS[1], 'owner', ARGV[3], 'created', ARGV[4], 'used', ARGV[5],\n"
    "           'runs', ARGV[6], 'version', v, 'image', ARGV[7], 'len', string.len(ARGV[7]))\n"
    "redis.call('ZADD', KEYS[2], 0, ARGV[9])\n"
    "redis.call('ZADD', KEYS[3], ARGV[5], ARGV[9])\n"
    "redis.call('INCRBY', KEYS[4], string.len(ARGV[7]) - old)\n"
    "return v\n";

/* KEYS: s:<id> ids used bytes. ARGV: id. */
static const char DEL_SCRIPT[] = "local len = redis.call('HGET', KEYS[1], 'len')\n"
                                 "if not len then return 0 end\n"
                                 "redis.call('DEL', KEYS[1])\n"
                                 "redis.call('ZREM', KEYS[2], ARGV[1])\n"
                                 "redis.call('ZREM', KEYS[3], ARGV[1])\n"
                                 "redis.call('DECRBY', KEYS[4], tonumber(len))\n"
                                 "return 1\n";

/* KEYS: lease:<id>. ARGV: token. Releases only one's own lease. */
static const char UNLEASE_SCRIPT[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

static redisContext *conn(struct store *st) {
    struct redis *r = st->backend;
    struct timeval tv = {2, 0};
    if (r->c != NULL && r->c->err == 0)
        return r->c;
    if (r->c != NULL)
        redisFree(r->c);
    r->c = redisConnectWithTimeout(r->host, r->port, tv);
    if (r->c == NULL || r->c->err) {
        log_msg("session store: cannot reach redis at %s:%d: %s", r->host, r->port,
                r->c ? r->c->errstr : "out of memory");
        if (r->c)
            redisFree(r->c);
        r->c = NULL;
        return NULL;
    }
    redisSetTimeout(r->c, tv);
    if (r->db != 0) {
        redisReply *rep = redisCommand(r->c, "SELECT %d", r->db);
        bool ok = rep && rep->type == REDIS_REPLY_STATUS;
        freeReplyObject(rep);
        if (!ok) {
            log_msg("session store: redis SELECT %d failed", r->db);
            redisFree(r->c);
            r->c = NULL;
        }
    }
    return r->c;
}

/* One command; NULL (logged) when redis is unreachable or answers an error. */
static redisReply *cmd(struct store *st, const char *fmt, ...) {
    redisContext *c = conn(st);
    redisReply *rep;
    va_list ap;
    if (c == NULL)
        return NULL;
    va_start(ap, fmt);
    rep = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
        log_msg("session store: redis: %s", rep ? rep->str : c->errstr);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

static const redisReply *field(const redisReply *h, const char *name) {
    for (size_t i = 0; h && i + 1 < h->elements; i += 2)
        if (h->element[i]->type == REDIS_REPLY_STRING && strcmp(h->element[i]->str, name) == 0)
            return h->element[i + 1];
    return NULL;
}

static double num(const redisReply *v) {
    return v && v->type == REDIS_REPLY_STRING ? strtod(v->str, NULL) : 0;
}

static enum store_result r_get(struct store *st, const char *id, struct session_meta *m,
                               uint8_t **image) {
    redisReply *h = cmd(st, "HGETALL " P "s:%s", id);
    const redisReply *owner, *img;
    if (h == NULL)
        return STORE_ERROR;
    if (h->type != REDIS_REPLY_ARRAY || h->elements == 0) {
        freeReplyObject(h);
        return STORE_NOT_FOUND;
    }
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "%s", id);
    owner = field(h, "owner");
    snprintf(m->owner, sizeof m->owner, "%s", owner && owner->str ? owner->str : "");
    m->created_ms = num(field(h, "created"));
    m->used_ms = num(field(h, "used"));
    m->runs = (unsigned)num(field(h, "runs"));
    m->version = (uint64_t)num(field(h, "version"));
    img = field(h, "image");
    m->image_len = img ? img->len : 0;
    if (image != NULL) {
        *image = NULL;
        if (m->image_len > 0 && (*image = malloc(m->image_len)) == NULL) {
            freeReplyObject(h);
            return STORE_ERROR;
        }
        if (m->image_len > 0)
            memcpy(*image, img->str, m->image_len);
    }
    freeReplyObject(h);
    return STORE_OK;
}

static enum store_result r_put(struct store *st, struct session_meta *m, const uint8_t *image,
                               size_t len, bool create) {
    char version[24], created[32], used[32], runs[16], max[24];
    redisReply *rep;
    long long v;

    snprintf(version, sizeof version, "%llu", (unsigned long long)m->version);
    snprintf(created, sizeof created, "%.0f", m->created_ms);
    snprintf(used, sizeof used, "%.0f", m->used_ms);
    snprintf(runs, sizeof runs, "%u", m->runs);
    snprintf(max, sizeof max, "%zu", st->max_sessions);
    rep = cmd(st, "EVAL %s 4 " P "s:%s " P "ids " P "used " P "bytes %s %s %s %s %s %s %b %s %s",
              PUT_SCRIPT, m->id, create ? "1" : "0", version, m->owner, created, used, runs,
              image ? (const char *)image : "", len, max, m->id);
    if (rep == NULL)
        return STORE_ERROR;
    v = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -4;
    freeReplyObject(rep);
    if (v == -1)
        return STORE_CONFLICT;
    if (v == -2)
        return STORE_NOT_FOUND;
    if (v == -3)
        return STORE_FULL;
    if (v < 0)
        return STORE_ERROR;
    m->version = (uint64_t)v;
    m->image_len = len;
    return STORE_OK;
}

static void r_touch(struct store *st, const char *id, double used_ms) {
    redisReply *rep = cmd(st, "ZADD " P "used XX %.0f %s", used_ms, id);
    freeReplyObject(rep);
}

static enum store_result r_delete(struct store *st, const char *id) {
    redisReply *rep =
        cmd(st, "EVAL %s 4 " P "s:%s " P "ids " P "used " P "bytes %s", DEL_SCRIPT, id, id);
    long long n;
    if (rep == NULL)
        return STORE_ERROR;
    n = rep->integer;
    freeReplyObject(rep);
    return n == 1 ? STORE_OK : STORE_NOT_FOUND;
}

static size_t r_list(struct store *st, const char *owner, const char *after,
                     struct session_meta *out, size_t max) {
    size_t n = 0;
    char from[SESSION_ID_MAX + 2];
    snprintf(from, sizeof from, "%s%s", *after ? "(" : "-", after);
    /* Pages of ids in order; the owner filter may need more than one. */
    while (n < max) {
        redisReply *ids =
            cmd(st, "ZRANGEBYLEX " P "ids %s + LIMIT 0 %lu", from, (unsigned long)max);
        size_t got;
        if (ids == NULL || ids->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(ids);
            break;
        }
        got = ids->elements;
        for (size_t i = 0; i < got && n < max; i++) {
            if (r_get(st, ids->element[i]->str, &out[n], NULL) == STORE_OK &&
                (!*owner || strcmp(out[n].owner, owner) == 0))
                n++;
        }
        if (got > 0)
            snprintf(from, sizeof from, "(%s", ids->element[got - 1]->str);
        freeReplyObject(ids);
        if (got < max)
            break;
    }
    return n;
}

static size_t r_idle(struct store *st, double before_ms, char (*ids)[SESSION_ID_MAX + 1],
                     size_t max) {
    redisReply *rep =
        cmd(st, "ZRANGEBYSCORE " P "used -inf (%.0f LIMIT 0 %lu", before_ms, (unsigned long)max);
    redisReply *count = cmd(st, "ZCARD " P "ids"), *bytes = cmd(st, "GET " P "bytes");
    size_t n = 0;
    /* The shared totals, refreshed here (once a second) for store_stats. */
    if (count && count->type == REDIS_REPLY_INTEGER)
        atomic_store(&st->count, (size_t)count->integer);
    if (bytes && bytes->type == REDIS_REPLY_STRING)
        atomic_store(&st->bytes, (size_t)strtoull(bytes->str, NULL, 10));
    freeReplyObject(count);
    freeReplyObject(bytes);
    if (rep == NULL)
        return 0;
    for (size_t i = 0; i < rep->elements && n < max; i++)
        snprintf(ids[n++], sizeof ids[0], "%s", rep->element[i]->str);
    freeReplyObject(rep);
    return n;
}

static bool r_lease(struct store *st, const char *id, const char *token, unsigned ms, bool take) {
    redisReply *rep = take ? cmd(st, "SET " P "lease:%s %s NX PX %u", id, token, ms)
                           : cmd(st, "EVAL %s 1 " P "lease:%s %s", UNLEASE_SCRIPT, id, token);
    bool ok = rep != NULL && (take ? rep->type == REDIS_REPLY_STATUS : true);
    freeReplyObject(rep);
    return ok;
}

static void r_close(struct store *st) {
    struct redis *r = st->backend;
    if (r == NULL)
        return;
    if (r->c)
        redisFree(r->c);
    free(r);
}

static const struct store_ops redis_ops = {.kind = "redis",
                                           .close = r_close,
                                           .get = r_get,
                                           .put = r_put,
                                           .touch = r_touch,
                                           .delete = r_delete,
                                           .list = r_list,
                                           .idle = r_idle,
                                           .lease = r_lease};

static bool parse_url(const char *url, struct redis *r) {
    const char *p = url + 8, *end;
    size_t n;
    char *stop;
    if (strncmp(url, "redis://", 8) != 0)
        return false;
    n = strcspn(p, ":/");
    if (n == 0 || n >= sizeof r->host)
        return false;
    memcpy(r->host, p, n);
    r->host[n] = '\0';
    p += n;
    if (*p == ':') {
        long port = strtol(p + 1, &stop, 10);
        if (stop == p + 1 || port < 1 || port > 65535)
            return false;
        r->port = (int)port;
        p = stop;
    }
    if (*p == '/') {
        long db = strtol(p + 1, &stop, 10);
        if (stop == p + 1 || db < 0 || db > 1000)
            return false;
        r->db = (int)db;
        p = stop;
    }
    end = p;
    return *end == '\0';
}

struct store *store_redis_open(const char *url, size_t max_sessions, char *err, size_t err_len) {
    struct store *st = calloc(1, sizeof *st);
    struct redis *r = calloc(1, sizeof *r);
    redisReply *ping;

    if (st == NULL || r == NULL || !store_init(st, &redis_ops, max_sessions, 0)) {
        free(r);
        store_close(st);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    st->backend = r;
    r->port = 6379;
    if (!parse_url(url, r)) {
        snprintf(err, err_len, "--session-store %s: expected redis://HOST[:PORT][/DB]", url);
        store_close(st);
        return NULL;
    }
    ping = cmd(st, "PING");
    if (ping == NULL) {
        snprintf(err, err_len, "--session-store %s: redis does not answer", url);
        store_close(st);
        return NULL;
    }
    freeReplyObject(ping);
    return st;
}
