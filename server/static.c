#define _GNU_SOURCE
#include "static.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
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
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-'))
            return false;
        seg_start = false;
    }
    return !seg_start; /* no trailing slash */
}

bool static_open(const char *web_dir, const char *url, struct static_file *out) {
    char path[PATH_MAX];
    const char *rel;
    struct stat st;
    int fd, n;

    if (url[0] != '/')
        return false;
    rel = strcmp(url, "/") == 0 ? "index.html" : url + 1;
    if (strlen(rel) > 255 || !safe_path(rel))
        return false;
    n = snprintf(path, sizeof path, "%s/%s", web_dir, rel);
    if (n < 0 || (size_t)n >= sizeof path)
        return false;
    /* O_NONBLOCK: a FIFO planted in the directory must not hang the HTTP
     * thread in open(); it is then refused as not a regular file. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return false;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return false;
    }
    out->fd = fd;
    out->size = (uint64_t)st.st_size;
    out->content_type = static_content_type(rel);
    return true;
}
