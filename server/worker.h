/* One worker process: spawning it with its three pipes, and ending it.
 * The protocol spoken over the pipes is slot.c's and wire.c's business. */
#ifndef SCOPEBOX_WORKER_H
#define SCOPEBOX_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct worker_proc {
    pid_t pid;
    int in_fd;  /* its stdin: we write run frames (non-blocking) */
    int out_fd; /* its stdout: we read frames (non-blocking) */
    int err_fd; /* its stderr: we read log lines (non-blocking) */
    int ctl_fd; /* its fd 3: we write `cancel` frames (non-blocking), which its
                 * controlling thread reads while the interpreter runs */
};

/* argv[0] must be an absolute path (no PATH search after fork). Returns
 * false with errno set if the process could not be created; a failing exec
 * shows up later as an early exit with status 127. */
bool worker_spawn(char *const argv[], struct worker_proc *out);

/* SIGKILL; harmless if it already exited but was not reaped yet. */
void worker_kill(const struct worker_proc *w);

/* Closes our end of its stdin: the protocol's way to ask it to finish. */
void worker_close_stdin(struct worker_proc *w);

/* Non-blocking reap. Returns true once the process is gone, with its wait
 * status in *status. */
bool worker_reap(const struct worker_proc *w, int *status);

/* Closes every pipe end still open (stdin and the control pipe too). */
void worker_close_fds(struct worker_proc *w);

/* "exited with status 0", "killed by signal 9" */
const char *worker_describe_status(int status, char *buf, size_t len);

/* Resident memory of a process in bytes, from /proc; -1 once it is gone. */
long long worker_rss_bytes(pid_t pid);

#endif
