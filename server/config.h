/* Command-line flags -> one immutable struct, built before any thread starts. */
#ifndef SCOPEBOX_CONFIG_H
#define SCOPEBOX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "log.h"

#define CONFIG_MAX_NODE_ARGS 32
/* --workers at most (and its default: the cores, at most this). */
#define CONFIG_MAX_WORKERS 256

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
    size_t output_cap_bytes; /* of stdout and of stderr, each */
    unsigned max_sessions;
    unsigned session_ttl_ms;         /* idle time after which a session ends */
    const char *replica_id;          /* prefixes session ids; NULL for none */
    const char *mcp_allowed_origins; /* comma-separated; NULL: loopback only (mcp.h) */
    unsigned recycle_after_runs;     /* a pool worker is replaced after this many runs; 0: never */
    unsigned recycle_rss_mb;         /* ... or once resident memory passes this; 0: never */
    /* the HTTP edge (server/http.c) */
    unsigned max_connections;        /* 0 until main.c derives it from the fd limit */
    unsigned max_connections_per_ip; /* 0: no limit */
    unsigned request_timeout_ms;     /* to send a whole request */
    const char *api_keys_file;       /* NULL: no keys, every route open */
    unsigned crash_limit;            /* worker crashes per caller per window; 0: no limit */
    unsigned crash_window_ms;
    /* sandbox (server/sandbox.h) */
    bool insecure;            /* start workers even if a sandbox layer is missing */
    const char *worker_user;  /* as root: the user workers run as */
    unsigned worker_heap_mb;  /* cap of a worker's wasm heap and files together */
    unsigned worker_files_mb; /* the files' share of it */
    unsigned worker_rss_mb;   /* a busy worker past this resident size is killed; 0: never */
    unsigned worker_test_ctrl_delay_ms;  /* tests only: worker.mjs --test-ctrl-delay-ms; 0: off */
    unsigned worker_test_reset_delay_ms; /* tests only: worker.mjs --test-reset-delay-ms; 0: off */
    /* sessions (server/session.h) */
    const char *session_dir;      /* one file per session; NULL: in memory */
    const char *session_key_file; /* HMAC key of session images; NULL: made up */
    size_t session_store_bytes;   /* the memory store's byte budget; 0: none */
    const char *session_store;    /* redis://HOST:PORT[/DB], shared by replicas; NULL: none */
    /* the log (server/log.h) */
    const char *log_level_name; /* as given: debug, info or warning */
    enum log_level log_level;   /* ... parsed */
};

enum config_result { CONFIG_OK, CONFIG_HELP, CONFIG_ERROR };

/* Fills `cfg` from argv (strings point into argv or at static defaults).
 * CONFIG_ERROR leaves a one-line reason in `err`. Never exits or prints. */
enum config_result config_parse(struct config *cfg, int argc, char **argv, char *err,
                                size_t err_len);

void config_usage(FILE *out);

#endif
