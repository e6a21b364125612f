/* The default store: images in the server's memory, gone with the process. */
#include <stdlib.h>

#include "store_index.h"

static const struct store_ops mem_ops = {.kind = "memory"};

struct store *store_mem_open(size_t max_sessions, size_t max_bytes) {
    struct store *st = calloc(1, sizeof *st);
    if (st == NULL || !store_init(st, &mem_ops, max_sessions, max_bytes)) {
        free(st);
        return NULL;
    }
    return st;
}
