/* A FIFO of jobs linked through job->next: the pool's queue and each
 * session's own line of waiting runs. No lock of its own: the pool's queue
 * is guarded by the pool lock, sessions' lines belong to the dispatcher. */
#ifndef SCOPEBOX_QUEUE_H
#define SCOPEBOX_QUEUE_H

#include <stdbool.h>

struct job;

struct job_queue {
    struct job *head, *tail;
    int n;
};

void queue_push(struct job_queue *q, struct job *job);
void queue_push_front(struct job_queue *q, struct job *job);
struct job *queue_pop(struct job_queue *q);
/* Takes `job` out wherever it is in the queue; false when it is not there. */
bool queue_remove(struct job_queue *q, struct job *job);
/* All of it, as a list through job->next; the queue is left empty. */
struct job *queue_take_all(struct job_queue *q);

#endif
