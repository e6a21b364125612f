#define _GNU_SOURCE
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "sandbox_root.h"

#define NODE_MIN_MAJOR 20
#define RLIMIT_NOFILE_WORKER 256
#define MAX_ARGS (CONFIG_MAX_NODE_ARGS + 24)
/* The V8 heap of a worker's main (watchdog) thread, which only relays frames:
 * a flag, since Node sizes the main isolate before any script runs. The
 * interpreter thread's V8 limits are set where that thread is made
 * (wasm/runtime/worker.mjs, INTERP_LIMITS); Python's own memory is the wasm
 * heap, capped by --worker-heap-mb. */
#define WORKER_MAIN_V8_HEAP_MB 256

/* Everything the child needs, prepared by the parent: after fork only
 * async-signal-safe calls are allowed (the server is multithreaded), so no
 * allocation, no libseccomp, no getpwnam there. */
#define WORKER_ENV "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=32768"

static struct {
    bool ready;
    bool ready_to_fork; /* the plan is made (probe or real spawns) */
    bool permission;    /* node's permission model flags */
    bool seccomp;
    bool namespaces; /* net, ipc, uts, pid */
    bool mountns;    /* ... and mount: a root of its own (sandbox_root.h) */
    bool userns;     /* ... inside a new user namespace (not root) */
    bool drop_user;  /* root: switch to uid/gid */
    uid_t uid, outer_uid;
    gid_t gid, outer_gid;
    struct sock_fprog prog;
    char *argv[MAX_ARGS];
    char *envp[2];
    char uid_map[64], gid_map[64];
    /* Files the worker must be able to read, checked by the probe. */
    const char *must_read[6];
} sb;

char *const *sandbox_argv(void) {
    return sb.ready ? sb.argv : NULL;
}

/* ---- the child side (async-signal-safe) ------------------------------------ */

static bool write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t n;
    if (fd < 0)
        return false;
    n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text);
}

/* Applies every layer. Returns NULL on success, else what failed. With
 * exec_it false (the probe) it stops right before execve. */
static const char *enter(bool exec_it) {
    struct rlimit nofile = {RLIMIT_NOFILE_WORKER, RLIMIT_NOFILE_WORKER}, zero = {0, 0};
    struct sigaction ign;

    /* The namespaces themselves came with sandbox_fork(); a new user
     * namespace still needs its id maps, written by the process itself. */
    if (sb.namespaces && sb.userns) {
        if (!write_file("/proc/self/setgroups", "deny") ||
            !write_file("/proc/self/uid_map", sb.uid_map) ||
            !write_file("/proc/self/gid_map", sb.gid_map))
            return "map the user namespace's ids";
    }
    if (sb.namespaces && sb.mountns) {
        const char *r = root_enter();
        if (r != NULL)
            return r;
    }
    if (setrlimit(RLIMIT_NOFILE, &nofile) != 0 || setrlimit(RLIMIT_CORE, &zero) != 0 ||
        setrlimit(RLIMIT_FSIZE, &zero) != 0 || setrlimit(RLIMIT_MEMLOCK, &zero) != 0)
        return "set resource limits";
    /* A write to a file fails with EFBIG instead of killing the worker. */
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGXFSZ, &ign, NULL);
    if (sb.drop_user) {
        /* Raw system calls, not the C library's: in a multithreaded
         * process glibc's set*id signal every thread it knows of and wait
         * for each to follow, and after a raw clone it still knows the
         * server's threads, which are not here: the child waited forever
         * (about one worker start in thirty). */
        if (syscall(SYS_setgroups, 0, NULL) != 0 ||
            syscall(SYS_setresgid, sb.gid, sb.gid, sb.gid) != 0 ||
            syscall(SYS_setresuid, sb.uid, sb.uid, sb.uid) != 0)
            return "switch to the worker user";
        if (syscall(SYS_setuid, 0) == 0)
            return "drop root for good";
    }
    /* Set (again) after the credentials changed, which clears it: the
     * worker dies with its parent (the server, or the PID namespace's
     * intermediate, which itself dies with the server). */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        return "set PDEATHSIG";
    if (chdir("/") != 0)
        return "chdir /";
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return "set no_new_privs";
    if (!exec_it) {
        /* The probe: every file the worker reads must be readable by it. */
        for (size_t i = 0; i < sizeof sb.must_read / sizeof sb.must_read[0] && sb.must_read[i]; i++)
            if (access(sb.must_read[i], R_OK) != 0)
                return sb.must_read[i];
        if (access(sb.argv[0], X_OK) != 0)
            return sb.argv[0];
    }
    if (sb.seccomp && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &sb.prog) != 0)
        return "install the seccomp filter";
    if (!exec_it)
        return NULL;
    execve(sb.argv[0], sb.argv, sb.envp);
    return "exec the worker (check --node)";
}

const char *sandbox_exec(void) {
    return enter(true);
}

pid_t sandbox_fork(void) {
    unsigned long flags = CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID;
    if (!sb.ready_to_fork || !sb.namespaces)
        return fork();
    if (sb.userns)
        flags |= CLONE_NEWUSER;
    if (sb.mountns)
        flags |= CLONE_NEWNS;
    /* Like fork(): no new stack, the child returns here with 0. */
    return (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0UL);
}

/* ---- the parent side ------------------------------------------------------- */

/* --allow-fs-read=DIR/ and everything below it */
static char *read_flag(const char *dir) {
    size_t n = strlen(dir) + sizeof "--allow-fs-read=/*";
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "--allow-fs-read=%s/*", dir);
    return s;
}

/* `node --version` -> major, or -1. Runs before any thread exists. */
static int node_major(const char *node, char *version, size_t len) {
    int p[2], status;
    pid_t pid;
    ssize_t n = 0, r;
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        char *const argv[] = {(char *)node, "--version", NULL};
        char *const envp[] = {NULL};
        dup2(p[1], STDOUT_FILENO);
        execve(node, argv, envp);
        _exit(127);
    }
    close(p[1]);
    while ((size_t)n < len - 1 && (r = read(p[0], version + n, len - 1 - (size_t)n)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        n += r;
    }
    close(p[0]);
    version[n > 0 ? n : 0] = '\0';
    version[strcspn(version, "\r\n")] = '\0';
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (version[0] != 'v')
        return -1;
    return atoi(version + 1);
}

/* Denied with EPERM rather than killed: Node then reports a clean error and
 * the host sees a worker that failed, not one that vanished. (System calls
 * of another architecture kill the process: see build_filter.) */
static const char *const denied[] = {
    /* network: the worker talks over its pipes only */
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    /* other processes */
    "fork",
    "vfork",
    "execveat",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_open",
    "pidfd_getfd",
    "pidfd_send_signal",
    "process_madvise",
    "kcmp",
    /* the system */
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "setns",
    "unshare",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "personality",
    "userfaultfd",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "iopl",
    "ioperm",
    "syslog",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "quotactl",
    "name_to_handle_at",
    "open_by_handle_at",
    "fanotify_init",
    "lookup_dcookie",
    "vhangup",
    "sethostname",
    "setdomainname",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    /* anonymous files (code or data out of sight of the rlimits), watching
     * files, the LDT, NUMA memory policy: nothing node needs */
    "memfd_create",
    "memfd_secret",
    "inotify_init",
    "inotify_init1",
    "inotify_add_watch",
    "inotify_rm_watch",
    "fanotify_mark",
    "modify_ldt",
    "mbind",
    "set_mempolicy",
    "migrate_pages",
    "move_pages",
    "set_mempolicy_home_node",
    /* identity */
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setgroups",
    "setfsuid",
    "setfsgid",
    "capset",
    /* writes to the file system (the worker writes only to its pipes) */
    "creat",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "mkdir",
    "mkdirat",
    "rmdir",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "chmod",
    "fchmod",
    "fchmodat",
    "chown",
    "fchown",
    "lchown",
    "fchownat",
    "truncate",
    "mknod",
    "mknodat",
    "utime",
    "utimes",
    "utimensat",
    "futimesat",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
};

static bool build_filter(char *err, size_t err_len) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    int rc = 0, fd = -1;
    struct stat st;
    void *buf = NULL;
    const char *what = "";
    const int deny = SCMP_ACT_ERRNO(EPERM);
    const int write_flags[] = {O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND};

    if (ctx == NULL) {
        snprintf(err, err_len, "seccomp_init failed");
        return false;
    }
    /* Other architectures' system calls (i386 via int 0x80, x32) are not
     * filtered by the rules below: kill instead. */
    seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    for (size_t i = 0; i < sizeof denied / sizeof denied[0] && rc == 0; i++) {
        int nr = seccomp_syscall_resolve_name(denied[i]);
        what = denied[i];
        if (nr == __NR_SCMP_ERROR)
            continue; /* not on this architecture */
        rc = seccomp_rule_add(ctx, deny, nr, 0);
    }
    /* Threads yes, processes no. clone3 hides its flags behind a pointer:
     * ENOSYS makes the C library fall back to clone. */
    if (rc == 0) {
        what = "clone";
        rc = seccomp_rule_add(ctx, deny, SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
    }
    if (rc == 0) {
        what = "clone3";
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    }
    /* Exactly one execve: the filter is installed right before it, and the
     * only path it accepts is the pointer the child passes (argv[0] of this
     * very table, at an address fixed before fork). After execve that
     * address means nothing to node, which cannot spawn (no
     * --allow-child-process) anyway. */
    if (rc == 0) {
        what = "execve";
        rc = seccomp_rule_add(ctx, deny, SCMP_SYS(execve), 1,
                              SCMP_A0(SCMP_CMP_NE, (scmp_datum_t)(uintptr_t)sb.argv[0]));
    }
    /* Opening for writing (the pipes are open already). */
    for (size_t i = 0; i < sizeof write_flags / sizeof write_flags[0] && rc == 0; i++) {
        scmp_datum_t f = (scmp_datum_t)write_flags[i];
        what = "open";
        rc = seccomp_rule_add(ctx, deny, SCMP_SYS(open), 1, SCMP_A1(SCMP_CMP_MASKED_EQ, f, f));
        if (rc == 0) {
            what = "openat";
            rc =
                seccomp_rule_add(ctx, deny, SCMP_SYS(openat), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, f, f));
        }
    }
    /* openat2 hides its flags behind a pointer: ENOSYS, the C library and
     * node fall back to openat. */
    if (rc == 0) {
        what = "openat2";
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0);
    }
    if (rc != 0) {
        snprintf(err, err_len, "seccomp rule for %s: %s", what, strerror(-rc));
        goto out;
    }
    fd = memfd_create("scopebox-seccomp", MFD_CLOEXEC);
    if (fd < 0 || (rc = seccomp_export_bpf(ctx, fd)) != 0 || fstat(fd, &st) != 0 ||
        st.st_size <= 0 || st.st_size % (off_t)sizeof(struct sock_filter) != 0) {
        snprintf(err, err_len, "cannot export the seccomp filter");
        rc = -1;
        goto out;
    }
    buf = malloc((size_t)st.st_size);
    if (buf == NULL || pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
        snprintf(err, err_len, "cannot read the seccomp filter back");
        free(buf);
        rc = -1;
        goto out;
    }
    sb.prog.len = (unsigned short)(st.st_size / (off_t)sizeof(struct sock_filter));
    sb.prog.filter = buf;
out:
    if (fd >= 0)
        close(fd);
    seccomp_release(ctx);
    return rc == 0;
}

/* Runs enter() in a child of this (still single-threaded) process, without
 * the exec: proves every layer can be set up, and that the worker user can
 * read the runtime. NULL on success, else what failed. */
static const char *probe(void) {
    int p[2], status;
    static char why[256];
    pid_t pid;
    ssize_t n;

    if (pipe2(p, O_CLOEXEC) != 0)
        return "pipe";
    sb.ready_to_fork = true;
    pid = sandbox_fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return sb.namespaces ? "create the network/PID/IPC/UTS namespaces" : "fork";
    }
    if (pid == 0) {
        const char *r;
        close(p[0]);
        r = enter(false);
        if (r != NULL) {
            (void)!write(p[1], r, strlen(r));
            _exit(1);
        }
        _exit(0);
    }
    close(p[1]);
    n = read(p[0], why, sizeof why - 1);
    close(p[0]);
    why[n > 0 ? n : 0] = '\0';
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && n <= 0)
        return NULL;
    return why[0] ? why : "the probe child died";
}

static bool add_arg(size_t *argc, char *arg) {
    if (arg == NULL || *argc + 1 >= MAX_ARGS)
        return false;
    sb.argv[(*argc)++] = arg;
    return true;
}

/* A tests-only worker flag (config.c, --worker-test-*): passed only when set. */
static bool add_test_delay(size_t *argc, const char *flag, unsigned ms) {
    char value[16];
    if (ms == 0)
        return true;
    snprintf(value, sizeof value, "%u", ms);
    return add_arg(argc, strdup(flag)) && add_arg(argc, strdup(value));
}

bool sandbox_init(const struct config *cfg, const char *node) {
    char version[64], err[256], plan[640], root_desc[64];
    char rt[PATH_MAX], pyo_link[PATH_MAX + 32], pyo[PATH_MAX], heap[16], files[16], v8_heap[48];
    static char script[PATH_MAX + 16], wasm[PATH_MAX + 32], stdlib[PATH_MAX + 32];
    size_t argc = 0;
    int major;
    bool root = geteuid() == 0, ok = true;
    const char *why;

    memset(&sb, 0, sizeof sb);
    /* The worker's whole environment. With a fixed threshold glibc hands
     * blocks of 32 KiB and more back to the system when they are freed:
     * V8's compile zones, freed once the boot's hot functions are tiered up,
     * otherwise stay in malloc's arenas, about 15 MB of every idle worker's
     * RSS (tests/bench/memory/worker_rss.py). worker.mjs accepts this
     * variable and no other. */
    sb.envp[0] = (char *)WORKER_ENV;
    sb.envp[1] = NULL;
    if (realpath(cfg->runtime_dir, rt) == NULL) {
        log_msg("sandbox: --runtime-dir %s: %s", cfg->runtime_dir, strerror(errno));
        return false;
    }
    snprintf(pyo_link, sizeof pyo_link, "%s/node_modules/pyodide", rt);
    if (realpath(pyo_link, pyo) == NULL) {
        log_msg("sandbox: %s: %s", pyo_link, strerror(errno));
        return false;
    }
    snprintf(script, sizeof script, "%s/worker.mjs", rt);
    snprintf(wasm, sizeof wasm, "%s/pyodide.asm.wasm", pyo);
    snprintf(stdlib, sizeof stdlib, "%s/python_stdlib.zip", pyo);
    sb.must_read[0] = script;
    sb.must_read[1] = wasm;
    sb.must_read[2] = stdlib;

    /* Layer 2: node's permission model (Node >= 20). */
    major = node_major(node, version, sizeof version);
    sb.permission = major >= NODE_MIN_MAJOR;
    if (!sb.permission) {
        log_msg("sandbox: %s is %s; the permission model needs Node >= %d", node,
                major < 0 ? "not a working node" : version, NODE_MIN_MAJOR);
        ok = false;
    }

    add_arg(&argc, strdup(node));
    if (sb.permission) {
        add_arg(&argc, strdup("--experimental-permission"));
        add_arg(&argc, read_flag(rt));
        if (strncmp(pyo, rt, strlen(rt)) != 0 || pyo[strlen(rt)] != '/')
            add_arg(&argc, read_flag(pyo));
        add_arg(&argc, strdup("--allow-worker")); /* the interpreter thread */
        add_arg(&argc, strdup("--disallow-code-generation-from-strings"));
        /* Both warn at every start about flags we set on purpose. */
        add_arg(&argc, strdup("--disable-warning=ExperimentalWarning"));
        add_arg(&argc, strdup("--disable-warning=SecurityWarning"));
    }
    snprintf(v8_heap, sizeof v8_heap, "--max-old-space-size=%u", WORKER_MAIN_V8_HEAP_MB);
    add_arg(&argc, strdup(v8_heap));
    /* One platform thread (default four): each thread that ran a TurboFan
     * job kept its own malloc arena, ~20 MB of an idle worker's RSS; two
     * workers per two cores have no use for four helpers each. */
    add_arg(&argc, strdup("--v8-pool-size=1"));
    /* No background GC tasks: with that one thread busy with the boot's
     * wasm tier-up for a second or more, the interpreter thread's Oilpan
     * sweep (node's C++ heap) re-posted itself to its event loop without
     * end while its concurrent part waited for the thread: ~1 s of CPU per
     * worker just after ready, the other worker's boot's CPU
     * (tests/bench/startup). A worker's JS heaps are small and its young
     * generation 4 MB (worker.mjs): their GCs gain nothing from helpers. */
    add_arg(&argc, strdup("--single-threaded-gc"));
    for (size_t i = 0; i < cfg->n_node_args; i++)
        add_arg(&argc, strdup(cfg->node_args[i]));
    add_arg(&argc, strdup(script));
    snprintf(heap, sizeof heap, "%u", cfg->worker_heap_mb);
    snprintf(files, sizeof files, "%u", cfg->worker_files_mb);
    add_arg(&argc, strdup("--heap-mb"));
    add_arg(&argc, strdup(heap));
    add_arg(&argc, strdup("--files-mb"));
    if (!add_arg(&argc, strdup(files))) {
        log_msg("sandbox: out of memory building the worker's command line");
        return false;
    }
    if (!add_test_delay(&argc, "--test-ctrl-delay-ms", cfg->worker_test_ctrl_delay_ms) ||
        !add_test_delay(&argc, "--test-reset-delay-ms", cfg->worker_test_reset_delay_ms)) {
        log_msg("sandbox: out of memory building the worker's command line");
        return false;
    }

    /* Layer 3: user, namespaces, seccomp. */
    if (root) {
        struct passwd *pw = getpwnam(cfg->worker_user);
        char *end;
        unsigned long id = strtoul(cfg->worker_user, &end, 10);
        if (pw != NULL) {
            sb.uid = pw->pw_uid;
            sb.gid = pw->pw_gid;
        } else if (*cfg->worker_user && *end == '\0' && id > 0 && id < 4294967295UL) {
            sb.uid = (uid_t)id;
            sb.gid = (gid_t)id;
        } else {
            log_msg("sandbox: --worker-user %s: no such user", cfg->worker_user);
            ok = false;
        }
        if (pw != NULL && sb.uid == 0) {
            log_msg("sandbox: --worker-user %s is root", cfg->worker_user);
            ok = false;
        }
        sb.drop_user = ok;
        sb.namespaces = true;
    } else {
        sb.outer_uid = getuid();
        sb.outer_gid = getgid();
        snprintf(sb.uid_map, sizeof sb.uid_map, "%u %u 1\n", (unsigned)sb.outer_uid,
                 (unsigned)sb.outer_uid);
        snprintf(sb.gid_map, sizeof sb.gid_map, "%u %u 1\n", (unsigned)sb.outer_gid,
                 (unsigned)sb.outer_gid);
        sb.namespaces = sb.userns = true;
    }
    /* The worker's own root: node and what it loads, the runtime, Pyodide. */
    root_plan_reset();
    if (!root_plan_add(node, true, err, sizeof err) || !root_plan_add(rt, false, err, sizeof err) ||
        !root_plan_add(pyo, false, err, sizeof err) || !root_plan_finish(err, sizeof err)) {
        log_msg("sandbox: the worker's root: %s", err);
        ok = false;
    } else {
        sb.mountns = true;
    }
    if (!build_filter(err, sizeof err)) {
        log_msg("sandbox: seccomp: %s", err);
        ok = false;
    } else {
        sb.seccomp = true;
    }

    /* Try it all for real, once. */
    if (ok && (why = probe()) != NULL) {
        log_msg("sandbox: cannot set up the worker sandbox here: %s%s", why,
                why[0] == '/' ? " is not readable by the worker user (check the permissions "
                                "of the runtime directory and of node_modules/pyodide)"
                              : "");
        ok = false;
    }
    if (!ok && !cfg->insecure) {
        log_msg("sandbox: refusing to start; --insecure runs workers without the missing "
                "layers");
        return false;
    }
    if (!ok) {
        /* Keep what works on its own; drop what the probe could not do. */
        bool saved_ns = sb.namespaces, saved_sc = sb.seccomp, saved_user = sb.drop_user,
             saved_root = sb.mountns;
        log_msg("sandbox: INSECURE: --insecure given, starting workers with weaker isolation");
        sb.namespaces = sb.seccomp = sb.drop_user = sb.mountns = false;
        if ((why = probe()) != NULL)
            log_msg("sandbox: even without namespaces, user switch and seccomp the worker "
                    "cannot start: %s",
                    why);
        /* Add back, one at a time, what the probe accepts. */
        sb.seccomp = saved_sc;
        if (sb.seccomp && probe() != NULL)
            sb.seccomp = false;
        sb.drop_user = saved_user;
        if (sb.drop_user && probe() != NULL)
            sb.drop_user = false;
        sb.namespaces = saved_ns;
        if (sb.namespaces && probe() != NULL)
            sb.namespaces = false;
        sb.mountns = saved_root && sb.namespaces;
        if (sb.mountns && probe() != NULL)
            sb.mountns = false;
        if (!sb.permission) {
            /* Node without a permission model still runs the worker; tell it. */
            add_arg(&argc, strdup("--insecure"));
        }
    }
    snprintf(root_desc, sizeof root_desc, "own (mount namespace, %zu paths read-only)",
             root_plan_binds());
    snprintf(plan, sizeof plan,
             "node %s permission model %s; seccomp %s (%u instructions); namespaces %s; "
             "root %s; "
             "user %s; rlimits nofile=%d core=0 fsize=0; wasm heap and files cap %u MiB "
             "(files at most %u MiB)",
             sb.permission ? version : "?", sb.permission ? "on" : "OFF", sb.seccomp ? "on" : "OFF",
             sb.seccomp ? sb.prog.len : 0,
             sb.namespaces ? (sb.userns ? "user+net+pid+ipc+uts" : "net+pid+ipc+uts") : "OFF",
             sb.mountns ? root_desc : "the host's (OFF)",
             sb.drop_user ? cfg->worker_user
             : root       ? "ROOT"
                          : "unchanged (not root)",
             RLIMIT_NOFILE_WORKER, cfg->worker_heap_mb, cfg->worker_files_mb);
    log_msg("sandbox: %s", plan);
    sb.ready = true;
    return true;
}
