/* One intrusive FIFO, for every list of jobs the server keeps: the pool's
 * queue, the control queue of session jobs, each session's line of waiting
 * runs, and the runs to cancel. An element carries its own link field (a
 * job can be in the queue and in the cancel list at once: two fields), so
 * pushing never allocates and never fails. No lock of its own: the owner of
 * the list says which lock guards it (pool_private.h).
 *
 *     FIFO_DEFINE(job_queue, queue, struct job, next)
 *
 * declares `struct job_queue {head, tail, n}` and queue_push, queue_push_front,
 * queue_pop, queue_remove and queue_take over `struct job` linked through
 * its `next` member. A zeroed struct is an empty FIFO. */
#ifndef SCOPEBOX_FIFO_H
#define SCOPEBOX_FIFO_H

#include <stdbool.h>
#include <stddef.h>

#define FIFO_DEFINE(name, prefix, type, link)                                                      \
    struct name {                                                                                  \
        type *head, *tail;                                                                         \
        int n;                                                                                     \
    };                                                                                             \
                                                                                                   \
    static inline void prefix##_push(struct name *q, type *e) {                                    \
        e->link = NULL;                                                                            \
        if (q->tail)                                                                               \
            q->tail->link = e;                                                                     \
        else                                                                                       \
            q->head = e;                                                                           \
        q->tail = e;                                                                               \
        q->n++;                                                                                    \
    }                                                                                              \
                                                                                                   \
    static inline void prefix##_push_front(struct name *q, type *e) {                              \
        e->link = q->head;                                                                         \
        q->head = e;                                                                               \
        if (q->tail == NULL)                                                                       \
            q->tail = e;                                                                           \
        q->n++;                                                                                    \
    }                                                                                              \
                                                                                                   \
    static inline type *prefix##_pop(struct name *q) {                                             \
        type *e = q->head;                                                                         \
        if (e) {                                                                                   \
            q->head = e->link;                                                                     \
            if (q->head == NULL)                                                                   \
                q->tail = NULL;                                                                    \
            e->link = NULL;                                                                        \
            q->n--;                                                                                \
        }                                                                                          \
        return e;                                                                                  \
    }                                                                                              \
                                                                                                   \
    /* Takes `e` out wherever it is; false when it is not there. */                                \
    static inline bool prefix##_remove(struct name *q, type *e) {                                  \
        type *prev = NULL;                                                                         \
        for (type *j = q->head; j != NULL; prev = j, j = j->link) {                                \
            if (j != e)                                                                            \
                continue;                                                                          \
            if (prev)                                                                              \
                prev->link = j->link;                                                              \
            else                                                                                   \
                q->head = j->link;                                                                 \
            if (q->tail == j)                                                                      \
                q->tail = prev;                                                                    \
            j->link = NULL;                                                                        \
            q->n--;                                                                                \
            return true;                                                                           \
        }                                                                                          \
        return false;                                                                              \
    }                                                                                              \
                                                                                                   \
    /* The whole FIFO, moved out: `q` is left empty (take it under its lock,  \
     * pop the copy outside). */                    \
    static inline struct name prefix##_take(struct name *q) {                                      \
        struct name all = *q;                                                                      \
        q->head = q->tail = NULL;                                                                  \
        q->n = 0;                                                                                  \
        return all;                                                                                \
    }

#endif
