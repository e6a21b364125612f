/* libFuzzer target: a worker's image frame split without parsing its image
 * (server/imageframe.c); its input is what a compromised worker can send.
 * Checks: the image it reports lies inside the input; and when those bytes
 * are base64 (what the host then requires), jansson accepts the whole
 * input and it is exactly the split's object with that image put back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "imageframe.h"

static int is_base64(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '='))
            return 0;
    }
    return 1;
}

/* libFuzzer's entry point; libFuzzer has no header that declares it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1); /* exactly the input: ASan sees overreads */
    const char *image = NULL;
    size_t len = 0;
    json_t *msg;

    memcpy(copy, data, size);
    msg = image_frame_split(copy, size, &image, &len);
    if (msg != NULL) {
        if (image < (const char *)copy || image + len > (const char *)copy + size)
            abort();
        if (is_base64(image, len)) {
            json_t *whole =
                json_loadb((const char *)copy, size, JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL);
            json_t *text = json_object_get(whole, "image");
            if (!json_is_string(text) || json_string_length(text) != len ||
                memcmp(json_string_value(text), image, len) != 0)
                abort();
            json_object_set_new(msg, "image", json_stringn(image, len));
            if (!json_equal(msg, whole))
                abort();
            json_decref(whole);
        }
        json_decref(msg);
    }
    free(copy);
    return 0;
}
