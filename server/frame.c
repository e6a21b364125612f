#include "frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INITIAL_CAP 4096

void frame_decoder_init(struct frame_decoder *d) {
    memset(d, 0, sizeof *d);
}

void frame_decoder_free(struct frame_decoder *d) {
    free(d->payload);
    frame_decoder_init(d);
}

static enum frame_status fail(struct frame_decoder *d, bool oom) {
    d->failed = true;
    if (oom)
        snprintf(d->error, sizeof d->error, "out of memory for a %lu-byte frame",
                 (unsigned long)d->length);
    else
        snprintf(d->error, sizeof d->error, "frame length %lu outside [%u, %u]",
                 (unsigned long)d->length, FRAME_MIN_PAYLOAD, FRAME_MAX_PAYLOAD);
    return FRAME_ERROR;
}

enum frame_status frame_decoder_feed(struct frame_decoder *d, const uint8_t *data, size_t len,
                                     size_t *used) {
    size_t pos = 0;

    *used = 0;
    if (d->failed)
        return FRAME_ERROR;
    if (d->complete) /* previous payload not taken: refuse to overwrite it */
        return FRAME_COMPLETE;

    while (d->header_len < FRAME_HEADER_SIZE && pos < len)
        d->header[d->header_len++] = data[pos++];
    if (d->header_len < FRAME_HEADER_SIZE) {
        *used = pos;
        return FRAME_PARTIAL;
    }
    if (d->payload == NULL) {
        d->length = (uint32_t)d->header[0] << 24 | (uint32_t)d->header[1] << 16 |
                    (uint32_t)d->header[2] << 8 | (uint32_t)d->header[3];
        if (d->length < FRAME_MIN_PAYLOAD || d->length > FRAME_MAX_PAYLOAD) {
            *used = pos;
            return fail(d, false);
        }
        d->cap = d->length < INITIAL_CAP ? d->length : INITIAL_CAP;
        d->payload = malloc(d->cap + 1);
        d->have = 0;
        if (d->payload == NULL) {
            *used = pos;
            return fail(d, true);
        }
    }

    size_t want = d->length - d->have, n = len - pos < want ? len - pos : want;
    if (d->have + n > d->cap) {
        size_t cap = d->cap;
        while (cap < d->have + n)
            cap = cap * 2 < d->length ? cap * 2 : d->length;
        uint8_t *p = realloc(d->payload, cap + 1);
        if (p == NULL) {
            *used = pos;
            return fail(d, true);
        }
        d->payload = p;
        d->cap = cap;
    }
    memcpy(d->payload + d->have, data + pos, n);
    d->have += n;
    pos += n;
    *used = pos;
    if (d->have < d->length)
        return FRAME_PARTIAL;
    d->payload[d->have] = '\0';
    d->complete = true;
    return FRAME_COMPLETE;
}

uint8_t *frame_decoder_take(struct frame_decoder *d, size_t *len) {
    uint8_t *p;
    if (!d->complete)
        return NULL;
    p = d->payload;
    *len = d->have;
    d->payload = NULL;
    d->have = d->cap = 0;
    d->header_len = 0;
    d->length = 0;
    d->complete = false;
    return p;
}

bool frame_decoder_at_boundary(const struct frame_decoder *d) {
    return !d->failed && !d->complete && d->header_len == 0;
}

bool frame_encode(const json_t *msg, uint8_t **out, size_t *out_len, char *why, size_t why_len) {
    size_t n = json_dumpb(msg, NULL, 0, JSON_COMPACT);
    uint8_t *buf;

    *out = NULL;
    *out_len = 0;
    if (n == 0) {
        snprintf(why, why_len, "message cannot be encoded as JSON");
        return false;
    }
    if (n < FRAME_MIN_PAYLOAD || n > FRAME_MAX_PAYLOAD) {
        snprintf(why, why_len, "message of %zu bytes is outside the frame bounds", n);
        return false;
    }
    buf = malloc(FRAME_HEADER_SIZE + n);
    if (buf == NULL) {
        snprintf(why, why_len, "out of memory");
        return false;
    }
    if (json_dumpb(msg, (char *)buf + FRAME_HEADER_SIZE, n, JSON_COMPACT) != n) {
        free(buf);
        snprintf(why, why_len, "message changed size while being encoded");
        return false;
    }
    buf[0] = (uint8_t)(n >> 24);
    buf[1] = (uint8_t)(n >> 16);
    buf[2] = (uint8_t)(n >> 8);
    buf[3] = (uint8_t)n;
    *out = buf;
    *out_len = FRAME_HEADER_SIZE + n;
    return true;
}

json_t *frame_parse_message(const uint8_t *payload, size_t len, const char **type, char *why,
                            size_t why_len) {
    json_error_t jerr;
    json_t *msg, *t;

    /* Python strings may hold NUL; they travel escaped and must not be
     * rejected on the way back. */
    msg = json_loadb((const char *)payload, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
    if (msg == NULL) {
        snprintf(why, why_len, "payload is not JSON: %s", jerr.text);
        return NULL;
    }
    if (!json_is_object(msg)) {
        snprintf(why, why_len, "payload is not a JSON object");
        json_decref(msg);
        return NULL;
    }
    t = json_object_get(msg, "type");
    if (!json_is_string(t)) {
        snprintf(why, why_len, "payload has no string member \"type\"");
        json_decref(msg);
        return NULL;
    }
    *type = json_string_value(t);
    return msg;
}
