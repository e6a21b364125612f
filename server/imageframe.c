#include "imageframe.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "rawjson.h"

struct found {
    unsigned n_image;
    struct rawjson_member image;
    bool escaped;
};

static bool find_image(void *arg, const struct rawjson_member *m) {
    struct found *f = arg;
    /* A key with escapes may decode to "image": then jansson's last one
     * would not be the one found here. */
    if (memchr(m->key, '\\', m->key_len) != NULL) {
        f->escaped = true;
        return false;
    }
    if (rawjson_key_is(m, "image"))
        f->n_image++, f->image = *m;
    return true;
}

json_t *image_frame_split(const uint8_t *payload, size_t len, const char **image,
                          size_t *image_len) {
    const char *t = (const char *)payload;
    struct found f = {0};
    size_t before, after, inner;
    char *rest, why[128];
    const char *type;
    json_t *msg;

    if (!rawjson_members(t, len, find_image, &f) || f.escaped || f.n_image != 1)
        return NULL;
    if (f.image.value_len < 2 || f.image.value[0] != '"' ||
        f.image.value[f.image.value_len - 1] != '"')
        return NULL;
    inner = f.image.value_len - 2;
    if (memchr(f.image.value + 1, '\\', inner) != NULL)
        return NULL;
    /* The frame with `""` for the image: a string token for a string
     * token, so it is JSON exactly when the frame is (given the bytes are
     * base64), and small. */
    before = (size_t)(f.image.value - t);
    after = len - before - f.image.value_len;
    rest = malloc(before + 2 + after);
    if (rest == NULL)
        return NULL;
    memcpy(rest, t, before);
    memcpy(rest + before, "\"\"", 2);
    memcpy(rest + before + 2, f.image.value + f.image.value_len, after);
    msg = frame_parse_message((const uint8_t *)rest, before + 2 + after, &type, why, sizeof why);
    free(rest);
    if (msg == NULL)
        return NULL;
    if (json_string_length(json_object_get(msg, "image")) != 0 ||
        !json_is_string(json_object_get(msg, "image"))) {
        json_decref(msg);
        return NULL;
    }
    *image = f.image.value + 1;
    *image_len = inner;
    return msg;
}
