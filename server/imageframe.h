/* A worker's `image` frame (PROTOCOL.md, `capture`) read without building
 * its image into a JSON string: the image is ~50 KiB of base64 sent before
 * every session run's answer, and jansson's lexer going over it a byte at
 * a time was two thirds of the host's work per session run. Pure code, no
 * I/O (tests/unit/test_imageframe.c). */
#ifndef SCOPEBOX_IMAGEFRAME_H
#define SCOPEBOX_IMAGEFRAME_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* When payload[0, len) is a JSON object with one member "image" whose value
 * is a string without escapes: that string's bytes in *image and
 * *image_len (inside payload, quotes excluded), and the frame parsed with
 * that value replaced by "" (frame_parse_message, so every other check is
 * jansson's). The caller must still check the bytes are what it expects
 * (base64_decode refuses anything but base64, which makes the string valid
 * JSON). NULL when not certainly such a frame: then parse it whole. */
json_t *image_frame_split(const uint8_t *payload, size_t len, const char **image,
                          size_t *image_len);

#endif
