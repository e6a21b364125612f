/* server/crashlimit.c: N crashes within the window refuse the caller until
 * the oldest leaves it; other callers are untouched; the table is bounded. */
#include <stdio.h>

#include "check.h"
#include "crashlimit.h"

static void test_window(void) {
    struct crashlimit *cl = crashlimit_new(2, 10000);
    CHECK(crashlimit_wait_ms(cl, "ip:1", 0) == 0);
    crashlimit_record(cl, "ip:1", 1000);
    CHECK(crashlimit_wait_ms(cl, "ip:1", 1001) == 0);
    crashlimit_record(cl, "ip:1", 3000);
    CHECK(crashlimit_wait_ms(cl, "ip:1", 3001) == 7999); /* until 1000 + 10000 */
    CHECK(crashlimit_wait_ms(cl, "ip:2", 3001) == 0);
    CHECK(crashlimit_wait_ms(cl, "ip:1", 11000) == 0);
    crashlimit_record(cl, "ip:1", 12000); /* now 3000 and 12000 are in the window */
    CHECK(crashlimit_wait_ms(cl, "ip:1", 12000) == 1000);
    CHECK(crashlimit_wait_ms(cl, "ip:1", 30000) == 0);
    crashlimit_free(cl);
}

/* The quick answer for a window past everyone's last crash must not hide a
 * caller still in its own window. */
static void test_latest_crash_of_anyone(void) {
    struct crashlimit *cl = crashlimit_new(2, 10000);
    crashlimit_record(cl, "ip:1", 1000);
    crashlimit_record(cl, "ip:1", 3000);
    crashlimit_record(cl, "ip:2", 2000); /* not the latest */
    CHECK(crashlimit_wait_ms(cl, "ip:1", 5000) == 6000);
    CHECK(crashlimit_wait_ms(cl, "ip:1", 12999) == 0); /* 1000 left the window at 11000 */
    crashlimit_record(cl, "ip:1", 14000);
    CHECK(crashlimit_wait_ms(cl, "ip:1", 14000) == 0); /* 3000 and 14000: 3000 is out */
    crashlimit_record(cl, "ip:1", 15000);
    CHECK(crashlimit_wait_ms(cl, "ip:1", 15000) == 9000);
    CHECK(crashlimit_wait_ms(cl, "ip:1", 25000) == 0);
    crashlimit_free(cl);
}

static void test_off(void) {
    struct crashlimit *cl = crashlimit_new(0, 10000);
    for (int i = 0; i < 10; i++)
        crashlimit_record(cl, "key:a", i);
    CHECK(crashlimit_wait_ms(cl, "key:a", 10) == 0);
    crashlimit_free(cl);
    CHECK(crashlimit_wait_ms(NULL, "key:a", 10) == 0);
}

static void test_bounded_table(void) {
    struct crashlimit *cl = crashlimit_new(1, 60000);
    char id[32];
    crashlimit_record(cl, "key:victim", 0);
    for (int i = 0; i < CRASHLIMIT_CALLERS + 10; i++) {
        snprintf(id, sizeof id, "ip:%d", i);
        crashlimit_record(cl, id, 1 + i);
    }
    /* The oldest was forgotten, the newest are all remembered. */
    CHECK(crashlimit_wait_ms(cl, "key:victim", 5000) == 0);
    CHECK(crashlimit_wait_ms(cl, "ip:1033", 5000) > 0);
    crashlimit_free(cl);
}

int main(void) {
    test_window();
    test_latest_crash_of_anyone();
    test_off();
    test_bounded_table();
    return check_report();
}
