/* One worker slot's state machine (dispatcher thread only): a worker is
 * spawned, boots, takes a job, answers it, resets, and is replaced when it
 * dies, breaks the protocol, passes a limit or asks to be. The states are
 * pool_private.h's enum slot_state; the messages are PROTOCOL.md's, checked
 * by wire.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "clock.h"
#include "imageframe.h"
#include "log.h"
#include "metrics.h"
#include "pool_private.h"
#include "wire.h"

/* A worker that closed its stdout, sent `fatal`, or was asked to finish gets
 * this long to exit on its own before SIGKILL. */
#define EXIT_GRACE_MS 1000.0
#define STOP_GRACE_MS 2000.0
/* Failed starts are retried after 0.25 s, 0.5 s, 1 s, ... up to 30 s, so a
 * broken runtime does not turn into a fork loop. */
#define BACKOFF_BASE_MS 250.0
#define BACKOFF_MAX_MS 30000.0
/* Each failed start in a row doubles the next worker's time to send ready,
 * up to this many times --boot-timeout-ms: a machine loaded enough that a
 * boot takes longer than the flag (seen at 3x its usual CPU time) killed
 * every worker at the same point of its boot, over and over, and runs
 * queued meanwhile waited out their whole queue timeout. */
#define BOOT_GROWTH_MAX 8u
/* A job whose worker died before reading it is retried, at most this often. */
#define MAX_ATTEMPTS 3
/* Reads per descriptor per loop turn: one chatty worker cannot starve the
 * others. */
#define READS_PER_TURN 16
#define READ_CHUNK 65536

void slot_init(struct slot *s, struct pool *p, int index) {
    s->pool = p;
    s->index = index;
    s->state = SLOT_EMPTY;
    s->proc.pid = 0;
    s->proc.in_fd = s->proc.out_fd = s->proc.err_fd = s->proc.ctl_fd = -1;
}

/* ---- life cycle --------------------------------------------------------------- */

static void flush_stderr_line(struct slot *s) {
    char clean[sizeof s->line + 1];
    if (s->line_len == 0)
        return;
    log_sanitize(clean, sizeof clean, s->line, s->line_len);
    log_msg("worker %d: %s", (int)s->proc.pid, clean);
    s->line_len = 0;
}

void slot_read_stderr(struct slot *s) {
    char buf[8192];
    for (int turn = 0; turn < READS_PER_TURN && !s->err_eof; turn++) {
        ssize_t n = read(s->proc.err_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            s->err_eof = true;
            flush_stderr_line(s);
            return;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                flush_stderr_line(s);
            } else {
                if (s->line_len == sizeof s->line)
                    flush_stderr_line(s); /* an endless line: log it in pieces */
                s->line[s->line_len++] = buf[i];
            }
        }
    }
}

static unsigned boot_timeout_ms(const struct config *cfg, unsigned failures) {
    unsigned long long ms = cfg->boot_timeout_ms, most = ms * BOOT_GROWTH_MAX;
    for (unsigned i = 0; i < failures && ms < most; i++)
        ms *= 2;
    return (unsigned)(ms < most ? ms : most); /* at most 3600000 * 8 (openapi.yaml) */
}

static double backoff_ms(unsigned failures) {
    double d = BACKOFF_BASE_MS;
    for (unsigned i = 1; i < failures && d < BACKOFF_MAX_MS; i++)
        d *= 2;
    return d < BACKOFF_MAX_MS ? d : BACKOFF_MAX_MS;
}

/* A run starts only once the worker has read its whole frame; bytes still
 * in the pipe (FIONREAD works on the write end too) were never read. This
 * is what makes a worker killed while idle harmless: the job that was
 * handed to it in the meantime is provably untouched and can go elsewhere. */
static bool job_untouched(const struct slot *s, const struct job *job) {
    int unread = 0;
    if (s->written < job->frame_len)
        return true;
    return s->proc.in_fd >= 0 && ioctl(s->proc.in_fd, FIONREAD, &unread) == 0 && unread > 0;
}

static void requeue_front(struct pool *p, struct job *job) {
    pthread_mutex_lock(&p->lock);
    queue_push_front(&p->queue, job);
    pthread_mutex_unlock(&p->lock);
}

static void start_next(struct slot *s, double now);

/* Ends a worker: fails its job, if any, with `err` (or, if the worker died
 * or misbehaved before reading it, puts it back at the head of the queue),
 * and either kills the worker now or asks it to finish by closing its
 * stdin. It stays in the slot until reaped, so its pid and stderr remain
 * accounted for. */
static void retire(struct slot *s, double now, bool kill_now, const struct api_error *err) {
    if (s->next) {
        /* Written behind an answer, read only after the `idle` that was not
         * read: it never started (unless the worker broke the protocol and
         * read it early, which its empty pipe shows). */
        struct job *job = s->next;
        s->next = NULL;
        job->worker_pid = 0;
        if (job_untouched(s, job)) {
            log_msg("worker %d: gone before starting run %llu; it goes back to the queue",
                    (int)s->proc.pid, (unsigned long long)job->id);
            requeue_front(s->pool, job);
        } else {
            struct api_error lost;
            api_error_of(&lost, API_WORKER_CRASHED, "the worker failed and was replaced");
            job->worker_lost = true;
            job_complete(job, NULL, err != NULL ? err : &lost);
        }
    }
    if (s->job) {
        struct job *job = s->job;
        bool lost =
            err != NULL && (err->id == API_WORKER_CRASHED || err->id == API_WORKER_PROTOCOL);
        /* Never for timeouts or shutdown: those are about the client's time. */
        bool retry = lost && job->attempts < MAX_ATTEMPTS && job_untouched(s, job);
        s->job = NULL;
        s->resident[0] = '\0';
        s->awaiting_image = false;
        if (retry) {
            log_msg("worker %d: gone before reading run %llu; it goes back to the queue",
                    (int)s->proc.pid, (unsigned long long)job->id);
            job->worker_pid = 0;
            requeue_front(s->pool, job);
        } else {
            job->run_ms = now - job->started_at;
            /* Timeouts get here only when the worker had to be killed. */
            job->worker_lost = lost || (err != NULL && err->id == API_TIMEOUT);
            job_complete(job, NULL, err);
        }
    }
    if (kill_now) {
        worker_kill(&s->proc);
        s->killed = true;
        s->deadline = now + KILL_WARN_MS; /* only to warn if it will not go */
    } else {
        s->deadline = now + EXIT_GRACE_MS;
    }
    worker_close_stdin(&s->proc);
    s->state = SLOT_EXITING;
}

static void retire_with(struct slot *s, double now, bool kill_now, enum api_code code,
                        const char *msg) {
    struct api_error err;
    api_error_of(&err, code, "%s", msg);
    retire(s, now, kill_now, &err);
}

static void protocol_error(struct slot *s, double now, const char *why) {
    log_at(LOG_WARNING, "worker %d: protocol error: %s; killing it", (int)s->proc.pid, why);
    s->exit_why = EXIT_PROTOCOL;
    retire_with(s, now, true, API_WORKER_PROTOCOL,
                "the worker broke the protocol and was replaced");
}

/* Called once waitpid has the worker: closes what is left and schedules the
 * slot's next worker. */
static void finish_exit(struct pool *p, struct slot *s, int status, double now) {
    char how[96];
    bool stopping;

    if (!s->err_eof)
        slot_read_stderr(s); /* its last words, often the reason it died */
    flush_stderr_line(s);
    worker_close_fds(&s->proc);
    frame_decoder_free(&s->dec);
    log_msg("worker %d %s", (int)s->proc.pid, worker_describe_status(status, how, sizeof how));
    metrics_worker_exited(!s->booted && s->exit_why == EXIT_CRASH ? EXIT_BOOT : s->exit_why);

    pthread_mutex_lock(&p->lock);
    stopping = p->stopping;
    pthread_mutex_unlock(&p->lock);

    s->state = SLOT_EMPTY;
    s->proc.pid = 0;
    s->resident[0] = '\0';
    if (s->booted) {
        s->failures = 0;
        s->respawn_at = now;
    } else {
        s->failures++;
        s->respawn_at = now + backoff_ms(s->failures);
        if (!stopping)
            log_at(LOG_WARNING,
                   "worker slot %d: failed to start %u time(s) in a row; retrying in %.2f s",
                   s->index, s->failures, backoff_ms(s->failures) / 1000.0);
    }
    s->booted = false;
}

static void spawn(struct pool *p, struct slot *s, double now) {
    memset(&s->proc, 0, sizeof s->proc);
    s->proc.in_fd = s->proc.out_fd = s->proc.err_fd = s->proc.ctl_fd = -1;
    if (!worker_spawn(p->argv, &s->proc)) {
        s->failures++;
        s->respawn_at = now + backoff_ms(s->failures);
        log_at(LOG_WARNING, "worker slot %d: cannot start %s: %s; retrying in %.2f s", s->index,
               p->argv[0], strerror(errno), backoff_ms(s->failures) / 1000.0);
        return;
    }
    frame_decoder_init(&s->dec);
    metrics_worker_started();
    s->exit_why = EXIT_CRASH; /* until a reason to end it is known */
    s->state = SLOT_BOOTING;
    s->spawned_at = now;
    s->boot_ms = boot_timeout_ms(p->cfg, s->failures);
    s->deadline = now + s->boot_ms;
    s->job = s->next = NULL;
    s->written = 0;
    s->pipelines = false;
    s->booted = s->killed = s->out_eof = s->err_eof = s->reap_warned = false;
    s->recycle = false;
    s->resident[0] = '\0';
    s->awaiting_image = false;
    s->runs = 0;
    s->line_len = 0;
    log_msg("worker slot %d: started pid %d", s->index, (int)s->proc.pid);
}

/* A pool worker is replaced after so many runs or past an RSS ceiling: the
 * wasm heap never shrinks, and a long-lived process only accumulates.
 * Checked after each run, acted on while idle (slot_tick). The RSS is read
 * after a run at most every RSS_WATCH_INTERVAL_MS (the first run's always):
 * at a thousand runs a second, reading /proc after each was a tenth of the
 * dispatcher's time, and a worker that passes the ceiling runs at most that
 * long more before it goes. */
static void check_recycle(struct slot *s, double now) {
    const struct config *cfg = s->pool->cfg;
    long long rss;
    if (s->recycle)
        return;
    if (cfg->recycle_after_runs > 0 && s->runs >= cfg->recycle_after_runs) {
        log_msg("worker %d: recycled after %u runs", (int)s->proc.pid, s->runs);
        s->recycle = true;
        return;
    }
    if (cfg->recycle_rss_mb == 0 || (s->runs > 1 && now - s->rss_read_at < RSS_WATCH_INTERVAL_MS))
        return;
    s->rss_read_at = now;
    rss = worker_rss_bytes(s->proc.pid) >> 20;
    if (rss > (long long)cfg->recycle_rss_mb) {
        log_msg("worker %d: recycled at %lld MiB resident (ceiling %u)", (int)s->proc.pid, rss,
                cfg->recycle_rss_mb);
        s->recycle = true;
    }
}

/* The job in flight is answered: the slot lets go of it and resets. */
static struct job *take_job(struct slot *s, double now) {
    struct job *job = s->job;
    assert(s->state == SLOT_BUSY && job != NULL);
    s->job = NULL;
    s->state = SLOT_RESETTING;
    s->pipelines = job->kind == JOB_RUN;
    s->deadline = now + s->pool->cfg->timeout_grace_ms;
    job->run_ms = now - job->started_at;
    s->awaiting_image = false;
    s->runs++;
    check_recycle(s, now);
    return job;
}

/* ---- what the worker says (PROTOCOL.md, "Messages") ---------------------------
 * Each handler steals `msg` (the parsed frame): it frees or keeps it on every
 * path. `payload` is the frame's bytes, taken (set to NULL) by a handler that
 * keeps them. The checks themselves are wire.c's; on_message has checked
 * that an answer names the job in flight before any busy handler runs. */

static void on_ready(struct slot *s, json_t *msg, double now) {
    char py[32], pyo[32], dyn[32], boot[32];
    sessions_set_fingerprint(s->pool->sessions,
                             json_string_value(json_object_get(msg, "fingerprint")));
    s->state = SLOT_IDLE;
    s->idle_since = now;
    s->booted = true;
    s->failures = 0;
    log_msg("worker %d ready after %.0f ms (boot_ms %s, %s; python %s, pyodide %s, dynscope %s)",
            (int)s->proc.pid, now - s->spawned_at, wire_member(msg, "boot_ms", boot, sizeof boot),
            json_is_true(json_object_get(msg, "snapshot")) ? "from snapshot" : "cold",
            wire_member(msg, "python", py, sizeof py), wire_member(msg, "pyodide", pyo, sizeof pyo),
            wire_member(msg, "dynscope", dyn, sizeof dyn));
    json_decref(msg);
}

/* A message the worker must not send: `msg` is dropped, the worker replaced. */
static void refuse_steal(struct slot *s, json_t *msg, double now, const char *why) {
    json_decref(msg);
    protocol_error(s, now, why);
}

static void on_result(struct slot *s, json_t *msg, uint8_t **payload, size_t len, double now) {
    struct job *job = s->job;
    bool inspect = job->kind == JOB_SESSION_CREATE || job->kind == JOB_SESSION_GET;
    char why[160];

    if (!(inspect ? wire_check_inspect(msg, why, sizeof why)
                  : wire_check_result(msg, why, sizeof why))) {
        refuse_steal(s, msg, now, why);
        return;
    }
    /* Kept as the worker wrote it (its floats as Python printed them). */
    job->raw = (char *)*payload;
    job->raw_len = len;
    *payload = NULL;
    if (job->capture) {
        /* Answered only once its image is stored (on_image). */
        job->pending = msg;
        s->awaiting_image = true;
        s->deadline += CAPTURE_GRACE_MS;
        return;
    }
    job = take_job(s, now);
    if (inspect) {
        /* A GET, or a creation from an export: the worker holds the
         * session's state as it was (inspect changes nothing). */
        snprintf(s->resident, sizeof s->resident, "%s", job->session);
        s->resident_version = job->base_version;
        session_job_inspected(s->pool, job, msg);
        json_decref(msg);
        return;
    }
    job->status = 200;
    job->timed = true;
    job_complete(job, wire_answer_steal(msg), NULL);
}

/* The image after a session's run or creation: the run's last frame. A
 * session's state stays as it is, nothing is reset, so the worker is idle
 * now (PROTOCOL.md, `capture`); it holds the session's state only if the
 * image was stored. */
static void image_taken(struct slot *s, json_t *msg, uint8_t *raw, size_t raw_len, double now) {
    struct job *job = take_job(s, now);
    s->state = SLOT_IDLE;
    s->idle_since = now;
    session_job_captured(s, job, msg, raw, raw_len); /* ends the job: not to be touched after */
    json_decref(msg);
}

static void on_image(struct slot *s, json_t *msg, uint8_t **payload, size_t len, double now) {
    const json_t *text = json_object_get(msg, "image");
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    (void)payload, (void)len;

    if (json_is_string(text))
        raw = base64_decode(json_string_value(text), json_string_length(text), &raw_len);
    image_taken(s, msg, raw, raw_len, now);
}

/* on_image for the frame as the worker writes it, its image split off
 * (imageframe.h) and decoded straight from the payload. False: not
 * certainly such a frame (or not base64); on_message then parses it as any
 * other. */
static bool on_raw_image(struct slot *s, uint8_t **payload, size_t len, double now) {
    const char *text, *type;
    size_t text_len, raw_len;
    uint8_t *raw;
    char why[160];
    json_t *msg = image_frame_split(*payload, len, &text, &text_len);

    if (msg == NULL)
        return false;
    type = json_string_value(json_object_get(msg, "type"));
    if (strcmp(type, "image") != 0 || !wire_answers(msg, s->job->id, why, sizeof why) ||
        (raw = base64_decode(text, text_len, &raw_len)) == NULL) {
        json_decref(msg);
        return false;
    }
    image_taken(s, msg, raw, raw_len, now);
    return true;
}

/* Python found the request invalid (a name, a tagged value): the client's
 * 400, and the worker is fine. Only codes the API documents pass through. */
static void on_rejected(struct slot *s, json_t *msg, uint8_t **payload, size_t len, double now) {
    char text[sizeof((struct api_error *)0)->message];
    enum api_code code;
    struct job *job;
    (void)payload, (void)len;

    if (!wire_rejected(msg, &code, text, sizeof text)) {
        refuse_steal(s, msg, now, "rejected without a known error code and message");
        return;
    }
    json_decref(msg);
    job = take_job(s, now);
    /* The worker's state counts as unknown: it is reset before its next use. */
    s->resident[0] = '\0';
    /* About a session's image: a conflict with the session, not a bad request. */
    if (code == API_SESSION_INCOMPATIBLE || code == API_INVALID_IMAGE)
        job_fail_status(job, 409, code, "session '%s': %s", job->session, text);
    else
        job_fail(job, code, "%s", text);
}

/* The worker's own watchdog interrupted the run at its limit; the worker
 * survived and stays. The client gets the run as far as it got. */
static void on_timeout(struct slot *s, json_t *msg, uint8_t **payload, size_t len, double now) {
    struct job *job;
    char text[128];
    (void)payload, (void)len;

    job = take_job(s, now);
    /* A session's state after an interrupted run is not kept: the session
     * goes on from its image before that run. */
    s->resident[0] = '\0';
    snprintf(text, sizeof text, "the run passed its time limit of %u ms and was interrupted",
             job->timeout_ms);
    job->status = api_codes[API_TIMEOUT].status;
    job->timed = true;
    job_complete(job, wire_stopped_steal(msg, API_TIMEOUT, "interrupt", text), NULL);
}

/* A streamed run's output as it was written (PROTOCOL.md, `output`). */
static void on_output(struct slot *s, json_t *msg, uint8_t **payload, size_t len, double now) {
    const char *stream, *text;
    size_t text_len;
    (void)payload, (void)len;

    if (!s->job->stream || !wire_output(msg, &stream, &text, &text_len)) {
        refuse_steal(s, msg, now,
                     "output frame of a run that does not stream, or without "
                     "stream and text");
        return;
    }
    if (s->job->on_output != NULL)
        s->job->on_output(s->job->output_arg, stream, text, text_len);
    json_decref(msg);
}

/* The worker interrupted the run because its client cancelled it (a
 * `cancel` frame): like a timeout, the client gets the run as far as it got,
 * and a session keeps its image from before the run. */
static void on_cancelled(struct slot *s, json_t *msg, uint8_t **payload, size_t len, double now) {
    struct job *job;
    (void)payload, (void)len;

    job = take_job(s, now);
    s->resident[0] = '\0';
    job->status = api_codes[API_CANCELLED].status;
    job->timed = true;
    job_complete(job,
                 wire_stopped_steal(msg, API_CANCELLED, "interrupt",
                                    "the run was cancelled and interrupted"),
                 NULL);
}

struct frame_handler {
    const char *type;
    void (*steal)(struct slot *s, json_t *msg, uint8_t **payload, size_t len, double now);
};

/* What a busy worker may say about its run ... */
static const struct frame_handler busy_frames[] = {
    {"result", on_result},       {"rejected", on_rejected}, {"timeout", on_timeout},
    {"cancelled", on_cancelled}, {"output", on_output},
};
/* ... and once its answer is in, while the session's image is awaited. */
static const struct frame_handler capture_frames[] = {
    {"image", on_image},
};

static const struct frame_handler *find_handler(const struct frame_handler *table, size_t n,
                                                const char *type) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i].type, type) == 0)
            return &table[i];
    return NULL;
}

/* A stateless run's answer for a submitter that reads only its bytes
 * (job->raw_answer): checked on the bytes (wire_raw_result) and passed on
 * as on_result would, never built into a tree, which for a large scope
 * cost the host more than all the rest it does with the answer. False: not
 * certainly such a frame; on_message then parses it as any other. */
static bool on_raw_result(struct slot *s, uint8_t **payload, size_t len, double now) {
    struct job *job = s->job;
    json_t *result;
    bool ok;

    if (job->kind != JOB_RUN || !job->raw_answer ||
        !wire_raw_result((const char *)*payload, len, job->id, &ok) ||
        (result = json_pack("{s:b}", "ok", ok)) == NULL)
        return false;
    job->raw = (char *)*payload;
    job->raw_len = len;
    *payload = NULL;
    job = take_job(s, now);
    job->status = 200;
    job->timed = true;
    job_complete(job, result, NULL);
    return true;
}

static void on_message(struct slot *s, uint8_t **payload, size_t len, double now) {
    char why[192];
    const char *type;
    json_t *msg;

    ASSERT_DISPATCHER(s->pool);
    if (s->state == SLOT_BUSY && !s->awaiting_image && on_raw_result(s, payload, len, now))
        return;
    if (s->state == SLOT_BUSY && s->awaiting_image && on_raw_image(s, payload, len, now))
        return;
    msg = frame_parse_message(*payload, len, &type, why, sizeof why);
    if (msg == NULL) {
        protocol_error(s, now, why);
        return;
    }
    if (strcmp(type, "fatal") == 0) {
        char text[512];
        log_at(LOG_WARNING, "worker %d: fatal: %s", (int)s->proc.pid,
               wire_member(msg, "message", text, sizeof text));
        json_decref(msg);
        retire_with(s, now, false, API_WORKER_CRASHED, "the worker failed and was replaced");
        return;
    }
    if (s->state == SLOT_BOOTING && strcmp(type, "ready") == 0) {
        on_ready(s, msg, now);
        return;
    }
    if (s->state == SLOT_BUSY) {
        const struct frame_handler *h =
            s->awaiting_image
                ? find_handler(capture_frames, sizeof capture_frames / sizeof capture_frames[0],
                               type)
                : find_handler(busy_frames, sizeof busy_frames / sizeof busy_frames[0], type);
        if (h != NULL && !wire_answers(msg, s->job->id, why, sizeof why)) {
            refuse_steal(s, msg, now, why);
            return;
        }
        if (h != NULL) {
            h->steal(s, msg, payload, len, now);
            return;
        }
    }
    if (s->state == SLOT_RESETTING && strcmp(type, "idle") == 0) {
        json_decref(msg);
        s->state = SLOT_IDLE;
        s->idle_since = now;
        if (s->next != NULL)
            start_next(s, now);
        return;
    }
    if (s->state != SLOT_BOOTING && strcmp(type, "recycle") == 0) {
        /* sandbox: its state can no longer be reset cheaply; replace it
         * once it is idle (slot_tick). */
        char text[256];
        log_msg("worker %d asks to be replaced: %s", (int)s->proc.pid,
                wire_member(msg, "reason", text, sizeof text));
        json_decref(msg);
        s->recycle = true;
        return;
    }
    snprintf(why, sizeof why, "unexpected \"%.32s\" message while %s", type,
             s->state == SLOT_BOOTING     ? "booting"
             : s->state == SLOT_IDLE      ? "idle"
             : s->state == SLOT_RESETTING ? "resetting"
                                          : "running");
    refuse_steal(s, msg, now, why);
}

static void on_stdout_eof(struct slot *s, double now) {
    bool mid_frame = !frame_decoder_at_boundary(&s->dec);
    s->out_eof = true;
    if (s->state == SLOT_EXITING)
        return;
    if (mid_frame) {
        protocol_error(s, now, "end of file inside a frame");
        return;
    }
    log_msg("worker %d closed its stdout%s", (int)s->proc.pid,
            s->state == SLOT_BOOTING ? " before sending ready" : "");
    retire_with(s, now, false, API_WORKER_CRASHED,
                "the worker exited during the run and was replaced");
}

void slot_read_stdout(struct slot *s, double now) {
    static uint8_t buf[READ_CHUNK]; /* dispatcher thread only */
    for (int turn = 0; turn < READS_PER_TURN && !s->out_eof; turn++) {
        ssize_t n = read(s->proc.out_fd, buf, sizeof buf);
        size_t off = 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            on_stdout_eof(s, now);
            return;
        }
        /* Once retired, anything it still says is drained and ignored. */
        while (off < (size_t)n && s->state != SLOT_EXITING) {
            size_t used;
            enum frame_status st = frame_decoder_feed(&s->dec, buf + off, (size_t)n - off, &used);
            off += used;
            if (st == FRAME_ERROR) {
                protocol_error(s, now, s->dec.error);
            } else if (st == FRAME_COMPLETE) {
                size_t len;
                uint8_t *payload = frame_decoder_take(&s->dec, &len);
                on_message(s, &payload, len, now); /* NULL after, if a job took it */
                free(payload);
            }
        }
    }
}

void slot_write_frame(struct slot *s, double now) {
    struct job *job = s->job != NULL ? s->job : s->next;
    while (job && s->written < job->frame_len) {
        ssize_t n = write(s->proc.in_fd, job->frame + s->written, job->frame_len - s->written);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0) {
            log_at(LOG_WARNING, "worker %d: cannot write to its stdin: %s; killing it",
                   (int)s->proc.pid, strerror(errno));
            retire_with(s, now, true, API_WORKER_CRASHED,
                        "the worker stopped reading and was replaced");
            return;
        }
        s->written += (size_t)n;
    }
}

/* The job starts on an idle worker: from here its time limit counts. The
 * worker interrupts a run at its limit itself; the host kills it only if
 * that did not work within the grace period. */
static void begin(struct slot *s, struct job *job, double now) {
    s->job = job;
    s->state = SLOT_BUSY;
    s->deadline = now + job->timeout_ms + s->pool->cfg->timeout_grace_ms;
    /* Cancelled while it waited for the `idle`: the worker answers it at
     * once, and has the grace period to do so. */
    if (job->cancel_sent && now + s->pool->cfg->timeout_grace_ms < s->deadline)
        s->deadline = now + s->pool->cfg->timeout_grace_ms;
    job->attempts++;
    job->started_at = now;
    job->queue_ms = now - job->enqueued_at;
    job->worker_pid = s->proc.pid;
    rss_watch_arm(&s->rss, now);
}

void slot_start_job(struct slot *s, struct job *job, double now) {
    ASSERT_DISPATCHER(s->pool);
    assert(s->state == SLOT_IDLE && s->job == NULL && s->next == NULL);
    s->written = 0;
    begin(s, job, now);
    slot_write_frame(s, now);
}

/* Only a stateless run goes behind a stateless run's answer: a session's
 * job needs to know what the worker holds, which only its `idle` settles,
 * and a worker to be replaced takes nothing more. */
bool slot_takes_next(const struct slot *s) {
    return s->state == SLOT_RESETTING && s->pipelines && s->next == NULL && !s->recycle &&
           s->resident[0] == '\0';
}

void slot_queue_job(struct slot *s, struct job *job, double now) {
    ASSERT_DISPATCHER(s->pool);
    assert(slot_takes_next(s) && job->kind == JOB_RUN);
    s->next = job;
    s->written = 0;
    slot_write_frame(s, now);
}

/* The worker said `idle`: it is reset, and reads the frame waiting for it.
 * A `recycle` that came with the `idle` waits for the end of this run. */
static void start_next(struct slot *s, double now) {
    struct job *job = s->next;
    s->next = NULL;
    begin(s, job, now);
}

/* The worker's controlling thread reads these from its fd 3 while the
 * interpreter thread runs the snippet (PROTOCOL.md, `cancel`). The frame
 * names the run, so one that arrives after its run ended touches nothing. */
void slot_send_cancel(struct slot *s, struct job *job, double now) {
    uint8_t frame[4 + WIRE_CANCEL_FRAME_MAX];
    size_t n = wire_cancel_frame(job->id, frame, sizeof frame);
    double kill_at = now + s->pool->cfg->timeout_grace_ms;

    /* A few bytes into an empty pipe: a short write or EAGAIN means the
     * worker stopped reading, and the deadline below deals with it. */
    if (s->proc.ctl_fd < 0 || write(s->proc.ctl_fd, frame, n) != (ssize_t)n)
        log_at(LOG_WARNING,
               "worker %d: cannot send it the cancel of run %llu; it is killed at the deadline",
               (int)s->proc.pid, (unsigned long long)job->id);
    job->cancel_sent = true;
    log_msg("worker %d: run %llu (%s) cancelled%s", (int)s->proc.pid, (unsigned long long)job->id,
            job->run_id, job->client_gone ? ": its client went away" : "");
    /* As at a timeout: interrupted now, killed if still going a grace period
     * on. A run not started yet (`next`) gets that from its start (begin). */
    if (job == s->job && kill_at < s->deadline)
        s->deadline = kill_at;
}

void slot_tick(struct slot *s, double now, bool stopping, double drain_deadline) {
    struct pool *p = s->pool;
    int status;

    ASSERT_DISPATCHER(p);
    /* A slot has a job exactly while it is busy, a next one only while
     * resetting (struct slot). */
    assert((s->state == SLOT_BUSY) == (s->job != NULL));
    assert(s->next == NULL || s->state == SLOT_RESETTING);
    switch (s->state) {
    case SLOT_EMPTY:
        if (!stopping && now >= s->respawn_at)
            spawn(p, s, now);
        break;
    case SLOT_BOOTING:
        if (stopping) {
            s->exit_why = EXIT_SHUTDOWN;
            retire(s, now, true, NULL);
        } else if (now >= s->deadline) {
            log_at(LOG_WARNING, "worker %d sent no ready within %u ms; killing it",
                   (int)s->proc.pid, s->boot_ms);
            retire(s, now, true, NULL);
        }
        break;
    case SLOT_IDLE:
        if (stopping) {
            s->exit_why = EXIT_SHUTDOWN;
            retire(s, now, false, NULL);
            s->deadline = now + STOP_GRACE_MS;
        } else if (s->recycle) { /* sandbox */
            s->exit_why = EXIT_RECYCLED;
            retire(s, now, false, NULL);
        }
        break;
    case SLOT_BUSY: {
        long long rss_mb = 0;
        if (rss_watch_tripped(&s->rss, s->proc.pid, p->cfg->worker_rss_mb, now, &rss_mb)) {
            struct api_error err;
            log_at(LOG_WARNING,
                   "worker %d: run %llu took it to %lld MiB resident (ceiling %u); killing it",
                   (int)s->proc.pid, (unsigned long long)s->job->id, rss_mb, p->cfg->worker_rss_mb);
            api_error_of(&err, API_WORKER_CRASHED,
                         "the run took its worker past %u MiB of resident memory: the worker "
                         "was killed",
                         p->cfg->worker_rss_mb);
            s->exit_why = EXIT_CRASH;
            retire(s, now, true, &err);
        } else if (now >= s->deadline) {
            struct job *job = s->job;
            char text[160];
            if (job->cancel_sent)
                log_at(LOG_WARNING,
                       "worker %d: run %llu (%s) cancelled and not stopped within the grace "
                       "period; killing it",
                       (int)s->proc.pid, (unsigned long long)job->id, job->run_id);
            else
                log_at(LOG_WARNING,
                       "worker %d: run %llu passed %u ms and the grace period; killing it",
                       (int)s->proc.pid, (unsigned long long)job->id, job->timeout_ms);
            /* What the run printed and made died with the worker. */
            s->job = NULL;
            job->run_ms = now - job->started_at;
            job->timed = true;
            job->worker_lost = true; /* a reboot, like a crash: the crash limiter's */
            if (job->cancel_sent) {
                job->status = api_codes[API_CANCELLED].status;
                job_complete(job,
                             wire_stopped_steal(NULL, API_CANCELLED, "kill",
                                                "the run was cancelled and did not stop "
                                                "when interrupted: its worker was killed"),
                             NULL);
            } else {
                snprintf(text, sizeof text,
                         "the run passed its time limit of %u ms and did not stop when "
                         "interrupted: its worker was killed",
                         job->timeout_ms);
                job->status = api_codes[API_TIMEOUT].status;
                job_complete(job, wire_stopped_steal(NULL, API_TIMEOUT, "kill", text), NULL);
            }
            s->resident[0] = '\0'; /* the session goes on from its image before this run */
            s->exit_why = EXIT_TIMEOUT;
            retire(s, now, true, NULL);
        } else if (stopping && now >= drain_deadline) {
            log_at(LOG_WARNING, "worker %d: run %llu still going at shutdown; killing it",
                   (int)s->proc.pid, (unsigned long long)s->job->id);
            s->exit_why = EXIT_SHUTDOWN;
            retire_with(s, now, true, API_SHUTTING_DOWN,
                        "the server shut down before the run finished");
        }
        break;
    }
    case SLOT_RESETTING:
        /* The reset is the worker's own code, no snippet's: this is a
         * backstop for a worker that hangs in it. */
        if (now >= s->deadline) {
            log_at(LOG_WARNING, "worker %d: no idle within %u ms of its answer; killing it",
                   (int)s->proc.pid, p->cfg->timeout_grace_ms);
            s->resident[0] = '\0';
            s->exit_why = EXIT_TIMEOUT;
            retire(s, now, true, NULL);
        }
        break;
    case SLOT_EXITING:
        if (worker_reap(&s->proc, &status)) {
            finish_exit(p, s, status, now);
        } else if (!s->killed && now >= s->deadline) {
            worker_kill(&s->proc);
            s->killed = true;
            s->deadline = now + KILL_WARN_MS;
        } else if (s->killed && now >= s->deadline && !s->reap_warned) {
            log_at(LOG_WARNING, "worker %d: still not gone %.0f s after SIGKILL", (int)s->proc.pid,
                   KILL_WARN_MS / 1000.0);
            s->reap_warned = true;
        }
        break;
    }
}
