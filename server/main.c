/* scopebox-server: flags, start-up order, signals and orderly shutdown. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "http.h"
#include "keys.h"
#include "log.h"
#include "pool.h"
#include "sandbox.h"

/* How long a SIGTERM waits for runs in flight before killing them. */
#define DRAIN_MS 5000
/* And then for their answers to reach the clients. */
#define FLUSH_MS 1000

struct banner {
    struct http *http;
    unsigned workers;
};

/* The one line tests and supervisors wait for; printed by the dispatcher
 * once every worker slot has a ready worker. */
static void announce(void *arg) {
    struct banner *b = arg;
    char url[320], line[400];
    http_url(b->http, url, sizeof url);
    snprintf(line, sizeof line, "scopebox: ready on %s (%u workers)", url, b->workers);
    log_raw(line);
}

/* The worker is exec'd after fork, where PATH search is off limits, so a
 * bare "node" is resolved here, once. */
static char *resolve_executable(const char *name) {
    const char *path = getenv("PATH");
    char buf[PATH_MAX];

    if (strchr(name, '/') != NULL)
        return access(name, X_OK) == 0 ? realpath(name, NULL) : NULL;
    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t n = end ? (size_t)(end - path) : strlen(path);
        if (n > 0 &&
            (size_t)snprintf(buf, sizeof buf, "%.*s/%s", (int)n, path, name) < sizeof buf &&
            access(buf, X_OK) == 0)
            return realpath(buf, NULL);
        path += n + (end != NULL);
    }
    return NULL;
}

/* Descriptors the server needs besides client connections: four pipes per
 * worker (stdin, stdout, stderr, the control pipe) (twice: a replaced one may still be exiting; sessions hold none),
 * libmicrohttpd's and the pool's own, the session store, logs. */
#define FD_RESERVE 64
/* Without --max-connections: what the fd limit allows, at most this. */
#define DEFAULT_MAX_CONNECTIONS 1024
/* How often connection deadlines are checked (http_reap). */
#define REAP_MS 250

/* Every connection may also hold one open file while it is sent a static
 * asset, or, while its run is in flight, the dispatcher's dup of it
 * (dispatch.c, never both at once), hence two descriptors each. A limit that does not fit is refused:
 * past the fd limit, accept() fails and every new client hangs. */
static bool fit_connections(struct config *cfg, char *err, size_t err_len) {
    struct rlimit rl;
    unsigned long long nofile = 1024, slots = 2ULL * cfg->workers, fit;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        nofile = rl.rlim_cur == RLIM_INFINITY ? 1ULL << 20 : (unsigned long long)rl.rlim_cur;
    fit = nofile > FD_RESERVE + 4 * slots ? (nofile - FD_RESERVE - 4 * slots) / 2 : 0;
    if (cfg->max_connections == 0)
        cfg->max_connections =
            (unsigned)(fit < DEFAULT_MAX_CONNECTIONS ? fit : DEFAULT_MAX_CONNECTIONS);
    if (cfg->max_connections == 0 || cfg->max_connections > fit) {
        snprintf(err, err_len,
                 "the fd limit %llu leaves room for %llu connections with %u workers%s; raise "
                 "it (ulimit -n) or lower --max-connections",
                 nofile, fit, cfg->workers,
                 cfg->max_connections ? ", fewer than --max-connections" : "");
        return false;
    }
    return true;
}

/* The pipes handed to workers must land on fds 0-2; if the server itself was
 * started with one of them closed, a pipe could take its number. */
static void ensure_std_fds(void) {
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
            if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) < 0)
                exit(1);
}

int main(int argc, char **argv) {
    struct config cfg;
    char err[512], script[PATH_MAX];
    char *node;
    struct stat st;
    struct banner banner;
    struct pool *pool;
    struct http *http;
    struct keystore *keys = NULL;
    sigset_t stop_signals;
    int sig;

    switch (config_parse(&cfg, argc, argv, err, sizeof err)) {
    case CONFIG_HELP:
        config_usage(stdout);
        return 0;
    case CONFIG_ERROR:
        fprintf(stderr, "scopebox-server: %s\nTry 'scopebox-server --help'.\n", err);
        return 2;
    case CONFIG_OK:
        break;
    }
    log_set_level(cfg.log_level); /* before any thread */
    ensure_std_fds();
    if (!fit_connections(&cfg, err, sizeof err)) {
        fprintf(stderr, "scopebox-server: %s\n", err);
        return 2;
    }

    node = resolve_executable(cfg.node);
    if (node == NULL) {
        fprintf(stderr, "scopebox-server: --node %s: not an executable file\n", cfg.node);
        return 1;
    }
    snprintf(script, sizeof script, "%s/worker.mjs", cfg.runtime_dir);
    if (stat(script, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "scopebox-server: --runtime-dir %s: no worker.mjs there\n",
                cfg.runtime_dir);
        free(node);
        return 1;
    }
    /* A key's line may leave its limits out: it then gets half the pool
     * and half the session slots, so that no one key takes all of either. */
    if (cfg.api_keys_file != NULL) {
        keys = keystore_open(cfg.api_keys_file, cfg.workers > 1 ? cfg.workers / 2 : 1,
                             cfg.max_sessions > 1 ? cfg.max_sessions / 2 : 1, err, sizeof err);
        if (keys == NULL) {
            fprintf(stderr, "scopebox-server: --api-keys-file %s\n", err);
            free(node);
            return 2;
        }
        log_msg("API keys on: %zu keys from %s", keystore_count(keys), cfg.api_keys_file);
    }
    if (stat(cfg.web_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        log_at(LOG_WARNING, "warning: --web-dir %s is not a directory; / will answer 404",
               cfg.web_dir);
    /* Before any thread: decides and probes the worker sandbox. */
    if (!sandbox_init(&cfg, node)) {
        keystore_close(keys);
        free(node);
        return 1;
    }

    /* Signals are taken synchronously by main (sigwait below); every thread
     * started from here on inherits the block, so none of them is ever
     * interrupted by them. Writes to a dead worker's pipe must fail with
     * EPIPE, not kill the server. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGHUP); /* reloads the API keys: see below */
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Order: the pool exists before the first request can reach it, the
     * socket is bound before workers start so the ready line can name the
     * real port, and workers boot while requests already queue. */
    pool = pool_create(&cfg, node, announce, &banner);
    if (pool == NULL) {
        fprintf(stderr, "scopebox-server: cannot create the worker pool\n");
        free(node);
        return 1;
    }
    http = http_start(&cfg, pool, keys, err, sizeof err);
    if (http == NULL) {
        fprintf(stderr, "scopebox-server: %s\n", err);
        pool_destroy(pool);
        free(node);
        return 1;
    }
    banner.http = http;
    banner.workers = cfg.workers;
    log_msg("listening on port %u; starting %u workers (%s %s)", http_port(http), cfg.workers, node,
            script);
    if (!pool_start(pool)) {
        pool_shutdown(pool, 0);
        http_stop(http);
        pool_destroy(pool);
        free(node);
        return 1;
    }

    /* Settings are read once, at start. A SIGHUP (a supervisor's "reload")
     * reloads the API keys file, if any, and nothing else; a file that no
     * longer parses leaves the keys as they were. Between signals,
     * connection deadlines are checked. */
    for (;;) {
        struct timespec tick = {0, REAP_MS * 1000000L};
        sig = sigtimedwait(&stop_signals, NULL, &tick);
        if (sig < 0) {
            http_reap(http);
            continue;
        }
        if (sig != SIGHUP)
            break;
        if (keys == NULL)
            log_msg("got SIGHUP: nothing to reload (no --api-keys-file; other settings are read "
                    "once, at start)");
        else if (keystore_reload(keys, err, sizeof err))
            log_msg("got SIGHUP: API keys reloaded, %zu keys (other settings are read once, at "
                    "start)",
                    keystore_count(keys));
        else
            log_msg("got SIGHUP: API keys NOT reloaded, the old ones stay: %s", err);
    }
    log_msg("got %s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");

    http_quiesce(http);
    pool_shutdown(pool, DRAIN_MS); /* every job done, every connection resumed */
    http_wait_idle(http, FLUSH_MS);
    http_stop(http);
    pool_destroy(pool);
    keystore_close(keys);
    free(node);
    log_msg("stopped");
    return 0;
}
