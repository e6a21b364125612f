/* libFuzzer target: the API keys file parser and the bearer lookup
 * (server/keys.c), i.e. what an operator's file and any client's
 * Authorization header hold. The first input byte splits the rest into a
 * file and a header. Checks: a ring has 1..KEYS_MAX keys with valid names,
 * secrets and limits, no two alike; every key is found by its own secret;
 * an error never echoes a secret of a line that parsed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

/* libFuzzer's entry point; libFuzzer has no header that declares it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256], *header;
    size_t split, hlen, tlen;
    const char *tok;
    struct keyring *r;

    if (size == 0)
        return 0;
    split = data[0];
    data++;
    size--;
    split = split < size ? split : size;
    hlen = split;
    header = malloc(hlen + 1);
    if (header == NULL)
        return 0;
    memcpy(header, data, hlen);
    header[hlen] = '\0';

    r = keyring_parse((const char *)data + split, size - split, 2, 1, err, sizeof err);
    if (r == NULL) {
        if (memchr(err, '\0', sizeof err) == NULL)
            abort();
    } else {
        if (r->n == 0 || r->n > KEYS_MAX)
            abort();
        for (size_t i = 0; i < r->n; i++) {
            const struct api_key *k = &r->keys[i];
            size_t nl = strlen(k->name);
            if (nl == 0 || nl > KEY_NAME_MAX || k->secret_len < KEY_SECRET_MIN ||
                k->secret_len > KEY_SECRET_MAX || k->max_runs > KEY_LIMIT_MAX ||
                k->max_sessions > KEY_LIMIT_MAX || k->usage == NULL)
                abort();
            if (keyring_find(r, (const char *)k->secret, k->secret_len) != k)
                abort();
            for (size_t j = 0; j < i; j++)
                if (strcmp(r->keys[j].name, k->name) == 0)
                    abort();
        }
    }
    if (keys_bearer_token(header, &tok, &tlen)) {
        if (tlen == 0 || tok < header || tok + tlen > header + hlen)
            abort();
        if (r != NULL)
            (void)keyring_find(r, tok, tlen);
    }
    keyring_release(r);
    free(header);
    return 0;
}
