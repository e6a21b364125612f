/* server/hmac.c against the FIPS 180-4 and RFC 4231 test vectors. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "hmac.h"

static void hex(const uint8_t *d, size_t n, char *out) {
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static int sha_is(const char *msg, size_t repeat, const char *want) {
    struct sha256 c;
    uint8_t d[SHA256_LEN];
    char h[65];
    sha256_init(&c);
    for (size_t i = 0; i < repeat; i++)
        sha256_update(&c, msg, strlen(msg));
    sha256_final(&c, d);
    hex(d, sizeof d, h);
    return strcmp(h, want) == 0;
}

/* A million 'a's in one update: the multi-block path (sha_is feeds "a" a
 * byte at a time, through the buffer). */
static int million_at_once(void) {
    static char a[1000000];
    struct sha256 c;
    uint8_t d[SHA256_LEN];
    char h[65];
    memset(a, 'a', sizeof a);
    sha256_init(&c);
    sha256_update(&c, a, 3);
    sha256_update(&c, a + 3, sizeof a - 3);
    sha256_final(&c, d);
    hex(d, sizeof d, h);
    return strcmp(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0;
}

static void vectors(void);

/* Every vector with the CPU's SHA instructions (where it has them) and with
 * the portable rounds. */
int main(void) {
    printf("SHA instructions: %s\n", sha256_hardware(1) ? "used" : "absent");
    vectors();
    sha256_hardware(0);
    vectors();
    return check_report();
}

static void vectors(void) {
    uint8_t key[131], out[SHA256_LEN];
    char h[65];

    CHECK(million_at_once());

    CHECK(sha_is("abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    CHECK(sha_is("", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    CHECK(sha_is("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
                 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    CHECK(sha_is("a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));

    /* RFC 4231 cases 1, 2 and 6 (a key longer than a block). */
    memset(key, 0x0b, 20);
    hmac_sha256(key, 20, "Hi There", 8, out);
    hex(out, sizeof out, h);
    CHECK(strcmp(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7") == 0);
    hmac_sha256((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28, out);
    hex(out, sizeof out, h);
    CHECK(strcmp(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843") == 0);
    memset(key, 0xaa, 131);
    hmac_sha256(key, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 54, out);
    hex(out, sizeof out, h);
    CHECK(strcmp(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54") == 0);

    CHECK(hmac_equal(out, out, sizeof out));
    key[0] = out[0] ^ 1;
    memcpy(key + 1, out + 1, sizeof out - 1);
    CHECK(!hmac_equal(out, key, sizeof out));
}
