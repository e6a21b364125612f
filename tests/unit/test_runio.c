/* server/runio.c: the edges of the path, glob and base64 rules that the
 * bad-input table (tests/api/test_bad_input.py) does not reach one by one. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "runio.h"

static const char *files_code(const char *path) {
    static struct api_error err;
    json_t *v = json_pack("[{s:s, s:s}]", "path", path, "text", "");
    bool ok = runio_check_files(v, &err);
    json_decref(v);
    return ok ? "ok" : err.code;
}

static const char *glob_code(const char *pattern) {
    static struct api_error err;
    json_t *v = json_pack("[s]", pattern);
    bool ok = runio_check_collect(v, &err);
    json_decref(v);
    return ok ? "ok" : err.code;
}

static const char *base64_code(const char *b64) {
    static struct api_error err;
    json_t *v = json_pack("[{s:s, s:s}]", "path", "a", "base64", b64);
    bool ok = runio_check_files(v, &err);
    json_decref(v);
    return ok ? "ok" : err.code;
}

static void test_paths(void) {
    CHECK_STR(files_code("a.txt"), "ok");
    CHECK_STR(files_code("./a/b/c.txt"), "ok");
    CHECK_STR(files_code("/tmp/x"), "ok");
    CHECK_STR(files_code("/home/pyodide/x/y"), "ok");
    CHECK_STR(files_code("..a/b..c/...d"), "ok"); /* only a whole '..' segment is one */
    CHECK_STR(files_code(".."), ERR_INVALID_PATH);
    CHECK_STR(files_code("a/.."), ERR_INVALID_PATH);
    CHECK_STR(files_code("/tmpx/a"), ERR_INVALID_PATH);
    CHECK_STR(files_code("/tmp/"), ERR_INVALID_PATH);
    CHECK_STR(files_code("//tmp/a"), ERR_INVALID_PATH);
    CHECK_STR(files_code("/home/pyodide"), ERR_INVALID_PATH);
    CHECK_STR(files_code("a//b"), ERR_INVALID_PATH);
    CHECK_STR(files_code("a/."), ERR_INVALID_PATH);
    CHECK_STR(files_code("."), ERR_INVALID_PATH);
    char seg[300];
    memset(seg, 'x', sizeof seg - 1);
    seg[sizeof seg - 1] = '\0';
    CHECK_STR(files_code(seg), ERR_INVALID_PATH); /* 299 bytes in one segment */
    seg[255] = '\0';
    CHECK_STR(files_code(seg), "ok");
}

static void test_globs(void) {
    CHECK_STR(glob_code("*.txt"), "ok");
    CHECK_STR(glob_code("**/*.csv"), "ok");
    CHECK_STR(glob_code("/tmp/**"), "ok");
    CHECK_STR(glob_code("a/[!x]?.[ch]"), "ok");
    CHECK_STR(glob_code("[]]x"), "ok"); /* ']' first in a class is a member, as fnmatch reads it */
    CHECK_STR(glob_code("[!]]x"), "ok");
    CHECK_STR(glob_code("[]"), ERR_INVALID_GLOB);
    CHECK_STR(glob_code("a[/]b"), ERR_INVALID_GLOB); /* a class never spans a '/' */
    CHECK_STR(glob_code("***"), ERR_INVALID_GLOB);
    CHECK_STR(glob_code("x**/a"), ERR_INVALID_GLOB);
    CHECK_STR(glob_code("/t*/a"),
              ERR_INVALID_GLOB); /* absolute: a literal writable directory first */
    CHECK_STR(glob_code("out/"), ERR_INVALID_GLOB);
}

static void test_base64(void) {
    CHECK_STR(base64_code(""), "ok");
    CHECK_STR(base64_code("AAEC"), "ok");
    CHECK_STR(base64_code("AA=="), "ok");
    CHECK_STR(base64_code("AAE="), "ok");
    CHECK_STR(base64_code("AAE"), ERR_INVALID_VALUE);
    CHECK_STR(base64_code("A==="), ERR_INVALID_VALUE);
    CHECK_STR(base64_code("AA=A"), ERR_INVALID_VALUE);
    CHECK_STR(base64_code("AA AA="), ERR_INVALID_VALUE);
    CHECK_STR(base64_code("AA-_"), ERR_INVALID_VALUE); /* the URL alphabet is not base64 here */
}

static void test_sizes(void) {
    struct api_error err;
    /* FILES_MAX_BYTES of contents together: accepted; a byte more: refused. */
    char *text = malloc(FILES_MAX_BYTES + 2);
    memset(text, 'x', FILES_MAX_BYTES + 1);
    text[FILES_MAX_BYTES + 1] = '\0';
    json_t *v = json_pack("[{s:s, s:s%}, {s:s, s:s}]", "path", "a", "text", text,
                          (size_t)FILES_MAX_BYTES, "path", "b", "text", "");
    CHECK(runio_check_files(v, &err));
    json_decref(v);
    v = json_pack("[{s:s, s:s%}, {s:s, s:s}]", "path", "a", "text", text, (size_t)FILES_MAX_BYTES,
                  "path", "b", "text", "x");
    CHECK(!runio_check_files(v, &err) && strcmp(err.code, ERR_FILES_TOO_LARGE) == 0);
    json_decref(v);
    free(text);

    json_t *many = json_array();
    for (int i = 0; i <= FILES_MAX; i++)
        json_array_append_new(many, json_pack("{s:s, s:s}", "path", "a", "text", ""));
    CHECK(!runio_check_files(many, &err) && strcmp(err.code, ERR_TOO_MANY_FILES) == 0);
    json_array_remove(many, 0);
    CHECK(runio_check_files(many, &err));
    json_decref(many);

    json_t *s = json_stringn("", 0);
    CHECK(runio_check_stdin(s, &err));
    json_decref(s);
}

int main(void) {
    test_paths();
    test_globs();
    test_base64();
    test_sizes();
    return check_report();
}
