/* --session-dir: one file per session, <dir>/<id>.session, so that sessions
 * survive a restart of the server. A write goes to a temporary file that is
 * fsynced and renamed over the old one (and the directory fsynced), so a
 * crash leaves either the old image or the new one, never a torn file.
 *
 * File: "SBXSES01" | u32 LE length | metadata (JSON) | signed image. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "store_index.h"

#define MAGIC "SBXSES01"
#define SUFFIX ".session"

struct disk {
    char *dir;
    int dir_fd;
};

static void path_of(const struct store *st, const char *id, char *out, size_t len) {
    snprintf(out, len, "%s/%s" SUFFIX, ((struct disk *)st->backend)->dir, id);
}

static bool write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        c += w, n -= (size_t)w;
    }
    return true;
}

static bool disk_write(struct store *st, const struct session_meta *m, const uint8_t *image,
                       size_t len) {
    struct disk *d = st->backend;
    char path[4096], tmp[4096];
    json_t *j = json_pack("{s:s, s:s, s:f, s:f, s:I, s:I}", "id", m->id, "owner", m->owner,
                          "created_ms", m->created_ms, "used_ms", m->used_ms, "runs",
                          (json_int_t)m->runs, "version", (json_int_t)m->version);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    uint8_t head[12];
    uint32_t tl;
    bool ok = false;
    int fd;

    json_decref(j);
    if (text == NULL)
        return false;
    tl = (uint32_t)strlen(text);
    memcpy(head, MAGIC, 8);
    head[8] = (uint8_t)tl, head[9] = (uint8_t)(tl >> 8), head[10] = (uint8_t)(tl >> 16),
    head[11] = (uint8_t)(tl >> 24);
    path_of(st, m->id, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", d->dir, m->id);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
        ok = write_all(fd, head, sizeof head) && write_all(fd, text, tl) &&
             (len == 0 || write_all(fd, image, len)) && fsync(fd) == 0;
        ok = close(fd) == 0 && ok;
        ok = ok && rename(tmp, path) == 0 && fsync(d->dir_fd) == 0;
        if (!ok)
            unlink(tmp);
    }
    if (!ok)
        log_msg("session store: cannot write %s: %s", path, strerror(errno));
    free(text);
    return ok;
}

/* The whole file; *len its size. */
static uint8_t *slurp(const char *path, size_t *len) {
    struct stat sb;
    uint8_t *buf = NULL;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    if (fstat(fd, &sb) == 0 && (buf = malloc((size_t)sb.st_size + 1)) != NULL) {
        while (got < (size_t)sb.st_size) {
            ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
    }
    close(fd);
    if (buf && got != (size_t)sb.st_size) {
        free(buf);
        return NULL;
    }
    *len = got;
    return buf;
}

/* Where the image starts, or 0 when the file is not one of ours. */
static size_t parse_head(const uint8_t *buf, size_t len, struct session_meta *m) {
    uint32_t tl;
    json_t *j;
    json_error_t e;
    const char *id = NULL, *owner = NULL;
    double created = 0, used = 0;
    json_int_t runs = 0, version = 0;

    if (len < 12 || memcmp(buf, MAGIC, 8) != 0)
        return 0;
    tl = buf[8] | (uint32_t)buf[9] << 8 | (uint32_t)buf[10] << 16 | (uint32_t)buf[11] << 24;
    if (tl > len - 12)
        return 0;
    j = json_loadb((const char *)buf + 12, tl, 0, &e);
    if (j == NULL ||
        json_unpack(j, "{s:s, s:s, s:F, s:F, s:I, s:I}", "id", &id, "owner", &owner, "created_ms",
                    &created, "used_ms", &used, "runs", &runs, "version", &version) != 0 ||
        !session_id_valid(id, strlen(id)) || strlen(owner) > SESSION_OWNER_MAX) {
        json_decref(j);
        return 0;
    }
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "%s", id);
    snprintf(m->owner, sizeof m->owner, "%s", owner);
    m->created_ms = created, m->used_ms = used;
    m->runs = (unsigned)runs, m->version = (uint64_t)version;
    m->image_len = len - 12 - tl;
    json_decref(j);
    return 12 + tl;
}

static bool disk_read(struct store *st, const struct session_meta *m, uint8_t **image) {
    char path[4096];
    size_t len, at;
    struct session_meta on_disk;
    uint8_t *buf;

    path_of(st, m->id, path, sizeof path);
    buf = slurp(path, &len);
    if (buf == NULL) {
        log_msg("session store: cannot read %s: %s", path, strerror(errno));
        return false;
    }
    at = parse_head(buf, len, &on_disk);
    if (at == 0 || on_disk.image_len != m->image_len) {
        log_msg("session store: %s is damaged", path);
        free(buf);
        return false;
    }
    memmove(buf, buf + at, on_disk.image_len);
    *image = buf;
    return true;
}

static bool disk_remove(struct store *st, const char *id) {
    char path[4096];
    path_of(st, id, path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT) {
        log_msg("session store: cannot remove %s: %s", path, strerror(errno));
        return false;
    }
    return true;
}

static void disk_close(struct store *st) {
    struct disk *d = st->backend;
    if (d == NULL)
        return;
    if (d->dir_fd >= 0)
        close(d->dir_fd);
    free(d->dir);
    free(d);
}

static const struct store_ops disk_ops = {.kind = "disk",
                                          .write = disk_write,
                                          .read = disk_read,
                                          .remove = disk_remove,
                                          .close = disk_close};

/* Every session file in the directory goes into the index; leftovers of an
 * interrupted write (".<id>.tmp") are removed. */
static bool load(struct store *st, char *err, size_t err_len) {
    struct disk *d = st->backend;
    DIR *dir = fdopendir(dup(d->dir_fd));
    struct dirent *de;
    size_t loaded = 0, skipped = 0;

    if (dir == NULL) {
        snprintf(err, err_len, "--session-dir %s: %s", d->dir, strerror(errno));
        return false;
    }
    while ((de = readdir(dir)) != NULL) {
        size_t n = strlen(de->d_name), len, at;
        char path[4096];
        uint8_t *buf;
        struct session_meta m;
        if (de->d_name[0] == '.' && n > 4 && strcmp(de->d_name + n - 4, ".tmp") == 0) {
            unlinkat(d->dir_fd, de->d_name, 0);
            continue;
        }
        if (n <= strlen(SUFFIX) || strcmp(de->d_name + n - strlen(SUFFIX), SUFFIX) != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", d->dir, de->d_name);
        buf = slurp(path, &len); /* the metadata is at the front; images are small */
        at = buf ? parse_head(buf, len, &m) : 0;
        free(buf);
        if (at == 0 || !store_index_add(st, &m)) {
            skipped++;
            log_msg("session store: skipping %s (not a session file)", path);
            continue;
        }
        loaded++;
    }
    closedir(dir);
    log_msg("session store: %zu session(s) loaded from %s%s", loaded, d->dir,
            skipped ? " (some files skipped)" : "");
    return true;
}

struct store *store_disk_open(const char *dirpath, size_t max_sessions, char *err, size_t err_len) {
    struct store *st = calloc(1, sizeof *st);
    struct disk *d = calloc(1, sizeof *d);

    if (st == NULL || d == NULL || !store_init(st, &disk_ops, max_sessions, 0)) {
        snprintf(err, err_len, "out of memory");
        free(d);
        store_close(st);
        return NULL;
    }
    st->backend = d;
    d->dir = strdup(dirpath);
    if (mkdir(dirpath, 0700) != 0 && errno != EEXIST) {
        snprintf(err, err_len, "--session-dir %s: %s", dirpath, strerror(errno));
        store_close(st);
        return NULL;
    }
    d->dir_fd = open(dirpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->dir_fd < 0 || d->dir == NULL) {
        snprintf(err, err_len, "--session-dir %s: %s", dirpath, strerror(errno));
        store_close(st);
        return NULL;
    }
    if (!load(st, err, err_len)) {
        store_close(st);
        return NULL;
    }
    return st;
}
