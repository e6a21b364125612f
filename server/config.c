#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "scopebox_limits.h"

/* Build-time defaults: the build tree's node and runtime, so that a freshly
 * built server runs with no flags at all. */
#ifndef SCOPEBOX_DEFAULT_NODE
#define SCOPEBOX_DEFAULT_NODE "node"
#endif
#ifndef SCOPEBOX_DEFAULT_RUNTIME_DIR
#define SCOPEBOX_DEFAULT_RUNTIME_DIR "runtime"
#endif
#ifndef SCOPEBOX_DEFAULT_WEB_DIR
#define SCOPEBOX_DEFAULT_WEB_DIR "web"
#endif

/* A run frame wraps the body in a few more members; leave room for them so
 * that any accepted body fits in one frame. */
#define MAX_BODY_LIMIT (FRAME_MAX_PAYLOAD - 65536u)

enum flag_kind { FLAG_STRING, FLAG_UINT, FLAG_SIZE, FLAG_NODE_ARG, FLAG_BOOL };

struct flag {
    const char *name;
    enum flag_kind kind;
    size_t offset;
    unsigned long long min, max;
    const char *value_name;
    const char *help;
};

#define OFF(member) offsetof(struct config, member)
/* A flag's range, from server/openapi.yaml (scopebox_limits.h). */
#define LIMITS(name) LIMIT_##name##_MIN, LIMIT_##name##_MAX

static const struct flag flags[] = {
    {"host", FLAG_STRING, OFF(host), 0, 0, "ADDR", "address to listen on (default 127.0.0.1)"},
    {"port", FLAG_UINT, OFF(port), 0, 65535, "N", "TCP port; 0 picks a free one (default 8080)"},
    {"workers", FLAG_UINT, OFF(workers), 1, CONFIG_MAX_WORKERS, "N",
     "pool worker processes (default: the number of cores)"},
    {"queue-size", FLAG_UINT, OFF(queue_size), 0, 1000000, "N",
     "requests that may wait for a worker; more get 503 (default: 4 per pool worker)"},
    {"node", FLAG_STRING, OFF(node), 0, 0, "PATH",
     "node executable (default " SCOPEBOX_DEFAULT_NODE ")"},
    {"node-arg", FLAG_NODE_ARG, 0, 0, 0, "ARG",
     "extra argument for node before the script (repeatable)"},
    {"runtime-dir", FLAG_STRING, OFF(runtime_dir), 0, 0, "DIR",
     "directory holding worker.mjs (default " SCOPEBOX_DEFAULT_RUNTIME_DIR ")"},
    {"web-dir", FLAG_STRING, OFF(web_dir), 0, 0, "DIR",
     "static files served at / (default " SCOPEBOX_DEFAULT_WEB_DIR ")"},
    {"boot-timeout-ms", FLAG_UINT, OFF(boot_timeout_ms), LIMITS(BOOT_TIMEOUT_MS), "MS",
     "time a worker has to send ready, doubled after each failed start in a row up to 8x "
     "(default " LIMIT_BOOT_TIMEOUT_MS_DEFAULT_S ")"},
    {"timeout-ms", FLAG_UINT, OFF(timeout_ms), LIMITS(TIMEOUT_MS), "MS",
     "a run's time limit when the request sets no timeout_ms (default " LIMIT_TIMEOUT_MS_DEFAULT_S
     ")"},
    {"max-timeout-ms", FLAG_UINT, OFF(max_timeout_ms), LIMITS(MAX_TIMEOUT_MS), "MS",
     "the largest timeout_ms a request gets; more is capped "
     "(default " LIMIT_MAX_TIMEOUT_MS_DEFAULT_S ")"},
    {"timeout-grace-ms", FLAG_UINT, OFF(timeout_grace_ms), LIMITS(TIMEOUT_GRACE_MS), "MS",
     "past the limit, time to stop by interrupt before the worker is killed "
     "(default " LIMIT_TIMEOUT_GRACE_MS_DEFAULT_S ")"},
    {"queue-timeout-ms", FLAG_UINT, OFF(queue_timeout_ms), LIMITS(QUEUE_TIMEOUT_MS), "MS",
     "time a request may wait for a worker, 0 = no limit (default " LIMIT_QUEUE_TIMEOUT_MS_DEFAULT_S
     ")"},
    {"max-body-bytes", FLAG_SIZE, OFF(max_body_bytes), LIMIT_MAX_BODY_BYTES_MIN, MAX_BODY_LIMIT,
     "N", "largest accepted request body (default " LIMIT_MAX_BODY_BYTES_DEFAULT_S ")"},
    {"output-cap-bytes", FLAG_SIZE, OFF(output_cap_bytes), LIMITS(OUTPUT_CAP_BYTES), "N",
     "bytes (UTF-8) kept of a run's stdout, and of its stderr "
     "(default " LIMIT_OUTPUT_CAP_BYTES_DEFAULT_S ")"},
    {"max-sessions", FLAG_UINT, OFF(max_sessions), LIMITS(MAX_SESSIONS), "N",
     "sessions the store holds at once; more get 503 (default " LIMIT_MAX_SESSIONS_DEFAULT_S ")"},
    {"session-ttl-ms", FLAG_UINT, OFF(session_ttl_ms), LIMITS(SESSION_TTL_MS), "MS",
     "a session idle this long ends (default " LIMIT_SESSION_TTL_MS_DEFAULT_S ")"},
    {"replica-id", FLAG_STRING, OFF(replica_id), 0, 0, "NAME",
     "prefix of this server's session ids, for routing among replicas (default none)"},
    {"mcp-allowed-origins", FLAG_STRING, OFF(mcp_allowed_origins), 0, 0, "LIST",
     "browser Origins /mcp accepts besides loopback ones, comma-separated, or * (default none)"},
    {"recycle-after-runs", FLAG_UINT, OFF(recycle_after_runs), 0, 100000000, "N",
     "replace a pool worker after this many runs, 0 = never (default 100000)"},
    {"recycle-rss-mb", FLAG_UINT, OFF(recycle_rss_mb), 0, 1048576, "MB",
     "replace a pool worker once its resident memory passes this, 0 = never (default 768)"},
    /* the HTTP edge (server/http.c, keys.c, crashlimit.c) */
    {"max-connections", FLAG_UINT, OFF(max_connections), 0, 1000000, "N",
     "HTTP connections at once; must fit the fd limit (default: what the fd limit allows, at most "
     "1024)"},
    {"max-connections-per-ip", FLAG_UINT, OFF(max_connections_per_ip), 0, 1000000, "N",
     "HTTP connections at once from one client address, 0 = no limit (default 32)"},
    {"request-timeout-ms", FLAG_UINT, OFF(request_timeout_ms), 100, 3600000, "MS",
     "time a client has to send a whole request, from connecting or from its previous answer "
     "(default 10000)"},
    {"api-keys-file", FLAG_STRING, OFF(api_keys_file), 0, 0, "PATH",
     "require a bearer key listed in this file on every route but /healthz and / (default: no "
     "keys)"},
    {"crash-limit", FLAG_UINT, OFF(crash_limit), 0, 1000, "N",
     "worker crashes one caller may cause per --crash-window-ms before it gets 429, 0 = no limit "
     "(default 5)"},
    {"crash-window-ms", FLAG_UINT, OFF(crash_window_ms), 1000, 86400000, "MS",
     "the window of --crash-limit (default 60000)"},
    /* sandbox (server/sandbox.c) */
    {"insecure", FLAG_BOOL, OFF(insecure), 0, 0, "",
     "start workers even when a sandbox layer cannot be set up (logged)"},
    {"worker-user", FLAG_STRING, OFF(worker_user), 0, 0, "USER",
     "when run as root, the user workers run as (default nobody)"},
    {"worker-heap-mb", FLAG_UINT, OFF(worker_heap_mb), LIMITS(WORKER_HEAP_MB), "MB",
     "cap of each worker's wasm heap and its files together "
     "(default " LIMIT_WORKER_HEAP_MB_DEFAULT_S ")"},
    {"worker-files-mb", FLAG_UINT, OFF(worker_files_mb), LIMITS(WORKER_FILES_MB), "MB",
     "the files' share of that cap: past it a write fails with ENOSPC "
     "(default " LIMIT_WORKER_FILES_MB_DEFAULT_S ")"},
    {"worker-rss-mb", FLAG_UINT, OFF(worker_rss_mb), 0, 1048576, "MB",
     "kill a busy worker whose resident memory passes this, checked every 50 ms; 0 = never "
     "(default 1024)"},
    {"worker-test-ctrl-delay-ms", FLAG_UINT, OFF(worker_test_ctrl_delay_ms), 0, 60000, "MS",
     "tests only: a worker's controlling thread waits up to this long between deciding to stop "
     "a run and flagging it (wasm/runtime/PROTOCOL.md) (default 0: never)"},
    {"worker-test-reset-delay-ms", FLAG_UINT, OFF(worker_test_reset_delay_ms), 0, 60000, "MS",
     "tests only: a worker's reset after each stateless run takes this much longer "
     "(wasm/runtime/PROTOCOL.md) (default 0)"},
    /* sessions (server/session.c) */
    {"session-dir", FLAG_STRING, OFF(session_dir), 0, 0, "DIR",
     "keep session images in DIR, one file each, across restarts (default: in memory)"},
    {"session-key-file", FLAG_STRING, OFF(session_key_file), 0, 0, "PATH",
     "HMAC key of session images, made there when absent (default: DIR/.key, or a new one in "
     "memory)"},
    {"session-store-bytes", FLAG_SIZE, OFF(session_store_bytes), 0, (size_t)1 << 40, "N",
     "bytes of session images the in-memory store holds, 0 = no limit (default 1073741824)"},
    {"session-store", FLAG_STRING, OFF(session_store), 0, 0, "URL",
     "redis://HOST:PORT[/DB]: sessions in Redis, shared by replicas (needs --session-key-file)"},
    /* the log (server/log.c) */
    {"log-level", FLAG_STRING, OFF(log_level_name), 0, 0, "LEVEL",
     "debug, info (every event and access line) or warning (only what went wrong) (default info)"},
};

#define N_FLAGS (sizeof flags / sizeof flags[0])

/* One warm worker per core: a run is CPU-bound and single-threaded. */
/* Above the flag's range: no flag or variable set it. */
#define QUEUE_SIZE_UNSET 4000000000u
/* A short queue keeps the wait of accepted requests near their run time under
 * overload (tests/bench/http: p99 of accepted requests is ~5x the unloaded
 * p99 with 4 per worker, ~40x with 64 in all); clients are told to come back
 * with Retry-After. */
#define QUEUE_PER_WORKER 4

static unsigned default_workers(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS : (unsigned)n;
}

static void set_defaults(struct config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->host = "127.0.0.1";
    cfg->port = 8080;
    cfg->workers = default_workers();
    cfg->queue_size = QUEUE_SIZE_UNSET;
    cfg->node = SCOPEBOX_DEFAULT_NODE;
    cfg->runtime_dir = SCOPEBOX_DEFAULT_RUNTIME_DIR;
    cfg->web_dir = SCOPEBOX_DEFAULT_WEB_DIR;
    cfg->boot_timeout_ms = LIMIT_BOOT_TIMEOUT_MS_DEFAULT;
    cfg->timeout_ms = LIMIT_TIMEOUT_MS_DEFAULT;
    cfg->max_timeout_ms = LIMIT_MAX_TIMEOUT_MS_DEFAULT;
    cfg->timeout_grace_ms = LIMIT_TIMEOUT_GRACE_MS_DEFAULT;
    cfg->queue_timeout_ms = LIMIT_QUEUE_TIMEOUT_MS_DEFAULT;
    cfg->max_body_bytes = LIMIT_MAX_BODY_BYTES_DEFAULT;
    cfg->output_cap_bytes = LIMIT_OUTPUT_CAP_BYTES_DEFAULT;
    cfg->max_sessions = LIMIT_MAX_SESSIONS_DEFAULT;
    cfg->session_ttl_ms = LIMIT_SESSION_TTL_MS_DEFAULT;
    cfg->replica_id = NULL;
    cfg->mcp_allowed_origins = NULL;
    cfg->recycle_after_runs =
        100000; /* a boot costs ~1 s of CPU; state does not leak (isolation.mjs) */
    cfg->recycle_rss_mb = 768;
    cfg->max_connections = 0; /* the HTTP edge; 0: derived from the fd limit (main.c) */
    cfg->max_connections_per_ip = 32;
    cfg->request_timeout_ms = 10000;
    cfg->api_keys_file = NULL;
    cfg->crash_limit = 5;
    cfg->crash_window_ms = 60000;
    cfg->insecure = false; /* sandbox */
    cfg->worker_user = "nobody";
    cfg->worker_heap_mb = LIMIT_WORKER_HEAP_MB_DEFAULT;
    cfg->worker_files_mb = LIMIT_WORKER_FILES_MB_DEFAULT;
    cfg->worker_rss_mb = 1024;
    cfg->session_dir = NULL; /* sessions */
    cfg->session_key_file = NULL;
    cfg->session_store_bytes = (size_t)1 << 30;
    cfg->session_store = NULL;
    cfg->log_level_name = "info"; /* the log */
    cfg->log_level = LOG_INFO;
}

/* Decimal digits only: "08" is 8, but "+1", " 1", "1k", "-1", "" are errors. */
static bool parse_number(const char *s, unsigned long long *out) {
    unsigned long long v = 0;
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        if (v > (~0ULL - 9) / 10)
            return false;
        v = v * 10 + (unsigned long long)(*s - '0');
    }
    *out = v;
    return true;
}

static bool apply(struct config *cfg, const struct flag *f, const char *value, char *err,
                  size_t err_len) {
    unsigned long long v;
    char *base = (char *)cfg + f->offset;

    switch (f->kind) {
    case FLAG_STRING:
        if (*value == '\0') {
            snprintf(err, err_len, "--%s: value must not be empty", f->name);
            return false;
        }
        *(const char **)(void *)base = value;
        return true;
    case FLAG_NODE_ARG:
        if (cfg->n_node_args == CONFIG_MAX_NODE_ARGS) {
            snprintf(err, err_len, "--%s: at most %d allowed", f->name, CONFIG_MAX_NODE_ARGS);
            return false;
        }
        cfg->node_args[cfg->n_node_args++] = value;
        return true;
    case FLAG_BOOL: /* sandbox: --insecure */
        if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0) {
            *(bool *)(void *)base = true;
        } else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0) {
            *(bool *)(void *)base = false;
        } else {
            snprintf(err, err_len, "--%s: expected 1, true, 0 or false, got '%.64s'", f->name,
                     value);
            return false;
        }
        return true;
    case FLAG_UINT:
    case FLAG_SIZE:
        if (!parse_number(value, &v) || v < f->min || v > f->max) {
            snprintf(err, err_len, "--%s: expected a whole number from %llu to %llu, got '%.64s'",
                     f->name, f->min, f->max, value);
            return false;
        }
        if (f->kind == FLAG_UINT)
            *(unsigned *)(void *)base = (unsigned)v;
        else
            *(size_t *)(void *)base = (size_t)v;
        return true;
    }
    return false;
}

/* SCOPEBOX_ plus the flag's name in capitals with '_' for '-': every flag
 * has one, so a container is configured with environment variables alone. */
static void env_name(const struct flag *f, char *buf, size_t len) {
    size_t n = (size_t)snprintf(buf, len, "SCOPEBOX_%s", f->name);
    for (size_t i = 9; i < n && i < len; i++)
        buf[i] =
            buf[i] == '-' ? '_' : (char)(buf[i] >= 'a' && buf[i] <= 'z' ? buf[i] - 32 : buf[i]);
}

static bool apply_env(struct config *cfg, char *err, size_t err_len) {
    for (size_t k = 0; k < N_FLAGS; k++) {
        char name[64];
        const char *value;
        env_name(&flags[k], name, sizeof name);
        value = getenv(name);
        if (value != NULL && !apply(cfg, &flags[k], value, err, err_len)) {
            size_t used = strlen(err);
            snprintf(err + used, err_len - used, " (from %s)", name);
            return false;
        }
    }
    return true;
}

/* Session ids are "<replica>-<hex>", and must stay URL- and header-safe. */
static bool check_replica_id(const char *id, char *err, size_t err_len) {
    size_t n = strlen(id);
    if (n > 16 ||
        strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != n) {
        snprintf(err, err_len, "--replica-id: at most 16 letters, digits or '_', got '%.64s'", id);
        return false;
    }
    return true;
}

enum config_result config_parse(struct config *cfg, int argc, char **argv, char *err,
                                size_t err_len) {
    set_defaults(cfg);
    if (!apply_env(cfg, err, err_len))
        return CONFIG_ERROR;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *name, *eq, *value;
        size_t name_len;
        const struct flag *f = NULL;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return CONFIG_HELP;
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            snprintf(err, err_len, "unexpected argument '%.64s'", arg);
            return CONFIG_ERROR;
        }
        name = arg + 2;
        eq = strchr(name, '=');
        name_len = eq ? (size_t)(eq - name) : strlen(name);
        for (size_t k = 0; k < N_FLAGS; k++)
            if (strlen(flags[k].name) == name_len && memcmp(flags[k].name, name, name_len) == 0)
                f = &flags[k];
        if (f == NULL) {
            snprintf(err, err_len, "unknown flag '--%.*s'", (int)(name_len > 64 ? 64 : name_len),
                     name);
            return CONFIG_ERROR;
        }
        if (eq != NULL) {
            value = eq + 1;
        } else if (f->kind == FLAG_BOOL) {
            value = "1";
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            snprintf(err, err_len, "--%s needs a value (%s)", f->name, f->value_name);
            return CONFIG_ERROR;
        }
        if (!apply(cfg, f, value, err, err_len))
            return CONFIG_ERROR;
    }
    if (cfg->queue_size == QUEUE_SIZE_UNSET)
        cfg->queue_size = QUEUE_PER_WORKER * cfg->workers;
    if (!log_level_parse(cfg->log_level_name, &cfg->log_level)) {
        snprintf(err, err_len, "--log-level must be debug, info or warning, not '%.32s'",
                 cfg->log_level_name);
        return CONFIG_ERROR;
    }
    if (cfg->replica_id != NULL && !check_replica_id(cfg->replica_id, err, err_len))
        return CONFIG_ERROR;
    if (cfg->session_store != NULL && cfg->session_dir != NULL) {
        snprintf(err, err_len, "--session-store and --session-dir: choose one");
        return CONFIG_ERROR;
    }
    if (cfg->timeout_ms > cfg->max_timeout_ms) {
        snprintf(err, err_len, "--timeout-ms %u is above --max-timeout-ms %u", cfg->timeout_ms,
                 cfg->max_timeout_ms);
        return CONFIG_ERROR;
    }
    return CONFIG_OK;
}

void config_usage(FILE *out) {
    fprintf(out, "usage: scopebox-server [flags]\n\n"
                 "Runs Python snippets posted to /v1/run in a pool of Pyodide workers.\n\n");
    for (size_t k = 0; k < N_FLAGS; k++) {
        char left[64];
        snprintf(left, sizeof left, "--%s %s", flags[k].name, flags[k].value_name);
        fprintf(out, "  %-26s %s\n", left, flags[k].help);
    }
    fprintf(out, "  %-26s %s\n", "--help", "show this and exit");
    fprintf(out, "\nEach flag can also be set by environment variable: --max-sessions is\n"
                 "SCOPEBOX_MAX_SESSIONS, and so on. Flags win over the environment.\n");
}
