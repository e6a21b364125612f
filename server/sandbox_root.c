#define _GNU_SOURCE
#include "sandbox_root.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_OPS 128
#define MAX_LINKS 40

enum op_kind { OP_DIR, OP_LINK, OP_BIND };

struct op {
    enum op_kind kind;
    char *path;         /* in the new root, unprefixed */
    char *src;          /* OP_LINK: the target; OP_BIND: the host path */
    bool is_dir;        /* OP_BIND: a directory */
    bool dev;           /* OP_BIND: a device node (no nodev) */
    unsigned long keep; /* OP_BIND: the source mount's flags, which a user
                         * namespace may not clear on the remount */
    char *at;           /* the path under the staging root (root_plan_finish) */
};

static struct {
    struct op ops[MAX_OPS];
    size_t n;
    const char *stage; /* where the new root is built */
    char proc_at[PATH_MAX];
} plan;

/* ---- the parent side ------------------------------------------------------- */

void root_plan_reset(void) {
    for (size_t i = 0; i < plan.n; i++) {
        free(plan.ops[i].path);
        free(plan.ops[i].src);
        free(plan.ops[i].at);
    }
    memset(&plan, 0, sizeof plan);
}

static bool has_op(enum op_kind kind, const char *path) {
    for (size_t i = 0; i < plan.n; i++)
        if (plan.ops[i].kind == kind && strcmp(plan.ops[i].path, path) == 0)
            return true;
    return false;
}

/* True if `path` is `dir` or below it. */
static bool under(const char *path, const char *dir) {
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/' || n == 1);
}

static bool bound(const char *path) {
    for (size_t i = 0; i < plan.n; i++)
        if (plan.ops[i].kind == OP_BIND && (strcmp(plan.ops[i].path, path) == 0 ||
                                            (plan.ops[i].is_dir && under(path, plan.ops[i].path))))
            return true;
    return false;
}

static unsigned long mount_flags_of(const char *path) {
    struct statvfs st;
    unsigned long f = 0;
    if (statvfs(path, &st) != 0)
        return 0;
    if (st.f_flag & ST_NODEV)
        f |= MS_NODEV;
    if (st.f_flag & ST_NOEXEC)
        f |= MS_NOEXEC;
    if (st.f_flag & ST_NOATIME)
        f |= MS_NOATIME;
    if (st.f_flag & ST_NODIRATIME)
        f |= MS_NODIRATIME;
    if (st.f_flag & ST_RELATIME)
        f |= MS_RELATIME;
    return f;
}

static bool add_op(enum op_kind kind, const char *path, const char *src, bool is_dir, bool dev) {
    struct op *op;
    if (has_op(kind, path))
        return true;
    if (plan.n == MAX_OPS)
        return false;
    op = &plan.ops[plan.n];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->path = strdup(path);
    op->src = src ? strdup(src) : NULL;
    op->is_dir = is_dir;
    op->dev = dev;
    op->keep = kind == OP_BIND ? mount_flags_of(src) : 0;
    if (op->path == NULL || (src && op->src == NULL))
        return false;
    plan.n++;
    return true;
}

/* mkdir -p of `dir` in the new root. */
static bool add_dirs(const char *dir) {
    char buf[PATH_MAX];
    size_t n = strlen(dir);
    if (n >= sizeof buf)
        return false;
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        buf[i] = '\0';
        if (!bound(buf) && !has_op(OP_LINK, buf) && !add_op(OP_DIR, buf, NULL, true, false))
            return false;
        if (i < n)
            buf[i] = '/';
    }
    return true;
}

/* Resolves `path` the way the kernel will inside the new root, adding every
 * link met on the way; the real path in `out`. */
static bool resolve(const char *path, char *out, char *err, size_t err_len) {
    char todo[PATH_MAX], cur[PATH_MAX] = "", next[PATH_MAX], target[PATH_MAX];
    int links = 0;
    if (path[0] != '/' || strlen(path) >= sizeof todo) {
        snprintf(err, err_len, "%s: not an absolute path", path);
        return false;
    }
    strcpy(todo, path);
    for (char *p = todo;;) {
        char *comp, *slash;
        struct stat st;
        ssize_t n;
        while (*p == '/')
            p++;
        if (*p == '\0')
            break;
        comp = p;
        slash = strchr(p, '/');
        p = slash ? slash + 1 : p + strlen(p);
        if (slash)
            *slash = '\0';
        if (strcmp(comp, ".") == 0)
            continue;
        if (strcmp(comp, "..") == 0) {
            char *last = strrchr(cur, '/');
            if (last)
                *last = '\0';
            continue;
        }
        if ((size_t)snprintf(next, sizeof next, "%s/%s", cur, comp) >= sizeof next)
            goto too_long;
        if (lstat(next, &st) != 0) {
            snprintf(err, err_len, "%s: %s", next, strerror(errno));
            return false;
        }
        if (!S_ISLNK(st.st_mode)) {
            strcpy(cur, next);
            continue;
        }
        if (++links > MAX_LINKS || (n = readlink(next, target, sizeof target - 1)) < 0) {
            snprintf(err, err_len, "%s: too many links or unreadable", next);
            return false;
        }
        target[n] = '\0';
        if (!add_dirs(cur[0] ? cur : "/") || !add_op(OP_LINK, next, target, false, false))
            goto too_many;
        /* Go on from the link's target, then what was left of the path. */
        {
            char rest[PATH_MAX];
            snprintf(rest, sizeof rest, "%s", p);
            if ((size_t)snprintf(todo, sizeof todo, "%s%s%s/%s", target[0] == '/' ? "" : cur,
                                 target[0] == '/' ? "" : "/", target, rest) >= sizeof todo)
                goto too_long;
        }
        cur[0] = '\0';
        p = todo;
    }
    strcpy(out, cur[0] ? cur : "/");
    return true;
too_long:
    snprintf(err, err_len, "%s: path too long", path);
    return false;
too_many:
    snprintf(err, err_len, "more than %d paths in the worker's root", MAX_OPS);
    return false;
}

static bool bind_path(const char *path, bool dev, char *err, size_t err_len) {
    char real[PATH_MAX], parent[PATH_MAX];
    struct stat st;
    char *slash;
    if (!resolve(path, real, err, err_len))
        return false;
    if (bound(real))
        return true;
    if (stat(real, &st) != 0) {
        snprintf(err, err_len, "%s: %s", real, strerror(errno));
        return false;
    }
    strcpy(parent, real);
    slash = strrchr(parent, '/');
    *(slash == parent ? slash + 1 : slash) = '\0';
    if (!add_dirs(parent) || !add_op(OP_BIND, real, real, S_ISDIR(st.st_mode), dev)) {
        snprintf(err, err_len, "more than %d paths in the worker's root", MAX_OPS);
        return false;
    }
    return true;
}

/* The PT_INTERP of an ELF file into `out`; false if it has none. */
static bool elf_interp(const char *path, char *out, size_t len) {
    Elf64_Ehdr eh;
    Elf64_Phdr ph;
    bool found = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    if (pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh &&
        memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 && eh.e_ident[EI_CLASS] == ELFCLASS64) {
        for (unsigned i = 0; i < eh.e_phnum && !found; i++) {
            if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (Elf64_Off)i * eh.e_phentsize)) !=
                (ssize_t)sizeof ph)
                break;
            if (ph.p_type == PT_INTERP && ph.p_filesz > 1 && ph.p_filesz < len &&
                pread(fd, out, ph.p_filesz, (off_t)ph.p_offset) == (ssize_t)ph.p_filesz) {
                out[ph.p_filesz - 1] = '\0';
                found = out[0] == '/';
            }
        }
    }
    close(fd);
    return found;
}

/* `interp --list path`: the libraries the loader would map, one per line
 * ("libc.so.6 => /lib/.../libc.so.6 (0x...)" or "/lib64/ld-... (0x...)"). */
static bool add_libraries(const char *interp, const char *path, char *err, size_t err_len) {
    static char out[32768];
    int p[2], status;
    ssize_t n = 0, r;
    pid_t pid;
    if (pipe2(p, O_CLOEXEC) != 0 || (pid = fork()) < 0) {
        snprintf(err, err_len, "cannot run %s --list", interp);
        return false;
    }
    if (pid == 0) {
        char *const argv[] = {(char *)interp, "--list", (char *)path, NULL};
        char *const envp[] = {NULL};
        dup2(p[1], STDOUT_FILENO);
        execve(interp, argv, envp);
        _exit(127);
    }
    close(p[1]);
    while ((size_t)n < sizeof out - 1 &&
           (r = read(p[0], out + n, sizeof out - 1 - (size_t)n)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        n += r;
    }
    close(p[0]);
    out[n > 0 ? n : 0] = '\0';
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(err, err_len, "%s --list %s failed", interp, path);
        return false;
    }
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char *arrow = strstr(line, "=> "), *lib = arrow ? arrow + 3 : line, *end;
        while (*lib == ' ' || *lib == '\t')
            lib++;
        if (*lib != '/')
            continue; /* the vDSO, or "not found" (the probe will tell) */
        end = strstr(lib, " (");
        if (end)
            *end = '\0';
        if (!bind_path(lib, false, err, err_len))
            return false;
    }
    return true;
}

bool root_plan_add(const char *path, bool executable, char *err, size_t err_len) {
    char interp[PATH_MAX], head[PATH_MAX];
    ssize_t n;
    int fd;
    if (!bind_path(path, false, err, err_len))
        return false;
    if (!executable)
        return true;
    if (elf_interp(path, interp, sizeof interp))
        return bind_path(interp, false, err, err_len) && add_libraries(interp, path, err, err_len);
    /* A script: its interpreter, and what runs that. */
    fd = open(path, O_RDONLY | O_CLOEXEC);
    n = fd < 0 ? -1 : read(fd, head, sizeof head - 1);
    if (fd >= 0)
        close(fd);
    if (n > 2 && head[0] == '#' && head[1] == '!') {
        char *s = head + 2;
        head[n] = '\0';
        while (*s == ' ' || *s == '\t')
            s++;
        s[strcspn(s, " \t\r\n")] = '\0';
        if (*s == '/' && strcmp(s, path) != 0)
            return root_plan_add(s, true, err, err_len);
    }
    return true; /* a static executable */
}

bool root_plan_finish(char *err, size_t err_len) {
    static const char *const stages[] = {"/mnt",     "/media", "/srv", "/opt",
                                         "/var/tmp", "/tmp",   "/run", "/home"};
    /* The loader's cache: libraries found through it rather than its
     * default directories. And the two devices node may open. */
    if (access("/etc/ld.so.cache", R_OK) == 0 &&
        !bind_path("/etc/ld.so.cache", false, err, err_len))
        return false;
    if (!bind_path("/dev/null", true, err, err_len) ||
        !bind_path("/dev/urandom", true, err, err_len))
        return false;
    plan.stage = NULL;
    for (size_t s = 0; s < sizeof stages / sizeof stages[0] && !plan.stage; s++) {
        struct stat st;
        bool clash = false;
        if (lstat(stages[s], &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        for (size_t i = 0; i < plan.n && !clash; i++)
            clash = plan.ops[i].kind == OP_BIND && under(plan.ops[i].src, stages[s]);
        if (!clash)
            plan.stage = stages[s];
    }
    if (plan.stage == NULL) {
        snprintf(err, err_len,
                 "no directory to build the worker's root on (tried /mnt, /tmp, ...)");
        return false;
    }
    for (size_t i = 0; i < plan.n; i++) {
        size_t len = strlen(plan.stage) + strlen(plan.ops[i].path) + 1;
        plan.ops[i].at = malloc(len);
        if (plan.ops[i].at == NULL)
            return false;
        snprintf(plan.ops[i].at, len, "%s%s", plan.stage, plan.ops[i].path);
    }
    snprintf(plan.proc_at, sizeof plan.proc_at, "%s/proc", plan.stage);
    return true;
}

size_t root_plan_binds(void) {
    size_t n = 0;
    for (size_t i = 0; i < plan.n; i++)
        n += plan.ops[i].kind == OP_BIND;
    return n;
}

/* ---- the child side (async-signal-safe) ------------------------------------ */

const char *root_enter(void) {
    const unsigned long ro = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID;
    /* Nothing mounted here may show up in the host's namespace. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return "make the mount namespace private";
    if (mount("scopebox-root", plan.stage, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k") !=
        0)
        return "mount the worker's root (tmpfs)";
    for (size_t i = 0; i < plan.n; i++) {
        const struct op *op = &plan.ops[i];
        int fd;
        switch (op->kind) {
        case OP_DIR:
            if (mkdir(op->at, 0755) != 0 && errno != EEXIST)
                return "make a directory in the worker's root";
            break;
        case OP_LINK:
            if (symlink(op->src, op->at) != 0 && errno != EEXIST)
                return "make a link in the worker's root";
            break;
        case OP_BIND:
            if (op->is_dir) {
                if (mkdir(op->at, 0755) != 0 && errno != EEXIST)
                    return "make a mount point in the worker's root";
            } else if ((fd = open(op->at, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) >= 0) {
                close(fd);
            } else if (errno != EEXIST) {
                return "make a mount point in the worker's root";
            }
            if (mount(op->src, op->at, NULL, MS_BIND | MS_REC, NULL) != 0 ||
                mount(NULL, op->at, NULL, ro | op->keep | (op->dev ? 0 : MS_NODEV), NULL) != 0)
                return "bind a path into the worker's root read-only";
            break;
        }
    }
    /* A /proc of the worker's PID namespace: itself only. Where the kernel
     * refuses one (a user namespace in a container whose /proc is partly
     * masked), none at all: node runs without it. */
    if (mkdir(plan.proc_at, 0555) != 0 && errno != EEXIST)
        return "make /proc in the worker's root";
    (void)mount("proc", plan.proc_at, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    if (chdir(plan.stage) != 0 || syscall(SYS_pivot_root, ".", ".") != 0 ||
        umount2(".", MNT_DETACH) != 0 || chdir("/") != 0)
        return "pivot into the worker's root";
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0)
        return "make the worker's root read-only";
    return NULL;
}
