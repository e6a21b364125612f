/* server/frame.c against wasm/runtime/PROTOCOL.md: round trips, frames split
 * at every byte, the length bounds, end of file, garbage. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "frame.h"

static size_t put_frame(uint8_t *out, const char *payload) {
    size_t n = strlen(payload);
    out[0] = (uint8_t)(n >> 24);
    out[1] = (uint8_t)(n >> 16);
    out[2] = (uint8_t)(n >> 8);
    out[3] = (uint8_t)n;
    memcpy(out + 4, payload, n);
    return n + 4;
}

/* Feeds `len` bytes in pieces of the given sizes (cycled); collects payloads
 * joined by '|'. Returns the final status. */
static enum frame_status feed_pieces(struct frame_decoder *d, const uint8_t *buf, size_t len,
                                     const size_t *pieces, size_t npieces, char *got,
                                     size_t got_size, int *frames) {
    enum frame_status st = FRAME_PARTIAL;
    size_t pos = 0, k = 0;
    got[0] = '\0';
    *frames = 0;
    while (pos < len) {
        size_t piece = pieces[k++ % npieces], end = pos + piece > len ? len : pos + piece;
        while (pos < end) {
            size_t used;
            st = frame_decoder_feed(d, buf + pos, end - pos, &used);
            pos += used;
            if (st == FRAME_ERROR)
                return st;
            if (st == FRAME_COMPLETE) {
                size_t n;
                uint8_t *p = frame_decoder_take(d, &n);
                if (strlen(got) + n + 2 < got_size) {
                    if (*frames)
                        strcat(got, "|");
                    strncat(got, (char *)p, n);
                }
                CHECK(p[n] == '\0');
                free(p);
                (*frames)++;
            } else if (used == 0) {
                return st; /* would loop forever: a bug */
            }
        }
    }
    return st;
}

static void test_roundtrip(void) {
    json_t *msg = json_pack("{s:s, s:i, s:s}", "type", "run", "id", 7, "code", "x*2");
    uint8_t *buf;
    size_t len, n, used;
    char why[128];
    struct frame_decoder d;

    CHECK(frame_encode(msg, &buf, &len, why, sizeof why));
    n = len - 4;
    CHECK(buf[0] == (uint8_t)(n >> 24) && buf[1] == (uint8_t)(n >> 16) &&
          buf[2] == (uint8_t)(n >> 8) && buf[3] == (uint8_t)n);
    CHECK(n == strlen("{\"type\":\"run\",\"id\":7,\"code\":\"x*2\"}"));
    CHECK(memcmp(buf + 4, "{\"type\":\"run\",\"id\":7,\"code\":\"x*2\"}", n) == 0);

    frame_decoder_init(&d);
    CHECK(frame_decoder_at_boundary(&d));
    CHECK(frame_decoder_feed(&d, buf, len, &used) == FRAME_COMPLETE);
    CHECK(used == len);
    CHECK(!frame_decoder_at_boundary(&d)); /* payload not taken yet */
    /* Not taken: feeding more must not overwrite it. */
    CHECK(frame_decoder_feed(&d, buf, len, &used) == FRAME_COMPLETE);
    CHECK(used == 0);
    uint8_t *p = frame_decoder_take(&d, &n);
    CHECK(p != NULL && n == len - 4 && memcmp(p, buf + 4, n) == 0);
    CHECK(frame_decoder_at_boundary(&d));
    CHECK(frame_decoder_take(&d, &n) == NULL);
    free(p);

    const char *type;
    json_t *back = frame_parse_message(buf + 4, len - 4, &type, why, sizeof why);
    CHECK(back != NULL && json_equal(back, msg));
    CHECK_STR(type, "run");
    json_decref(back);

    json_decref(msg);
    free(buf);
    frame_decoder_free(&d);

    /* Non-ASCII and NUL survive both ways. */
    msg = json_pack("{s:s, s:s%}", "type", "result", "stdout", "h\xc3\xa9\0x", (size_t)5);
    CHECK(frame_encode(msg, &buf, &len, why, sizeof why));
    back = frame_parse_message(buf + 4, len - 4, &type, why, sizeof why);
    CHECK(back != NULL && json_equal(back, msg));
    json_decref(back);
    json_decref(msg);
    free(buf);
}

static void test_split_everywhere(void) {
    static const char *payloads[] = {"{\"type\":\"ready\",\"pid\":1}", "{}",
                                     "{\"type\":\"result\",\"id\":2,\"stdout\":\"\xc3\xa9\"}"};
    uint8_t stream[256];
    size_t len = 0;
    char want[256] = "", got[256];
    int frames;

    for (size_t i = 0; i < 3; i++) {
        len += put_frame(stream + len, payloads[i]);
        if (i)
            strcat(want, "|");
        strcat(want, payloads[i]);
    }
    /* Every split point of the whole stream into two calls. */
    for (size_t cut = 0; cut <= len; cut++) {
        struct frame_decoder d;
        size_t pieces[2] = {cut ? cut : len, len};
        frame_decoder_init(&d);
        CHECK(feed_pieces(&d, stream, len, pieces, 2, got, sizeof got, &frames) != FRAME_ERROR);
        CHECK(frames == 3);
        CHECK_STR(got, want);
        CHECK(frame_decoder_at_boundary(&d));
        frame_decoder_free(&d);
    }
    /* One byte at a time, then in a few odd-sized pieces. */
    for (size_t size = 1; size <= 7; size++) {
        struct frame_decoder d;
        frame_decoder_init(&d);
        feed_pieces(&d, stream, len, &size, 1, got, sizeof got, &frames);
        CHECK(frames == 3);
        CHECK_STR(got, want);
        frame_decoder_free(&d);
    }
    /* At every cut inside a frame, the stream is not at a boundary (EOF
     * there is a protocol error); between frames it is. */
    size_t first = 4 + strlen(payloads[0]);
    for (size_t cut = 1; cut <= first; cut++) {
        struct frame_decoder d;
        size_t used, n;
        frame_decoder_init(&d);
        enum frame_status st = frame_decoder_feed(&d, stream, cut, &used);
        CHECK(used == cut);
        if (cut < first) {
            CHECK(st == FRAME_PARTIAL);
            CHECK(!frame_decoder_at_boundary(&d));
        } else {
            CHECK(st == FRAME_COMPLETE);
            free(frame_decoder_take(&d, &n));
            CHECK(frame_decoder_at_boundary(&d));
        }
        frame_decoder_free(&d);
    }
}

static enum frame_status feed_header(uint32_t length, struct frame_decoder *d) {
    uint8_t h[4] = {(uint8_t)(length >> 24), (uint8_t)(length >> 16), (uint8_t)(length >> 8),
                    (uint8_t)length};
    size_t used;
    return frame_decoder_feed(d, h, 4, &used);
}

static void test_bounds(void) {
    static const uint32_t bad[] = {0, 1, FRAME_MAX_PAYLOAD + 1, 0x7fffffffu, 0xffffffffu};
    static const uint32_t good[] = {2, 3, 4096, FRAME_MAX_PAYLOAD};
    struct frame_decoder d;
    size_t used;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        frame_decoder_init(&d);
        CHECK(feed_header(bad[i], &d) == FRAME_ERROR);
        CHECK(d.error[0] != '\0');
        CHECK(!frame_decoder_at_boundary(&d));
        /* Sticky: nothing more is consumed. */
        CHECK(frame_decoder_feed(&d, (const uint8_t *)"{}", 2, &used) == FRAME_ERROR);
        CHECK(used == 0);
        frame_decoder_free(&d);
    }
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        frame_decoder_init(&d);
        CHECK(feed_header(good[i], &d) == FRAME_PARTIAL);
        /* A header alone does not allocate the whole announced length. */
        CHECK(d.cap <= 4096);
        frame_decoder_free(&d);
    }

    /* The smallest frame. */
    frame_decoder_init(&d);
    CHECK(frame_decoder_feed(&d, (const uint8_t *)"\0\0\0\2{}", 6, &used) == FRAME_COMPLETE);
    CHECK(used == 6);
    size_t n;
    free(frame_decoder_take(&d, &n));
    CHECK(n == 2);
    frame_decoder_free(&d);

    /* The largest frame, fed in 1 MiB pieces. */
    size_t max = FRAME_MAX_PAYLOAD, chunk = 1 << 20;
    uint8_t *big = malloc(chunk);
    memset(big, 'a', chunk);
    frame_decoder_init(&d);
    CHECK(feed_header(FRAME_MAX_PAYLOAD, &d) == FRAME_PARTIAL);
    enum frame_status st = FRAME_PARTIAL;
    for (size_t fed = 0; fed < max; fed += chunk)
        st = frame_decoder_feed(&d, big, chunk, &used);
    CHECK(st == FRAME_COMPLETE);
    uint8_t *p = frame_decoder_take(&d, &n);
    CHECK(n == max && p[0] == 'a' && p[max - 1] == 'a' && p[max] == '\0');
    free(p);
    free(big);
    frame_decoder_free(&d);

    /* Encoding refuses what decoding would refuse. */
    char why[128];
    uint8_t *buf;
    size_t len;
    char *s = malloc(max + 1);
    memset(s, 'b', max);
    json_t *huge = json_pack("{s:s, s:s#}", "type", "run", "code", s, max);
    CHECK(huge != NULL);
    CHECK(!frame_encode(huge, &buf, &len, why, sizeof why));
    CHECK(buf == NULL && len == 0 && strstr(why, "bounds") != NULL);
    json_decref(huge);
    free(s);
}

static void test_parse_message(void) {
    static const char *bad[] = {
        "{}",
        "[]",
        "\"run\"",
        "12",
        "{\"type\":1}",
        "{\"type\":null}",
        "{\"Type\":\"run\"}",
        "not json",
        "{\"type\":\"run\"",
        "{\"type\":\"run\"} {}",
        "\xff\xff",
    };
    char why[128];
    const char *type;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        CHECK(frame_parse_message((const uint8_t *)bad[i], strlen(bad[i]), &type, why,
                                  sizeof why) == NULL);
        CHECK(why[0] != '\0');
    }
    const char *fatal = "{\"type\":\"fatal\",\"message\":\"x\"}";
    json_t *m = frame_parse_message((const uint8_t *)fatal, strlen(fatal), &type, why, sizeof why);
    CHECK(m != NULL);
    CHECK_STR(type, "fatal");
    json_decref(m);
}

/* A deterministic stream of random bytes: the decoder never crashes, never
 * consumes more than given, and stays in error once in error. */
static void test_garbage(void) {
    uint32_t x = 12345;
    uint8_t buf[4096];
    for (int round = 0; round < 200; round++) {
        struct frame_decoder d;
        bool failed = false;
        frame_decoder_init(&d);
        for (size_t i = 0; i < sizeof buf; i++) {
            x = x * 1103515245u + 12345u;
            buf[i] = (uint8_t)(x >> 16);
        }
        /* Mostly small lengths, so that some frames complete. */
        if (round % 2 == 0) {
            buf[0] = buf[1] = 0;
            buf[2] &= 0x03;
        }
        size_t pos = 0;
        while (pos < sizeof buf) {
            size_t used, take = 1 + (x >> 8) % 97;
            if (take > sizeof buf - pos)
                take = sizeof buf - pos;
            enum frame_status st = frame_decoder_feed(&d, buf + pos, take, &used);
            CHECK(used <= take);
            if (failed)
                CHECK(st == FRAME_ERROR && used == 0);
            if (st == FRAME_ERROR) {
                failed = true;
                break;
            }
            if (st == FRAME_COMPLETE) {
                size_t n;
                const char *type;
                char why[128];
                uint8_t *p = frame_decoder_take(&d, &n);
                json_t *m = frame_parse_message(p, n, &type, why, sizeof why);
                json_decref(m);
                free(p);
            }
            pos += used;
            x = x * 1103515245u + 12345u;
        }
        frame_decoder_free(&d);
    }
    CHECK(1);
}

int main(void) {
    test_roundtrip();
    test_split_everywhere();
    test_bounds();
    test_parse_message();
    test_garbage();
    return check_report();
}
