/* The worker protocol's framing (wasm/runtime/PROTOCOL.md): a 4-byte
 * big-endian length, then that many bytes of a JSON object with a string
 * member "type". Pure code: no I/O, so it is unit-tested and fuzzed alone. */
#ifndef SCOPEBOX_FRAME_H
#define SCOPEBOX_FRAME_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_HEADER_SIZE 4
#define FRAME_MIN_PAYLOAD 2u        /* "{}" */
#define FRAME_MAX_PAYLOAD 67108864u /* 64 MiB */

enum frame_status {
    FRAME_PARTIAL,  /* all input consumed, no complete frame yet */
    FRAME_COMPLETE, /* a payload is ready: frame_decoder_take() it */
    FRAME_ERROR,    /* the stream is broken; see decoder->error */
};

struct frame_decoder {
    uint8_t header[FRAME_HEADER_SIZE];
    size_t header_len;
    uint32_t length;  /* payload length, once the header is complete */
    uint8_t *payload; /* grows as bytes arrive: a lying header costs nothing */
    size_t have, cap;
    bool complete, failed;
    char error[128];
};

void frame_decoder_init(struct frame_decoder *d);
void frame_decoder_free(struct frame_decoder *d);

/* Consumes bytes up to the end of the next complete frame (*used says how
 * many). Call again with the rest after taking the payload. Once it has
 * returned FRAME_ERROR it keeps doing so. */
enum frame_status frame_decoder_feed(struct frame_decoder *d, const uint8_t *data, size_t len,
                                     size_t *used);

/* Hands over the completed payload (malloc'd, NUL-terminated after `len`
 * bytes for convenience) and readies the decoder for the next frame. */
uint8_t *frame_decoder_take(struct frame_decoder *d, size_t *len);

/* True between frames, where the protocol allows end of file. */
bool frame_decoder_at_boundary(const struct frame_decoder *d);

/* Encodes `msg` (compact JSON) as one frame in a new malloc'd buffer.
 * Returns false with a reason if the payload would break the bounds. */
bool frame_encode(const json_t *msg, uint8_t **out, size_t *out_len, char *why, size_t why_len);

/* Parses a payload as a protocol message: a JSON object with a string
 * "type". Returns the object (caller owns it) and points *type into it. */
json_t *frame_parse_message(const uint8_t *payload, size_t len, const char **type, char *why,
                            size_t why_len);

#endif
