/* Stands in for node (--node) to look at the sandbox from native code, like
 * fake_node.sh, for what a shell cannot do: raw system calls. The server
 * starts it exactly as it starts node; every line goes to the server's log
 * ("probe KEY VALUE"). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report_call(const char *name, long rc) {
    if (rc < 0)
        fprintf(stderr, "probe syscall %s errno=%d\n", name, errno);
    else
        fprintf(stderr, "probe syscall %s ALLOWED\n", name);
}

static void list(const char *key, const char *dir, int numeric_only) {
    DIR *d = opendir(dir);
    struct dirent *e;
    fprintf(stderr, "probe %s", key);
    if (d == NULL) {
        fprintf(stderr, " (none: errno=%d)\n", errno);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || (numeric_only && (e->d_name[0] < '0' || e->d_name[0] > '9')))
            continue;
        fprintf(stderr, " %s", e->d_name);
    }
    closedir(d);
    fprintf(stderr, "\n");
}

int main(int argc, char **argv) {
    unsigned long mask = 1;
    int fd;
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        puts("v20.99.0");
        return 0;
    }
    report_call("memfd_create", syscall(SYS_memfd_create, "x", 0));
    report_call("inotify_init1", syscall(SYS_inotify_init1, 0));
#ifdef SYS_modify_ldt
    {
        char buf[16];
        report_call("modify_ldt", syscall(SYS_modify_ldt, 0, buf, sizeof buf));
    }
#endif
    report_call("set_mempolicy", syscall(SYS_set_mempolicy, 0, NULL, 0));
    report_call("mbind", syscall(SYS_mbind, (void *)&mask, 4096, 0, NULL, 0, 0));
    report_call("migrate_pages", syscall(SYS_migrate_pages, 0, 64, &mask, &mask));
    report_call("move_pages", syscall(SYS_move_pages, 0, 0, NULL, NULL, NULL, 0));
    fd = open("/etc/passwd", O_RDONLY);
    fprintf(stderr, "probe passwd %s\n", fd >= 0 ? "ALLOWED" : strerror(errno));
    fd = open("/probe-write", O_WRONLY | O_CREAT, 0644);
    fprintf(stderr, "probe rootwrite %s\n", fd >= 0 ? "ALLOWED" : "denied");
    list("root", "/", 0);
    list("etc", "/etc", 0);
    list("procs", "/proc", 1);
    fprintf(stderr, "probe pid %d\n", (int)getpid());
    fprintf(stderr, "probe done\n");
    return 0;
}
