#include "runio.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

/* Where a run may write (wasm/runtime/isolation.mjs, WRITABLE_DIRS): every
 * other directory of the worker's file system is read-only. An absolute
 * path must lie inside one; a relative one resolves in the run's working
 * directory (/home/pyodide, or where a session moved it: the worker checks
 * that case). */
static const char *const writable_dirs[] = {"/tmp/", "/home/pyodide/"};

#define SHOWN_MAX 64

enum path_use { USE_FILE, USE_GLOB };

/* `[` opens a class that must close within its segment: `[!...]`, and a
 * `]` right after the opening (or after `!`) is a member, as fnmatch reads
 * it. Returns the index just past the class, or 0 when it never closes. */
static size_t class_end(const char *seg, size_t n, size_t open) {
    size_t i = open + 1;
    if (i < n && seg[i] == '!')
        i++;
    if (i < n && seg[i] == ']')
        i++;
    for (; i < n; i++)
        if (seg[i] == ']')
            return i + 1;
    return 0;
}

/* One segment of a path (between slashes), never empty. */
static const char *segment_problem(const char *seg, size_t n, enum path_use use) {
    if (n == 2 && seg[0] == '.' && seg[1] == '.')
        return "has a '..' segment";
    if (n > RUNIO_NAME_MAX_BYTES)
        return "has a segment longer than 255 bytes";
    if (use != USE_GLOB)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (seg[i] == '*' && i + 1 < n && seg[i + 1] == '*' && n != 2)
            return "uses '**' inside a segment (it must be a whole segment: 'a/**/b')";
        if (seg[i] == '[') {
            size_t end = class_end(seg, n, i);
            if (end == 0)
                return "has a '[' that is not closed within its segment";
            i = end - 1;
        }
    }
    return NULL;
}

static const char *path_problem(const char *s, size_t len, enum path_use use) {
    size_t start = 0;
    if (len == 0)
        return "is empty";
    if (len > RUNIO_PATH_MAX_BYTES)
        return "is longer than 1024 bytes";
    if (memchr(s, '\0', len) != NULL)
        return "contains a NUL character";
    if (s[0] == '/') {
        bool inside = false;
        for (size_t i = 0; i < sizeof writable_dirs / sizeof writable_dirs[0]; i++) {
            size_t dl = strlen(writable_dirs[i]);
            if (len > dl && memcmp(s, writable_dirs[i], dl) == 0) {
                inside = true;
                start = dl;
            }
        }
        if (!inside)
            return "is absolute outside the writable directories (/tmp/..., /home/pyodide/...)";
    }
    if (s[len - 1] == '/')
        return "ends with '/' (it must name a file)";
    while (start < len) {
        const char *slash = memchr(s + start, '/', len - start);
        size_t end = slash ? (size_t)(slash - s) : len;
        const char *why;
        if (end == start)
            return "has an empty segment ('//')";
        why = segment_problem(s + start, end - start, use);
        if (why != NULL)
            return why;
        if (end == len && end - start == 1 && s[start] == '.')
            return "ends with '.' (it must name a file)";
        start = end + 1;
    }
    return NULL;
}

static bool check_path(const json_t *v, enum path_use use, const char *what, size_t i,
                       struct api_error *err) {
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    const char *why = path_problem(s, len, use);
    char shown[SHOWN_MAX + 1];
    if (why == NULL)
        return true;
    log_sanitize(shown, sizeof shown, s, len);
    if (use == USE_GLOB)
        api_error_of(err, API_INVALID_GLOB, "collect[%zu] '%s' %s", i, shown, why);
    else
        api_error_of(err, API_INVALID_PATH, "%s[%zu].path '%s' %s", what, i, shown, why);
    return false;
}

/* Strict base64 (RFC 4648, padded, no whitespace), as the worker decodes
 * it; the decoded size, or -1. */
static long long base64_size(const char *s, size_t len) {
    size_t pad = 0;
    if (len % 4 != 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '+' || c == '/';
        if (c == '=' && i + 2 >= len) {
            pad++;
            continue;
        }
        if (!alpha || pad > 0)
            return -1;
    }
    return (long long)(len / 4 * 3 - pad);
}

bool runio_check_stdin(const json_t *v, struct api_error *err) {
    size_t len = json_string_length(v);
    if (len <= STDIN_MAX_BYTES)
        return true;
    api_error_of(err, API_STDIN_TOO_LARGE, "field 'stdin' holds %zu bytes (UTF-8); the limit is %u",
                 len, STDIN_MAX_BYTES);
    return false;
}

/* One entry: {"path": ..., "text": ...} or {"path": ..., "base64": ...}.
 * Its content's size, or -1 with `err` filled. */
static long long check_file(const json_t *entry, size_t i, struct api_error *err) {
    const char *key;
    const json_t *member, *path, *text, *b64;
    long long size;

    if (!json_is_object(entry)) {
        api_error_of(err, API_INVALID_TYPE,
                     "files[%zu] must be an object {\"path\": ..., \"text\" or \"base64\": ...}",
                     i);
        return -1;
    }
    json_object_foreach((json_t *)entry, key, member) {
        char shown[SHOWN_MAX + 1];
        if (strcmp(key, "path") == 0 || strcmp(key, "text") == 0 || strcmp(key, "base64") == 0)
            continue;
        log_sanitize(shown, sizeof shown, key, strlen(key));
        api_error_of(err, API_UNKNOWN_FIELD, "unknown field 'files[%zu].%s'", i, shown);
        return -1;
    }
    path = json_object_get(entry, "path");
    text = json_object_get(entry, "text");
    b64 = json_object_get(entry, "base64");
    if (path == NULL) {
        api_error_of(err, API_MISSING_FIELD, "field 'files[%zu].path' is required", i);
        return -1;
    }
    if (!json_is_string(path)) {
        api_error_of(err, API_INVALID_TYPE, "field 'files[%zu].path' must be a string", i);
        return -1;
    }
    if ((text == NULL) == (b64 == NULL)) {
        api_error_of(err, API_INVALID_VALUE,
                     "files[%zu] must have exactly one of 'text' and 'base64'", i);
        return -1;
    }
    if (!json_is_string(text ? text : b64)) {
        api_error_of(err, API_INVALID_TYPE, "field 'files[%zu].%s' must be a string", i,
                     text ? "text" : "base64");
        return -1;
    }
    if (!check_path(path, USE_FILE, "files", i, err))
        return -1;
    if (text != NULL)
        return (long long)json_string_length(text);
    size = base64_size(json_string_value(b64), json_string_length(b64));
    if (size < 0)
        api_error_of(err, API_INVALID_VALUE, "field 'files[%zu].base64' is not base64", i);
    return size;
}

bool runio_check_files(const json_t *v, struct api_error *err) {
    size_t i, n = json_array_size(v);
    unsigned long long total = 0;
    const json_t *entry;

    if (n > FILES_MAX) {
        api_error_of(err, API_TOO_MANY_FILES, "field 'files' lists %zu files; the limit is %d", n,
                     FILES_MAX);
        return false;
    }
    json_array_foreach(v, i, entry) {
        long long size = check_file(entry, i, err);
        if (size < 0)
            return false;
        total += (unsigned long long)size;
    }
    if (total > FILES_MAX_BYTES) {
        api_error_of(err, API_FILES_TOO_LARGE,
                     "field 'files' holds %llu bytes of contents; the limit is %u", total,
                     FILES_MAX_BYTES);
        return false;
    }
    return true;
}

bool runio_check_collect(const json_t *v, struct api_error *err) {
    size_t i, n = json_array_size(v);
    const json_t *pattern;

    if (n > COLLECT_MAX) {
        api_error_of(err, API_INVALID_GLOB, "field 'collect' lists %zu patterns; the limit is %d",
                     n, COLLECT_MAX);
        return false;
    }
    json_array_foreach(v, i, pattern) {
        if (!json_is_string(pattern)) {
            api_error_of(err, API_INVALID_TYPE,
                         "field 'collect' must list glob patterns as strings (item %zu is not)", i);
            return false;
        }
        if (!check_path(pattern, USE_GLOB, "collect", i, err))
            return false;
    }
    return true;
}
