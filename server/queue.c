#include "queue.h"

#include <stddef.h>

#include "pool.h"

void queue_push(struct job_queue *q, struct job *job) {
    job->next = NULL;
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
    q->n++;
}

void queue_push_front(struct job_queue *q, struct job *job) {
    job->next = q->head;
    q->head = job;
    if (q->tail == NULL)
        q->tail = job;
    q->n++;
}

struct job *queue_pop(struct job_queue *q) {
    struct job *job = q->head;
    if (job) {
        q->head = job->next;
        if (q->head == NULL)
            q->tail = NULL;
        job->next = NULL;
        q->n--;
    }
    return job;
}

struct job *queue_take_all(struct job_queue *q) {
    struct job *list = q->head;
    q->head = q->tail = NULL;
    q->n = 0;
    return list;
}

bool queue_remove(struct job_queue *q, struct job *job) {
    struct job *prev = NULL;
    for (struct job *j = q->head; j != NULL; prev = j, j = j->next) {
        if (j != job)
            continue;
        if (prev)
            prev->next = j->next;
        else
            q->head = j->next;
        if (q->tail == j)
            q->tail = prev;
        j->next = NULL;
        q->n--;
        return true;
    }
    return false;
}
