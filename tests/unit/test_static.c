/* server/static.c: what maps to a file under the web directory, and that no
 * URL reaches anything outside it or hidden inside it. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "static.h"

static char root[64], web[128];

static void put(const char *rel, const char *text) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
}

static int serves(const char *url, const char *want_type, long want_size) {
    struct static_file f;
    if (!static_open(web, url, &f))
        return 0;
    int ok = (want_type == NULL || strcmp(f.content_type, want_type) == 0) &&
             (want_size < 0 || (long)f.size == want_size);
    if (!ok)
        fprintf(stderr, "  %s: type %s size %llu\n", url, f.content_type,
                (unsigned long long)f.size);
    CHECK((fcntl(f.fd, F_GETFD) & FD_CLOEXEC) != 0);
    close(f.fd);
    return ok;
}

int main(void) {
    char path[256];
    strcpy(root, "/tmp/scopebox-static-XXXXXX");
    CHECK(mkdtemp(root) != NULL);
    snprintf(web, sizeof web, "%s/web", root);
    CHECK(mkdir(web, 0755) == 0);
    snprintf(path, sizeof path, "%s/web/sub", root);
    CHECK(mkdir(path, 0755) == 0);
    put("secret.txt", "secret");
    put("web/index.html", "<h1>hi</h1>");
    put("web/app.js", "1");
    put("web/mod.mjs", "1");
    put("web/style.CSS", "b{}");
    put("web/data.json", "{}");
    put("web/logo.svg", "<svg/>");
    put("web/dynscope.wasm", "\\0asm");
    put("web/blob.bin", "?");
    put("web/README", "?");
    put("web/sub/page.html", "x");
    put("web/.env", "KEY=1");
    snprintf(path, sizeof path, "%s/web/fifo", root);
    CHECK(mkfifo(path, 0644) == 0);

    CHECK(serves("/", "text/html; charset=utf-8", 11));
    CHECK(serves("/index.html", "text/html; charset=utf-8", 11));
    CHECK(serves("/app.js", "text/javascript; charset=utf-8", 1));
    CHECK(serves("/mod.mjs", "text/javascript; charset=utf-8", 1));
    CHECK(serves("/style.CSS", "text/css; charset=utf-8", 3));
    CHECK(serves("/data.json", "application/json", 2));
    CHECK(serves("/logo.svg", "image/svg+xml", 6));
    CHECK(serves("/dynscope.wasm", "application/wasm", -1));
    CHECK(serves("/blob.bin", "application/octet-stream", 1));
    CHECK(serves("/README", "application/octet-stream", 1));
    CHECK(serves("/sub/page.html", "text/html; charset=utf-8", 1));

    static const char *refused[] = {
        "",
        "index.html",
        "/missing.html",
        "/sub",
        "/sub/",
        "//index.html",
        "/sub//page.html",
        "/../secret.txt",
        "/sub/../index.html",
        "/./index.html",
        "/..",
        "/.",
        "/.env",
        "/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/sub\\..\\index.html",
        "/index.html?x=1",
        "/index.html/",
        "/fifo",
        "/ index.html",
        "/index.html\n",
        "/\xc3\xa9.html",
        "/sub/.hidden",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        struct static_file f;
        int opened = static_open(web, refused[i], &f);
        CHECK(!opened);
        if (opened) {
            fprintf(stderr, "  served: %s\n", refused[i]);
            close(f.fd);
        }
    }
    /* Absurdly long paths are refused, not truncated into something else. */
    char longurl[600] = "/";
    memset(longurl + 1, 'a', 500);
    CHECK(!serves(longurl, NULL, -1));
    CHECK(!static_open("/nonexistent-dir", "/", &(struct static_file){0}));

    CHECK_STR(static_content_type("a/b.c/file"), "application/octet-stream");
    CHECK_STR(static_content_type("x.HTML"), "text/html; charset=utf-8");
    CHECK_STR(static_content_type("python_stdlib.zip"), "application/zip");
    CHECK_STR(static_content_type("engine/runner.py"), "text/plain; charset=utf-8");

    /* Precompressed copies are chosen by Accept-Encoding; validators differ
     * between the two, and If-None-Match answers 304. */
    put("web/big.js", "plain text");
    put("web/big.js.gz", "gz");
    {
        struct static_file f, g;
        char etag[64];
        CHECK(static_open_negotiated(web, "/big.js", "gzip, deflate, br", &f));
        CHECK(f.size == 2 && f.varies);
        CHECK_STR(f.content_encoding, "gzip");
        CHECK_STR(f.content_type, "text/javascript; charset=utf-8");
        strcpy(etag, f.etag);
        close(f.fd);
        CHECK(static_open_negotiated(web, "/big.js", "br, gzip;q=0", &g));
        CHECK(g.size == 10 && g.content_encoding == NULL && g.varies);
        CHECK(strcmp(etag, g.etag) != 0);
        CHECK(static_not_modified(&g, g.etag));
        CHECK(!static_not_modified(&g, etag));
        CHECK(!static_not_modified(&g, NULL));
        close(g.fd);
        CHECK(static_open_negotiated(web, "/big.js", NULL, &g));
        CHECK(g.size == 10 && g.content_encoding == NULL);
        close(g.fd);
        CHECK(static_open(web, "/big.js", &g) && g.size == 10 && !g.varies);
        close(g.fd);
        CHECK(static_open_negotiated(web, "/app.js", "gzip", &g));
        CHECK(g.size == 1 && g.content_encoding == NULL && !g.varies);
        char list[160];
        snprintf(list, sizeof list, "\"x\", W/%s", g.etag);
        CHECK(static_not_modified(&g, list));
        CHECK(static_not_modified(&g, "*"));
        CHECK(g.last_modified[0] != '\0' && strstr(g.last_modified, " GMT") != NULL);
        close(g.fd);
    }
    {
        bool coop = false, coep = false, corp = false;
        for (size_t i = 0; static_headers[i][0] != NULL; i++) {
            coop |= strcmp(static_headers[i][0], "Cross-Origin-Opener-Policy") == 0;
            coep |= strcmp(static_headers[i][0], "Cross-Origin-Embedder-Policy") == 0;
            corp |= strcmp(static_headers[i][0], "Cross-Origin-Resource-Policy") == 0;
        }
        CHECK(coop && coep && corp);
    }

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
    return check_report();
}
