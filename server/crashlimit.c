#include "crashlimit.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct caller {
    char id[CRASHLIMIT_CALLER_MAX + 1];
    double *times; /* a ring of the last `limit` crashes, oldest at `next` */
    unsigned count, next;
    double last;
};

struct crashlimit {
    unsigned limit;
    double window;
    pthread_mutex_t lock;
    struct caller callers[CRASHLIMIT_CALLERS];
    double *times; /* CRASHLIMIT_CALLERS x limit */
    /* The latest crash of anyone: a window past it, nobody can be limited,
     * and a run's admission need not search the table (every run asks). */
    double last;
    bool any;
};

struct crashlimit *crashlimit_new(unsigned limit, unsigned window_ms) {
    struct crashlimit *cl = calloc(1, sizeof *cl);
    if (cl == NULL)
        return NULL;
    if (limit > CRASHLIMIT_LIMIT_MAX)
        limit = CRASHLIMIT_LIMIT_MAX;
    cl->limit = limit;
    cl->window = window_ms;
    if (limit > 0) {
        cl->times = calloc((size_t)CRASHLIMIT_CALLERS * limit, sizeof *cl->times);
        if (cl->times == NULL) {
            free(cl);
            return NULL;
        }
        for (size_t i = 0; i < CRASHLIMIT_CALLERS; i++)
            cl->callers[i].times = cl->times + i * limit;
    }
    pthread_mutex_init(&cl->lock, NULL);
    return cl;
}

void crashlimit_free(struct crashlimit *cl) {
    if (cl == NULL)
        return;
    pthread_mutex_destroy(&cl->lock);
    free(cl->times);
    free(cl);
}

static struct caller *find(struct crashlimit *cl, const char *id) {
    for (size_t i = 0; i < CRASHLIMIT_CALLERS; i++)
        if (cl->callers[i].count > 0 && strcmp(cl->callers[i].id, id) == 0)
            return &cl->callers[i];
    return NULL;
}

double crashlimit_wait_ms(struct crashlimit *cl, const char *id, double now) {
    struct caller *c;
    double wait = 0;
    if (cl == NULL || cl->limit == 0)
        return 0;
    pthread_mutex_lock(&cl->lock);
    c = cl->any && now < cl->last + cl->window ? find(cl, id) : NULL;
    if (c != NULL && c->count == cl->limit) {
        double oldest = c->times[c->next];
        if (now < oldest + cl->window)
            wait = oldest + cl->window - now;
    }
    pthread_mutex_unlock(&cl->lock);
    return wait;
}

void crashlimit_record(struct crashlimit *cl, const char *id, double now) {
    struct caller *c;
    if (cl == NULL || cl->limit == 0)
        return;
    pthread_mutex_lock(&cl->lock);
    c = find(cl, id);
    if (c == NULL) {
        /* A free entry, or one whose crashes are all out of the window, or
         * else the one whose last crash is oldest. */
        for (size_t i = 0; i < CRASHLIMIT_CALLERS; i++) {
            struct caller *e = &cl->callers[i];
            if (e->count == 0 || now - e->last >= cl->window) {
                c = e;
                break;
            }
            if (c == NULL || e->last < c->last)
                c = e;
        }
        snprintf(c->id, sizeof c->id, "%s", id);
        c->count = 0;
        c->next = 0;
    }
    c->times[c->next] = now;
    c->next = (c->next + 1) % cl->limit;
    if (c->count < cl->limit)
        c->count++;
    c->last = now;
    if (!cl->any || now > cl->last)
        cl->last = now;
    cl->any = true;
    pthread_mutex_unlock(&cl->lock);
}
