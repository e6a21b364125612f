/* What forwarding a worker's answer costs the host, against re-encoding it
 * the way the host used to (json_dumps of the parsed answer), for a
 * 100 KB-scope answer; and the frame parse both do. CPU time, figures only.
 *
 *   cc -O2 -Iserver tests/bench/http/splice_cost.c server/rawjson.c -ljansson -o /tmp/splice_cost && /tmp/splice_cost
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "rawjson.h"

/* Keeps every member but the two the host drops. */
static double cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}
static bool keep(void *a, const struct rawjson_member *m) {
    struct rawjson_buf *b = a;
    static bool first = true;
    if (!rawjson_key_is(m, "type") && !rawjson_key_is(m, "id"))
        rawjson_buf_member(b, &first, m);
    return true;
}
int main(void) {
    size_t n = 100000;
    char *blob = malloc(n + 1);
    memset(blob, 'x', n);
    blob[n] = 0;
    json_t *o =
        json_pack("{s:s,s:i,s:b,s:i,s:s,s:s,s:n,s:{s:s},s:{},s:{s:[],s:[],s:[]}}", "type", "result",
                  "id", 1, "ok", 1, "result", 100000, "stdout", "", "stderr", "", "error", "scope",
                  "blob", blob, "definitions", "changes", "added", "changed", "removed");
    char *raw = json_dumps(o, JSON_COMPACT);
    size_t rl = strlen(raw);
    int N = 200;
    double t;
    t = cpu();
    for (int i = 0; i < N; i++) {
        char *s = json_dumps(o, JSON_COMPACT);
        free(s);
    }
    double dump = (cpu() - t) / N;
    t = cpu();
    for (int i = 0; i < N; i++) {
        struct rawjson_buf b = {0};
        rawjson_buf_add(&b, "{", 1);
        rawjson_members(raw, rl, keep, &b);
        rawjson_buf_add(&b, "}", 1);
        size_t l;
        free(rawjson_buf_take(&b, &l));
    }
    double spl = (cpu() - t) / N;
    t = cpu();
    for (int i = 0; i < N; i++) {
        json_t *x = json_loadb(raw, rl, 0, NULL);
        json_decref(x);
    }
    double parse = (cpu() - t) / N;
    printf("answer %zu bytes: old json_dumps %.3f ms CPU, new splice %.3f ms CPU (parse of the "
           "frame, unchanged: %.3f ms)\n",
           rl, dump, spl, parse);
}
