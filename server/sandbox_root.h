/* The worker's file system (a layer of server/sandbox.c): a mount namespace
 * whose root is an empty read-only tmpfs holding only what the worker
 * needs, each bind-mounted read-only at its own path: the node executable
 * (or a script's interpreter), the shared libraries the dynamic loader
 * names for it, the runtime directory, Pyodide's directory, /dev/null and
 * /dev/urandom; and a /proc of the worker's own PID namespace (it sees
 * itself only). The symbolic links on the way to each (/lib -> usr/lib,
 * node_modules -> ...) are recreated as links. No /etc, no /home, no /tmp,
 * nothing else of the host.
 *
 * root_plan_*() run in the parent before any thread exists; root_enter()
 * runs in the child between clone (with CLONE_NEWNS) and the credential
 * drop, async-signal-safe only. */
#ifndef SCOPEBOX_SANDBOX_ROOT_H
#define SCOPEBOX_SANDBOX_ROOT_H

#include <stdbool.h>
#include <stddef.h>

/* Forgets any earlier plan. */
void root_plan_reset(void);

/* Adds `path` (a file or a directory, bound with everything below it) and
 * the links leading to it. For an executable, also what runs it: the ELF
 * interpreter and the libraries it loads, or a script's #! interpreter and
 * its libraries. False with a reason in err when the plan cannot be made. */
bool root_plan_add(const char *path, bool executable, char *err, size_t err_len);

/* Picks the directory the new root is built on (one that holds none of the
 * paths added) and prefixes every path. Call once, after the adds. */
bool root_plan_finish(char *err, size_t err_len);

/* Number of paths bound, for the log. */
size_t root_plan_binds(void);

/* In the child: builds the root and pivots into it. NULL on success, else
 * what failed. */
const char *root_enter(void);

#endif
