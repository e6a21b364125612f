/* The web UI's files, served read-only from one directory. */
#ifndef SCOPEBOX_STATIC_H
#define SCOPEBOX_STATIC_H

#include <stdbool.h>
#include <stdint.h>

struct static_file {
    int fd;               /* open, O_CLOEXEC; the caller owns it */
    uint64_t size;
    const char *content_type;
};

/* Maps a URL path ("/" -> index.html, "/app.js" -> app.js) to a regular
 * file under web_dir. Only paths made of [A-Za-z0-9._-] segments that do
 * not start with a dot are considered, so no path can leave the directory
 * or reach hidden files. Returns false if there is no such file. */
bool static_open(const char *web_dir, const char *url, struct static_file *out);

/* Content-Type by extension; application/octet-stream when unknown. */
const char *static_content_type(const char *path);

#endif
