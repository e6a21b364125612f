/* libFuzzer target: the host's decoder of worker frames (server/frame.c),
 * i.e. everything a compromised worker can send the server. The input is
 * split into chunks at arbitrary points (the chunk sizes come from the input
 * itself), as reads from a pipe would split it. Checks:
 *   - a decoder that failed stays failed; `used` never exceeds what it got;
 *   - every payload handed over has the length the header announced;
 *   - whatever frame_parse_message accepts is an object with a string type,
 *     and re-encodes to a frame that decodes to the same JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "frame.h"

static void check_roundtrip(json_t *msg) {
    uint8_t *buf;
    size_t len, used;
    char why[128];
    struct frame_decoder d;

    if (!frame_encode(msg, &buf, &len, why, sizeof why))
        return; /* too big: fine */
    frame_decoder_init(&d);
    if (frame_decoder_feed(&d, buf, len, &used) != FRAME_COMPLETE || used != len)
        abort();
    size_t plen;
    uint8_t *p = frame_decoder_take(&d, &plen);
    json_t *again = json_loadb((const char *)p, plen, 0, NULL);
    if (again == NULL || !json_equal(again, msg))
        abort();
    json_decref(again);
    free(p);
    free(buf);
    frame_decoder_free(&d);
}

/* libFuzzer's entry point; libFuzzer has no header that declares it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct frame_decoder d;
    size_t off = 0, step = 1;
    bool failed = false;

    if (size == 0)
        return 0;
    step = (size_t)(data[0] % 17) + 1;
    data++;
    size--;
    frame_decoder_init(&d);
    while (off < size) {
        size_t chunk = size - off < step ? size - off : step, used = 0;
        enum frame_status st = frame_decoder_feed(&d, data + off, chunk, &used);
        if (used > chunk)
            abort();
        if (failed && st != FRAME_ERROR)
            abort();
        if (st == FRAME_ERROR) {
            failed = true;
            break;
        }
        off += used;
        if (st == FRAME_COMPLETE) {
            size_t len;
            uint8_t *payload = frame_decoder_take(&d, &len);
            const char *type = NULL;
            char why[192];
            json_t *msg = frame_parse_message(payload, len, &type, why, sizeof why);
            if (msg != NULL) {
                if (!json_is_object(msg) || type == NULL ||
                    !json_is_string(json_object_get(msg, "type")) ||
                    strcmp(type, json_string_value(json_object_get(msg, "type"))) != 0)
                    abort();
                check_roundtrip(msg);
                json_decref(msg);
            } else if (memchr(why, 0, sizeof why) == NULL) {
                abort();
            }
            free(payload);
        } else if (used != chunk) {
            abort(); /* a partial frame consumes all it is given */
        }
    }
    (void)frame_decoder_at_boundary(&d);
    frame_decoder_free(&d);
    return 0;
}
