/* Answers held back until a time (http.c: a run refused again on a
 * connection that did not wait the Retry-After of its last refusal). One
 * thread sleeps until the earliest is due and releases it; whoever holds an
 * item must not free it before it is released.
 *
 * Thread contract: tarpit_hold from any thread; `release` runs on the
 * tarpit's thread, or on tarpit_stop's caller for what was still held. */
#ifndef SCOPEBOX_TARPIT_H
#define SCOPEBOX_TARPIT_H

#include <stdbool.h>

struct tarpit_item {
    struct tarpit_item *next;
    double due; /* clock_ms() */
    void (*release)(struct tarpit_item *item);
};

struct tarpit;

/* NULL when out of memory or when no thread could be started. */
struct tarpit *tarpit_new(void);

/* Holds `item` until `due`. False once tarpit_stop has begun: the caller
 * answers at once. */
bool tarpit_hold(struct tarpit *tp, struct tarpit_item *item, double due,
                 void (*release)(struct tarpit_item *item));

/* Releases everything still held, refuses new holds, ends the thread. */
void tarpit_stop(struct tarpit *tp);

void tarpit_free(struct tarpit *tp);

#endif
