/* server/config.c: defaults, both flag spellings, and every kind of bad flag. */
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

#include <stdarg.h>

/* parse(&cfg, err, "--flag", "value", ..., NULL) */
static enum config_result parse(struct config *cfg, char *err, ...) {
    char *argv[64];
    int argc = 1;
    va_list ap;
    argv[0] = "scopebox-server";
    va_start(ap, err);
    while ((argv[argc] = va_arg(ap, char *)) != NULL)
        argc++;
    va_end(ap);
    err[0] = '\0';
    return config_parse(cfg, argc, argv, err, 256);
}

static void test_defaults(void) {
    struct config cfg;
    char err[256];
    CHECK(parse(&cfg, err, NULL) == CONFIG_OK);
    CHECK_STR(cfg.host, "127.0.0.1");
    CHECK(cfg.port == 8080);
    CHECK(cfg.workers == (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
    CHECK(cfg.queue_size == 4 * cfg.workers);
    CHECK(cfg.boot_timeout_ms == 30000);
    CHECK(cfg.timeout_ms == 5000);
    CHECK(cfg.max_timeout_ms == 60000);
    CHECK(cfg.max_sessions == 10000);
    CHECK(cfg.queue_timeout_ms == 60000);
    CHECK(cfg.max_body_bytes == 1048576);
    CHECK(cfg.n_node_args == 0);
    CHECK(cfg.node != NULL && cfg.node[0] != '\0');
    CHECK(cfg.runtime_dir != NULL && cfg.runtime_dir[0] != '\0');
    CHECK(cfg.web_dir != NULL && cfg.web_dir[0] != '\0');
    CHECK(cfg.max_connections == 0); /* main.c fits it under the fd limit */
    CHECK(cfg.max_connections_per_ip == 32);
    CHECK(cfg.request_timeout_ms == 10000);
    CHECK(cfg.api_keys_file == NULL);
    CHECK(cfg.crash_limit == 5 && cfg.crash_window_ms == 60000);
}

static void test_edge_flags(void) {
    struct config cfg;
    char err[256];
    CHECK(parse(&cfg, err, "--max-connections", "100", "--max-connections-per-ip=0",
                "--request-timeout-ms", "500", "--api-keys-file", "/k", "--crash-limit", "0",
                "--crash-window-ms", "1000", NULL) == CONFIG_OK);
    CHECK(cfg.max_connections == 100 && cfg.max_connections_per_ip == 0);
    CHECK(cfg.request_timeout_ms == 500 && cfg.crash_limit == 0 && cfg.crash_window_ms == 1000);
    CHECK_STR(cfg.api_keys_file, "/k");
    CHECK(parse(&cfg, err, "--request-timeout-ms", "99", NULL) == CONFIG_ERROR);
    CHECK(strstr(err, "--request-timeout-ms") != NULL);
    CHECK(parse(&cfg, err, "--api-keys-file=", NULL) == CONFIG_ERROR);
    CHECK(parse(&cfg, err, "--crash-window-ms", "999", NULL) == CONFIG_ERROR);
}

/* The queue's default follows the pool's size, whichever way that was set. */
static void test_queue_default_follows_workers(void) {
    struct config cfg;
    char err[256];
    CHECK(parse(&cfg, err, "--workers", "3", NULL) == CONFIG_OK);
    CHECK(cfg.queue_size == 12);
    CHECK(parse(&cfg, err, "--workers", "3", "--queue-size", "5", NULL) == CONFIG_OK);
    CHECK(cfg.queue_size == 5);
}

static void test_flags(void) {
    struct config cfg;
    char err[256];
    CHECK(parse(&cfg, err, "--host", "0.0.0.0", "--port", "0", "--workers", "4", "--queue-size",
                "0", "--node", "/opt/node", "--runtime-dir", "/rt", "--web-dir", "/w",
                "--boot-timeout-ms", "1", "--timeout-ms=250", "--queue-timeout-ms=0",
                "--max-body-bytes=2048", "--node-arg", "--stack-size=4000", "--node-arg=-x",
                "--port=65535", NULL) == CONFIG_OK);
    CHECK_STR(err, "");
    CHECK_STR(cfg.host, "0.0.0.0");
    CHECK(cfg.port == 65535); /* the last one wins */
    CHECK(cfg.workers == 4);
    CHECK(cfg.queue_size == 0);
    CHECK_STR(cfg.node, "/opt/node");
    CHECK_STR(cfg.runtime_dir, "/rt");
    CHECK_STR(cfg.web_dir, "/w");
    CHECK(cfg.boot_timeout_ms == 1);
    CHECK(cfg.timeout_ms == 250);
    CHECK(cfg.queue_timeout_ms == 0);
    CHECK(cfg.max_body_bytes == 2048);
    CHECK(cfg.n_node_args == 2);
    CHECK_STR(cfg.node_args[0], "--stack-size=4000");
    CHECK_STR(cfg.node_args[1], "-x");
}

static void test_help(void) {
    struct config cfg;
    char err[256];
    CHECK(parse(&cfg, err, "--help", NULL) == CONFIG_HELP);
    CHECK(parse(&cfg, err, "-h", NULL) == CONFIG_HELP);
    CHECK(parse(&cfg, err, "--port", "1", "--help", NULL) == CONFIG_HELP);
}

static void test_errors(void) {
    static const struct {
        const char *a, *b, *says;
    } cases[] = {
        {"--nope", NULL, "--nope"},
        {"--Port", "1", "--Port"},
        {"-p", "1", "-p"},
        {"port", "1", "port"},
        {"--", NULL, "--"},
        {"--port", NULL, "needs a value"},
        {"--port", "", "--port"},
        {"--port", "abc", "--port"},
        {"--port", "-1", "--port"},
        {"--port", "+1", "--port"},
        {"--port", " 1", "--port"},
        {"--port", "1k", "--port"},
        {"--port", "65536", "65535"},
        {"--port", "99999999999999999999999", "--port"},
        {"--workers", "0", "--workers"},
        {"--workers", "257", "--workers"},
        {"--timeout-ms", "0", "--timeout-ms"},
        {"--boot-timeout-ms", "3600001", "--boot-timeout-ms"},
        {"--max-body-bytes", "0", "--max-body-bytes"},
        {"--max-body-bytes", "67108864", "--max-body-bytes"},
        {"--host", "", "--host"},
        {"--node", "", "--node"},
        {"--port=", NULL, "--port"},
    };
    struct config cfg;
    char err[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum config_result r = parse(&cfg, err, cases[i].a, cases[i].b, NULL);
        CHECK(r == CONFIG_ERROR);
        CHECK(strstr(err, cases[i].says) != NULL);
        if (strstr(err, cases[i].says) == NULL)
            fprintf(stderr, "  case %zu: %s\n", i, err);
    }
    /* Too many node args. */
    char *argv[82];
    argv[0] = "scopebox-server";
    for (int i = 0; i < 40; i++) {
        argv[1 + 2 * i] = "--node-arg";
        argv[2 + 2 * i] = "x";
    }
    CHECK(config_parse(&cfg, 81, argv, err, sizeof err) == CONFIG_ERROR);
    CHECK(strstr(err, "--node-arg") != NULL);
}

int main(void) {
    test_defaults();
    test_queue_default_follows_workers();
    test_edge_flags();
    test_flags();
    test_help();
    test_errors();
    return check_report();
}
