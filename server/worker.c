#define _GNU_SOURCE
#include "worker.h"
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The frame pipes' size: a session's image (a frame of ~100 KiB, base64)
 * goes in whole, so the worker's write, which sleeps 1 ms whenever the pipe
 * is full (frames.mjs), does not wait for the dispatcher to read it, nor the
 * dispatcher's write of an image to resume for the worker. Only a best
 * effort: the kernel's default (64 KiB) works too. */
#define PIPE_BYTES (256 * 1024)

static void close_pair(int p[2]) {
    if (p[0] >= 0)
        close(p[0]);
    if (p[1] >= 0)
        close(p[1]);
}

static void child_fail(const char *what) {
    /* Only async-signal-safe calls between fork and exec: we are a copy of a
     * multithreaded process whose other threads may hold locks. */
    static const char prefix[] = "scopebox worker: cannot ";
    (void)!write(STDERR_FILENO, prefix, sizeof prefix - 1);
    (void)!write(STDERR_FILENO, what, strlen(what));
    (void)!write(STDERR_FILENO, "\n", 1);
    _exit(127);
}

bool worker_spawn(char *const argv[], struct worker_proc *out) {
    int in[2] = {-1, -1}, outp[2] = {-1, -1}, err[2] = {-1, -1}, ctl[2] = {-1, -1};
    pid_t parent = getpid();
    sigset_t all;
    pid_t pid;
    int saved;

    /* O_CLOEXEC on every end: another worker spawned later must not inherit
     * this one's pipes, or this one's EOF would never come. */
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(outp, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 ||
        pipe2(ctl, O_CLOEXEC) != 0)
        goto fail;
    (void)fcntl(in[1], F_SETPIPE_SZ, PIPE_BYTES);
    (void)fcntl(outp[1], F_SETPIPE_SZ, PIPE_BYTES);

    pid = sandbox_fork(); /* fork(), into new namespaces when sandboxed */
    if (pid < 0)
        goto fail;
    if (pid == 0) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        /* The server blocks SIGINT/SIGTERM and ignores SIGPIPE; node must
         * start with neither, both survive exec. */
        sigaction(SIGPIPE, &dfl, NULL);
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        /* A worker running an endless loop never reads the EOF on its stdin;
         * if the server dies without reaping it, the kernel kills it. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
            child_fail("set PDEATHSIG");
        /* (In a new PID namespace the parent is outside it: getppid() is 0.) */
        if (getppid() != parent && !(sandbox_argv() != NULL && getppid() == 0))
            _exit(127);
        /* Own process group: a Ctrl-C at the terminal goes to the server,
         * which then shuts workers down in order, not to the workers. */
        setpgid(0, 0);
        if (dup2(in[0], STDIN_FILENO) < 0 || dup2(outp[1], STDOUT_FILENO) < 0 ||
            dup2(err[1], STDERR_FILENO) < 0 || dup2(ctl[0], 3) < 0)
            child_fail("set up stdio");
        /* dup2 onto itself keeps O_CLOEXEC, which exec would act on. */
        if (ctl[0] == 3 && fcntl(3, F_SETFD, 0) != 0)
            child_fail("set up the control pipe");
        /* Anything else the server had open (sockets, MHD's epoll) stays
         * out of reach of the sandbox even if it lacked O_CLOEXEC. */
        close_range(4, ~0U, 0);
        /* The sandbox (sandbox.h) execs its own argv: node's flags + ours. */
        if (sandbox_argv() != NULL)
            child_fail(sandbox_exec());
        execve(argv[0], argv, environ);
        child_fail("exec the worker (check --node)");
    }

    close(in[0]);
    close(outp[1]);
    close(err[1]);
    close(ctl[0]);
    out->pid = pid;
    out->in_fd = in[1];
    out->out_fd = outp[0];
    out->err_fd = err[0];
    out->ctl_fd = ctl[1];
    fcntl(out->ctl_fd, F_SETFL, O_NONBLOCK);
    fcntl(out->in_fd, F_SETFL, O_NONBLOCK);
    fcntl(out->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(out->err_fd, F_SETFL, O_NONBLOCK);
    return true;

fail:
    saved = errno;
    close_pair(in);
    close_pair(outp);
    close_pair(err);
    close_pair(ctl);
    errno = saved;
    return false;
}

void worker_kill(const struct worker_proc *w) {
    if (w->pid > 0)
        kill(w->pid, SIGKILL);
}

void worker_close_stdin(struct worker_proc *w) {
    if (w->in_fd >= 0) {
        close(w->in_fd);
        w->in_fd = -1;
    }
}

bool worker_reap(const struct worker_proc *w, int *status) {
    pid_t r;
    do
        r = waitpid(w->pid, status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == w->pid)
        return true;
    if (r < 0 && errno == ECHILD) { /* reaped elsewhere: nothing to wait for */
        *status = 0;
        return true;
    }
    return false;
}

void worker_close_fds(struct worker_proc *w) {
    worker_close_stdin(w);
    if (w->ctl_fd >= 0)
        close(w->ctl_fd);
    w->ctl_fd = -1;
    if (w->out_fd >= 0)
        close(w->out_fd);
    if (w->err_fd >= 0)
        close(w->err_fd);
    w->out_fd = w->err_fd = -1;
}

const char *worker_describe_status(int status, char *buf, size_t len) {
    if (WIFEXITED(status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "ended with wait status %d", status);
    return buf;
}

/* One open and read, no stdio: the dispatcher looks after runs and while
 * they go, and a FILE cost an allocation, a fstat and a scanf each time. */
long long worker_rss_bytes(pid_t pid) {
    char path[32], buf[128], *field, *end;
    long long pages;
    ssize_t n;
    int fd;

    snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* "size resident shared ...", in pages */
    field = strchr(buf, ' ');
    if (field == NULL)
        return -1;
    pages = strtoll(field + 1, &end, 10);
    return end == field + 1 || pages < 0 ? -1 : pages * sysconf(_SC_PAGESIZE);
}
