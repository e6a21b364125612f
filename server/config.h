/* Command-line flags -> one immutable struct, built before any thread starts. */
#ifndef SCOPEBOX_CONFIG_H
#define SCOPEBOX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONFIG_MAX_NODE_ARGS 32

struct config {
    const char *host;
    unsigned port;
    unsigned workers;
    unsigned queue_size;
    const char *node;
    const char *node_args[CONFIG_MAX_NODE_ARGS];
    size_t n_node_args;
    const char *runtime_dir;
    const char *web_dir;
    unsigned boot_timeout_ms;
    unsigned timeout_ms;       /* a run's time limit when the request sets none */
    unsigned max_timeout_ms;   /* the most a request may ask for */
    unsigned timeout_grace_ms; /* past the limit, before the worker is killed */
    unsigned queue_timeout_ms; /* 0: wait for a worker as long as it takes */
    size_t max_body_bytes;
    size_t output_cap_bytes;   /* of stdout and of stderr, each */
    unsigned max_sessions;
    unsigned session_ttl_ms;   /* idle time after which a session ends */
    const char *replica_id;    /* prefixes session ids; NULL for none */
    unsigned recycle_after_runs; /* a pool worker is replaced after this many runs; 0: never */
    unsigned recycle_rss_mb;     /* ... or once resident memory passes this; 0: never */
    /* sandbox (server/sandbox.h) */
    bool insecure;             /* start workers even if a sandbox layer is missing */
    const char *worker_user;   /* as root: the user workers run as */
    unsigned worker_heap_mb;   /* cap of a worker's wasm heap and files together */
    unsigned worker_files_mb;  /* the files' share of it */
    unsigned worker_rss_mb;    /* a busy worker past this resident size is killed; 0: never */
};

enum config_result { CONFIG_OK, CONFIG_HELP, CONFIG_ERROR };

/* Fills `cfg` from argv (strings point into argv or at static defaults).
 * CONFIG_ERROR leaves a one-line reason in `err`. Never exits or prints. */
enum config_result config_parse(struct config *cfg, int argc, char **argv, char *err,
                                size_t err_len);

void config_usage(FILE *out);

#endif
