#define _GNU_SOURCE /* pthread_setname_np */
#include "tarpit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"

struct tarpit {
    pthread_mutex_t lock;
    pthread_cond_t changed;   /* CLOCK_MONOTONIC, as clock_ms() */
    struct tarpit_item *held; /* unordered: one per held connection at most */
    bool stopping, joined;
    pthread_t thread;
};

/* Unlinks every item due by `now` (all of them when `now` < 0) into a list
 * of their own, and says when the next one left is due (0: none). */
static struct tarpit_item *take_due(struct tarpit *tp, double now, double *next) {
    struct tarpit_item **link = &tp->held, *due = NULL, *it;
    *next = 0;
    while ((it = *link) != NULL) {
        if (now < 0 || it->due <= now) {
            *link = it->next;
            it->next = due;
            due = it;
        } else {
            if (*next == 0 || it->due < *next)
                *next = it->due;
            link = &it->next;
        }
    }
    return due;
}

static void release_all(struct tarpit_item *list) {
    while (list != NULL) {
        struct tarpit_item *it = list;
        list = it->next;
        it->release(it);
    }
}

static void *tarpit_thread(void *arg) {
    struct tarpit *tp = arg;
    pthread_mutex_lock(&tp->lock);
    while (!tp->stopping) {
        double next;
        struct tarpit_item *due = take_due(tp, clock_ms(), &next);
        if (due != NULL) {
            pthread_mutex_unlock(&tp->lock);
            release_all(due);
            pthread_mutex_lock(&tp->lock);
            continue;
        }
        if (next == 0) {
            pthread_cond_wait(&tp->changed, &tp->lock);
        } else {
            double s = floor(next / 1000);
            struct timespec at = {(time_t)s, (long)((next - s * 1000) * 1e6)};
            pthread_cond_timedwait(&tp->changed, &tp->lock, &at);
        }
    }
    pthread_mutex_unlock(&tp->lock);
    return NULL;
}

struct tarpit *tarpit_new(void) {
    struct tarpit *tp = calloc(1, sizeof *tp);
    pthread_condattr_t attr;
    if (tp == NULL)
        return NULL;
    pthread_mutex_init(&tp->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&tp->changed, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&tp->thread, NULL, tarpit_thread, tp) != 0) {
        pthread_cond_destroy(&tp->changed);
        pthread_mutex_destroy(&tp->lock);
        free(tp);
        return NULL;
    }
    pthread_setname_np(tp->thread, "tarpit");
    return tp;
}

bool tarpit_hold(struct tarpit *tp, struct tarpit_item *item, double due,
                 void (*release)(struct tarpit_item *item)) {
    pthread_mutex_lock(&tp->lock);
    if (tp->stopping) {
        pthread_mutex_unlock(&tp->lock);
        return false;
    }
    item->due = due;
    item->release = release;
    item->next = tp->held;
    tp->held = item;
    pthread_cond_signal(&tp->changed);
    pthread_mutex_unlock(&tp->lock);
    return true;
}

void tarpit_stop(struct tarpit *tp) {
    double next;
    struct tarpit_item *all;
    if (tp == NULL || tp->joined)
        return;
    pthread_mutex_lock(&tp->lock);
    tp->stopping = true;
    all = take_due(tp, -1, &next);
    pthread_cond_signal(&tp->changed);
    pthread_mutex_unlock(&tp->lock);
    pthread_join(tp->thread, NULL);
    tp->joined = true;
    release_all(all);
}

void tarpit_free(struct tarpit *tp) {
    if (tp == NULL)
        return;
    tarpit_stop(tp);
    pthread_cond_destroy(&tp->changed);
    pthread_mutex_destroy(&tp->lock);
    free(tp);
}
