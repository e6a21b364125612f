/* server/tarpit.c: a held item is released by the tarpit's thread, never
 * before it is due, whatever order the holds came in; stopping releases
 * what is still held at once and refuses new holds. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "check.h"
#include "clock.h"
#include "tarpit.h"

struct held {
    struct tarpit_item item; /* first: release gets it back */
    atomic_bool released;
    double released_at;
};

static void release(struct tarpit_item *item) {
    struct held *h = (struct held *)item;
    h->released_at = clock_ms();
    atomic_store(&h->released, true);
}

static void wait_released(struct held *h) {
    struct timespec tick = {0, 1000000};
    double give_up = clock_ms() + 10000;
    while (!atomic_load(&h->released) && clock_ms() < give_up)
        nanosleep(&tick, NULL);
}

static void test_released_when_due_in_any_order(void) {
    struct tarpit *tp = tarpit_new();
    struct held late = {0}, early = {0}, past = {0};
    double now = clock_ms();
    CHECK(tp != NULL);
    CHECK(tarpit_hold(tp, &late.item, now + 60, release));
    CHECK(tarpit_hold(tp, &early.item, now + 20, release)); /* held after, due before */
    CHECK(tarpit_hold(tp, &past.item, now - 5, release));   /* due already */
    wait_released(&late);
    wait_released(&early);
    wait_released(&past);
    CHECK(atomic_load(&late.released) && atomic_load(&early.released) &&
          atomic_load(&past.released));
    CHECK(early.released_at >= now + 20);
    CHECK(late.released_at >= now + 60);
    tarpit_free(tp);
}

static void test_stop_releases_what_is_held_and_refuses_more(void) {
    struct tarpit *tp = tarpit_new();
    struct held far = {0}, after = {0};
    CHECK(tarpit_hold(tp, &far.item, clock_ms() + 3600e3, release));
    tarpit_stop(tp);
    CHECK(atomic_load(&far.released)); /* by the time tarpit_stop returns */
    CHECK(!tarpit_hold(tp, &after.item, clock_ms(), release));
    CHECK(!atomic_load(&after.released));
    tarpit_stop(tp); /* a second stop is harmless (tarpit_free stops too) */
    tarpit_free(tp);
}

int main(void) {
    test_released_when_due_in_any_order();
    test_stop_releases_what_is_held_and_refuses_more();
    return check_report();
}
