/* The web UI's files, served read-only from one directory. */
#ifndef SCOPEBOX_STATIC_H
#define SCOPEBOX_STATIC_H

#include <stdbool.h>
#include <stdint.h>

struct static_file {
    int fd; /* open, O_CLOEXEC; the caller owns it */
    uint64_t size;
    const char *content_type;
    const char *content_encoding; /* "gzip" for a precompressed copy, else NULL */
    bool varies;                  /* a precompressed copy exists: send Vary: Accept-Encoding */
    char etag[64];                /* strong validator from size, mtime and encoding */
    char last_modified[40];       /* IMF-fixdate */
};

/* Headers every static response carries, {name, value} pairs ending with
 * {NULL, NULL}: revalidate before use (an ETag makes that a 304), no
 * sniffing, and cross-origin isolation (COOP/COEP/CORP), which the
 * playground's browser engine needs for SharedArrayBuffer. */
extern const char *const static_headers[][2];

/* Maps a URL path ("/" -> index.html, "/app.js" -> app.js) to a regular
 * file under web_dir. Only paths made of [A-Za-z0-9._-] segments that do
 * not start with a dot are considered, so no path can leave the directory
 * or reach hidden files. Returns false if there is no such file. */
bool static_open(const char *web_dir, const char *url, struct static_file *out);

/* static_open, but when accept_encoding (the request's Accept-Encoding,
 * may be NULL) allows gzip and the file has a precompressed sibling
 * "<file>.gz", opens that one instead (content_encoding "gzip"). */
bool static_open_negotiated(const char *web_dir, const char *url, const char *accept_encoding,
                            struct static_file *out);

/* Whether an If-None-Match header value (may be NULL) matches the file's
 * ETag, so that a 304 Not Modified answers the request. */
bool static_not_modified(const struct static_file *f, const char *if_none_match);

/* Content-Type by extension; application/octet-stream when unknown. */
const char *static_content_type(const char *path);

#endif
