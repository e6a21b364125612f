/* server/imageframe.c: a worker's image frame split into its image's bytes
 * and the rest parsed by jansson; anything not certainly such a frame is
 * left to the whole parse (NULL). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "imageframe.h"

static json_t *split(const char *frame, const char **image, size_t *len) {
    return image_frame_split((const uint8_t *)frame, strlen(frame), image, len);
}

static void test_the_workers_frame(void) {
    const char *frame =
        "{\"type\":\"image\",\"id\":7,\"bytes\":6,\"capture_ms\":1.250,\"image\":\"U0JYSU1H\"}";
    const char *image = NULL;
    size_t len = 0;
    json_t *msg = split(frame, &image, &len);
    CHECK(msg != NULL);
    CHECK(len == 8 && image == strstr(frame, "U0JY") && memcmp(image, "U0JYSU1H", 8) == 0);
    CHECK_STR(json_string_value(json_object_get(msg, "type")), "image");
    CHECK(json_integer_value(json_object_get(msg, "id")) == 7);
    CHECK(json_real_value(json_object_get(msg, "capture_ms")) == 1.25);
    CHECK(json_is_string(json_object_get(msg, "image")));
    CHECK(json_string_length(json_object_get(msg, "image")) == 0);
    json_decref(msg);
}

/* The image need not be the last member; whitespace is JSON's. */
static void test_members_in_any_order(void) {
    const char *frame = " { \"image\" : \"QUFB\" , \"type\" : \"image\", \"id\": 1 } ";
    const char *image = NULL;
    size_t len = 0;
    json_t *msg = split(frame, &image, &len);
    CHECK(msg != NULL && len == 4 && memcmp(image, "QUFB", 4) == 0);
    CHECK(json_integer_value(json_object_get(msg, "id")) == 1);
    json_decref(msg);
}

static void test_refused(void) {
    static const char *const frames[] = {
        /* No image (a failed capture), or not a string. */
        "{\"type\":\"image\",\"id\":1,\"image\":null,\"error\":\"capture failed\"}",
        "{\"type\":\"image\",\"id\":1}",
        /* Escapes in the image: jansson's string would differ from the bytes. */
        "{\"type\":\"image\",\"id\":1,\"image\":\"QU\\u0046B\"}",
        /* Two images, or a key with escapes that may be one: jansson keeps
         * the last. */
        "{\"type\":\"image\",\"id\":1,\"image\":\"QUFB\",\"image\":\"QkJC\"}",
        "{\"type\":\"image\",\"id\":1,\"image\":\"QUFB\",\"\\u0069mage\":\"QkJC\"}",
        /* Not JSON around the image: jansson's call, which says no. */
        "{\"type\":\"image\",\"id\":1,\"image\":\"QUFB\"} trailing",
        "{\"type\":\"image\",\"id\":01,\"image\":\"QUFB\"}",
        "{\"type\":\"image\" \"id\":1,\"image\":\"QUFB\"}",
        "{\"type\":\"image\",\"id\":1,\"image\":\"QUFB\"",
        "[\"image\"]",
        /* No string type (frame_parse_message's rule). */
        "{\"id\":1,\"image\":\"QUFB\"}",
        "",
    };
    for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
        const char *image = NULL;
        size_t len = 0;
        json_t *msg = split(frames[i], &image, &len);
        if (msg != NULL)
            fprintf(stderr, "accepted: %s\n", frames[i]);
        CHECK(msg == NULL);
        json_decref(msg);
    }
}

int main(void) {
    test_the_workers_frame();
    test_members_in_any_order();
    test_refused();
    return check_report();
}
