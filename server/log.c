#define _GNU_SOURCE
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Lines are written with a single write(2): lines from the HTTP thread, the
 * dispatcher and main never interleave within a line, with no lock needed. */
#define LOG_LINE_MAX 4096

static void write_all(const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, buf, len);
        if (n < 0)
            return; /* nowhere left to report it */
        buf += n;
        len -= (size_t)n;
    }
}

/* Set once before any thread starts, read after: no lock. */
static enum log_level min_level = LOG_INFO;

void log_set_level(enum log_level level) {
    min_level = level;
}

bool log_level_parse(const char *name, enum log_level *out) {
    static const char *const names[] = {
        [LOG_DEBUG] = "debug", [LOG_INFO] = "info", [LOG_WARNING] = "warning"};
    for (size_t i = 0; name != NULL && i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (enum log_level)i;
            return true;
        }
    }
    return false;
}

static void log_line(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static void log_line(const char *fmt, va_list ap) {
    char line[LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    size_t off;
    int n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    off = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    off += (size_t)snprintf(line + off, sizeof line - off, ".%03ldZ ", ts.tv_nsec / 1000000L);
    n = vsnprintf(line + off, sizeof line - off, fmt, ap);
    if (n < 0)
        n = 0;
    off += (size_t)n;
    if (off > sizeof line - 2)
        off = sizeof line - 2; /* truncated: still end the line */
    line[off++] = '\n';
    write_all(line, off);
}

void log_vmsg(const char *fmt, va_list ap) {
    if (min_level <= LOG_INFO)
        log_line(fmt, ap);
}

void log_msg(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(fmt, ap);
    va_end(ap);
}

void log_at(enum log_level level, const char *fmt, ...) {
    va_list ap;
    if (level < min_level)
        return;
    va_start(ap, fmt);
    log_line(fmt, ap);
    va_end(ap);
}

void log_raw(const char *line) {
    char buf[LOG_LINE_MAX];
    size_t len = strlen(line);
    if (len > sizeof buf - 1)
        len = sizeof buf - 1;
    memcpy(buf, line, len);
    buf[len++] = '\n';
    write_all(buf, len);
}

static size_t utf8_seq_len(unsigned char c) {
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)
        return 2;
    if ((c & 0xF0) == 0xE0)
        return 3;
    if ((c & 0xF8) == 0xF0)
        return 4;
    return 0;
}

char *log_sanitize(char *out, size_t outsize, const char *in, size_t inlen) {
    size_t o = 0, i = 0;
    if (outsize == 0)
        return out;
    while (i < inlen) {
        unsigned char c = (unsigned char)in[i];
        size_t n = utf8_seq_len(c), k;
        int ok = n > 0 && i + n <= inlen;
        for (k = 1; ok && k < n; k++)
            ok = ((unsigned char)in[i + k] & 0xC0) == 0x80;
        if (!ok || (n == 1 && (c < 0x20 || c == 0x7F))) {
            if (o + 1 >= outsize)
                break;
            out[o++] = '?';
            i++;
            continue;
        }
        if (o + n >= outsize)
            break;
        memcpy(out + o, in + i, n);
        o += n;
        i += n;
    }
    out[o] = '\0';
    return out;
}
