/* The dispatcher thread's loop (the ae.c of this server): one thread owns
 * every worker, and each turn of its loop answers what expired, routes
 * session jobs, acts on cancels, runs each slot's timers (slot.c), hands
 * queued jobs to idle workers, then polls the workers' pipes, its wake-up
 * eventfd and the clients of live runs until the next thing is due. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "pool_private.h"

/* While a worker is exiting it is reaped by polling waitpid this often. */
#define REAP_POLL_MS 10.0
/* Upper bound on one poll() so timers never depend on an event arriving. */
#define MAX_SLEEP_MS 1000.0

_Thread_local bool pool_on_dispatcher_thread;

/* ---- cancels ------------------------------------------------------------------
 * A cancel (pool_cancel_job, any thread) sets job->cancel and lists the job;
 * the dispatcher finds where the job is: queued (the pool's queue or its
 * session's line), it is answered at once and never runs; on a worker, the
 * worker is told to interrupt it; not routed yet, the flag stops it there. */

static void act_on_cancel(struct pool *p, struct job *job, double now) {
    struct session_line *line;
    bool removed;

    if (job->done)
        return;
    pthread_mutex_lock(&p->lock);
    removed = queue_remove(&p->queue, job);
    pthread_mutex_unlock(&p->lock);
    if (!removed && job->kind == JOB_SESSION_RUN &&
        (line = sessions_line(p->sessions, job->session, false)) != NULL) {
        removed = queue_remove(&line->waiting, job);
        sessions_line_release(p->sessions, line);
    }
    if (removed) {
        job_fail_cancelled(job, now);
        return;
    }
    for (int i = 0; i < p->n_slots; i++) {
        struct slot *s = &p->slots[i];
        if (s->state == SLOT_BUSY && s->job == job) {
            /* With its answer in (awaiting its image), the run is over. */
            if (!s->awaiting_image && !job->cancel_sent)
                slot_send_cancel(s, job, now);
            return;
        }
        if (s->state == SLOT_RESETTING && s->next == job) {
            /* Its frame is in the pipe: the worker answers it `cancelled`
             * without running it when it reads it (PROTOCOL.md, `cancel`). */
            if (!job->cancel_sent)
                slot_send_cancel(s, job, now);
            return;
        }
    }
}

static void take_cancels(struct pool *p, double now) {
    struct cancel_list list;
    struct job *job;
    pthread_mutex_lock(&p->lock);
    list = cancels_take(&p->cancels);
    pthread_mutex_unlock(&p->lock);
    while ((job = cancels_pop(&list)) != NULL) {
        act_on_cancel(p, job, now);
        job_release(job); /* the cancel list's */
    }
}

/* Clients of queued and running runs are watched for a hang-up (the peer
 * closed: EPOLLRDHUP): libmicrohttpd does not poll a suspended connection,
 * so without this a client that left would be noticed only once its run
 * was answered. A client that only half-closes its side counts as gone.
 *
 * They sit in an epoll set of the dispatcher's own, which its poll() sees
 * as one descriptor: polling every client on every turn of the loop (a run
 * takes several) was the largest part of the dispatcher's time with a few
 * dozen connections. Each watched client is a dup() of the connection's
 * descriptor, so the number in the set is ours alone: libmicrohttpd may
 * close its own and the kernel reuse the number for another connection, and
 * the set still names this one. The dup is closed as soon as the job is
 * done, cancelled or dropped, before the next wait. */
struct watch {
    int ep;
    struct job **jobs; /* watched: each holds a reference; fds[i] is its dup */
    int *fds;
    size_t n, cap;
};

static void watch_client(struct job *job, void *arg) {
    struct watch *w = arg;
    struct epoll_event ev = {.events = EPOLLRDHUP};
    int fd;
    if (job->watched || job->client_fd < 0 || atomic_load(&job->cancel) || w->n == w->cap)
        return;
    fd = fcntl(job->client_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return; /* out of descriptors: noticed once its run is answered */
    ev.data.ptr = job;
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        return;
    }
    job->watched = true;
    w->jobs[w->n] = job_ref(job);
    w->fds[w->n++] = fd;
}

static void unwatch(struct watch *w, size_t i) {
    epoll_ctl(w->ep, EPOLL_CTL_DEL, w->fds[i], NULL);
    close(w->fds[i]);
    w->jobs[i]->watched = false;
    job_release(w->jobs[i]);
    w->jobs[i] = w->jobs[--w->n];
    w->fds[i] = w->fds[w->n];
}

/* Done (job_complete ran on this thread), cancelled, or let go by its
 * submitter before it was queued (pool_submit failed: ours is the last
 * reference): no longer watched. */
static void watch_sweep(struct watch *w, bool all) {
    for (size_t i = w->n; i-- > 0;) {
        struct job *job = w->jobs[i];
        if (all || job->done || atomic_load(&job->cancel) || atomic_load(&job->refs) == 1)
            unwatch(w, i);
    }
}

/* One batch a turn: the set is level-triggered and a client that left stays
 * ready until this turn's sweep unwatches its cancelled job, so waiting
 * again in the same turn got the same clients back. With 64 or more gone
 * at once (a load generator ending with its runs queued) that loop never
 * ended and the dispatcher served nothing more. The next batch comes on
 * the next turn. */
static void watch_read(struct pool *p, struct watch *w) {
    struct epoll_event evs[64];
    int n = epoll_wait(w->ep, evs, 64, 0);
    for (int i = 0; i < n; i++)
        if (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            pool_cancel_job(p, evs[i].data.ptr, true);
}

/* ---- the dispatcher loop ------------------------------------------------- */

static bool is_stopping(struct pool *p, double *drain_deadline) {
    bool stopping;
    pthread_mutex_lock(&p->lock);
    stopping = p->stopping;
    *drain_deadline = p->drain_deadline;
    pthread_mutex_unlock(&p->lock);
    return stopping;
}

/* Queued jobs past the queue timeout, or all of them once stopping, are
 * answered here. Collected under the lock, completed outside it: job
 * completion takes job locks and resumes connections. */
void dispatch_expire_queue(struct pool *p, double now, bool stopping) {
    struct job_queue expired = {0};
    struct job *job;
    double limit = p->cfg->queue_timeout_ms;

    pthread_mutex_lock(&p->lock);
    while (p->queue.head && (stopping || (limit > 0 && now - p->queue.head->enqueued_at >= limit)))
        queue_push(&expired, queue_pop(&p->queue));
    pthread_mutex_unlock(&p->lock);

    while ((job = queue_pop(&expired)) != NULL) {
        job->queue_ms = clock_ms() - job->enqueued_at; /* may postdate `now` */
        if (stopping)
            job_fail(job, API_SHUTTING_DOWN, "the server is shutting down");
        else
            job_fail(job, API_QUEUE_TIMEOUT, "no worker became free within %u ms",
                     p->cfg->queue_timeout_ms);
    }
}

/* The pool slot idle the longest (each worker is idle only once it wiped
 * its last run, see SLOT_RESETTING): of those holding a session's state,
 * the one to give it up. */
static struct slot *longest_idle(struct pool *p) {
    struct slot *best = NULL;
    for (int i = 0; i < p->n_pool; i++) {
        struct slot *s = &p->slots[i];
        if (s->state == SLOT_IDLE && (best == NULL || s->idle_since < best->idle_since))
            best = s;
    }
    return best;
}

/* An idle worker runs the next queued run of the session it holds ahead of
 * older jobs (no image to apply, no reset), at most this many times in a
 * row: the jobs it passes wait for those runs. */
#define RESIDENT_AHEAD_MAX 4

/* The queued job of the session `s` holds resident, if any: a session has
 * one job at most in the pool's queue (its line keeps the rest, in order).
 * Under p->lock. */
static struct job *resident_job(struct pool *p, const struct slot *s) {
    if (s->state != SLOT_IDLE || s->resident[0] == '\0' || s->ahead >= RESIDENT_AHEAD_MAX)
        return NULL;
    for (struct job *j = p->queue.head; j != NULL; j = j->next)
        if (j->kind != JOB_RUN && strcmp(j->session, s->resident) == 0)
            return j;
    return NULL;
}

/* The worker for a job: for a stateless run, first one that is resetting
 * after a stateless run (slot_takes_next): the run waits in its pipe for
 * the end of the reset, and one client's runs, one after another, keep to
 * one worker whose caches are warm (spread over two, each run took twice
 * the CPU). For a session's, the one holding its state if it is idle. Then,
 * of those holding no session's state, the one idle the shortest, for the
 * same reason. A resident state is kept until its worker must serve
 * someone else; then the least recently used goes. */
static struct slot *pick_slot(struct pool *p, const struct job *job) {
    struct slot *best = NULL, *any = longest_idle(p);
    if (job->kind == JOB_RUN)
        for (int i = 0; i < p->n_pool; i++)
            if (slot_takes_next(&p->slots[i]))
                return &p->slots[i];
    if (job->kind != JOB_RUN)
        for (int i = 0; i < p->n_pool; i++)
            if (p->slots[i].state == SLOT_IDLE && strcmp(p->slots[i].resident, job->session) == 0)
                return &p->slots[i];
    for (int i = 0; i < p->n_pool; i++) {
        struct slot *s = &p->slots[i];
        if (s->state == SLOT_IDLE && s->resident[0] == '\0' &&
            (best == NULL || s->idle_since > best->idle_since))
            best = s;
    }
    return best ? best : any;
}

static bool any_takes_next(struct pool *p) {
    for (int i = 0; i < p->n_pool; i++)
        if (slot_takes_next(&p->slots[i]))
            return true;
    return false;
}

static void assign_jobs(struct pool *p) {
    ASSERT_DISPATCHER(p);
    for (;;) {
        struct slot *s = NULL;
        struct job *job = NULL;
        bool ahead = false, idle = longest_idle(p) != NULL;
        if (!idle && !any_takes_next(p))
            return;
        pthread_mutex_lock(&p->lock);
        /* First a worker's own session's next run, then the oldest job;
         * with no worker idle, only if it is a stateless run (which a
         * resetting worker takes): the jobs behind a session's wait with it,
         * or a steady flow of runs would keep every worker from being idle
         * for it. */
        for (int i = 0; i < p->n_pool && job == NULL; i++) {
            if ((job = resident_job(p, &p->slots[i])) != NULL) {
                s = &p->slots[i];
                ahead = job != p->queue.head;
                queue_remove(&p->queue, job);
            }
        }
        if (job == NULL && (idle || (p->queue.head != NULL && p->queue.head->kind == JOB_RUN)))
            job = queue_pop(&p->queue);
        if (job != NULL && p->ready > 0) { /* keep pool_submit's bound tight */
            p->ready--;
            p->busy++;
        }
        pthread_mutex_unlock(&p->lock);
        if (job == NULL)
            return;
        if (atomic_load(&job->cancel)) { /* a cancel not yet acted on: never started */
            job_fail_cancelled(job, clock_ms());
            continue;
        }
        if (s == NULL)
            s = pick_slot(p, job);
        s->ahead = ahead ? s->ahead + 1 : 0;
        if (job->kind != JOB_RUN && !session_job_frame(s, job))
            continue;
        if (s->state == SLOT_RESETTING) {
            slot_queue_job(s, job, clock_ms());
            continue;
        }
        if (job->kind == JOB_RUN)
            s->resident[0] = '\0';
        /* `now` predates jobs submitted during this turn. */
        slot_start_job(s, job, clock_ms());
    }
}

static void publish_stats(struct pool *p) {
    int ready = 0, busy = 0;
    size_t n_pids = 0;
    for (int i = 0; i < p->n_pool; i++) {
        ready += p->slots[i].state == SLOT_IDLE;
        busy += p->slots[i].state == SLOT_BUSY || p->slots[i].state == SLOT_RESETTING;
    }
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->n_slots; i++)
        if (p->slots[i].state != SLOT_EMPTY && p->slots[i].proc.pid > 0)
            p->pids[n_pids++] = p->slots[i].proc.pid;
    p->n_pids = n_pids;
    p->ready = ready;
    p->busy = busy;
    pthread_mutex_unlock(&p->lock);
    if (!p->announced && ready + busy == p->n_pool) {
        p->announced = true;
        if (p->announce)
            p->announce(p->announce_arg);
    }
}

static int poll_timeout(struct pool *p, double now, bool stopping, double drain_deadline) {
    double next = now + MAX_SLEEP_MS;
    for (int i = 0; i < p->n_slots; i++) {
        const struct slot *s = &p->slots[i];
        switch (s->state) {
        case SLOT_EMPTY:
            if (!stopping && s->respawn_at < next)
                next = s->respawn_at;
            break;
        case SLOT_BUSY:
            next = rss_watch_next(&s->rss, p->cfg->worker_rss_mb, next);
            /* fall through */
        case SLOT_BOOTING:
        case SLOT_RESETTING:
            if (s->deadline < next)
                next = s->deadline;
            break;
        case SLOT_EXITING:
            if (now + REAP_POLL_MS < next)
                next = now + REAP_POLL_MS;
            break;
        case SLOT_IDLE:
            break;
        }
    }
    if (stopping && drain_deadline < next)
        next = drain_deadline;
    pthread_mutex_lock(&p->lock);
    if (p->queue.head && p->cfg->queue_timeout_ms > 0 &&
        p->queue.head->enqueued_at + p->cfg->queue_timeout_ms < next)
        next = p->queue.head->enqueued_at + p->cfg->queue_timeout_ms;
    if (!stopping && p->next_expiry < next)
        next = p->next_expiry;
    pthread_mutex_unlock(&p->lock);
    return next <= now ? 0 : (int)ceil(next - now);
}

enum fd_role { ROLE_WAKE, ROLE_OUT, ROLE_ERR, ROLE_IN, ROLE_CLIENTS };
/* Clients watched at most (runs queued or running); the rest are noticed
 * once their run is answered. */
#define WATCH_MAX 4096

void *pool_dispatch(void *arg) {
    struct pool *p = arg;
    size_t max_fds = (size_t)p->n_slots * 3 + 2;
    struct pollfd *fds = calloc(max_fds, sizeof *fds);
    struct {
        int slot;
        enum fd_role role;
    } *who = calloc(max_fds, sizeof *who);
    struct watch watch = {epoll_create1(EPOLL_CLOEXEC), calloc(WATCH_MAX, sizeof *watch.jobs),
                          calloc(WATCH_MAX, sizeof *watch.fds), 0, WATCH_MAX};

    pool_on_dispatcher_thread = true;
    /* Named as libmicrohttpd names its thread ("MHD-single"), for gdb, top
     * and a hung request's report (tests/support/scopebox_server.py). */
    pthread_setname_np(pthread_self(), "dispatcher");
    if (fds == NULL || who == NULL || watch.jobs == NULL || watch.fds == NULL) {
        log_at(LOG_WARNING, "dispatcher: out of memory");
        abort();
    }
    if (watch.ep < 0)
        log_at(LOG_WARNING,
               "dispatcher: epoll_create1: %s; clients that leave are noticed "
               "once their run is answered",
               strerror(errno));
    for (;;) {
        double drain_deadline, now = clock_ms();
        bool stopping = is_stopping(p, &drain_deadline), all_empty = true;
        int nfds = 0, timeout;

        dispatch_expire_queue(p, now, stopping);
        session_jobs_route(p, stopping);
        take_cancels(p, now);
        if (!stopping)
            session_jobs_expire(p, now);
        for (int i = 0; i < p->n_slots; i++)
            slot_tick(&p->slots[i], now, stopping, drain_deadline);
        if (!stopping)
            assign_jobs(p);
        publish_stats(p);

        fds[nfds] = (struct pollfd){.fd = p->wake_fd, .events = POLLIN};
        who[nfds].role = ROLE_WAKE;
        nfds++;
        for (int i = 0; i < p->n_slots; i++) {
            struct slot *s = &p->slots[i];
            if (s->state == SLOT_EMPTY)
                continue;
            all_empty = false;
            if (!s->out_eof) {
                fds[nfds] = (struct pollfd){.fd = s->proc.out_fd, .events = POLLIN};
                who[nfds].slot = i;
                who[nfds++].role = ROLE_OUT;
            }
            if (!s->err_eof) {
                fds[nfds] = (struct pollfd){.fd = s->proc.err_fd, .events = POLLIN};
                who[nfds].slot = i;
                who[nfds++].role = ROLE_ERR;
            }
            const struct job *writing = s->job != NULL ? s->job : s->next;
            if (writing != NULL && s->written < writing->frame_len && s->proc.in_fd >= 0) {
                fds[nfds] = (struct pollfd){.fd = s->proc.in_fd, .events = POLLOUT};
                who[nfds].slot = i;
                who[nfds++].role = ROLE_IN;
            }
        }
        if (stopping && all_empty)
            break;
        if (watch.ep >= 0) {
            watch_sweep(&watch, false);
            runs_each(p->runs, watch_client, &watch);
            fds[nfds] = (struct pollfd){.fd = watch.ep, .events = POLLIN};
            who[nfds++].role = ROLE_CLIENTS;
        }

        timeout = poll_timeout(p, now, stopping, drain_deadline);
        if (poll(fds, (nfds_t)nfds, timeout) < 0) {
            if (errno != EINTR)
                log_at(LOG_WARNING, "dispatcher: poll: %s", strerror(errno));
            continue;
        }
        now = clock_ms();
        for (int k = 0; k < nfds; k++) {
            struct slot *s = who[k].role == ROLE_CLIENTS || who[k].role == ROLE_WAKE
                                 ? NULL
                                 : &p->slots[who[k].slot];
            if (fds[k].revents == 0)
                continue;
            switch (who[k].role) {
            case ROLE_CLIENTS:
                watch_read(p, &watch);
                break;
            case ROLE_WAKE: {
                uint64_t v;
                (void)!read(p->wake_fd, &v, sizeof v);
                break;
            }
            case ROLE_OUT:
                if (s->state != SLOT_EMPTY)
                    slot_read_stdout(s, now);
                break;
            case ROLE_ERR:
                if (s->state != SLOT_EMPTY)
                    slot_read_stderr(s);
                break;
            case ROLE_IN:
                /* Frames to write exist only while busy or resetting with a
                 * next run; the slot may have been retired by an earlier
                 * event this turn. */
                if (s->state == SLOT_BUSY || s->state == SLOT_RESETTING)
                    slot_write_frame(s, now);
                break;
            }
        }
    }
    /* Belt and braces: nothing may be left waiting once the loop ends. */
    dispatch_expire_queue(p, clock_ms(), true);
    session_jobs_route(p, true);
    for (struct session_line *l = sessions_lines(p->sessions); l; l = l->next) {
        struct job *job;
        while ((job = queue_pop(&l->waiting)) != NULL)
            job_fail(job, API_SHUTTING_DOWN, "the server is shutting down");
    }
    take_cancels(p, clock_ms());
    watch_sweep(&watch, true);
    if (watch.ep >= 0)
        close(watch.ep);
    free(fds);
    free(who);
    free(watch.jobs);
    free(watch.fds);
    return NULL;
}
