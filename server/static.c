#define _GNU_SOURCE
#include "static.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".wasm", "application/wasm"},
    {".txt", "text/plain; charset=utf-8"},
    {".map", "application/json"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".zip", "application/zip"},
    {".py", "text/plain; charset=utf-8"},
    {".so", "application/octet-stream"},
};

const char *const static_headers[][2] = {
    {"Cache-Control", "no-cache"},
    {"X-Content-Type-Options", "nosniff"},
    {"Cross-Origin-Opener-Policy", "same-origin"},
    {"Cross-Origin-Embedder-Policy", "require-corp"},
    {"Cross-Origin-Resource-Policy", "same-origin"},
    {NULL, NULL},
};

const char *static_content_type(const char *path) {
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (dot != NULL && (slash == NULL || dot > slash))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

/* Whitelist rather than blacklist: "..", "%2e%2e", "\\", NUL, "//" and any
 * encoding trick all fail the same simple test. */
static bool safe_path(const char *rel) {
    bool seg_start = true;
    if (*rel == '\0')
        return false;
    for (const char *c = rel; *c; c++) {
        if (*c == '/') {
            if (seg_start)
                return false; /* empty segment */
            seg_start = true;
            continue;
        }
        if (seg_start && *c == '.')
            return false; /* ".", "..", ".git", ... */
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '_' || *c == '-'))
            return false;
        seg_start = false;
    }
    return !seg_start; /* no trailing slash */
}

/* O_NONBLOCK: a FIFO planted in the directory must not hang the HTTP
 * thread in open(); it is then refused as not a regular file. */
static int open_regular(const char *path, struct stat *st) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* gzip acceptable: listed without ";q=0" (a bare "*" counts too). */
static bool accepts_gzip(const char *accept) {
    const char *p = accept;
    while (p != NULL && *p) {
        size_t len;
        const char *end, *q;
        while (*p == ' ' || *p == ',')
            p++;
        end = strchr(p, ',');
        len = end ? (size_t)(end - p) : strlen(p);
        if ((len >= 4 && strncasecmp(p, "gzip", 4) == 0 &&
             (len == 4 || p[4] == ';' || p[4] == ' ')) ||
            (len >= 1 && p[0] == '*' && (len == 1 || p[1] == ';' || p[1] == ' '))) {
            q = memchr(p, ';', len);
            if (q == NULL)
                return true;
            q = strstr(q, "q=");
            return q == NULL || q >= p + len || strtod(q + 2, NULL) > 0;
        }
        p = end;
    }
    return false;
}

static bool open_file(const char *web_dir, const char *url, const char *accept_encoding,
                      struct static_file *out) {
    char path[PATH_MAX];
    const char *rel;
    struct stat st, gz;
    struct tm tm;
    int fd, gzfd = -1, n;

    if (url[0] != '/')
        return false;
    rel = strcmp(url, "/") == 0 ? "index.html" : url + 1;
    if (strlen(rel) > 255 || !safe_path(rel))
        return false;
    n = snprintf(path, sizeof path, "%s/%s", web_dir, rel);
    if (n < 0 || (size_t)n + 3 >= sizeof path)
        return false;
    fd = open_regular(path, &st);
    if (fd < 0)
        return false;
    out->content_encoding = NULL;
    out->varies = false;
    if (accept_encoding != NULL) {
        memcpy(path + n, ".gz", 4);
        gzfd = open_regular(path, &gz);
        out->varies = gzfd >= 0;
        if (gzfd >= 0 && accepts_gzip(accept_encoding)) {
            close(fd);
            fd = gzfd;
            st = gz;
            out->content_encoding = "gzip";
        } else if (gzfd >= 0) {
            close(gzfd);
        }
    }
    out->fd = fd;
    out->size = (uint64_t)st.st_size;
    out->content_type = static_content_type(rel);
    snprintf(out->etag, sizeof out->etag, "\"%llx-%llx%s\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL +
                 (unsigned long long)st.st_mtim.tv_nsec,
             out->content_encoding ? "-gz" : "");
    if (gmtime_r(&st.st_mtim.tv_sec, &tm) == NULL ||
        strftime(out->last_modified, sizeof out->last_modified, "%a, %d %b %Y %H:%M:%S GMT", &tm) ==
            0)
        out->last_modified[0] = '\0';
    return true;
}

bool static_open(const char *web_dir, const char *url, struct static_file *out) {
    return open_file(web_dir, url, NULL, out);
}

bool static_open_negotiated(const char *web_dir, const char *url, const char *accept_encoding,
                            struct static_file *out) {
    return open_file(web_dir, url, accept_encoding ? accept_encoding : "", out);
}

bool static_not_modified(const struct static_file *f, const char *if_none_match) {
    size_t elen = strlen(f->etag);
    const char *p = if_none_match;
    while (p != NULL && *p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (strncmp(p, "W/", 2) == 0) /* weak comparison, as RFC 9110 wants for If-None-Match */
            p += 2;
        if (strncmp(p, f->etag, elen) == 0 && (p[elen] == '\0' || p[elen] == ',' || p[elen] == ' '))
            return true;
        p = strchr(p, ',');
    }
    return false;
}
