/* SHA-256 and HMAC-SHA256 (FIPS 180-4, RFC 2104): session images are
 * authenticated with it (session.c). Small enough not to need a crypto
 * library; tests/unit/test_hmac.c checks it against the standard vectors. */
#ifndef SCOPEBOX_HMAC_H
#define SCOPEBOX_HMAC_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

struct sha256 {
    uint32_t h[8];
    uint64_t bytes;
    uint8_t buf[64];
    size_t used;
};

/* Uses the CPU's SHA instructions when it has them (the default) or not;
 * true when they are used. For the tests, which check both ways. */
int sha256_hardware(int use);
void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t len);
void sha256_final(struct sha256 *c, uint8_t out[SHA256_LEN]);

void hmac_sha256(const uint8_t *key, size_t key_len, const void *data, size_t len,
                 uint8_t out[SHA256_LEN]);

/* Constant time: no early exit on the first differing byte. */
int hmac_equal(const uint8_t *a, const uint8_t *b, size_t len);

#endif
